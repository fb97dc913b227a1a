//! Split deployment: `tessera issuer` and `tessera resource --issuer-url …` as two processes
//! on one database. The resource server verifies the issuer's tokens with the JWKS it fetches
//! over HTTP, follows a key rotation, and exchanges API keys at the issuer.

use crate::helpers::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `tessera` child process, killed when dropped.
struct Process {
    child: Child,
    url: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tessera <args>` and waits for the line announcing its URL.
async fn start(dir: &std::path::Path, database_url: &str, args: &[&str]) -> Process {
    let mut cmd = Command::new(tessera_bin());
    cmd.arg("--database-url")
        .arg(database_url)
        .arg("--keys-dir")
        .arg(dir.join("keys"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("TESSERA_CONFIG")
        .env("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("TESSERA_ARGON2_MEMORY_KIB", "256")
        .env("TESSERA_ARGON2_ITERATIONS", "1")
        .env("TESSERA_METRICS_LISTEN", "127.0.0.1:0")
        .env("TESSERA_KEYS_ACTIVATION_DELAY_SECS", "0")
        .env("TESSERA_KEYS_RELOAD_INTERVAL_SECS", "1")
        .env("TESSERA_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let url = announced_url(stdout)
        .await
        .expect("the process announced its URL");
    Process { child, url }
}

async fn admin_token(http: &reqwest::Client, issuer: &str) -> String {
    access_token_of(
        http.post(format!(
            "{issuer}/realms/default/protocol/openid-connect/token"
        ))
        .form(ADMIN_PASSWORD_GRANT)
        .send()
        .await
        .unwrap(),
    )
    .await
}

async fn auth_test(http: &reqwest::Client, resource: &str, bearer: &str) -> reqwest::StatusCode {
    http.get(format!("{resource}/v1/auth/test"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
        .status()
}

#[actix_web::test]
async fn issuer_and_resource_as_two_processes() {
    tessera_resource::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _pg) = fresh_database_url(dir.path());
    let issuer = start(dir.path(), &database_url, &["issuer"]).await;
    let resource = start(
        dir.path(),
        &database_url,
        &["resource", "--issuer-url", &issuer.url],
    )
    .await;
    let http = reqwest::Client::new();

    // Each process serves only its own endpoints.
    let on_resource = http
        .post(format!(
            "{}/realms/default/protocol/openid-connect/token",
            resource.url
        ))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(on_resource.status(), 404);
    assert_eq!(auth_test(&http, &issuer.url, "x").await, 404);

    // A token from the issuer is accepted by the resource server.
    let token = admin_token(&http, &issuer.url).await;
    assert_eq!(auth_test(&http, &resource.url, &token).await, 200);

    // An API key made at the resource server is exchanged at the issuer for a JWT.
    let created: serde_json::Value = send_json(
        http.post(format!("{}/api/v1/apikeys", resource.url))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "split"})),
    )
    .await;
    let (id, key) = (
        created["id"].as_str().unwrap(),
        created["value"].as_str().unwrap(),
    );
    let exchanged: serde_json::Value = send_json(
        http.get(format!("{}/api/v1/apikeys/{id}/token", resource.url))
            .bearer_auth(key),
    )
    .await;
    let key_jwt = exchanged["token"].as_str().expect("an exchanged token");
    assert_eq!(auth_test(&http, &resource.url, key_jwt).await, 200);

    // Rotate the issuer's keys; new tokens carry the new kid and still verify at the resource
    // server, which refetches the JWKS for an unknown kid (at most every few seconds).
    let old_kid = tessera_token::JwksVerifier::token_kid(&token).unwrap();
    let mut rotate = Command::new(tessera_bin());
    rotate
        .args(["keys", "rotate", "--keys-dir"])
        .arg(dir.path().join("keys"))
        .env("TESSERA_KEYS_ACTIVATION_DELAY_SECS", "0")
        .env_remove("TESSERA_CONFIG");
    assert!(output_of(rotate).await.status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let new_token = loop {
        let t = admin_token(&http, &issuer.url).await;
        if tessera_token::JwksVerifier::token_kid(&t).unwrap() != old_kid {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "the issuer never signed with the new key"
        );
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    };
    loop {
        if auth_test(&http, &resource.url, &new_token).await == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the resource server never accepted the new key"
        );
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    }
    // The old token still verifies: its key stays published until its tokens expire.
    assert_eq!(auth_test(&http, &resource.url, &token).await, 200);
}
