//! The resource server's one error type and its HTTP mapping: the JSON of seed 001
//! (`{"error": …, "error_description": …}`, plus `field` on bad input) with RFC 6750
//! challenges on 401 and 403.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use std::fmt;
use tessera_core::ValidationError;
use tessera_store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    /// No credentials at all: 401 with a bare `Bearer` challenge (RFC 6750 §3.1).
    MissingToken,
    /// Credentials that do not authenticate: 401 `invalid_token`.
    InvalidToken(String),
    /// Authenticated, but lacking `permission`: 403 `insufficient_scope`.
    InsufficientScope(String),
    /// A write that would grant what the credential in use does not hold: 403
    /// `insufficient_scope` naming those permissions.
    Escalation(tessera_core::grant::Escalation),
    /// Authenticated, but this kind of credential or caller may never do this (an API key
    /// changing a password, one user acting on another's password): 403 `access_denied`.
    Forbidden(String),
    /// Too many failed password attempts: 429 with `Retry-After` (docs/operations.md,
    /// "Brute-force throttling").
    Throttled {
        retry_after_secs: i64,
    },
    /// Bad input: 400 `invalid_request`, naming the field.
    BadRequest {
        field: String,
        message: String,
    },
    NotFound(String),
    Conflict(String),
    /// A body over the limit: 413.
    PayloadTooLarge(usize),
    /// A body that did not all arrive within this many seconds: 408, and the connection
    /// closes.
    BodyTimeout(u64),
    Unavailable(String),
    /// The issuer (its JWKS or token endpoint) cannot be reached: 503.
    IssuerUnreachable(String),
    Internal(String),
}

impl ApiError {
    pub fn bad(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadRequest {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingToken => write!(f, "missing bearer token"),
            Self::InvalidToken(m) => write!(f, "invalid token: {m}"),
            Self::InsufficientScope(p) => write!(f, "missing permission {p}"),
            Self::Escalation(e) => write!(f, "{e}"),
            Self::Forbidden(m) => write!(f, "forbidden: {m}"),
            Self::Throttled { retry_after_secs } => {
                write!(f, "throttled for {retry_after_secs}s")
            }
            Self::BadRequest { field, message } => write!(f, "{field}: {message}"),
            Self::NotFound(m) => write!(f, "{m} not found"),
            Self::Conflict(m) => write!(f, "conflict: {m}"),
            Self::PayloadTooLarge(n) => write!(f, "body over {n} bytes"),
            Self::BodyTimeout(secs) => write!(f, "body not received within {secs}s"),
            Self::Unavailable(m) => write!(f, "unavailable: {m}"),
            Self::IssuerUnreachable(m) => write!(f, "issuer unreachable: {m}"),
            Self::Internal(m) => write!(f, "internal: {m}"),
        }
    }
}

impl From<tessera_core::grant::Escalation> for ApiError {
    fn from(e: tessera_core::grant::Escalation) -> Self {
        Self::Escalation(e)
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::BadRequest {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(v) => v.into(),
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::NotFound(m) => Self::NotFound(m),
            StoreError::Connection(m) => Self::Unavailable(m),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Internal(e.to_string())
    }
}

fn body(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "error": error,
            "error_description": tessera_core::error::wire_safe(description),
        }))
}

/// A 400 `invalid_request` that names its field twice: in the description (`field: message`,
/// for people) and as `field` (for programs, such as the console putting it next to an input).
fn bad_request_body(status: StatusCode, field: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "error": "invalid_request",
            "error_description": tessera_core::error::wire_safe(&format!("{field}: {message}")),
            "field": tessera_core::error::wire_safe(field),
        }))
}

