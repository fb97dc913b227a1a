//! What a principal may do: the rows behind effective permissions, and API-key lookups for
//! authentication.

use diesel::prelude::*;
use std::collections::BTreeSet;

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::rows::*;
use crate::schema::*;
use tessera_core::grant::{Reach, Rights};
use tessera_core::model::{ApiKey, Effect, PermissionList, Policy, Realm, SubjectType};

type Conn = DbConnection;

/// One membership with its role's permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub team_id: String,
    pub role_id: String,
    pub role_name: String,
    pub permissions: PermissionList,
}

/// The user's memberships, optionally only in one team, with each role's permissions.
pub fn role_grants(
    conn: &mut Conn,
    user_id: &str,
    only_team: Option<&str>,
) -> Result<Vec<RoleGrant>, StoreError> {
    role_grants_in(conn, user_id, only_team.as_ref().map(std::slice::from_ref))
}

/// The user's memberships in `teams` (all teams when `None`), with each role's permissions.
fn role_grants_in(
    conn: &mut Conn,
    user_id: &str,
    teams: Option<&[&str]>,
) -> Result<Vec<RoleGrant>, StoreError> {
    let mut query = team_memberships::table
        .inner_join(roles::table)
        .filter(team_memberships::user_id.eq(user_id))
        .select((
            team_memberships::team_id,
            roles::id,
            roles::name,
            roles::permissions,
        ))
        .into_boxed();
    if let Some(teams) = teams {
        query = query.filter(team_memberships::team_id.eq_any(teams.to_vec()));
    }
    Ok(query
        .load::<(String, String, String, String)>(conn)?
        .into_iter()
        .map(|(team_id, role_id, role_name, permissions)| RoleGrant {
            team_id,
            role_id,
            role_name,
            permissions: PermissionList::from_stored(&permissions),
        })
        .collect())
}

/// Serialises the realm's access-changing writes until the transaction ends. Each checks
/// what its actor holds and that the realm keeps an admin against what the others committed:
/// without it, PostgreSQL's READ COMMITTED lets two admins demote each other at once. SQLite's
/// `BEGIN IMMEDIATE` already serialises every write.
pub fn lock_realm_access(conn: &mut Conn, realm_id: &str) -> Result<(), StoreError> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<diesel::sql_types::Text, _>(format!("realm_access\n{realm_id}"))
            .execute(pg)?;
    }
    Ok(())
}

/// Enabled policies whose subject is the user, one of the roles or one of the teams.
pub fn policies_for(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    role_ids: &BTreeSet<String>,
    team_ids: &BTreeSet<String>,
) -> Result<Vec<Policy>, StoreError> {
    let roles: Vec<&String> = role_ids.iter().collect();
    let teams: Vec<&String> = team_ids.iter().collect();
    policies::table
        .filter(policies::realm_id.eq(realm_id))
        .filter(policies::enabled.eq(true))
        .filter(
            (policies::subject_type
                .eq(SubjectType::User.as_str())
                .and(policies::subject_id.eq(user_id)))
            .or(policies::subject_type
                .eq(SubjectType::Role.as_str())
                .and(policies::subject_id.eq_any(roles)))
            .or(policies::subject_type
                .eq(SubjectType::Team.as_str())
                .and(policies::subject_id.eq_any(teams))),
        )
        .select(PolicyRow::as_select())
        .load::<PolicyRow>(conn)?
        .into_models()
}

pub fn api_key_by_hash(conn: &mut Conn, sha256_hex: &str) -> Result<Option<ApiKey>, StoreError> {
    api_keys::table
        .filter(api_keys::secret_sha256.eq(sha256_hex))
        .select(ApiKeyRow::as_select())
        .first::<ApiKeyRow>(conn)
        .optional()?
        .into_models()
}

pub fn realm_by_id(conn: &mut Conn, id: &str) -> Result<Option<Realm>, StoreError> {
    realms::table
        .find(id)
        .select(RealmRow::as_select())
        .first::<RealmRow>(conn)
        .optional()?
        .into_models()
}

