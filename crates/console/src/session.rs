//! Signing in to the console through the realm's issuer, and the session that follows.
//!
//! Sign-in is the authorization code flow with PKCE (S256), `state` and `nonce`, as the
//! `portal` client; the pending request lives in a short-lived cookie, so nothing is held on
//! the server and any replica can finish it. The tokens live in `HttpOnly`, `SameSite=Lax`
//! cookies scoped to the realm's console path; an expired access token is renewed with the
//! refresh token, and when that fails the browser goes through sign-in again (silently, while
//! the issuer's single sign-on session lasts).

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use std::sync::Arc;
use tessera_core::id::random_token;
use tessera_core::secret::constant_time_eq;

use crate::error::ConsoleError;
use crate::forms::FormData;
use crate::{ConsoleState, callback_uri, signed_out_uri, view};

const ACCESS_COOKIE: &str = "tessera_console_at";
const REFRESH_COOKIE: &str = "tessera_console_rt";
const ID_COOKIE: &str = "tessera_console_id";
const CSRF_COOKIE: &str = "tessera_console_csrf";
const LOGIN_COOKIE: &str = "tessera_console_login";
/// The public client the console signs in with: the console has no secret to keep.
const CLIENT_ID: &str = "portal";
/// Renew a little before expiry, so a token does not lapse between our check and the API's.
const RENEW_MARGIN_SECS: i64 = 15;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login))
        .route("/callback", web::get().to(callback))
        .route("/logout", web::post().to(logout))
        .route("/signed-out", web::get().to(signed_out));
}

/// A signed-in person's credentials for one request.
pub struct Session {
    pub realm: String,
    /// `{prefix}/realms/{realm}/console`, the console's base as browsers see it.
    pub base: String,
    pub access_token: String,
    /// The double-submit token every form carries.
    pub csrf: String,
    /// The browser's address ([`tessera_core::net::client_address`]), relayed to the API for
    /// its audit log.
    pub client_addr: Option<std::net::IpAddr>,
    /// Where to come back to after a new sign-in: this page for a GET, the console home
    /// otherwise (a form cannot be replayed through a redirect).
    return_to: String,
}

impl Session {
    /// The session of this request, renewing the access token when it has expired; without
    /// one, the browser is sent to sign in.
    pub async fn require(state: &ConsoleState, req: &HttpRequest) -> Result<Self, ConsoleError> {
        let realm = realm_of(req)?;
        let base = state.public_base_path(&realm);
        let csrf = req.cookie(CSRF_COOKIE).map(|c| c.value().to_string());
        let access = req.cookie(ACCESS_COOKIE).map(|c| c.value().to_string());
        let mut session = Self {
            realm,
            return_to: return_to_of(state, req, &base),
            base,
            access_token: String::new(),
            csrf: csrf.clone().unwrap_or_default(),
            client_addr: client_addr_of(state, req),
        };
        let Some(csrf) = csrf else {
            return Err(session.sign_in_again());
        };
        if let Some(at) = access
            && claims(&at).is_some_and(|c| c.exp > state.now() + RENEW_MARGIN_SECS)
        {
            session.access_token = at;
            return Ok(session);
        }
        session.renew(state, req, &csrf).await?;
        Ok(session)
    }

    /// A new access token from the refresh token; its cookies are added to the response by
    /// [`append_renewed_cookies`].
    async fn renew(
        &mut self,
        state: &ConsoleState,
        req: &HttpRequest,
        csrf: &str,
    ) -> Result<(), ConsoleError> {
        let Some(refresh) = req.cookie(REFRESH_COOKIE) else {
            return Err(self.sign_in_again());
        };
        let grant = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.value()),
            ("client_id", CLIENT_ID),
        ];
        let renewed = match token_request(state, &self.realm, &grant).await? {
            Ok(t) => t,
            // Retired, expired or revoked: a new sign-in (silent under single sign-on).
            Err(_) => return Err(self.sign_in_again()),
        };
        self.access_token = renewed.access_token.clone();
        let cookies = token_cookies(state, &self.realm, &renewed, csrf);
        req.extensions_mut().insert(RenewedCookies(cookies));
        Ok(())
    }

    /// The redirect that starts a new sign-in and comes back here.
    pub fn sign_in_again(&self) -> ConsoleError {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", &self.return_to)
            .finish();
        ConsoleError::SignIn {
            login_url: format!("{}/login?{query}", self.base),
        }
    }

    /// Checks a form's CSRF field against the session's cookie (double submit).
    pub fn check_csrf(&self, form: &FormData) -> Result<(), ConsoleError> {
        check_csrf(Some(&self.csrf), form, "This form")
    }
}

