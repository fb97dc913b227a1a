//! Access tokens whose signature was already checked, so that a client sending the same JWT
//! again skips the ES256/RS256 verification (~60–70 µs each, most of a request's cost).
//!
//! A hit is served only when everything the verifier would check still holds:
//! - the entry is keyed by the SHA-256 of the exact token string;
//! - the key set that verified it is still the one in use for its realm (the same
//!   `JwksVerifier`: a rotated or refetched JWKS sends every token back to full verification);
//! - `iss` and `aud` are what this resource server accepts, and `exp`/`nbf`/`iat` hold at the
//!   current time with the same leeway as verification.
//!
//! Anything else falls back to full verification, which also gives the precise error.
//! Revocation and the subject's live rights are not cached here: the caller checks the revoked
//! set and the subject's generation-bound permissions on every request, hit or not.
//!
//! The cache holds at most [`CAPACITY`] tokens in a ring: a new token replaces the oldest
//! one, in constant time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tessera_token::{AccessTokenClaims, JwksVerifier};

/// Tokens kept. One entry is a few hundred bytes; a client reuses its token until it expires,
/// so this covers many more clients than requests in flight.
pub const CAPACITY: usize = 10_000;

/// A token that passed full verification.
pub struct Verified {
    pub realm_name: String,
    /// The `kid` in its header, to look its key set up again.
    pub kid: Option<String>,
    pub claims: AccessTokenClaims,
    pub nbf: Option<i64>,
    /// The key set that verified it. Weak: the cache does not keep retired key sets alive, and
    /// the allocation it points to is never reused while this exists.
    verifier: Weak<JwksVerifier>,
}

/// What a hit must match besides the token string.
pub struct Expected<'a> {
    /// The key set in use now for the token's realm and `kid`.
    pub verifier: &'a Arc<JwksVerifier>,
    /// The `iss` accepted for the token's realm.
    pub issuer: &'a str,
    pub audience: &'a str,
    pub now: i64,
    pub leeway_secs: i64,
}

impl Verified {
    pub fn new(
        realm_name: String,
        kid: Option<String>,
        claims: AccessTokenClaims,
        nbf: Option<i64>,
        verifier: &Arc<JwksVerifier>,
    ) -> Self {
        Self {
            realm_name,
            kid,
            claims,
            nbf,
            verifier: Arc::downgrade(verifier),
        }
    }

    /// Whether verifying the token again now would accept it (signature aside, which the same
    /// key set accepted before). Same comparisons as `JwksVerifier::verify_access_token`.
    pub fn still_valid(&self, e: &Expected<'_>) -> bool {
        let c = &self.claims;
        std::ptr::eq(self.verifier.as_ptr(), Arc::as_ptr(e.verifier))
            && c.iss == e.issuer
            && c.aud == e.audience
            && c.exp.saturating_add(e.leeway_secs) > e.now
            && self
                .nbf
                .is_none_or(|nbf| nbf <= e.now.saturating_add(e.leeway_secs))
            && c.iat <= e.now.saturating_add(e.leeway_secs)
    }
}

/// The cache, keyed by the hex SHA-256 of the token.
pub struct VerifiedTokens {
    capacity: usize,
    ring: Mutex<Ring>,
}

