//! The authorization endpoint (RFC 6749 §4.1, OIDC Core §3.1.2) and the sign-in and consent
//! pages behind it.
//!
//! Order of checks: the client and its redirect URI first — a request that fails them gets an
//! error page and is never redirected anywhere; every later error goes back to the client by
//! redirect with `error`, `state` and `iss` (RFC 9207). The request travels through the login
//! and consent forms as a hidden field and is validated again on every step, so nothing about
//! a pending sign-in is held on the server.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use std::sync::Arc;
use tessera_core::model::AuthorizationCode;
use tessera_core::model::BrowserSession;
use tessera_core::model::{Client, GrantType, Realm, User};
use tessera_core::secret::{constant_time_eq, sha256_hex};
use tessera_core::{ScopeSet, id::random_token};
use tessera_store as store;

use crate::error::IssuerError;
use crate::form::{Form, read_form};
use crate::state::IssuerState;

pub(crate) const SESSION_COOKIE: &str = "tessera_session";
const CSRF_COOKIE: &str = "tessera_csrf";
/// The error page for a sign-in form (password or passkey) whose CSRF check fails.
pub(crate) const SIGN_IN_EXPIRED: &str = "The sign-in form expired or was not sent from this site. Go back to the application and start again.";

/// Headers every page of the sign-in flow carries (RFC 9700 §4.16, SEC-01).
pub(crate) fn page(status: actix_web::http::StatusCode, html: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; \
             img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    message: &'a str,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    passkeys_enabled: bool,
    realm: &'a str,
    client_name: &'a str,
    action: &'a str,
    csrf: &'a str,
    request: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    realm: &'a str,
    client_name: &'a str,
    username: &'a str,
    scopes: Vec<String>,
    action: &'a str,
    csrf: &'a str,
    request: &'a str,
}

pub(crate) fn render(t: &impl Template) -> Result<String, IssuerError> {
    t.render()
        .map_err(|e| IssuerError::Internal(format!("template: {e}")))
}

/// An error page: shown instead of redirecting when the client or redirect URI is not
/// trustworthy (REDIR-01, AUTHZ-09).
pub(crate) fn error_page(message: &str) -> Result<HttpResponse, IssuerError> {
    error_page_with(actix_web::http::StatusCode::BAD_REQUEST, message)
}

/// The same error page with another status (401, 404 of the passkey ceremonies).
pub(crate) fn error_page_with(
    status: actix_web::http::StatusCode,
    message: &str,
) -> Result<HttpResponse, IssuerError> {
    Ok(page(status, render(&ErrorPage { message })?))
}

/// How the authorization response reaches the client (OAuth 2.0 Multiple Response Type
/// Encoding Practices §2.1, OAuth 2.0 Form Post Response Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseMode {
    /// Parameters in the redirect URI's query: the default for `response_type=code`.
    Query,
    /// An HTML page that POSTs the parameters to the redirect URI, so they never appear in a
    /// URL (browser history, proxy and server logs, `Referer`).
    FormPost,
}

/// The `response_mode` values accepted; discovery lists exactly these.
pub const RESPONSE_MODES: [&str; 2] = ["query", "form_post"];

impl ResponseMode {
    fn parse(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("query") => Some(Self::Query),
            Some("form_post") => Some(Self::FormPost),
            Some(_) => None,
        }
    }
}

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostPage<'a> {
    action: &'a str,
    fields: &'a [(&'a str, &'a str)],
    script: &'a str,
}

/// The form_post page's only script. The page's CSP allows it by its hash, so no other
/// script can run there.
const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

/// `'sha256-…'` of [`FORM_POST_SCRIPT`] for the CSP's `script-src`.
static FORM_POST_SCRIPT_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use base64::Engine;
    let digest = ring::digest::digest(&ring::digest::SHA256, FORM_POST_SCRIPT.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
});

/// The CSP source expression that lets a form post to `uri`: its origin, or only its scheme
/// when the host cannot be written as a CSP host-source (an IPv6 literal, say) or the URI is
/// a native app's private-use scheme (`com.example.app:/cb`).
fn form_action_source(uri: &str) -> String {
    let scheme_ok = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    };
    let Some((scheme, rest)) = uri.split_once(':') else {
        return "'none'".into();
    };
    if !scheme_ok(scheme) {
        return "'none'".into();
    }
    let Some(rest) = rest.strip_prefix("//") else {
        return format!("{scheme}:");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let plain = !host_port.is_empty()
        && host_port
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if plain {
        format!("{scheme}://{host_port}")
    } else {
        format!("{scheme}:")
    }
}

