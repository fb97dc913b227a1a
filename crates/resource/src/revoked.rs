//! Revoked access tokens, as the resource server sees them.
//!
//! A JWT is checked against an in-memory set of revoked `jti`s instead of the database on every
//! request, so JWT authentication stays free of queries. The set is:
//! - filled at once by an issuer in the same process (all-in-one: the issuer's revocation hook
//!   calls [`RevokedJtis::note`]), so a revocation applies on the very next request;
//! - caught up from `revoked_tokens` when older than the refresh interval (the resource
//!   settings' `cache_ttl`, `issuer.cache_ttl_secs`, 5 s by default): one indexed range query on
//!   `revoked_at` per interval per process, run by one request while the others wait for it.
//!   That interval bounds how long a revocation made on another replica takes to apply here
//!   (checklist BEAR-08).
//!
//! Entries leave the set once their token has expired (plus the leeway), when the token fails
//! verification on `exp` anyway.
//!
//! The set also carries the cache of already-verified tokens ([`crate::token_cache`]): every
//! hit in it is checked against this set, and resource states that share the set (all-in-one)
//! share the cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tessera_store as store;
use tessera_store::Database;

use crate::error::ApiError;
use crate::token_cache::VerifiedTokens;

/// Rows revoked up to this long before the newest one seen are read again on each refresh, so
/// clock differences between issuer replicas and late commits are not missed.
const OVERLAP_SECS: i64 = 120;

pub struct RevokedJtis {
    refresh_every: Duration,
    leeway_secs: i64,
    inner: Mutex<Inner>,
    /// Held by the one request that refreshes the set from the database.
    refreshing: tokio::sync::Mutex<()>,
    verified: VerifiedTokens,
}

#[derive(Default)]
struct Inner {
    /// `jti` → `exp` of the revoked token.
    jtis: HashMap<String, i64>,
    /// The newest `revoked_at` read from the database.
    newest: Option<i64>,
    refreshed: Option<Instant>,
}

impl RevokedJtis {
    pub fn new(refresh_every: Duration, leeway_secs: i64) -> Self {
        Self {
            refresh_every,
            leeway_secs,
            inner: Mutex::new(Inner::default()),
            refreshing: tokio::sync::Mutex::new(()),
            verified: VerifiedTokens::default(),
        }
    }

    /// Tokens whose signature was already verified; see [`crate::token_cache`].
    pub fn verified(&self) -> &VerifiedTokens {
        &self.verified
    }

    /// Records a revocation made in this process.
    pub fn note(&self, jti: &str, exp: i64) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.jtis.insert(jti.to_string(), exp);
        }
    }

    fn fresh(&self) -> Result<bool, ApiError> {
        let inner = self.lock()?;
        Ok(inner
            .refreshed
            .is_some_and(|at| at.elapsed() < self.refresh_every))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, ApiError> {
        self.inner
            .lock()
            .map_err(|_| ApiError::Internal("revocation list poisoned".into()))
    }

    /// Whether the token `jti` is revoked, catching up from the database when the set is older
    /// than the refresh interval.
    pub async fn is_revoked(&self, db: &Database, jti: &str, now: i64) -> Result<bool, ApiError> {
        if !self.fresh()? {
            let _refreshing = self.refreshing.lock().await;
            // Another request may have refreshed while this one waited.
            if !self.fresh()? {
                self.refresh(db, now).await?;
            }
        }
        Ok(self.lock()?.jtis.contains_key(jti))
    }

    async fn refresh(&self, db: &Database, now: i64) -> Result<(), ApiError> {
        let since = self
            .lock()?
            .newest
            .map_or(i64::MIN, |n| n.saturating_sub(OVERLAP_SECS));
        let db = db.clone();
        let leeway = self.leeway_secs;
        let rows = actix_web::web::block(move || {
            store::revoked::since(&mut *db.conn()?, since, now.saturating_sub(leeway))
        })
        .await??;
        let mut inner = self.lock()?;
        for row in rows {
            inner.newest = Some(
                inner
                    .newest
                    .map_or(row.revoked_at, |n| n.max(row.revoked_at)),
            );
            inner.jtis.insert(row.jti, row.expires_at);
        }
        inner.jtis.retain(|_, exp| exp.saturating_add(leeway) > now);
        inner.refreshed = Some(Instant::now());
        Ok(())
    }
}
