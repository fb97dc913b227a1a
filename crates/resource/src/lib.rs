//! The resource server: REST APIs for API keys, teams, users (and their passwords and sessions), roles, policies, clients and
//! scopes, accepting the issuer's JWTs and API keys. It verifies tokens; it never signs them.

pub mod access;
pub mod accounts;
pub mod apikeys;
pub mod auth;
pub mod auth_test;
pub mod directory;
pub mod error;
pub mod governance;
pub mod http;
pub mod jwks;
pub mod openapi;
pub mod revoked;
pub mod state;
pub mod token_cache;

use actix_web::web;
use std::sync::Arc;
use std::time::Duration;

pub use auth::Principal;
pub use error::ApiError;
pub use jwks::JwksSource;
pub use state::{ResourceSettings, ResourceState};

/// Makes ring rustls's crypto provider, once per process: reqwest is built with rustls but
/// without a provider of its own, so there is one TLS stack and no aws-lc build.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Registers the resource routes. The caller provides `web::Data<ResourceState>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/auth/test", web::get().to(auth_test::auth_test));
    accounts::routes(cfg);
    apikeys::routes(cfg);
    directory::routes(cfg);
    governance::routes(cfg);
    openapi::routes(cfg);
}

/// Writes recorded API-key uses (`last_access_at`) every `every`, one transaction per batch,
/// so authentication itself never writes. Uses recorded after the last tick are written by
/// `flush_key_uses` when the server stops.
pub fn spawn_key_use_flush(state: Arc<ResourceState>, every: Duration) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(every);
        loop {
            tick.tick().await;
            let state = Arc::clone(&state);
            let written = web::block(move || flush_key_uses(&state)).await;
            if !matches!(written, Ok(Ok(_))) {
                tracing::warn!("cannot record API key use");
            }
        }
    });
}

/// Writes the API-key uses recorded since the last write, in one transaction; returns how
/// many keys it touched. Blocking: call it off the async workers (or after the server stops).
pub fn flush_key_uses(state: &ResourceState) -> Result<usize, tessera_store::StoreError> {
    let batch = state.drain_key_uses();
    if batch.is_empty() {
        return Ok(0);
    }
    tessera_store::api_keys::touch(&mut *state.db.conn()?, &batch)?;
    Ok(batch.len())
}