/// Where to come back to after a new sign-in: this page for a GET, the console home
/// otherwise.
fn return_to_of(state: &ConsoleState, req: &HttpRequest, base: &str) -> String {
    if req.method() == actix_web::http::Method::GET {
        // The request's path lacks the prefix a proxy stripped; the browser needs it back.
        req.uri().path_and_query().map_or(base.to_string(), |p| {
            format!(
                "{}{p}",
                tessera_core::net::path_prefix(&state.settings.public_url)
            )
        })
    } else {
        format!("{base}/")
    }
}

/// The browser's address, as the server's one rule for forwarded headers decides it.
fn client_addr_of(state: &ConsoleState, req: &HttpRequest) -> Option<std::net::IpAddr> {
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    tessera_core::net::client_address(
        req.peer_addr().map(|a| a.ip()),
        forwarded,
        state.settings.trust_forwarded_headers,
    )
}

/// Double submit: the form's `csrf` field must equal the cookie, compared in constant time.
fn check_csrf(cookie: Option<&str>, form: &FormData, what: &str) -> Result<(), ConsoleError> {
    let sent = form.get("csrf").unwrap_or("");
    match cookie {
        Some(c) if !c.is_empty() && constant_time_eq(sent.as_bytes(), c.as_bytes()) => Ok(()),
        _ => Err(ConsoleError::BadRequest(format!(
            "{what} has expired or was not sent from the console. Reload the page and try again."
        ))),
    }
}

/// The realm in the path, checked to be a plain name before it reaches a URL or a cookie.
fn realm_of(req: &HttpRequest) -> Result<String, ConsoleError> {
    let realm = req.match_info().get("realm").unwrap_or_default();
    let plain = !realm.is_empty()
        && realm.len() <= 64
        && realm
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain {
        return Err(ConsoleError::BadRequest(format!(
            "{realm:?} is not a realm name"
        )));
    }
    Ok(realm.to_string())
}

/// Cookies set by a token renewal, added to whatever response the handler produces.
struct RenewedCookies(Vec<Cookie<'static>>);

pub async fn append_renewed_cookies(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let cookies = res.request().extensions_mut().remove::<RenewedCookies>();
    if let Some(RenewedCookies(cookies)) = cookies {
        append_cookies(res.headers_mut(), cookies);
    }
    Ok(res)
}

/// The claims of our own tokens that the console reads. They came straight from the issuer's
/// token endpoint over a connection this process opened, so the console does not verify the
/// signature (OIDC Core §3.1.3.7, item 6); the API verifies every access token it is sent.
#[derive(Deserialize)]
struct Claims {
    exp: i64,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: serde_json::Value,
}

fn claims(jwt: &str) -> Option<Claims> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
}

/// Calls the realm's token endpoint: the tokens, or the issuer's reason for a refusal (4xx);
/// an unreachable or failing issuer is `Upstream`.
async fn token_request(
    state: &ConsoleState,
    realm: &str,
    form: &[(&str, &str)],
) -> Result<Result<TokenResponse, String>, ConsoleError> {
    let url = format!(
        "{}/protocol/openid-connect/token",
        realm_issuer(&state.settings.issuer_internal_url, realm)
    );
    let resp = state
        .http
        .post(&url)
        .form(form)
        .send()
        .await
        .map_err(|e| ConsoleError::Upstream(format!("cannot reach the issuer: {e}")))?;
    let status = resp.status();
    let body: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| ConsoleError::Upstream(format!("the issuer answered badly: {e}")))?;
    if status.is_client_error() {
        return Ok(Err(format!(
            "The issuer refused: {}",
            body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("no reason given")
        )));
    }
    if !status.is_success() {
        return Err(ConsoleError::Upstream(format!(
            "the issuer answered {status}"
        )));
    }
    serde_json::from_value(body)
        .map(Ok)
        .map_err(|e| ConsoleError::Upstream(format!("the issuer's token answer: {e}")))
}

fn cookie(state: &ConsoleState, realm: &str, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(state.public_base_path(realm))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.secure_cookies())
        .finish()
}

