//! Browser sessions: who is signed in where, and ending them.

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::rows::*;
use crate::schema::*;
use diesel::prelude::*;
use tessera_core::model::BrowserSession;

type Conn = DbConnection;

pub fn insert(conn: &mut Conn, s: &BrowserSession) -> Result<(), StoreError> {
    diesel::insert_into(browser_sessions::table)
        .values(BrowserSessionRow::from_model(s))
        .execute(conn)?;
    Ok(())
}

/// A live, completed session by the hash of its cookie value (a sign-in still waiting for a
/// step, see [`crate::mfa::pending_session`], is not one).
pub fn live(
    conn: &mut Conn,
    realm_id: &str,
    id_sha256: &str,
    now: i64,
) -> Result<Option<BrowserSession>, StoreError> {
    unexpired(conn, realm_id, id_sha256, now, false)
}

/// A session neither ended nor expired, by the hash of its cookie: a completed one, or
/// (`pending`) a sign-in waiting for a step.
pub(crate) fn unexpired(
    conn: &mut Conn,
    realm_id: &str,
    id_sha256: &str,
    now: i64,
    pending: bool,
) -> Result<Option<BrowserSession>, StoreError> {
    let mut query = browser_sessions::table
        .filter(browser_sessions::id_sha256.eq(id_sha256))
        .filter(browser_sessions::realm_id.eq(realm_id))
        .filter(browser_sessions::ended_at.is_null())
        .filter(browser_sessions::expires_at.gt(now))
        .select(BrowserSessionRow::as_select())
        .into_boxed();
    query = if pending {
        query.filter(browser_sessions::pending.is_not_null())
    } else {
        query.filter(browser_sessions::pending.is_null())
    };
    query
        .first::<BrowserSessionRow>(conn)
        .optional()?
        .into_models()
}

/// What ending a browser session ended.
#[derive(Debug, Default)]
pub struct SessionEnded {
    /// The session's user, when the session existed in the realm.
    pub user_id: Option<String>,
    /// Access-token ids revoked with the session's grants, with their expiry.
    pub revoked: Vec<(String, i64)>,
    /// Clients that received tokens within the session (for back-channel logout), sorted.
    pub client_ids: Vec<String>,
}

/// Ends a browser session and everything issued within it, in one transaction: the session
/// row, its unredeemed codes, and every grant (refresh family and recorded access tokens) that
/// came from it, each under the grant's lock so a redemption in flight cannot outlive it.
pub fn end(
    conn: &mut Conn,
    realm_id: &str,
    id_sha256: &str,
    now: i64,
) -> Result<SessionEnded, StoreError> {
    crate::db::write_tx(conn, |conn| end_in(conn, realm_id, id_sha256, now))
}

/// [`end_session`] inside the caller's write transaction.
pub(crate) fn end_in(
    conn: &mut Conn,
    realm_id: &str,
    id_sha256: &str,
    now: i64,
) -> Result<SessionEnded, StoreError> {
    let codes: Vec<(String, String)> = authorization_codes::table
        .filter(authorization_codes::session_id_sha256.eq(id_sha256))
        .filter(authorization_codes::realm_id.eq(realm_id))
        .select((
            authorization_codes::grant_id,
            authorization_codes::client_id,
        ))
        .load(conn)?;
    let families: Vec<(String, String)> = refresh_tokens::table
        .filter(refresh_tokens::session_id_sha256.eq(id_sha256))
        .filter(refresh_tokens::realm_id.eq(realm_id))
        .select((refresh_tokens::family_id, refresh_tokens::client_id))
        .distinct()
        .load(conn)?;
    let mut grants: Vec<(String, String)> = codes.into_iter().chain(families).collect();
    grants.sort();
    grants.dedup();
    // Grant locks first, in one order, as redemptions take them before touching rows.
    for (grant_id, _) in &grants {
        crate::refresh_tokens::lock_grant(conn, grant_id)?;
    }
    let user_id = browser_sessions::table
        .find(id_sha256)
        .filter(browser_sessions::realm_id.eq(realm_id))
        .select(browser_sessions::user_id)
        .first::<String>(conn)
        .optional()?;
    diesel::update(
        browser_sessions::table
            .find(id_sha256)
            .filter(browser_sessions::realm_id.eq(realm_id))
            .filter(browser_sessions::ended_at.is_null()),
    )
    .set(browser_sessions::ended_at.eq(now))
    .execute(conn)?;
    diesel::update(
        authorization_codes::table
            .filter(authorization_codes::session_id_sha256.eq(id_sha256))
            .filter(authorization_codes::realm_id.eq(realm_id))
            .filter(authorization_codes::consumed_at.is_null()),
    )
    .set(authorization_codes::consumed_at.eq(now))
    .execute(conn)?;
    let mut ended = SessionEnded {
        user_id,
        ..SessionEnded::default()
    };
    for (grant_id, client_id) in grants {
        ended
            .revoked
            .extend(crate::refresh_tokens::revoke_family_in(
                conn, realm_id, &grant_id, now,
            )?);
        ended.client_ids.push(client_id);
    }
    ended.client_ids.sort();
    ended.client_ids.dedup();
    Ok(ended)
}
