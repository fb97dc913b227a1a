//! Rows of the browser flow: sessions, authorization codes and consents.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::schema::*;

type Conn = DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = browser_sessions)]
pub struct BrowserSession {
    pub id_sha256: String,
    pub realm_id: String,
    pub user_id: String,
    pub auth_time: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    pub created_at: i64,
    /// How the sign-in was proven: RFC 8176 `amr` values, space-separated.
    pub amr: String,
    /// The step a half-finished sign-in waits for; such a session authorises nothing.
    pub pending: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = authorization_codes)]
pub struct AuthorizationCode {
    pub code_sha256: String,
    pub realm_id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id_sha256: Option<String>,
    /// The `redirect_uri` parameter as sent, or empty when the request omitted it.
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub auth_time: i64,
    pub grant_id: String,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub created_at: i64,
    /// How the sign-in was proven: RFC 8176 `amr` values, space-separated.
    pub amr: String,
}

pub fn insert_session(conn: &mut Conn, s: &BrowserSession) -> Result<(), StoreError> {
    diesel::insert_into(browser_sessions::table)
        .values(s)
        .execute(conn)?;
    Ok(())
}

/// A live, completed session by the hash of its cookie value (a sign-in still waiting for a
/// step, see [`crate::mfa::pending_session`], is not one).
pub fn live_session(
    conn: &mut Conn,
    realm_id: &str,
    id_sha256: &str,
    now: i64,
) -> Result<Option<BrowserSession>, StoreError> {
    Ok(browser_sessions::table
        .filter(browser_sessions::id_sha256.eq(id_sha256))
        .filter(browser_sessions::realm_id.eq(realm_id))
        .filter(browser_sessions::ended_at.is_null())
        .filter(browser_sessions::expires_at.gt(now))
        .filter(browser_sessions::pending.is_null())
        .select(BrowserSession::as_select())
        .first(conn)
        .optional()?)
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
pub fn end_session(
    conn: &mut Conn,
    realm_id: &str,
    id_sha256: &str,
    now: i64,
) -> Result<SessionEnded, StoreError> {
    crate::db::write_tx(conn, |conn| end_session_in(conn, realm_id, id_sha256, now))
}

/// [`end_session`] inside the caller's write transaction.
pub(crate) fn end_session_in(
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
        lock_grant(conn, grant_id)?;
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
        ended.revoked.extend(crate::revocation::revoke_family_in(
            conn, realm_id, &grant_id, now,
        )?);
        ended.client_ids.push(client_id);
    }
    ended.client_ids.sort();
    ended.client_ids.dedup();
    Ok(ended)
}

pub fn insert_code(conn: &mut Conn, code: &AuthorizationCode) -> Result<(), StoreError> {
    diesel::insert_into(authorization_codes::table)
        .values(code)
        .execute(conn)?;
    Ok(())
}

pub fn code_by_hash(
    conn: &mut Conn,
    code_sha256: &str,
) -> Result<Option<AuthorizationCode>, StoreError> {
    Ok(authorization_codes::table
        .find(code_sha256)
        .select(AuthorizationCode::as_select())
        .first(conn)
        .optional()?)
}