/// The form_post response: a page that submits itself to the redirect URI, with a visible
/// button for browsers that run no script.
fn form_post_page(redirect_uri: &str, fields: &[(&str, &str)]) -> HttpResponse {
    let html = match render(&FormPostPage {
        action: redirect_uri,
        fields,
        script: FORM_POST_SCRIPT,
    }) {
        Ok(html) => html,
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    let csp = format!(
        "default-src 'none'; script-src {}; style-src 'unsafe-inline'; form-action {}; \
         frame-ancestors 'none'; base-uri 'none'",
        *FORM_POST_SCRIPT_HASH,
        form_action_source(redirect_uri)
    );
    let mut resp = page(actix_web::http::StatusCode::OK, html);
    if let Ok(v) = header::HeaderValue::from_str(&csp) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// Where and how to answer the client once its redirect URI is trusted.
pub(crate) struct Reply {
    redirect_uri: String,
    state: Option<String>,
    iss: String,
    mode: ResponseMode,
}

impl Reply {
    fn with(&self, params: &[(&str, &str)]) -> HttpResponse {
        let mut fields: Vec<(&str, &str)> = params.to_vec();
        if let Some(s) = &self.state {
            fields.push(("state", s));
        }
        fields.push(("iss", &self.iss));
        if self.mode == ResponseMode::FormPost {
            return form_post_page(&self.redirect_uri, &fields);
        }
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let sep = if self.redirect_uri.contains('?') {
            '&'
        } else {
            '?'
        };
        // 303 after a form POST (RFC 9700 §4.12); also correct after a GET.
        HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("{}{sep}{query}", self.redirect_uri),
            ))
            .finish()
    }

    pub(crate) fn error(&self, error: &str, description: &str) -> HttpResponse {
        let description = tessera_core::error::wire_safe(description);
        self.with(&[("error", error), ("error_description", &description)])
    }
}

/// A validated authorization request.
pub(crate) struct AuthRequest {
    pub(crate) raw: String,
    pub(crate) client: Arc<Client>,
    /// The `redirect_uri` parameter as sent; empty when omitted (then the registered one).
    redirect_param: String,
    scope: ScopeSet,
    nonce: Option<String>,
    code_challenge: Option<String>,
    prompt: Vec<String>,
    max_age: Option<i64>,
    id_token_sub: Option<String>,
    login_hint: Option<String>,
    /// `acr_values` as sent (OIDC Core §3.1.2.1); see `tessera_core::authn::satisfies`.
    pub(crate) acr_values: Option<String>,
    pub(crate) reply: Reply,
}

/// The outcome of validation: a request to serve, or the answer already decided.
pub(crate) enum Checked {
    Valid(Box<AuthRequest>),
    Answer(HttpResponse),
}

/// A loopback redirect URI of a native client may use any port (RFC 8252 §7.3).
fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let strip_port = |u: &str| -> Option<String> {
        let rest = u.strip_prefix("http://")?;
        let (host_port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let host = match host_port.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host_port,
        };
        matches!(host, "127.0.0.1" | "[::1]").then(|| format!("{host}{path}"))
    };
    match (strip_port(registered), strip_port(requested)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Validates a request given as form-encoded `raw` parameters.
pub(crate) async fn check_request(
    state: &IssuerState,
    realm: &Realm,
    raw: &str,
) -> Result<Checked, IssuerError> {
    let form = match Form::parse(raw.as_bytes()) {
        Ok(f) => f,
        Err(e) => return error_page(&e.to_string()).map(Checked::Answer),
    };
    let trusted = match trusted_client(state, realm, &form).await? {
        Ok(trusted) => trusted,
        Err(message) => return error_page(message).map(Checked::Answer),
    };
    let params = match checked_parameters(state, realm, &form, &trusted.client) {
        Ok(params) => params,
        Err((error, description)) => {
            return Ok(Checked::Answer(trusted.reply.error(error, &description)));
        }
    };
    Ok(Checked::Valid(Box::new(AuthRequest {
        raw: raw.to_string(),
        client: trusted.client,
        redirect_param: trusted.redirect_param,
        scope: params.scope,
        nonce: form.get("nonce").map(str::to_string),
        code_challenge: params.code_challenge,
        prompt: params.prompt,
        max_age: params.max_age,
        id_token_sub: params.id_token_sub,
        login_hint: form.get("login_hint").map(str::to_string),
        acr_values: form.get("acr_values").map(str::to_string),
        reply: trusted.reply,
    })))
}

/// A client and redirect URI that later errors may be redirected to.
struct Trusted {
    client: Arc<Client>,
    /// The `redirect_uri` parameter as sent; empty when omitted.
    redirect_param: String,
    reply: Reply,
}

/// The checks that end on an error page, never a redirect: the client, then its redirect
/// URI. `Err` is the page's message.
async fn trusted_client(
    state: &IssuerState,
    realm: &Realm,
    form: &Form,
) -> Result<Result<Trusted, &'static str>, IssuerError> {
    let Some(client_id) = form.get("client_id") else {
        return Ok(Err("The request names no client (client_id is missing)."));
    };
    let client = match state.client(realm, client_id).await? {
        Some(c) if c.enabled && c.allows_grant(GrantType::AuthorizationCode) => c,
        _ => {
            return Ok(Err(
                "The application is not registered here for browser sign-in.",
            ));
        }
    };
    let redirect_param = form.get("redirect_uri").unwrap_or("").to_string();
    let redirect_uri = match trusted_redirect_uri(&client, &redirect_param, form) {
        Ok(uri) => uri,
        Err(message) => return Ok(Err(message)),
    };
    let reply = Reply {
        redirect_uri,
        state: form.get("state").map(str::to_string),
        iss: state.issuer_url(&realm.name),
        mode: ResponseMode::parse(form.get("response_mode")).unwrap_or(ResponseMode::Query),
    };
    Ok(Ok(Trusted {
        client,
        redirect_param,
        reply,
    }))
}

