//! Passwords and sign-ins of a user: an administrator's password reset (a one-time link or a
//! temporary password), a user's own password change, and the browser sessions and grants a
//! user — or an administrator — can see and end.
//!
//! Every reset and every revocation on behalf of someone else follows the escalation rule
//! (docs/security.md, "You can only grant what you hold"): taking over an account gives the
//! actor everything it holds, so the actor must hold all of it already — a team admin cannot
//! reset a realm admin's password. A password change or reset ends every session and grant of
//! the user, in the transaction that sets the password.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use tessera_core::grant::Rights;
use tessera_core::model::User;
use tessera_core::secret::sha256_hex;
use tessera_store::DbConnection;
use tessera_store::accounts::{self, PasswordReset};
use tessera_store::directory as dir;
use tessera_store::queries as q;

use crate::access::Grantor;
use crate::auth::{Credential, Principal};
use crate::error::ApiError;
use crate::http::{audit_change, json_body, parse_id, source_addr, time_string, with_db, write};
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
    dir::user_in_realm(conn, realm_id, id)?.ok_or_else(|| ApiError::NotFound(format!("user {id}")))
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

#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/password-reset",
    tag = "accounts",
    summary = "Reset a user's password",
    description = "Needs `user:write`, and every right the user holds (a team admin cannot reset a realm admin). `link`: a one-time link to a page where the user chooses a new password; it expires after `expires_in_secs`. `temporary_password`: a generated password, shown once; the user must change it at the next sign-in, and every session and token of the user ends at once. Not for service accounts, nor for yourself (use `POST /api/v1/users/me/password`). The link and the password are shown once and never stored.",
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    request_body = ResetBody,
    responses(
        (status = 201, description = "The link or the temporary password, shown once", body = ResetJson),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn create_password_reset(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require("user:write")?;
    let (id, own) = target(&principal, &path)?;
    if own {
        return Err(ApiError::bad(
            "id",
            "you cannot reset your own password; change it with POST /api/v1/users/me/password",
        ));
    }
    let body: ResetBody = json_body(&state, &req, payload).await?;
    let lifetime = match (body.method, body.expires_in_secs) {
        (ResetMethod::Link, None) => DEFAULT_LINK_SECS,
        (ResetMethod::Link, Some(s)) if (MIN_LINK_SECS..=MAX_LINK_SECS).contains(&s) => s,
        (ResetMethod::Link, Some(_)) => {
            return Err(ApiError::bad(
                "expires_in_secs",
                format!("must be {MIN_LINK_SECS} to {MAX_LINK_SECS} seconds (7 days)"),
            ));
        }
        (ResetMethod::TemporaryPassword, None) => 0,
        (ResetMethod::TemporaryPassword, Some(_)) => {
            return Err(ApiError::bad(
                "expires_in_secs",
                "applies to links only; a temporary password lasts until it is changed",
            ));
        }
    };
    let (token, temporary) = match body.method {
        ResetMethod::Link => (Some(tessera_core::id::random_token::<32>()), None),
        ResetMethod::TemporaryPassword => {
            let password = tessera_core::password::generate_password();
            tessera_core::password::validate_password(&password)?;
            let h = crate::directory::hasher(&req)?;
            let p = password.clone();
            let hash = web::block(move || h.hash(&p)).await??;
            (None, Some((password, hash)))
        }
    };
    let now = state.now();
    let expires_at = now + lifetime;
    let source = source_addr(&req);
    let method = body.method;
    let token_hash = token.as_deref().map(sha256_hex);
    let hash = temporary.as_ref().map(|(_, h)| h.clone());
    let actor = principal.actor();
    let realm_name = principal.realm_name.clone();
    let revoked = write(&state, move |conn| {
        let grantor = Grantor::new(conn, &principal)?;
        let user = user_in_realm(conn, &principal.realm_id, &id)?;
        if user.is_service_account {
            return Err(ApiError::bad(
                "id",
                "this user is a client's service account: it signs in with its client's secret and has no password",
            ));
        }
        ensure_holds_all_of(conn, &grantor, &id)?;
        let revoked = match (token_hash, hash) {
            (Some(token_sha256), _) => {
                accounts::create_password_reset(
                    conn,
                    &PasswordReset {
                        token_sha256,
                        realm_id: principal.realm_id.clone(),
                        user_id: id.clone(),
                        created_by: actor,
                        expires_at,
                        used_at: None,
                        created_at: now,
                    },
                )?;
                Vec::new()
            }
            (None, Some(hash)) => accounts::set_password_in(conn, &id, &hash, true, now)?.revoked,
            (None, None) => return Err(ApiError::Internal("a reset with nothing to set".into())),
        };
        let detail = serde_json::json!({"method": method.as_str()}).to_string();
        audit_change(
            conn,
            &principal,
            &source,
            ("user.password_reset", &format!("user:{id}")),
            &detail,
            now,
        )?;
        Ok(revoked)
    })
    .await?;
    note_revoked(&state, &revoked);
    let shown = match (token, temporary) {
        (Some(token), _) => ResetJson {
            method,
            reset_url: Some(format!(
                "{}/realms/{}/login-actions/reset-password?token={token}",
                state.settings.issuer_base.trim_end_matches('/'),
                realm_name,
            )),
            expires_at: Some(time_string(expires_at)),
            temporary_password: None,
        },
        (None, temporary) => ResetJson {
            method,
            reset_url: None,
            expires_at: None,
            temporary_password: temporary.map(|(p, _)| p),
        },
    };
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(shown))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeBody {
    current_password: String,
    new_password: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/password",
    tag = "accounts",
    summary = "Change your own password",
    description = "Only for yourself (`me` or your own id), and only with an access token from signing in: an API key cannot change a password, so a leaked key cannot take the account over. A wrong `current_password` counts as a failed sign-in in the brute-force throttle (429 with `Retry-After` while locked). The new password must meet the password policy. Clears the must-change flag of a temporary password. Every session and token of the user ends, the one making this request included: sign in again with the new password.",
    params(("id" = String, Path, description = "`me`, or your own id")),
    request_body = PasswordChangeBody,
    responses(
        (status = 204, description = "Changed; sign in again"),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 429, description = "Too many failed attempts; retry after `Retry-After` seconds", body = crate::openapi::ErrorBody),
    )
)]
pub async fn change_password(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (id, own) = target(&principal, &path)?;
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
    let body: PasswordChangeBody = json_body(&state, &req, payload).await?;
    tessera_core::password::validate_password(&body.new_password)
        .map_err(|e| ApiError::bad("new_password", e.message))?;
    let realm_id = principal.realm_id.clone();
    let user = {
        let (realm_id, id) = (realm_id.clone(), id.clone());
        with_db(&state, move |conn| user_in_realm(conn, &realm_id, &id)).await?
    };
    if user.is_service_account || user.password_hash.is_none() {
        return Err(ApiError::bad(
            "id",
            "this user has no password to change (a client's service account signs in with its client's secret)",
        ));
    }
    let source = source_addr(&req);
    let addr = source.parse::<std::net::IpAddr>().ok();
    let (keys, clear_on_success) = state.password_throttle_keys(&user.username, addr);
    let now = state.now();
    {
        let (realm_id, keys) = (realm_id.clone(), keys.clone());
        let wait = with_db(&state, move |conn| {
            Ok(q::throttle_admit(conn, &realm_id, &keys, now)?)
        })
        .await?;
        if let Some(retry_after_secs) = wait {
            return Err(ApiError::Throttled { retry_after_secs });
        }
    }
    let hasher = crate::directory::hasher(&req)?;
    let (current, stored) = (body.current_password, user.password_hash.clone());
    let verifier = hasher.clone();
    let correct = web::block(move || verifier.verify(&current, stored.as_deref())).await?;
    let locked = {
        let (realm_id, keys, clear) = (realm_id.clone(), keys, clear_on_success);
        with_db(&state, move |conn| {
            Ok(q::throttle_settle(
                conn, &realm_id, &keys, &clear, correct, now,
            )?)
        })
        .await?
    };
    if !correct {
        let target = format!("user:{id}");
        let p = principal.clone();
        let src = source.clone();
        write(&state, move |conn| {
            let actor = p.actor();
            let actor = tessera_store::provision::Actor {
                name: &actor,
                source_addr: &src,
            };
            tessera_store::provision::audit_event(
                conn,
                &p.realm_id,
                &actor,
                &tessera_store::provision::Audited {
                    action: "user.password_change",
                    target: &target,
                    outcome: "failure",
                    detail: r#"{"reason":"wrong current password"}"#,
                },
                now,
            )?;
            // As the sign-in paths do: every key this failure locked.
            for key in &locked {
                tessera_store::provision::audit_event(
                    conn,
                    &p.realm_id,
                    &actor,
                    &tessera_store::provision::Audited {
                        action: "throttle.lock",
                        target: &format!("throttle:{key}"),
                        outcome: "success",
                        detail: r#"{"reason":"wrong current password at the password change"}"#,
                    },
                    now,
                )?;
            }
            Ok(())
        })
        .await?;
        return Err(ApiError::bad(
            "current_password",
            "is not your current password",
        ));
    }
    let new_password = body.new_password;
    let hash = web::block(move || hasher.hash(&new_password)).await??;
    let revoked = write(&state, move |conn| {
        let ended = accounts::set_password_in(conn, &id, &hash, false, now)?;
        let detail = serde_json::json!({
            "sessions_ended": ended.sessions,
            "grants_revoked": ended.grants,
        })
        .to_string();
        audit_change(
            conn,
            &principal,
            &source,
            ("user.password_change", &format!("user:{id}")),
            &detail,
            now,
        )?;
        Ok(ended.revoked)
    })
    .await?;
    note_revoked(&state, &revoked);
    Ok(HttpResponse::NoContent().finish())
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

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/sessions",
    tag = "accounts",
    summary = "List a user's sessions and grants",
    description = "Your own (`me` or your id) with any credential, or another user's with `user:read`. `sessions`: live browser sign-ins; `grants`: clients holding a refresh token for the user.",
    params(("id" = String, Path, description = "`me`, or a user's id (a UUID)")),
    responses(
        (status = 200, description = "The live sessions and grants, newest first", body = SessionsJson),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn list_sessions(
    state: web::Data<ResourceState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, own) = target(&principal, &path)?;
    if !own {
        principal.require("user:read")?;
    }
    let now = state.now();
    let realm_id = principal.realm_id.clone();
    let shown = with_db(&state, move |conn| {
        user_in_realm(conn, &realm_id, &id)?;
        let sessions = accounts::list_sessions_of_user(conn, &id, now)?;
        let grants = accounts::list_grants_of_user(conn, &id, now)?;
        Ok(SessionsJson {
            sessions: sessions
                .into_iter()
                .map(|s| SessionJson {
                    id: s.id,
                    created_at: time_string(s.created_at),
                    last_seen_at: time_string(s.last_seen_at),
                    expires_at: time_string(s.expires_at),
                    amr: tessera_core::authn::amr_list(&s.amr)
                        .into_iter()
                        .map(str::to_string)
                        .collect(),
                })
                .collect(),
            grants: grants
                .into_iter()
                .map(|g| GrantJson {
                    id: g.id,
                    client_id: g.client_id,
                    scope: g.scope,
                    created_at: time_string(g.created_at),
                    last_used_at: time_string(g.last_used_at),
                    expires_at: time_string(g.expires_at),
                })
                .collect(),
        })
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(shown))
}

/// What a DELETE ends.
#[derive(Clone, Copy)]
enum Ending {
    Session,
    Grant,
}

/// Ends one session or grant of a user: the user herself, or an administrator with
/// `user:write` who holds everything the user holds. 404 unless it is the user's and live.
async fn end_one(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    (raw_user, item): (String, String),
    ending: Ending,
) -> Result<HttpResponse, ApiError> {
    let (id, own) = target(&principal, &raw_user)?;
    if !own {
        principal.require("user:write")?;
    }
    if item.is_empty() || item.len() > 200 {
        return Err(ApiError::NotFound(match ending {
            Ending::Session => "session".into(),
            Ending::Grant => "grant".into(),
        }));
    }
    let now = state.now();
    let source = source_addr(&req);
    let revoked = write(&state, move |conn| {
        let grantor = Grantor::new(conn, &principal)?;
        user_in_realm(conn, &principal.realm_id, &id)?;
        if !own {
            ensure_holds_all_of(conn, &grantor, &id)?;
        }
        let (action, revoked, what) = match ending {
            Ending::Session => (
                "user.session_end",
                accounts::end_session_of_user_in(conn, &id, &item, now)?.map(|e| e.revoked),
                "session",
            ),
            Ending::Grant => (
                "user.grant_revoke",
                accounts::revoke_grant_of_user_in(conn, &id, &item, now)?,
                "grant",
            ),
        };
        let Some(revoked) = revoked else {
            return Err(ApiError::NotFound(format!("{what} {item} of user {id}")));
        };
        let mut detail = serde_json::Map::new();
        detail.insert(what.to_string(), serde_json::Value::String(item.clone()));
        let detail = serde_json::Value::Object(detail).to_string();
        audit_change(
            conn,
            &principal,
            &source,
            (action, &format!("user:{id}")),
            &detail,
            now,
        )?;
        Ok(revoked)
    })
    .await?;
    note_revoked(&state, &revoked);
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/sessions/{session_id}",
    tag = "accounts",
    summary = "End a session",
    description = "Ends a browser session of the user and revokes every grant made within it. Your own, or another user's with `user:write` and every right that user holds.",
    params(
        ("id" = String, Path, description = "`me`, or a user's id (a UUID)"),
        ("session_id" = String, Path, description = "The session's id from the list"),
    ),
    responses(
        (status = 204, description = "Ended"),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn end_session(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    end_one(state, principal, req, path.into_inner(), Ending::Session).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/grants/{grant_id}",
    tag = "accounts",
    summary = "Revoke a grant",
    description = "Revokes the grant's refresh tokens and the access tokens issued under it. Your own, or another user's with `user:write` and every right that user holds.",
    params(
        ("id" = String, Path, description = "`me`, or a user's id (a UUID)"),
        ("grant_id" = String, Path, description = "The grant's id from the list"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn revoke_grant(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
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

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/second-factors",
    tag = "accounts",
    summary = "A user's second factors",
    description = "Your own (`me` or your id), or another user's with `user:read`. People set their factors up on the account page (`/realms/{realm}/account/`).",
    params(("id" = String, Path, description = "`me`, or a user's id (a UUID)")),
    responses(
        (status = 200, description = "What the user has set up", body = SecondFactorsJson),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn second_factors(
    state: web::Data<ResourceState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, own) = target(&principal, &path)?;
    if !own {
        principal.require("user:read")?;
    }
    let realm_id = principal.realm_id.clone();
    let shown = with_db(&state, move |conn| {
        user_in_realm(conn, &realm_id, &id)?;
        let realm = tessera_store::queries::realm_by_id(conn, &realm_id)?
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

#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/second-factors",
    tag = "accounts",
    summary = "Remove a user's second factors",
    description = "For someone who lost their authenticator and recovery codes: removes the authenticator app, every passkey and the recovery codes. If the policy requires a second factor, the next sign-in asks the user to set one up. Needs `user:write` and every right the user holds; not for your own account (use the account page, which asks for your password).",
    params(("id" = String, Path, description = "A user's id (a UUID)")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
pub async fn remove_second_factors(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, own) = target(&principal, &path)?;
    if own {
        return Err(ApiError::bad(
            "id",
            "remove your own second factors on the account page, which asks for your password",
        ));
    }
    principal.require("user:write")?;
    let now = state.now();
    let source = source_addr(&req);
    write(&state, move |conn| {
        let grantor = Grantor::new(conn, &principal)?;
        user_in_realm(conn, &principal.realm_id, &id)?;
        ensure_holds_all_of(conn, &grantor, &id)?;
        let before = tessera_store::mfa::remove_all_factors_in(conn, &id)?;
        let detail = serde_json::json!({
            "totp": before.totp,
            "passkeys": before.passkeys,
            "recovery_codes": before.recovery_codes_left,
        })
        .to_string();
        audit_change(
            conn,
            &principal,
            &source,
            ("user.second_factors_removed", &format!("user:{id}")),
            &detail,
            now,
        )?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
