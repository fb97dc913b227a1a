//! Refresh-token grants: issue, rotate, revoke by family.

use crate::codes::Redemption;
use crate::db::DbConnection;
use crate::db::write_tx;
use crate::error::StoreError;
use crate::rows::*;
use crate::schema::grant_access_tokens;
use crate::schema::refresh_tokens;
use crate::schema::*;
use diesel::prelude::*;
use tessera_core::model::RefreshToken;

type Conn = DbConnection;

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

pub fn insert(conn: &mut Conn, t: &RefreshToken) -> Result<(), StoreError> {
    diesel::insert_into(refresh_tokens::table)
        .values(RefreshTokenRow::from_model(t))
        .execute(conn)?;
    Ok(())
}

find_one!(pub fn by_hash(refresh_tokens: token_sha256) -> RefreshTokenRow as RefreshToken);

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

/// Rotates a refresh token in one transaction under its family's lock: retires it (exactly one
/// caller can), then records `issued`. A retired or revoked token revokes
/// the whole family, including what a concurrent rotation recorded.
pub fn rotate(
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
pub(crate) struct Grant<'a> {
    pub(crate) realm_id: &'a str,
    pub(crate) id: &'a str,
    pub(crate) user_id: &'a str,
}

/// The second half of a redemption, under the grant's lock. Not the first use: the whole
/// grant is revoked. The first: unless refused, and while the user is still enabled, the
/// access token is recorded under the grant and the new refresh token stored.
pub(crate) fn settle(
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
        let revoked = revoke_family_in(conn, realm_id, grant_id, now)?;
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

pub(crate) fn record_issued(
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
        insert(conn, t)?;
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

pub fn state_by_hash(
    conn: &mut Conn,
    token_sha256: &str,
) -> Result<Option<RefreshTokenState>, StoreError> {
    Ok(refresh_tokens::table
        .find(token_sha256)
        .select(RefreshTokenState::as_select())
        .first(conn)
        .optional()?)
}

/// Revokes every refresh token of `family_id` that is not revoked yet, and every access token
/// recorded under the family (`grant_access_tokens.grant_id = family_id`). One transaction,
/// under the grant's lock ([`lock_grant`]), so it never interleaves with a
/// redemption of the same grant. Returns the access-token ids it revoked, with their expiry.
pub fn revoke_family(
    conn: &mut Conn,
    realm_id: &str,
    family_id: &str,
    now: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    write_tx(conn, |conn| {
        lock_grant(conn, family_id)?;
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
        crate::revoked::revoke(conn, jti, realm_id, *exp, now)?;
    }
    Ok(issued)
}
