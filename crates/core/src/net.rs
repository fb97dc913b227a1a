//! Where a request comes from, behind an optional trusted proxy.

use std::net::IpAddr;
use std::sync::Arc;

/// The client's address: the TCP peer, or — when the operator said a trusted proxy sits in
/// front — the last address in `X-Forwarded-For`, the one that proxy appended (earlier entries
/// are the client's to forge). One rule for every throttle, the sign-in form and the audit
/// log, so they never disagree about who a client is.
pub fn client_address<'a>(
    peer: Option<IpAddr>,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trust_forwarded: bool,
) -> Option<IpAddr> {
    if trust_forwarded
        && let Some(last) = forwarded_for.into_iter().flat_map(|v| v.split(',')).last()
        && let Ok(ip) = last.trim().parse::<IpAddr>()
    {
        return Some(ip);
    }
    peer
}

/// The path part of a public URL, without its trailing slash: `/auth` for
/// `https://id.example/auth/`, empty for `https://id.example`. Tessera routes on unprefixed
/// paths (a proxy mounting it under a path strips the prefix), but every path it hands a
/// browser — form actions, redirects, cookie paths, console links — starts with this prefix.
pub fn path_prefix(public_url: &str) -> &str {
    let after_scheme = public_url.find("://").map_or(0, |i| i + 3);
    match public_url[after_scheme..].find('/') {
        Some(i) => public_url[after_scheme + i..].trim_end_matches('/'),
        None => "",
    }
}

/// The header in which the in-process console tells the resource API whose request it is
/// relaying: the browser's address, as the console determined it by [`client_address`].
pub const RELAYED_CLIENT_HEADER: &str = "x-tessera-relayed-client";
/// The header carrying the [`RelaySecret`] that makes [`RELAYED_CLIENT_HEADER`] believed.
pub const RELAY_SECRET_HEADER: &str = "x-tessera-relay-secret";

/// A random secret made at start-up and known only to the console and the resource API of
/// one process (the console calls that API over loopback, ADR 0011). A request carrying it was
/// sent by the console, so its relayed client address can be believed; any other caller
/// cannot name an address. Never logged: `Debug` does not show it.
#[derive(Clone)]
pub struct RelaySecret(Arc<str>);

impl RelaySecret {
    /// 256 fresh random bits.
    pub fn generate() -> Self {
        Self(crate::id::random_token::<32>().into())
    }

    /// The value to send in [`RELAY_SECRET_HEADER`].
    pub fn value(&self) -> &str {
        &self.0
    }

    /// The address relayed by a request: `relayed` when `sent` is this secret (compared in
    /// constant time) and `relayed` is a bare IP address; `None` otherwise, and the caller
    /// uses the request's own address.
    pub fn relayed_address(&self, sent: Option<&str>, relayed: Option<&str>) -> Option<IpAddr> {
        let sent = sent?;
        if !crate::secret::constant_time_eq(sent.as_bytes(), self.0.as_bytes()) {
            return None;
        }
        relayed?.trim().parse().ok()
    }
}

impl std::fmt::Debug for RelaySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RelaySecret(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_prefix_of_a_public_url() {
        assert_eq!(path_prefix("https://id.example"), "");
        assert_eq!(path_prefix("https://id.example/"), "");
        assert_eq!(path_prefix("http://127.0.0.1:8080"), "");
        assert_eq!(path_prefix("https://127.0.0.1:8443/auth"), "/auth");
        assert_eq!(path_prefix("https://id.example/a/b/"), "/a/b");
        assert_eq!(path_prefix(""), "");
    }

    #[test]
    fn the_last_forwarded_entry_counts_only_when_trusted() {
        let peer: Option<IpAddr> = "10.0.0.1".parse().ok();
        let header = ["198.51.100.7, 203.0.113.9"];
        let proxied: Option<IpAddr> = "203.0.113.9".parse().ok();
        assert_eq!(client_address(peer, header, true), proxied);
        assert_eq!(client_address(peer, header, false), peer);
        assert_eq!(client_address(peer, ["garbage"], true), peer);
        assert_eq!(client_address(peer, [], true), peer);
        // Two header lines: the last line's last entry.
        assert_eq!(
            client_address(peer, ["1.1.1.1", "203.0.113.9"], true),
            proxied
        );
    }

    #[test]
    fn a_relayed_address_is_believed_only_with_the_secret() {
        let secret = RelaySecret::generate();
        let other = RelaySecret::generate();
        let relayed: Option<IpAddr> = "198.51.100.4".parse().ok();
        let value = Some(secret.value());
        assert_eq!(secret.relayed_address(value, Some("198.51.100.4")), relayed);
        assert_eq!(
            secret.relayed_address(Some(other.value()), Some("198.51.100.4")),
            None
        );
        assert_eq!(secret.relayed_address(None, Some("198.51.100.4")), None);
        assert_eq!(secret.relayed_address(Some(""), Some("198.51.100.4")), None);
        assert_eq!(secret.relayed_address(value, Some("not an address")), None);
        assert_eq!(secret.relayed_address(value, None), None);
        assert_eq!(secret.value().len(), 43);
        assert!(!format!("{secret:?}").contains(secret.value()));
    }
}

/// Whether `public_url`'s host is a DNS name (not an IP literal): WebAuthn relying-party ids
/// must be domain names, so passkeys need one (`localhost` counts).
pub fn has_dns_host(public_url: &str) -> bool {
    let rest = public_url.split_once("://").map_or(public_url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.starts_with('[') {
        return false;
    }
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    !host.is_empty() && host.parse::<std::net::IpAddr>().is_err()
}

#[cfg(test)]
mod dns_host_tests {
    #[test]
    fn ip_literals_are_not_dns_hosts() {
        assert!(super::has_dns_host("http://localhost:8080"));
        assert!(super::has_dns_host("https://auth.example.com/prefix"));
        assert!(!super::has_dns_host("http://127.0.0.1:8080"));
        assert!(!super::has_dns_host("http://[::1]:8080/x"));
    }
}
