//! Passwords and sign-ins of a user: an administrator's password reset (a one-time link or a
//! temporary password), a user's own password change, and the browser sessions and grants a
//! user — or an administrator — can see and end.
//!
//! Every reset and every revocation on behalf of someone else follows the escalation rule
//! (docs/security.md, "You can only grant what you hold"): taking over an account gives the
//! actor everything it holds, so the actor must hold all of it already — a team admin cannot
//! reset a realm admin's password. A password change or reset ends every session and grant of
//! the user, in the transaction that sets the password.

use actix_web::web::{Path, Payload};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tessera_core::grant::Rights;
use tessera_core::model::PasswordReset;
use tessera_core::model::User;
use tessera_core::password::PasswordHasher;
use tessera_core::secret::sha256_hex;
use tessera_store as store;
use tessera_store::DbConnection;
use tessera_store::accounts;
use tessera_store::provision::{Audited, audit_event};
use tessera_store::throttle::ThrottleRule;

use crate::access::Grantor;
use crate::auth::{Credential, Principal};
use crate::error::ApiError;
use crate::http::{Author, json_body, parse_id, time_string, with_db, write};
use crate::http::{Reply, State};
use crate::state::ResourceState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/users/{id}/password-reset")
            .route(web::post().to(create_password_reset)),
    )
    .service(web::resource("/api/v1/users/{id}/password").route(web::post().to(change_password)))
    .service(web::resource("/api/v1/users/{id}/sessions").route(web::get().to(list_sessions)))
    .service(
        web::resource("/api/v1/users/{id}/sessions/{session_id}")
            .route(web::delete().to(end_session)),
    )
    .service(
        web::resource("/api/v1/users/{id}/grants/{grant_id}").route(web::delete().to(revoke_grant)),
    )
    .service(
        web::resource("/api/v1/users/{id}/second-factors")
            .route(web::get().to(second_factors))
            .route(web::delete().to(remove_second_factors)),
    );
}

/// Shortest and longest lifetime of a reset link, and its default: a day.
const MIN_LINK_SECS: i64 = 60;
const MAX_LINK_SECS: i64 = 604_800;
const DEFAULT_LINK_SECS: i64 = 86_400;

/// The user a path names (`me` is the caller), and whether that is the caller.
fn target(principal: &Principal, raw: &str) -> Result<(String, bool), ApiError> {
    if raw == "me" {
        return match &principal.user_id {
            Some(id) => Ok((id.clone(), true)),
            None => Err(ApiError::bad(
                "id",
                "`me` names the user a credential acts for; a team key acts for no user",
            )),
        };
    }
    let id = parse_id("id", raw)?.to_string();
    let own = principal.user_id.as_deref() == Some(id.as_str());
    Ok((id, own))
}

fn user_in_realm(conn: &mut DbConnection, realm_id: &str, id: &str) -> Result<User, ApiError> {
    store::users::in_realm(conn, realm_id, id)?
        .ok_or_else(|| ApiError::NotFound(format!("user {id}")))
}

/// Acting on someone else's account: the actor must hold everything the user holds, as if
/// the actor were granting it all (taking the account over gives it all).
fn ensure_holds_all_of(
    conn: &mut DbConnection,
    grantor: &Grantor<'_>,
    user_id: &str,
) -> Result<(), ApiError> {
    let rights = grantor.user_rights(conn, user_id)?;
    grantor.ensure_gains(&Rights::default(), &rights)
}

/// Tells this process's revocation list at once (replicas catch up from the database).
fn note_revoked(state: &ResourceState, revoked: &[(String, i64)]) {
    for (jti, exp) in revoked {
        state.revoked.note(jti, *exp);
    }
}

/// How an administrator resets a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResetMethod {
    /// A one-time link to a page where the user chooses a new password.
    Link,
    /// A generated password, shown once, that the user must change at the next sign-in.
    TemporaryPassword,
}

impl ResetMethod {
    fn as_str(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::TemporaryPassword => "temporary_password",
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    method: ResetMethod,
    /// Lifetime of a link in seconds, 60 to 604800 (7 days); 86400 by default. Links only.
    #[serde(default)]
    expires_in_secs: Option<i64>,
}

/// What a reset made, shown once: the link or the temporary password is not stored (only
/// the link token's hash is).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ResetJson {
    method: ResetMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    reset_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temporary_password: Option<String>,
}

