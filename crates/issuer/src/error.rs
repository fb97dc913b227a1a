//! The issuer's one error type, and its mapping to HTTP in one place. Token-endpoint errors are
//! RFC 6749 §5.2 JSON with `Cache-Control: no-store`; nothing internal reaches the client.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use std::fmt;
use tessera_store::StoreError;
use tessera_token::TokenError;

/// An OAuth error code (RFC 6749 §5.2 and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
}

impl OAuthCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
        }
    }
}

#[derive(Debug)]
pub enum IssuerError {
    /// An OAuth error answered with 400 (or 401 for `invalid_client`).
    OAuth {
        code: OAuthCode,
        description: String,
        /// `WWW-Authenticate: Basic realm="…"`: set for every `invalid_client`.
        basic_realm: Option<String>,
    },
    /// Too many failures: 429 with `Retry-After`, without checking the credentials.
    Throttled {
        code: OAuthCode,
        retry_after_secs: i64,
    },
    NotFound(String),
    MethodNotAllowed(&'static str),
    PayloadTooLarge(usize),
    /// The body did not all arrive within this many seconds: 408, and the connection closes.
    BodyTimeout(u64),
    /// The database cannot be reached: 503, the client may retry.
    Unavailable(String),
    /// A bug or an environment failure: logged in full, answered without detail.
    Internal(String),
}

impl IssuerError {
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::oauth(OAuthCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::oauth(OAuthCode::InvalidGrant, description)
    }

    pub fn oauth(code: OAuthCode, description: impl Into<String>) -> Self {
        Self::OAuth {
            code,
            description: description.into(),
            basic_realm: None,
        }
    }

    /// `invalid_client`: always 401 with a Basic challenge (RFC 6749 §5.2).
    pub fn invalid_client(realm: &str, description: impl Into<String>) -> Self {
        Self::OAuth {
            code: OAuthCode::InvalidClient,
            description: description.into(),
            basic_realm: Some(realm.to_string()),
        }
    }
}

impl IssuerError {
    /// The `result` label of this error in the token metrics: the OAuth error code, or
    /// `throttled`, `not_found`, `invalid_request` (a body too large or too slow) or
    /// `server_error`.
    pub fn metric_result(&self) -> &'static str {
        match self {
            Self::OAuth { code, .. } => code.as_str(),
            Self::Throttled { .. } => "throttled",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) | Self::PayloadTooLarge(_) | Self::BodyTimeout(_) => {
                "invalid_request"
            }
            Self::Unavailable(_) | Self::Internal(_) => "server_error",
        }
    }
}

impl fmt::Display for IssuerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OAuth {
                code, description, ..
            } => write!(f, "{}: {description}", code.as_str()),
            Self::Throttled {
                code,
                retry_after_secs,
            } => write!(f, "{}: throttled for {retry_after_secs}s", code.as_str()),
            Self::NotFound(what) => write!(f, "not found: {what}"),
            Self::MethodNotAllowed(allowed) => write!(f, "method not allowed; use {allowed}"),
            Self::PayloadTooLarge(limit) => write!(f, "body over {limit} bytes"),
            Self::BodyTimeout(secs) => write!(f, "body not received within {secs}s"),
            Self::Unavailable(m) => write!(f, "unavailable: {m}"),
            Self::Internal(m) => write!(f, "internal: {m}"),
        }
    }
}

impl From<StoreError> for IssuerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Connection(m) => Self::Unavailable(m),
            StoreError::Invalid(v) => Self::invalid_request(v.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<TokenError> for IssuerError {
    fn from(e: TokenError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<actix_web::error::BlockingError> for IssuerError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Internal(e.to_string())
    }
}

/// An OAuth error; a client-authentication failure names the Basic realm to authenticate in.
fn oauth_error(
    status: StatusCode,
    code: &OAuthCode,
    description: &str,
    basic_realm: Option<&str>,
) -> HttpResponse {
    let mut resp = json_error(status, code.as_str(), description);
    if let Some(realm) = basic_realm
        && let Ok(v) = HeaderValue::from_str(&format!(
            "Basic realm=\"{}\", charset=\"UTF-8\"",
            realm.replace(['"', '\\'], "")
        ))
    {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

fn throttled(status: StatusCode, code: &OAuthCode, retry_after_secs: i64) -> HttpResponse {
    let mut resp = json_error(
        status,
        code.as_str(),
        &format!("too many failed attempts; retry after {retry_after_secs} seconds"),
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    resp
}

fn method_not_allowed(status: StatusCode, allowed: &str) -> HttpResponse {
    let mut resp = json_error(
        status,
        "invalid_request",
        &format!("this endpoint accepts {allowed} only"),
    );
    if let Ok(v) = HeaderValue::from_str(allowed) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp
}

fn body_timeout(status: StatusCode, secs: u64) -> HttpResponse {
    let mut resp = json_error(
        status,
        "invalid_request",
        &format!(
            "the request body did not arrive within {secs} seconds; send all of it (as many bytes as Content-Length says) at once"
        ),
    );
    // The rest of the body may still come: it must not be read as a request.
    resp.head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    resp
}

fn json_error(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    let body = serde_json::json!({
        "error": error,
        "error_description": tessera_core::error::wire_safe(description),
    });
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

impl ResponseError for IssuerError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::OAuth {
                code: OAuthCode::InvalidClient,
                ..
            } => StatusCode::UNAUTHORIZED,
            Self::OAuth { .. } => StatusCode::BAD_REQUEST,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Self::OAuth {
                code,
                description,
                basic_realm,
            } => oauth_error(status, code, description, basic_realm.as_deref()),
            Self::Throttled {
                code,
                retry_after_secs,
            } => throttled(status, code, *retry_after_secs),
            Self::NotFound(what) => {
                json_error(status, "not_found", &format!("{what} does not exist"))
            }
            Self::MethodNotAllowed(allowed) => method_not_allowed(status, allowed),
            Self::PayloadTooLarge(limit) => json_error(
                status,
                "invalid_request",
                &format!("the request body is larger than {limit} bytes"),
            ),
            Self::BodyTimeout(secs) => body_timeout(status, *secs),
            Self::Unavailable(detail) => {
                tracing::error!(%detail, "database unavailable");
                json_error(
                    status,
                    "temporarily_unavailable",
                    "the server cannot reach its database; retry shortly",
                )
            }
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                json_error(status, "server_error", "internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_stay_within_the_rfc_charset() {
        assert_eq!(
            tessera_core::error::wire_safe("bad \"x\"\n\\ é"),
            "bad 'x'?/ ?"
        );
    }

    #[test]
    fn invalid_client_is_401_with_a_basic_challenge() {
        let resp = IssuerError::invalid_client("default", "nope").error_response();
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Basic realm=\"default\", charset=\"UTF-8\""
        );
        assert_eq!(
            resp.headers().get(header::CACHE_CONTROL).unwrap(),
            "no-store"
        );
    }

    #[test]
    fn throttled_says_when_to_retry() {
        let resp = IssuerError::Throttled {
            code: OAuthCode::InvalidGrant,
            retry_after_secs: 42,
        }
        .error_response();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers().get(header::RETRY_AFTER).unwrap(), "42");
    }
}
