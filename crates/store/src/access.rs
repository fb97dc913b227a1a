//! What a principal may do: the rows behind effective permissions, and API-key lookups for
//! authentication.

use diesel::prelude::*;
use std::collections::BTreeSet;

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::models::{ApiKey, Policy, Realm};
use crate::schema::*;

type Conn = DbConnection;

/// One membership with its role's permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub team_id: String,
    pub role_id: String,
    pub role_name: String,
    pub permissions: String,
}

/// The user's memberships, optionally only in one team, with each role's permissions.
pub fn role_grants(
    conn: &mut Conn,
    user_id: &str,
    only_team: Option<&str>,
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
    if let Some(team) = only_team {
        query = query.filter(team_memberships::team_id.eq(team));
    }
    Ok(query
        .load::<(String, String, String, String)>(conn)?
        .into_iter()
        .map(|(team_id, role_id, role_name, permissions)| RoleGrant {
            team_id,
            role_id,
            role_name,
            permissions,
        })
        .collect())
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
    Ok(policies::table
        .filter(policies::realm_id.eq(realm_id))
        .filter(policies::enabled.eq(true))
        .filter(
            (policies::subject_type
                .eq("user")
                .and(policies::subject_id.eq(user_id)))
            .or(policies::subject_type
                .eq("role")
                .and(policies::subject_id.eq_any(roles)))
            .or(policies::subject_type
                .eq("team")
                .and(policies::subject_id.eq_any(teams))),
        )
        .select(Policy::as_select())
        .load(conn)?)
}

pub fn api_key_by_hash(conn: &mut Conn, sha256_hex: &str) -> Result<Option<ApiKey>, StoreError> {
    Ok(api_keys::table
        .filter(api_keys::secret_sha256.eq(sha256_hex))
        .select(ApiKey::as_select())
        .first(conn)
        .optional()?)
}

pub fn realm_by_id(conn: &mut Conn, id: &str) -> Result<Option<Realm>, StoreError> {
    Ok(realms::table
        .find(id)
        .select(Realm::as_select())
        .first(conn)
        .optional()?)
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

/// Split a stored permission or scope list.
fn split(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A user's live effective permissions (DESIGN.md): the permissions of their roles in their
/// teams (all, or only `only_team`), plus policy allows, minus policy denies — a deny wins.
pub fn effective_permissions(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    only_team: Option<&str>,
) -> Result<BTreeSet<String>, StoreError> {
    let grants = role_grants(conn, user_id, only_team)?;
    let mut allowed: BTreeSet<String> = grants.iter().flat_map(|g| split(&g.permissions)).collect();
    let role_ids: BTreeSet<String> = grants.iter().map(|g| g.role_id.clone()).collect();
    let team_ids: BTreeSet<String> = grants.iter().map(|g| g.team_id.clone()).collect();
    let policies = policies_for(conn, realm_id, user_id, &role_ids, &team_ids)?;
    for p in policies.iter().filter(|p| p.effect == "allow") {
        allowed.extend(split(&p.permissions));
    }
    for p in policies.iter().filter(|p| p.effect == "deny") {
        for perm in split(&p.permissions) {
            allowed.remove(&perm);
        }
    }
    allowed.retain(|p| tessera_core::permission::is_permission(p));
    Ok(allowed)
}

/// What a key grants by itself: its role's permissions and its scopes. Empty means "whatever
/// its owner may do" for personal keys.
pub fn key_grant(conn: &mut Conn, key: &ApiKey) -> Result<BTreeSet<String>, StoreError> {
    let mut grant: BTreeSet<String> = split(&key.scopes).collect();
    if let Some(role_id) = &key.role_id
        && let Some(role) = roles::table
            .find(role_id)
            .select(crate::models::Role::as_select())
            .first(conn)
            .optional()?
    {
        grant.extend(split(&role.permissions));
    }
    Ok(grant)
}

/// The rights a personal key carries right now: its grant AND its owner's live permissions in
/// the key's team (or all the owner's permissions when the key names none).
pub fn personal_key_rights(
    conn: &mut Conn,
    key: &ApiKey,
    owner_id: &str,
) -> Result<(BTreeSet<String>, BTreeSet<String>), StoreError> {
    let grant = key_grant(conn, key)?;
    let live = effective_permissions(conn, &key.realm_id, owner_id, key.team_id.as_deref())?;
    let rights = if grant.is_empty() {
        live.clone()
    } else {
        grant.intersection(&live).cloned().collect()
    };
    Ok((if grant.is_empty() { live } else { grant }, rights))
}
