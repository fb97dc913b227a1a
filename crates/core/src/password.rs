//! User passwords: argon2id with OWASP parameters. Hashing is CPU-bound; callers run it off
//! the async threads (the issuer uses a bounded blocking pool).

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

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
        let mut hasher = Self {
            params,
            dummy_hash: String::new(),
        };
        hasher.dummy_hash = hasher.hash_unchecked("tessera-dummy-password")?;
        Ok(hasher)
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
        let ok = password.len() <= MAX_PASSWORD_LEN
            && self
                .argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
        ok && real
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
    fn default_params_are_owasp() {
        let p = Argon2Params::default();
        assert_eq!((p.memory_kib, p.iterations, p.parallelism), (19456, 2, 1));
    }
}
