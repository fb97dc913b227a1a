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
