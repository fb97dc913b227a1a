//! Brute-force throttling.
//!
//! Password failures are counted in the database per username and per client address, so
//! every replica sees the same counts. Client-secret failures are counted per address in this
//! process only: secrets are 256-bit random values, so the limit exists to shed noise, and it
//! must cost nothing on the client_credentials hot path.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use tessera_store::DbConnection;
use tessera_store::queries::{self as q, ThrottleRule};

use crate::config::ThrottleSettings;
use crate::error::{IssuerError, OAuthCode};

/// The keys a password attempt is counted under, each with its limit: the username
/// (case-insensitive) and the client address.
pub fn password_keys(
    username: &str,
    addr: Option<IpAddr>,
    settings: &ThrottleSettings,
) -> Vec<(String, ThrottleRule)> {
    let rule = |max_failures| ThrottleRule {
        window_secs: settings.window_secs,
        max_failures,
        lockout_secs: settings.lockout_secs,
    };
    let mut keys = vec![(
        format!("user:{}", username.to_lowercase()),
        rule(settings.user_max_failures),
    )];
    if let Some(a) = addr {
        keys.push((format!("addr:{a}"), rule(settings.address_max_failures)));
    }
    keys
}

/// Admits one password attempt (counted at once), or refuses with 429 while a key is locked
/// or as many attempts as its limit allows are already being checked.
pub fn admit_password_attempt(
    conn: &mut DbConnection,
    realm_id: &str,
    keys: &[(String, ThrottleRule)],
    now: i64,
) -> Result<(), IssuerError> {
    match q::throttle_admit(conn, realm_id, keys, now)? {
        None => Ok(()),
        Some(retry_after_secs) => Err(IssuerError::Throttled {
            code: OAuthCode::InvalidGrant,
            retry_after_secs,
        }),
    }
}

/// Settles an admitted attempt: a success clears the username's count and takes the attempt
/// back from the address (one good password does not excuse the address's other failures);
/// a failure stays counted and locks a key at its limit.
pub fn settle_password_attempt(
    conn: &mut DbConnection,
    realm_id: &str,
    keys: &[(String, ThrottleRule)],
    username: &str,
    success: bool,
    now: i64,
) -> Result<(), IssuerError> {
    let user_key = format!("user:{}", username.to_lowercase());
    q::throttle_settle(conn, realm_id, keys, &user_key, success, now)?;
    Ok(())
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

    pub fn record_failure(&self, addr: Option<IpAddr>, settings: &ThrottleSettings, now: i64) {
        let Some(addr) = addr else { return };
        let Ok(mut map) = self.by_addr.lock() else {
            return;
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        t.record_failure(a, &s, 1_000);
        t.record_failure(a, &s, 1_001);
        assert_eq!(t.locked_for(a, 1_001), None);
        t.record_failure(a, &s, 1_002);
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
        t.record_failure(a, &s, 1_000);
        t.record_failure(a, &s, 1_020);
        assert_eq!(t.locked_for(a, 1_020), None);
    }
}
