//! The server's counters and histograms (docs/operations.md, "Metrics").
//!
//! Each running server records into its own recorder rather than the process-global one, so
//! two servers in one process (the integration tests) count separately. Metrics without
//! labels that change are registered once and cost an atomic add; the few labelled by client
//! or result are looked up by the recorder per event. Without a recorder (metrics disabled)
//! every handle is a no-op.

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, SharedString, Unit};
use std::sync::Arc;

/// The recorder's metadata for every Tessera metric.
const METADATA: Metadata<'static> = Metadata::new("tessera", metrics::Level::INFO, None);

pub const TOKEN_REQUESTS: &str = "tessera_token_requests_total";
pub const TOKEN_DURATION: &str = "tessera_token_request_duration_seconds";
pub const SIGN_INS: &str = "tessera_sign_ins_total";
pub const THROTTLE_LOCKS: &str = "tessera_throttle_locks_total";
pub const THROTTLE_BACKOFFS: &str = "tessera_throttle_backoffs_total";
pub const API_KEY_AUTHS: &str = "tessera_api_key_authentications_total";
pub const JWT_AUTHS: &str = "tessera_jwt_authentications_total";
pub const DB_CHECKOUT: &str = "tessera_db_pool_wait_seconds";
pub const DB_CONNECTIONS: &str = "tessera_db_pool_connections";
pub const DB_MAX_CONNECTIONS: &str = "tessera_db_pool_max_connections";
pub const KEYS_PUBLISHED: &str = "tessera_signing_keys_published";
pub const KEY_AGE: &str = "tessera_signing_key_age_seconds";
pub const KEY_NEXT_ACTIVATION: &str = "tessera_signing_key_next_activation_seconds";

/// Every metric with its help text, for `# HELP` lines.
const DESCRIPTIONS: &[(&str, &str, Option<Unit>)] = &[
    (
        TOKEN_REQUESTS,
        "Token endpoint requests by grant type, result (ok or the OAuth error) and client",
        None,
    ),
    (
        TOKEN_DURATION,
        "Token endpoint latency by grant type",
        Some(Unit::Seconds),
    ),
    (
        SIGN_INS,
        "Password sign-ins (password grant and sign-in form) by method and result",
        None,
    ),
    (THROTTLE_LOCKS, "Throttle keys locked, by kind of key", None),
    (
        THROTTLE_BACKOFFS,
        "Sign-in attempts that started a backoff wait on a username",
        None,
    ),
    (
        API_KEY_AUTHS,
        "API-key authentications at the resource server by result",
        None,
    ),
    (
        JWT_AUTHS,
        "Access-token (JWT) authentications at the resource server by result",
        None,
    ),
    (
        DB_CHECKOUT,
        "Time to check a connection out of the database pool",
        Some(Unit::Seconds),
    ),
    (
        DB_CONNECTIONS,
        "Database pool connections by state (in_use, idle), sampled at scrape",
        None,
    ),
    (
        DB_MAX_CONNECTIONS,
        "Configured size of the database pool",
        None,
    ),
    (
        KEYS_PUBLISHED,
        "Signing keys published in the JWKS by algorithm",
        None,
    ),
    (
        KEY_AGE,
        "Age of the key that signs, by algorithm",
        Some(Unit::Seconds),
    ),
    (
        KEY_NEXT_ACTIVATION,
        "Seconds until the next published key starts signing, by algorithm (absent when none waits)",
        Some(Unit::Seconds),
    ),
];

/// A sign-in's outcome, as counted and audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInResult {
    Success,
    /// Wrong password or unknown user: one result, as the answer is one.
    Invalid,
    Throttled,
    Disabled,
}

impl SignInResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Invalid => "invalid",
            Self::Throttled => "throttled",
            Self::Disabled => "disabled",
        }
    }
}

/// The handles of one server's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    recorder: Option<Arc<dyn Recorder + Send + Sync>>,
    db_checkout: Histogram,
    throttle_backoffs: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::disabled()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("enabled", &self.inner.recorder.is_some())
            .finish()
    }
}

