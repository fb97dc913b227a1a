//! Brute-force throttling.
//!
//! Password failures are counted in the database, so every replica sees the same counts,
//! under three keys (docs/operations.md, "Brute-force throttling"):
//!
//! - `pair:<address>/<username>`: one username from one client address, locked at
//!   `user_max_failures`. The attacker's address is locked for that user; the real user,
//!   elsewhere, is not.
//! - `addr:<address>`: one address across usernames, locked at `address_max_failures`.
//! - `user:<username>`: one username across addresses. Never locked: from
//!   `user_global_max_failures` on, each attempt must wait a growing delay after the one
//!   before, which slows guessing spread over many addresses without handing the attacker
//!   a lockout of the real user.
//!
//! Usernames are counted by the username rule's lookup key (`tessera_core::username`), the
//! one sign-in finds the user by, so `ADMIN` or fullwidth `ａｄｍｉｎ` count against `admin`. Client-secret failures are counted per address in this process
//! only: secrets are 256-bit random values, so the limit exists to shed noise, and it must
//! cost nothing on the client_credentials hot path.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use tessera_store as store;

use tessera_core::username::lookup_key;
use tessera_store::DbConnection;
use tessera_store::throttle::AtLimit;
use tessera_store::throttle::ThrottleRule;

use crate::config::ThrottleSettings;
use crate::error::{IssuerError, OAuthCode};

/// The key of one username from one client address.
pub fn pair_key(username: &str, addr: Option<IpAddr>) -> String {
    match addr {
        Some(a) => format!("pair:{a}/{}", lookup_key(username)),
        None => format!("pair:unknown/{}", lookup_key(username)),
    }
}

/// The key of one username across every address.
pub fn user_key(username: &str) -> String {
    format!("user:{}", lookup_key(username))
}

/// The key of one client address across usernames.
pub fn address_key(addr: IpAddr) -> String {
    format!("addr:{addr}")
}

/// The keys a password attempt is counted under, each with its rule, and the one a success
/// clears (the pair's).
#[derive(Debug, Clone)]
pub struct PasswordKeys {
    pub keys: Vec<(String, ThrottleRule)>,
    pub clear_on_success: String,
}

pub fn password_keys(
    username: &str,
    addr: Option<IpAddr>,
    settings: &ThrottleSettings,
) -> PasswordKeys {
    let lock = |max_failures| ThrottleRule {
        window_secs: settings.window_secs,
        max_failures,
        at_limit: AtLimit::Lock {
            secs: settings.lockout_secs,
        },
    };
    let pair = pair_key(username, addr);
    let mut keys = vec![
        (pair.clone(), lock(settings.user_max_failures)),
        (
            user_key(username),
            ThrottleRule {
                window_secs: settings.window_secs,
                max_failures: settings.user_global_max_failures,
                at_limit: AtLimit::Backoff {
                    max_delay_secs: settings.user_global_max_delay_secs,
                },
            },
        ),
    ];
    if let Some(a) = addr {
        keys.push((address_key(a), lock(settings.address_max_failures)));
    }
    PasswordKeys {
        keys,
        clear_on_success: pair,
    }
}

/// The key of one user's second-factor attempts: whoever reaches this step knows the
/// password, so the code is guarded per user, from every address.
pub fn second_factor_key(user_id: &str) -> String {
    format!("mfa:{user_id}")
}

/// The keys a TOTP or recovery code attempt is counted under: the user's, locked at
/// `user_max_failures` like a password pair (6-digit codes must not be guessable in the
/// lifetime of a pending sign-in).
pub fn second_factor_keys(user_id: &str, settings: &ThrottleSettings) -> PasswordKeys {
    let key = second_factor_key(user_id);
    PasswordKeys {
        keys: vec![(
            key.clone(),
            ThrottleRule {
                window_secs: settings.window_secs,
                max_failures: settings.user_max_failures,
                at_limit: AtLimit::Lock {
                    secs: settings.lockout_secs,
                },
            },
        )],
        clear_on_success: key,
    }
}

