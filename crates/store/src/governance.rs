//! Queries behind the governance APIs: policies, permission lists, OAuth clients, custom
//! scopes and the audit log. Written once against [`DbConnection`]; every list is keyset
//! paged (`after` is the last key served, `limit` the number of rows to fetch).

use diesel::prelude::*;
use tessera_core::import::ClientSpec;
use tessera_core::permission::is_builtin_scope;
use tessera_core::{ScopeSet, ValidationError};

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::queries as q;
use crate::rows::*;
use crate::schema::*;
use tessera_core::model::*;

type Conn = DbConnection;

// ---- subjects ----

pub fn user_in_realm(
    conn: &mut Conn,
    realm_id: &str,
    id: &str,
) -> Result<Option<User>, StoreError> {
    users::table
        .filter(users::realm_id.eq(realm_id))
        .filter(users::id.eq(id))
        .select(UserRow::as_select())
        .first::<UserRow>(conn)
        .optional()?
        .into_models()
}

pub fn role_in_realm(
    conn: &mut Conn,
    realm_id: &str,
    id: &str,
) -> Result<Option<Role>, StoreError> {
    roles::table
        .filter(roles::realm_id.eq(realm_id))
        .filter(roles::id.eq(id))
        .select(RoleRow::as_select())
        .first::<RoleRow>(conn)
        .optional()?
        .into_models()
}

pub fn team_in_realm(
    conn: &mut Conn,
    realm_id: &str,
    id: &str,
) -> Result<Option<Team>, StoreError> {
    teams::table
        .filter(teams::realm_id.eq(realm_id))
        .filter(teams::id.eq(id))
        .select(TeamRow::as_select())
        .first::<TeamRow>(conn)
        .optional()?
        .into_models()
}

/// Whether a policy subject (`user`, `role` or `team`) exists in the realm.
pub fn subject_exists(
    conn: &mut Conn,
    realm_id: &str,
    subject_type: SubjectType,
    subject_id: &str,
) -> Result<bool, StoreError> {
    Ok(match subject_type {
        SubjectType::User => user_in_realm(conn, realm_id, subject_id)?.is_some(),
        SubjectType::Role => role_in_realm(conn, realm_id, subject_id)?.is_some(),
        SubjectType::Team => team_in_realm(conn, realm_id, subject_id)?.is_some(),
    })
}

// ---- policies ----

pub fn policy_in_realm(
    conn: &mut Conn,
    realm_id: &str,
    id: &str,
) -> Result<Option<Policy>, StoreError> {
    policies::table
        .filter(policies::realm_id.eq(realm_id))
        .filter(policies::id.eq(id))
        .select(PolicyRow::as_select())
        .first::<PolicyRow>(conn)
        .optional()?
        .into_models()
}

pub fn policy_by_name(
    conn: &mut Conn,
    realm_id: &str,
    name: &str,
) -> Result<Option<Policy>, StoreError> {
    policies::table
        .filter(policies::realm_id.eq(realm_id))
        .filter(policies::name.eq(name))
        .select(PolicyRow::as_select())
        .first::<PolicyRow>(conn)
        .optional()?
        .into_models()
}

fn policy_name_taken(e: diesel::result::Error, name: &str) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => {
            StoreError::Conflict(format!("a policy named {name:?} already exists"))
        }
        other => other,
    }
}

pub fn insert_policy(conn: &mut Conn, policy: &Policy) -> Result<(), StoreError> {
    diesel::insert_into(policies::table)
        .values(PolicyRow::from_model(policy))
        .execute(conn)
        .map_err(|e| policy_name_taken(e, &policy.name))?;
    Ok(())
}

/// Replaces everything but the id, realm and creation time.
pub fn update_policy(conn: &mut Conn, p: &Policy) -> Result<(), StoreError> {
    diesel::update(policies::table.filter(policies::id.eq(&p.id)))
        .set((
            policies::name.eq(&p.name),
            policies::description.eq(&p.description),
            policies::effect.eq(p.effect.as_str()),
            policies::permissions.eq(p.permissions.to_string()),
            policies::subject_type.eq(p.subject_type.as_str()),
            policies::subject_id.eq(&p.subject_id),
            policies::enabled.eq(p.enabled),
            policies::updated_at.eq(p.updated_at),
        ))
        .execute(conn)
        .map_err(|e| policy_name_taken(e, &p.name))?;
    Ok(())
}

