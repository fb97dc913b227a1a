//! The page behind an administrator's password-reset link
//! (`/realms/{realm}/login-actions/reset-password?token=…`): a form for the new password, twice.
//!
//! The link's token is stored only as its SHA-256 and is spent by one conditional UPDATE in
//! the transaction that sets the new password ([`accounts::complete_password_reset_in`]), so
//! two submissions cannot both use it. A new password the policy refuses re-shows the form
//! and leaves the link unspent: the policy is checked before the link is redeemed. Setting the
//! password ends every session and grant of the user and clears a must-change flag.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use tessera_core::id::random_token;
use tessera_core::model::Realm;
use tessera_core::secret::{constant_time_eq, sha256_hex};
use tessera_store::accounts;
use tessera_store::provision::{Actor, Audited, audit_event};

use crate::authorize::page;
use crate::error::IssuerError;
use crate::form::read_form;
use crate::state::IssuerState;

/// Its own double-submit cookie, so a sign-in form open in another tab keeps working.
const CSRF_COOKIE: &str = "tessera_reset_csrf";

const INVALID_LINK: &str =
    "This password-reset link has expired, was already used, or is not a valid link.";

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPage<'a> {
    realm: &'a str,
    action: &'a str,
    csrf: &'a str,
    token: &'a str,
    min_len: usize,
    error: Option<&'a str>,
    invalid: Option<&'a str>,
    done: bool,
}

fn action(state: &IssuerState, realm: &Realm) -> String {
    format!(
        "{}/realms/{}/login-actions/reset-password",
        state.path_prefix(),
        realm.name
    )
}

