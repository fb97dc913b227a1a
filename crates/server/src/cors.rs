//! CORS for browser apps (Keycloak's "Web Origins"): which endpoints a page on another origin
//! may call from script, and whose responses it may read.
//!
//! - Public documents (discovery, JWKS, realm info) may be read by any origin.
//! - Token, introspection, revocation, userinfo and the REST API share a response only with
//!   the `web_origins` of the client the request turned out to be for: the handler records
//!   them ([`AllowedOrigins`]) once it knows the client, and this layer adds the headers.
//! - A preflight names no client, so it is answered for any origin some enabled client
//!   allows; others get a 403 saying so. Reading the response stays per client.
//! - Never the authorization, sign-in, logout or console pages (RFC 9700 §4.16: those are
//!   navigations, not API calls).

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera_core::client::AllowedOrigins;
use tessera_store::Database;

/// What a path is to CORS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Readable by any origin.
    Public,
    /// Shared with the client's web origins; the methods a preflight may ask for.
    PerClient(&'static str),
    /// No CORS at all.
    None,
}

fn kind_of(path: &str) -> Kind {
    const OIDC: &str = "/protocol/openid-connect/";
    if path.starts_with("/api/") || path.starts_with("/v1/") {
        return Kind::PerClient("GET, POST, PUT, PATCH, DELETE");
    }
    if path == "/oauth/token" {
        return Kind::PerClient("POST");
    }
    if path.starts_with("/.well-known/") {
        return Kind::Public;
    }
    let Some(rest) = path.strip_prefix("/realms/") else {
        return Kind::None;
    };
    let Some((_realm, tail)) = rest.split_once('/') else {
        // `/realms/{realm}`: Keycloak's realm info document.
        return Kind::Public;
    };
    let tail = format!("/{tail}");
    if tail.starts_with("/.well-known/") {
        return Kind::Public;
    }
    match tail.strip_prefix(OIDC) {
        Some("certs") => Kind::Public,
        Some("token" | "token/introspect" | "revoke") => Kind::PerClient("POST"),
        Some("userinfo") => Kind::PerClient("GET, POST"),
        _ => Kind::None,
    }
}

/// Request headers a browser app may send.
const ALLOWED_HEADERS: &str = "Authorization, Content-Type, Accept, Accept-Language, DPoP";
/// Response headers a browser app may read beyond the safelisted ones.
const EXPOSED_HEADERS: &str = "WWW-Authenticate, Retry-After, Location";
/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE_SECS: &str = "600";

/// The origins some enabled client allows, re-read at most every `ttl`.
pub struct KnownOrigins {
    db: Database,
    ttl: Duration,
    cached: Mutex<Option<(Instant, Arc<Vec<String>>)>>,
}

impl KnownOrigins {
    pub fn new(db: Database, ttl: Duration) -> Self {
        Self {
            db,
            ttl,
            cached: Mutex::new(None),
        }
    }

    async fn contains(&self, origin: &str) -> Result<bool, actix_web::Error> {
        let fresh = self
            .cached
            .lock()
            .ok()
            .and_then(|c| c.clone())
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, o)| o);
        let origins = match fresh {
            Some(o) => o,
            None => {
                let db = self.db.clone();
                let loaded = web::block(move || {
                    let mut conn = db.conn()?;
                    tessera_store::clients::all_web_origins(&mut conn)
                })
                .await
                .map_err(actix_web::error::ErrorServiceUnavailable)?
                .map_err(actix_web::error::ErrorServiceUnavailable)?;
                let loaded = Arc::new(loaded);
                if let Ok(mut c) = self.cached.lock() {
                    *c = Some((Instant::now(), Arc::clone(&loaded)));
                }
                loaded
            }
        };
        Ok(origins.iter().any(|o| o == origin))
    }
}

/// The middleware (`actix_web::middleware::from_fn`).
pub async fn cors(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_string)
    else {
        return next.call(req).await;
    };
    let kind = kind_of(req.path());
    let preflight = req.method() == actix_web::http::Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    match (kind, preflight) {
        (Kind::None, _) => next.call(req).await,
        (Kind::Public, true) => Ok(req.into_response(preflight_answer("*", "GET"))),
        (Kind::PerClient(methods), true) => {
            let answer = per_client_preflight(&req, &origin, methods).await?;
            Ok(req.into_response(answer))
        }
        (Kind::Public, false) => {
            let mut res = next.call(req).await?;
            let h = res.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            Ok(res)
        }
        (Kind::PerClient(_), false) => {
            let mut res = next.call(req).await?;
            allow_if_listed(&mut res, &origin);
            Ok(res)
        }
    }
}

/// A preflight to a per-client endpoint: allowed for an origin some client lists, else 403
/// saying where to add it.
async fn per_client_preflight(
    req: &ServiceRequest,
    origin: &str,
    methods: &'static str,
) -> Result<HttpResponse, actix_web::Error> {
    let known = match req.app_data::<web::Data<KnownOrigins>>() {
        Some(k) => k.contains(origin).await?,
        None => false,
    };
    if known {
        return Ok(preflight_answer(origin, methods));
    }
    Ok(HttpResponse::Forbidden()
        .insert_header((header::VARY, "Origin"))
        .content_type("text/plain; charset=utf-8")
        .body(format!(
            "CORS: origin {origin} is not in any client's web_origins; add it to the web_origins of the client this page uses"
        )))
}

/// Allows `origin` on a per-client answer when the handler found it among the authenticated
/// client's `web_origins` ([`AllowedOrigins`]); the answer varies by origin either way.
fn allow_if_listed(res: &mut ServiceResponse<BoxBody>, origin: &str) {
    let allowed = res
        .request()
        .extensions()
        .get::<AllowedOrigins>()
        .is_some_and(|a| a.0.iter().any(|o| o == origin));
    let h = res.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if allowed && let Ok(value) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
}

fn preflight_answer(origin: &str, methods: &'static str) -> HttpResponse {
    let mut answer = HttpResponse::NoContent();
    answer
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, methods))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE_SECS))
        .insert_header((
            header::VARY,
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ));
    answer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_api_endpoints_share_per_client_and_never_the_browser_pages() {
        assert_eq!(
            kind_of("/realms/default/protocol/openid-connect/token"),
            Kind::PerClient("POST")
        );
        assert_eq!(
            kind_of("/realms/x/protocol/openid-connect/userinfo"),
            Kind::PerClient("GET, POST")
        );
        assert_eq!(
            kind_of("/realms/x/protocol/openid-connect/token/introspect"),
            Kind::PerClient("POST")
        );
        assert_eq!(
            kind_of("/api/v1/users"),
            Kind::PerClient("GET, POST, PUT, PATCH, DELETE")
        );
        assert_eq!(
            kind_of("/realms/x/protocol/openid-connect/certs"),
            Kind::Public
        );
        assert_eq!(
            kind_of("/realms/x/.well-known/openid-configuration"),
            Kind::Public
        );
        assert_eq!(kind_of("/realms/x"), Kind::Public);
        assert_eq!(
            kind_of("/realms/x/protocol/openid-connect/auth"),
            Kind::None
        );
        assert_eq!(kind_of("/oauth/authorize"), Kind::None);
        assert_eq!(
            kind_of("/realms/x/protocol/openid-connect/logout"),
            Kind::None
        );
        assert_eq!(kind_of("/realms/x/login-actions/authenticate"), Kind::None);
        assert_eq!(kind_of("/realms/x/console/"), Kind::None);
    }
}