impl ResetBody {
    /// How long a link lasts (0 for a temporary password, which lasts until changed).
    fn lifetime(&self) -> Result<i64, ApiError> {
        match (self.method, self.expires_in_secs) {
            (ResetMethod::Link, None) => Ok(DEFAULT_LINK_SECS),
            (ResetMethod::Link, Some(s)) if (MIN_LINK_SECS..=MAX_LINK_SECS).contains(&s) => Ok(s),
            (ResetMethod::Link, Some(_)) => Err(ApiError::bad(
                "expires_in_secs",
                format!("must be {MIN_LINK_SECS} to {MAX_LINK_SECS} seconds (7 days)"),
            )),
            (ResetMethod::TemporaryPassword, None) => Ok(0),
            (ResetMethod::TemporaryPassword, Some(_)) => Err(ApiError::bad(
                "expires_in_secs",
                "applies to links only; a temporary password lasts until it is changed",
            )),
        }
    }
}

/// What a reset makes, shown once: a link's token, or a temporary password (with the hash
/// that is stored).
enum ResetSecret {
    Link { token: String },
    TemporaryPassword { password: String, hash: String },
}

/// What a reset stores: the link token's hash, or the temporary password's hash.
enum StoredReset {
    Link { token_sha256: String },
    TemporaryPassword { hash: String },
}

impl ResetSecret {
    /// A new token, or a generated password hashed off the async threads.
    async fn make(method: ResetMethod, req: &HttpRequest) -> Result<Self, ApiError> {
        match method {
            ResetMethod::Link => Ok(Self::Link {
                token: tessera_core::id::random_token::<32>(),
            }),
            ResetMethod::TemporaryPassword => {
                let password = tessera_core::password::generate_password();
                tessera_core::password::validate_password(&password)?;
                let h = crate::directory::hasher(req)?;
                let p = password.clone();
                let hash = web::block(move || h.hash(&p)).await??;
                Ok(Self::TemporaryPassword { password, hash })
            }
        }
    }

    fn stored(&self) -> StoredReset {
        match self {
            Self::Link { token } => StoredReset::Link {
                token_sha256: sha256_hex(token),
            },
            Self::TemporaryPassword { hash, .. } => {
                StoredReset::TemporaryPassword { hash: hash.clone() }
            }
        }
    }

    /// The answer: the link to the issuer's reset page, or the password.
    fn shown(self, state: &ResourceState, realm_name: &str, expires_at: i64) -> ResetJson {
        match self {
            Self::Link { token } => ResetJson {
                method: ResetMethod::Link,
                reset_url: Some(format!(
                    "{}/realms/{realm_name}/login-actions/reset-password?token={token}",
                    state.settings.issuer_base.trim_end_matches('/'),
                )),
                expires_at: Some(time_string(expires_at)),
                temporary_password: None,
            },
            Self::TemporaryPassword { password, .. } => ResetJson {
                method: ResetMethod::TemporaryPassword,
                reset_url: None,
                expires_at: None,
                temporary_password: Some(password),
            },
        }
    }
}

/// Stores a reset of another user's password, when the author holds everything the user
/// holds; returns the access tokens a temporary password revoked.
fn reset_password(
    conn: &mut DbConnection,
    author: &Author,
    id: &str,
    (method, stored): (ResetMethod, StoredReset),
    expires_at: i64,
) -> Result<Vec<(String, i64)>, ApiError> {
    let grantor = Grantor::new(conn, &author.principal)?;
    let user = user_in_realm(conn, author.realm_id(), id)?;
    if user.is_service_account {
        return Err(ApiError::bad(
            "id",
            "this user is a client's service account: it signs in with its client's secret and has no password",
        ));
    }
    ensure_holds_all_of(conn, &grantor, id)?;
    let revoked = match stored {
        StoredReset::Link { token_sha256 } => {
            let reset = PasswordReset {
                token_sha256,
                realm_id: author.realm_id().to_string(),
                user_id: id.to_string(),
                created_by: author.name.clone(),
                expires_at,
                used_at: None,
                created_at: author.now,
            };
            accounts::create_password_reset(conn, &reset)?;
            Vec::new()
        }
        StoredReset::TemporaryPassword { hash } => {
            accounts::set_password_in(conn, id, &hash, true, author.now)?.revoked
        }
    };
    let detail = serde_json::json!({"method": method.as_str()}).to_string();
    author.audit_change(
        conn,
        ("user.password_reset", &format!("user:{id}")),
        &detail,
    )?;
    Ok(revoked)
}