/// The redirect URI to answer at: the one sent if registered, else the only registered one
/// when the request is plain OAuth (OIDC requires `redirect_uri`).
fn trusted_redirect_uri(
    client: &Client,
    redirect_param: &str,
    form: &Form,
) -> Result<String, &'static str> {
    let registered = &client.redirect_uris;
    if redirect_param.is_empty() {
        let scope_param = form.get("scope").unwrap_or("");
        let wants_openid = scope_param.split([' ', ',']).any(|s| s == "openid");
        return match registered.as_slice() {
            [only] if !wants_openid => Ok(only.clone()),
            _ => Err("The request has no redirect_uri."),
        };
    }
    if registered
        .iter()
        .any(|r| redirect_matches(r, redirect_param))
    {
        Ok(redirect_param.to_string())
    } else {
        Err("The redirect_uri is not registered for this application.")
    }
}

/// An error sent back to the client: its `error` code and description.
type Refusal = (&'static str, String);

fn refuse<T>(error: &'static str, description: impl Into<String>) -> Result<T, Refusal> {
    Err((error, description.into()))
}

/// What the parameters checked after the redirect URI say.
struct Parameters {
    scope: ScopeSet,
    code_challenge: Option<String>,
    prompt: Vec<String>,
    max_age: Option<i64>,
    id_token_sub: Option<String>,
}

/// The checks whose failures go back to the client, in the order that decides which error a
/// request with several faults gets.
fn checked_parameters(
    state: &IssuerState,
    realm: &Realm,
    form: &Form,
    client: &Client,
) -> Result<Parameters, Refusal> {
    check_response_mode(form)?;
    check_response_type(form)?;
    if form.get("request").is_some() {
        return refuse("request_not_supported", "request objects are not supported");
    }
    if form.get("request_uri").is_some() {
        return refuse("request_uri_not_supported", "request_uri is not supported");
    }
    Ok(Parameters {
        scope: requested_scope(client, form.get("scope").unwrap_or(""))?,
        code_challenge: pkce_challenge(form, client.confidential)?,
        prompt: parse_prompt(form)?,
        max_age: parse_max_age(form)?,
        id_token_sub: hinted_subject(state, realm, form)?,
    })
}

fn check_response_mode(form: &Form) -> Result<(), Refusal> {
    let asked = form.get("response_mode");
    if ResponseMode::parse(asked).is_some() {
        return Ok(());
    }
    let asked: String = asked.unwrap_or("").chars().take(40).collect();
    refuse(
        "invalid_request",
        format!(
            "response_mode {asked} is not supported; use one of: {}",
            RESPONSE_MODES.join(", ")
        ),
    )
}

fn check_response_type(form: &Form) -> Result<(), Refusal> {
    match form.get("response_type") {
        None => refuse("invalid_request", "response_type is missing"),
        Some("code") => Ok(()),
        Some(_) => refuse(
            "unsupported_response_type",
            "only response_type=code is supported",
        ),
    }
}

/// The scope asked for (each name allowed for the client), or the client's defaults.
fn requested_scope(client: &Client, scope_param: &str) -> Result<ScopeSet, Refusal> {
    let scope = if scope_param.is_empty() {
        client.default_scopes.clone()
    } else {
        ScopeSet::parse(scope_param).or_else(|e| refuse("invalid_scope", e.message))?
    };
    let refused = scope.not_in(&client.allowed_scopes);
    if !refused.is_empty() {
        return refuse(
            "invalid_scope",
            format!("this application may not request: {}", refused.join(" ")),
        );
    }
    Ok(scope)
}

/// The PKCE challenge: S256 only, and required of public clients.
fn pkce_challenge(form: &Form, confidential: bool) -> Result<Option<String>, Refusal> {
    let invalid = |description: &str| refuse("invalid_request", description);
    match (
        form.get("code_challenge"),
        form.get("code_challenge_method"),
    ) {
        (None, Some(_)) => invalid("code_challenge_method without code_challenge"),
        (None, None) if !confidential => invalid("code_challenge is required (PKCE with S256)"),
        (None, None) => Ok(None),
        (Some(_), None | Some("plain")) => {
            invalid("code_challenge_method must be S256; plain is not accepted")
        }
        (Some(c), Some("S256")) if tessera_core::pkce::is_well_formed(c) => Ok(Some(c.to_string())),
        (Some(_), Some("S256")) => {
            invalid("code_challenge must be 43-128 characters of [A-Za-z0-9-._~]")
        }
        (Some(_), Some(other)) => {
            invalid(&format!("unknown code_challenge_method {other}; use S256"))
        }
    }
}

fn parse_prompt(form: &Form) -> Result<Vec<String>, Refusal> {
    let prompt: Vec<String> = form
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return refuse(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        );
    }
    Ok(prompt)
}

