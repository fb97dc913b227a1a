//! The integration harness: the real server, in-process, on port 0 with a fresh database
//! (SQLite in a temporary directory, or a fresh PostgreSQL database when
//! `TESSERA_TEST_POSTGRES_URL` is set) and fresh keys, driven over HTTP. Unset, the PostgreSQL
//! runs are skipped with one "skipped:" line, or fail under CI; set to empty, SQLite on purpose.

#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::JsonWebKey;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use std::path::PathBuf;
use std::sync::Arc;
use tessera_core::ManualClock;
use tessera_core::import::ClientSpec;
use tessera_core::password::Argon2Params;
use tessera_server::app;
use tessera_server::config::{Config, Overrides};
use tessera_store::Database;
use tessera_store::provision::{self, Actor, UnknownScopes};
use tessera_store::testing::{PgTestDatabase, postgres_for_tests};

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// Every permission of the catalog, as a token scope: a credential narrowed to nothing. A
/// narrower token may only grant what it carries (docs/security.md).
/// The password-grant form of `portal` for admin (no scope), for requests built by hand.
pub const ADMIN_PASSWORD_GRANT: &[(&str, &str)] = &[
    ("client_id", "portal"),
    ("grant_type", "password"),
    ("username", "admin"),
    ("password", ADMIN_PASSWORD),
];

pub const EVERY_PERMISSION: &str = "api_key:read api_key:create api_key:update api_key:delete \
    team:read team:write user:read user:write role:read role:write policy:read policy:write \
    client:read client:write scope:read scope:write audit:read oaa:push";

#[test]
fn every_permission_is_the_catalog() {
    let listed: Vec<&str> = EVERY_PERMISSION.split_whitespace().collect();
    let catalog: Vec<&str> = tessera_core::permission::CATALOG
        .iter()
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(listed, catalog);
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT`, or the configured `public_url`
    pub base: String,
    /// `{base}/realms/default`
    pub issuer: String,
    pub http: reqwest::Client,
    pub clock: ManualClock,
    pub config: Config,
    pub db: Database,
    pub keys_dir: PathBuf,
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT` of the metrics server, unless the test disabled it.
    pub metrics_base: Option<String>,
    handle: actix_web::dev::ServerHandle,
    /// The serving task; it ends after the server stops and its buffers are written.
    serving: Option<actix_web::rt::task::JoinHandle<std::io::Result<()>>>,
    metrics_handle: Option<actix_web::dev::ServerHandle>,
    // Dropped last: the pool closes before the test database is dropped.
    _pg: Option<PgTestDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting; in-flight requests are irrelevant once the test is over.
        drop(self.handle.stop(false));
        if let Some(h) = &self.metrics_handle {
            drop(h.stop(false));
        }
    }
}

/// A config for tests: port 0, cheap argon2, keys that sign at once and reload every second.
pub fn test_config(dir: &std::path::Path, database_url: String) -> Config {
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".into()),
        database_url: Some(database_url),
        keys_dir: Some(dir.join("keys")),
        ..Default::default()
    };
    let mut config = Config::load(None, &|_| None, &overrides).unwrap();
    config.argon2 = Argon2Params {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    };
    config.keys.activation_delay_secs = 0;
    config.keys.reload_interval_secs = 1;
    config.workers = 2;
    // Tests run side by side: every metrics server on a port of its own.
    config.metrics.listen = "127.0.0.1:0".into();
    config
}