#[utoipa::path(post, path = "/api/v1/users/{id}/password-reset", tag = "accounts", summary = "Reset a user's password",
    description = "Needs `user:write`, and every right the user holds (a team admin cannot reset a realm admin). `link`: a one-time link to a page where the user chooses a new password; it expires after `expires_in_secs`. `temporary_password`: a generated password, shown once; the user must change it at the next sign-in, and every session and token of the user ends at once. Not for service accounts, nor for yourself (use `POST /api/v1/users/me/password`). The link and the password are shown once and never stored.",
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    request_body = ResetBody,
    responses((status = 201, description = "The link or the temporary password, shown once", body = ResetJson), crate::openapi::ItemErrors),
)]
pub async fn create_password_reset(
    state: State,
    principal: Principal,
    req: HttpRequest,
    path: Path<String>,
    payload: Payload,
) -> Reply {
    principal.require("user:write")?;
    let (id, own) = target(&principal, &path)?;
    if own {
        return Err(ApiError::bad(
            "id",
            "you cannot reset your own password; change it with POST /api/v1/users/me/password",
        ));
    }
    let body: ResetBody = json_body(&state, &req, payload).await?;
    let lifetime = body.lifetime()?;
    let secret = ResetSecret::make(body.method, &req).await?;
    let author = Author::of(&state, &req, principal);
    let realm_name = author.principal.realm_name.clone();
    let expires_at = author.now + lifetime;
    let stored = (body.method, secret.stored());
    let revoked = write(&state, move |conn| {
        reset_password(conn, &author, &id, stored, expires_at)
    })
    .await?;
    note_revoked(&state, &revoked);
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(secret.shown(&state, &realm_name, expires_at)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeBody {
    current_password: String,
    new_password: String,
}

#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "accounts", summary = "Change your own password",
    description = "Only for yourself (`me` or your own id), and only with an access token from signing in: an API key cannot change a password, so a leaked key cannot take the account over. A wrong `current_password` counts as a failed sign-in in the brute-force throttle (429 with `Retry-After` while locked). The new password must meet the password policy. Clears the must-change flag of a temporary password. Every session and token of the user ends, the one making this request included: sign in again with the new password.",
    params(("id" = String, Path, description = "`me`, or your own id")),
    request_body = PasswordChangeBody,
    responses((status = 204, description = "Changed; sign in again"), crate::openapi::CommonErrors, (status = 429, description = "Too many failed attempts; retry after `Retry-After` seconds", body = crate::openapi::ErrorBody)),
)]
pub async fn change_password(
    state: State,
    principal: Principal,
    req: HttpRequest,
    path: Path<String>,
    payload: Payload,
) -> Reply {
    let id = own_password(&principal, &path)?;
    let body: PasswordChangeBody = json_body(&state, &req, payload).await?;
    tessera_core::password::validate_password(&body.new_password)
        .map_err(|e| ApiError::bad("new_password", e.message))?;
    let user = {
        let (realm_id, id) = (principal.realm_id.clone(), id.clone());
        with_db(&state, move |conn| user_in_realm(conn, &realm_id, &id)).await?
    };
    if user.is_service_account || user.password_hash.is_none() {
        return Err(ApiError::bad(
            "id",
            "this user has no password to change (a client's service account signs in with its client's secret)",
        ));
    }
    let author = Author::of(&state, &req, principal);
    let hasher = crate::directory::hasher(&req)?;
    let current = body.current_password;
    if !current_password_holds(&state, &author, &user, current, &hasher).await? {
        return Err(ApiError::bad(
            "current_password",
            "is not your current password",
        ));
    }
    let new_password = body.new_password;
    let hash = web::block(move || hasher.hash(&new_password)).await??;
    let revoked = write(&state, move |conn| {
        set_own_password(conn, &author, &id, &hash)
    })
    .await?;
    note_revoked(&state, &revoked);
    Ok(HttpResponse::NoContent().finish())
}

/// The user whose password a change request names: only the caller, and only with a token
/// from signing in (a leaked API key must not take the account over).
fn own_password(principal: &Principal, raw: &str) -> Result<String, ApiError> {
    let (id, own) = target(principal, raw)?;
    if !own {
        return Err(ApiError::Forbidden(
            "you can change only your own password; an administrator resets another user's with POST /api/v1/users/{id}/password-reset".into(),
        ));
    }
    if let Credential::ApiKey { .. } = principal.credential {
        return Err(ApiError::Forbidden(
            "an API key cannot change a password; use an access token from signing in".into(),
        ));
    }
    Ok(id)
}

