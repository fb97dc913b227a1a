//! Effective permissions (DESIGN.md): the permissions of a user's roles in their teams, plus
//! policy allows, minus policy denies (a deny always wins). Computed by the store, so the
//! issuer's token exchange and the resource server agree.

use std::collections::BTreeSet;
use tessera_store::DbConnection;

use crate::error::ApiError;

/// A set of permission names.
pub type Permissions = BTreeSet<String>;

/// The user's live effective permissions, across all teams or within `only_team`.
pub fn effective_permissions(
    conn: &mut DbConnection,
    realm_id: &str,
    user_id: &str,
    only_team: Option<&str>,
) -> Result<Permissions, ApiError> {
    Ok(tessera_store::access::effective_permissions(
        conn, realm_id, user_id, only_team,
    )?)
}
