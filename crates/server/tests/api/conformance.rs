//! Checklist rows of ../shared/conformance-checklist.md not covered elsewhere, each test named
//! after its id (docs/conformance.md maps ids to tests).

use crate::authorize::{
    Jar, REDIRECT, VERIFIER, auth_url, challenge, get, open_sign_in_page, query_of, redeem,
    sign_in, sign_in_and_redeem, web_client,
};
use crate::helpers::*;

fn code_of(resp: &reqwest::Response) -> String {
    query_of(resp.headers()["location"].to_str().unwrap())["code"].clone()
}

#[actix_web::test]
async fn code_04_an_expired_code_is_invalid_grant() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let mut jar = Jar::default();
    let code = sign_in(&app, &mut jar, &auth_url(&app, &[])).await["code"].clone();
    app.clock.advance(61);
    let resp = redeem(&app, &secret, &code, None).await;
    assert_eq!(resp.status(), 400);
    let e: serde_json::Value = resp.json().await.unwrap();
    assert_error_body(&e, "invalid_grant", "expired");
}

#[actix_web::test]
async fn code_05_concurrent_redemptions_exactly_one_wins() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let mut jar = Jar::default();
    let code = sign_in(&app, &mut jar, &auth_url(&app, &[])).await["code"].clone();
    let attempts = (0..6).map(|_| redeem(&app, &secret, &code, None));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        5,
        "{statuses:?}"
    );
}

#[actix_web::test]
async fn code_03_another_clients_credentials_cannot_redeem_the_code() {
    let app = spawn_app().await;
    web_client(&app);
    let other = app
        .create_client(serde_json::json!({
            "client_id": "other",
            "grant_types": ["authorization_code"],
            "scopes": ["openid"],
            "redirect_uris": [REDIRECT],
        }))
        .unwrap();
    let mut jar = Jar::default();
    let code = sign_in(&app, &mut jar, &auth_url(&app, &[])).await["code"].clone();
    let resp = app
        .post_basic(
            "other",
            &other,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_eq!(resp.status(), 400);
    let e: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(e["error"], "invalid_grant");
}

#[actix_web::test]
async fn redir_09_the_token_request_must_repeat_the_redirect_uri() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let mut jar = Jar::default();
    sign_in(&app, &mut jar, &auth_url(&app, &[])).await;
    for redirect in [Some("https://rp.example/cb2?foo=bar"), None] {
        let code = code_of(&get(&app, &mut jar, &auth_url(&app, &[])).await);
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ];
        if let Some(r) = redirect {
            form.push(("redirect_uri", r));
        }
        let resp = app.post_basic("web", &secret, &form).await;
        assert_eq!(resp.status(), 400, "{redirect:?}");
        let e: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(e["error"], "invalid_grant");
    }
}

#[actix_web::test]
async fn redir_05_a_registered_query_is_kept_and_authz_03_no_state_means_none_back() {
    let app = spawn_app().await;
    web_client(&app);
    let mut jar = Jar::default();
    sign_in(&app, &mut jar, &auth_url(&app, &[])).await;
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", "https://rp.example/cb2?foo=bar"),
            ("scope", "openid"),
            ("extra", "foobar"),
        ])
        .finish();
    let resp = get(
        &app,
        &mut jar,
        &format!("{}/protocol/openid-connect/auth?{q}", app.issuer),
    )
    .await;
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://rp.example/cb2?foo=bar&code="),
        "{location}"
    );
    assert!(!query_of(location).contains_key("state"));
}

