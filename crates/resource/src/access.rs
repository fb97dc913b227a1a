//! Effective permissions (DESIGN.md): the permissions of a user's roles in their teams, plus
//! policy allows, minus policy denies (a deny always wins).

use std::collections::BTreeSet;
use tessera_core::permission;
use tessera_store::DbConnection;
use tessera_store::access::{RoleGrant, policies_for, role_grants};

use crate::error::ApiError;

/// A set of permission names.
pub type Permissions = BTreeSet<String>;

fn split(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The user's live effective permissions, across all teams or within `only_team`.
pub fn effective_permissions(
    conn: &mut DbConnection,
    realm_id: &str,
    user_id: &str,
    only_team: Option<&str>,
) -> Result<Permissions, ApiError> {
    let grants: Vec<RoleGrant> = role_grants(conn, user_id, only_team)?;
    let mut allowed: Permissions = grants.iter().flat_map(|g| split(&g.permissions)).collect();
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
    allowed.retain(|p| permission::is_permission(p));
    Ok(allowed)
}