pub fn delete_policy(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    diesel::delete(policies::table.filter(policies::id.eq(id))).execute(conn)?;
    Ok(())
}

/// Conditions of a policy list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct PolicyFilter<'a> {
    pub subject_type: Option<&'a str>,
    pub subject_id: Option<&'a str>,
    pub effect: Option<&'a str>,
}

/// Policies of the realm ordered by id, after `after`.
pub fn list_policies(
    conn: &mut Conn,
    realm_id: &str,
    filter: &PolicyFilter<'_>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Policy>, StoreError> {
    let mut query = policies::table
        .filter(policies::realm_id.eq(realm_id))
        .select(PolicyRow::as_select())
        .into_boxed();
    if let Some(t) = filter.subject_type {
        query = query.filter(policies::subject_type.eq(t.to_string()));
    }
    if let Some(s) = filter.subject_id {
        query = query.filter(policies::subject_id.eq(s.to_string()));
    }
    if let Some(e) = filter.effect {
        query = query.filter(policies::effect.eq(e.to_string()));
    }
    if let Some(a) = after {
        query = query.filter(policies::id.gt(a.to_string()));
    }
    query
        .order(policies::id)
        .limit(limit)
        .load::<PolicyRow>(conn)?
        .into_models()
}

/// Enabled policies whose subject is the role.
pub fn role_policies(
    conn: &mut Conn,
    realm_id: &str,
    role_id: &str,
) -> Result<Vec<Policy>, StoreError> {
    policies::table
        .filter(policies::realm_id.eq(realm_id))
        .filter(policies::enabled.eq(true))
        .filter(policies::subject_type.eq(SubjectType::Role.as_str()))
        .filter(policies::subject_id.eq(role_id))
        .select(PolicyRow::as_select())
        .load::<PolicyRow>(conn)?
        .into_models()
}

// ---- clients ----

/// Clients of the realm ordered by `client_id`, after `after`.
pub fn list_clients(
    conn: &mut Conn,
    realm_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Client>, StoreError> {
    let mut query = clients::table
        .filter(clients::realm_id.eq(realm_id))
        .select(ClientRow::as_select())
        .into_boxed();
    if let Some(a) = after {
        query = query.filter(clients::client_id.gt(a.to_string()));
    }
    query
        .order(clients::client_id)
        .limit(limit)
        .load::<ClientRow>(conn)?
        .into_models()
}

/// The first scope in `names` that is neither built in nor defined in the realm.
pub fn first_undefined_scope<'a>(
    conn: &mut Conn,
    realm_id: &str,
    names: &'a [String],
) -> Result<Option<&'a str>, StoreError> {
    for name in names {
        if !is_builtin_scope(name) && q::scope_by_name(conn, realm_id, name)?.is_none() {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// Rewrites a client's registration from a validated spec (its `client_id` and kind must be
/// the client's own). Every scope must be defined; a client that gains `client_credentials`
/// gets its service account. Returns the client as stored.
pub fn update_client(
    conn: &mut Conn,
    existing: &Client,
    spec: &ClientSpec,
    enabled: bool,
    now: i64,
) -> Result<Client, StoreError> {
    spec.validate()?;
    if let Some(name) = first_undefined_scope(conn, &existing.realm_id, &spec.scopes)? {
        return Err(ValidationError::new(
            "scopes",
            format!("scope {name:?} is not defined in this realm; define it first"),
        )
        .into());
    }
    let mut client = Client {
        enabled,
        updated_at: now,
        ..existing.clone()
    };
    crate::provision::apply_client_spec(conn, &mut client, spec, now)?;
    q::update_client_registration(conn, &client)?;
    Ok(client)
}

/// Deletes a client and its service account (so tokens minted for it stop authenticating at
/// the resource server at once).
pub fn delete_client(conn: &mut Conn, client: &Client) -> Result<(), StoreError> {
    diesel::delete(clients::table.filter(clients::id.eq(&client.id))).execute(conn)?;
    if let Some(user_id) = &client.service_account_user_id {
        diesel::delete(
            users::table
                .filter(users::id.eq(user_id))
                .filter(users::is_service_account.eq(true)),
        )
        .execute(conn)?;
    }
    Ok(())
}

// ---- scopes ----

pub fn scope_in_realm(
    conn: &mut Conn,
    realm_id: &str,
    id: &str,
) -> Result<Option<Scope>, StoreError> {
    scopes::table
        .filter(scopes::realm_id.eq(realm_id))
        .filter(scopes::id.eq(id))
        .select(ScopeRow::as_select())
        .first::<ScopeRow>(conn)
        .optional()?
        .into_models()
}

/// Custom scopes of the realm ordered by name, after `after`.
pub fn list_scopes(
    conn: &mut Conn,
    realm_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Scope>, StoreError> {
    let mut query = scopes::table
        .filter(scopes::realm_id.eq(realm_id))
        .select(ScopeRow::as_select())
        .into_boxed();
    if let Some(a) = after {
        query = query.filter(scopes::name.gt(a.to_string()));
    }
    query
        .order(scopes::name)
        .limit(limit)
        .load::<ScopeRow>(conn)?
        .into_models()
}

/// The `client_id`s of the realm's clients that list `scope` (allowed or default), sorted.
pub fn clients_using_scope(
    conn: &mut Conn,
    realm_id: &str,
    scope: &str,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String, String, String)> = clients::table
        .filter(clients::realm_id.eq(realm_id))
        .select((
            clients::client_id,
            clients::allowed_scopes,
            clients::default_scopes,
        ))
        .order(clients::client_id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|(_, allowed, defaults)| {
            ScopeSet::from_stored(allowed).contains(scope)
                || ScopeSet::from_stored(defaults).contains(scope)
        })
        .map(|(id, _, _)| id)
        .collect())
}

pub fn delete_scope(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    diesel::delete(scopes::table.filter(scopes::id.eq(id))).execute(conn)?;
    Ok(())
}

// ---- audit ----

/// Conditions of an audit list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter<'a> {
    pub actor: Option<&'a str>,
    pub action: Option<&'a str>,
    pub target: Option<&'a str>,
}

