//! A person's own sessions and grants as the account page shows them (ASVS 10.4.9: see and
//! end them), over the store's `accounts` functions the REST API uses too. A browser session
//! is named by its `sid` (what ID tokens carry, derived from the cookie's hash and never
//! revealing it); a grant by its refresh-token family id.

use actix_web::web;
use tessera_core::authn::session_sid;
use tessera_store::DbConnection;
use tessera_store::accounts::{self, GrantInfo, SessionInfo};
use tessera_store::db::write_tx;

use crate::error::IssuerError;
use crate::state::IssuerState;

/// What the account page lists: live sessions (each with whether it is this browser's) and
/// live grants.
pub(crate) type SessionsAndGrants = (Vec<(SessionInfo, bool)>, Vec<GrantInfo>);

/// The user's live sessions (with whether each is `current`, the hash of this browser's) and
/// live grants.
pub(crate) fn of_user(
    conn: &mut DbConnection,
    user_id: &str,
    current: &str,
    now: i64,
) -> Result<SessionsAndGrants, IssuerError> {
    let this = session_sid(current);
    let sessions = accounts::list_sessions_of_user(conn, user_id, now)?
        .into_iter()
        .map(|s| {
            let current = s.id == this;
            (s, current)
        })
        .collect();
    Ok((sessions, accounts::list_grants_of_user(conn, user_id, now)?))
}

/// The cookie hash of the user's live session named `sid`, if it is theirs.
pub(crate) fn session_hash_of_user(
    conn: &mut DbConnection,
    user_id: &str,
    sid: &str,
    now: i64,
) -> Result<Option<String>, IssuerError> {
    Ok(accounts::live_session_hash(conn, user_id, sid, now)?.map(|(hash, _)| hash))
}

/// Revokes the user's grant `family_id` (refresh tokens and the access tokens issued under
/// it); false when it is not a live grant of theirs.
pub(crate) async fn revoke_grant_of_user(
    state: &IssuerState,
    user_id: &str,
    family_id: &str,
) -> Result<bool, IssuerError> {
    let db = state.db.clone();
    let (user_id, family, now) = (user_id.to_string(), family_id.to_string(), state.now());
    let revoked = web::block(move || {
        write_tx(&mut *db.conn()?, |conn| {
            accounts::revoke_grant_of_user_in(conn, &user_id, &family, now)
        })
    })
    .await??;
    let Some(revoked) = revoked else {
        return Ok(false);
    };
    for (jti, exp) in &revoked {
        state.access_token_revoked(jti, *exp);
    }
    Ok(true)
}
