//! Start-up: migrate, load keys, bootstrap the default realm, and serve.

use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, middleware, web};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use tessera_core::Clock;
use tessera_core::password::PasswordHasher;
use tessera_issuer::{IssuerError, IssuerState};
use tessera_resource::revoked::RevokedJtis;
use tessera_resource::{JwksSource, ResourceSettings, ResourceState};
use tessera_store::provision::{self, BootstrapReport};
use tessera_store::{Database, PoolOptions};
use tessera_token::{KeyPolicy, KeyStore};

use crate::config::Config;
use crate::error::ServerError;

/// What start-up prepared: storage, keys and the issuer's shared state.
pub struct Prepared {
    pub db: Database,
    /// The signing keys; `None` in a resource-only process, which never signs.
    pub keys: Option<Arc<KeyStore>>,
    pub hasher: Arc<PasswordHasher>,
    pub bootstrap: Option<BootstrapReport>,
    pub created_keys: Vec<String>,
    pub migrations_applied: Vec<String>,
}

pub fn key_policy(config: &Config) -> KeyPolicy {
    KeyPolicy {
        activation_delay_secs: config.keys.activation_delay_secs,
        retention_secs: config.key_retention_secs(),
    }
}

pub fn open_database(config: &Config) -> Result<Database, ServerError> {
    Ok(Database::connect(
        &config.database_url,
        PoolOptions {
            max_connections: config.database.max_connections,
            acquire_timeout: config.database.connect_timeout(),
        },
    )?)
}

/// Migrates, opens the keys (generating them on first start) and bootstraps the `default`
/// realm once, with `admin_password` or a generated one.
pub fn prepare(
    config: &Config,
    clock: &dyn Clock,
    admin_password: Option<&str>,
) -> Result<Prepared, ServerError> {
    let db = open_database(config)?;
    let migrations_applied = db.migrate()?;
    let (keys, created_keys) = KeyStore::open(&config.keys_dir, key_policy(config), clock.now())?;
    let hasher = Arc::new(
        PasswordHasher::new(config.argon2).map_err(|e| ServerError::Config(e.to_string()))?,
    );
    let bootstrap = provision::bootstrap_realm(
        &db,
        tessera_issuer::DEFAULT_REALM,
        admin_password,
        &hasher,
        clock.now(),
    )?;
    Ok(Prepared {
        db,
        keys: Some(Arc::new(keys)),
        hasher,
        bootstrap,
        created_keys,
        migrations_applied,
    })
}

/// Opens and migrates the database for a resource-only process: no keys, no bootstrap.
pub fn prepare_resource(config: &Config) -> Result<Prepared, ServerError> {
    let db = open_database(config)?;
    let migrations_applied = db.migrate()?;
    let hasher = Arc::new(
        PasswordHasher::new(config.argon2).map_err(|e| ServerError::Config(e.to_string()))?,
    );
    Ok(Prepared {
        db,
        keys: None,
        hasher,
        bootstrap: None,
        created_keys: Vec::new(),
        migrations_applied,
    })
}

/// Which services a process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Issuer and resource server on one port (the default).
    AllInOne,
    /// Only the issuer's endpoints.
    Issuer,
    /// Only the resource APIs; tokens are verified against the issuer at `issuer_url`
    /// (its JWKS fetched over HTTP), and API keys are exchanged there.
    Resource { issuer_url: String },
}

/// A server bound and running.
pub struct Running {
    pub addr: SocketAddr,
    pub public_url: String,
    pub handle: actix_web::dev::ServerHandle,
    pub server: actix_web::dev::Server,
    /// The resource server's state, whose buffered API-key uses `until_stopped` writes.
    resource: Option<Arc<ResourceState>>,
    /// Where `GET /metrics` is served (already running), unless `metrics.listen` is empty.
    pub metrics: Option<crate::observe::MetricsServer>,
}

impl Running {
    /// Serves until the server stops (a signal, or `handle.stop`), then writes what is still
    /// buffered: the API-key uses recorded since the last periodic write.
    pub async fn until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Some(resource) = self.resource {
            match web::block(move || tessera_resource::flush_key_uses(&resource)).await {
                Ok(Ok(n)) if n > 0 => tracing::info!(keys = n, "recorded API key use on stop"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot record API key use on stop"),
                Err(e) => tracing::warn!(error = %e, "cannot record API key use on stop"),
            }
        }
        served
    }
}

/// Binds the listen address (port 0 picks a free port) and starts serving.
pub fn start(
    config: &Config,
    prepared: &Prepared,
    clock: Arc<dyn Clock>,
) -> Result<Running, ServerError> {
    start_mode(config, prepared, clock, &Mode::AllInOne)
}

