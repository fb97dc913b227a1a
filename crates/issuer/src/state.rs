//! Everything a request handler needs, shared across workers.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tessera_core::model::{Client, Realm};
use tessera_core::password::PasswordHasher;
use tessera_core::{Clock, UnixTime};
use tessera_store as store;
use tessera_store::Database;
use tessera_token::{JwksVerifier, KeyStore};
use tokio::sync::Semaphore;

use crate::cache::TtlCache;
use crate::config::IssuerSettings;
use crate::error::IssuerError;
use crate::throttle::ClientAuthThrottle;

pub struct IssuerState {
    pub db: Database,
    pub keys: Arc<KeyStore>,
    pub clock: Arc<dyn Clock>,
    pub settings: IssuerSettings,
    /// Base URL without a trailing slash; every issuer URL derives from it.
    pub public_url: String,
    pub hasher: Arc<PasswordHasher>,
    /// Bounds concurrent argon2 runs (each holds ~19 MiB) to the number of cores.
    pub hash_permits: Semaphore,
    pub client_auth_throttle: ClientAuthThrottle,
    pub metrics: tessera_core::metrics::Metrics,
    realms: TtlCache<String, Arc<Realm>>,
    clients: TtlCache<(String, String), Arc<Client>>,
    discovery: TtlCache<String, Arc<[u8]>>,
    /// Verifier of our own access tokens (introspection, revocation), rebuilt per key change.
    own_verifier: Mutex<Option<BuiltVerifier>>,
    /// Told of every access token revoked here, so a resource server in this process refuses
    /// it at once (other replicas: within their revocation refresh interval).
    revocation_hook: Option<RevocationHook>,
    /// Delivers back-channel logout tokens; built on first use.
    backchannel: std::sync::OnceLock<reqwest::Client>,
    /// The WebAuthn relying party, built from `public_url` on first use.
    pub(crate) relying_party: std::sync::OnceLock<crate::passkey::RelyingParty>,
}

/// The JWKS bytes a verifier was built from, and the verifier.
type BuiltVerifier = (Arc<[u8]>, Arc<JwksVerifier>);

/// Called with (`jti`, `exp`) of each access token this issuer revoked.
pub type RevocationHook = Box<dyn Fn(&str, i64) + Send + Sync>;

/// Lets the server's CORS layer share this response with the client's web origins.
pub fn share_with_origins(req: &actix_web::HttpRequest, client: &Client) {
    use actix_web::HttpMessage;
    if req.headers().contains_key(actix_web::http::header::ORIGIN) {
        let origins = client.settings.origins(&client.redirect_uris);
        req.extensions_mut()
            .insert(tessera_core::client::AllowedOrigins(origins));
    }
}

