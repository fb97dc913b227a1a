//! Passkeys (WebAuthn): the whole story in headless Chromium with a CDP virtual authenticator
//! (`tests/browser/passkey.mjs`: add one on the account page, sign in with it alone, then use
//! it as the second factor after the password), and the refusals over plain HTTP.
//!
//! WebAuthn needs a DNS name as the relying party ID, so these servers run with
//! `public_url = http://localhost:{port}`; behind an IP literal passkeys are off.

use crate::authorize::{
    Jar, REDIRECT, auth_url, get, hidden, open_sign_in_page, post, post_page_form, query_of,
    web_client,
};
use crate::external::*;
use crate::helpers::*;

const BEGIN: &str = "/realms/default/login-actions/passkey/begin";
const FINISH: &str = "/realms/default/login-actions/passkey/finish";

/// A server whose public URL is `http://localhost:{port}`, with `adjust` applied too.
async fn spawn_on_localhost(adjust: impl FnOnce(&mut tessera_server::config::Config)) -> TestApp {
    let port = free_port();
    spawn_app_with(|c| {
        c.listen = format!("127.0.0.1:{port}");
        c.public_url = format!("http://localhost:{port}");
        adjust(c);
    })
    .await
}

/// POSTs JSON to `path` with the page's CSRF token (from the jar's cookie) in the header.
async fn begin(
    app: &TestApp,
    jar: &mut Jar,
    path: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    let csrf = jar.0.get("tessera_csrf").cloned().unwrap_or_default();
    let resp = app
        .http
        .post(format!("{}{path}", app.base))
        .header("cookie", jar.header())
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    jar.absorb(&resp);
    resp
}