#[actix_web::test]
async fn redir_07_native_clients_may_use_any_loopback_port() {
    let app = spawn_app().await;
    app.create_client(serde_json::json!({
        "client_id": "cli",
        "type": "public",
        "grant_types": ["authorization_code"],
        "scopes": ["openid"],
        "redirect_uris": ["http://127.0.0.1/cb"],
    }));
    let mut jar = Jar::default();
    let pkce = challenge(VERIFIER);
    for (uri, ok) in [
        ("http://127.0.0.1:53123/cb", true),
        ("http://127.0.0.1:53123/other", false),
    ] {
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", "cli"),
                ("redirect_uri", uri),
                ("scope", "openid"),
                ("code_challenge", pkce.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        let resp = get(
            &app,
            &mut jar,
            &format!("{}/protocol/openid-connect/auth?{q}", app.issuer),
        )
        .await;
        assert_eq!(resp.status(), if ok { 200 } else { 400 }, "{uri}");
    }
}

#[actix_web::test]
async fn authz_02_the_request_may_be_a_form_post() {
    let app = spawn_app().await;
    web_client(&app);
    let resp = app
        .http
        .post(format!("{}/protocol/openid-connect/auth", app.issuer))
        .form(&[
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("state", "p"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Sign in"));
}

#[actix_web::test]
async fn authz_10_without_openid_there_is_no_id_token() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let mut jar = Jar::default();
    let url =
        auth_url(&app, &[("scope", "api_key:read")]).replace("scope=openid+profile+email&", "");
    let code = sign_in(&app, &mut jar, &url).await["code"].clone();
    let body: serde_json::Value = redeem(&app, &secret, &code, None)
        .await
        .json()
        .await
        .unwrap();
    assert!(body.get("id_token").is_none(), "{body}");
    assert_eq!(body["scope"], "api_key:read");
    // UI-07: and userinfo refuses such a token.
    let resp = app
        .http
        .get(format!("{}/protocol/openid-connect/userinfo", app.issuer))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("scope=\"openid\"")
    );
}

#[actix_web::test]
async fn prm_03_04_prompt_login_and_max_age_ask_again_and_advance_auth_time() {
    let app = spawn_app().await;
    web_client(&app);
    let mut jar = Jar::default();
    sign_in(&app, &mut jar, &auth_url(&app, &[])).await;
    // Within max_age and without prompt=login: straight to a code.
    let resp = get(&app, &mut jar, &auth_url(&app, &[("max_age", "10000")])).await;
    assert_eq!(resp.status(), 303);
    for extra in [("prompt", "login"), ("max_age", "1")] {
        app.clock.advance(2);
        let resp = get(&app, &mut jar, &auth_url(&app, &[extra])).await;
        assert_eq!(resp.status(), 200, "{extra:?}: the sign-in page again");
        assert!(resp.text().await.unwrap().contains("Sign in"));
    }
}

#[actix_web::test]
async fn prm_05_an_id_token_hint_for_another_user_is_not_a_silent_switch() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let (mut jar, body) = sign_in_and_redeem(&app, &secret).await;
    let own_hint = body["id_token"].as_str().unwrap().to_string();
    let resp = get(
        &app,
        &mut jar,
        &auth_url(&app, &[("prompt", "none"), ("id_token_hint", &own_hint)]),
    )
    .await;
    assert!(query_of(resp.headers()["location"].to_str().unwrap()).contains_key("code"));
    // Another person's browser with admin's hint: no session → login_required.
    let mut other = Jar::default();
    let resp = get(
        &app,
        &mut other,
        &auth_url(&app, &[("prompt", "none"), ("id_token_hint", &own_hint)]),
    )
    .await;
    assert_eq!(
        query_of(resp.headers()["location"].to_str().unwrap())["error"],
        "login_required"
    );
    // JWT-11: an access token is not an ID token hint.
    let at = body["access_token"].as_str().unwrap();
    let resp = get(&app, &mut jar, &auth_url(&app, &[("id_token_hint", at)])).await;
    assert_eq!(
        query_of(resp.headers()["location"].to_str().unwrap())["error"],
        "invalid_request"
    );
}

#[actix_web::test]
async fn ui_05_06_jwt_10_userinfo_challenges_and_id_tokens_as_bearer() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let (_, body) = sign_in_and_redeem(&app, &secret).await;
    let userinfo = format!("{}/protocol/openid-connect/userinfo", app.issuer);
    let resp = app.http.get(&userinfo).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.starts_with("Bearer") && !challenge.contains("error="),
        "UI-05: {challenge}"
    );
    for bad in ["garbage", body["id_token"].as_str().unwrap()] {
        let resp = app
            .http
            .get(&userinfo)
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert!(
            resp.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
        let (status, _) = app
            .call(reqwest::Method::GET, "/v1/auth/test", Some(bad), None)
            .await;
        assert_eq!(status, 401, "JWT-10 at the resource server");
    }
    // UI-02: the token in a form body works too; in both places it is refused.
    let resp = app
        .http
        .post(&userinfo)
        .form(&[("access_token", body["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app
        .http
        .post(&userinfo)
        .bearer_auth(body["access_token"].as_str().unwrap())
        .form(&[("access_token", body["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "BEAR-01");
}

#[actix_web::test]
async fn sec_01_02_session_cookie_flags_and_no_cors_on_the_authorization_endpoint() {
    let app = spawn_app().await;
    web_client(&app);
    let page = app
        .http
        .get(auth_url(&app, &[]))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        page.headers().get("access-control-allow-origin").is_none(),
        "SEC-03"
    );
    let mut jar = Jar::default();
    let html = open_sign_in_page(&app, &mut jar).await;
    let resp = app
        .http
        .post(format!(
            "{}/realms/default/login-actions/authenticate",
            app.base
        ))
        .header("cookie", jar.header())
        .form(&[
            ("csrf", crate::authorize::hidden(&html, "csrf").as_str()),
            (
                "request",
                crate::authorize::hidden(&html, "request").as_str(),
            ),
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("action", "login"),
        ])
        .send()
        .await
        .unwrap();
    let session = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("tessera_session="))
        .expect("a session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    assert!(
        !session.contains("Secure"),
        "plain http public URL: {session}"
    );
}

#[actix_web::test]
async fn pkce_08_a_public_client_must_name_itself_and_cannot_borrow_another_code() {
    let app = spawn_app().await;
    for id in ["spa", "spa2"] {
        app.create_client(serde_json::json!({
            "client_id": id,
            "type": "public",
            "grant_types": ["authorization_code"],
            "scopes": ["openid"],
            "redirect_uris": [REDIRECT],
        }));
    }
    let mut jar = Jar::default();
    let pkce = challenge(VERIFIER);
    let url = auth_url(
        &app,
        &[("code_challenge", &pkce), ("code_challenge_method", "S256")],
    )
    .replace("client_id=web", "client_id=spa")
    .replace("scope=openid+profile+email", "scope=openid");
    let code = sign_in(&app, &mut jar, &url).await["code"].clone();
    let form = |client: Option<&'static str>| {
        let mut f = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.clone()),
            ("redirect_uri", REDIRECT.to_string()),
            ("code_verifier", VERIFIER.to_string()),
        ];
        if let Some(c) = client {
            f.push(("client_id", c.to_string()));
        }
        f
    };
    let token_request =
        |client: Option<&'static str>| app.http.post(app.token_url()).form(&form(client)).send();
    let anonymous = token_request(None).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let borrowed = token_request(Some("spa2")).await.unwrap();
    assert_eq!(borrowed.status(), 400);
    let own = token_request(Some("spa")).await.unwrap();
    assert_eq!(own.status(), 200, "PKCE-01 with client auth `none`");
}

#[actix_web::test]
async fn failed_sign_ins_are_throttled_like_the_password_grant() {
    let app = spawn_app_with(|c| c.issuer.throttle.user_max_failures = 2).await;
    web_client(&app);
    let mut jar = Jar::default();
    let mut html = open_sign_in_page(&app, &mut jar).await;
    for password in ["wrong password 1", "wrong password 2", ADMIN_PASSWORD] {
        let resp = crate::authorize::post(
            &app,
            &mut jar,
            "/realms/default/login-actions/authenticate",
            &[
                ("csrf", crate::authorize::hidden(&html, "csrf").as_str()),
                (
                    "request",
                    crate::authorize::hidden(&html, "request").as_str(),
                ),
                ("username", "admin"),
                ("password", password),
                ("action", "login"),
            ],
        )
        .await;
        let status = resp.status().as_u16();
        html = resp.text().await.unwrap();
        if password == ADMIN_PASSWORD {
            // Locked: even the right password is refused, and the page says when to retry.
            assert_eq!(status, 429);
            assert!(html.contains("Too many failed attempts"), "{html}");
        } else {
            assert_eq!(status, 401);
            assert!(html.contains("Invalid username or password."));
        }
    }
    assert!(!jar.0.contains_key("tessera_session"));
}

#[actix_web::test]
async fn a_second_application_in_the_same_browser_needs_no_password() {
    let app = spawn_app().await;
    web_client(&app);
    app.create_client(serde_json::json!({
        "client_id": "web2",
        "grant_types": ["authorization_code"],
        "scopes": ["openid"],
        "redirect_uris": ["https://two.example/cb"],
        "first_party": true,
    }));
    let mut jar = Jar::default();
    sign_in(&app, &mut jar, &auth_url(&app, &[])).await;
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", "web2"),
            ("redirect_uri", "https://two.example/cb"),
            ("scope", "openid"),
            ("login_hint", "someone-else"),
        ])
        .finish();
    let resp = get(
        &app,
        &mut jar,
        &format!("{}/protocol/openid-connect/auth?{q}", app.issuer),
    )
    .await;
    assert_eq!(resp.status(), 303, "SSO: no sign-in page");
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://two.example/cb?code="),
        "{location}"
    );
    // AUTHZ-14: login_hint prefills the sign-in page of a fresh browser.
    let mut fresh = Jar::default();
    let page = get(
        &app,
        &mut fresh,
        &format!("{}/protocol/openid-connect/auth?{q}", app.issuer),
    )
    .await;
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("value=\"someone-else\"")
    );
}