impl IssuerState {
    pub fn new(
        db: Database,
        keys: Arc<KeyStore>,
        clock: Arc<dyn Clock>,
        settings: IssuerSettings,
        public_url: &str,
        hasher: Arc<PasswordHasher>,
    ) -> Self {
        let ttl = Duration::from_secs(settings.cache_ttl_secs);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            db,
            keys,
            clock,
            settings,
            public_url: public_url.trim_end_matches('/').to_string(),
            hasher,
            hash_permits: Semaphore::new(cores),
            client_auth_throttle: ClientAuthThrottle::default(),
            metrics: tessera_core::metrics::Metrics::disabled(),
            realms: TtlCache::new(ttl),
            clients: TtlCache::new(ttl),
            discovery: TtlCache::new(ttl),
            own_verifier: Mutex::new(None),
            revocation_hook: None,
            backchannel: std::sync::OnceLock::new(),
            relying_party: std::sync::OnceLock::new(),
        }
    }

    pub fn with_metrics(mut self, metrics: tessera_core::metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn with_revocation_hook(mut self, hook: RevocationHook) -> Self {
        self.revocation_hook = Some(hook);
        self
    }

    /// The HTTP client for back-channel logout ([`crate::logout::backchannel_client`]).
    pub fn backchannel_http(&self) -> Result<reqwest::Client, IssuerError> {
        if let Some(c) = self.backchannel.get() {
            return Ok(c.clone());
        }
        let built = crate::logout::backchannel_client()?;
        Ok(self.backchannel.get_or_init(|| built).clone())
    }

    /// Reports a revoked access token to the hook, if any.
    pub fn access_token_revoked(&self, jti: &str, exp: i64) {
        if let Some(hook) = &self.revocation_hook {
            hook(jti, exp);
        }
    }

    /// A verifier for the access tokens this issuer signs: its own published keys.
    pub fn access_token_verifier(&self) -> Result<Arc<JwksVerifier>, IssuerError> {
        let jwks = self.keys.current().jwks_json();
        let mut cached = self
            .own_verifier
            .lock()
            .map_err(|_| IssuerError::Internal("verifier cache poisoned".into()))?;
        if let Some((bytes, verifier)) = cached.as_ref()
            && Arc::ptr_eq(bytes, &jwks)
        {
            return Ok(Arc::clone(verifier));
        }
        let verifier = Arc::new(JwksVerifier::from_jwks_json(&jwks)?);
        *cached = Some((jwks, Arc::clone(&verifier)));
        Ok(verifier)
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// The client's access-token lifetime, or the server's.
    pub fn access_token_ttl(&self, client: &Client) -> i64 {
        client
            .settings
            .access_token_ttl_secs
            .unwrap_or(self.settings.access_token_ttl_secs)
    }

    /// The client's refresh-token lifetimes (idle, absolute), or the server's.
    pub fn refresh_token_ttls(&self, client: &Client) -> (i64, i64) {
        let s = &client.settings;
        (
            s.refresh_token_idle_ttl_secs
                .unwrap_or(self.settings.refresh_token_idle_ttl_secs),
            s.refresh_token_absolute_ttl_secs
                .unwrap_or(self.settings.refresh_token_absolute_ttl_secs),
        )
    }

    /// `{public_url}/realms/{realm}`: the `iss` of the realm's tokens.
    pub fn issuer_url(&self, realm: &str) -> String {
        format!("{}/realms/{realm}", self.public_url)
    }

    /// Whether passkeys can work here: WebAuthn needs `public_url` to name a DNS host
    /// ([`crate::passkey::RelyingParty`] decides, so the pages and the routes agree).
    pub fn passkeys_enabled(&self) -> bool {
        crate::passkey::enabled(self)
    }

    /// The path Tessera is mounted at behind a proxy (`/auth`), empty when none: the start of
    /// every path handed to a browser ([`tessera_core::net::path_prefix`]).
    pub fn path_prefix(&self) -> &str {
        tessera_core::net::path_prefix(&self.public_url)
    }

    pub fn audience(&self) -> &str {
        if self.settings.access_token_audience.is_empty() {
            &self.public_url
        } else {
            &self.settings.access_token_audience
        }
    }

    /// The realm by name, or 404.
    pub async fn realm(&self, name: &str) -> Result<Arc<Realm>, IssuerError> {
        if let Some(r) = self.realms.get(&name.to_string()) {
            return Ok(r);
        }
        // A name no realm can have (a NUL, say) is not looked up.
        if tessera_core::names::validate_realm_name(name).is_err() {
            return Err(IssuerError::NotFound(format!("realm {name:?}")));
        }
        let db = self.db.clone();
        let owned = name.to_string();
        let found = actix_web::web::block(move || store::realms::by_name(&mut *db.conn()?, &owned))
            .await??;
        let realm = Arc::new(found.ok_or_else(|| IssuerError::NotFound(format!("realm {name}")))?);
        self.realms.put(name.to_string(), Arc::clone(&realm));
        Ok(realm)
    }

    /// A client of the realm by `client_id`; `None` when there is no such client.
    pub async fn client(
        &self,
        realm: &Realm,
        client_id: &str,
    ) -> Result<Option<Arc<Client>>, IssuerError> {
        if client_id.contains('\0') {
            // No client has one, and PostgreSQL text refuses it.
            return Ok(None);
        }
        let key = (realm.id.clone(), client_id.to_string());
        if let Some(c) = self.clients.get(&key) {
            return Ok(Some(c));
        }
        let db = self.db.clone();
        let (rid, cid) = key.clone();
        let found = actix_web::web::block(move || {
            store::clients::by_client_id(&mut *db.conn()?, &rid, &cid)
        })
        .await??;
        Ok(found.map(|c| {
            let c = Arc::new(c);
            self.clients.put(key, Arc::clone(&c));
            c
        }))
    }

    /// Forgets a cached client after a change to it.
    pub fn invalidate_client(&self, realm_id: &str, client_id: &str) {
        self.clients
            .invalidate(&(realm_id.to_string(), client_id.to_string()));
    }

    pub fn discovery_cache(&self) -> &TtlCache<String, Arc<[u8]>> {
        &self.discovery
    }
}
