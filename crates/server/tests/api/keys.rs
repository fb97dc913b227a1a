//! Key rotation (JWKS-04): a rotated key is published, then signs; old tokens keep verifying.

use crate::helpers::*;
use std::time::{Duration, Instant};

async fn cc_token(app: &TestApp, secret: &str) -> String {
    access_token_of(
        app.post_basic("svc", secret, &[("grant_type", "client_credentials")])
            .await,
    )
    .await
}

#[actix_web::test]
async fn jwks_04_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key() {
    let app = spawn_app().await;
    let secret = app.create_svc();
    let old_token = cc_token(&app, &secret).await;
    let old = verify_independently(&old_token, &app.jwks().await);
    let old_kid = old.header["kid"].as_str().unwrap().to_string();

    // `tessera keys rotate` as an operator runs it, against the same keys directory.
    let mut rotate = std::process::Command::new(tessera_bin());
    rotate
        .args(["keys", "rotate", "--keys-dir"])
        .arg(&app.keys_dir)
        .env("TESSERA_KEYS_ACTIVATION_DELAY_SECS", "0")
        .env_remove("TESSERA_CONFIG");
    let out = output_of(rotate).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("published now"));

    // The key is stamped with the CLI's wall clock; move the server's clock past it. The
    // running server picks the new key up within its reload interval (1 s here), and with no
    // activation delay it signs from then on.
    app.clock.advance(60);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (new, jwks) = loop {
        // The token first, then the key set: a reload between the two must not leave a token
        // signed by a key the fetched set does not list yet (the set may also lag its cache).
        let token = cc_token(&app, &secret).await;
        let jwks = app.jwks().await;
        let kid = token_kid(&token);
        let published = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str());
        if kid != old_kid && published {
            break (verify_independently(&token, &jwks), jwks);
        }
        assert!(
            Instant::now() < deadline,
            "the rotated key never signed: {jwks}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        4,
        "old and new keys are published"
    );
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == new.header["kid"])
    );
    // The old token still verifies against the current JWKS.
    let still = verify_independently(&old_token, &jwks);
    assert_eq!(still.header["kid"].as_str().unwrap(), old_kid);
}

#[actix_web::test]
async fn a_rotated_key_waits_for_its_activation_delay_before_signing() {
    let app = spawn_app_with(|c| c.keys.activation_delay_secs = 600).await;
    let secret = app.create_svc();
    let before = verify_independently(&cc_token(&app, &secret).await, &app.jwks().await);
    let mut rotate = std::process::Command::new(tessera_bin());
    rotate
        .args(["keys", "rotate", "--keys-dir"])
        .arg(&app.keys_dir)
        .env("TESSERA_KEYS_ACTIVATION_DELAY_SECS", "600")
        .env_remove("TESSERA_CONFIG");
    let out = output_of(rotate).await;
    assert!(out.status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.jwks().await["keys"].as_array().unwrap().len() != 4 {
        assert!(Instant::now() < deadline, "rotated keys never published");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    // Published, but the old key still signs.
    let during = verify_independently(&cc_token(&app, &secret).await, &app.jwks().await);
    assert_eq!(during.header["kid"], before.header["kid"]);
    // Once the server's clock passes the delay (and the next reload), the new key signs. The
    // key was stamped by the CLI's wall clock, a little after the server's clock started.
    app.clock.advance(700);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = verify_independently(&cc_token(&app, &secret).await, &app.jwks().await);
        if now.header["kid"] != before.header["kid"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new key never started signing"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `kid` of a JWT's header, unverified.
fn token_kid(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_string()
}
