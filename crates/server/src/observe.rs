//! Operating the server: Prometheus metrics on their own address, and the access log
//! (docs/operations.md, "Metrics" and "Access log").

use actix_web::body::BoxBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{App, HttpResponse, HttpServer, web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Instant;
use tessera_core::Clock;
use tessera_core::metrics::{self as m, Metrics};
use tessera_store::Database;
use tessera_token::{KeyStore, SigningAlg};

use crate::error::ServerError;

/// Histogram buckets, in seconds: a token request takes about a millisecond, a password
/// sign-in tens of milliseconds, a pool checkout under load up to the acquire timeout.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A server's own recorder and the handle that renders it.
pub struct Exporter {
    pub metrics: Metrics,
    handle: PrometheusHandle,
}

impl Exporter {
    pub fn new() -> Result<Self, ServerError> {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .map_err(|e| ServerError::Config(format!("metrics: {e}")))?
            .build_recorder();
        let handle = recorder.handle();
        Ok(Self {
            metrics: Metrics::new(Arc::new(recorder)),
            handle,
        })
    }
}

/// What a scrape samples besides the counters: the pool, and the keys at this moment.
struct Scrape {
    exporter: Exporter,
    db: Database,
    keys: Option<Arc<KeyStore>>,
    clock: Arc<dyn Clock>,
    activation_delay_secs: i64,
}

impl Scrape {
    fn sample(&self) {
        let metrics = &self.exporter.metrics;
        let pool = self.db.pool_state();
        for (state, value) in [("in_use", pool.in_use), ("idle", pool.idle)] {
            metrics
                .gauge(m::DB_CONNECTIONS, &[("state", state.to_string())])
                .set(f64::from(value));
        }
        metrics
            .gauge(m::DB_MAX_CONNECTIONS, &[])
            .set(f64::from(pool.max));
        let Some(keys) = &self.keys else {
            return;
        };
        let set = keys.current();
        let now = self.clock.now();
        for alg in SigningAlg::ALL {
            let label = [("alg", alg.jose_name().to_string())];
            let published: Vec<_> = set.published().iter().filter(|k| k.alg == alg).collect();
            metrics
                .gauge(m::KEYS_PUBLISHED, &label)
                .set(published.len() as f64);
            if let Some(signing) = set.signing_key(alg) {
                metrics
                    .gauge(m::KEY_AGE, &label)
                    .set((now - signing.created_at).max(0) as f64);
            }
            let next = published
                .iter()
                .map(|k| k.created_at + self.activation_delay_secs - now)
                .filter(|wait| *wait > 0)
                .min()
                .unwrap_or(0);
            metrics
                .gauge(m::KEY_NEXT_ACTIVATION, &label)
                .set(next as f64);
        }
    }
}

/// `GET /metrics`: samples the gauges, then renders everything as Prometheus text.
async fn scrape(data: web::Data<Scrape>) -> HttpResponse {
    data.sample();
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(data.exporter.handle.render())
}

/// Where the metrics are served, and the handle that stops that server.
pub struct MetricsServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
}

/// What the metrics server samples at scrape.
pub struct Sampled {
    pub db: Database,
    pub keys: Option<Arc<KeyStore>>,
    pub clock: Arc<dyn Clock>,
    pub activation_delay_secs: i64,
}

/// Binds `listen` and serves `GET /metrics` there on one worker, in the background.
pub fn serve_metrics(
    listen: &str,
    exporter: Exporter,
    sampled: Sampled,
) -> Result<MetricsServer, ServerError> {
    let listener = TcpListener::bind(listen).map_err(|e| {
        ServerError::Config(format!("cannot listen on {listen} (metrics.listen): {e}"))
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServerError::Config(e.to_string()))?;
    let data = web::Data::new(Scrape {
        exporter,
        db: sampled.db,
        keys: sampled.keys,
        clock: sampled.clock,
        activation_delay_secs: sampled.activation_delay_secs,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .map_err(|e| ServerError::Config(format!("cannot serve metrics on {addr}: {e}")))?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Ok(MetricsServer { addr, handle })
}

/// Whether the access log trusts `X-Forwarded-For` (the issuer's setting).
#[derive(Clone, Copy)]
pub struct AccessLog {
    pub trust_forwarded_headers: bool,
}

/// One line per request: method, path without the query (it may carry codes or tokens),
/// status, duration and the client's address. Headers are never logged.
pub async fn access_log(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.path().to_string();
    let trust = req
        .app_data::<web::Data<AccessLog>>()
        .is_some_and(|a| a.trust_forwarded_headers);
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    let client =
        tessera_core::net::client_address(req.peer_addr().map(|a| a.ip()), forwarded, trust)
            .map(|a| a.to_string())
            .unwrap_or_default();
    let result = next.call(req).await;
    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    tracing::info!(
        target: "tessera::access",
        %method,
        %path,
        status,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        %client,
        "request"
    );
    result
}
