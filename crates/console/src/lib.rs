//! The web console: server-rendered pages for API keys and administration.
//!
//! The console is a client like any other. It signs people in through the realm's own
//! authorization endpoint (authorization code + PKCE with the `portal` client), keeps the tokens
//! it receives in `HttpOnly` cookies, and performs every action by calling the resource API
//! with the person's access token over loopback. So every permission rule is checked once, by
//! the API, exactly as for a script; the console only decides what to *show* (decision 0011).

mod admin;
mod api;
mod error;
mod forms;
mod keys;
mod session;
mod ui;
mod view;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, middleware, web};
use std::sync::Arc;
use std::time::Duration;
use tessera_core::Clock;

pub use error::ConsoleError;

/// Where the console finds the issuer and the API, and how the browser reaches it.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// The URL browsers use for this server; redirect URIs are built on it.
    pub public_url: String,
    /// The issuer's URL as browsers reach it (authorization and logout endpoints).
    pub issuer_public_url: String,
    /// The issuer's URL as this process reaches it (the token endpoint); loopback when the
    /// issuer runs in this process, so the public URL need not be reachable from inside.
    pub issuer_internal_url: String,
    /// This process's own resource API, over loopback.
    pub api_internal_url: String,
    /// The realm `/console` opens.
    pub default_realm: String,
    /// Behind a trusted proxy, the browser's address is the last `X-Forwarded-For` entry
    /// (`issuer.trust_forwarded_headers`, one rule for the whole server).
    pub trust_forwarded_headers: bool,
    /// Shared with this process's resource API: the console sends it with the browser's
    /// address on every API call, so the audit log records the browser, not loopback.
    pub relay_secret: tessera_core::net::RelaySecret,
    /// How long a form body may take to arrive in full: then 408 and the connection closes.
    pub body_read_timeout: Duration,
}

/// Makes sure a realm's `portal` client accepts the console's callback and signed-out URIs
/// (given as arguments after the realm's name); called before each sign-in starts, so the
/// console of a realm created while the server runs works without a restart. Blocking: it
/// may write to the database.
pub type RegisterConsole = Arc<dyn Fn(&str, &str, &str) -> Result<(), String> + Send + Sync>;

/// Shared by every console request.
pub struct ConsoleState {
    settings: ConsoleSettings,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// The Content-Security-Policy of every page, computed once.
    csp: String,
    register: Option<RegisterConsole>,
}

impl ConsoleState {
    pub fn new(settings: ConsoleSettings, clock: Arc<dyn Clock>) -> Result<Self, ConsoleError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConsoleError::Upstream(format!("cannot build the HTTP client: {e}")))?;
        let issuer_origin = origin_of(&settings.issuer_public_url);
        // The sign-out form redirects to the issuer, which may be another origin (split
        // deployment); browsers apply form-action to that redirect.
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self' {issuer_origin}; frame-ancestors 'none'; base-uri 'none'"
        );
        Ok(Self {
            settings,
            http,
            clock,
            csp,
            register: None,
        })
    }

    /// Registers the console with a realm's `portal` on each sign-in start (see
    /// `RegisterConsole`); without it, the URIs must be registered beforehand.
    pub fn with_registration(mut self, register: RegisterConsole) -> Self {
        self.register = Some(register);
        self
    }

    /// Whether cookies must be `Secure`: whenever browsers reach us over https.
    fn secure_cookies(&self) -> bool {
        self.settings.public_url.starts_with("https://")
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The console's base path in a realm as browsers see it: [`base_path`] behind the path
    /// prefix of the public URL (`/auth/realms/{realm}/console` when mounted at `/auth`).
    /// Links, redirects and cookie paths use this one; routes use [`base_path`].
    fn public_base_path(&self, realm: &str) -> String {
        format!(
            "{}{}",
            tessera_core::net::path_prefix(&self.settings.public_url),
            base_path(realm)
        )
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => url[..after_scheme + i].to_string(),
        None => url.to_string(),
    }
}

/// The console's route in a realm, as this server sees requests (a proxy mounting Tessera under
/// a path strips that path first).
pub fn base_path(realm: &str) -> String {
    format!("/realms/{realm}/console")
}

/// The redirect URI the console registers with the realm's `portal` client.
pub fn callback_uri(public_url: &str, realm: &str) -> String {
    format!(
        "{}{}/callback",
        public_url.trim_end_matches('/'),
        base_path(realm)
    )
}

/// Where the issuer sends the browser after sign-out.
pub fn signed_out_uri(public_url: &str, realm: &str) -> String {
    format!(
        "{}{}/signed-out",
        public_url.trim_end_matches('/'),
        base_path(realm)
    )
}

/// Registers the console's routes; the app must carry `web::Data<ConsoleState>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(open_default_realm))
        .route("/console/", web::get().to(open_default_realm))
        .service(
            web::scope("/realms/{realm}/console")
                .wrap(middleware::from_fn(session::append_renewed_cookies))
                .wrap(middleware::from_fn(security_headers))
                .route("", web::get().to(keys::home))
                .route("/", web::get().to(keys::home))
                .route("/console.js", web::get().to(script))
                .configure(session::routes)
                .configure(keys::routes)
                .configure(admin::routes),
        );
}

async fn open_default_realm(state: web::Data<ConsoleState>) -> HttpResponse {
    view::see_other(&format!(
        "{}/",
        state.public_base_path(&state.settings.default_realm)
    ))
}

/// The copy button's few lines: served from our origin, so the CSP needs no inline script.
async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../../templates/console/console.js"))
}

/// The login page's headers on every console response: no framing, no referrer, our own
/// origin only.
async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let csp = req
        .app_data::<web::Data<ConsoleState>>()
        .map(|s| s.csp.clone());
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    if let Some(csp) = csp.and_then(|c| header::HeaderValue::from_str(&c).ok()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_console_uris() {
        assert_eq!(origin_of("https://id.example/realms"), "https://id.example");
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(
            callback_uri("http://127.0.0.1:8080/", "default"),
            "http://127.0.0.1:8080/realms/default/console/callback"
        );
        assert_eq!(
            signed_out_uri("https://id.example", "acme"),
            "https://id.example/realms/acme/console/signed-out"
        );
        // Under a path, the URIs keep it (the public URL carries it).
        assert_eq!(
            callback_uri("https://id.example/auth/", "default"),
            "https://id.example/auth/realms/default/console/callback"
        );
    }
}
