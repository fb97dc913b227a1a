//! The browser sign-in end to end in real headless Chromium: this test starts the server and
//! registers a client, and `tests/browser/e2e.mjs` (node's test runner, playwright-core driving
//! Debian's `/usr/bin/chromium`) signs in through the login and consent pages, lands on a local
//! callback, exchanges the code, checks the ID token, calls userinfo, refreshes and logs out.
//!
//! `.ci/browser.sh` installs Chromium and playwright-core; without them this test says so and
//! passes, so `cargo test` works on a machine that has neither.

use crate::helpers::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";
const CLIENT_ID: &str = "e2e";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits two levels below the repository root")
        .to_path_buf()
}

/// A port that was free a moment ago, for the callback server node starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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

#[actix_web::test]
async fn browser_sign_in_end_to_end_in_headless_chromium() {
    let root = repo_root();
    if !Path::new(CHROMIUM).exists()
        || !root
            .join("tests/browser/node_modules/playwright-core")
            .is_dir()
    {
        println!("skipped: chromium/playwright-core not installed (run .ci/browser.sh)");
        return;
    }
    let app = spawn_app().await;
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let secret = register_client(&app, &redirect);

    let mut node = Command::new("node");
    node.current_dir(&root)
        .args(["--test", "--test-reporter=spec", "tests/browser/e2e.mjs"])
        .env("TESSERA_URL", &app.base)
        .env("TESSERA_ADMIN_USERNAME", "admin")
        .env("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", &secret)
        .env("CALLBACK_PORT", port.to_string())
        .env("CHROMIUM", CHROMIUM)
        .env("NO_COLOR", "1");
    let out = output_of(node).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- node --test tests/browser/e2e.mjs: stdout\n{stdout}");
    if !stderr.trim().is_empty() {
        println!("--- stderr\n{stderr}");
    }
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
