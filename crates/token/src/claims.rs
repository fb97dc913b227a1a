//! Claims of an RFC 9068 access token.

use serde::{Deserialize, Serialize};

/// The payload of our JWT access tokens (RFC 9068 §2.2). `iat`/`exp` are whole seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    /// Space-separated granted scopes; omitted when nothing was granted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}