/// An admitted attempt, to settle once it is checked.
pub struct ThrottleStep {
    pub keys: PasswordKeys,
}

/// Admits one password attempt (counted at once), or refuses with 429 while a key is locked,
/// its backoff wait runs, or as many attempts as its limit allows are already being checked.
/// Returns how many backoff waits the admission started (for the metrics).
pub fn admit_password_attempt(
    conn: &mut DbConnection,
    realm_id: &str,
    keys: &PasswordKeys,
    now: i64,
) -> Result<usize, IssuerError> {
    let admission = store::throttle::admit_reporting(conn, realm_id, &keys.keys, now)?;
    match admission.wait {
        None => Ok(admission.backoffs_started.len()),
        Some(retry_after_secs) => Err(IssuerError::Throttled {
            code: OAuthCode::InvalidGrant,
            retry_after_secs,
        }),
    }
}

/// Settles an admitted attempt. A success clears the pair's count (that address proved it
/// knows the password) and takes the attempt back from the address and the username (their
/// other failures stay: one good password does not excuse the address's guesses at other
/// usernames, nor the guesses at this username from elsewhere). A failure stays counted and
/// locks a key at its limit. Returns the keys this attempt locked.
pub fn settle_password_attempt(
    conn: &mut DbConnection,
    realm_id: &str,
    keys: &PasswordKeys,
    success: bool,
    now: i64,
) -> Result<Vec<String>, IssuerError> {
    Ok(store::throttle::settle(
        conn,
        realm_id,
        &keys.keys,
        &keys.clear_on_success,
        success,
        now,
    )?)
}

/// The kind of a throttle key, as the metrics label it: `pair`, `address` or `user`.
pub fn key_kind(key: &str) -> &'static str {
    match key.split_once(':').map(|(kind, _)| kind) {
        Some("pair") => "pair",
        Some("addr") => "address",
        Some("mfa") => "second_factor",
        _ => "user",
    }
}

/// The operator's unlock: deletes the throttle entries of a username (from every address, or
/// only from `addr`), or of an address (across usernames, and its pairs). Returns the keys
/// deleted. The next attempt starts a fresh count on every replica.
pub fn unlock(
    conn: &mut DbConnection,
    realm_id: &str,
    username: Option<&str>,
    addr: Option<IpAddr>,
) -> Result<Vec<String>, IssuerError> {
    let candidates = unlock_candidates(conn, realm_id, username, addr)?;
    let mut deleted = Vec::new();
    for key in candidates {
        if store::throttle::entry(conn, realm_id, &key)?.is_some() {
            store::throttle::clear(conn, realm_id, &key)?;
            deleted.push(key);
        }
    }
    Ok(deleted)
}

/// The keys an unlock of `username` and/or `addr` may clear: the pair, or every pair of the
/// one named, and its own key.
fn unlock_candidates(
    conn: &mut DbConnection,
    realm_id: &str,
    username: Option<&str>,
    addr: Option<IpAddr>,
) -> Result<Vec<String>, IssuerError> {
    Ok(match (username, addr) {
        (Some(u), Some(a)) => vec![pair_key(u, Some(a))],
        (Some(u), None) => {
            let name = u.to_lowercase();
            let pattern = format!("pair:%/{}", like_literal(&name));
            let mut keys = store::throttle::keys_like(conn, realm_id, &pattern)?;
            // `%` may have swallowed a `/` of a longer username; addresses have none.
            keys.retain(|k| {
                k.strip_prefix("pair:")
                    .and_then(|rest| rest.split_once('/'))
                    .is_some_and(|(_, n)| n == name)
            });
            keys.push(user_key(u));
            keys
        }
        (None, Some(a)) => {
            let pattern = format!("pair:{}/%", like_literal(&a.to_string()));
            let mut keys = store::throttle::keys_like(conn, realm_id, &pattern)?;
            keys.push(address_key(a));
            keys
        }
        (None, None) => {
            return Err(IssuerError::invalid_request(
                "name a username, an address, or both to unlock",
            ));
        }
    })
}

