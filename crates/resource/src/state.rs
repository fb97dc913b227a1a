//! Shared state of the resource server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tessera_core::{Clock, UnixTime};
use tessera_store::Database;
use tessera_store::throttle::AtLimit;
use tessera_store::throttle::ThrottleRule;

use crate::jwks::JwksSource;
use crate::revoked::RevokedJtis;

/// Settings the server crate fills from configuration.
#[derive(Debug, Clone)]
pub struct ResourceSettings {
    /// The issuer's public URL (`{issuer_base}/realms/{realm}` is each realm's `iss`).
    pub issuer_base: String,
    /// The `aud` this resource server accepts.
    pub audience: String,
    /// Clock skew tolerated on `exp`/`nbf`/`iat`.
    pub leeway_secs: i64,
    /// Behind a trusted proxy, the audit log records the `X-Forwarded-For` address
    /// (`issuer.trust_forwarded_headers`, one setting for the whole server).
    pub trust_forwarded_headers: bool,
    /// How long an API key or a user's permissions may be served from memory; the bound on
    /// how long a revocation on another replica takes to apply here.
    pub cache_ttl: Duration,
    /// Largest JSON body accepted.
    pub max_body_bytes: usize,
    /// How long a body may take to arrive in full: then 408 and the connection is closed.
    pub body_read_timeout: Duration,
    /// Shared with the console of this process: a request carrying it is the console relaying
    /// a browser's action, and the audit log records the browser's address it names.
    pub relay_secret: Option<tessera_core::net::RelaySecret>,
}

pub struct ResourceState {
    pub db: Database,
    pub clock: Arc<dyn Clock>,
    pub jwks: JwksSource,
    pub settings: ResourceSettings,
    /// Bumped by every write in this process: cached keys and permissions older than the
    /// current generation are not used, so a revocation applies on the next request here.
    generation: AtomicU64,
    /// Last use of each API key, written to the database in batches.
    key_access: Mutex<HashMap<String, i64>>,
    /// Authenticated API keys and token subjects, by key hash or subject.
    pub(crate) auth_cache: Mutex<HashMap<String, crate::auth::CacheEntry>>,
    /// Told when a client changes, so an issuer in the same process forgets its cached copy at
    /// once (other replicas: within the issuer's cache TTL).
    client_change_hook: Option<ClientChangeHook>,
    password_throttle: Option<PasswordThrottle>,
    /// Revoked access-token ids (see [`crate::revoked`]).
    pub revoked: Arc<RevokedJtis>,
    pub metrics: tessera_core::metrics::Metrics,
}

/// The throttle keys a password attempt of `username` from `addr` counts under, each with its
/// rule, and the key a success clears: the issuer's (`tessera_issuer::throttle::password_keys`)
/// in the server, so a wrong current password on the change endpoint counts like a failed
/// sign-in and a locked pair is locked here too.
pub type PasswordThrottle = Box<
    dyn Fn(&str, Option<std::net::IpAddr>) -> (Vec<(String, ThrottleRule)>, String) + Send + Sync,
>;

/// Called with (realm id, client id) after a client's registration or secret changed.
pub type ClientChangeHook = Box<dyn Fn(&str, &str) + Send + Sync>;

impl ResourceState {
    pub fn new(
        db: Database,
        clock: Arc<dyn Clock>,
        jwks: JwksSource,
        settings: ResourceSettings,
    ) -> Self {
        let revoked = Arc::new(RevokedJtis::new(settings.cache_ttl, settings.leeway_secs));
        Self {
            db,
            clock,
            jwks,
            settings,
            generation: AtomicU64::new(0),
            key_access: Mutex::new(HashMap::new()),
            auth_cache: Mutex::new(HashMap::new()),
            client_change_hook: None,
            password_throttle: None,
            revoked,
            metrics: tessera_core::metrics::Metrics::disabled(),
        }
    }

    /// Shares the revocation list with an issuer in the same process, which fills it as it
    /// revokes.
    pub fn with_revoked(mut self, revoked: Arc<RevokedJtis>) -> Self {
        self.revoked = revoked;
        self
    }

    pub fn with_metrics(mut self, metrics: tessera_core::metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn with_client_change_hook(mut self, hook: ClientChangeHook) -> Self {
        self.client_change_hook = Some(hook);
        self
    }

    pub fn with_password_throttle(mut self, keys: PasswordThrottle) -> Self {
        self.password_throttle = Some(keys);
        self
    }

    /// The keys of a password attempt ([`PasswordThrottle`]). Without the issuer's rules (a
    /// resource state built without them), the pair of username and address is locked for
    /// 5 minutes after 5 failures in 15, the issuer's defaults.
    pub fn password_throttle_keys(
        &self,
        username: &str,
        addr: Option<std::net::IpAddr>,
    ) -> (Vec<(String, ThrottleRule)>, String) {
        if let Some(keys) = &self.password_throttle {
            return keys(username, addr);
        }
        let pair = match addr {
            Some(a) => format!("pair:{a}/{}", username.to_lowercase()),
            None => format!("pair:unknown/{}", username.to_lowercase()),
        };
        let rule = ThrottleRule {
            window_secs: 900,
            max_failures: 5,
            at_limit: AtLimit::Lock { secs: 300 },
        };
        (vec![(pair.clone(), rule)], pair)
    }

    pub fn client_changed(&self, realm_id: &str, client_id: &str) {
        if let Some(hook) = &self.client_change_hook {
            hook(realm_id, client_id);
        }
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Call after any write that can change who may do what.
    pub fn invalidate_access(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn record_key_use(&self, key_id: &str, at: i64) {
        if let Ok(mut map) = self.key_access.lock() {
            map.insert(key_id.to_string(), at);
        }
    }

    /// Takes the recorded key uses for a batch write.
    pub fn drain_key_uses(&self) -> Vec<(String, i64)> {
        match self.key_access.lock() {
            Ok(mut map) => map.drain().collect(),
            Err(_) => Vec::new(),
        }
    }
}