/// The database URL for a test: a fresh PostgreSQL database when configured, else SQLite.
/// With `TESSERA_TEST_POSTGRES_URL` unset the first test says once that the PostgreSQL runs are
/// skipped (under CI it fails instead); set to empty, SQLite is chosen on purpose, quietly.
pub fn fresh_database_url(dir: &std::path::Path) -> (String, Option<PgTestDatabase>) {
    static ANNOUNCED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let announce = !ANNOUNCED.swap(true, std::sync::atomic::Ordering::Relaxed);
    match postgres_for_tests(
        "the HTTP tests' PostgreSQL runs (they run on SQLite)",
        announce,
    ) {
        Some(server) => {
            let pg = PgTestDatabase::create(&server).expect("test database");
            (pg.url().to_string(), Some(pg))
        }
        None => (
            format!("sqlite://{}", dir.join("data").join("tessera.db").display()),
            None,
        ),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    tessera_resource::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = fresh_database_url(dir.path());
    let mut config = test_config(dir.path(), url);
    adjust(&mut config);
    let clock = ManualClock::starting_now();
    let prepared = app::prepare(&config, &clock, Some(ADMIN_PASSWORD)).unwrap();
    let running = app::start(&config, &prepared, Arc::new(clock.clone())).unwrap();
    let handle = running.handle.clone();
    let metrics_base = running
        .metrics
        .as_ref()
        .map(|m| format!("http://{}", m.addr));
    let metrics_handle = running.metrics.as_ref().map(|m| m.handle.clone());
    let base = running.public_url.clone();
    let health = format!("http://{}/health", running.addr);
    let serving = actix_web::rt::spawn(running.until_stopped());
    // The server starts serving once its future has been polled; wait until it answers (at
    // its own address: the public URL may be a proxy's, started by the test).
    let probe = reqwest::Client::new();
    for _ in 0..100 {
        if probe.get(&health).send().await.is_ok() {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    TestApp {
        issuer: format!("{base}/realms/default"),
        base,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        clock,
        keys_dir: config.keys_dir.clone(),
        config,
        db: prepared.db.clone(),
        dir,
        metrics_base,
        handle,
        serving: Some(serving),
        metrics_handle,
        _pg: pg,
    }
}

impl TestApp {
    /// Stops the server as a signal would (gracefully) and waits until it has stopped and
    /// written what it buffered.
    pub async fn stop_gracefully(&mut self) {
        self.handle.stop(true).await;
        if let Some(serving) = self.serving.take() {
            serving
                .await
                .expect("the serving task ends")
                .expect("the server stops cleanly");
        }
    }

    pub fn token_url(&self) -> String {
        format!("{}/protocol/openid-connect/token", self.issuer)
    }

    /// Registers a client directly in the store; returns its generated secret (if any).
    pub fn create_client(&self, spec: serde_json::Value) -> Option<String> {
        let spec: ClientSpec = serde_json::from_value(spec).unwrap();
        provision::create_client(
            &self.db,
            "default",
            &spec,
            UnknownScopes::Define,
            &Actor::CLI,
            tessera_core::Clock::now(&self.clock),
        )
        .unwrap()
        .generated_secret
    }

    /// A confidential client_credentials client `svc` allowed jobs:read and clusters:read.
    pub fn create_svc(&self) -> String {
        self.create_client(serde_json::json!({
            "client_id": "svc",
            "grant_types": ["client_credentials"],
            "scopes": ["jobs:read", "clusters:read"],
        }))
        .unwrap()
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http.post(url).form(form).send().await.unwrap()
    }

    /// A token request authenticated with `client_secret_basic`.
    pub async fn post_basic(
        &self,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.token_url())
            .basic_auth(client_id, Some(secret))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A password-grant request of the public client `portal`, asking for no scope.
    pub async fn password_grant(&self, username: &str, password: &str) -> reqwest::Response {
        self.portal_password_form(&[("username", username), ("password", password)])
            .await
    }

    /// A password-grant request of the public client `portal` asking for `scope`.
    pub async fn password_grant_scoped(
        &self,
        username: &str,
        password: &str,
        scope: &str,
    ) -> reqwest::Response {
        self.portal_password_form(&[
            ("username", username),
            ("password", password),
            ("scope", scope),
        ])
        .await
    }

    /// A password-grant request of `portal` from a client at `addr`, as a (trusted) proxy in
    /// front would forward it (`X-Forwarded-For`).
    pub async fn password_grant_from(
        &self,
        addr: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        self.http
            .post(self.token_url())
            .header("x-forwarded-for", addr)
            .form(&[
                ("client_id", "portal"),
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Posts `client_id=portal&grant_type=password` plus `fields` to the token endpoint.
    async fn portal_password_form(&self, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut form = vec![("client_id", "portal"), ("grant_type", "password")];
        form.extend_from_slice(fields);
        self.post_form(&self.token_url(), &form).await
    }

    /// A client_credentials token request of `client_id` (`client_secret_basic`) asking for
    /// `scope`.
    pub async fn client_credentials_scoped(
        &self,
        client_id: &str,
        secret: &str,
        scope: &str,
    ) -> reqwest::Response {
        self.post_basic(
            client_id,
            secret,
            &[("grant_type", "client_credentials"), ("scope", scope)],
        )
        .await
    }

    /// A client_credentials token request with `authorization` as its Authorization header,
    /// verbatim.
    pub async fn client_credentials_with_authorization(
        &self,
        authorization: &str,
    ) -> reqwest::Response {
        self.http
            .post(self.token_url())
            .header("authorization", authorization)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
    }

    /// An access token from the password grant of `portal`; panics unless it is issued.
    pub async fn password_token(&self, username: &str, password: &str, scope: &str) -> String {
        let resp = self.password_grant_scoped(username, password, scope).await;
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "token for {username}: {body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    /// A user provisioned in `team` with `role`; returns the user's id.
    pub fn provision_user(&self, username: &str, password: &str, team: &str, role: &str) -> String {
        provision::create_user(
            &self.db,
            "default",
            &provision::NewUser {
                username,
                password: Some(password),
                email: None,
                given_name: None,
                family_name: None,
                team_role: Some((team, role)),
            },
            &tessera_core::password::PasswordHasher::new(self.config.argon2).unwrap(),
            &Actor::CLI,
            tessera_core::Clock::now(&self.clock),
        )
        .unwrap()
        .id
    }

    /// Sends a request to the app; returns the status and the JSON body (the raw text as a
    /// JSON string when it is not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, json)
    }

    /// The default realm's OpenID Provider metadata.
    pub async fn discovery(&self) -> serde_json::Value {
        get_json(
            &self.http,
            &format!("{}/.well-known/openid-configuration", self.issuer),
        )
        .await
    }

    pub async fn jwks(&self) -> serde_json::Value {
        get_json(
            &self.http,
            &format!("{}/protocol/openid-connect/certs", self.issuer),
        )
        .await
    }

    /// The database URL this app uses, for CLI commands against the same store.
    pub fn database_url(&self) -> &str {
        &self.config.database_url
    }
}

/// A JWT split into its decoded header and claims, with the signature verified against the
/// JWKS by the `openidconnect` crate — code independent of Tessera's own.
pub struct CheckedJwt {
    pub header: serde_json::Value,
    pub claims: serde_json::Value,
}

pub fn verify_independently(token: &str, jwks_json: &serde_json::Value) -> CheckedJwt {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS has three parts: {token}");
    let decode = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
    };
    let header = decode(parts[0]);
    let claims = decode(parts[1]);
    let kid = header["kid"].as_str().expect("kid in header");
    let alg = match header["alg"].as_str().unwrap() {
        "ES256" => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        "RS256" => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        other => panic!("unexpected alg {other}"),
    };
    let set: CoreJsonWebKeySet = serde_json::from_value(jwks_json.clone()).unwrap();
    let key = set
        .keys()
        .iter()
        .find(|k| k.key_id().map(|id| id.as_str()) == Some(kid))
        .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS"));
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let message = format!("{}.{}", parts[0], parts[1]);
    key.verify_signature(&alg, message.as_bytes(), &signature)
        .expect("signature verifies with the published key");
    CheckedJwt { header, claims }
}

/// Runs a child process without blocking the test's runtime (which also drives the server's
/// background tasks).
pub async fn output_of(mut cmd: std::process::Command) -> std::process::Output {
    actix_web::rt::task::spawn_blocking(move || cmd.output().expect("the command starts"))
        .await
        .unwrap()
}

/// The `tessera` binary built for these tests.
pub fn tessera_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tessera")
}

/// GETs `url` and parses the body as JSON (whatever the status).
pub async fn get_json(http: &reqwest::Client, url: &str) -> serde_json::Value {
    send_json(http.get(url)).await
}

/// Sends `req` and parses the response body as JSON (whatever the status).
pub async fn send_json(req: reqwest::RequestBuilder) -> serde_json::Value {
    req.send().await.unwrap().json().await.unwrap()
}

/// The `access_token` of a token response; panics when the body has none.
pub async fn access_token_of(resp: reqwest::Response) -> String {
    let body: serde_json::Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// Asserts an OAuth error body: `error` is `error` and `error_description` contains `fragment`.
pub fn assert_error_body(body: &serde_json::Value, error: &str, fragment: &str) {
    assert_eq!(body["error"], error);
    assert_description_contains(body, fragment);
}

/// Asserts that an error body's `error_description` contains `fragment`.
pub fn assert_description_contains(body: &serde_json::Value, fragment: &str) {
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains(fragment)
    );
}

/// Reads a spawned server's stdout until it says "is listening on URL"; returns the URL, or
/// `None` if the output ends first.
pub async fn announced_url(stdout: std::process::ChildStdout) -> Option<String> {
    use std::io::{BufRead, BufReader};
    actix_web::rt::task::spawn_blocking(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.ok()?;
            if let Some(rest) = line.split("is listening on ").nth(1) {
                return rest.split_whitespace().next().map(str::to_string);
            }
        }
        None
    })
    .await
    .unwrap()
}

/// Runs `curl -s -u client_id:secret -d grant_type=client_credentials -d scope=SCOPE TOKEN_URL`,
/// the client_credentials request as a shell user would send it.
pub async fn curl_client_credentials(
    client_id: &str,
    secret: &str,
    scope: &str,
    token_url: &str,
) -> std::process::Output {
    let mut curl = std::process::Command::new("curl");
    curl.args([
        "-s",
        "-u",
        &format!("{client_id}:{secret}"),
        "-d",
        "grant_type=client_credentials",
        "-d",
        &format!("scope={scope}"),
    ])
    .arg(token_url);
    output_of(curl).await
}