/// Binds the listen address. `tessera serve` binds before it migrates and bootstraps, so a
/// start that cannot serve (the port is taken) creates nothing, in particular no admin whose
/// generated password would never be shown.
pub fn bind(config: &Config) -> Result<TcpListener, ServerError> {
    TcpListener::bind(&config.listen).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            "; another process uses that address: stop it, or choose another with --listen or \
             TESSERA_LISTEN"
        } else {
            ""
        };
        ServerError::Config(format!("cannot listen on {}: {e}{hint}", config.listen))
    })
}

/// Binds and starts the services of `mode`.
pub fn start_mode(
    config: &Config,
    prepared: &Prepared,
    clock: Arc<dyn Clock>,
    mode: &Mode,
) -> Result<Running, ServerError> {
    start_on(bind(config)?, config, prepared, clock, mode)
}

/// Starts the services of `mode` on a listener that `bind` opened.
pub fn start_on(
    listener: TcpListener,
    config: &Config,
    prepared: &Prepared,
    clock: Arc<dyn Clock>,
    mode: &Mode,
) -> Result<Running, ServerError> {
    let addr = listener
        .local_addr()
        .map_err(|e| ServerError::Config(e.to_string()))?;
    // Metrics first: a wrong metrics address fails the start before anything else runs.
    let exporter = if config.metrics.listen.is_empty() {
        None
    } else {
        Some(crate::observe::Exporter::new()?)
    };
    let metrics = exporter
        .as_ref()
        .map(|e| e.metrics.clone())
        .unwrap_or_default();
    let db = if metrics.is_enabled() {
        let observed = metrics.clone();
        prepared.db.clone().observed(Arc::new(move |wait| {
            observed.db_checkout(wait.as_secs_f64())
        }))
    } else {
        prepared.db.clone()
    };
    let public_url = if config.public_url.is_empty() {
        format!("http://{addr}")
    } else {
        config.public_url.trim_end_matches('/').to_string()
    };
    // Known to this process's console and resource API only (see RelaySecret).
    let relay_secret = tessera_core::net::RelaySecret::generate();
    // Revoked access tokens: filled at once by the issuer when both run in this process.
    let revoked = Arc::new(RevokedJtis::new(
        Duration::from_secs(config.issuer.cache_ttl_secs),
        config.issuer.token_leeway_secs,
    ));
    let issuer = match mode {
        Mode::Resource { .. } => None,
        Mode::AllInOne | Mode::Issuer => {
            let keys = prepared
                .keys
                .as_ref()
                .ok_or_else(|| ServerError::Config("the issuer needs signing keys".into()))?;
            spawn_key_refresh(
                Arc::clone(keys),
                Arc::clone(&clock),
                Duration::from_secs(config.keys.reload_interval_secs.max(1)),
            );
            spawn_maintenance(
                db.clone(),
                Arc::clone(&clock),
                config.issuer.throttle.window_secs,
                config.issuer.token_leeway_secs,
            );
            let state = IssuerState::new(
                db.clone(),
                Arc::clone(keys),
                Arc::clone(&clock),
                config.issuer.clone(),
                &public_url,
                Arc::clone(&prepared.hasher),
            )
            .with_metrics(metrics.clone());
            let state = if *mode == Mode::AllInOne {
                let revoked = Arc::clone(&revoked);
                state.with_revocation_hook(Box::new(move |jti, exp| revoked.note(jti, exp)))
            } else {
                state
            };
            Some(web::Data::new(state))
        }
    };
    let console = console_settings(config, mode, &public_url, addr, &relay_secret)
        .map(|settings| {
            // The console signs in as `portal`; its callback must be registered there.
            let realms = provision::register_console_uris(
                &prepared.db,
                |realm| {
                    (
                        tessera_console::callback_uri(&public_url, realm),
                        tessera_console::signed_out_uri(&public_url, realm),
                    )
                },
                clock.now(),
            )?;
            if !realms.is_empty() {
                tracing::info!(?realms, "registered the console with the portal client");
            }
            // A realm created later (CLI, import, API) is registered on its console's first
            // sign-in, so its console works without a restart.
            let db = prepared.db.clone();
            let issuer = issuer.clone();
            let register_clock = Arc::clone(&clock);
            let register: tessera_console::RegisterConsole =
                Arc::new(move |realm: &str, callback: &str, signed_out: &str| {
                    let changed = provision::ensure_console_uris(
                        &db,
                        realm,
                        callback,
                        signed_out,
                        register_clock.now(),
                    )
                    .map_err(|e| e.to_string())?;
                    if let Some(realm_id) = changed {
                        tracing::info!(realm, "registered the console with the portal client");
                        if let Some(issuer) = &issuer {
                            issuer.invalidate_client(&realm_id, provision::PORTAL_CLIENT_ID);
                        }
                    }
                    Ok(())
                });
            tessera_console::ConsoleState::new(settings, Arc::clone(&clock))
                .map(|state| state.with_registration(register))
                .map_err(|e| ServerError::Config(e.to_string()))
        })
        .transpose()?
        .map(web::Data::new);
    let resource = match (mode, &issuer) {
        (Mode::Issuer, _) => None,
        (Mode::Resource { issuer_url }, _) => {
            let issuer_url = issuer_url.trim_end_matches('/').to_string();
            let audience = if config.issuer.access_token_audience.is_empty() {
                issuer_url.clone()
            } else {
                config.issuer.access_token_audience.clone()
            };
            let jwks =
                JwksSource::remote(&issuer_url).map_err(|e| ServerError::Config(e.to_string()))?;
            Some(
                ResourceState::new(
                    db.clone(),
                    Arc::clone(&clock),
                    jwks,
                    resource_settings(config, issuer_url, audience, &relay_secret),
                )
                .with_password_throttle(password_throttle(config))
                .with_metrics(metrics.clone()),
            )
        }
        (Mode::AllInOne, Some(issuer)) => {
            let keys = prepared
                .keys
                .as_ref()
                .ok_or_else(|| ServerError::Config("the issuer needs signing keys".into()))?;
            let hook_issuer = issuer.clone();
            Some(
                ResourceState::new(
                    db.clone(),
                    Arc::clone(&clock),
                    JwksSource::local(Arc::clone(keys)),
                    resource_settings(
                        config,
                        public_url.clone(),
                        issuer.audience().to_string(),
                        &relay_secret,
                    ),
                )
                .with_client_change_hook(Box::new(move |realm_id, client_id| {
                    hook_issuer.invalidate_client(realm_id, client_id)
                }))
                .with_revoked(Arc::clone(&revoked))
                .with_password_throttle(password_throttle(config))
                .with_metrics(metrics.clone()),
            )
        }
        (Mode::AllInOne, None) => None,
    }
    .map(web::Data::new);
    let resource_state = resource.as_ref().map(|r| r.clone().into_inner());
    if let Some(r) = &resource_state {
        tessera_resource::spawn_key_use_flush(Arc::clone(r), Duration::from_secs(10));
    }
    let hasher_data = web::Data::from(Arc::clone(&prepared.hasher));
    let access_log = config.log.access;
    let access_log_data = web::Data::new(crate::observe::AccessLog {
        trust_forwarded_headers: config.issuer.trust_forwarded_headers,
    });
    let known_origins = web::Data::new(crate::cors::KnownOrigins::new(
        db.clone(),
        Duration::from_secs(config.issuer.cache_ttl_secs),
    ));
    let db_for_scrape = db.clone();
    let mut server = HttpServer::new(move || {
        let issuer = issuer.clone();
        let resource = resource.clone();
        let console = console.clone();
        App::new()
            .app_data(hasher_data.clone())
            .app_data(web::Data::new(db.clone()))
            .app_data(known_origins.clone())
            .app_data(access_log_data.clone())
            .wrap(middleware::from_fn(crate::cors::cors))
            .wrap(
                // Responses carry tokens, secrets and per-user data; the public documents
                // (discovery, JWKS) set their own Cache-Control, which DefaultHeaders keeps.
                middleware::DefaultHeaders::new()
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .add((header::CACHE_CONTROL, "no-store")),
            )
            // Outermost, so the duration covers every other layer.
            .wrap(middleware::Condition::new(
                access_log,
                middleware::from_fn(crate::observe::access_log),
            ))
            .route("/health", web::get().to(health))
            .route("/health/ready", web::get().to(ready))
            .configure(move |cfg| {
                if let Some(issuer) = issuer {
                    cfg.app_data(issuer);
                    tessera_issuer::configure(cfg);
                }
                if let Some(resource) = resource {
                    cfg.app_data(resource);
                    tessera_resource::configure(cfg);
                }
                if let Some(console) = console {
                    cfg.app_data(console);
                    tessera_console::configure(cfg);
                }
            })
            .default_service(web::to(not_found))
    })
    // A client that does not send the head of its first request in time gets 408 and the
    // connection closes; bodies have the same time, enforced where they are read.
    .client_request_timeout(config.issuer.read_timeout())
    // How long a closing connection may take to flush before it is dropped.
    .client_disconnect_timeout(Duration::from_secs(1))
    .shutdown_timeout(10);
    if config.workers > 0 {
        server = server.workers(config.workers);
    }
    let server = server
        .listen(listener)
        .map_err(|e| ServerError::Config(format!("cannot serve on {addr}: {e}")))?
        .run();
    let metrics_server = match exporter {
        Some(exporter) => Some(crate::observe::serve_metrics(
            &config.metrics.listen,
            exporter,
            crate::observe::Sampled {
                db: db_for_scrape,
                keys: prepared.keys.clone(),
                clock: Arc::clone(&clock),
                activation_delay_secs: config.keys.activation_delay_secs,
            },
        )?),
        None => None,
    };
    Ok(Running {
        addr,
        public_url,
        handle: server.handle(),
        server,
        resource: resource_state,
        metrics: metrics_server,
    })
}

