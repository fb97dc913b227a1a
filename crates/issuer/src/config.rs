//! What the issuer needs to know from the operator's configuration.

use serde::{Deserialize, Serialize};

/// Issuer settings; the server crate fills them from file, environment and flags.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IssuerSettings {
    /// Access-token lifetime in seconds.
    pub access_token_ttl_secs: i64,
    /// `aud` of access tokens: the resource server's URL. Empty: the public URL.
    pub access_token_audience: String,
    /// Largest token-endpoint request body, in bytes.
    pub max_form_bytes: usize,
    /// Seconds a client has to send a request's head (the first on a connection), and then
    /// again to send its body (issuer forms, API JSON, console forms): after that 408 and the
    /// connection is closed, so a client that stops sending does not hold a connection.
    pub read_timeout_secs: u64,
    /// Behind a reverse proxy, take the client address from `X-Forwarded-For`/`Forwarded`.
    /// Off by default: without a proxy those headers are the client's to forge.
    pub trust_forwarded_headers: bool,
    pub throttle: ThrottleSettings,
    /// How long cached realms and clients may be served before re-reading them.
    pub cache_ttl_secs: u64,
    /// Lifetime of a browser sign-in session (SSO), in seconds.
    pub session_ttl_secs: i64,
    /// A refresh token unused for this long expires (idle lifetime), in seconds.
    pub refresh_token_idle_ttl_secs: i64,
    /// No refresh token of a grant outlives this, however often it is used (absolute), in
    /// seconds; then the user signs in again.
    pub refresh_token_absolute_ttl_secs: i64,
    /// Lifetime of an authorization code, in seconds (RFC 6749 §4.1.2 recommends ≤ 600).
    pub code_ttl_secs: i64,
    /// `max-age` of the JWKS response. With the key reload interval it must fit in the key
    /// activation delay, so a verifier's cached JWKS always holds the key that signs.
    pub jwks_max_age_secs: u32,
    /// Clock skew allowed when checking `exp`/`iat`/`nbf` of access tokens (userinfo).
    pub token_leeway_secs: i64,
}

impl Default for IssuerSettings {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 300,
            access_token_audience: String::new(),
            max_form_bytes: 16 * 1024,
            read_timeout_secs: 10,
            trust_forwarded_headers: false,
            throttle: ThrottleSettings::default(),
            cache_ttl_secs: 5,
            session_ttl_secs: 8 * 3600,
            code_ttl_secs: 60,
            refresh_token_idle_ttl_secs: 7 * 86_400,
            refresh_token_absolute_ttl_secs: 30 * 86_400,
            jwks_max_age_secs: 240,
            token_leeway_secs: 30,
        }
    }
}

impl IssuerSettings {
    /// [`Self::read_timeout_secs`] as a duration.
    pub fn read_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.read_timeout_secs)
    }
}

/// Brute-force limits (docs/operations.md, "Brute-force throttling").
///
/// Password failures are counted per username *and client address* (`user_max_failures`
/// locks only that pair, so an attacker cannot lock the real user out from elsewhere), per
/// address (`address_max_failures`, across usernames), and per username across all addresses
/// (`user_global_max_failures`: no lock, a growing wait between attempts, at most
/// `user_global_max_delay_secs`). Client-secret failures are counted per address
/// (`client_max_failures`). A lock lasts `lockout_secs`; failures add up within `window_secs`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleSettings {
    pub window_secs: i64,
    pub user_max_failures: i64,
    pub user_global_max_failures: i64,
    pub user_global_max_delay_secs: i64,
    pub address_max_failures: i64,
    pub client_max_failures: i64,
    pub lockout_secs: i64,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            window_secs: 900,
            user_max_failures: 5,
            user_global_max_failures: 50,
            user_global_max_delay_secs: 60,
            address_max_failures: 20,
            client_max_failures: 20,
            lockout_secs: 300,
        }
    }
}