fn removal(state: &ConsoleState, realm: &str, name: &'static str) -> Cookie<'static> {
    let mut c = cookie(state, realm, name, String::new());
    c.make_removal();
    c
}

fn token_cookies(
    state: &ConsoleState,
    realm: &str,
    tokens: &TokenResponse,
    csrf: &str,
) -> Vec<Cookie<'static>> {
    let mut out = vec![
        cookie(state, realm, ACCESS_COOKIE, tokens.access_token.clone()),
        cookie(state, realm, CSRF_COOKIE, csrf.to_string()),
    ];
    if let Some(rt) = &tokens.refresh_token {
        out.push(cookie(state, realm, REFRESH_COOKIE, rt.clone()));
    }
    if let Some(id) = &tokens.id_token {
        out.push(cookie(state, realm, ID_COOKIE, id.clone()));
    }
    out
}

fn append_cookies(headers: &mut header::HeaderMap, cookies: Vec<Cookie<'static>>) {
    for c in cookies {
        if let Ok(v) = header::HeaderValue::from_str(&c.to_string()) {
            headers.append(header::SET_COOKIE, v);
        }
    }
}

fn with_cookies(mut resp: HttpResponse, cookies: Vec<Cookie<'static>>) -> HttpResponse {
    append_cookies(resp.headers_mut(), cookies);
    resp
}

/// Only a path inside this realm's console, or its account page (the issuer's, beside the
/// console, which sends people here to sign in); anything else goes to the console's home.
fn safe_return_to(base: &str, wanted: Option<&str>) -> String {
    let account = base
        .strip_suffix("/console")
        .map(|realm_base| format!("{realm_base}/account/"));
    match wanted {
        Some(p)
            if (p == base
                || p.starts_with(&format!("{base}/"))
                || account.as_deref() == Some(p))
                && !p.contains("//")
                && !p.contains('\\') =>
        {
            p.to_string()
        }
        _ => format!("{base}/"),
    }
}

/// The scopes the console asks for: OpenID, and every permission (a ceiling; the API applies
/// the person's live rights).
fn requested_scope() -> String {
    let mut scope = String::from("openid profile");
    for (p, _) in tessera_core::permission::CATALOG {
        scope.push(' ');
        scope.push_str(p);
    }
    scope
}

/// `{issuer}/realms/{realm}`: the realm's issuer at one of the issuer's base URLs.
fn realm_issuer(issuer_url: &str, realm: &str) -> String {
    format!("{}/realms/{realm}", issuer_url.trim_end_matches('/'))
}

/// A sign-in this browser started, kept in the login cookie until the issuer calls back:
/// `state`, `nonce`, the PKCE verifier and where to go afterwards.
struct PendingSignIn {
    state: String,
    nonce: String,
    verifier: String,
    return_to: String,
}

impl PendingSignIn {
    fn start(return_to: String) -> Self {
        Self {
            state: random_token::<24>(),
            nonce: random_token::<24>(),
            verifier: random_token::<32>(),
            return_to,
        }
    }

    /// The PKCE S256 challenge of the verifier.
    fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            self.verifier.as_bytes(),
        ))
    }

    fn cookie_value(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.state,
            self.nonce,
            self.verifier,
            URL_SAFE_NO_PAD.encode(&self.return_to)
        )
    }

    /// The pending sign-in of this request's cookie, or why there is none to finish.
    fn of(req: &HttpRequest) -> Result<Self, String> {
        let Some(pending) = req.cookie(LOGIN_COOKIE) else {
            return Err(
                "This sign-in expired or was started in another browser. Start again.".into(),
            );
        };
        let mut parts = pending.value().split('.');
        let (Some(state), Some(nonce), Some(verifier), Some(return_to), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts
                .next()
                .and_then(|r| URL_SAFE_NO_PAD.decode(r).ok())
                .and_then(|r| String::from_utf8(r).ok()),
            parts.next(),
        ) else {
            return Err("This sign-in is damaged. Start again.".into());
        };
        Ok(Self {
            state: state.to_string(),
            nonce: nonce.to_string(),
            verifier: verifier.to_string(),
            return_to,
        })
    }
}

/// `GET …/console/login?return_to=…`: starts the authorization code flow.
async fn login(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    let wanted = query
        .iter()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.as_str());
    let realm = realm_of(&req)?;
    let base = state.public_base_path(&realm);
    register_console(&state, &realm).await?;
    let pending = PendingSignIn::start(safe_return_to(&base, wanted));
    let authorize = authorize_url(&state, &realm, &pending);
    let mut pending_cookie = cookie(&state, &realm, LOGIN_COOKIE, pending.cookie_value());
    pending_cookie.set_max_age(actix_web::cookie::time::Duration::minutes(10));
    Ok(with_cookies(
        view::see_other(&authorize),
        vec![pending_cookie],
    ))
}