/// Where the console (served with the resource API) finds the issuer and the API. It calls
/// this process over loopback, so the public URL need not be reachable from inside.
fn console_settings(
    config: &Config,
    mode: &Mode,
    public_url: &str,
    addr: SocketAddr,
    relay_secret: &tessera_core::net::RelaySecret,
) -> Option<tessera_console::ConsoleSettings> {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => {
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        }
        other => other,
    };
    let loopback = format!("http://{}", SocketAddr::new(ip, addr.port()));
    let (issuer_public_url, issuer_internal_url) = match mode {
        Mode::Issuer => return None,
        Mode::AllInOne => (public_url.to_string(), loopback.clone()),
        Mode::Resource { issuer_url } => {
            let issuer = issuer_url.trim_end_matches('/').to_string();
            (issuer.clone(), issuer)
        }
    };
    Some(tessera_console::ConsoleSettings {
        public_url: public_url.to_string(),
        issuer_public_url,
        issuer_internal_url,
        api_internal_url: loopback,
        default_realm: tessera_issuer::DEFAULT_REALM.to_string(),
        trust_forwarded_headers: config.issuer.trust_forwarded_headers,
        relay_secret: relay_secret.clone(),
        body_read_timeout: config.issuer.read_timeout(),
    })
}

fn resource_settings(
    config: &Config,
    issuer_base: String,
    audience: String,
    relay_secret: &tessera_core::net::RelaySecret,
) -> ResourceSettings {
    ResourceSettings {
        issuer_base,
        audience,
        leeway_secs: config.issuer.token_leeway_secs,
        trust_forwarded_headers: config.issuer.trust_forwarded_headers,
        cache_ttl: Duration::from_secs(config.issuer.cache_ttl_secs),
        max_body_bytes: 64 * 1024,
        body_read_timeout: config.issuer.read_timeout(),
        relay_secret: Some(relay_secret.clone()),
    }
}