#[derive(Default)]
struct Ring {
    /// Token hash → slot.
    index: HashMap<String, usize>,
    /// Grows to `capacity`, then is overwritten from `next` on.
    slots: Vec<Option<(String, Arc<Verified>)>>,
    next: usize,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl VerifiedTokens {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            ring: Mutex::new(Ring::default()),
        }
    }

    /// The key of `token`: SHA-256, so a hit implies the very same token string.
    pub fn key(token: &str) -> String {
        tessera_core::secret::sha256_hex(token)
    }

    pub fn get(&self, key: &str) -> Option<Arc<Verified>> {
        let ring = self.ring.lock().ok()?;
        let slot = *ring.index.get(key)?;
        ring.slots.get(slot)?.as_ref().map(|(_, v)| Arc::clone(v))
    }

    /// Remembers a verified token, replacing the oldest entry when full.
    pub fn insert(&self, key: String, verified: Arc<Verified>) {
        let Ok(mut ring) = self.ring.lock() else {
            return;
        };
        let ring = &mut *ring;
        if let Some(&slot) = ring.index.get(&key) {
            ring.slots[slot] = Some((key, verified));
            return;
        }
        let slot = ring.next;
        ring.next = (slot + 1) % self.capacity;
        ring.index.insert(key.clone(), slot);
        if slot < ring.slots.len() {
            if let Some((old, _)) = ring.slots[slot].replace((key, verified)) {
                ring.index.remove(&old);
            }
        } else {
            ring.slots.push(Some((key, verified)));
        }
    }

    /// Forgets a token (it failed a check, or was revoked).
    pub fn remove(&self, key: &str) {
        if let Ok(mut ring) = self.ring.lock()
            && let Some(slot) = ring.index.remove(key)
        {
            ring.slots[slot] = None;
        }
    }

    pub fn len(&self) -> usize {
        self.ring.lock().map_or(0, |r| r.index.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "http://rs.test/realms/default";
    const AUD: &str = "http://rs.test";

    fn verifier() -> Arc<JwksVerifier> {
        Arc::new(JwksVerifier::from_jwks_json(br#"{"keys":[]}"#).unwrap())
    }

    fn verified(v: &Arc<JwksVerifier>, jti: &str, iat: i64, exp: i64) -> Arc<Verified> {
        let claims = AccessTokenClaims {
            iss: ISS.into(),
            sub: "u1".into(),
            aud: AUD.into(),
            client_id: "svc".into(),
            scope: "jobs:read".into(),
            iat,
            exp,
            jti: jti.into(),
        };
        Arc::new(Verified::new("default".into(), None, claims, None, v))
    }

    fn expected(v: &Arc<JwksVerifier>, now: i64) -> Expected<'_> {
        Expected {
            verifier: v,
            issuer: ISS,
            audience: AUD,
            now,
            leeway_secs: 30,
        }
    }

    #[test]
    fn a_hit_needs_the_exact_token() {
        let cache = VerifiedTokens::default();
        let v = verifier();
        cache.insert(
            VerifiedTokens::key("a.b.c"),
            verified(&v, "j1", 1_000, 1_300),
        );
        let hit = cache.get(&VerifiedTokens::key("a.b.c")).unwrap();
        assert_eq!(hit.claims.jti, "j1");
        assert!(hit.still_valid(&expected(&v, 1_100)));
        assert!(cache.get(&VerifiedTokens::key("a.b.d")).is_none());
        assert!(cache.get(&VerifiedTokens::key("a.b.c ")).is_none());
    }

    #[test]
    fn expiry_uses_the_verification_leeway() {
        let v = verifier();
        let t = verified(&v, "j1", 1_000, 1_300);
        assert!(t.still_valid(&expected(&v, 1_329)));
        assert!(!t.still_valid(&expected(&v, 1_330)));
        // Issued in the future (a clock set back): refused like verification does.
        assert!(t.still_valid(&expected(&v, 970)));
        assert!(!t.still_valid(&expected(&v, 969)));
        let not_before = Verified {
            nbf: Some(1_100),
            ..Arc::try_unwrap(verified(&v, "j2", 1_000, 1_300))
                .ok()
                .unwrap()
        };
        assert!(!not_before.still_valid(&expected(&v, 1_069)));
        assert!(not_before.still_valid(&expected(&v, 1_070)));
    }

    #[test]
    fn another_key_set_issuer_or_audience_is_a_miss() {
        let (v, rotated) = (verifier(), verifier());
        let t = verified(&v, "j1", 1_000, 1_300);
        assert!(!t.still_valid(&expected(&rotated, 1_100)));
        let other_aud = Expected {
            audience: "http://other",
            ..expected(&v, 1_100)
        };
        assert!(!t.still_valid(&other_aud));
        let other_iss = Expected {
            issuer: "http://rs.test/realms/other",
            ..expected(&v, 1_100)
        };
        assert!(!t.still_valid(&other_iss));
        // A retired key set is never mistaken for a new one built at the same address.
        drop(v);
        let new = verifier();
        assert!(!t.still_valid(&expected(&new, 1_100)));
    }

    #[test]
    fn the_ring_is_bounded_and_replaces_the_oldest() {
        let cache = VerifiedTokens::with_capacity(3);
        let v = verifier();
        for i in 0..5 {
            cache.insert(format!("k{i}"), verified(&v, &format!("j{i}"), 0, 10));
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get("k0").is_none() && cache.get("k1").is_none());
        assert_eq!(cache.get("k4").unwrap().claims.jti, "j4");
        // Re-inserting a present key refreshes it in place.
        cache.insert("k3".into(), verified(&v, "j3b", 0, 10));
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("k3").unwrap().claims.jti, "j3b");
        cache.remove("k2");
        assert!(cache.get("k2").is_none());
        assert_eq!(cache.len(), 2);
        // The freed slot is the next one written; then the oldest (k3, refreshed in place,
        // keeps its age) goes.
        cache.insert("k5".into(), verified(&v, "j5", 0, 10));
        assert_eq!(cache.len(), 3);
        cache.insert("k6".into(), verified(&v, "j6", 0, 10));
        assert_eq!(cache.len(), 3);
        assert!(cache.get("k3").is_none());
        assert!(cache.get("k4").is_some() && cache.get("k5").is_some());
        assert!(cache.get("k6").is_some());
    }
}