fn parse_max_age(form: &Form) -> Result<Option<i64>, Refusal> {
    let Some(v) = form.get("max_age") else {
        return Ok(None);
    };
    match v.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(Some(n)),
        _ => refuse(
            "invalid_request",
            "max_age must be a whole number of seconds",
        ),
    }
}

/// The subject of `id_token_hint`, which must be an ID token this realm issued.
fn hinted_subject(
    state: &IssuerState,
    realm: &Realm,
    form: &Form,
) -> Result<Option<String>, Refusal> {
    let Some(hint) = form.get("id_token_hint") else {
        return Ok(None);
    };
    match crate::oidc::id_token_subject(state, realm, hint) {
        Some(sub) => Ok(Some(sub)),
        None => refuse(
            "invalid_request",
            "id_token_hint is not an ID token issued here",
        ),
    }
}

/// The signed-in user of this realm, if the session cookie names a live session.
pub(crate) async fn current_session(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
) -> Result<Option<(BrowserSession, User)>, IssuerError> {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = sha256_hex(cookie.value());
    let db = state.db.clone();
    let realm_id = realm.id.clone();
    let now = state.now();
    web::block(move || -> Result<_, IssuerError> {
        let mut conn = db.conn()?;
        let Some(session) = store::sessions::live(&mut conn, &realm_id, &hash, now)? else {
            return Ok(None);
        };
        Ok(store::users::by_id(&mut conn, &session.user_id)?
            .filter(|u| u.enabled)
            .map(|u| (session, u)))
    })
    .await?
}

/// `{prefix}/realms/{realm}/`: the issuer's cookies go back to this realm's endpoints only.
pub(crate) fn cookie_path(state: &IssuerState, realm: &Realm) -> String {
    format!("{}/realms/{}/", state.path_prefix(), realm.name)
}

pub(crate) fn secure(state: &IssuerState) -> bool {
    state.public_url.starts_with("https://")
}

pub(crate) fn form_action(state: &IssuerState, realm: &Realm, step: &str) -> String {
    format!(
        "{}/realms/{}/login-actions/{step}",
        state.path_prefix(),
        realm.name
    )
}

/// Renders the sign-in page, setting a fresh CSRF cookie.
pub(crate) fn login_page(
    state: &IssuerState,
    realm: &Realm,
    request: &AuthRequest,
    username: &str,
    error: Option<&str>,
) -> Result<HttpResponse, IssuerError> {
    let csrf = random_token::<24>();
    let html = render(&LoginPage {
        passkeys_enabled: state.passkeys_enabled(),
        realm: &realm.name,
        client_name: &request.client.name,
        action: &form_action(state, realm, "authenticate"),
        csrf: &csrf,
        request: &request.raw,
        username,
        error,
    })?;
    let status = if error.is_some() {
        actix_web::http::StatusCode::UNAUTHORIZED
    } else {
        actix_web::http::StatusCode::OK
    };
    let mut resp = page(status, html);
    set_cookie(&mut resp, csrf_cookie(state, realm, csrf));
    Ok(resp)
}

pub(crate) fn consent_page(
    state: &IssuerState,
    realm: &Realm,
    request: &AuthRequest,
    user: &User,
) -> Result<HttpResponse, IssuerError> {
    let csrf = random_token::<24>();
    let describe = |s: &str| -> String {
        tessera_core::permission::OIDC_SCOPES
            .iter()
            .chain(tessera_core::permission::CATALOG)
            .find(|(name, _)| *name == s)
            .map_or_else(|| s.to_string(), |(_, d)| format!("{d} ({s})"))
    };
    let html = render(&ConsentPage {
        realm: &realm.name,
        client_name: &request.client.name,
        username: &user.username,
        scopes: request.scope.iter().map(describe).collect(),
        action: &form_action(state, realm, "consent"),
        csrf: &csrf,
        request: &request.raw,
    })?;
    let mut resp = page(actix_web::http::StatusCode::OK, html);
    set_cookie(&mut resp, csrf_cookie(state, realm, csrf));
    Ok(resp)
}

