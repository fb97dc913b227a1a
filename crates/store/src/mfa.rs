//! Second factors and the MFA policy: TOTP credentials, recovery codes, passkeys, WebAuthn
//! ceremonies in progress, and the steps of a half-finished sign-in.
//!
//! Every "use once" rule here is one conditional UPDATE or DELETE whose affected-row count
//! decides, so two replicas (or two tabs) can never both spend the same code, step or
//! challenge.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::write_tx;
use crate::error::StoreError;
use crate::rows::find_one;
use crate::rows::*;
use crate::schema::*;
use tessera_core::model::BrowserSession;
use tessera_core::model::Realm;
use tessera_core::model::StoredPasskey;
use tessera_core::model::TotpCredential;
use tessera_core::model::WebauthnChallenge;

type Conn = DbConnection;

/// The second factors a user has set up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Factors {
    pub totp: bool,
    pub passkeys: i64,
    pub recovery_codes_left: i64,
}

impl Factors {
    /// Whether the user can be asked for a second factor.
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

pub fn factors_of(conn: &mut Conn, user_id: &str) -> Result<Factors, StoreError> {
    let totp = totp_credentials::table
        .filter(totp_credentials::user_id.eq(user_id))
        .filter(totp_credentials::confirmed_at.is_not_null())
        .count()
        .get_result::<i64>(conn)?
        > 0;
    let passkeys = passkeys::table
        .filter(passkeys::user_id.eq(user_id))
        .count()
        .get_result::<i64>(conn)?;
    let recovery_codes_left = recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result::<i64>(conn)?;
    Ok(Factors {
        totp,
        passkeys,
        recovery_codes_left,
    })
}

/// Whether the policy requires a second factor of this user: the realm requires it of
/// everyone, or the user holds a role that requires it (in any team).
pub fn mfa_required(conn: &mut Conn, realm: &Realm, user_id: &str) -> Result<bool, StoreError> {
    if realm.mfa_required {
        return Ok(true);
    }
    let holding = team_memberships::table
        .inner_join(roles::table)
        .filter(team_memberships::user_id.eq(user_id))
        .filter(roles::requires_mfa.eq(true))
        .count()
        .get_result::<i64>(conn)?;
    Ok(holding > 0)
}

/// Sets the realm-wide policy.
pub fn set_realm_mfa_required(
    conn: &mut Conn,
    realm_id: &str,
    required: bool,
    now: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(realms::table.filter(realms::id.eq(realm_id)))
        .set((
            realms::mfa_required.eq(required),
            realms::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

find_one!(pub fn totp_of(totp_credentials: user_id) -> TotpCredentialRow as TotpCredential);

/// Starts (or restarts) an enrolment with a new secret. A confirmed credential is never
/// replaced this way (false): it must be removed first.
pub fn start_totp_enrolment(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    secret: &str,
    now: i64,
) -> Result<bool, StoreError> {
    write_tx(conn, |conn| {
        if let Some(existing) = totp_of(conn, user_id)? {
            if existing.confirmed_at.is_some() {
                return Ok(false);
            }
            diesel::delete(totp_credentials::table.filter(totp_credentials::user_id.eq(user_id)))
                .execute(conn)?;
        }
        diesel::insert_into(totp_credentials::table)
            .values(TotpCredentialRow::from_model(&TotpCredential {
                user_id: user_id.into(),
                realm_id: realm_id.into(),
                secret: secret.into(),
                confirmed_at: None,
                last_step: 0,
                created_at: now,
            }))
            .execute(conn)?;
        Ok(true)
    })
}

/// Confirms a pending enrolment with the time step of the code the user typed.
pub fn confirm_totp(
    conn: &mut Conn,
    user_id: &str,
    step: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        totp_credentials::table
            .filter(totp_credentials::user_id.eq(user_id))
            .filter(totp_credentials::confirmed_at.is_null()),
    )
    .set((
        totp_credentials::confirmed_at.eq(now),
        totp_credentials::last_step.eq(step),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Accepts a code's time step once: false when this step (or a later one) was already used.
pub fn accept_totp_step(conn: &mut Conn, user_id: &str, step: i64) -> Result<bool, StoreError> {
    let n = diesel::update(
        totp_credentials::table
            .filter(totp_credentials::user_id.eq(user_id))
            .filter(totp_credentials::confirmed_at.is_not_null())
            .filter(totp_credentials::last_step.lt(step)),
    )
    .set(totp_credentials::last_step.eq(step))
    .execute(conn)?;
    Ok(n == 1)
}

/// Removes the user's TOTP credential; its recovery codes go too when no passkey is left.
pub fn remove_totp(conn: &mut Conn, user_id: &str) -> Result<bool, StoreError> {
    write_tx(conn, |conn| {
        let n =
            diesel::delete(totp_credentials::table.filter(totp_credentials::user_id.eq(user_id)))
                .execute(conn)?;
        drop_recovery_codes_without_factor(conn, user_id)?;
        Ok(n == 1)
    })
}

/// Recovery codes only make sense beside a factor they stand in for.
fn drop_recovery_codes_without_factor(conn: &mut Conn, user_id: &str) -> Result<(), StoreError> {
    if !factors_of(conn, user_id)?.any() {
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
            .execute(conn)?;
    }
    Ok(())
}

/// Replaces every recovery code of the user with these (SHA-256 hashes).
pub fn replace_recovery_codes(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    hashes: &[String],
    now: i64,
) -> Result<(), StoreError> {
    write_tx(conn, |conn| {
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
            .execute(conn)?;
        for h in hashes {
            diesel::insert_into(recovery_codes::table)
                .values((
                    recovery_codes::user_id.eq(user_id),
                    recovery_codes::code_sha256.eq(h),
                    recovery_codes::realm_id.eq(realm_id),
                    recovery_codes::created_at.eq(now),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Spends one recovery code: true only for the one caller that spends it.
pub fn redeem_recovery_code(
    conn: &mut Conn,
    user_id: &str,
    code_sha256: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_sha256.eq(code_sha256))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn passkeys_of(conn: &mut Conn, user_id: &str) -> Result<Vec<StoredPasskey>, StoreError> {
    passkeys::table
        .filter(passkeys::user_id.eq(user_id))
        .order((passkeys::created_at, passkeys::id))
        .select(StoredPasskeyRow::as_select())
        .load::<StoredPasskeyRow>(conn)?
        .into_models()
}

find_one!(pub fn passkey_by_credential(passkeys: realm_id, credential_id) -> StoredPasskeyRow as StoredPasskey);

pub fn insert_passkey(conn: &mut Conn, passkey: &StoredPasskey) -> Result<(), StoreError> {
    diesel::insert_into(passkeys::table)
        .values(StoredPasskeyRow::from_model(passkey))
        .execute(conn)?;
    Ok(())
}

/// Stores the credential's new state (signature counter, backup flags) after a sign-in.
pub fn update_passkey_use(
    conn: &mut Conn,
    id: &str,
    passkey_json: &str,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(passkeys::table.filter(passkeys::id.eq(id)))
        .set((
            passkeys::passkey.eq(passkey_json),
            passkeys::last_used_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn remove_passkey(conn: &mut Conn, user_id: &str, id: &str) -> Result<bool, StoreError> {
    write_tx(conn, |conn| {
        let n = diesel::delete(
            passkeys::table
                .filter(passkeys::user_id.eq(user_id))
                .filter(passkeys::id.eq(id)),
        )
        .execute(conn)?;
        drop_recovery_codes_without_factor(conn, user_id)?;
        Ok(n == 1)
    })
}

pub fn insert_challenge(conn: &mut Conn, challenge: &WebauthnChallenge) -> Result<(), StoreError> {
    diesel::delete(
        webauthn_challenges::table.filter(webauthn_challenges::expires_at.le(challenge.created_at)),
    )
    .execute(conn)?;
    diesel::insert_into(webauthn_challenges::table)
        .values(WebauthnChallengeRow::from_model(challenge))
        .execute(conn)?;
    Ok(())
}

/// Takes a live challenge for `purpose`, deleting it: a ceremony is finished at most once.
pub fn take_challenge(
    conn: &mut Conn,
    realm_id: &str,
    id_sha256: &str,
    purpose: &str,
    now: i64,
) -> Result<Option<WebauthnChallenge>, StoreError> {
    write_tx(conn, |conn| {
        let found = webauthn_challenges::table
            .filter(webauthn_challenges::id_sha256.eq(id_sha256))
            .filter(webauthn_challenges::realm_id.eq(realm_id))
            .filter(webauthn_challenges::purpose.eq(purpose))
            .select(WebauthnChallengeRow::as_select())
            .first::<WebauthnChallengeRow>(conn)
            .optional()?
            .into_models()?;
        let Some(found) = found else {
            return Ok(None);
        };
        let n = diesel::delete(
            webauthn_challenges::table.filter(webauthn_challenges::id_sha256.eq(id_sha256)),
        )
        .execute(conn)?;
        Ok((n == 1 && found.expires_at > now).then_some(found))
    })
}

/// A half-finished sign-in by the hash of its cookie: a session waiting for a step.
pub fn pending_session(
    conn: &mut Conn,
    realm_id: &str,
    id_sha256: &str,
    now: i64,
) -> Result<Option<BrowserSession>, StoreError> {
    crate::sessions::unexpired(conn, realm_id, id_sha256, now, true)
}

/// Moves a half-finished sign-in to its next step, or completes it (`pending` = `None`) with
/// how it was proven; a completed sign-in counts from now.
pub fn advance_session(
    conn: &mut Conn,
    id_sha256: &str,
    pending: Option<&str>,
    amr: &str,
    now: i64,
    expires_at: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        browser_sessions::table
            .filter(browser_sessions::id_sha256.eq(id_sha256))
            .filter(browser_sessions::ended_at.is_null())
            .filter(browser_sessions::pending.is_not_null()),
    )
    .set((
        browser_sessions::pending.eq(pending),
        browser_sessions::amr.eq(amr),
        browser_sessions::auth_time.eq(now),
        browser_sessions::last_seen_at.eq(now),
        browser_sessions::expires_at.eq(expires_at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Sets the user's own password (chosen by the user, so no longer temporary).
pub fn set_own_password(
    conn: &mut Conn,
    user_id: &str,
    password_hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(users::table.filter(users::id.eq(user_id)))
        .set((
            users::password_hash.eq(password_hash),
            users::password_change_required.eq(false),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The user's live sessions (complete or pending) other than `keep`, by cookie hash: the
/// ones a password change ends.
pub fn live_sessions_except(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    keep: &str,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    Ok(browser_sessions::table
        .filter(browser_sessions::realm_id.eq(realm_id))
        .filter(browser_sessions::user_id.eq(user_id))
        .filter(browser_sessions::id_sha256.ne(keep))
        .filter(browser_sessions::ended_at.is_null())
        .filter(browser_sessions::expires_at.gt(now))
        .select(browser_sessions::id_sha256)
        .load(conn)?)
}

/// Removes every second factor of the user (authenticator app, passkeys, recovery codes): an
/// administrator's answer to "I lost my phone". Runs inside the caller's write transaction.
/// Returns what there was.
pub fn remove_all_factors_in(conn: &mut Conn, user_id: &str) -> Result<Factors, StoreError> {
    let before = factors_of(conn, user_id)?;
    diesel::delete(totp_credentials::table.filter(totp_credentials::user_id.eq(user_id)))
        .execute(conn)?;
    diesel::delete(passkeys::table.filter(passkeys::user_id.eq(user_id))).execute(conn)?;
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    Ok(before)
}
