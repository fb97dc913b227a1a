//! API keys: personal keys at `/api/v1/apikeys` (seed 003, [`personal`]) and team keys at
//! `/api/preview/teamkeys` (seed 004, [`team`]), with the rules of seed 002: a personal key
//! acts for its creator within one team and never beyond the creator's live rights; team keys
//! belong to a team, carry `oaa_push` by default, are created by admins and operators only,
//! are visible to every member, and outlive their creator. Values are shown once and stored
//! as SHA-256.

use actix_web::web;
use std::collections::{BTreeSet, HashMap};
use tessera_core::apikey::{ApiKeyKind, GeneratedApiKey};
use tessera_core::grant::KeyGrant;
use tessera_store::DbConnection;
use tessera_store::apikeys as keys;
use tessera_store::models::{ApiKey, Role};
use tessera_store::queries as q;

use crate::error::ApiError;
use crate::http::Author;

pub(crate) mod personal;
pub(crate) mod team;

pub fn routes(cfg: &mut web::ServiceConfig) {
    personal::routes(cfg);
    team::routes(cfg);
}

/// The status of a key that authenticates (unless expired), and of one that does not.
const ACTIVE: &str = "ACTIVE";
const INACTIVE: &str = "INACTIVE";

fn split(list: &str) -> Vec<String> {
    list.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The names of the keys' roles, by role id.
fn role_name_map(
    conn: &mut DbConnection,
    rows: &[ApiKey],
) -> Result<HashMap<String, String>, ApiError> {
    let ids: Vec<String> = rows.iter().filter_map(|k| k.role_id.clone()).collect();
    Ok(keys::role_names(conn, &ids)?.into_iter().collect())
}

/// The name of `key`'s role among `roles` ([`role_name_map`]).
fn role_name_of(key: &ApiKey, roles: &HashMap<String, String>) -> Option<String> {
    key.role_id.as_ref().and_then(|r| roles.get(r).cloned())
}

/// Resolves a role by name or id in the realm.
fn find_role(conn: &mut DbConnection, realm_id: &str, role: &str) -> Result<Role, ApiError> {
    let found = match q::role_by_name(conn, realm_id, role)? {
        Some(r) => Some(r),
        None if tessera_core::id::is_uuid(role) => keys::role_by_id(conn, realm_id, role)?,
        None => None,
    };
    found.ok_or_else(|| ApiError::bad("role", format!("no role {role:?} in this realm")))
}

/// What a key asks for: its role's permissions and its scopes, or (neither given)
/// everything its owner may do in its team.
fn requested_grant(role: Option<&Role>, scopes: &[String]) -> KeyGrant {
    let mut grant: BTreeSet<String> = scopes.iter().cloned().collect();
    if let Some(r) = role {
        grant.extend(
            r.permissions
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    if grant.is_empty() {
        KeyGrant::FollowsOwner
    } else {
        KeyGrant::Only(grant)
    }
}

/// A new active key of `kind` in `team_id`, made by the author, holding the hash of
/// `generated`; no owner, role or scopes yet.
fn new_key(
    author: &Author,
    kind: ApiKeyKind,
    generated: &GeneratedApiKey,
    name: &str,
    team_id: String,
) -> ApiKey {
    let (stored_kind, key_type) = match kind {
        ApiKeyKind::PersonalSecret => ("personal", "sk"),
        ApiKeyKind::PersonalPublic => ("personal", "pk"),
        ApiKeyKind::Team => ("team", "sk"),
    };
    ApiKey {
        id: tessera_core::id::new_uuid(),
        realm_id: author.realm_id().to_string(),
        kind: stored_kind.into(),
        key_type: key_type.into(),
        name: name.trim().to_string(),
        prefix: kind.prefix().into(),
        secret_sha256: generated.sha256_hex.clone(),
        last_four: generated.last_four.clone(),
        team_id: Some(team_id),
        owner_user_id: None,
        role_id: None,
        scopes: String::new(),
        status: ACTIVE.into(),
        expires_at: None,
        last_access_at: None,
        created_by: author.name.clone(),
        updated_by: author.name.clone(),
        created_at: author.now,
        updated_at: author.now,
    }
}

/// Marks `key` as changed by the author now, and stores it.
fn store_change(
    conn: &mut DbConnection,
    author: &Author,
    key: &mut ApiKey,
) -> Result<(), ApiError> {
    key.updated_by = author.name.clone();
    key.updated_at = author.now;
    keys::update(conn, key)?;
    Ok(())
}
