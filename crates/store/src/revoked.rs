//! Revoked access-token ids, shared by every replica until the tokens expire.

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::schema::revoked_tokens;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel::sql_types::Text;

type Conn = DbConnection;

/// A revoked access-token id, with when its token expires (after which the row is pruned).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = revoked_tokens)]
pub struct RevokedJti {
    pub jti: String,
    pub realm_id: String,
    pub expires_at: i64,
    pub revoked_at: i64,
}

/// Records `jti` as revoked; revoking it again changes nothing. Returns whether a row was
/// added. Safe under concurrency on both backends (`ON CONFLICT DO NOTHING`).
pub fn revoke(
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
pub fn is_revoked(conn: &mut Conn, jti: &str) -> Result<bool, StoreError> {
    let n: i64 = revoked_tokens::table
        .filter(revoked_tokens::jti.eq(jti))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Revoked ids recorded at or after `since` whose tokens have not expired by `now` (uses the
/// `revoked_at` index): what a verifier's in-memory copy needs to catch up.
pub fn since(conn: &mut Conn, since: i64, now: i64) -> Result<Vec<RevokedJti>, StoreError> {
    Ok(revoked_tokens::table
        .filter(revoked_tokens::revoked_at.ge(since))
        .filter(revoked_tokens::expires_at.gt(now))
        .select(RevokedJti::as_select())
        .load(conn)?)
}

/// Deletes revoked ids whose tokens have expired (they fail verification on `exp` anyway);
/// `leeway_secs` keeps rows while a verifier's clock-skew allowance could still accept them.
pub fn prune(conn: &mut Conn, now: i64, leeway_secs: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        revoked_tokens::table.filter(revoked_tokens::expires_at.lt(now - leeway_secs)),
    )
    .execute(conn)?)
}
