//! The Rust client in `examples/oidc-client` (built on the `openidconnect` crate) runs the
//! code flow against the real server while this test plays the browser: it opens the
//! client's authorization URL, signs in on the login page and follows the redirect to the
//! client's callback listener.
//!
//! The client runs in-process through its library entry point `run` (the `oidc-client`
//! binary is a thin wrapper around it): Cargo offers `CARGO_BIN_EXE_*` only for the binaries
//! of the package under test, and building the example from inside a test would start a
//! nested cargo that waits on the build lock. Its output lines arrive over a channel.

use crate::authorize::{Jar, get, hidden, post};
use crate::external::free_port;
use crate::helpers::*;
use clap::Parser;
use tessera_example_oidc_client::{Args, Outcome, run};
use tokio::sync::mpsc;

/// `out` for the client: forwards each complete line over a channel.
struct Lines {
    pending: Vec<u8>,
    tx: mpsc::UnboundedSender<String>,
}

impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(bytes);
        while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            let _ = self
                .tx
                .send(String::from_utf8_lossy(&line[..i]).into_owned());
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type Running = (
    actix_web::rt::task::JoinHandle<Result<Outcome, tessera_example_oidc_client::Error>>,
    mpsc::UnboundedReceiver<String>,
);

/// Starts the client with the command line a person would type, the secret given as
/// `--client-secret=VALUE` (one argument, whatever the secret starts with).
fn start_client(app: &TestApp, secret: &str, port: u16) -> Running {
    start_client_with(app, &[&format!("--client-secret={secret}")], port)
}

/// Starts the client with `secret_args` naming the secret.
fn start_client_with(app: &TestApp, secret_args: &[&str], port: u16) -> Running {
    let port = port.to_string();
    let mut argv = vec![
        "oidc-client",
        "--issuer",
        &app.issuer,
        "--client-id",
        "web-example",
    ];
    argv.extend_from_slice(secret_args);
    argv.extend([
        "--port",
        &port,
        "--scope",
        "openid profile email",
        "--timeout",
        "30",
    ]);
    let args = Args::try_parse_from(argv).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let task = actix_web::rt::spawn(async move {
        let mut out = Lines {
            pending: Vec::new(),
            tx,
        };
        run(&args, &mut out).await
    });
    (task, rx)
}

async fn line(rx: &mut mpsc::UnboundedReceiver<String>, key: &str) -> String {
    let next = tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no {key}= line in time"))
        .unwrap_or_else(|| panic!("the client stopped before printing {key}="));
    next.strip_prefix(&format!("{key}="))
        .unwrap_or_else(|| panic!("expected {key}=…, got {next}"))
        .to_string()
}

/// A first-party confidential client: no consent page.
fn register(app: &TestApp, port: u16) -> String {
    register_with(app, port, None)
}

/// As `register`, with a fixed secret when `secret` is given.
fn register_with(app: &TestApp, port: u16, secret: Option<&str>) -> String {
    app.create_client(serde_json::json!({
        "client_id": "web-example",
        "secret": secret,
        "grant_types": ["authorization_code"],
        "scopes": ["openid", "profile", "email"],
        "redirect_uris": [format!("http://127.0.0.1:{port}/callback")],
        "first_party": true,
    }))
    .or(secret.map(str::to_string))
    .unwrap()
}

/// The browser: opens `url`, signs in as admin and follows the redirect to the client's
/// listener. Returns the redirect's Location.
async fn sign_in_as_browser(app: &TestApp, url: &str) -> String {
    let mut jar = Jar::default();
    let page = get(app, &mut jar, url).await;
    assert_eq!(page.status(), 200, "the login page");
    let html = page.text().await.unwrap();
    let resp = post(
        app,
        &mut jar,
        "/realms/default/login-actions/authenticate",
        &[
            ("csrf", hidden(&html, "csrf").as_str()),
            ("request", hidden(&html, "request").as_str()),
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("action", "login"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303, "a first-party client skips consent");
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let landed = app.http.get(&location).send().await.unwrap();
    assert_eq!(landed.status(), 200, "the client's callback answers");
    location
}

#[actix_web::test]
async fn example_oidc_client_runs_the_code_flow_against_tessera() {
    let app = spawn_app().await;
    let port = free_port();
    let secret = register(&app, port);
    let (task, rx) = start_client(&app, &secret, port);
    completes_the_code_flow(&app, port, task, rx).await;
}

/// A secret that starts with `-` (as about one generated secret in 64 does) is still the
/// secret, typed either as two arguments or as `--client-secret=VALUE`, or in the
/// environment variable.
#[actix_web::test]
async fn example_oidc_client_accepts_a_secret_starting_with_a_hyphen() {
    let secret = format!("-{}", "s".repeat(40));
    let separate = Args::try_parse_from([
        "oidc-client",
        "--issuer",
        "http://127.0.0.1:1/realms/default",
        "--client-id",
        "web-example",
        "--client-secret",
        &secret,
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(separate.client_secret, secret);

    let app = spawn_app().await;
    let port = free_port();
    register_with(&app, port, Some(&secret));
    let (task, rx) = start_client_with(&app, &["--client-secret", &secret], port);
    completes_the_code_flow(&app, port, task, rx).await;
}

/// Drives a started client through sign-in to its verified outcome.
async fn completes_the_code_flow(
    app: &TestApp,
    port: u16,
    task: actix_web::rt::task::JoinHandle<Result<Outcome, tessera_example_oidc_client::Error>>,
    mut rx: mpsc::UnboundedReceiver<String>,
) {
    let redirect_uri = line(&mut rx, "redirect_uri").await;
    assert_eq!(redirect_uri, format!("http://127.0.0.1:{port}/callback"));
    let open = line(&mut rx, "open").await;
    assert!(
        open.starts_with(&format!("{}/protocol/openid-connect/auth?", app.issuer)),
        "{open}"
    );
    for param in [
        "code_challenge_method=S256",
        "nonce=",
        "state=",
        "scope=openid",
    ] {
        assert!(open.contains(param), "{param} in {open}");
    }
    let location = sign_in_as_browser(app, &open).await;
    assert!(location.starts_with(&redirect_uri), "{location}");

    let outcome = task.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
    let sub = line(&mut rx, "sub").await;
    assert_eq!(line(&mut rx, "id_token_verified").await, "true");
    let userinfo_sub = line(&mut rx, "userinfo_sub").await;
    assert!(!sub.is_empty());
    assert_eq!(sub, userinfo_sub);
    assert_eq!(outcome.subject, sub);
    assert_eq!(outcome.preferred_username.as_deref(), Some("admin"));
}

#[actix_web::test]
async fn example_oidc_client_fails_clearly_with_a_wrong_secret() {
    let app = spawn_app().await;
    let port = free_port();
    register(&app, port);
    let (task, mut rx) = start_client(&app, "not-the-secret", port);
    line(&mut rx, "redirect_uri").await;
    let open = line(&mut rx, "open").await;
    sign_in_as_browser(&app, &open).await;
    let err = task.await.unwrap().expect_err("a wrong secret fails");
    let message = err.to_string();
    assert!(
        message.contains("code exchange failed") && message.contains("invalid_client"),
        "{message}"
    );
}
