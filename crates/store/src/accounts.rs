//! Accounts people run themselves, and what an administrator does for them: setting a
//! password (which ends everything signed in with the old one), one-time password-reset links,
//! and the sessions and grants a user can see and end.
//!
//! Functions named `…_in` run inside the caller's write transaction ([`crate::db::write_tx`]),
//! so a handler can check rights, act and audit atomically; the others open their own.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::write_tx;
use crate::error::StoreError;
use crate::rows::*;
use crate::schema::{
    authorization_codes, browser_sessions, grant_access_tokens, password_resets, refresh_tokens,
    users,
};
use crate::sessions::SessionEnded;
use tessera_core::model::PasswordReset;

type Conn = DbConnection;

/// What ending a user's sign-ins ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ended {
    /// Browser sessions ended.
    pub sessions: usize,
    /// Grants (refresh families and code grants) revoked.
    pub grants: usize,
    /// Access-token ids revoked with those grants, with their expiry: what an in-memory
    /// revocation list must learn at once.
    pub revoked: Vec<(String, i64)>,
}

/// Sets a user's password hash and `password_change_required`, and ends everything signed in
/// with the old password (see [`end_everything_in`]), in one transaction. Outstanding reset
/// links of the user stop working too: the password they were made to replace is gone.
/// `NotFound` when there is no such user.
pub fn set_password(
    conn: &mut Conn,
    user_id: &str,
    hash: &str,
    change_required: bool,
    now: i64,
) -> Result<Ended, StoreError> {
    write_tx(conn, |conn| {
        set_password_in(conn, user_id, hash, change_required, now)
    })
}

/// [`set_password`] inside the caller's write transaction.
pub fn set_password_in(
    conn: &mut Conn,
    user_id: &str,
    hash: &str,
    change_required: bool,
    now: i64,
) -> Result<Ended, StoreError> {
    let updated = diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(hash),
            users::password_change_required.eq(change_required),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    if updated == 0 {
        return Err(StoreError::NotFound(format!("user {user_id}")));
    }
    diesel::update(
        password_resets::table
            .filter(password_resets::user_id.eq(user_id))
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(now))
    .execute(conn)?;
    end_everything_in(conn, user_id, now)
}

/// Ends every browser session of the user, spends its unredeemed codes, and revokes every
/// grant it holds (refresh tokens and the access tokens recorded under them), each under the
/// grant's lock, taken in one order before any row changes as [`crate::sessions::end`]
/// does, so a redemption in flight cannot outlive it.
pub fn end_everything_in(conn: &mut Conn, user_id: &str, now: i64) -> Result<Ended, StoreError> {
    let Some(realm_id) = users::table
        .find(user_id)
        .select(users::realm_id)
        .first::<String>(conn)
        .optional()?
    else {
        return Ok(Ended::default());
    };
    let mut grants: Vec<String> = refresh_tokens::table
        .filter(refresh_tokens::user_id.eq(user_id))
        .filter(refresh_tokens::revoked_at.is_null())
        .select(refresh_tokens::family_id)
        .distinct()
        .load(conn)?;
    // Code grants: those whose code is unredeemed, and those with access tokens that have not
    // expired (a grant without a refresh token). Older codes have nothing left to revoke.
    grants.extend(
        authorization_codes::table
            .filter(authorization_codes::user_id.eq(user_id))
            .filter(authorization_codes::consumed_at.is_null())
            .select(authorization_codes::grant_id)
            .load::<String>(conn)?,
    );
    grants.extend(
        grant_access_tokens::table
            .filter(
                grant_access_tokens::grant_id.eq_any(
                    authorization_codes::table
                        .filter(authorization_codes::user_id.eq(user_id))
                        .select(authorization_codes::grant_id),
                ),
            )
            .filter(grant_access_tokens::expires_at.gt(now))
            .select(grant_access_tokens::grant_id)
            .distinct()
            .load::<String>(conn)?,
    );
    grants.sort();
    grants.dedup();
    for grant in &grants {
        crate::refresh_tokens::lock_grant(conn, grant)?;
    }
    let sessions = diesel::update(
        browser_sessions::table
            .filter(browser_sessions::user_id.eq(user_id))
            .filter(browser_sessions::ended_at.is_null()),
    )
    .set(browser_sessions::ended_at.eq(now))
    .execute(conn)?;
    diesel::update(
        authorization_codes::table
            .filter(authorization_codes::user_id.eq(user_id))
            .filter(authorization_codes::consumed_at.is_null()),
    )
    .set(authorization_codes::consumed_at.eq(now))
    .execute(conn)?;
    let mut ended = Ended {
        sessions,
        grants: grants.len(),
        revoked: Vec::new(),
    };
    for grant in &grants {
        ended
            .revoked
            .extend(crate::refresh_tokens::revoke_family_in(
                conn, &realm_id, grant, now,
            )?);
    }
    Ok(ended)
}