fn with_challenge(mut resp: HttpResponse, challenge: String) -> HttpResponse {
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) | Self::Escalation(_) | Self::Forbidden(_) => {
                StatusCode::FORBIDDEN
            }
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable(_) | Self::IssuerUnreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Self::MissingToken => with_challenge(
                body(
                    status,
                    "invalid_token",
                    "this endpoint needs Authorization: Bearer <access token or API key>",
                ),
                "Bearer realm=\"tessera\"".into(),
            ),
            Self::InvalidToken(d) => with_challenge(
                body(status, "invalid_token", d),
                format!(
                    "Bearer realm=\"tessera\", error=\"invalid_token\", error_description=\"{}\"",
                    tessera_core::error::wire_safe(d)
                ),
            ),
            Self::InsufficientScope(p) => {
                let d = format!("this request needs the {p} permission");
                with_challenge(
                    body(status, "insufficient_scope", &d),
                    format!(
                        "Bearer realm=\"tessera\", error=\"insufficient_scope\", scope=\"{}\"",
                        tessera_core::error::wire_safe(p)
                    ),
                )
            }
            Self::Escalation(e) => {
                let missing: Vec<&str> = e.missing.iter().map(String::as_str).collect();
                with_challenge(
                    body(status, "insufficient_scope", &e.to_string()),
                    format!(
                        "Bearer realm=\"tessera\", error=\"insufficient_scope\", scope=\"{}\"",
                        tessera_core::error::wire_safe(&missing.join(" "))
                    ),
                )
            }
            Self::Forbidden(m) => body(status, "access_denied", m),
            Self::Throttled { retry_after_secs } => {
                let mut resp = body(
                    status,
                    "too_many_attempts",
                    &format!(
                        "too many failed password attempts; try again in {retry_after_secs} seconds"
                    ),
                );
                if let Ok(v) = HeaderValue::from_str(&(*retry_after_secs).max(1).to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
                resp
            }
            Self::BadRequest { field, message } => bad_request_body(status, field, message),
            Self::NotFound(what) => body(status, "not_found", &format!("{what} does not exist")),
            Self::Conflict(m) => body(status, "conflict", m),
            Self::PayloadTooLarge(n) => body(
                status,
                "invalid_request",
                &format!("the request body is larger than {n} bytes"),
            ),
            Self::BodyTimeout(secs) => {
                let mut resp = body(
                    status,
                    "invalid_request",
                    &format!(
                        "body: did not arrive within {secs} seconds; send all of it (as many bytes as Content-Length says) at once"
                    ),
                );
                // The rest of the body may still come: it must not be read as a request.
                resp.head_mut()
                    .set_connection_type(actix_web::http::ConnectionType::Close);
                resp
            }
            Self::Unavailable(detail) => {
                tracing::error!(%detail, "database unavailable");
                body(
                    status,
                    "temporarily_unavailable",
                    "the server cannot reach its database; retry shortly",
                )
            }
            Self::IssuerUnreachable(detail) => {
                tracing::error!(%detail, "issuer unreachable");
                body(
                    status,
                    "temporarily_unavailable",
                    "the server cannot reach the token issuer; retry shortly",
                )
            }
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                body(status, "server_error", "internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc6750() {
        let r = ApiError::InvalidToken("the token has expired".into()).error_response();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer realm=\"tessera\", error=\"invalid_token\", error_description=\"the token has expired\""
        );
        let r = ApiError::InsufficientScope("api_key:create".into()).error_response();
        assert_eq!(r.status(), 403);
        assert_eq!(
            r.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer realm=\"tessera\", error=\"insufficient_scope\", scope=\"api_key:create\""
        );
        let r = ApiError::MissingToken.error_response();
        let challenge = r
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(!challenge.contains("error="));
    }

    #[actix_web::test]
    async fn bad_input_names_its_field_in_the_description_and_apart() {
        let r = ApiError::bad("team_roles[0].role_id", "no such role").error_response();
        assert_eq!(r.status(), 400);
        let bytes = actix_web::body::to_bytes(r.into_body()).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "error": "invalid_request",
                "error_description": "team_roles[0].role_id: no such role",
                "field": "team_roles[0].role_id",
            })
        );
        let r = ApiError::Conflict("taken".into()).error_response();
        let bytes = actix_web::body::to_bytes(r.into_body()).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!(json.get("field").is_none(), "{json}");
    }
}
