//! Revocation (RFC 7009) and what introspection (RFC 7662) reads: revoked access-token ids
//! (`revoked_tokens`, one row per `jti`, kept until the token would have expired anyway) and
//! refresh-token families (`refresh_tokens.revoked_at`).
//!
//! Conventions shared with the grants that write these tables: `refresh_tokens.client_id` is
//! the OAuth `client_id` (as in the access token's `client_id` claim), and the access tokens
//! minted under a refresh family are recorded in `grant_access_tokens` with
//! `grant_id = family_id`, so revoking the family revokes them too.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::{DbConnection, write_tx};
use crate::error::StoreError;
use crate::schema::{grant_access_tokens, refresh_tokens, revoked_tokens};

type Conn = DbConnection;

/// The columns of a refresh token that revocation and introspection need.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshTokenState {
    pub token_sha256: String,
    pub realm_id: String,
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    /// The browser session the grant came from (the hash of its cookie), if any.
    pub session_id_sha256: Option<String>,
    pub expires_at: i64,
    pub family_expires_at: i64,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

impl RefreshTokenState {
    /// Usable right now: neither revoked nor rotated, and neither it nor its family expired.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none()
            && self.rotated_at.is_none()
            && self.expires_at > now
            && self.family_expires_at > now
    }
}

/// A revoked access-token id, with when its token expires (after which the row is pruned).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = revoked_tokens)]
pub struct RevokedJti {
    pub jti: String,
    pub realm_id: String,
    pub expires_at: i64,
    pub revoked_at: i64,
}

pub fn refresh_token_by_hash(
    conn: &mut Conn,
    token_sha256: &str,
) -> Result<Option<RefreshTokenState>, StoreError> {
    Ok(refresh_tokens::table
        .find(token_sha256)
        .select(RefreshTokenState::as_select())
        .first(conn)
        .optional()?)
}

/// Records `jti` as revoked; revoking it again changes nothing. Returns whether a row was
/// added. Safe under concurrency on both backends (`ON CONFLICT DO NOTHING`).
pub fn revoke_jti(
    conn: &mut Conn,
    jti: &str,
    realm_id: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    const SQLITE: &str = "INSERT INTO revoked_tokens (jti, realm_id, expires_at, revoked_at) \
                          VALUES (?, ?, ?, ?) ON CONFLICT (jti) DO NOTHING";
    const POSTGRES: &str = "INSERT INTO revoked_tokens (jti, realm_id, expires_at, revoked_at) \
                            VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING";
    let added = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(SQLITE)
            .bind::<Text, _>(jti)
            .bind::<Text, _>(realm_id)
            .bind::<BigInt, _>(expires_at)
            .bind::<BigInt, _>(now)
            .execute(c)?,
        DbConnection::Postgres(c) => diesel::sql_query(POSTGRES)
            .bind::<Text, _>(jti)
            .bind::<Text, _>(realm_id)
            .bind::<BigInt, _>(expires_at)
            .bind::<BigInt, _>(now)
            .execute(c)?,
    };
    Ok(added == 1)
}

/// Whether `jti` is revoked: one primary-key lookup.
pub fn is_jti_revoked(conn: &mut Conn, jti: &str) -> Result<bool, StoreError> {
    let n: i64 = revoked_tokens::table
        .filter(revoked_tokens::jti.eq(jti))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Revoked ids recorded at or after `since` whose tokens have not expired by `now` (uses the
/// `revoked_at` index): what a verifier's in-memory copy needs to catch up.
pub fn revoked_since(conn: &mut Conn, since: i64, now: i64) -> Result<Vec<RevokedJti>, StoreError> {
    Ok(revoked_tokens::table
        .filter(revoked_tokens::revoked_at.ge(since))
        .filter(revoked_tokens::expires_at.gt(now))
        .select(RevokedJti::as_select())
        .load(conn)?)
}

/// Revokes every refresh token of `family_id` that is not revoked yet, and every access token
/// recorded under the family (`grant_access_tokens.grant_id = family_id`). One transaction,
/// under the grant's lock ([`crate::browser::lock_grant`]), so it never interleaves with a
/// redemption of the same grant. Returns the access-token ids it revoked, with their expiry.
pub fn revoke_refresh_family(
    conn: &mut Conn,
    realm_id: &str,
    family_id: &str,
    now: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    write_tx(conn, |conn| {
        crate::browser::lock_grant(conn, family_id)?;
        revoke_family_in(conn, realm_id, family_id, now)
    })
}

/// [`revoke_refresh_family`] inside the caller's transaction, which holds the grant's lock.
pub(crate) fn revoke_family_in(
    conn: &mut Conn,
    realm_id: &str,
    family_id: &str,
    now: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::realm_id.eq(realm_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)?;
    let issued: Vec<(String, i64)> = grant_access_tokens::table
        .filter(grant_access_tokens::grant_id.eq(family_id))
        .filter(grant_access_tokens::realm_id.eq(realm_id))
        .filter(grant_access_tokens::expires_at.gt(now))
        .select((grant_access_tokens::jti, grant_access_tokens::expires_at))
        .load(conn)?;
    for (jti, exp) in &issued {
        revoke_jti(conn, jti, realm_id, *exp, now)?;
    }
    Ok(issued)
}

/// Deletes revoked ids whose tokens have expired (they fail verification on `exp` anyway);
/// `leeway_secs` keeps rows while a verifier's clock-skew allowance could still accept them.
pub fn prune_revoked(conn: &mut Conn, now: i64, leeway_secs: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        revoked_tokens::table.filter(revoked_tokens::expires_at.lt(now - leeway_secs)),
    )
    .execute(conn)?)
}