/// Registers the console with the realm's `portal`, when this server does that (see
/// [`crate::RegisterConsole`]).
async fn register_console(state: &ConsoleState, realm: &str) -> Result<(), ConsoleError> {
    let Some(register) = &state.register else {
        return Ok(());
    };
    let register = Arc::clone(register);
    let callback = callback_uri(&state.settings.public_url, realm);
    let signed_out = signed_out_uri(&state.settings.public_url, realm);
    let name = realm.to_string();
    web::block(move || register(&name, &callback, &signed_out))
        .await
        .map_err(|e| ConsoleError::Upstream(e.to_string()))?
        .map_err(|e| {
            ConsoleError::Upstream(format!(
                "cannot register the console with the portal client of realm {realm}: {e}"
            ))
        })
}

/// The issuer's authorization endpoint with the request of this sign-in.
fn authorize_url(state: &ConsoleState, realm: &str, pending: &PendingSignIn) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair(
            "redirect_uri",
            &callback_uri(&state.settings.public_url, realm),
        )
        .append_pair("scope", &requested_scope())
        .append_pair("state", &pending.state)
        .append_pair("nonce", &pending.nonce)
        .append_pair("code_challenge", &pending.challenge())
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!(
        "{}/protocol/openid-connect/auth?{query}",
        realm_issuer(&state.settings.issuer_public_url, realm)
    )
}

/// `GET …/console/callback`: finishes sign-in (RFC 6749 §4.1.2, RFC 9207 `iss`, PKCE).
async fn callback(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    let realm = realm_of(&req)?;
    let base = state.public_base_path(&realm);
    let failed = |message: String| ConsoleError::SignInFailed {
        message,
        retry: format!("{base}/login"),
    };
    let pending = PendingSignIn::of(&req).map_err(failed)?;
    let expected_iss = realm_issuer(&state.settings.issuer_public_url, &realm);
    let code = authorization_code(&query, &pending, &expected_iss).map_err(failed)?;
    let redirect_uri = callback_uri(&state.settings.public_url, &realm);
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &redirect_uri),
        ("client_id", CLIENT_ID),
        ("code_verifier", &pending.verifier),
    ];
    let tokens = token_request(&state, &realm, &grant)
        .await?
        .map_err(failed)?;
    check_id_token(&tokens, &pending.nonce, &expected_iss).map_err(failed)?;
    let csrf = random_token::<24>();
    let mut cookies = token_cookies(&state, &realm, &tokens, &csrf);
    cookies.push(removal(&state, &realm, LOGIN_COOKIE));
    let destination = safe_return_to(&base, Some(&pending.return_to));
    Ok(with_cookies(view::see_other(&destination), cookies))
}

/// The code of the issuer's answer, once it is known to answer this browser's sign-in, from
/// this realm's issuer, without an error; else what to tell the person.
fn authorization_code<'q>(
    query: &'q [(String, String)],
    pending: &PendingSignIn,
    expected_iss: &str,
) -> Result<&'q str, String> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if !param("state").is_some_and(|s| constant_time_eq(s.as_bytes(), pending.state.as_bytes())) {
        return Err(
            "This answer does not belong to the sign-in this browser started. Start again.".into(),
        );
    }
    if param("iss").is_some_and(|i| i != expected_iss) {
        return Err("The answer came from another issuer.".into());
    }
    if let Some(error) = param("error") {
        return Err(match error {
            "access_denied" => "The sign-in was cancelled.".to_string(),
            _ => param("error_description").unwrap_or(error).to_string(),
        });
    }
    param("code").ok_or_else(|| "The issuer sent no code.".into())
}

/// The ID token must be for this sign-in (nonce), from this realm's issuer, for `portal`.
fn check_id_token(tokens: &TokenResponse, nonce: &str, expected_iss: &str) -> Result<(), String> {
    let id_claims = tokens
        .id_token
        .as_deref()
        .and_then(claims)
        .ok_or_else(|| "The issuer sent no usable ID token.".to_string())?;
    let audience_ok = match &id_claims.aud {
        serde_json::Value::String(a) => a == CLIENT_ID,
        serde_json::Value::Array(list) => list.iter().any(|a| a == CLIENT_ID),
        _ => false,
    };
    if id_claims.nonce.as_deref() != Some(nonce)
        || id_claims.iss.as_deref() != Some(expected_iss)
        || !audience_ok
    {
        return Err("The ID token does not match this sign-in (nonce, issuer or audience).".into());
    }
    Ok(())
}

