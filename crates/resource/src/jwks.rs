//! Where the resource server gets the issuer's public keys: from the key store in this process
//! (all-in-one), or over HTTP from the realm's discovery document (split), cached and
//! refetched at most once per few seconds when a token names an unknown `kid`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera_token::{JwksVerifier, KeyStore};

use crate::error::ApiError;

/// How often an unknown `kid` may trigger a refetch, and how long a fetched JWKS is trusted.
pub const REFETCH_MIN_INTERVAL: Duration = Duration::from_secs(5);
pub const REMOTE_TTL: Duration = Duration::from_secs(300);

pub enum JwksSource {
    Local(LocalJwks),
    Remote(RemoteJwks),
}

/// The JWKS bytes a verifier was built from, and the verifier.
type BuiltVerifier = (Arc<[u8]>, Arc<JwksVerifier>);

pub struct LocalJwks {
    keys: Arc<KeyStore>,
    cached: Mutex<Option<BuiltVerifier>>,
}

pub struct RemoteJwks {
    issuer_base: String,
    http: reqwest::Client,
    by_realm: Mutex<HashMap<String, RemoteEntry>>,
}

struct RemoteEntry {
    verifier: Arc<JwksVerifier>,
    fetched: Instant,
}

impl JwksSource {
    pub fn local(keys: Arc<KeyStore>) -> Self {
        Self::Local(LocalJwks {
            keys,
            cached: Mutex::new(None),
        })
    }

    /// `issuer_base` is the issuer's public URL; realms live under `{issuer_base}/realms/`.
    pub fn remote(issuer_base: &str) -> Result<Self, ApiError> {
        crate::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ApiError::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self::Remote(RemoteJwks {
            issuer_base: issuer_base.trim_end_matches('/').to_string(),
            http,
            by_realm: Mutex::new(HashMap::new()),
        }))
    }

    /// A verifier that knows `kid` if the issuer publishes it.
    pub async fn verifier(
        &self,
        realm: &str,
        kid: Option<&str>,
    ) -> Result<Arc<JwksVerifier>, ApiError> {
        match self {
            Self::Local(local) => local.verifier(),
            Self::Remote(remote) => remote.verifier(realm, kid).await,
        }
    }
}

impl LocalJwks {
    fn verifier(&self) -> Result<Arc<JwksVerifier>, ApiError> {
        let jwks = self.keys.current().jwks_json();
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| ApiError::Internal("JWKS cache poisoned".into()))?;
        if let Some((bytes, verifier)) = cached.as_ref()
            && Arc::ptr_eq(bytes, &jwks)
        {
            return Ok(Arc::clone(verifier));
        }
        let verifier = Arc::new(
            JwksVerifier::from_jwks_json(&jwks).map_err(|e| ApiError::Internal(e.to_string()))?,
        );
        *cached = Some((jwks, Arc::clone(&verifier)));
        Ok(verifier)
    }
}

impl RemoteJwks {
    async fn verifier(
        &self,
        realm: &str,
        kid: Option<&str>,
    ) -> Result<Arc<JwksVerifier>, ApiError> {
        let current = self.cached(realm)?;
        if let Some((verifier, fetched)) = &current {
            let fresh = fetched.elapsed() < REMOTE_TTL;
            let knows = kid.is_none_or(|k| verifier.knows_kid(k));
            // An unknown kid refetches, but not more often than REFETCH_MIN_INTERVAL.
            if fresh && (knows || fetched.elapsed() < REFETCH_MIN_INTERVAL) {
                return Ok(Arc::clone(verifier));
            }
        }
        match self.fetch(realm).await {
            Ok(verifier) => Ok(self.remember(realm, verifier)),
            // The issuer is unreachable: keep verifying with what we have.
            Err(e) => match current {
                Some((verifier, _)) => {
                    tracing::warn!(error = %e, "cannot refresh the issuer's JWKS; using the cached one");
                    Ok(verifier)
                }
                None => Err(e),
            },
        }
    }

    /// The realm's cached key set and when it was fetched.
    fn cached(&self, realm: &str) -> Result<Option<(Arc<JwksVerifier>, Instant)>, ApiError> {
        let map = self
            .by_realm
            .lock()
            .map_err(|_| ApiError::Internal("JWKS cache poisoned".into()))?;
        Ok(map.get(realm).map(|e| (Arc::clone(&e.verifier), e.fetched)))
    }

    fn remember(&self, realm: &str, verifier: JwksVerifier) -> Arc<JwksVerifier> {
        let verifier = Arc::new(verifier);
        if let Ok(mut map) = self.by_realm.lock() {
            map.insert(
                realm.to_string(),
                RemoteEntry {
                    verifier: Arc::clone(&verifier),
                    fetched: Instant::now(),
                },
            );
        }
        verifier
    }

    async fn fetch(&self, realm: &str) -> Result<JwksVerifier, ApiError> {
        let unavailable = |what: &str, e: &dyn std::fmt::Display| {
            ApiError::IssuerUnreachable(format!("cannot fetch the issuer's {what}: {e}"))
        };
        let discovery_url = format!(
            "{}/realms/{realm}/.well-known/openid-configuration",
            self.issuer_base
        );
        let doc: serde_json::Value = self
            .http
            .get(&discovery_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unavailable("discovery document", &e))?
            .json()
            .await
            .map_err(|e| unavailable("discovery document", &e))?;
        let jwks_uri = doc["jwks_uri"].as_str().ok_or_else(|| {
            ApiError::IssuerUnreachable(format!("{discovery_url} has no jwks_uri"))
        })?;
        let bytes = self
            .http
            .get(jwks_uri)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unavailable("JWKS", &e))?
            .bytes()
            .await
            .map_err(|e| unavailable("JWKS", &e))?;
        JwksVerifier::from_jwks_json(&bytes).map_err(|e| ApiError::IssuerUnreachable(e.to_string()))
    }
}
