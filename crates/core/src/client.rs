//! Per-client settings most clients leave at the server's defaults: the browser origins that
//! may call Tessera from script (CORS), token lifetimes, and where to send OIDC back-channel
//! logout tokens. Stored as one JSON object beside the client's registration.

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// Shortest and longest access-token lifetime a client may ask for, in seconds.
pub const ACCESS_TOKEN_TTL_RANGE: (i64, i64) = (10, 24 * 3600);
/// Shortest and longest refresh-token lifetime (idle or absolute) a client may ask for.
pub const REFRESH_TOKEN_TTL_RANGE: (i64, i64) = (60, 365 * 86_400);

/// The browser origins a response may be shared with (CORS), decided by the handler once it
/// knows the client, and read by the server's CORS layer when the response goes out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(pub Vec<String>);

/// Stands for "the origins of the client's redirect URIs" in `web_origins`, as in Keycloak.
pub const REDIRECT_ORIGINS: &str = "+";

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSettings {
    /// Browser origins (`https://app.example`) allowed to call the token, userinfo,
    /// revocation, introspection and REST endpoints from script; `+` adds the origins of the
    /// redirect URIs. Never `*`: an allowed origin sees responses carrying tokens.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub web_origins: Vec<String>,
    /// Overrides `issuer.access_token_ttl_secs` for this client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_ttl_secs: Option<i64>,
    /// Overrides `issuer.refresh_token_idle_ttl_secs` for this client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_idle_ttl_secs: Option<i64>,
    /// Overrides `issuer.refresh_token_absolute_ttl_secs` for this client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_absolute_ttl_secs: Option<i64>,
    /// OIDC Back-Channel Logout 1.0: where a logout token is POSTed when a session this client
    /// took part in ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
}

impl ClientSettings {
    /// Parses the stored JSON; a row written by an older version (`{}`) gives the defaults.
    /// Cheap for the usual `{}`: every token minted reads the client's lifetime.
    pub fn from_stored(json: &str) -> Self {
        if json == "{}" {
            return Self::default();
        }
        serde_json::from_str(json).unwrap_or_default()
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        for origin in &self.web_origins {
            if origin == REDIRECT_ORIGINS {
                continue;
            }
            if origin == "*" {
                return Err(ValidationError::new(
                    "web_origins",
                    "\"*\" is refused: any web page could read the tokens this client receives; list the origins, or \"+\" for those of the redirect URIs",
                ));
            }
            if origin_of(origin).as_deref() != Some(origin.as_str()) {
                return Err(ValidationError::new(
                    "web_origins",
                    format!(
                        "{origin:?} is not an origin; write scheme://host[:port] with no path or trailing slash, e.g. https://app.example.com"
                    ),
                ));
            }
        }
        in_range(
            "access_token_ttl_secs",
            self.access_token_ttl_secs,
            ACCESS_TOKEN_TTL_RANGE,
        )?;
        in_range(
            "refresh_token_idle_ttl_secs",
            self.refresh_token_idle_ttl_secs,
            REFRESH_TOKEN_TTL_RANGE,
        )?;
        in_range(
            "refresh_token_absolute_ttl_secs",
            self.refresh_token_absolute_ttl_secs,
            REFRESH_TOKEN_TTL_RANGE,
        )?;
        if let (Some(idle), Some(absolute)) = (
            self.refresh_token_idle_ttl_secs,
            self.refresh_token_absolute_ttl_secs,
        ) && idle > absolute
        {
            return Err(ValidationError::new(
                "refresh_token_idle_ttl_secs",
                format!("{idle} is longer than refresh_token_absolute_ttl_secs ({absolute})"),
            ));
        }
        if let Some(uri) = &self.backchannel_logout_uri {
            crate::names::validate_redirect_uri(uri)
                .map_err(|e| ValidationError::new("backchannel_logout_uri", e.message.clone()))?;
            if !(uri.starts_with("https://") || uri.starts_with("http://")) {
                return Err(ValidationError::new(
                    "backchannel_logout_uri",
                    format!("{uri:?}: the back-channel logout URI must be an https URL"),
                ));
            }
        }
        Ok(())
    }

    /// Whether a browser page at `origin` may read this client's responses.
    pub fn allows_origin(&self, origin: &str, redirect_uris: &[String]) -> bool {
        self.web_origins.iter().any(|o| {
            if o == REDIRECT_ORIGINS {
                redirect_uris
                    .iter()
                    .any(|r| origin_of(r).as_deref() == Some(origin))
            } else {
                o == origin
            }
        })
    }

    /// Every origin this client allows, with `+` resolved.
    pub fn origins(&self, redirect_uris: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for o in &self.web_origins {
            if o == REDIRECT_ORIGINS {
                out.extend(redirect_uris.iter().filter_map(|r| origin_of(r)));
            } else {
                out.push(o.clone());
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

fn in_range(
    field: &str,
    value: Option<i64>,
    (min, max): (i64, i64),
) -> Result<(), ValidationError> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(ValidationError::new(
            field,
            format!(
                "{v} is out of range; use {min} to {max} seconds, or leave it out for the server's default"
            ),
        )),
        _ => Ok(()),
    }
}

/// The origin (`scheme://host[:port]`, lowercase scheme and host) of an http(s) URL, as a
/// browser sends it in `Origin`; `None` for other schemes or malformed URLs.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty()
        || authority.contains('@')
        || authority
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(origins: &[&str]) -> ClientSettings {
        ClientSettings {
            web_origins: origins.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert_eq!(
            origin_of("https://App.Example.com/cb?x=1").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:5173/").as_deref(),
            Some("http://127.0.0.1:5173")
        );
        assert_eq!(
            origin_of("https://a.example:443/x").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(origin_of("com.example.app:/cb"), None);
        assert_eq!(origin_of("https://user@evil.example/"), None);
        assert!(settings(&["https://app.example"]).validate().is_ok());
        assert!(settings(&["https://app.example/"]).validate().is_err());
        assert!(settings(&["*"]).validate().is_err());
        assert!(settings(&["app.example"]).validate().is_err());
        assert!(settings(&["+"]).validate().is_ok());
    }

    #[test]
    fn plus_stands_for_the_redirect_uris_origins() {
        let redirects = vec!["https://app.example/cb".to_string()];
        let s = settings(&["+", "https://other.example"]);
        assert!(s.allows_origin("https://app.example", &redirects));
        assert!(s.allows_origin("https://other.example", &redirects));
        assert!(!s.allows_origin("https://evil.example", &redirects));
        assert!(!settings(&[]).allows_origin("https://app.example", &redirects));
        assert_eq!(
            s.origins(&redirects),
            vec!["https://app.example", "https://other.example"]
        );
    }

    #[test]
    fn lifetimes_stay_in_range_and_idle_within_absolute() {
        let mut s = ClientSettings {
            access_token_ttl_secs: Some(5),
            ..Default::default()
        };
        assert!(s.validate().is_err());
        s.access_token_ttl_secs = Some(60);
        s.refresh_token_idle_ttl_secs = Some(7200);
        s.refresh_token_absolute_ttl_secs = Some(3600);
        assert!(s.validate().is_err());
        s.refresh_token_absolute_ttl_secs = Some(86_400);
        assert!(s.validate().is_ok());
        assert_eq!(ClientSettings::from_stored(&s.to_stored()), s);
        assert_eq!(ClientSettings::from_stored("{}"), ClientSettings::default());
    }
}