/// Checks the current password under the sign-in brute-force throttle: 429 while locked; a
/// wrong password counts as a failed sign-in and is audited, with every key it locked.
async fn current_password_holds(
    state: &web::Data<ResourceState>,
    author: &Author,
    user: &User,
    current: String,
    hasher: &Arc<PasswordHasher>,
) -> Result<bool, ApiError> {
    let addr = author.source.parse::<std::net::IpAddr>().ok();
    let (keys, clear_on_success) = state.password_throttle_keys(&user.username, addr);
    let (realm_id, now) = (author.realm_id().to_string(), author.now);
    refuse_while_locked(state, &realm_id, &keys, now).await?;
    let (verifier, stored) = (hasher.clone(), user.password_hash.clone());
    let correct = web::block(move || verifier.verify(&current, stored.as_deref())).await?;
    let locked = with_db(state, move |conn| {
        Ok(store::throttle::settle(
            conn,
            &realm_id,
            &keys,
            &clear_on_success,
            correct,
            now,
        )?)
    })
    .await?;
    if !correct {
        let (author, user_id) = (author.clone(), user.id.clone());
        write(state, move |conn| {
            audit_wrong_password(conn, &author, &user_id, &locked)
        })
        .await?;
    }
    Ok(correct)
}

/// 429 while any of the sign-in throttle's `keys` is locked.
async fn refuse_while_locked(
    state: &web::Data<ResourceState>,
    realm_id: &str,
    keys: &[(String, ThrottleRule)],
    now: i64,
) -> Result<(), ApiError> {
    let (realm_id, keys) = (realm_id.to_string(), keys.to_vec());
    let wait = with_db(state, move |conn| {
        Ok(store::throttle::admit(conn, &realm_id, &keys, now)?)
    })
    .await?;
    match wait {
        Some(retry_after_secs) => Err(ApiError::Throttled { retry_after_secs }),
        None => Ok(()),
    }
}

/// Audits a wrong current password, and each throttle key it locked, as the sign-in paths do.
fn audit_wrong_password(
    conn: &mut DbConnection,
    author: &Author,
    user_id: &str,
    locked: &[String],
) -> Result<(), ApiError> {
    let record = |conn: &mut DbConnection, action: &str, target: &str, outcome: &str, detail| {
        let event = Audited {
            action,
            target,
            outcome,
            detail,
        };
        let actor = author.store_actor();
        audit_event(conn, author.realm_id(), &actor, &event, author.now)
    };
    record(
        conn,
        "user.password_change",
        &format!("user:{user_id}"),
        "failure",
        r#"{"reason":"wrong current password"}"#,
    )?;
    for key in locked {
        record(
            conn,
            "throttle.lock",
            &format!("throttle:{key}"),
            "success",
            r#"{"reason":"wrong current password at the password change"}"#,
        )?;
    }
    Ok(())
}

/// Sets the author's own new password, ending every session and grant of theirs.
fn set_own_password(
    conn: &mut DbConnection,
    author: &Author,
    id: &str,
    hash: &str,
) -> Result<Vec<(String, i64)>, ApiError> {
    let ended = accounts::set_password_in(conn, id, hash, false, author.now)?;
    let detail = serde_json::json!({
        "sessions_ended": ended.sessions,
        "grants_revoked": ended.grants,
    })
    .to_string();
    author.audit_change(
        conn,
        ("user.password_change", &format!("user:{id}")),
        &detail,
    )?;
    Ok(ended.revoked)
}

/// A live browser session.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionJson {
    /// The session's public id (its OIDC `sid`), never its cookie.
    id: String,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    /// How the sign-in was proven (RFC 8176 `amr` values).
    amr: Vec<String>,
}

/// A live grant: a client holding a refresh token for the user.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GrantJson {
    /// The grant's id (its refresh-token family).
    id: String,
    client_id: String,
    scope: String,
    created_at: String,
    last_used_at: String,
    expires_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionsJson {
    sessions: Vec<SessionJson>,
    grants: Vec<GrantJson>,
}

#[utoipa::path(get, path = "/api/v1/users/{id}/sessions", tag = "accounts", summary = "List a user's sessions and grants",
    description = "Your own (`me` or your id) with any credential, or another user's with `user:read`. `sessions`: live browser sign-ins; `grants`: clients holding a refresh token for the user.",
    params(("id" = String, Path, description = "`me`, or a user's id (a UUID)")),
    responses((status = 200, description = "The live sessions and grants, newest first", body = SessionsJson), crate::openapi::ItemErrors),
)]
pub async fn list_sessions(state: State, principal: Principal, path: Path<String>) -> Reply {
    let (id, own) = target(&principal, &path)?;
    if !own {
        principal.require("user:read")?;
    }
    let now = state.now();
    let realm_id = principal.realm_id;
    let shown = with_db(&state, move |conn| sessions_of(conn, &realm_id, &id, now)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(shown))
}

