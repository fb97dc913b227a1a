//! User passwords: argon2id with OWASP parameters. Hashing is CPU-bound; callers run it off
//! the async threads (the issuer uses a bounded blocking pool).
//!
//! Each hash works in `memory_kib` (19 MiB by default), so at most one hash per core runs at a
//! time in the process, whoever calls ([`HashSlots`]): more cannot go faster, they only add
//! memory. Callers beyond that wait for a slot (the issuer also queues its requests on an
//! async semaphore first, so they wait without holding a blocking thread).
//!
//! A finished hash leaves its memory to the next one, and the memory goes back to the
//! allocator once no hash has run for [`KEEP_IDLE`]. Fresh memory costs a page fault per 4 KiB
//! (~12 ms of kernel time per 19 MiB hash measured here, on top of ~25 ms of hashing); reused,
//! it costs nothing, and an idle server holds none.

use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

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
        // output with our parameters. Computing a real one would spend a hash at every start.
        let dummy_hash = phc_string(
            &params,
            &crate::id::random_bytes::<16>(),
            &crate::id::random_bytes::<{ Params::DEFAULT_OUTPUT_LEN }>(),
        );
        PasswordHash::new(&dummy_hash)
            .map_err(|e| ValidationError::new("argon2", format!("invalid dummy hash: {e}")))?;
        Ok(Self { params, dummy_hash })
    }

    /// Checks the policy, then hashes to a PHC string (`$argon2id$v=19$m=…`).
    pub fn hash(&self, password: &str) -> Result<String, ValidationError> {
        validate_password(password)?;
        self.hash_unchecked(password)
    }

    fn hash_unchecked(&self, password: &str) -> Result<String, ValidationError> {
        let salt = crate::id::random_bytes::<16>();
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let mut slot = HashSlots::global().acquire();
        argon2
            .hash_password_into_with_memory(
                password.as_bytes(),
                &salt,
                &mut out,
                slot.memory(self.params.block_count()),
            )
            .map_err(|e| ValidationError::new("password", format!("cannot hash: {e}")))?;
        Ok(phc_string(&self.params, &salt, &out))
    }

    /// True when `password` matches `stored`. With `stored = None` (unknown user, or a user
    /// without a password) it still spends one hash so timing does not tell the cases apart.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let (phc, real) = match stored {
            Some(s) => (s, true),
            None => (self.dummy_hash.as_str(), false),
        };
        if password.len() > MAX_PASSWORD_LEN {
            return false;
        }
        matches(password, phc) && real
    }
}

/// What argon2's own `verify_password` does (the stored hash's algorithm, version and
/// parameters; constant-time comparison of the output), in a slot's reused memory.
fn matches(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str());
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, Params::try_from(&parsed))
    else {
        return false;
    };
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let Some(out) = buffer.get_mut(..expected.len()) else {
        return false;
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut slot = HashSlots::global().acquire();
    argon2
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut *out, slot.memory(blocks))
        .is_ok()
        && Output::new(out).is_ok_and(|computed| computed == *expected)
}

/// `$argon2id$v=19$m=…,t=…,p=…$salt$hash`, base64 without padding as PHC strings use.
fn phc_string(params: &Params, salt: &[u8], hash: &[u8]) -> String {
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(hash),
    )
}

/// How long the memory of finished hashes is kept for the next ones.
pub const KEEP_IDLE: Duration = Duration::from_secs(2);

/// A counting semaphore bounding the argon2 hashes running at once in the process, with the
/// memory of finished hashes for the next ones. Blocking, since hashes run on blocking threads.
struct HashSlots {
    state: Mutex<SlotState>,
    freed: Condvar,
    keep_idle: Duration,
}

struct SlotState {
    free: usize,
    /// Memory of finished hashes, at most one per slot.
    spare: Vec<Vec<Block>>,
    last_release: Instant,
    /// Whether a thread is waiting to drop `spare` once no hash has run for `KEEP_IDLE`.
    reaper: bool,
}

/// A running hash's slot and memory, given back on drop.
struct HashSlot {
    slots: &'static HashSlots,
    memory: Vec<Block>,
}

impl HashSlots {
    fn new(slots: usize, keep_idle: Duration) -> Self {
        Self {
            keep_idle,
            state: Mutex::new(SlotState {
                free: slots.max(1),
                spare: Vec::new(),
                last_release: Instant::now(),
                reaper: false,
            }),
            freed: Condvar::new(),
        }
    }