#[actix_web::test]
async fn redir_03_omitting_redirect_uri_is_an_error_for_oidc_and_allowed_for_plain_oauth() {
    let app = spawn_app().await;
    app.create_client(serde_json::json!({
        "client_id": "single",
        "grant_types": ["authorization_code"],
        "scopes": ["openid", "api_key:read"],
        "redirect_uris": [REDIRECT],
    }));
    let base = format!(
        "{}/protocol/openid-connect/auth?response_type=code&client_id=single",
        app.issuer
    );
    let oidc = app
        .http
        .get(format!("{base}&scope=openid"))
        .send()
        .await
        .unwrap();
    assert_eq!(oidc.status(), 400);
    assert!(oidc.headers().get("location").is_none());
    let plain = app
        .http
        .get(format!("{base}&scope=api_key:read"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        plain.status(),
        200,
        "the sign-in page, for the only registered URI"
    );
}

#[actix_web::test]
async fn bear_02_03_tokens_in_the_url_or_in_a_get_or_json_body_are_not_accepted() {
    let app = spawn_app().await;
    let secret = app.create_svc();
    let body: serde_json::Value = app
        .post_basic("svc", &secret, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    let at = body["access_token"].as_str().unwrap();
    let (status, err) = app
        .call(
            reqwest::Method::GET,
            &format!("/v1/auth/test?access_token={at}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 400, "{err}");
    let userinfo = format!("{}/protocol/openid-connect/userinfo", app.issuer);
    let get_with_body = app
        .http
        .get(&userinfo)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("access_token={at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(get_with_body.status(), 401);
    let json_body = app
        .http
        .post(&userinfo)
        .json(&serde_json::json!({"access_token": at}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 401);
    assert!(
        !json_body.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=")
    );
}

/// One sign-in at the form, from a client at `addr` behind the (trusted) proxy; the status.
async fn sign_in_from(app: &TestApp, addr: &str, username: &str, password: &str) -> u16 {
    sign_in_page_from(app, addr, username, password).await.0
}

/// One sign-in at the form, from a client at `addr` behind the (trusted) proxy; the status
/// and the page.
async fn sign_in_page_from(
    app: &TestApp,
    addr: &str,
    username: &str,
    password: &str,
) -> (u16, String) {
    let mut jar = Jar::default();
    let html = open_sign_in_page(app, &mut jar).await;
    let resp = app
        .http
        .post(format!(
            "{}/realms/default/login-actions/authenticate",
            app.base
        ))
        .header("cookie", jar.header())
        .header("x-forwarded-for", format!("198.51.100.250, {addr}"))
        .form(&[
            ("csrf", crate::authorize::hidden(&html, "csrf").as_str()),
            (
                "request",
                crate::authorize::hidden(&html, "request").as_str(),
            ),
            ("username", username),
            ("password", password),
            ("action", "login"),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// The sign-in form follows the password grant's rule (issue 11): failures from one address
/// lock the username from that address only, the real user signs in from another at once,
/// and guessing spread over addresses makes every address wait, with the page saying how long.
#[actix_web::test]
async fn the_sign_in_form_locks_the_guessing_address_not_the_user() {
    let app = spawn_app_with(|c| {
        c.issuer.trust_forwarded_headers = true;
        c.issuer.throttle.user_max_failures = 2;
        c.issuer.throttle.user_global_max_failures = 4;
    })
    .await;
    web_client(&app);
    let signed_in = |status: u16| status == 200 || (300..400).contains(&status);
    for _ in 0..2 {
        let (status, html) = sign_in_page_from(&app, "203.0.113.1", "admin", "wrong").await;
        assert_eq!(status, 401);
        assert!(html.contains("Invalid username or password."));
    }
    let (status, html) = sign_in_page_from(&app, "203.0.113.1", "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, 429);
    assert!(html.contains("Too many failed attempts"), "{html}");
    let other = sign_in_from(&app, "203.0.113.2", "admin", ADMIN_PASSWORD).await;
    assert!(signed_in(other), "{other}");
    // Two more failures from two more addresses: four for admin in all, the global limit.
    for addr in ["203.0.113.3", "203.0.113.4"] {
        assert_eq!(sign_in_from(&app, addr, "admin", "wrong").await, 401);
    }
    let (status, html) = sign_in_page_from(&app, "203.0.113.2", "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, 429);
    assert!(html.contains("Try again in 1 second."), "{html}");
    app.clock.advance(1);
    let after = sign_in_from(&app, "203.0.113.2", "admin", ADMIN_PASSWORD).await;
    assert!(signed_in(after), "{after}");
    // The state: the guessing address is locked for admin; the username is not locked.
    let conn = &mut *app.db.conn().unwrap();
    let realm = tessera_store::realms::by_name(conn, "default")
        .unwrap()
        .unwrap();
    let mut entry = |key: &str| tessera_store::throttle::entry(conn, &realm.id, key).unwrap();
    let pair = entry("pair:203.0.113.1/admin").unwrap();
    assert!(
        pair.locked_until
            .is_some_and(|t| t > tessera_core::Clock::now(&app.clock))
    );
    let user = entry("user:admin").unwrap();
    assert_eq!((user.failures, user.locked_until), (4, None), "{user:?}");
}

/// Behind a trusted proxy the sign-in form counts failures per forwarded client address, as
/// the token endpoint does (issue 11): one client's failures lock that client, not everyone
/// behind the proxy; and the audit log records the forwarded address.
#[actix_web::test]
async fn behind_a_trusted_proxy_the_sign_in_form_and_the_audit_log_use_the_client_address() {
    let app = spawn_app_with(|c| {
        c.issuer.trust_forwarded_headers = true;
        c.issuer.throttle.address_max_failures = 3;
    })
    .await;
    web_client(&app);
    // Three failures from one client (three usernames: its address is what reaches the limit).
    for user in ["u1", "u2", "u3"] {
        assert_eq!(
            sign_in_from(&app, "203.0.113.1", user, "wrong password").await,
            401
        );
    }
    assert_eq!(
        sign_in_from(&app, "203.0.113.1", "admin", ADMIN_PASSWORD).await,
        429
    );
    // Another client behind the same proxy signs in (on to the consent page).
    let other = sign_in_from(&app, "203.0.113.2", "admin", ADMIN_PASSWORD).await;
    assert!(other == 200 || (300..400).contains(&other), "{other}");
    let conn = &mut *app.db.conn().unwrap();
    let realm = tessera_store::realms::by_name(conn, "default")
        .unwrap()
        .unwrap();
    let locked = tessera_store::throttle::entry(conn, &realm.id, "addr:203.0.113.1")
        .unwrap()
        .unwrap();
    assert!(locked.locked_until.is_some(), "{locked:?}");
    assert!(
        tessera_store::throttle::entry(conn, &realm.id, "addr:127.0.0.1")
            .unwrap()
            .is_none()
    );

    // A write through the API records the client's address, not the proxy's.
    let admin = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let resp = app
        .http
        .post(format!("{}/api/v1/teams", app.base))
        .bearer_auth(&admin)
        .header("x-forwarded-for", "198.51.100.4")
        .json(&serde_json::json!({"name": "proxied"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (_, events) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/audit?order=newest&page_size=1",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(events["values"][0]["action"], "team.create", "{events}");
    assert_eq!(
        events["values"][0]["source_addr"], "198.51.100.4",
        "{events}"
    );
}