/// Stores a reset link (by the hash of its token). Earlier unused links of the user stop
/// working: only the newest link an administrator handed out is valid.
pub fn create_password_reset(conn: &mut Conn, reset: &PasswordReset) -> Result<(), StoreError> {
    diesel::update(
        password_resets::table
            .filter(password_resets::user_id.eq(&reset.user_id))
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(reset.created_at))
    .execute(conn)?;
    diesel::insert_into(password_resets::table)
        .values(PasswordResetRow::from_model(reset))
        .execute(conn)?;
    Ok(())
}

/// A reset link that can still be redeemed (unused, unexpired, of this realm), without
/// spending it: what the reset page checks before showing its form.
pub fn live_password_reset(
    conn: &mut Conn,
    realm_id: &str,
    token_sha256: &str,
    now: i64,
) -> Result<Option<PasswordReset>, StoreError> {
    password_resets::table
        .find(token_sha256)
        .filter(password_resets::realm_id.eq(realm_id))
        .filter(password_resets::used_at.is_null())
        .filter(password_resets::expires_at.gt(now))
        .select(PasswordResetRow::as_select())
        .first::<PasswordResetRow>(conn)
        .optional()?
        .into_models()
}

/// Spends a reset link: one conditional UPDATE (`used_at IS NULL AND expires_at > now`), so of
/// any number of concurrent callers exactly one sees the row change — PostgreSQL re-checks the
/// condition after the winner's row lock is released, SQLite runs writes one at a time.
/// Returns the link's user for that one caller, `None` for every other and for an unknown,
/// expired or used link.
pub fn redeem_password_reset(
    conn: &mut Conn,
    realm_id: &str,
    token_sha256: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let spent = diesel::update(
        password_resets::table
            .filter(password_resets::token_sha256.eq(token_sha256))
            .filter(password_resets::realm_id.eq(realm_id))
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::expires_at.gt(now)),
    )
    .set(password_resets::used_at.eq(now))
    .execute(conn)?;
    if spent != 1 {
        return Ok(None);
    }
    Ok(password_resets::table
        .find(token_sha256)
        .select(password_resets::user_id)
        .first(conn)
        .optional()?)
}

/// Redeems a reset link and sets the new password in one transaction: the link is spent only
/// if the password is set, and the password is set only by the one caller that spent it.
/// The user's change-required flag is cleared and everything signed in before ends. `None`
/// when the link is unknown, expired or used.
pub fn complete_password_reset(
    conn: &mut Conn,
    realm_id: &str,
    token_sha256: &str,
    hash: &str,
    now: i64,
) -> Result<Option<(String, Ended)>, StoreError> {
    write_tx(conn, |conn| {
        complete_password_reset_in(conn, realm_id, token_sha256, hash, now)
    })
}

/// [`complete_password_reset`] inside the caller's write transaction (which can then audit).
pub fn complete_password_reset_in(
    conn: &mut Conn,
    realm_id: &str,
    token_sha256: &str,
    hash: &str,
    now: i64,
) -> Result<Option<(String, Ended)>, StoreError> {
    let Some(user_id) = redeem_password_reset(conn, realm_id, token_sha256, now)? else {
        return Ok(None);
    };
    let ended = set_password_in(conn, &user_id, hash, false, now)?;
    Ok(Some((user_id, ended)))
}

/// A live browser session as its user may see it: a public id, never the cookie's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// [`tessera_core::authn::session_sid`] of the cookie hash (the session's OIDC `sid`).
    pub id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    /// RFC 8176 `amr` values, space-separated.
    pub amr: String,
}

/// The user's live browser sessions (not ended, not expired, sign-in finished), newest first.
pub fn list_sessions_of_user(
    conn: &mut Conn,
    user_id: &str,
    now: i64,
) -> Result<Vec<SessionInfo>, StoreError> {
    let rows: Vec<(String, i64, i64, i64, String)> = live_sessions(user_id, now)
        .select((
            browser_sessions::id_sha256,
            browser_sessions::created_at,
            browser_sessions::last_seen_at,
            browser_sessions::expires_at,
            browser_sessions::amr,
        ))
        .order((
            browser_sessions::created_at.desc(),
            browser_sessions::id_sha256,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(hash, created_at, last_seen_at, expires_at, amr)| SessionInfo {
                id: tessera_core::authn::session_sid(&hash),
                created_at,
                last_seen_at,
                expires_at,
                amr,
            },
        )
        .collect())
}

fn live_sessions(
    user_id: &str,
    now: i64,
) -> browser_sessions::BoxedQuery<'static, <Conn as diesel::Connection>::Backend> {
    browser_sessions::table
        .filter(browser_sessions::user_id.eq(user_id.to_string()))
        .filter(browser_sessions::ended_at.is_null())
        .filter(browser_sessions::expires_at.gt(now))
        .filter(browser_sessions::pending.is_null())
        .into_boxed()
}

/// A live refresh-token family (a grant a client holds for the user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantInfo {
    /// The family id, shared by every rotation of the grant's refresh token.
    pub id: String,
    /// The OAuth `client_id`.
    pub client_id: String,
    pub scope: String,
    /// When the grant began (its first refresh token).
    pub created_at: i64,
    /// When its refresh token was last used (the current token was issued then).
    pub last_used_at: i64,
    /// When the current refresh token expires unless used (bounded by the family's end).
    pub expires_at: i64,
}

