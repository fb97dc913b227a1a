//! API-key rows: personal keys (`/api/v1/apikeys`) and team keys (`/api/preview/teamkeys`).
//! Listing is keyset-paged on the id, so every page costs the same.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::models::{ApiKey, Role, Team};
use crate::schema::*;

type Conn = DbConnection;

pub fn insert(conn: &mut Conn, key: &ApiKey) -> Result<(), StoreError> {
    diesel::insert_into(api_keys::table)
        .values(key)
        .execute(conn)?;
    Ok(())
}

pub fn by_id(conn: &mut Conn, realm_id: &str, id: &str) -> Result<Option<ApiKey>, StoreError> {
    Ok(api_keys::table
        .filter(api_keys::realm_id.eq(realm_id))
        .filter(api_keys::id.eq(id))
        .select(ApiKey::as_select())
        .first(conn)
        .optional()?)
}

/// Which keys a list may show.
pub enum KeyScope<'a> {
    /// Personal keys of one owner.
    PersonalOf(&'a str),
    /// Every personal key of the realm (admins).
    AllPersonal,
    /// Team keys of these teams.
    TeamKeysOf(&'a [String]),
}

/// Up to `limit` keys after `after` (by id), in id order, optionally of one team.
pub fn list(
    conn: &mut Conn,
    realm_id: &str,
    scope: KeyScope<'_>,
    team: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<ApiKey>, StoreError> {
    let mut q = api_keys::table
        .filter(api_keys::realm_id.eq(realm_id))
        .select(ApiKey::as_select())
        .order(api_keys::id)
        .limit(limit)
        .into_boxed();
    q = match scope {
        KeyScope::PersonalOf(owner) => q
            .filter(api_keys::kind.eq("personal"))
            .filter(api_keys::owner_user_id.eq(owner)),
        KeyScope::AllPersonal => q.filter(api_keys::kind.eq("personal")),
        KeyScope::TeamKeysOf(teams) => q
            .filter(api_keys::kind.eq("team"))
            .filter(api_keys::team_id.eq_any(teams)),
    };
    if let Some(team) = team {
        q = q.filter(api_keys::team_id.eq(team));
    }
    if let Some(after) = after {
        q = q.filter(api_keys::id.gt(after));
    }
    Ok(q.load(conn)?)
}

/// Writes the changeable fields of a key.
pub fn update(conn: &mut Conn, key: &ApiKey) -> Result<(), StoreError> {
    diesel::update(api_keys::table.find(&key.id))
        .set((
            api_keys::name.eq(&key.name),
            api_keys::role_id.eq(&key.role_id),
            api_keys::status.eq(&key.status),
            api_keys::expires_at.eq(key.expires_at),
            api_keys::updated_by.eq(&key.updated_by),
            api_keys::updated_at.eq(key.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut Conn, id: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(api_keys::table.find(id)).execute(conn)?)
}

pub fn team_by_id(conn: &mut Conn, realm_id: &str, id: &str) -> Result<Option<Team>, StoreError> {
    Ok(teams::table
        .filter(teams::realm_id.eq(realm_id))
        .filter(teams::id.eq(id))
        .select(Team::as_select())
        .first(conn)
        .optional()?)
}

pub fn role_by_id(conn: &mut Conn, realm_id: &str, id: &str) -> Result<Option<Role>, StoreError> {
    Ok(roles::table
        .filter(roles::realm_id.eq(realm_id))
        .filter(roles::id.eq(id))
        .select(Role::as_select())
        .first(conn)
        .optional()?)
}

/// Names of teams by id, for `team_name` in responses.
pub fn team_names(conn: &mut Conn, ids: &[String]) -> Result<Vec<(String, String)>, StoreError> {
    Ok(teams::table
        .filter(teams::id.eq_any(ids))
        .select((teams::id, teams::name))
        .load(conn)?)
}

/// Names of roles by id, for `role` in responses.
pub fn role_names(conn: &mut Conn, ids: &[String]) -> Result<Vec<(String, String)>, StoreError> {
    Ok(roles::table
        .filter(roles::id.eq_any(ids))
        .select((roles::id, roles::name))
        .load(conn)?)
}