impl Metrics {
    /// Records nothing.
    pub fn disabled() -> Self {
        Self {
            inner: Arc::new(Inner {
                recorder: None,
                db_checkout: Histogram::noop(),
                throttle_backoffs: Counter::noop(),
            }),
        }
    }

    /// Records into `recorder`; describes every metric to it.
    pub fn new(recorder: Arc<dyn Recorder + Send + Sync>) -> Self {
        for (name, help, unit) in DESCRIPTIONS {
            recorder.describe_counter((*name).into(), *unit, SharedString::const_str(help));
            recorder.describe_histogram((*name).into(), *unit, SharedString::const_str(help));
            recorder.describe_gauge((*name).into(), *unit, SharedString::const_str(help));
        }
        let db_checkout =
            recorder.register_histogram(&Key::from_static_name(DB_CHECKOUT), &METADATA);
        let throttle_backoffs =
            recorder.register_counter(&Key::from_static_name(THROTTLE_BACKOFFS), &METADATA);
        Self {
            inner: Arc::new(Inner {
                recorder: Some(recorder),
                db_checkout,
                throttle_backoffs,
            }),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.recorder.is_some()
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        match &self.inner.recorder {
            Some(r) => r.register_counter(&Key::from_parts(name, labels), &METADATA),
            None => Counter::noop(),
        }
    }

    fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        match &self.inner.recorder {
            Some(r) => r.register_histogram(&Key::from_parts(name, labels), &METADATA),
            None => Histogram::noop(),
        }
    }

    /// A gauge, for values sampled when the metrics are scraped.
    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, String)]) -> Gauge {
        match &self.inner.recorder {
            Some(r) => {
                let labels: Vec<Label> = labels
                    .iter()
                    .map(|(k, v)| Label::new(*k, v.clone()))
                    .collect();
                r.register_gauge(&Key::from_parts(name, labels), &METADATA)
            }
            None => Gauge::noop(),
        }
    }

    /// One token request: its grant type (a listed one, or `other`), `ok` or the error, the
    /// client (`unknown` unless it named a registered client) and how long it took.
    pub fn token_request(
        &self,
        grant_type: &'static str,
        result: &'static str,
        client_id: &str,
        seconds: f64,
    ) {
        if !self.is_enabled() {
            return;
        }
        self.counter(
            TOKEN_REQUESTS,
            vec![
                Label::from_static_parts("grant_type", grant_type),
                Label::from_static_parts("result", result),
                Label::new("client_id", client_id.to_string()),
            ],
        )
        .increment(1);
        self.histogram(
            TOKEN_DURATION,
            vec![Label::from_static_parts("grant_type", grant_type)],
        )
        .record(seconds);
    }

    /// A password sign-in: `method` is `password_grant` or `form`.
    pub fn sign_in(&self, method: &'static str, result: SignInResult) {
        self.counter(
            SIGN_INS,
            vec![
                Label::from_static_parts("method", method),
                Label::from_static_parts("result", result.as_str()),
            ],
        )
        .increment(1);
    }

    /// A throttle key locked: `pair`, `address` or `client_address`.
    pub fn throttle_lock(&self, kind: &'static str) {
        self.counter(THROTTLE_LOCKS, vec![Label::from_static_parts("key", kind)])
            .increment(1);
    }

    pub fn throttle_backoff(&self) {
        self.inner.throttle_backoffs.increment(1);
    }

    /// An API-key authentication at the resource server.
    pub fn api_key_auth(&self, result: &'static str) {
        self.counter(
            API_KEY_AUTHS,
            vec![Label::from_static_parts("result", result)],
        )
        .increment(1);
    }

    /// An access-token authentication at the resource server.
    pub fn jwt_auth(&self, result: &'static str) {
        self.counter(JWT_AUTHS, vec![Label::from_static_parts("result", result)])
            .increment(1);
    }

    /// The wait for a pooled database connection.
    pub fn db_checkout(&self, seconds: f64) {
        self.inner.db_checkout.record(seconds);
    }
}
