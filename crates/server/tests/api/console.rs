//! The web console's sign-in plumbing over plain HTTP (the pages themselves are driven in
//! Chromium by `tests/browser/console.mjs`): where a visitor is sent, what the sign-in request
//! carries, and the answers to callbacks that do not belong to a sign-in this browser started.

use crate::helpers::*;

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()["location"].to_str().unwrap().to_string()
}

fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn a_visitor_is_sent_through_the_realms_own_sign_in_with_pkce() {
    let app = spawn_app().await;
    let http = no_redirects();
    let console = format!("{}/realms/default/console", app.base);

    let resp = http
        .get(format!("{}/console", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/realms/default/console/");

    // A page without a session: to the console's sign-in start, remembering the page.
    let resp = http
        .get(format!("{console}/users?page_token=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(
        location(&resp),
        "/realms/default/console/login?return_to=%2Frealms%2Fdefault%2Fconsole%2Fusers%3Fpage_token%3Dabc"
    );
    assert_eq!(resp.headers()["x-frame-options"], "DENY");

    // The sign-in start: the authorization endpoint, as `portal`, with PKCE S256, state and nonce.
    let resp = http.get(format!("{console}/login")).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let to = reqwest::Url::parse(&location(&resp)).unwrap();
    assert_eq!(
        to.as_str().split('?').next().unwrap(),
        format!("{}/realms/default/protocol/openid-connect/auth", app.base)
    );
    let q: std::collections::HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "portal");
    assert_eq!(q["redirect_uri"], format!("{console}/callback"));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 32 && q["nonce"].len() >= 32);
    assert!(q["scope"].starts_with("openid profile "));
    let pending = set_cookies(&resp)
        .into_iter()
        .find(|c| c.starts_with("tessera_console_login="))
        .expect("the pending sign-in is kept in a cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/realms/default/console"] {
        assert!(pending.contains(attribute), "{pending}");
    }

    // The issuer accepts that request: it shows its sign-in page rather than an error.
    let resp = http.get(to.as_str()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("id=\"username\""));
}

/// A realm created while the server runs (here through the store, as `tessera realm create`
/// and `tessera import` do) has a working console at once: its sign-in start registers the
/// console with the realm's `portal`, and the issuer accepts the request.
#[actix_web::test]
async fn the_console_of_a_realm_created_while_running_signs_in_without_a_restart() {
    let app = spawn_app().await;
    let http = no_redirects();
    // The issuer has seen the new realm's portal before the console asks (a cached client).
    tessera_store::provision::bootstrap_realm(
        &app.db,
        "late",
        Some("late-admin-password"),
        &tessera_core::password::PasswordHasher::new(app.config.argon2).unwrap(),
        tessera_core::Clock::now(&app.clock),
    )
    .unwrap()
    .expect("a new realm");
    let token = app
        .http
        .post(format!(
            "{}/realms/late/protocol/openid-connect/token",
            app.base
        ))
        .form(&[
            ("client_id", "portal"),
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "late-admin-password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);

    let console = format!("{}/realms/late/console", app.base);
    let resp = http.get(format!("{console}/login")).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let to = reqwest::Url::parse(&location(&resp)).unwrap();
    let q: std::collections::HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert_eq!(q["redirect_uri"], format!("{console}/callback"));
    let resp = http.get(to.as_str()).send().await.unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(
        status, 200,
        "the issuer refused the console's sign-in: {body}"
    );
    assert!(body.contains("id=\"username\""), "{body}");
}

#[actix_web::test]
async fn the_console_is_registered_with_the_portal_client() {
    let app = spawn_app().await;
    let token = app
        .password_token("admin", ADMIN_PASSWORD, "client:read")
        .await;
    let (status, body) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/clients/portal",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let console = format!("{}/realms/default/console", app.base);
    assert_eq!(
        body["value"]["redirect_uris"],
        serde_json::json!([format!("{console}/callback")])
    );
    assert_eq!(
        body["value"]["post_logout_redirect_uris"],
        serde_json::json!([format!("{console}/signed-out")])
    );
}

#[actix_web::test]
async fn callbacks_that_belong_to_no_sign_in_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let http = no_redirects();
    let console = format!("{}/realms/default/console", app.base);

    // No pending sign-in in this browser.
    let resp = http
        .get(format!("{console}/callback?code=abc&state=xyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        set_cookies(&resp)
            .iter()
            .all(|c| !c.starts_with("tessera_console_at="))
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("expired or was started in another browser"),
        "{text}"
    );
    assert!(
        text.contains("/realms/default/console/login"),
        "a way to start again: {text}"
    );

    // A pending sign-in, and an answer with another state (a forged or crossed callback).
    let resp = http.get(format!("{console}/login")).send().await.unwrap();
    let pending = set_cookies(&resp)
        .into_iter()
        .find(|c| c.starts_with("tessera_console_login="))
        .unwrap();
    let pending = pending.split(';').next().unwrap().to_string();
    let resp = http
        .get(format!("{console}/callback?code=abc&state=not-the-one"))
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("does not belong"));

    // A cancelled sign-in comes back with the issuer's error: said plainly.
    let state = pending
        .trim_start_matches("tessera_console_login=")
        .split('.')
        .next()
        .unwrap()
        .to_string();
    let resp = http
        .get(format!(
            "{console}/callback?error=access_denied&state={state}&iss={}",
            format!("{}/realms/default", app.base)
                .replace(':', "%3A")
                .replace('/', "%2F")
        ))
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("cancelled"));

    // Sign-out and every form need the CSRF cookie and field.
    let resp = http
        .post(format!("{console}/logout"))
        .form(&[("csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // A realm name that cannot be one is refused before it reaches a URL or a cookie.
    let resp = http
        .get(format!("{}/realms/a%22b/console/login", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

/// The newest audit event, read through the API.
async fn newest_audit_event(app: &TestApp, token: &str) -> serde_json::Value {
    let (status, events) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/audit?order=newest&page_size=1",
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{events}");
    events["values"][0].clone()
}

/// Console actions are audited with the browser's address (issue 11), not the loopback
/// address the console calls the API from: the console relays the address it determined
/// (here the trusted proxy's forwarded one) with this process's relay secret. A direct API
/// call naming an address without that secret is audited with its own address.
#[actix_web::test]
async fn console_actions_are_audited_with_the_browsers_address() {
    let app = spawn_app_with(|c| c.issuer.trust_forwarded_headers = true).await;
    let token = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    // A signed-in console session: its access token and double-submit cookies.
    let resp = no_redirects()
        .post(format!("{}/realms/default/console/teams", app.base))
        .header(
            "cookie",
            format!("tessera_console_at={token}; tessera_console_csrf=c5rf"),
        )
        .header("x-forwarded-for", "192.0.2.99, 198.51.100.4")
        .form(&[("csrf", "c5rf"), ("name", "from-console")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let event = newest_audit_event(&app, &token).await;
    assert_eq!(event["action"], "team.create", "{event}");
    assert_eq!(event["source_addr"], "198.51.100.4", "{event}");

    // Straight to the API, naming an address: without the secret, or with a wrong one, the
    // name is ignored and the caller's own address (here the TCP peer) is recorded.
    for secret in [None, Some("guessed")] {
        let mut req = app
            .http
            .post(format!("{}/api/v1/teams", app.base))
            .bearer_auth(&token)
            .header("x-tessera-relayed-client", "203.0.113.66")
            .json(&serde_json::json!({"name": format!("direct-{}", secret.is_some())}));
        if let Some(s) = secret {
            req = req.header("x-tessera-relay-secret", s);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let event = newest_audit_event(&app, &token).await;
        assert_eq!(event["action"], "team.create", "{event}");
        assert_eq!(event["source_addr"], "127.0.0.1", "{event}");
    }
}
