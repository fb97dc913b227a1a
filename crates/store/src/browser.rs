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
}

pub fn insert_session(conn: &mut Conn, s: &BrowserSession) -> Result<(), StoreError> {
    diesel::insert_into(browser_sessions::table)
        .values(s)
        .execute(conn)?;
    Ok(())
}

/// A live session by the hash of its cookie value.
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
        .select(BrowserSession::as_select())
        .first(conn)
        .optional()?)
}

pub fn end_session(conn: &mut Conn, id_sha256: &str, now: i64) -> Result<(), StoreError> {
    diesel::update(browser_sessions::table.find(id_sha256))
        .set(browser_sessions::ended_at.eq(now))
        .execute(conn)?;
    Ok(())
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

/// Marks the token rotated unless it already was (or was revoked): exactly one of several
/// concurrent refreshes with the same token gets `true`.
pub fn rotate_refresh_token(
    conn: &mut Conn,
    token_sha256: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::token_sha256.eq(token_sha256))
            .filter(refresh_tokens::rotated_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::rotated_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}