/// Audit events of the realm ordered by `(created_at, id)` — oldest first, or newest first
/// when `newest_first` — strictly after the event `after` in that order.
pub fn list_audit_events(
    conn: &mut Conn,
    realm_id: &str,
    filter: &AuditFilter<'_>,
    after: Option<(i64, &str)>,
    newest_first: bool,
    limit: i64,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut query = audit_events::table
        .filter(audit_events::realm_id.eq(realm_id))
        .select(AuditEventRow::as_select())
        .into_boxed();
    if let Some(a) = filter.actor {
        query = query.filter(audit_events::actor.eq(a.to_string()));
    }
    if let Some(a) = filter.action {
        query = query.filter(audit_events::action.eq(a.to_string()));
    }
    if let Some(t) = filter.target {
        query = query.filter(audit_events::target.eq(t.to_string()));
    }
    match (after, newest_first) {
        (Some((at, id)), false) => {
            query = query.filter(
                audit_events::created_at.gt(at).or(audit_events::created_at
                    .eq(at)
                    .and(audit_events::id.gt(id.to_string()))),
            );
        }
        (Some((at, id)), true) => {
            query = query.filter(
                audit_events::created_at.lt(at).or(audit_events::created_at
                    .eq(at)
                    .and(audit_events::id.lt(id.to_string()))),
            );
        }
        (None, _) => {}
    }
    query = if newest_first {
        query.order((audit_events::created_at.desc(), audit_events::id.desc()))
    } else {
        query.order((audit_events::created_at, audit_events::id))
    };
    query
        .limit(limit)
        .load::<AuditEventRow>(conn)?
        .into_models()
}

/// One audit event of the realm.
pub fn audit_event(
    conn: &mut Conn,
    realm_id: &str,
    id: &str,
) -> Result<Option<AuditEvent>, StoreError> {
    audit_events::table
        .filter(audit_events::realm_id.eq(realm_id))
        .filter(audit_events::id.eq(id))
        .select(AuditEventRow::as_select())
        .first::<AuditEventRow>(conn)
        .optional()?
        .into_models()
}
