//! TEMPORARY stub of the lead's sign-in module (reverted before `git merge main`).
#![allow(dead_code, unused_variables)]

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use tessera_core::id::random_token;
use tessera_core::secret::sha256_hex;
use tessera_store::browser::{self, BrowserSession};
use tessera_store::models::{Realm, User};

use crate::authorize::{self as a, AuthRequest};
use crate::error::IssuerError;
use crate::state::IssuerState;

pub(crate) async fn start_session(
    state: &IssuerState,
    realm: &Realm,
    request: &AuthRequest,
    user: &User,
    amr: &str,
) -> Result<HttpResponse, IssuerError> {
    let now = state.now();
    let cookie_value = random_token::<32>();
    let session = BrowserSession {
        id_sha256: sha256_hex(&cookie_value),
        realm_id: realm.id.clone(),
        user_id: user.id.clone(),
        auth_time: now,
        last_seen_at: now,
        expires_at: now + state.settings.session_ttl_secs,
        ended_at: None,
        created_at: now,
        amr: amr.to_string(),
        pending: None,
    };
    let db = state.db.clone();
    let stored = session.clone();
    web::block(move || browser::insert_session(&mut *db.conn()?, &stored)).await??;
    let mut resp = if a::needs_consent(state, realm, request, user).await? {
        a::consent_page(state, realm, request, user)?
    } else {
        a::issue_code(state, realm, request, &session).await?
    };
    a::set_cookie(
        &mut resp,
        Cookie::build(a::SESSION_COOKIE, cookie_value)
            .path(a::cookie_path(state, realm))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(a::secure(state))
            .finish(),
    );
    Ok(resp)
}

pub(crate) async fn pending(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
) -> Result<Option<(BrowserSession, User)>, IssuerError> {
    Ok(None)
}

pub(crate) async fn second_factor_passed(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
    request: &AuthRequest,
    session: &BrowserSession,
    user: &User,
    amr: &str,
) -> Result<HttpResponse, IssuerError> {
    Err(IssuerError::Internal("stub".into()))
}

pub(crate) async fn signed_in(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
) -> Result<Option<(BrowserSession, User)>, IssuerError> {
    a::current_session(state, realm, req).await
}

#[derive(Template)]
#[template(path = "account_stub.html")]
struct AccountStub {
    passkeys_enabled: bool,
    passkeys: Vec<crate::passkey::PasskeyView>,
    csrf: String,
}

/// Stub account page.
pub async fn account_stub(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, IssuerError> {
    let realm = state.realm(&realm).await?;
    let Some((_, user)) = signed_in(&state, &realm, &req).await? else {
        return Ok(HttpResponse::Unauthorized().body("sign in"));
    };
    let csrf = random_token::<24>();
    let html = AccountStub {
        passkeys_enabled: crate::passkey::enabled(&state),
        passkeys: crate::passkey::views_of(&state, &user.id).await?,
        csrf: csrf.clone(),
    }
    .render()
    .map_err(|e| IssuerError::Internal(e.to_string()))?;
    let mut resp = a::page(actix_web::http::StatusCode::OK, html);
    a::set_cookie(&mut resp, a::csrf_cookie(&state, &realm, csrf));
    Ok(resp)
}