/// The user's live grants: families with a refresh token that can still be used, newest first.
pub fn list_grants_of_user(
    conn: &mut Conn,
    user_id: &str,
    now: i64,
) -> Result<Vec<GrantInfo>, StoreError> {
    let active: Vec<(String, String, String, i64, i64, i64)> = refresh_tokens::table
        .filter(refresh_tokens::user_id.eq(user_id))
        .filter(refresh_tokens::revoked_at.is_null())
        .filter(refresh_tokens::rotated_at.is_null())
        .filter(refresh_tokens::expires_at.gt(now))
        .filter(refresh_tokens::family_expires_at.gt(now))
        .select((
            refresh_tokens::family_id,
            refresh_tokens::client_id,
            refresh_tokens::scope,
            refresh_tokens::created_at,
            refresh_tokens::expires_at,
            refresh_tokens::family_expires_at,
        ))
        .load(conn)?;
    let started: std::collections::HashMap<String, Option<i64>> = refresh_tokens::table
        .filter(refresh_tokens::user_id.eq(user_id))
        .group_by(refresh_tokens::family_id)
        .select((
            refresh_tokens::family_id,
            diesel::dsl::min(refresh_tokens::created_at),
        ))
        .load::<(String, Option<i64>)>(conn)?
        .into_iter()
        .collect();
    let mut grants: Vec<GrantInfo> = active
        .into_iter()
        .map(
            |(id, client_id, scope, last_used_at, expires_at, family_expires_at)| GrantInfo {
                created_at: started.get(&id).copied().flatten().unwrap_or(last_used_at),
                id,
                client_id,
                scope,
                last_used_at,
                expires_at: expires_at.min(family_expires_at),
            },
        )
        .collect();
    grants.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    grants.dedup_by(|a, b| a.id == b.id);
    Ok(grants)
}

/// The cookie hash and realm of the user's live session whose public id is `public_id`; `None`
/// when the user has no such session (another user's id included).
pub fn live_session_hash(
    conn: &mut Conn,
    user_id: &str,
    public_id: &str,
    now: i64,
) -> Result<Option<(String, String)>, StoreError> {
    let sessions: Vec<(String, String)> = live_sessions(user_id, now)
        .select((browser_sessions::id_sha256, browser_sessions::realm_id))
        .load(conn)?;
    Ok(sessions
        .into_iter()
        .find(|(hash, _)| tessera_core::authn::session_sid(hash) == public_id))
}

/// Ends the user's live session whose public id is `public_id`, with every grant issued
/// within it ([`crate::sessions::end`]), inside the caller's write transaction. `None`
/// when the user has no such live session — another user's id included.
pub fn end_session_of_user_in(
    conn: &mut Conn,
    user_id: &str,
    public_id: &str,
    now: i64,
) -> Result<Option<SessionEnded>, StoreError> {
    let Some((hash, realm_id)) = live_session_hash(conn, user_id, public_id, now)? else {
        return Ok(None);
    };
    Ok(Some(crate::sessions::end_in(conn, &realm_id, &hash, now)?))
}

/// [`end_session_of_user_in`] in its own transaction; whether a session ended.
pub fn end_session_of_user(
    conn: &mut Conn,
    user_id: &str,
    public_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    write_tx(conn, |conn| {
        Ok(end_session_of_user_in(conn, user_id, public_id, now)?.is_some())
    })
}

/// Revokes the user's grant `family_id` — its refresh tokens and the access tokens recorded
/// under it — under the grant's lock, inside the caller's write transaction. `None` when the
/// user holds no live refresh token of that family (another user's grant included), so a
/// caller cannot probe other users' grants.
pub fn revoke_grant_of_user_in(
    conn: &mut Conn,
    user_id: &str,
    family_id: &str,
    now: i64,
) -> Result<Option<Vec<(String, i64)>>, StoreError> {
    crate::refresh_tokens::lock_grant(conn, family_id)?;
    let realm_id: Option<String> = refresh_tokens::table
        .filter(refresh_tokens::family_id.eq(family_id))
        .filter(refresh_tokens::user_id.eq(user_id))
        .filter(refresh_tokens::revoked_at.is_null())
        .filter(refresh_tokens::rotated_at.is_null())
        .filter(refresh_tokens::expires_at.gt(now))
        .filter(refresh_tokens::family_expires_at.gt(now))
        .select(refresh_tokens::realm_id)
        .first(conn)
        .optional()?;
    let Some(realm_id) = realm_id else {
        return Ok(None);
    };
    Ok(Some(crate::refresh_tokens::revoke_family_in(
        conn, &realm_id, family_id, now,
    )?))
}

/// [`revoke_grant_of_user_in`] in its own transaction; whether a grant was revoked.
pub fn revoke_grant_of_user(
    conn: &mut Conn,
    user_id: &str,
    family_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    write_tx(conn, |conn| {
        Ok(revoke_grant_of_user_in(conn, user_id, family_id, now)?.is_some())
    })
}