/// Posts the passkey finish form from the sign-in page `html`.
/// Begins a passwordless sign-in and returns the challenge it issued.
async fn passwordless_challenge(app: &TestApp, jar: &mut Jar) -> String {
    let resp = begin(
        app,
        jar,
        BEGIN,
        serde_json::json!({"purpose": "passwordless"}),
    )
    .await;
    resp.json::<serde_json::Value>().await.unwrap()["challenge"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn finish(
    app: &TestApp,
    jar: &mut Jar,
    html: &str,
    challenge: &str,
    credential: &str,
) -> reqwest::Response {
    post_page_form(
        app,
        jar,
        FINISH,
        html,
        &[
            ("purpose", "passwordless"),
            ("challenge", challenge),
            ("credential", credential),
        ],
    )
    .await
}

/// An assertion that parses but proves nothing: webauthn-rs must refuse it.
fn forged_assertion() -> String {
    serde_json::json!({
        "id": "AAAA",
        "rawId": "AAAA",
        "type": "public-key",
        "response": {
            "clientDataJSON": "e30",
            "authenticatorData": "AAAA",
            "signature": "AAAA",
            "userHandle": "AAAAAAAAAAAAAAAAAAAAAA",
        },
        "extensions": {},
    })
    .to_string()
}

/// Whether the jar's browser is signed in: prompt=none answers a code, or login_required.
async fn signed_in(app: &TestApp, jar: &mut Jar) -> bool {
    let resp = get(app, jar, &auth_url(app, &[("prompt", "none")])).await;
    assert_eq!(resp.status(), 303);
    let q = query_of(resp.headers()["location"].to_str().unwrap());
    q.contains_key("code")
}

#[actix_web::test]
async fn passkeys_are_off_when_public_url_is_an_ip_address() {
    let app = spawn_app().await;
    assert!(app.base.starts_with("http://127.0.0.1:"), "{}", app.base);
    web_client(&app);
    let mut jar = Jar::default();
    let login = get(&app, &mut jar, &auth_url(&app, &[])).await;
    assert_eq!(login.status(), 200);
    let html = login.text().await.unwrap();
    assert!(
        !html.contains("passkey-sign-in"),
        "no passkey button: {html}"
    );

    for (path, body) in [
        (BEGIN, serde_json::json!({"purpose": "passwordless"})),
        (
            "/realms/default/account/passkeys/begin",
            serde_json::json!({}),
        ),
    ] {
        let resp = begin(&app, &mut jar, path, body).await;
        assert_eq!(resp.status(), 404, "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        let message = body["error"].as_str().unwrap();
        assert!(message.contains("DNS name"), "{message}");
        assert!(message.contains("localhost"), "{message}");
    }
    let script = get(
        &app,
        &mut jar,
        &format!("{}/realms/default/login-actions/passkey.js", app.base),
    )
    .await;
    assert_eq!(script.status(), 404);
}

#[actix_web::test]
async fn the_script_is_served_from_our_origin_and_cacheable() {
    let app = spawn_on_localhost(|_| {}).await;
    let resp = app
        .http
        .get(format!(
            "{}/realms/default/login-actions/passkey.js",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let js = resp.text().await.unwrap();
    assert!(js.contains("navigator.credentials.get"), "{js}");
}

#[actix_web::test]
async fn begin_needs_the_pages_csrf_token_and_gives_a_discoverable_request() {
    let app = spawn_on_localhost(|_| {}).await;
    web_client(&app);
    let mut jar = Jar::default();
    let login = get(&app, &mut jar, &auth_url(&app, &[])).await;
    assert_eq!(login.status(), 200);

    // Without the header: refused, nothing stored.
    let resp = app
        .http
        .post(format!("{}{BEGIN}", app.base))
        .header("cookie", jar.header())
        .json(&serde_json::json!({"purpose": "passwordless"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);

    let resp = begin(
        &app,
        &mut jar,
        BEGIN,
        serde_json::json!({"purpose": "nonsense"}),
    )
    .await;
    assert_eq!(resp.status(), 400);

    let resp = begin(
        &app,
        &mut jar,
        BEGIN,
        serde_json::json!({"purpose": "passwordless"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let options: serde_json::Value = resp.json().await.unwrap();
    assert!(options["challenge"].as_str().unwrap().len() >= 43);
    let pk = &options["publicKey"];
    assert_eq!(pk["rpId"], "localhost");
    assert_eq!(pk["userVerification"], "required");
    assert_eq!(pk["allowCredentials"], serde_json::json!([]));
    assert!(pk["challenge"].as_str().unwrap().len() >= 43);
    assert!(
        options.get("mediation").is_none(),
        "a button, not conditional UI"
    );

    // A second factor needs a sign-in waiting for one.
    let resp = begin(
        &app,
        &mut jar,
        BEGIN,
        serde_json::json!({"purpose": "second-factor"}),
    )
    .await;
    assert_eq!(resp.status(), 401);

    // Registration needs a signed-in user.
    let resp = begin(
        &app,
        &mut jar,
        "/realms/default/account/passkeys/begin",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(resp.status(), 401);
}

#[actix_web::test]
async fn finish_with_an_unknown_or_used_challenge_signs_nobody_in() {
    let app = spawn_on_localhost(|_| {}).await;
    web_client(&app);
    let mut jar = Jar::default();
    let login = get(&app, &mut jar, &auth_url(&app, &[])).await;
    let mut html = login.text().await.unwrap();

    // A challenge never issued.
    let resp = finish(&app, &mut jar, &html, "never-issued", &forged_assertion()).await;
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("tessera_session=")),
        "no session cookie"
    );
    html = resp.text().await.unwrap();
    assert!(html.contains("could not sign you in"), "{html}");

    // A real challenge with a forged assertion: refused, and the challenge is spent.
    let challenge = passwordless_challenge(&app, &mut jar).await;
    let resp = finish(&app, &mut jar, &html, &challenge, &forged_assertion()).await;
    assert_eq!(resp.status(), 401);
    html = resp.text().await.unwrap();
    let resp = finish(&app, &mut jar, &html, &challenge, &forged_assertion()).await;
    assert_eq!(resp.status(), 401);
    html = resp.text().await.unwrap();
    assert!(html.contains("could not sign you in"), "{html}");

    // Malformed credential JSON: the same answer.
    let challenge = passwordless_challenge(&app, &mut jar).await;
    let resp = finish(&app, &mut jar, &html, &challenge, "{not json").await;
    assert_eq!(resp.status(), 401);

    assert!(!jar.0.contains_key("tessera_session"));
    assert!(!signed_in(&app, &mut jar).await, "nobody is signed in");

    // The failures are audited as passkey sign-ins.
    let mut conn = app.db.conn().unwrap();
    let realm = tessera_store::realms::by_name(&mut conn, "default")
        .unwrap()
        .unwrap();
    let failures = tessera_store::audit::of_realm(&mut conn, &realm.id)
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.action == "user.sign_in" && e.outcome == "failure" && e.detail.contains("passkey")
        })
        .count();
    assert_eq!(failures, 4);
}

#[actix_web::test]
async fn passkey_failures_lock_the_address_like_passwords() {
    let app = spawn_on_localhost(|c| c.issuer.throttle.address_max_failures = 3).await;
    web_client(&app);
    let mut jar = Jar::default();
    let mut html = open_sign_in_page(&app, &mut jar).await;
    for attempt in 1..=3 {
        let resp = finish(&app, &mut jar, &html, "nope", &forged_assertion()).await;
        assert_eq!(resp.status(), 401, "attempt {attempt}");
        html = resp.text().await.unwrap();
    }
    let resp = finish(&app, &mut jar, &html, "nope", &forged_assertion()).await;
    assert_eq!(resp.status(), 429);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Too many failed attempts"), "{html}");
}

#[actix_web::test]
async fn finish_refuses_a_form_without_its_csrf_token_or_a_valid_request() {
    let app = spawn_on_localhost(|_| {}).await;
    web_client(&app);
    let mut jar = Jar::default();
    let html = open_sign_in_page(&app, &mut jar).await;
    let resp = post(
        &app,
        &mut jar,
        FINISH,
        &[
            ("csrf", "wrong"),
            ("request", &hidden(&html, "request")),
            ("challenge", "x"),
            ("credential", "{}"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 400);
    // A request for an unregistered redirect URI gets the error page, never a redirect.
    let bad_request = hidden(&html, "request").replace(
        &form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        "https%3A%2F%2Fevil.example%2Fcb",
    );
    let resp = post(
        &app,
        &mut jar,
        FINISH,
        &[
            ("csrf", &hidden(&html, "csrf")),
            ("request", &bad_request),
            ("challenge", "x"),
            ("credential", "{}"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
}

/// The whole story in Chromium (`tests/browser/passkey.mjs`): add a passkey on the account
/// page, sign in with it alone, and use it as the second factor; then the store is checked.
#[actix_web::test]
async fn passkeys_in_headless_chromium() {
    let root = repo_root();
    if !available(&browser_missing(&root)) {
        return;
    }
    let app = spawn_on_localhost(|_| {}).await;
    let user_id = app.provision_user("pia", "pia-password-1", "root", "member");
    let callback_port = free_port();
    let redirect = format!("http://127.0.0.1:{callback_port}/callback");
    let secret = app
        .create_client(serde_json::json!({
            "client_id": "passkeys",
            "name": "Passkey test",
            "first_party": true,
            "grant_types": ["authorization_code"],
            "scopes": ["openid", "profile"],
            "redirect_uris": [redirect],
            "post_logout_redirect_uris": [redirect],
        }))
        .unwrap();
    let mut node = node_test(&root, "tests/browser/passkey.mjs");
    node.env("TESSERA_URL", &app.base)
        .env("TESSERA_USERNAME", "pia")
        .env("TESSERA_PASSWORD", "pia-password-1")
        .env("CLIENT_ID", "passkeys")
        .env("CLIENT_SECRET", secret)
        .env("CALLBACK_PORT", callback_port.to_string());
    run_and_check("node --test tests/browser/passkey.mjs", node).await;

    // The passkey is gone from the store, and the audit log tells its story.
    let mut conn = app.db.conn().unwrap();
    assert!(
        tessera_store::mfa::passkeys_of(&mut conn, &user_id)
            .unwrap()
            .is_empty()
    );
    let realm = tessera_store::realms::by_name(&mut conn, "default")
        .unwrap()
        .unwrap();
    let who = format!("user:{user_id}");
    let events: Vec<(String, String, String)> =
        tessera_store::audit::of_realm(&mut conn, &realm.id)
            .unwrap()
            .into_iter()
            .filter(|e| e.target == who)
            .map(|e| (e.action, e.outcome, e.detail))
            .collect();
    let count = |action: &str, detail: &str| {
        events
            .iter()
            .filter(|(a, o, d)| a == action && o == "success" && d.contains(detail))
            .count()
    };
    assert_eq!(count("user.passkey_added", "laptop"), 1, "{events:?}");
    assert_eq!(
        count("user.sign_in", "\"method\":\"passkey\""),
        1,
        "{events:?}"
    );
    assert_eq!(count("user.second_factor", "passkey"), 1, "{events:?}");
    assert_eq!(count("user.passkey_removed", ""), 1, "{events:?}");
}

#[actix_web::test]
async fn account_passkey_forms_refuse_bad_input_and_other_ids() {
    let app = spawn_on_localhost(|_| {}).await;
    web_client(&app);
    let mut jar = Jar::default();
    crate::authorize::sign_in(&app, &mut jar, &auth_url(&app, &[])).await;
    let account = get(
        &app,
        &mut jar,
        &format!("{}/realms/default/account/", app.base),
    )
    .await;
    assert_eq!(account.status(), 200);
    let html = account.text().await.unwrap();
    assert!(
        html.contains("id=\"passkey-add\""),
        "the add button: {html}"
    );
    let csrf = hidden(&html, "csrf");
    const ADD: &str = "/realms/default/account/passkeys/finish";

    // Registration begins for the signed-in user, asking for a discoverable credential.
    let resp = begin(
        &app,
        &mut jar,
        "/realms/default/account/passkeys/begin",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let options: serde_json::Value = resp.json().await.unwrap();
    let selection = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required");
    assert_eq!(selection["requireResidentKey"], true);
    assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
    let challenge = options["challenge"].as_str().unwrap().to_string();

    // No name, a name too long, no CSRF token, a forged credential: 4xx, nothing stored.
    for (fields, status) in [
        (
            vec![
                ("csrf", csrf.as_str()),
                ("name", " "),
                ("challenge", &challenge),
            ],
            400,
        ),
        (
            vec![
                ("csrf", csrf.as_str()),
                ("name", &"x".repeat(101)),
                ("challenge", &challenge),
            ],
            400,
        ),
        (
            vec![
                ("csrf", "forged"),
                ("name", "laptop"),
                ("challenge", &challenge),
            ],
            400,
        ),
        (
            vec![
                ("csrf", csrf.as_str()),
                ("name", "laptop"),
                ("challenge", &challenge),
            ],
            400,
        ),
        // The challenge was spent by the forged credential just above.
        (
            vec![
                ("csrf", csrf.as_str()),
                ("name", "laptop"),
                ("challenge", &challenge),
            ],
            400,
        ),
    ] {
        let mut form = fields.clone();
        form.push(("credential", "{\"id\":\"AAAA\"}"));
        let resp = post(&app, &mut jar, ADD, &form).await;
        assert_eq!(resp.status(), status, "{fields:?}");
    }
    let mut conn = app.db.conn().unwrap();
    let realm = tessera_store::realms::by_name(&mut conn, "default")
        .unwrap()
        .unwrap();
    let admin = tessera_store::users::by_username(&mut conn, &realm.id, "admin")
        .unwrap()
        .unwrap();
    assert!(
        tessera_store::mfa::passkeys_of(&mut conn, &admin.id)
            .unwrap()
            .is_empty()
    );

    // Removing a passkey that is not the user's: 404; without the CSRF token: 400.
    let resp = post(
        &app,
        &mut jar,
        "/realms/default/account/passkeys/no-such-id/remove",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), 404);
    let resp = post(
        &app,
        &mut jar,
        "/realms/default/account/passkeys/no-such-id/remove",
        &[("csrf", "forged")],
    )
    .await;
    assert_eq!(resp.status(), 400);
}
