//! Rules for the names people choose: realms, clients, teams, roles. Usernames have their
//! own module, [`crate::username`].

use crate::error::ValidationError;

/// A realm name appears in URLs (`/realms/{realm}`), so it is a lowercase slug.
pub fn validate_realm_name(name: &str) -> Result<(), ValidationError> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "realm",
            format!(
                "{name:?} is not a realm name; use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
            ),
        ))
    }
}

/// A client id travels in Basic credentials and form bodies; keep it to unreserved-ish ASCII.
pub fn validate_client_id(client_id: &str) -> Result<(), ValidationError> {
    let ok = (1..=128).contains(&client_id.len())
        && client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':'));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "client_id",
            format!(
                "{client_id:?} is not a client id; use 1-128 letters, digits, '-', '_', '.', '~' or ':'"
            ),
        ))
    }
}

/// Display names (teams, roles, keys, clients): non-empty after trimming, at most 200
/// characters, no control characters.
pub fn validate_display_name(field: &str, name: &str) -> Result<(), ValidationError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(ValidationError::new(
            field,
            "must be at most 200 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A redirect URI must be absolute, without a fragment; plain http only for loopback hosts
/// (RFC 8252 §7.3, RFC 9700 §2.1).
pub fn validate_redirect_uri(uri: &str) -> Result<(), ValidationError> {
    let field = "redirect_uris";
    let rest = if let Some(rest) = uri.strip_prefix("https://") {
        rest
    } else if let Some(rest) = uri.strip_prefix("http://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let host_only = if host.starts_with('[') {
            host.split(']')
                .next()
                .map(|h| format!("{h}]"))
                .unwrap_or_default()
        } else {
            host.split(':').next().unwrap_or("").to_string()
        };
        if !matches!(host_only.as_str(), "127.0.0.1" | "[::1]" | "localhost") {
            return Err(ValidationError::new(
                field,
                format!("{uri:?}: plain http is allowed only for loopback hosts; use https"),
            ));
        }
        rest
    } else if uri.contains("://") || uri.contains(":/") {
        // Private-use schemes of native apps (RFC 8252 §7.1), e.g. com.example.app:/cb
        uri.split_once(':').map_or("", |(_, r)| r)
    } else {
        return Err(ValidationError::new(
            field,
            format!("{uri:?} is not an absolute URI"),
        ));
    };
    if rest.is_empty()
        || uri.contains('#')
        || uri.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ValidationError::new(
            field,
            format!("{uri:?}: a redirect URI must be absolute, without a fragment or spaces"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realm_names_are_slugs() {
        assert!(validate_realm_name("default").is_ok());
        assert!(validate_realm_name("acme-prod_2").is_ok());
        for bad in ["", "Default", "-x", "a b", "a/b", &"x".repeat(64)] {
            assert!(validate_realm_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_ids() {
        assert!(validate_client_id("svc").is_ok());
        assert!(validate_client_id("urn:acme:svc-1").is_ok());
        assert!(validate_client_id("has space").is_err());
        assert!(validate_client_id("").is_err());
    }

    #[test]
    fn display_names() {
        assert!(validate_display_name("name", "CI key").is_ok());
        assert_eq!(
            validate_display_name("name", "  ").unwrap_err().field,
            "name"
        );
        assert!(validate_display_name("name", &"x".repeat(201)).is_err());
        assert!(validate_display_name("name", "a\nb").is_err());
    }

    #[test]
    fn redirect_uris() {
        assert!(validate_redirect_uri("https://rp.example/cb").is_ok());
        assert!(validate_redirect_uri("https://rp.example/cb2?foo=bar").is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1/cb").is_ok());
        assert!(validate_redirect_uri("http://localhost:8080/cb").is_ok());
        assert!(validate_redirect_uri("com.example.app:/cb").is_ok());
        assert!(validate_redirect_uri("http://rp.example/cb").is_err());
        assert!(validate_redirect_uri("http://127.0.0.1.evil.com/cb").is_err());
        assert!(validate_redirect_uri("https://rp.example/cb#frag").is_err());
        assert!(validate_redirect_uri("/relative").is_err());
    }
}