/// Renders the page; the form gets a fresh CSRF cookie, scoped to this realm's paths.
fn render(
    state: &IssuerState,
    realm: &Realm,
    status: StatusCode,
    token: &str,
    error: Option<&str>,
    invalid: Option<&str>,
    done: bool,
) -> Result<HttpResponse, IssuerError> {
    let csrf = random_token::<24>();
    let html = ResetPage {
        realm: &realm.name,
        action: &action(state, realm),
        csrf: &csrf,
        token,
        min_len: tessera_core::password::MIN_PASSWORD_LEN,
        error,
        invalid,
        done,
    }
    .render()
    .map_err(|e| IssuerError::Internal(format!("template: {e}")))?;
    let mut resp = page(status, html);
    if invalid.is_none() && !done {
        let cookie = Cookie::build(CSRF_COOKIE, csrf)
            .path(format!("{}/realms/{}/", state.path_prefix(), realm.name))
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(state.public_url.starts_with("https://"))
            .finish();
        if let Ok(v) = header::HeaderValue::from_str(&cookie.to_string()) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

fn invalid(state: &IssuerState, realm: &Realm, message: &str) -> Result<HttpResponse, IssuerError> {
    render(
        state,
        realm,
        StatusCode::BAD_REQUEST,
        "",
        None,
        Some(message),
        false,
    )
}

/// Whether the link can still be redeemed, without spending it.
async fn link_is_live(
    state: &IssuerState,
    realm: &Realm,
    token: &str,
) -> Result<bool, IssuerError> {
    if token.is_empty() || token.len() > 200 {
        return Ok(false);
    }
    let (db, realm_id, hash, now) = (
        state.db.clone(),
        realm.id.clone(),
        sha256_hex(token),
        state.now(),
    );
    let live =
        web::block(move || accounts::live_password_reset(&mut *db.conn()?, &realm_id, &hash, now))
            .await??;
    Ok(live.is_some())
}

/// `GET /realms/{realm}/login-actions/reset-password?token=…`: the form, or a 400 page when
/// the link cannot be used.
pub async fn show(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, IssuerError> {
    let realm = state.realm(&realm).await?;
    let token = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !link_is_live(&state, &realm, &token).await? {
        return invalid(&state, &realm, INVALID_LINK);
    }
    render(&state, &realm, StatusCode::OK, &token, None, None, false)
}

/// `POST /realms/{realm}/login-actions/reset-password`: sets the new password.
pub async fn submit(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let realm = state.realm(&realm).await?;
    let form = read_form(&req, payload, &state.settings).await?;
    let token = form.get("token").unwrap_or("").to_string();
    if !reset_csrf_ok(&req, &form) {
        let expired = "The form expired or was not sent from this site. Open the link again.";
        return invalid(&state, &realm, expired);
    }
    if !link_is_live(&state, &realm, &token).await? {
        return invalid(&state, &realm, INVALID_LINK);
    }
    let password = form.get("password").unwrap_or("").to_string();
    let again = form.get("password_confirm").unwrap_or("");
    if let Some(message) = refused_password(&password, again) {
        let status = StatusCode::BAD_REQUEST;
        return render(&state, &realm, status, &token, Some(&message), None, false);
    }
    let hasher = state.hasher.clone();
    let hash = web::block(move || hasher.hash(&password))
        .await?
        .map_err(|e| IssuerError::Internal(format!("cannot hash the password: {e}")))?;
    let addr = crate::token::client_addr(&req, state.settings.trust_forwarded_headers)
        .map(|a| a.to_string())
        .unwrap_or_default();
    let Some(ended) = complete_reset(&state, &realm, &token, hash, addr).await? else {
        // Spent by a concurrent submission, or expired since the check above.
        return invalid(&state, &realm, INVALID_LINK);
    };
    for (jti, exp) in &ended.revoked {
        state.access_token_revoked(jti, *exp);
    }
    render(&state, &realm, StatusCode::OK, "", None, None, true)
}

/// The reset form's own double-submit check ([`CSRF_COOKIE`]).
fn reset_csrf_ok(req: &HttpRequest, form: &crate::form::Form) -> bool {
    match (req.cookie(CSRF_COOKIE), form.get("csrf")) {
        (Some(c), Some(f)) => constant_time_eq(c.value().as_bytes(), f.as_bytes()),
        _ => false,
    }
}

/// Why the new password, typed twice, cannot be set, in the page's words.
fn refused_password(password: &str, again: &str) -> Option<String> {
    if password != again {
        return Some("The two passwords differ. Enter the same new password twice.".to_string());
    }
    tessera_core::password::validate_password(password)
        .err()
        .map(|e| format!("The new password {}.", e.message))
}

/// Spends the link and sets the password in one transaction, audited; `None` when the link
/// was spent or expired meanwhile.
async fn complete_reset(
    state: &IssuerState,
    realm: &Realm,
    token: &str,
    hash: String,
    addr: String,
) -> Result<Option<accounts::Ended>, IssuerError> {
    let (db, realm_id, token_hash, now) = (
        state.db.clone(),
        realm.id.clone(),
        sha256_hex(token),
        state.now(),
    );
    let done = web::block(move || {
        let mut conn = db.conn()?;
        tessera_store::db::write_tx(&mut conn, |conn| {
            let Some((user_id, ended)) =
                accounts::complete_password_reset_in(conn, &realm_id, &token_hash, &hash, now)?
            else {
                return Ok(None);
            };
            audit_reset(conn, &realm_id, &user_id, &addr, &ended, now)?;
            Ok(Some(ended))
        })
    })
    .await??;
    Ok(done)
}

/// `user.password_reset_completed`, acted by the user whose link it was.
fn audit_reset(
    conn: &mut tessera_store::DbConnection,
    realm_id: &str,
    user_id: &str,
    addr: &str,
    ended: &accounts::Ended,
    now: i64,
) -> Result<(), tessera_store::StoreError> {
    let actor = format!("user:{user_id}");
    let detail = serde_json::json!({
        "sessions_ended": ended.sessions,
        "grants_revoked": ended.grants,
    })
    .to_string();
    audit_event(
        conn,
        realm_id,
        &Actor {
            name: &actor,
            source_addr: addr,
        },
        &Audited {
            action: "user.password_reset_completed",
            target: &actor,
            outcome: "success",
            detail: &detail,
        },
        now,
    )
}