/// `POST …/console/logout`: ends the console session and the issuer's (RP-initiated logout).
async fn logout(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let realm = realm_of(&req)?;
    let form = FormData::read(&state, payload).await?;
    let csrf = req.cookie(CSRF_COOKIE);
    check_csrf(
        csrf.as_ref().map(|c| c.value()),
        &form,
        "This sign-out form",
    )?;
    if let Some(rt) = req.cookie(REFRESH_COOKIE) {
        revoke_refresh_token(&state, &realm, rt.value()).await;
    }
    let location = issuer_logout_url(&state, &realm, &req);
    let cookies = [
        ACCESS_COOKIE,
        REFRESH_COOKIE,
        ID_COOKIE,
        CSRF_COOKIE,
        LOGIN_COOKIE,
    ]
    .into_iter()
    .map(|name| removal(&state, &realm, name))
    .collect();
    Ok(with_cookies(view::see_other(&location), cookies))
}

/// Best effort: the issuer's logout that follows ends the session either way.
async fn revoke_refresh_token(state: &ConsoleState, realm: &str, token: &str) {
    let url = format!(
        "{}/protocol/openid-connect/revoke",
        realm_issuer(&state.settings.issuer_internal_url, realm)
    );
    let form = [
        ("token", token),
        ("token_type_hint", "refresh_token"),
        ("client_id", CLIENT_ID),
    ];
    if let Err(e) = state.http.post(&url).form(&form).send().await {
        tracing::warn!(error = %e, "console: cannot revoke the refresh token at sign-out");
    }
}

/// The issuer's logout endpoint, with the ID token as a hint and our signed-out page to
/// come back to.
fn issuer_logout_url(state: &ConsoleState, realm: &str, req: &HttpRequest) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(id) = req.cookie(ID_COOKIE) {
        query.append_pair("id_token_hint", id.value());
    }
    query.append_pair("client_id", CLIENT_ID).append_pair(
        "post_logout_redirect_uri",
        &signed_out_uri(&state.settings.public_url, realm),
    );
    format!(
        "{}/protocol/openid-connect/logout?{}",
        realm_issuer(&state.settings.issuer_public_url, realm),
        query.finish()
    )
}

#[derive(Template)]
#[template(path = "console/signed_out.html")]
struct SignedOutPage<'a> {
    base: &'a str,
}

/// `GET …/console/signed-out`: where the issuer returns the browser after sign-out.
async fn signed_out(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let realm = realm_of(&req)?;
    let base = state.public_base_path(&realm);
    view::render(
        actix_web::http::StatusCode::OK,
        SignedOutPage { base: &base },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_inside_the_realm_console() {
        let base = "/realms/acme/console";
        assert_eq!(
            safe_return_to(base, Some("/realms/acme/console/users?page_token=x")),
            "/realms/acme/console/users?page_token=x"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/realms/acme/console/",
            "/realms/acme/console//evil.example",
            "/realms/other/console/",
            "/realms/acme/consoleX",
            "/realms/acme/console/\\evil",
        ] {
            assert_eq!(
                safe_return_to(base, Some(bad)),
                "/realms/acme/console/",
                "{bad}"
            );
        }
        assert_eq!(safe_return_to(base, None), "/realms/acme/console/");
        assert_eq!(
            safe_return_to(base, Some("/realms/acme/account/")),
            "/realms/acme/account/"
        );
        assert_eq!(
            safe_return_to(base, Some("/realms/other/account/")),
            "/realms/acme/console/"
        );
    }

    #[test]
    fn claims_are_read_from_the_payload() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"exp": 42, "nonce": "n", "aud": "portal"}"#);
        let c = claims(&format!("e30.{payload}.sig")).expect("claims");
        assert_eq!(c.exp, 42);
        assert_eq!(c.nonce.as_deref(), Some("n"));
        assert!(claims("not a jwt").is_none());
    }

    #[test]
    fn the_console_asks_for_every_permission() {
        let scope = requested_scope();
        assert!(scope.starts_with("openid profile "));
        assert!(scope.contains("api_key:create"));
        assert!(scope.contains("audit:read"));
    }
}