pub(crate) fn csrf_cookie(state: &IssuerState, realm: &Realm, value: String) -> Cookie<'static> {
    Cookie::build(CSRF_COOKIE, value)
        .path(cookie_path(state, realm))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(state))
        .finish()
}

pub(crate) fn set_cookie(resp: &mut HttpResponse, cookie: Cookie<'_>) {
    if let Ok(v) = header::HeaderValue::from_str(&cookie.to_string()) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Whether the user must (re-)authenticate for this request.
fn needs_login(request: &AuthRequest, session: Option<&(BrowserSession, User)>, now: i64) -> bool {
    let Some((s, user)) = session else {
        return true;
    };
    request.prompt.iter().any(|p| p == "login")
        || request.max_age.is_some_and(|m| now - s.auth_time > m)
        || request
            .id_token_sub
            .as_deref()
            .is_some_and(|sub| sub != user.id)
        || request
            .acr_values
            .as_deref()
            .is_some_and(|v| !tessera_core::authn::satisfies(&s.amr, v))
}

pub(crate) async fn needs_consent(
    state: &IssuerState,
    realm: &Realm,
    request: &AuthRequest,
    user: &User,
) -> Result<bool, IssuerError> {
    if request.client.first_party {
        return Ok(false);
    }
    if request.prompt.iter().any(|p| p == "consent") {
        return Ok(true);
    }
    let db = state.db.clone();
    let (realm_id, user_id, client_id) = (
        realm.id.clone(),
        user.id.clone(),
        request.client.client_id.clone(),
    );
    let granted = web::block(move || {
        store::consents::of_user(&mut *db.conn()?, &realm_id, &user_id, &client_id)
    })
    .await??;
    Ok(match granted {
        Some(scopes) => !request.scope.is_subset(&ScopeSet::from_stored(&scopes)),
        None => true,
    })
}

/// Issues a code for `session`'s user and sends it to the client.
pub(crate) async fn issue_code(
    state: &IssuerState,
    realm: &Realm,
    request: &AuthRequest,
    session: &BrowserSession,
) -> Result<HttpResponse, IssuerError> {
    let code = random_token::<32>();
    let now = state.now();
    let row = AuthorizationCode {
        code_sha256: sha256_hex(&code),
        realm_id: realm.id.clone(),
        client_id: request.client.client_id.clone(),
        user_id: session.user_id.clone(),
        session_id_sha256: Some(session.id_sha256.clone()),
        redirect_uri: request.redirect_param.clone(),
        scope: request.scope.to_string(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        code_challenge_method: request.code_challenge.as_ref().map(|_| "S256".to_string()),
        auth_time: session.auth_time,
        grant_id: tessera_core::id::new_uuid(),
        expires_at: now + state.settings.code_ttl_secs,
        consumed_at: None,
        created_at: now,
        amr: session.amr.clone(),
    };
    let db = state.db.clone();
    web::block(move || store::codes::insert(&mut *db.conn()?, &row)).await??;
    Ok(request.reply.with(&[("code", &code)]))
}

/// Continues a valid request for the current session: sign-in, consent, or the code.
async fn proceed(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
    request: &AuthRequest,
) -> Result<HttpResponse, IssuerError> {
    let mut session = current_session(state, realm, req).await?;
    let now = state.now();
    let prompt_none = request.prompt.iter().any(|p| p == "none");
    // A single-factor session made before the policy required more no longer suffices.
    if let Some((s, user)) = &session
        && !tessera_core::authn::is_multi_factor(&s.amr)
        && crate::signin::policy_requires_mfa(state, realm, user).await?
    {
        session = None;
    }
    if needs_login(request, session.as_ref(), now) {
        if prompt_none {
            return Ok(request
                .reply
                .error("login_required", "the user is not signed in"));
        }
        let hint = request.login_hint.as_deref().unwrap_or("");
        return login_page(state, realm, request, hint, None);
    }
    let Some((session, user)) = session else {
        return login_page(state, realm, request, "", None);
    };
    if needs_consent(state, realm, request, &user).await? {
        if prompt_none {
            return Ok(request.reply.error(
                "consent_required",
                "the user has not allowed this application",
            ));
        }
        return consent_page(state, realm, request, &user);
    }
    issue_code(state, realm, request, &session).await
}

/// `GET|POST /realms/{realm}/protocol/openid-connect/auth`
pub async fn authorize(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    authorize_in(&state, &realm, req, payload).await
}

/// `GET|POST /oauth/authorize`: the default realm at the short path of seed 001.
pub async fn authorize_default_realm(
    state: web::Data<IssuerState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    authorize_in(&state, crate::DEFAULT_REALM, req, payload).await
}

async fn authorize_in(
    state: &IssuerState,
    realm_name: &str,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let realm = state.realm(realm_name).await?;
    let raw = if req.method() == actix_web::http::Method::POST {
        read_raw_form(&req, payload, &state.settings).await?
    } else {
        req.query_string().to_string()
    };
    match check_request(state, &realm, &raw).await? {
        Checked::Answer(resp) => Ok(resp),
        Checked::Valid(request) => proceed(state, &realm, &req, &request).await,
    }
}

/// The raw form body, for requests that are passed along as they came.
async fn read_raw_form(
    req: &HttpRequest,
    payload: web::Payload,
    settings: &crate::config::IssuerSettings,
) -> Result<String, IssuerError> {
    let form = read_form(req, payload, settings).await?;
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form.pairs() {
        out.append_pair(k, v);
    }
    Ok(out.finish())
}

/// Checks the CSRF field against its cookie (double submit).
pub(crate) fn csrf_ok(req: &HttpRequest, form: &Form) -> bool {
    match (req.cookie(CSRF_COOKIE), form.get("csrf")) {
        (Some(c), Some(f)) => constant_time_eq(c.value().as_bytes(), f.as_bytes()),
        _ => false,
    }
}

/// `POST /realms/{realm}/login-actions/authenticate`: the sign-in form.
pub async fn authenticate(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let realm = state.realm(&realm).await?;
    let form = read_form(&req, payload, &state.settings).await?;
    let request = match flow_request(&state, &realm, &req, &form, SIGN_IN_EXPIRED).await? {
        Ok(request) => request,
        Err(resp) => return Ok(resp),
    };
    if form.get("action") == Some("cancel") {
        return Ok(request
            .reply
            .error("access_denied", "the user cancelled the sign-in"));
    }
    let username = form.get("username").unwrap_or("").to_string();
    let password = form.get("password").unwrap_or("").to_string();
    if username.is_empty() || password.is_empty() {
        let missing = Some("Enter your username and password.");
        return login_page(&state, &realm, &request, &username, missing);
    }
    let checked = check_form_password(&state, &realm, &req, &request, &username, password);
    let user = match checked.await? {
        Ok(user) => user,
        Err(resp) => return Ok(resp),
    };
    let amr = tessera_core::authn::PASSWORD;
    crate::signin::start_session(&state, &realm, &request, &user, amr).await
}

/// A sign-in flow's form, CSRF-checked, and the authorization request it carries, validated
/// again. `Err` is the answer: an error page (`expired` its message) or the client's error.
pub(crate) async fn flow_request(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
    form: &Form,
    expired: &str,
) -> Result<Result<Box<AuthRequest>, HttpResponse>, IssuerError> {
    if !csrf_ok(req, form) {
        return error_page(expired).map(Err);
    }
    let raw = form.get("request").unwrap_or("").to_string();
    Ok(match check_request(state, realm, &raw).await? {
        Checked::Answer(resp) => Err(resp),
        Checked::Valid(request) => Ok(request),
    })
}

/// Checks the sign-in form's password. `Err` is the sign-in page again saying why: a wrong
/// username or password, or too many failures (with 429).
async fn check_form_password(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
    request: &AuthRequest,
    username: &str,
    password: String,
) -> Result<Result<User, HttpResponse>, IssuerError> {
    let by = crate::token::SignInBy {
        method: "form",
        client_id: &request.client.client_id,
        addr: crate::token::client_addr(req, state.settings.trust_forwarded_headers),
    };
    match crate::token::check_password(state, realm, username.to_string(), password, &by).await {
        Ok(user) => Ok(Ok(user)),
        Err(IssuerError::Throttled {
            retry_after_secs, ..
        }) => {
            let message = crate::passkey::too_many(retry_after_secs);
            let mut resp = login_page(state, realm, request, username, Some(&message))?;
            *resp.status_mut() = actix_web::http::StatusCode::TOO_MANY_REQUESTS;
            Ok(Err(resp))
        }
        Err(IssuerError::OAuth { .. }) => {
            let invalid = Some("Invalid username or password.");
            login_page(state, realm, request, username, invalid).map(Err)
        }
        Err(other) => Err(other),
    }
}

/// `POST /realms/{realm}/login-actions/consent`: the consent form.
pub async fn consent(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let realm = state.realm(&realm).await?;
    let form = read_form(&req, payload, &state.settings).await?;
    let expired = "The consent form expired or was not sent from this site. Go back to the application and start again.";
    let request = match flow_request(&state, &realm, &req, &form, expired).await? {
        Ok(request) => request,
        Err(resp) => return Ok(resp),
    };
    let Some((session, user)) = current_session(&state, &realm, &req).await? else {
        return login_page(&state, &realm, &request, "", None);
    };
    if form.get("action") != Some("allow") {
        return Ok(request
            .reply
            .error("access_denied", "the user did not allow access"));
    }
    save_consent(&state, &realm, &user, &request).await?;
    issue_code(&state, &realm, &request, &session).await
}

/// Remembers that `user` allowed the request's client its scopes.
async fn save_consent(
    state: &IssuerState,
    realm: &Realm,
    user: &User,
    request: &AuthRequest,
) -> Result<(), IssuerError> {
    let db = state.db.clone();
    let (realm_id, user_id, client_id, scopes, now) = (
        realm.id.clone(),
        user.id.clone(),
        request.client.client_id.clone(),
        request.scope.to_string(),
        state.now(),
    );
    web::block(move || {
        store::consents::save(
            &mut *db.conn()?,
            &realm_id,
            &user_id,
            &client_id,
            &scopes,
            now,
        )
    })
    .await??;
    Ok(())
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage<'a> {
    realm: &'a str,
    done: bool,
    action: &'a str,
    csrf: &'a str,
    request: &'a str,
}

/// A checked RP-initiated logout request (OIDC RP-Initiated Logout 1.0 §2).
struct LogoutRequest {
    raw: String,
    /// The subject of a valid `id_token_hint`.
    hinted_sub: Option<String>,
    /// Where to send the browser afterwards, with `state`; only a registered URI.
    reply: Option<(String, Option<String>)>,
}

async fn check_logout(
    state: &IssuerState,
    realm: &Realm,
    raw: &str,
) -> Result<Result<LogoutRequest, HttpResponse>, IssuerError> {
    let form = match Form::parse(raw.as_bytes()) {
        Ok(f) => f,
        Err(e) => return error_page(&e.to_string()).map(Err),
    };
    let (hinted_sub, hinted_client) = match form.get("id_token_hint") {
        None => (None, None),
        Some(hint) => match crate::oidc::id_token_subject_and_client(state, realm, hint) {
            Some((sub, client)) => (Some(sub), Some(client)),
            None => {
                return error_page("The id_token_hint is not an ID token issued here.").map(Err);
            }
        },
    };
    let reply = match post_logout_reply(state, realm, &form, hinted_client.as_deref()).await? {
        Ok(reply) => reply,
        Err(message) => return error_page(message).map(Err),
    };
    Ok(Ok(LogoutRequest {
        raw: raw.to_string(),
        hinted_sub,
        reply,
    }))
}

/// Where to send the browser after logout, with `state`: a `post_logout_redirect_uri`
/// registered for the client that the hint or `client_id` names. `Err` is the error page's
/// message.
async fn post_logout_reply(
    state: &IssuerState,
    realm: &Realm,
    form: &Form,
    hinted_client: Option<&str>,
) -> Result<Result<Option<(String, Option<String>)>, &'static str>, IssuerError> {
    let Some(uri) = form.get("post_logout_redirect_uri") else {
        return Ok(Ok(None));
    };
    let client_id = match (form.get("client_id"), hinted_client) {
        (Some(c), Some(h)) if c != h => {
            return Ok(Err("client_id does not match the id_token_hint."));
        }
        (Some(c), _) => c,
        (None, Some(h)) => h,
        (None, None) => {
            return Ok(Err(
                "post_logout_redirect_uri needs an id_token_hint or a client_id.",
            ));
        }
    };
    let registered = state
        .client(realm, client_id)
        .await?
        .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
    if !registered {
        return Ok(Err(
            "The post_logout_redirect_uri is not registered for this application.",
        ));
    }
    Ok(Ok(Some((
        uri.to_string(),
        form.get("state").map(str::to_string),
    ))))
}

/// Ends the session (if any) and answers: back to the application, or a signed-out page.
async fn finish_logout(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
    request: &LogoutRequest,
) -> Result<HttpResponse, IssuerError> {
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        crate::logout::end_session(state, realm, &sha256_hex(cookie.value())).await?;
    }
    let mut resp = match &request.reply {
        Some((uri, st)) => redirect_after_logout(uri, st.as_deref()),
        None => logout_page(realm, true, "", "", "")?,
    };
    let mut expired = Cookie::build(SESSION_COOKIE, "")
        .path(cookie_path(state, realm))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .finish();
    expired.make_removal();
    set_cookie(&mut resp, expired);
    Ok(resp)
}