/// Records an access token issued under a grant, so a replayed code can revoke it.
pub fn record_grant_token(
    conn: &mut Conn,
    jti: &str,
    grant_id: &str,
    realm_id: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    diesel::insert_into(grant_access_tokens::table)
        .values((
            grant_access_tokens::jti.eq(jti),
            grant_access_tokens::grant_id.eq(grant_id),
            grant_access_tokens::realm_id.eq(realm_id),
            grant_access_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The scopes the user already allowed the client, if any.
pub fn consent(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    client_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(consents::table
        .find((realm_id, user_id, client_id))
        .select(consents::scopes)
        .first(conn)
        .optional()?)
}

pub fn save_consent(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    client_id: &str,
    scopes: &str,
    now: i64,
) -> Result<(), StoreError> {
    crate::db::write_tx(conn, |conn| {
        diesel::delete(consents::table.find((realm_id, user_id, client_id))).execute(conn)?;
        diesel::insert_into(consents::table)
            .values((
                consents::realm_id.eq(realm_id),
                consents::user_id.eq(user_id),
                consents::client_id.eq(client_id),
                consents::scopes.eq(scopes),
                consents::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    })
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub token_sha256: String,
    pub realm_id: String,
    /// The grant: the authorization code's grant id, shared by every rotation.
    pub family_id: String,
    /// The OAuth `client_id`.
    pub client_id: String,
    pub user_id: String,
    /// The scope of the original grant; a refresh may narrow the access token, never this.
    pub scope: String,
    pub session_id_sha256: Option<String>,
    pub auth_time: i64,
    pub expires_at: i64,
    pub family_expires_at: i64,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
    /// How the sign-in was proven: RFC 8176 `amr` values, space-separated.
    pub amr: String,
}

pub fn insert_refresh_token(conn: &mut Conn, t: &RefreshToken) -> Result<(), StoreError> {
    diesel::insert_into(refresh_tokens::table)
        .values(t)
        .execute(conn)?;
    Ok(())
}

pub fn refresh_token(
    conn: &mut Conn,
    token_sha256: &str,
) -> Result<Option<RefreshToken>, StoreError> {
    Ok(refresh_tokens::table
        .find(token_sha256)
        .select(RefreshToken::as_select())
        .first(conn)
        .optional()?)
}

/// Holds the grant (a code and the refresh-token family it starts) until the transaction ends:
/// its redemptions, rotations and revocations run one at a time. PostgreSQL takes an advisory
/// lock; SQLite's `BEGIN IMMEDIATE` already serialises every write.
pub fn lock_grant(conn: &mut Conn, grant_id: &str) -> Result<(), StoreError> {
    crate::db::lock_until_commit(conn, &format!("grant\n{grant_id}"))
}

/// What a redemption issues, recorded in its transaction.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The access token's `jti` and expiry, recorded under the grant so a replay revokes it.
    pub access_jti: String,
    pub access_expires_at: i64,
    /// The new refresh token, if the client gets one.
    pub refresh: Option<RefreshToken>,
}

/// What redeeming a code or a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// First use: the tokens are recorded and may be handed out.
    Issued,
    /// First use, but the request was refused: the code or token is spent, nothing issued.
    Spent,
    /// The user is disabled: spent, nothing issued.
    UserDisabled,
    /// Used before: the whole grant is revoked, with these access tokens (`jti`, `exp`).
    Replayed(Vec<(String, i64)>),
}

/// Redeems a code in one transaction under its grant's lock: spends it (exactly one caller
/// can), then — unless `refused` — records `issued`. A code spent before revokes its grant,
/// including tokens a concurrent winner recorded, since the lock orders the two.
pub fn redeem_code(
    conn: &mut Conn,
    code: &AuthorizationCode,
    now: i64,
    refused: bool,
    issued: &Issued,
) -> Result<Redemption, StoreError> {
    crate::db::write_tx(conn, |conn| {
        lock_grant(conn, &code.grant_id)?;
        let spent = diesel::update(
            authorization_codes::table
                .filter(authorization_codes::code_sha256.eq(&code.code_sha256))
                .filter(authorization_codes::consumed_at.is_null()),
        )
        .set(authorization_codes::consumed_at.eq(now))
        .execute(conn)?;
        let grant = Grant {
            realm_id: &code.realm_id,
            id: &code.grant_id,
            user_id: &code.user_id,
        };
        settle(conn, &grant, spent == 1, refused, issued, now)
    })
}

/// Rotates a refresh token in one transaction under its family's lock: retires it (exactly one
/// caller can), then records `issued`. A retired or revoked token revokes
/// the whole family, including what a concurrent rotation recorded.
pub fn rotate_refresh(
    conn: &mut Conn,
    token: &RefreshToken,
    now: i64,
    issued: &Issued,
) -> Result<Redemption, StoreError> {
    crate::db::write_tx(conn, |conn| {
        lock_grant(conn, &token.family_id)?;
        let rotated = diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::token_sha256.eq(&token.token_sha256))
                .filter(refresh_tokens::rotated_at.is_null())
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::rotated_at.eq(now))
        .execute(conn)?;
        let grant = Grant {
            realm_id: &token.realm_id,
            id: &token.family_id,
            user_id: &token.user_id,
        };
        settle(conn, &grant, rotated == 1, false, issued, now)
    })
}

/// The grant a code or refresh token belongs to.
struct Grant<'a> {
    realm_id: &'a str,
    id: &'a str,
    user_id: &'a str,
}

/// The second half of a redemption, under the grant's lock. Not the first use: the whole
/// grant is revoked. The first: unless refused, and while the user is still enabled, the
/// access token is recorded under the grant and the new refresh token stored.
fn settle(
    conn: &mut Conn,
    grant: &Grant<'_>,
    first_use: bool,
    refused: bool,
    issued: &Issued,
    now: i64,
) -> Result<Redemption, StoreError> {
    let Grant {
        realm_id,
        id: grant_id,
        user_id,
    } = *grant;
    if !first_use {
        let revoked = crate::revocation::revoke_family_in(conn, realm_id, grant_id, now)?;
        return Ok(Redemption::Replayed(revoked));
    }
    if refused {
        return Ok(Redemption::Spent);
    }
    let enabled = users::table
        .find(user_id)
        .select(users::enabled)
        .first::<bool>(conn)
        .optional()?;
    if enabled != Some(true) {
        return Ok(Redemption::UserDisabled);
    }
    record_issued(conn, realm_id, grant_id, issued)?;
    Ok(Redemption::Issued)
}

fn record_issued(
    conn: &mut Conn,
    realm_id: &str,
    grant_id: &str,
    issued: &Issued,
) -> Result<(), StoreError> {
    record_grant_token(
        conn,
        &issued.access_jti,
        grant_id,
        realm_id,
        issued.access_expires_at,
    )?;
    if let Some(t) = &issued.refresh {
        insert_refresh_token(conn, t)?;
    }
    Ok(())
}

/// Records the first tokens of a new grant (the password grant's): the access token under the
/// grant, so revoking the refresh family revokes it too, and the refresh token.
pub fn start_grant(
    conn: &mut Conn,
    realm_id: &str,
    grant_id: &str,
    issued: &Issued,
) -> Result<(), StoreError> {
    crate::db::write_tx(conn, |conn| record_issued(conn, realm_id, grant_id, issued))
}
