//! Real Python client libraries against the real server: python-keycloak's `KeycloakOpenID`
//! (`tests/python/keycloak_client.py`) and a relying party written with authlib that signs in
//! by `response_mode=form_post` in headless Chromium (`tests/python/authlib_form_post.py`,
//! driven by `tests/browser/authlib.mjs`).
//!
//! `.ci/python.sh` builds the venv (`tests/python/.venv`) and `.ci/browser.sh` installs Chromium
//! and playwright-core; without them these tests skip as [`crate::external::available`] says.

use crate::external::*;
use crate::helpers::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn venv_python(root: &Path) -> PathBuf {
    root.join("tests/python/.venv/bin/python")
}

fn python_missing(root: &Path) -> Vec<String> {
    let python = venv_python(root);
    if python.exists() {
        Vec::new()
    } else {
        vec![format!(
            "{} not found (run .ci/python.sh)",
            python.display()
        )]
    }
}

/// python-keycloak 7: password grant, certs, decode_token (JWKS and the realm's public key),
/// userinfo, introspect, refresh, logout (then the refresh token is refused), and
/// client_credentials with its default `scope=openid`.
#[actix_web::test]
async fn python_keycloak_openid_client_against_tessera() {
    let root = repo_root();
    if !available(&python_missing(&root)) {
        return;
    }
    let app = spawn_app().await;
    app.provision_user("kc-user", "kc-user-password-1", "root", "member");
    let secret = app
        .create_client(serde_json::json!({
            "client_id": "kc",
            "name": "python-keycloak",
            "grant_types": ["password", "refresh_token", "client_credentials"],
            "scopes": ["openid", "profile", "email"],
        }))
        .expect("a confidential client gets a secret");

    let mut python = Command::new(venv_python(&root));
    python
        .current_dir(&root)
        .arg("tests/python/keycloak_client.py")
        .env("TESSERA_URL", &app.base)
        .env("TESSERA_REALM", "default")
        .env("CLIENT_ID", "kc")
        .env("CLIENT_SECRET", secret)
        .env("USERNAME", "kc-user")
        .env("PASSWORD", "kc-user-password-1")
        .env("TESSERA_AUDIENCE", app.base.as_str())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    run_and_check("keycloak_client.py", python).await;
}

/// A relying party written with authlib (PKCE S256, `response_mode=form_post`, ID token checked
/// by authlib) and a person signing in through Tessera's pages in headless Chromium: with
/// script, without script (the page's Continue button), and cancelling (the error is posted).
#[actix_web::test]
async fn authlib_relying_party_signs_in_by_form_post_in_headless_chromium() {
    let root = repo_root();
    let mut missing = python_missing(&root);
    missing.extend(browser_missing(&root));
    if !available(&missing) {
        return;
    }
    let app = spawn_app().await;
    app.provision_user("rp-user", "rp-user-password-1", "root", "member");
    let port = free_port();
    let secret = app
        .create_client(serde_json::json!({
            "client_id": "authlib-rp",
            "name": "Authlib RP",
            "grant_types": ["authorization_code"],
            "scopes": ["openid", "profile", "email"],
            "redirect_uris": [format!("http://127.0.0.1:{port}/callback")],
        }))
        .expect("a confidential client gets a secret");

    let mut node = node_test(&root, "tests/browser/authlib.mjs");
    node.env("PYTHON", venv_python(&root))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("TESSERA_URL", &app.base)
        .env("CLIENT_ID", "authlib-rp")
        .env("CLIENT_SECRET", secret)
        .env("RP_PORT", port.to_string())
        .env("USERNAME", "rp-user")
        .env("PASSWORD", "rp-user-password-1");
    run_and_check("node --test tests/browser/authlib.mjs", node).await;
}
