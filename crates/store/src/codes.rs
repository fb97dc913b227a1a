//! Authorization codes: issued once, redeemed once under the grant lock.

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::refresh_tokens::Grant;
use crate::refresh_tokens::Issued;
use crate::schema::*;
use diesel::prelude::*;

type Conn = DbConnection;

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

pub fn insert(conn: &mut Conn, code: &AuthorizationCode) -> Result<(), StoreError> {
    diesel::insert_into(authorization_codes::table)
        .values(code)
        .execute(conn)?;
    Ok(())
}

pub fn by_hash(
    conn: &mut Conn,
    code_sha256: &str,
) -> Result<Option<AuthorizationCode>, StoreError> {
    Ok(authorization_codes::table
        .find(code_sha256)
        .select(AuthorizationCode::as_select())
        .first(conn)
        .optional()?)
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
pub fn redeem(
    conn: &mut Conn,
    code: &AuthorizationCode,
    now: i64,
    refused: bool,
    issued: &Issued,
) -> Result<Redemption, StoreError> {
    crate::db::write_tx(conn, |conn| {
        crate::refresh_tokens::lock_grant(conn, &code.grant_id)?;
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
        crate::refresh_tokens::settle(conn, &grant, spent == 1, refused, issued, now)
    })
}