    /// One slot per core this process may run on (affinity and cgroup quota included).
    fn global() -> &'static Self {
        static SLOTS: OnceLock<HashSlots> = OnceLock::new();
        SLOTS.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
            Self::new(cores, KEEP_IDLE)
        })
    }

    // The state is only read and changed under the lock, in steps a panic cannot interrupt
    // halfway: a poisoned lock is used as it is.
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn acquire(&'static self) -> HashSlot {
        let mut state = self.lock();
        while state.free == 0 {
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.free -= 1;
        let memory = state.spare.pop().unwrap_or_default();
        HashSlot {
            slots: self,
            memory,
        }
    }

    /// Drops the spare memory once no hash has ended for `keep_idle`; runs on its own thread.
    fn reap(&self) {
        loop {
            let state = self.lock();
            let wait = self.keep_idle.saturating_sub(state.last_release.elapsed());
            if wait.is_zero() {
                self.drop_spare(state);
                return;
            }
            drop(state);
            std::thread::sleep(wait);
        }
    }

    /// Gives the spare memory back to the allocator (outside the lock).
    fn drop_spare(&self, mut state: std::sync::MutexGuard<'_, SlotState>) {
        let spare = std::mem::take(&mut state.spare);
        state.reaper = false;
        drop(state);
        drop(spare);
    }
}

impl HashSlot {
    /// At least `blocks` blocks of memory (argon2 overwrites them before reading, so what a
    /// previous hash left there does not matter).
    fn memory(&mut self, blocks: usize) -> &mut [Block] {
        if self.memory.len() < blocks {
            self.memory.resize(blocks, Block::default());
        }
        &mut self.memory[..blocks]
    }
}

impl Drop for HashSlot {
    fn drop(&mut self) {
        let memory = std::mem::take(&mut self.memory);
        let mut state = self.slots.lock();
        state.free += 1;
        if !memory.is_empty() {
            state.spare.push(memory);
        }
        state.last_release = Instant::now();
        let start_reaper = !state.reaper && !state.spare.is_empty();
        state.reaper |= start_reaper;
        drop(state);
        self.slots.freed.notify_one();
        if start_reaper {
            let slots = self.slots;
            let spawned = std::thread::Builder::new()
                .name("argon2-memory".into())
                .spawn(move || slots.reap());
            if spawned.is_err() {
                // No thread to wait with: give the memory back now.
                slots.drop_spare(slots.lock());
            }
        }
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
    fn our_hashes_and_argon2s_own_verify_each_other() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let h = cheap();
        let ours = h.hash("correct horse").unwrap();
        let reference = Argon2::default();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(reference.verify_password(b"correct horse", &parsed).is_ok());
        assert!(reference.verify_password(b"wrong horse!", &parsed).is_err());
        // Stored hashes of other parameters, lanes, variants and lengths keep verifying.
        for (algorithm, m, t, p, len) in [
            (Algorithm::Argon2id, 128, 2, 2, 32),
            (Algorithm::Argon2i, 64, 3, 1, 16),
            (Algorithm::Argon2d, 96, 1, 3, 64),
        ] {
            let params = Params::new(m, t, p, Some(len)).unwrap();
            let theirs = Argon2::new(algorithm, Version::V0x13, params)
                .hash_password_with_salt(b"correct horse", b"sixteen byte slt")
                .unwrap()
                .to_string();
            assert!(h.verify("correct horse", Some(&theirs)), "{theirs}");
            assert!(!h.verify("correct hors", Some(&theirs)), "{theirs}");
        }
    }

    fn leaked(slots: usize, keep_idle: Duration) -> &'static HashSlots {
        Box::leak(Box::new(HashSlots::new(slots, keep_idle)))
    }

    #[test]
    fn a_hash_waits_for_a_free_slot() {
        use std::sync::mpsc::{RecvTimeoutError, channel};
        let slots = leaked(2, Duration::from_secs(60));
        let (first, second) = (slots.acquire(), slots.acquire());
        let (tx, rx) = channel();
        let waiter = std::thread::spawn(move || {
            let _slot = slots.acquire();
            tx.send(()).unwrap();
        });
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(100)),
            Err(RecvTimeoutError::Timeout)
        );
        drop(first);
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        waiter.join().unwrap();
        drop(second);
        assert_eq!(slots.lock().free, 2);
    }

    #[test]
    fn memory_passes_to_the_next_hash_and_is_dropped_when_idle() {
        let slots = leaked(1, Duration::from_millis(100));
        let mut slot = slots.acquire();
        assert_eq!(slot.memory(100).len(), 100);
        drop(slot);
        let mut slot = slots.acquire();
        assert_eq!(slot.memory.len(), 100, "the next hash reuses it");
        assert_eq!(slot.memory(50).len(), 50);
        drop(slot);
        assert_eq!(slots.lock().spare.len(), 1);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !slots.lock().spare.is_empty() {
            assert!(Instant::now() < deadline, "spare memory never dropped");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!slots.lock().reaper);
        let slot = slots.acquire();
        assert!(slot.memory.is_empty());
    }

    #[test]
    fn default_params_are_owasp() {
        let p = Argon2Params::default();
        assert_eq!((p.memory_kib, p.iterations, p.parallelism), (19456, 2, 1));
    }
}