/// The issuer's password-throttle keys, for the resource API's password change: a wrong
/// current password there counts like a failed sign-in, under the same keys and limits.
fn password_throttle(config: &Config) -> tessera_resource::state::PasswordThrottle {
    let settings = config.issuer.throttle;
    Box::new(move |username, addr| {
        let keys = tessera_issuer::throttle::password_keys(username, addr, &settings);
        (keys.keys, keys.clear_on_success)
    })
}

/// Picks up rotated keys and activations; replicas converge within one interval.
fn spawn_key_refresh(keys: Arc<KeyStore>, clock: Arc<dyn Clock>, every: Duration) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(every);
        loop {
            tick.tick().await;
            match keys.refresh(clock.now()) {
                Ok(true) => tracing::info!("signing keys changed"),
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "cannot refresh signing keys"),
            }
        }
    });
}

/// Every ten minutes: deletes stale sign-in throttle entries, so guessed usernames do not
/// accumulate, and revoked token ids whose tokens have expired (a revoked id is only needed
/// while its token could still verify).
fn spawn_maintenance(db: Database, clock: Arc<dyn Clock>, window_secs: i64, leeway_secs: i64) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            let db = db.clone();
            let now = clock.now();
            let pruned = web::block(move || {
                let mut conn = db.conn()?;
                let throttle = tessera_store::throttle::prune(&mut conn, now, window_secs)?;
                let revoked = tessera_store::revoked::prune(&mut conn, now, leeway_secs)?;
                Ok::<_, tessera_store::StoreError>((throttle, revoked))
            })
            .await;
            match pruned {
                Ok(Ok((throttle, revoked))) if throttle + revoked > 0 => {
                    tracing::debug!(throttle, revoked, "pruned expired entries")
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot prune expired entries"),
                Err(e) => tracing::warn!(error = %e, "cannot prune expired entries"),
            }
        }
    });
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready when the database answers.
async fn ready(db: web::Data<Database>) -> Result<HttpResponse, IssuerError> {
    let db = db.get_ref().clone();
    web::block(move || db.ping()).await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, IssuerError> {
    Err(IssuerError::NotFound(format!(
        "endpoint {} {}",
        req.method(),
        req.path()
    )))
}