/// The user's live sessions and grants at `now`.
fn sessions_of(
    conn: &mut DbConnection,
    realm_id: &str,
    id: &str,
    now: i64,
) -> Result<SessionsJson, ApiError> {
    user_in_realm(conn, realm_id, id)?;
    let sessions = accounts::list_sessions_of_user(conn, id, now)?;
    let grants = accounts::list_grants_of_user(conn, id, now)?;
    Ok(SessionsJson {
        sessions: sessions.into_iter().map(SessionJson::from).collect(),
        grants: grants.into_iter().map(GrantJson::from).collect(),
    })
}

impl From<accounts::SessionInfo> for SessionJson {
    fn from(s: accounts::SessionInfo) -> Self {
        Self {
            id: s.id,
            created_at: time_string(s.created_at),
            last_seen_at: time_string(s.last_seen_at),
            expires_at: time_string(s.expires_at),
            amr: tessera_core::authn::amr_list(&s.amr)
                .into_iter()
                .map(str::to_string)
                .collect(),
        }
    }
}

impl From<accounts::GrantInfo> for GrantJson {
    fn from(g: accounts::GrantInfo) -> Self {
        Self {
            id: g.id,
            client_id: g.client_id,
            scope: g.scope,
            created_at: time_string(g.created_at),
            last_used_at: time_string(g.last_used_at),
            expires_at: time_string(g.expires_at),
        }
    }
}

/// What a DELETE ends.
#[derive(Clone, Copy)]
enum Ending {
    Session,
    Grant,
}

impl Ending {
    fn noun(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Grant => "grant",
        }
    }
}

/// Ends one session or grant of a user: the user herself, or an administrator with
/// `user:write` who holds everything the user holds. 404 unless it is the user's and live.
async fn end_one(
    state: State,
    principal: Principal,
    req: HttpRequest,
    (raw_user, item): (String, String),
    ending: Ending,
) -> Reply {
    let (id, own) = target(&principal, &raw_user)?;
    if !own {
        principal.require("user:write")?;
    }
    if item.is_empty() || item.len() > 200 {
        return Err(ApiError::NotFound(ending.noun().into()));
    }
    let author = Author::of(&state, &req, principal);
    let revoked = write(&state, move |conn| {
        end_one_in(conn, &author, (&id, own), &item, ending)
    })
    .await?;
    note_revoked(&state, &revoked);
    Ok(HttpResponse::NoContent().finish())
}

/// Ends the user's session or grant `item`, when it is theirs and live; acting on someone
/// else, the author must hold everything the user holds.
fn end_one_in(
    conn: &mut DbConnection,
    author: &Author,
    (id, own): (&str, bool),
    item: &str,
    ending: Ending,
) -> Result<Vec<(String, i64)>, ApiError> {
    let grantor = Grantor::new(conn, &author.principal)?;
    user_in_realm(conn, author.realm_id(), id)?;
    if !own {
        ensure_holds_all_of(conn, &grantor, id)?;
    }
    let now = author.now;
    let (action, revoked) = match ending {
        Ending::Session => (
            "user.session_end",
            accounts::end_session_of_user_in(conn, id, item, now)?.map(|e| e.revoked),
        ),
        Ending::Grant => (
            "user.grant_revoke",
            accounts::revoke_grant_of_user_in(conn, id, item, now)?,
        ),
    };
    let what = ending.noun();
    let Some(revoked) = revoked else {
        return Err(ApiError::NotFound(format!("{what} {item} of user {id}")));
    };
    let mut detail = serde_json::Map::new();
    detail.insert(
        what.to_string(),
        serde_json::Value::String(item.to_string()),
    );
    let detail = serde_json::Value::Object(detail).to_string();
    author.audit_change(conn, (action, &format!("user:{id}")), &detail)?;
    Ok(revoked)
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions/{session_id}", tag = "accounts", summary = "End a session",
    description = "Ends a browser session of the user and revokes every grant made within it. Your own, or another user's with `user:write` and every right that user holds.",
    params(("id" = String, Path, description = "`me`, or a user's id (a UUID)"), ("session_id" = String, Path, description = "The session's id from the list")),
    responses((status = 204, description = "Ended"), crate::openapi::ItemErrors),
)]
pub async fn end_session(
    state: State,
    principal: Principal,
    req: HttpRequest,
    path: Path<(String, String)>,
) -> Reply {
    end_one(state, principal, req, path.into_inner(), Ending::Session).await
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/grants/{grant_id}", tag = "accounts", summary = "Revoke a grant",
    description = "Revokes the grant's refresh tokens and the access tokens issued under it. Your own, or another user's with `user:write` and every right that user holds.",
    params(("id" = String, Path, description = "`me`, or a user's id (a UUID)"), ("grant_id" = String, Path, description = "The grant's id from the list")),
    responses((status = 204, description = "Revoked"), crate::openapi::ItemErrors),
)]
pub async fn revoke_grant(
    state: State,
    principal: Principal,
    req: HttpRequest,
    path: Path<(String, String)>,
) -> Reply {
    end_one(state, principal, req, path.into_inner(), Ending::Grant).await
}

