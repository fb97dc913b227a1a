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

/// Revokes every access token issued under `grant_id` (RFC 6749 §4.1.2: a replayed code).
pub fn revoke_grant(conn: &mut Conn, grant_id: &str, now: i64) -> Result<usize, StoreError> {
    crate::db::write_tx(conn, |conn| {
        let tokens: Vec<(String, String, i64)> = grant_access_tokens::table
            .filter(grant_access_tokens::grant_id.eq(grant_id))
            .select((
                grant_access_tokens::jti,
                grant_access_tokens::realm_id,
                grant_access_tokens::expires_at,
            ))
            .load(conn)?;
        for (jti, realm_id, expires_at) in &tokens {
            let already: i64 = revoked_tokens::table
                .filter(revoked_tokens::jti.eq(jti))
                .count()
                .get_result(conn)?;
            if already == 0 {
                diesel::insert_into(revoked_tokens::table)
                    .values((
                        revoked_tokens::jti.eq(jti),
                        revoked_tokens::realm_id.eq(realm_id),
                        revoked_tokens::expires_at.eq(expires_at),
                        revoked_tokens::revoked_at.eq(now),
                    ))
                    .execute(conn)?;
            }
        }
        diesel::update(refresh_tokens::table.filter(refresh_tokens::family_id.eq(grant_id)))
            .set(refresh_tokens::revoked_at.eq(now))
            .execute(conn)?;
        Ok(tokens.len())
    })
}

pub fn is_revoked(conn: &mut Conn, jti: &str) -> Result<bool, StoreError> {
    let n: i64 = revoked_tokens::table
        .filter(revoked_tokens::jti.eq(jti))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
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