/// `s` matched literally by SQL LIKE with `\` as the escape character.
fn like_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: i64,
    window_started_at: i64,
    locked_until: i64,
}

/// Per-address client-authentication failures, in memory.
#[derive(Default)]
pub struct ClientAuthThrottle {
    by_addr: Mutex<HashMap<IpAddr, Failures>>,
}

impl ClientAuthThrottle {
    /// Seconds until `addr` may try again, if it is locked.
    pub fn locked_for(&self, addr: Option<IpAddr>, now: i64) -> Option<i64> {
        let addr = addr?;
        let map = self.by_addr.lock().ok()?;
        let f = map.get(&addr)?;
        (f.locked_until > now).then(|| f.locked_until - now)
    }

    /// Counts a failure; true when it locked the address.
    pub fn record_failure(
        &self,
        addr: Option<IpAddr>,
        settings: &ThrottleSettings,
        now: i64,
    ) -> bool {
        let Some(addr) = addr else { return false };
        let Ok(mut map) = self.by_addr.lock() else {
            return false;
        };
        if map.len() > 100_000 {
            map.retain(|_, f| {
                f.locked_until > now || f.window_started_at > now - settings.window_secs
            });
        }
        let f = map.entry(addr).or_insert(Failures {
            count: 0,
            window_started_at: now,
            locked_until: 0,
        });
        if f.window_started_at <= now - settings.window_secs {
            *f = Failures {
                count: 0,
                window_started_at: now,
                locked_until: f.locked_until,
            };
        }
        f.count += 1;
        if f.count >= settings.client_max_failures {
            f.locked_until = now + settings.lockout_secs;
            f.count = 0;
            f.window_started_at = now;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_literal_escapes_the_wildcards() {
        assert_eq!(like_literal("a_b%c\\d"), "a\\_b\\%c\\\\d");
        assert_eq!(like_literal("ada"), "ada");
    }

    #[test]
    fn password_keys_name_the_pair_the_username_and_the_address() {
        let s = ThrottleSettings::default();
        let keys = password_keys("Ada", "192.0.2.1".parse().ok(), &s);
        let names: Vec<&str> = keys.keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["pair:192.0.2.1/ada", "user:ada", "addr:192.0.2.1"]);
        assert_eq!(keys.clear_on_success, "pair:192.0.2.1/ada");
        assert_eq!(
            keys.keys[1].1.at_limit,
            AtLimit::Backoff {
                max_delay_secs: s.user_global_max_delay_secs
            }
        );
        assert_eq!(password_keys("ada", None, &s).keys.len(), 2);
    }

    #[test]
    fn client_throttle_locks_after_max_failures_then_expires() {
        let t = ClientAuthThrottle::default();
        let s = ThrottleSettings {
            client_max_failures: 3,
            lockout_secs: 60,
            window_secs: 100,
            ..Default::default()
        };
        let a: Option<IpAddr> = "127.0.0.9".parse().ok();
        assert!(!t.record_failure(a, &s, 1_000));
        assert!(!t.record_failure(a, &s, 1_001));
        assert_eq!(t.locked_for(a, 1_001), None);
        assert!(t.record_failure(a, &s, 1_002));
        assert_eq!(t.locked_for(a, 1_002), Some(60));
        assert_eq!(t.locked_for(a, 1_062), None);
        // Another address is unaffected.
        assert_eq!(t.locked_for("127.0.0.10".parse().ok(), 1_002), None);
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let t = ClientAuthThrottle::default();
        let s = ThrottleSettings {
            client_max_failures: 2,
            window_secs: 10,
            ..Default::default()
        };
        let a: Option<IpAddr> = "::1".parse().ok();
        assert!(!t.record_failure(a, &s, 1_000));
        assert!(!t.record_failure(a, &s, 1_020));
        assert_eq!(t.locked_for(a, 1_020), None);
    }
}