/// 303 to the registered post-logout URI, with `state` added to its query.
fn redirect_after_logout(uri: &str, st: Option<&str>) -> HttpResponse {
    let mut location = uri.to_string();
    if let Some(st) = st {
        let sep = if uri.contains('?') { '&' } else { '?' };
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("state", st)
            .finish();
        location = format!("{location}{sep}{q}");
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The logout page: the confirmation form, or (`done`) the signed-out notice.
fn logout_page(
    realm: &Realm,
    done: bool,
    action: &str,
    csrf: &str,
    request: &str,
) -> Result<HttpResponse, IssuerError> {
    let html = render(&LogoutPage {
        realm: &realm.name,
        done,
        action,
        csrf,
        request,
    })?;
    Ok(page(actix_web::http::StatusCode::OK, html))
}

/// `GET|POST /realms/{realm}/protocol/openid-connect/logout`: RP-initiated logout. With an
/// `id_token_hint` for the signed-in user it ends the session at once; otherwise it asks the
/// person first, so a third-party page cannot sign them out.
pub async fn logout(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let realm = state.realm(&realm).await?;
    let raw = if req.method() == actix_web::http::Method::POST {
        read_raw_form(&req, payload, &state.settings).await?
    } else {
        req.query_string().to_string()
    };
    if req.method() == actix_web::http::Method::POST {
        let form = Form::parse(raw.as_bytes())?;
        if form.get("refresh_token").is_some() {
            return crate::logout::refresh_token_logout(&state, &realm, &req, &form).await;
        }
    }
    let request = match check_logout(&state, &realm, &raw).await? {
        Ok(r) => r,
        Err(resp) => return Ok(resp),
    };
    let session = current_session(&state, &realm, &req).await?;
    let confirmed = match (&session, &request.hinted_sub) {
        (None, _) => true,
        (Some((_, user)), Some(sub)) => *sub == user.id,
        (Some(_), None) => false,
    };
    if confirmed {
        return finish_logout(&state, &realm, &req, &request).await;
    }
    let csrf = random_token::<24>();
    let action = form_action(&state, &realm, "logout");
    let mut resp = logout_page(&realm, false, &action, &csrf, &request.raw)?;
    set_cookie(&mut resp, csrf_cookie(&state, &realm, csrf));
    Ok(resp)
}

/// `POST /realms/{realm}/login-actions/logout`: the sign-out confirmation form.
pub async fn confirm_logout(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let realm = state.realm(&realm).await?;
    let form = read_form(&req, payload, &state.settings).await?;
    if !csrf_ok(&req, &form) {
        return error_page("The sign-out form expired or was not sent from this site.");
    }
    let raw = form.get("request").unwrap_or("").to_string();
    match check_logout(&state, &realm, &raw).await? {
        Ok(request) => finish_logout(&state, &realm, &req, &request).await,
        Err(resp) => Ok(resp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly_except_loopback_ports() {
        let reg = "https://rp.example/cb";
        assert!(redirect_matches(reg, reg));
        for near_miss in [
            "https://rp.example/cb/",
            "https://rp.example/CB",
            "https://rp.example/cb/../cb",
            "https://rp.example:443/cb",
            "https://rp.example.evil.com/cb",
            "https://evil@rp.example/cb",
            "http://rp.example/cb",
            "https://rp.example/cb#x",
            "https://rp.example/cb?x=1",
        ] {
            assert!(!redirect_matches(reg, near_miss), "{near_miss}");
        }
        assert!(redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:53123/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:53123/other"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://localhost:53123/cb"
        ));
    }

    #[test]
    fn form_action_allows_the_redirect_uris_origin() {
        assert_eq!(
            form_action_source("https://rp.example/cb?x=1"),
            "https://rp.example"
        );
        assert_eq!(
            form_action_source("http://127.0.0.1:5000/callback"),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            form_action_source("https://user@rp.example:8443/cb"),
            "https://rp.example:8443"
        );
        // Not writable as a CSP host-source: the scheme alone.
        assert_eq!(form_action_source("http://[::1]:8080/cb"), "http:");
        assert_eq!(
            form_action_source("com.example.app:/cb"),
            "com.example.app:"
        );
        assert_eq!(form_action_source("no scheme"), "'none'");
    }

    #[test]
    fn response_modes_are_query_by_default_and_form_post() {
        assert_eq!(
            ResponseMode::parse(Some("form_post")),
            Some(ResponseMode::FormPost)
        );
        assert_eq!(ResponseMode::parse(None), Some(ResponseMode::Query));
        assert_eq!(
            ResponseMode::parse(Some("query")),
            Some(ResponseMode::Query)
        );
        for refused in ["fragment", "jwt", "query.jwt", "FORM_POST", ""] {
            assert_eq!(ResponseMode::parse(Some(refused)), None, "{refused}");
        }
    }
}
