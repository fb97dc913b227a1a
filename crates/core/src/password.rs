//! User passwords: argon2id with OWASP parameters. Hashing is CPU-bound; callers run it off
//! the async threads (the issuer uses a bounded blocking pool).
//!
//! Each hash holds `memory_kib` (19 MiB by default) while it runs, so at most one hash per
//! core runs at a time in the process, whoever calls ([`HashSlots`]): more cannot go faster,
//! they only add memory. Callers beyond that wait for a slot (the issuer also queues its
//! requests on an async semaphore first, so they wait without holding a blocking thread).

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};

use crate::error::ValidationError;

/// Shortest and longest password we accept. The upper bound keeps a hash request cheap.
pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 1024;

/// argon2id cost parameters. The default is OWASP's first recommendation:
/// m = 19 MiB, t = 2, p = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Hashes and verifies passwords with fixed parameters; holds a dummy hash so that checking an
/// unknown user costs the same as checking a known one.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(p: Argon2Params) -> Result<Self, ValidationError> {
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .map_err(|e| ValidationError::new("argon2", format!("invalid parameters: {e}")))?;
        // The dummy only has to cost one hash to check and match nothing: random salt and
        // output in a PHC string with our parameters. Computing a real one would spend a hash
        // (and leave its 19 MiB in the allocator) at every start.
        let dummy_hash = format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            p.memory_kib,
            p.iterations,
            p.parallelism,
            STANDARD_NO_PAD.encode(crate::id::random_bytes::<16>()),
            STANDARD_NO_PAD.encode(crate::id::random_bytes::<{ Params::DEFAULT_OUTPUT_LEN }>()),
        );
        PasswordHash::new(&dummy_hash)
            .map_err(|e| ValidationError::new("argon2", format!("invalid dummy hash: {e}")))?;
        Ok(Self { params, dummy_hash })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Checks the policy, then hashes to a PHC string (`$argon2id$v=19$m=…`).
    pub fn hash(&self, password: &str) -> Result<String, ValidationError> {
        validate_password(password)?;
        self.hash_unchecked(password)
    }

    fn hash_unchecked(&self, password: &str) -> Result<String, ValidationError> {
        let salt = crate::id::random_bytes::<16>();
        let _slot = HashSlots::global().acquire();
        self.argon2()
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ValidationError::new("password", format!("cannot hash: {e}")))
    }

    /// True when `password` matches `stored`. With `stored = None` (unknown user, or a user
    /// without a password) it still spends one hash so timing does not tell the cases apart.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let (phc, real) = match stored {
            Some(s) => (s, true),
            None => (self.dummy_hash.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        if password.len() > MAX_PASSWORD_LEN {
            return false;
        }
        let _slot = HashSlots::global().acquire();
        let ok = self
            .argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && real
    }
}

/// A counting semaphore bounding the argon2 hashes running at once in the process. Blocking,
/// since hashes run on blocking threads.
struct HashSlots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// A running hash's slot, given back on drop.
struct HashSlot<'a>(&'a HashSlots);

impl HashSlots {
    fn new(slots: usize) -> Self {
        Self {
            free: Mutex::new(slots.max(1)),
            freed: Condvar::new(),
        }
    }

    /// One slot per core this process may run on (affinity and cgroup quota included).
    fn global() -> &'static Self {
        static SLOTS: OnceLock<HashSlots> = OnceLock::new();
        SLOTS.get_or_init(|| {
            Self::new(std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
        })
    }

    // The count is only read and changed under the lock, so a panic elsewhere cannot leave
    // it inconsistent: a poisoned lock is used as it is.
    fn acquire(&self) -> HashSlot<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        HashSlot(self)
    }
}

impl Drop for HashSlot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}

pub fn validate_password(password: &str) -> Result<(), ValidationError> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(ValidationError::new(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(ValidationError::new(
            "password",
            format!("must be at most {MAX_PASSWORD_LEN} bytes"),
        ));
    }
    Ok(())
}

/// A random password for bootstrap accounts: 24 characters, ~143 bits.
pub fn generate_password() -> String {
    crate::id::random_token::<18>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[test]
    fn hash_then_verify() {
        let h = cheap();
        let phc = h.hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(h.verify("correct horse", Some(&phc)));
        assert!(!h.verify("wrong horse!", Some(&phc)));
    }

    #[test]
    fn unknown_user_never_verifies() {
        let h = cheap();
        assert!(!h.verify("tessera-dummy-password", None));
        assert!(!h.verify("anything", Some("not a phc string")));
    }

    #[test]
    fn policy_bounds() {
        assert!(validate_password("short").is_err());
        assert!(validate_password(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
        assert!(validate_password("long enough").is_ok());
        assert_eq!(generate_password().len(), 24);
    }

    #[test]
    fn the_dummy_hash_has_our_parameters_and_matches_nothing() {
        let h = PasswordHasher::new(Argon2Params::default()).unwrap();
        assert!(
            h.dummy_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            h.dummy_hash
        );
        let parsed = PasswordHash::new(&h.dummy_hash).unwrap();
        assert_eq!(parsed.hash.unwrap().len(), Params::DEFAULT_OUTPUT_LEN);
        let cheap = cheap();
        assert!(!cheap.verify("tessera-dummy-password", None));
        assert!(!cheap.verify("tessera-dummy-password", Some(&cheap.dummy_hash)));
    }

    #[test]
    fn a_hash_waits_for_a_free_slot() {
        use std::sync::Arc;
        use std::sync::mpsc::{RecvTimeoutError, channel};
        use std::time::Duration;
        let slots = Arc::new(HashSlots::new(2));
        let (first, second) = (slots.acquire(), slots.acquire());
        let (tx, rx) = channel();
        let waiter = {
            let slots = Arc::clone(&slots);
            std::thread::spawn(move || {
                let _slot = slots.acquire();
                tx.send(()).unwrap();
            })
        };
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(100)),
            Err(RecvTimeoutError::Timeout)
        );
        drop(first);
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        waiter.join().unwrap();
        drop(second);
        assert_eq!(*slots.free.lock().unwrap(), 2);
    }

    #[test]
    fn default_params_are_owasp() {
        let p = Argon2Params::default();
        assert_eq!((p.memory_kib, p.iterations, p.parallelism), (19456, 2, 1));
    }
}
