//! Authorization codes: issued once, redeemed once under the grant lock.

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::refresh_tokens::Grant;
use crate::refresh_tokens::Issued;
use crate::rows::*;
use crate::schema::*;
use diesel::prelude::*;
use tessera_core::model::AuthorizationCode;

type Conn = DbConnection;

pub fn insert(conn: &mut Conn, code: &AuthorizationCode) -> Result<(), StoreError> {
    diesel::insert_into(authorization_codes::table)
        .values(AuthorizationCodeRow::from_model(code))
        .execute(conn)?;
    Ok(())
}

find_one!(pub fn by_hash(authorization_codes: code_sha256) -> AuthorizationCodeRow as AuthorizationCode);

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
