//! Policies (seed 000): allow or deny permissions to a user, a role or a team; a deny wins.
//! A policy write that widens rights (an allow added, a deny lifted) needs those rights where
//! the policy takes effect, and must leave the realm an admin.

use actix_web::web;
use actix_web::web::{Path, Payload};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use tessera_core::grant::Reach;
use tessera_core::model::{Effect, PermissionList, Policy, SubjectType};
use tessera_core::names;
use tessera_core::page::Page;
use tessera_core::permission::is_permission;
use tessera_store as store;
use tessera_store::DbConnection;

use super::validate_description;
use crate::access::Grantor;
use crate::error::ApiError;
use crate::http::{self, Author, Caller, ListQuery, Reply, Values};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/policies")
            .route(web::get().to(list_policies))
            .route(web::post().to(create_policy)),
    );
    cfg.service(
        web::resource("/api/v1/policies/{id}")
            .route(web::get().to(get_policy))
            .route(web::put().to(update_policy))
            .route(web::delete().to(delete_policy)),
    );
}

#[derive(Serialize, utoipa::ToSchema)]
struct SubjectJson {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct PolicyJson {
    id: String,
    name: String,
    description: String,
    effect: String,
    permissions: Vec<String>,
    subject: SubjectJson,
    enabled: bool,
    created_at: String,
    updated_at: String,
}

impl From<Policy> for PolicyJson {
    fn from(p: Policy) -> Self {
        Self {
            permissions: p.permissions.to_vec(),
            id: p.id,
            name: p.name,
            description: p.description,
            effect: p.effect.to_string(),
            subject: SubjectJson {
                kind: p.subject_type.to_string(),
                id: p.subject_id,
            },
            enabled: p.enabled,
            created_at: http::time_string(p.created_at),
            updated_at: http::time_string(p.updated_at),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SubjectBody {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

/// The body of a create (where name, effect, permissions and subject are required) or an
/// update (where every field given replaces the stored one).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    name: Option<String>,
    description: Option<String>,
    effect: Option<String>,
    permissions: Option<Vec<String>>,
    subject: Option<SubjectBody>,
    enabled: Option<bool>,
}

impl PolicyBody {
    /// A new policy of the author's realm; every required field must be present.
    fn into_new_policy(self, author: &Author) -> Result<Policy, ApiError> {
        let mut policy = Policy {
            id: tessera_core::id::new_uuid(),
            realm_id: author.realm_id().to_string(),
            name: String::new(),
            description: String::new(),
            // Placeholders: a create body must name the effect, permissions and subject.
            effect: Effect::Allow,
            permissions: Default::default(),
            subject_type: SubjectType::User,
            subject_id: String::new(),
            enabled: true,
            created_at: author.now,
            updated_at: author.now,
        };
        self.apply_to(&mut policy, true)?;
        Ok(policy)
    }

    /// Applies the fields given onto `policy`, validating each in order (the first fault is
    /// the one named); `creating` requires name, effect, permissions and subject.
    fn apply_to(self, policy: &mut Policy, creating: bool) -> Result<(), ApiError> {
        let required = |field: &str| ApiError::bad(field, "is required");
        match self.name {
            Some(name) => {
                names::validate_display_name("name", &name)?;
                policy.name = name.trim().to_string();
            }
            None if creating => return Err(required("name")),
            None => {}
        }
        if let Some(d) = self.description {
            validate_description("description", &d)?;
            policy.description = d;
        }
        match self.effect {
            Some(e) => {
                policy.effect = e.parse().map_err(|_| {
                    ApiError::bad(
                        "effect",
                        format!("{e:?} is not an effect; use \"allow\" or \"deny\""),
                    )
                })?;
            }
            None if creating => return Err(required("effect")),
            None => {}
        }
        match self.permissions {
            Some(list) => policy.permissions = permission_list(list)?,
            None if creating => return Err(required("permissions")),
            None => {}
        }
        match self.subject {
            Some(s) => s.apply_to(policy)?,
            None if creating => return Err(required("subject")),
            None => {}
        }
        if let Some(enabled) = self.enabled {
            policy.enabled = enabled;
        }
        Ok(())
    }
}

impl SubjectBody {
    fn apply_to(self, policy: &mut Policy) -> Result<(), ApiError> {
        let Ok(subject_type) = self.kind.parse() else {
            return Err(ApiError::bad(
                "subject.type",
                format!(
                    "{:?} is not a subject type; use \"user\", \"role\" or \"team\"",
                    self.kind
                ),
            ));
        };
        http::parse_id("subject.id", &self.id)?;
        policy.subject_type = subject_type;
        policy.subject_id = self.id;
        Ok(())
    }
}

/// A policy's permissions as stored: at least one, each of the catalog, sorted, once each.
fn permission_list(list: Vec<String>) -> Result<PermissionList, ApiError> {
    if list.is_empty() {
        return Err(ApiError::bad("permissions", "list at least one permission"));
    }
    if let Some(bad) = list.iter().find(|p| !is_permission(p)) {
        return Err(ApiError::bad(
            "permissions",
            format!("{bad:?} is not a permission of the catalog"),
        ));
    }
    let set: BTreeSet<String> = list.into_iter().collect();
    Ok(set.into_iter().collect())
}

/// Where a policy on this subject takes effect: a team's policy in that team (the root team's
/// everywhere), a user's or a role's in every team.
fn policy_reach(p: &Policy, root_team: &str) -> Reach {
    match p.subject_type {
        SubjectType::Team if p.subject_id != root_team => Reach::Team(p.subject_id.clone()),
        _ => Reach::Realm,
    }
}

/// The permissions a policy grants (`effect`) while it applies.
fn policy_effect(p: &Policy, effect: Effect) -> BTreeSet<String> {
    if p.enabled && p.effect == effect {
        p.permissions.to_set()
    } else {
        BTreeSet::new()
    }
}

/// What `p` does with `effect` that `other`, on the same subject, does not: the deny a write
/// lifts (`p` before, `other` after) or the allow it adds (`p` after, `other` before).
fn beyond(p: &Policy, other: Option<&Policy>, effect: Effect) -> BTreeSet<String> {
    let same = other
        .filter(|o| o.subject_type == p.subject_type && o.subject_id == p.subject_id)
        .map(|o| policy_effect(o, effect))
        .unwrap_or_default();
    policy_effect(p, effect)
        .difference(&same)
        .cloned()
        .collect()
}

/// A policy write widens rights in two ways: an allow it adds, and a deny it lifts. Both must be
/// held where they take effect; adding a deny is narrowing, but must leave the realm an admin.
fn ensure_policy_change(
    conn: &mut DbConnection,
    grantor: &Grantor<'_>,
    before: Option<&Policy>,
    after: Option<&Policy>,
) -> Result<(), ApiError> {
    let root = grantor.root_team().to_string();
    if let Some(old) = before {
        grantor.ensure(&policy_reach(old, &root), &beyond(old, after, Effect::Deny))?;
    }
    if let Some(new) = after {
        grantor.ensure(
            &policy_reach(new, &root),
            &beyond(new, before, Effect::Allow),
        )?;
    }
    grantor.ensure_realm_keeps_admin(conn)
}

/// Checks what needs the database: the subject exists, the name is free.
fn check_policy_refs(conn: &mut DbConnection, p: &Policy) -> Result<(), ApiError> {
    if !store::policies::subject_exists(conn, &p.realm_id, p.subject_type, &p.subject_id)? {
        return Err(ApiError::bad(
            "subject.id",
            format!(
                "there is no {} with id {} in this realm",
                p.subject_type, p.subject_id
            ),
        ));
    }
    if let Some(other) = store::policies::by_name(conn, &p.realm_id, &p.name)?
        && other.id != p.id
    {
        return Err(ApiError::Conflict(format!(
            "a policy named {:?} already exists",
            p.name
        )));
    }
    Ok(())
}

fn policy_in_realm(conn: &mut DbConnection, realm_id: &str, id: &str) -> Result<Policy, ApiError> {
    store::policies::in_realm(conn, realm_id, id)?
        .ok_or_else(|| ApiError::NotFound(format!("policy {id}")))
}

/// Stores a new policy after the escalation rule allows it.
fn insert_policy(
    conn: &mut DbConnection,
    author: &Author,
    policy: Policy,
) -> Result<Policy, ApiError> {
    let grantor = Grantor::new(conn, &author.principal)?;
    check_policy_refs(conn, &policy)?;
    store::policies::insert(conn, &policy)?;
    ensure_policy_change(conn, &grantor, None, Some(&policy))?;
    author.audit(conn, "policy.create", &format!("policy:{}", policy.id))?;
    Ok(policy)
}

/// Applies an update body to a stored policy after the escalation rule allows it.
fn change_policy(
    conn: &mut DbConnection,
    author: &Author,
    id: &str,
    body: PolicyBody,
) -> Result<Policy, ApiError> {
    let grantor = Grantor::new(conn, &author.principal)?;
    let before = policy_in_realm(conn, author.realm_id(), id)?;
    let mut policy = before.clone();
    body.apply_to(&mut policy, false)?;
    policy.updated_at = author.now;
    check_policy_refs(conn, &policy)?;
    store::policies::update(conn, &policy)?;
    ensure_policy_change(conn, &grantor, Some(&before), Some(&policy))?;
    let detail = http::changes(&PolicyJson::from(before), &PolicyJson::from(policy.clone()));
    author.audit_change(conn, ("policy.update", &format!("policy:{id}")), &detail)?;
    Ok(policy)
}

/// Deletes a policy after the escalation rule allows lifting what it denied.
fn remove_policy(conn: &mut DbConnection, author: &Author, id: &str) -> Result<(), ApiError> {
    let grantor = Grantor::new(conn, &author.principal)?;
    let before = policy_in_realm(conn, author.realm_id(), id)?;
    store::policies::delete(conn, id)?;
    ensure_policy_change(conn, &grantor, Some(&before), None)?;
    author.audit(conn, "policy.delete", &format!("policy:{id}"))
}

/// A page token whose key must be an id.
fn after_id(query: &ListQuery) -> Result<Option<String>, ApiError> {
    match &query.page.after {
        Some(a) if !tessera_core::id::is_uuid(a) => Err(ApiError::bad(
            "page_token",
            "is not a page token from this list; pass next_page_token unchanged",
        )),
        other => Ok(other.clone()),
    }
}

/// The filter of a policy list, checked.
struct PolicyListFilter {
    subject_type: Option<String>,
    subject_id: Option<String>,
    effect: Option<String>,
}

impl PolicyListFilter {
    fn parse(query: &ListQuery) -> Result<Self, ApiError> {
        let value = |field: &str| query.filter_value(field).map(str::to_string);
        let filter = Self {
            subject_type: value("subject_type"),
            subject_id: value("subject_id"),
            effect: value("effect"),
        };
        if let Some(t) = &filter.subject_type
            && t.parse::<SubjectType>().is_err()
        {
            return Err(ApiError::bad(
                "filter",
                format!("subject_type {t:?} is not a subject type; use user, role or team"),
            ));
        }
        if let Some(e) = &filter.effect
            && e.parse::<Effect>().is_err()
        {
            return Err(ApiError::bad(
                "filter",
                format!("effect {e:?} is not an effect; use allow or deny"),
            ));
        }
        Ok(filter)
    }

    fn as_store_filter(&self) -> store::policies::PolicyFilter<'_> {
        store::policies::PolicyFilter {
            subject_type: self.subject_type.as_deref(),
            subject_id: self.subject_id.as_deref(),
            effect: self.effect.as_deref(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/policies", tag = "policies", summary = "List policies",
    description = "Needs `policy:read`. Filter fields: `subject_type`, `subject_id`, `effect`.",
    params(crate::openapi::ListParams),
    responses((status = 200, description = "One page of policies", body = crate::openapi::ValuesPage<PolicyJson>), crate::openapi::CommonErrors),
)]
async fn list_policies(caller: Caller) -> Reply {
    caller.require("policy:read")?;
    let query = caller.list_query(&["subject_type", "subject_id", "effect"])?;
    let (after, filter) = (after_id(&query)?, PolicyListFilter::parse(&query)?);
    let (size, realm_id) = (query.page.size, caller.realm_id());
    let rows = caller
        .read(move |c| {
            let filter = filter.as_store_filter();
            Ok(store::policies::list(
                c,
                &realm_id,
                &filter,
                after.as_deref(),
                size + 1,
            )?)
        })
        .await?;
    let page = Page::from_rows(rows, size, |p| p.id.clone());
    Ok(http::ok(Values::from_page(page, PolicyJson::from)))
}

#[utoipa::path(post, path = "/api/v1/policies", tag = "policies", summary = "Create a policy",
    description = "`name`, `effect` (`allow` or `deny`), `permissions` and `subject` are required. Needs `policy:write`.",
    request_body = PolicyBody,
    responses((status = 201, description = "Created", body = crate::openapi::ValueEnvelope<PolicyJson>), crate::openapi::CreateErrors),
)]
async fn create_policy(caller: Caller, payload: Payload) -> Reply {
    caller.require("policy:write")?;
    let body: PolicyBody = caller.json(payload).await?;
    let author = caller.author();
    let policy = body.into_new_policy(&author)?;
    let created = caller
        .write_as(author, move |c, by| insert_policy(c, by, policy))
        .await?;
    Ok(http::created(PolicyJson::from(created)))
}

#[utoipa::path(get, path = "/api/v1/policies/{id}", tag = "policies", summary = "Get a policy",
    description = "Needs `policy:read`.",
    params(("id" = String, Path, description = "The policy's id (a UUID)")),
    responses((status = 200, description = "The policy", body = crate::openapi::ValueEnvelope<PolicyJson>), crate::openapi::ItemErrors),
)]
async fn get_policy(caller: Caller, path: Path<String>) -> Reply {
    let policy = caller.load_item("policy:read", &path, policy_in_realm);
    Ok(http::value(PolicyJson::from(policy.await?)))
}

#[utoipa::path(put, path = "/api/v1/policies/{id}", tag = "policies", summary = "Update a policy",
    description = "Every field given replaces the stored one. Needs `policy:write`.",
    params(("id" = String, Path, description = "The policy's id (a UUID)")),
    request_body = PolicyBody,
    responses((status = 200, description = "The updated policy", body = crate::openapi::ValueEnvelope<PolicyJson>), crate::openapi::ItemWriteErrors),
)]
async fn update_policy(caller: Caller, path: Path<String>, payload: Payload) -> Reply {
    caller.require("policy:write")?;
    let id = http::path_id(&path)?;
    let body: PolicyBody = caller.json(payload).await?;
    let updated = caller
        .write(move |c, by| change_policy(c, by, &id, body))
        .await?;
    Ok(http::value(PolicyJson::from(updated)))
}

#[utoipa::path(delete, path = "/api/v1/policies/{id}", tag = "policies", summary = "Delete a policy",
    description = "Needs `policy:write`.",
    params(("id" = String, Path, description = "The policy's id (a UUID)")),
    responses((status = 200, description = "Deleted", body = crate::openapi::Empty), crate::openapi::ItemErrors),
)]
async fn delete_policy(caller: Caller, path: Path<String>) -> Reply {
    caller
        .write_item("policy:write", &path, remove_policy)
        .await?;
    Ok(http::done())
}
