//! The browser sign-in end to end in real headless Chromium: this test starts the server and
//! registers a client, and `tests/browser/e2e.mjs` (node's test runner, playwright-core driving
//! Debian's `/usr/bin/chromium`) signs in through the login and consent pages, lands on a local
//! callback, exchanges the code, checks the ID token, calls userinfo, refreshes and logs out.
//!
//! `.ci/browser.sh` installs Chromium and playwright-core; without them these tests skip as
//! [`crate::external::available`] says (and fail under CI).

use crate::external::*;
use crate::helpers::*;
use std::path::Path;

const CLIENT_ID: &str = "e2e";

/// Registers the confidential client `e2e` for `redirect` (also as its post-logout redirect
/// URI); returns its secret.
fn register_client(app: &TestApp, redirect: &str) -> String {
    app.create_client(serde_json::json!({
        "client_id": CLIENT_ID,
        "name": "Tessera E2E",
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "profile", "email"],
        "redirect_uris": [redirect],
        "post_logout_redirect_uris": [redirect],
    }))
    .expect("a confidential client gets a secret")
}

/// Whether Chromium and playwright-core are installed.
fn browser_available(root: &Path) -> bool {
    available(&browser_missing(root))
}

/// Runs one node test file of `tests/browser` and fails with its output when it fails.
async fn run_node_test(root: &Path, file: &str, env: &[(&str, String)]) {
    let mut node = node_test(root, file);
    for (k, v) in env {
        node.env(k, v);
    }
    run_and_check(&format!("node --test {file}"), node).await;
}

#[actix_web::test]
async fn browser_sign_in_end_to_end_in_headless_chromium() {
    let root = repo_root();
    if !browser_available(&root) {
        return;
    }
    let app = spawn_app().await;
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let secret = register_client(&app, &redirect);

    run_node_test(
        &root,
        "tests/browser/e2e.mjs",
        &[
            ("TESSERA_URL", app.base.clone()),
            ("TESSERA_ADMIN_USERNAME", "admin".into()),
            ("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("CLIENT_ID", CLIENT_ID.into()),
            ("CLIENT_SECRET", secret),
            ("CALLBACK_PORT", port.to_string()),
        ],
    )
    .await;
}

/// The web console (`tests/browser/console.mjs`): a member's personal-key lifecycle checked
/// against the API, sign-out, a viewer refused team keys, and the admin pages.
#[actix_web::test]
async fn console_in_headless_chromium() {
    let root = repo_root();
    if !browser_available(&root) {
        return;
    }
    let app = spawn_app().await;
    app.provision_user("mia", "mia-password-1", "root", "member");
    app.provision_user("vic", "vic-password-1", "root", "viewer");
    let mut env = vec![
        ("TESSERA_URL", app.base.clone()),
        ("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("MEMBER_PASSWORD", "mia-password-1".to_string()),
        ("VIEWER_PASSWORD", "vic-password-1".to_string()),
    ];
    if let Ok(v) = std::env::var("TESSERA_SCREENSHOTS") {
        env.push(("TESSERA_SCREENSHOTS", v));
    }
    run_node_test(&root, "tests/browser/console.mjs", &env).await;
}

/// Second factors (`tests/browser/mfa.mjs`): TOTP set up on the account page and asked at
/// sign-in, a recovery code accepted once, and enrolment forced by a role that requires MFA.
#[actix_web::test]
async fn second_factors_in_headless_chromium() {
    let root = repo_root();
    if !browser_available(&root) {
        return;
    }
    let app = spawn_app().await;
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let secret = register_client(&app, &redirect);
    app.provision_user("tina", "tina-password-1", "root", "member");
    app.provision_user("rosa", "rosa-password-1", "root", "viewer");
    let admin = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let (status, roles) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/roles?filter=name%20eq%20%22viewer%22",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{roles}");
    let viewer = roles["roles"][0]["id"].as_str().unwrap().to_string();
    let (status, body) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/roles/{viewer}"),
            Some(&admin),
            Some(serde_json::json!({"requires_mfa": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    run_node_test(
        &root,
        "tests/browser/mfa.mjs",
        &[
            ("TESSERA_URL", app.base.clone()),
            ("CLIENT_ID", CLIENT_ID.into()),
            ("CLIENT_SECRET", secret),
            ("CALLBACK_PORT", port.to_string()),
            (
                "SERVER_TIME",
                tessera_core::Clock::now(&app.clock).to_string(),
            ),
            ("TINA_PASSWORD", "tina-password-1".into()),
            ("ROSA_PASSWORD", "rosa-password-1".into()),
        ],
    )
    .await;
    // The store agrees with what the browser saw: Tina's app is confirmed, one recovery code
    // is spent; Rosa enrolled during sign-in.
    let mut conn = app.db.conn().unwrap();
    for (name, spent) in [("tina", 1), ("rosa", 0)] {
        let user = tessera_store::users::by_username(&mut conn, &app_realm_id(&app), name)
            .unwrap()
            .unwrap();
        let factors = tessera_store::mfa::factors_of(&mut conn, &user.id).unwrap();
        assert!(factors.totp, "{name}");
        assert_eq!(factors.recovery_codes_left, 10 - spent, "{name}");
    }
}

fn app_realm_id(app: &TestApp) -> String {
    tessera_store::realms::by_name(&mut app.db.conn().unwrap(), "default")
        .unwrap()
        .unwrap()
        .id
}
