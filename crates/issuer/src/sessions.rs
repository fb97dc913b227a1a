//! A person's own sessions and grants as the account page shows them (ASVS 10.4.9: see and
//! end them). A browser session is named by its `sid` (the value ID tokens carry, derived from
//! the cookie's hash and never revealing it); a grant by its refresh-token family id.

use actix_web::web;
use tessera_store::DbConnection;
use tessera_store::mfa;
use tessera_store::models::Realm;
use tessera_store::revocation as rev;

use crate::error::IssuerError;
use crate::oidc::session_sid;
use crate::state::IssuerState;

/// A browser session on the account page.
pub(crate) struct SessionRow {
    pub(crate) id: String,
    pub(crate) auth_time: i64,
    pub(crate) amr: String,
    pub(crate) current: bool,
}

/// An application holding a refresh token on the account page.
pub(crate) struct GrantRow {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) scope: String,
    pub(crate) created_at: i64,
}

/// The user's live sessions (the `current` one marked) and live grants.
pub(crate) fn of_user(
    conn: &mut DbConnection,
    realm_id: &str,
    user_id: &str,
    current: &str,
    now: i64,
) -> Result<(Vec<SessionRow>, Vec<GrantRow>), IssuerError> {
    let sessions = mfa::sessions_of_user(conn, realm_id, user_id, now)?
        .into_iter()
        .map(|s| SessionRow {
            id: session_sid(&s.id_sha256),
            auth_time: s.auth_time,
            current: s.id_sha256 == current,
            amr: s.amr,
        })
        .collect();
    let grants = mfa::grants_of_user(conn, realm_id, user_id, now)?
        .into_iter()
        .map(|g| GrantRow {
            id: g.family_id,
            client_id: g.client_id,
            scope: g.scope,
            created_at: g.created_at,
        })
        .collect();
    Ok((sessions, grants))
}

/// The cookie hash of the user's live session named `sid`, if it is theirs.
pub(crate) fn session_hash_of_user(
    conn: &mut DbConnection,
    realm_id: &str,
    user_id: &str,
    sid: &str,
    now: i64,
) -> Result<Option<String>, IssuerError> {
    Ok(mfa::sessions_of_user(conn, realm_id, user_id, now)?
        .into_iter()
        .map(|s| s.id_sha256)
        .find(|hash| session_sid(hash) == sid))
}

/// Revokes the user's grant `family_id` (refresh tokens and the access tokens issued under
/// it); false when it is not a live grant of theirs.
pub(crate) async fn revoke_grant_of_user(
    state: &IssuerState,
    realm: &Realm,
    user_id: &str,
    family_id: &str,
) -> Result<bool, IssuerError> {
    let db = state.db.clone();
    let (realm_id, user_id, family, now) = (
        realm.id.clone(),
        user_id.to_string(),
        family_id.to_string(),
        state.now(),
    );
    let revoked = web::block(move || -> Result<Option<Vec<(String, i64)>>, IssuerError> {
        let mut conn = db.conn()?;
        let theirs = mfa::grants_of_user(&mut conn, &realm_id, &user_id, now)?
            .iter()
            .any(|g| g.family_id == family);
        if !theirs {
            return Ok(None);
        }
        Ok(Some(rev::revoke_refresh_family(
            &mut conn, &realm_id, &family, now,
        )?))
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