/// Records when keys were last used: one statement per key, batched by the caller.
pub fn touch_api_keys(conn: &mut Conn, last_access: &[(String, i64)]) -> Result<(), StoreError> {
    crate::db::write_tx(conn, |conn| {
        for (id, at) in last_access {
            diesel::update(api_keys::table.find(id))
                .set(api_keys::last_access_at.eq(*at))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// A user's live effective permissions (docs/api.md, "What a request may do"): the permissions of their roles in their
/// teams (all, or only `only_team`), plus policy allows, minus policy denies — a deny wins.
pub fn effective_permissions(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    only_team: Option<&str>,
) -> Result<BTreeSet<String>, StoreError> {
    effective_permissions_in(
        conn,
        realm_id,
        user_id,
        only_team.as_ref().map(std::slice::from_ref),
    )
}

/// [`effective_permissions`] over the user's memberships in `teams` (all when `None`).
pub fn effective_permissions_in(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    teams: Option<&[&str]>,
) -> Result<BTreeSet<String>, StoreError> {
    let grants = role_grants_in(conn, user_id, teams)?;
    let mut allowed: BTreeSet<String> =
        grants.iter().flat_map(|g| g.permissions.to_vec()).collect();
    let role_ids: BTreeSet<String> = grants.iter().map(|g| g.role_id.clone()).collect();
    let team_ids: BTreeSet<String> = grants.iter().map(|g| g.team_id.clone()).collect();
    let policies = policies_for(conn, realm_id, user_id, &role_ids, &team_ids)?;
    for p in policies.iter().filter(|p| p.effect == Effect::Allow) {
        allowed.extend(p.permissions.to_vec());
    }
    for p in policies.iter().filter(|p| p.effect == Effect::Deny) {
        for perm in p.permissions.iter() {
            allowed.remove(perm);
        }
    }
    allowed.retain(|p| tessera_core::permission::is_permission(p));
    Ok(allowed)
}

/// What a user may grant in one place, before the credential narrows it (see
/// [`tessera_core::grant`]): their rights in `team` and in the root team, or in the root team
/// alone for realm-wide grants.
pub fn live_rights_for_grant(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    root_team: &str,
    reach: &Reach,
) -> Result<BTreeSet<String>, StoreError> {
    match reach {
        Reach::Team(team) => {
            effective_permissions_in(conn, realm_id, user_id, Some(&[team.as_str(), root_team]))
        }
        Reach::Realm => effective_permissions_in(conn, realm_id, user_id, Some(&[root_team])),
        Reach::Tokens => effective_permissions(conn, realm_id, user_id, None),
    }
}

/// A user's rights as their credentials see them: realm-wide (tokens) and in each of their
/// teams and the root team (keys). A disabled or missing user has none.
pub fn user_rights(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    root_team: &str,
) -> Result<Rights, StoreError> {
    let enabled = users::table
        .find(user_id)
        .filter(users::realm_id.eq(realm_id))
        .select(users::enabled)
        .first::<bool>(conn)
        .optional()?;
    if enabled != Some(true) {
        return Ok(Rights::default());
    }
    let mut teams: BTreeSet<String> = team_memberships::table
        .filter(team_memberships::user_id.eq(user_id))
        .select(team_memberships::team_id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    teams.insert(root_team.to_string());
    let mut rights = Rights {
        realm: effective_permissions(conn, realm_id, user_id, None)?,
        teams: Default::default(),
    };
    for team in teams {
        let in_team = effective_permissions(conn, realm_id, user_id, Some(&team))?;
        rights.teams.insert(team, in_team);
    }
    Ok(rights)
}

/// Whether the realm still has an enabled person who holds every permission in the root team
/// (the built-in admin role there, not narrowed by a deny policy): the one who can mend anything.
pub fn realm_has_enabled_admin(
    conn: &mut Conn,
    realm_id: &str,
    root_team: &str,
) -> Result<bool, StoreError> {
    let candidates: BTreeSet<String> = team_memberships::table
        .inner_join(users::table)
        .filter(team_memberships::team_id.eq(root_team))
        .filter(users::enabled.eq(true))
        .filter(users::is_service_account.eq(false))
        .select(users::id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    for user in candidates {
        let held = effective_permissions(conn, realm_id, &user, Some(root_team))?;
        if tessera_core::permission::CATALOG
            .iter()
            .all(|(p, _)| held.contains(*p))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What a key grants by itself: its role's permissions and its scopes. Empty means "whatever
/// its owner may do" for personal keys.
pub fn key_grant(conn: &mut Conn, key: &ApiKey) -> Result<BTreeSet<String>, StoreError> {
    let mut grant: BTreeSet<String> = key.scopes.to_set();
    if let Some(role_id) = &key.role_id
        && let Some(role) = roles::table
            .find(role_id)
            .select(RoleRow::as_select())
            .first::<RoleRow>(conn)
            .optional()?
            .into_models()?
    {
        grant.extend(role.permissions.to_vec());
    }
    Ok(grant)
}

/// What a team key may do: its role's permissions, narrowed by deny policies on its team or
/// role (allow policies are for people, not service accounts).
pub fn team_key_rights(conn: &mut Conn, key: &ApiKey) -> Result<BTreeSet<String>, StoreError> {
    let mut rights = key_grant(conn, key)?;
    let teams: BTreeSet<String> = key.team_id.iter().cloned().collect();
    let roles: BTreeSet<String> = key.role_id.iter().cloned().collect();
    for policy in policies_for(conn, &key.realm_id, "", &roles, &teams)? {
        if policy.effect == Effect::Deny {
            for p in policy.permissions.iter() {
                rights.remove(p);
            }
        }
    }
    Ok(rights)
}

/// The rights a personal key carries right now.
#[derive(Debug, Clone)]
pub struct PersonalKeyRights {
    /// The key's own grant (role and scopes); empty when it follows its owner.
    pub grant: BTreeSet<String>,
    /// The owner's live permissions in the key's team.
    pub live: BTreeSet<String>,
    /// What a request with the key may do: the grant AND the live permissions.
    pub rights: BTreeSet<String>,
}

impl PersonalKeyRights {
    /// What the key carries by itself: its grant, or its owner's rights when it has none.
    pub fn carried(&self) -> &BTreeSet<String> {
        if self.grant.is_empty() {
            &self.live
        } else {
            &self.grant
        }
    }
}

/// The rights a personal key carries right now: its grant AND its owner's live permissions in
/// the key's team (or all the owner's permissions when the key names none).
pub fn personal_key_rights(
    conn: &mut Conn,
    key: &ApiKey,
    owner_id: &str,
) -> Result<PersonalKeyRights, StoreError> {
    let grant = key_grant(conn, key)?;
    let live = effective_permissions(conn, &key.realm_id, owner_id, key.team_id.as_deref())?;
    let rights = if grant.is_empty() {
        live.clone()
    } else {
        grant.intersection(&live).cloned().collect()
    };
    Ok(PersonalKeyRights {
        grant,
        live,
        rights,
    })
}