/// A user's second factors and whether the policy requires one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SecondFactorsJson {
    /// An authenticator app (TOTP) is set up.
    totp: bool,
    /// How many passkeys are registered.
    passkeys: i64,
    /// Unused recovery codes.
    recovery_codes_left: i64,
    /// The realm, or a role the user holds, requires a second factor.
    required: bool,
}

#[utoipa::path(get, path = "/api/v1/users/{id}/second-factors", tag = "accounts", summary = "A user's second factors",
    description = "Your own (`me` or your id), or another user's with `user:read`. People set their factors up on the account page (`/realms/{realm}/account/`).",
    params(("id" = String, Path, description = "`me`, or a user's id (a UUID)")),
    responses((status = 200, description = "What the user has set up", body = SecondFactorsJson), crate::openapi::ItemErrors),
)]
pub async fn second_factors(state: State, principal: Principal, path: Path<String>) -> Reply {
    let (id, own) = target(&principal, &path)?;
    if !own {
        principal.require("user:read")?;
    }
    let realm_id = principal.realm_id.clone();
    let shown = with_db(&state, move |conn| {
        user_in_realm(conn, &realm_id, &id)?;
        let realm = tessera_store::realms::by_id(conn, &realm_id)?
            .ok_or_else(|| ApiError::NotFound(format!("realm {realm_id}")))?;
        let factors = tessera_store::mfa::factors_of(conn, &id)?;
        Ok(SecondFactorsJson {
            totp: factors.totp,
            passkeys: factors.passkeys,
            recovery_codes_left: factors.recovery_codes_left,
            required: tessera_store::mfa::mfa_required(conn, &realm, &id)?,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(shown))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/second-factors", tag = "accounts", summary = "Remove a user's second factors",
    description = "For someone who lost their authenticator and recovery codes: removes the authenticator app, every passkey and the recovery codes. If the policy requires a second factor, the next sign-in asks the user to set one up. Needs `user:write` and every right the user holds; not for your own account (use the account page, which asks for your password).",
    params(("id" = String, Path, description = "A user's id (a UUID)")),
    responses((status = 204, description = "Removed"), crate::openapi::ItemErrors),
)]
pub async fn remove_second_factors(
    state: State,
    principal: Principal,
    req: HttpRequest,
    path: Path<String>,
) -> Reply {
    let (id, own) = target(&principal, &path)?;
    if own {
        return Err(ApiError::bad(
            "id",
            "remove your own second factors on the account page, which asks for your password",
        ));
    }
    principal.require("user:write")?;
    let author = Author::of(&state, &req, principal);
    write(&state, move |conn| {
        remove_second_factors_in(conn, &author, &id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes another user's second factors, when the author holds everything the user holds.
fn remove_second_factors_in(
    conn: &mut DbConnection,
    author: &Author,
    id: &str,
) -> Result<(), ApiError> {
    let grantor = Grantor::new(conn, &author.principal)?;
    user_in_realm(conn, author.realm_id(), id)?;
    ensure_holds_all_of(conn, &grantor, id)?;
    let before = tessera_store::mfa::remove_all_factors_in(conn, id)?;
    let detail = serde_json::json!({
        "totp": before.totp,
        "passkeys": before.passkeys,
        "recovery_codes": before.recovery_codes_left,
    })
    .to_string();
    author.audit_change(
        conn,
        ("user.second_factors_removed", &format!("user:{id}")),
        &detail,
    )
}
