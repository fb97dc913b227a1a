//! Where a request comes from, behind an optional trusted proxy.

use std::net::IpAddr;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
