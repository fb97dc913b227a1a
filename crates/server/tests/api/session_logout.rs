//! Logout ends what was issued: RP-initiated logout revokes the session's grants (refresh
//! tokens and access tokens of every client in the session), ID tokens carry `sid`,
//! Keycloak's `POST …/logout` with a refresh token answers 204 and ends that grant (and its
//! session), and a client with a `backchannel_logout_uri` receives a signed logout token.
//! Also: the password grant returns refresh and ID tokens to clients registered for refresh,
//! and per-client token lifetimes.

use crate::authorize::{Jar, REDIRECT, auth_url, get, redeem, sign_in, signed_in};
use crate::helpers::*;
use std::sync::{Arc, Mutex};

fn logout_url(app: &TestApp) -> String {
    format!("{}/protocol/openid-connect/logout", app.issuer)
}

/// The confidential client `web`, with extra registration fields.
fn web_client_with(app: &TestApp, extra: serde_json::Value) -> String {
    let mut spec = serde_json::json!({
        "client_id": "web",
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "profile", "email", "api_key:read"],
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": ["https://rp.example/logged-out"],
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    app.create_client(spec).unwrap()
}

async fn token_json(resp: reqwest::Response) -> serde_json::Value {
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn refresh_status(app: &TestApp, secret: &str, refresh: &str) -> (u16, serde_json::Value) {
    let resp = app
        .post_basic(
            "web",
            secret,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn introspect_active(app: &TestApp, secret: &str, token: &str) -> bool {
    let resp = app
        .http
        .post(format!(
            "{}/protocol/openid-connect/token/introspect",
            app.issuer
        ))
        .basic_auth("web", Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    body["active"].as_bool().unwrap()
}

async fn bearer_status(app: &TestApp, token: &str) -> u16 {
    app.call(reqwest::Method::GET, "/v1/auth/test", Some(token), None)
        .await
        .0
}

#[actix_web::test]
async fn rp_initiated_logout_revokes_every_grant_of_the_session() {
    let app = spawn_app().await;
    let secret = web_client_with(&app, serde_json::json!({}));
    let mut jar = Jar::default();
    let code = sign_in(&app, &mut jar, &auth_url(&app, &[])).await["code"].clone();
    let first = token_json(redeem(&app, &secret, &code, None).await).await;
    // A second grant in the same session, by SSO without a new sign-in.
    let again = get(&app, &mut jar, &auth_url(&app, &[("prompt", "none")])).await;
    let reply = crate::authorize::query_of(again.headers()["location"].to_str().unwrap());
    let second = token_json(redeem(&app, &secret, &reply["code"], None).await).await;
    // A password-grant token of the same user belongs to no browser session.
    let outside = app
        .password_token("admin", ADMIN_PASSWORD, "api_key:read")
        .await;

    let jwks = app.jwks().await;
    let id = verify_independently(first["id_token"].as_str().unwrap(), &jwks);
    let sid = id.claims["sid"].as_str().expect("sid in the ID token");
    assert!(sid.len() >= 20, "{sid}");
    let id2 = verify_independently(second["id_token"].as_str().unwrap(), &jwks);
    assert_eq!(id2.claims["sid"], sid, "one session, one sid");
    assert!(
        !jar.0["tessera_session"].contains(sid),
        "the sid is not the cookie"
    );
    for grant in [&first, &second] {
        assert_eq!(
            bearer_status(&app, grant["access_token"].as_str().unwrap()).await,
            200
        );
        assert!(introspect_active(&app, &secret, grant["refresh_token"].as_str().unwrap()).await);
    }

    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", first["id_token"].as_str().unwrap())
        .finish();
    let resp = get(&app, &mut jar, &format!("{}?{q}", logout_url(&app))).await;
    assert_eq!(resp.status(), 200, "signed-out page");
    assert!(!signed_in(&app, &mut jar).await);

    for grant in [&first, &second] {
        let refresh = grant["refresh_token"].as_str().unwrap();
        assert!(!introspect_active(&app, &secret, refresh).await);
        let (status, body) = refresh_status(&app, &secret, refresh).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert_eq!(
            bearer_status(&app, grant["access_token"].as_str().unwrap()).await,
            401
        );
    }
    assert_eq!(
        bearer_status(&app, &outside).await,
        200,
        "other grants live on"
    );
    // The store agrees: no live refresh token of this user's browser grants.
    let live: i64 = {
        use diesel::prelude::*;
        use tessera_store::schema::refresh_tokens as rt;
        let conn = &mut *app.db.conn().unwrap();
        match conn {
            tessera_store::DbConnection::Sqlite(c) => rt::table
                .filter(rt::session_id_sha256.is_not_null())
                .filter(rt::revoked_at.is_null())
                .count()
                .get_result(c)
                .unwrap(),
            tessera_store::DbConnection::Postgres(c) => rt::table
                .filter(rt::session_id_sha256.is_not_null())
                .filter(rt::revoked_at.is_null())
                .count()
                .get_result(c)
                .unwrap(),
        }
    };
    assert_eq!(live, 0);
}

#[actix_web::test]
async fn password_grant_gives_refresh_and_id_tokens_and_post_logout_ends_them_with_204() {
    let app = spawn_app().await;
    let token = |scope: &'static str| {
        let app = &app;
        async move {
            token_json(
                app.password_grant_scoped("admin", ADMIN_PASSWORD, scope)
                    .await,
            )
            .await
        }
    };
    let body = token("openid profile api_key:read").await;
    let refresh = body["refresh_token"].as_str().expect("a refresh token");
    let id = verify_independently(
        body["id_token"].as_str().expect("an ID token"),
        &app.jwks().await,
    );
    assert_eq!(id.claims["aud"], serde_json::json!(["portal"]));
    assert!(id.claims.get("sid").is_none(), "no browser session, no sid");
    let jwt = verify_independently(body["access_token"].as_str().unwrap(), &app.jwks().await);
    assert_eq!(id.claims["sub"], jwt.claims["sub"]);
    assert!(
        id.claims["auth_time"].as_i64().is_some(),
        "auth_time of the password sign-in"
    );

    // The refresh token works (rotates), as python-keycloak's refresh_token() expects.
    let resp = app
        .post_form(
            &app.token_url(),
            &[
                ("client_id", "portal"),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
            ],
        )
        .await;
    let rotated = token_json(resp).await;
    let refresh = rotated["refresh_token"].as_str().unwrap().to_string();
    let access = rotated["access_token"].as_str().unwrap().to_string();
    assert!(rotated["id_token"].is_string());

    // Keycloak's logout form: client_id + refresh_token → 204, and the grant is gone.
    let other = token("api_key:read").await;
    let logout = |form: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let resp = app
                .http
                .post(logout_url(app))
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        }
    };
    let (status, text) = logout(vec![
        ("client_id", "portal".into()),
        ("refresh_token", refresh.clone()),
    ])
    .await;
    assert_eq!((status, text.as_str()), (204, ""));
    assert_eq!(bearer_status(&app, &access).await, 401);
    let resp = app
        .post_form(
            &app.token_url(),
            &[
                ("client_id", "portal"),
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
            ],
        )
        .await;
    assert_eq!(resp.status(), 400);
    // Another grant of the same user is untouched.
    assert_eq!(
        bearer_status(&app, other["access_token"].as_str().unwrap()).await,
        200
    );

    // Twice, or someone else's token: invalid_grant; no client: invalid_client.
    let (status, text) = logout(vec![
        ("client_id", "portal".into()),
        ("refresh_token", refresh.clone()),
    ])
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("invalid_grant"), "{text}");
    let secret = web_client_with(&app, serde_json::json!({}));
    let (status, text) = logout(vec![
        ("client_id", "web".into()),
        ("client_secret", secret),
        (
            "refresh_token",
            other["refresh_token"].as_str().unwrap().into(),
        ),
    ])
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("another client"), "{text}");
    let (status, _) = logout(vec![(
        "refresh_token",
        other["refresh_token"].as_str().unwrap().into(),
    )])
    .await;
    assert_eq!(status, 401);
    let (status, _) = logout(vec![
        ("client_id", "web".into()),
        (
            "refresh_token",
            other["refresh_token"].as_str().unwrap().into(),
        ),
    ])
    .await;
    assert_eq!(status, 401, "a confidential client must authenticate");
    assert_eq!(
        bearer_status(&app, other["access_token"].as_str().unwrap()).await,
        200,
        "refused logouts change nothing"
    );
}

#[actix_web::test]
async fn logout_by_refresh_token_of_a_browser_grant_ends_the_browser_session() {
    let app = spawn_app().await;
    let secret = web_client_with(&app, serde_json::json!({}));
    let mut jar = Jar::default();
    let code = sign_in(&app, &mut jar, &auth_url(&app, &[])).await["code"].clone();
    let tokens = token_json(redeem(&app, &secret, &code, None).await).await;
    assert!(signed_in(&app, &mut jar).await);
    let resp = app
        .http
        .post(logout_url(&app))
        .basic_auth("web", Some(&secret))
        .form(&[("refresh_token", tokens["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(
        !signed_in(&app, &mut jar).await,
        "the SSO session ended too"
    );
    assert_eq!(
        bearer_status(&app, tokens["access_token"].as_str().unwrap()).await,
        401
    );
}

/// A relying party's back-channel logout endpoint: records every `logout_token` POSTed.
async fn backchannel_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let server = actix_web::HttpServer::new(move || {
        let sink = sink.clone();
        actix_web::App::new().route(
            "/backchannel",
            actix_web::web::post().to(
                move |form: actix_web::web::Form<std::collections::HashMap<String, String>>| {
                    let sink = sink.clone();
                    async move {
                        if let Some(t) = form.get("logout_token") {
                            sink.lock().unwrap().push(t.clone());
                        }
                        actix_web::HttpResponse::Ok().finish()
                    }
                },
            ),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    (format!("http://{addr}/backchannel"), received)
}

#[actix_web::test]
async fn back_channel_logout_sends_a_signed_logout_token_with_the_sessions_sid() {
    let app = spawn_app().await;
    let (uri, received) = backchannel_receiver().await;
    let secret = web_client_with(&app, serde_json::json!({ "backchannel_logout_uri": uri }));
    let mut jar = Jar::default();
    let code = sign_in(&app, &mut jar, &auth_url(&app, &[])).await["code"].clone();
    let tokens = token_json(redeem(&app, &secret, &code, None).await).await;
    let jwks = app.jwks().await;
    let id = verify_independently(tokens["id_token"].as_str().unwrap(), &jwks);

    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", tokens["id_token"].as_str().unwrap())
        .finish();
    let resp = get(&app, &mut jar, &format!("{}?{q}", logout_url(&app))).await;
    assert_eq!(resp.status(), 200);
    let mut token = None;
    for _ in 0..250 {
        if let Some(t) = received.lock().unwrap().first().cloned() {
            token = Some(t);
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let token = token.expect("a logout token within 5 s");
    let jwt = verify_independently(&token, &jwks);
    assert_eq!(jwt.header["alg"], "RS256");
    assert_eq!(jwt.header["typ"], "logout+jwt");
    assert_eq!(jwt.claims["iss"], app.issuer.as_str());
    assert_eq!(jwt.claims["aud"], "web");
    assert_eq!(jwt.claims["sub"], id.claims["sub"]);
    assert_eq!(jwt.claims["sid"], id.claims["sid"]);
    assert!(jwt.claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(
        jwt.claims.get("nonce").is_none(),
        "§2.4: a logout token has no nonce"
    );
    assert!(
        jwt.claims["events"]
            .get("http://schemas.openid.net/event/backchannel-logout")
            .is_some()
    );
    assert_eq!(received.lock().unwrap().len(), 1, "one token per client");

    let meta = app.discovery().await;
    assert_eq!(meta["backchannel_logout_supported"], true);
    assert_eq!(meta["backchannel_logout_session_supported"], true);
}

#[actix_web::test]
async fn per_client_lifetimes_apply_and_bad_settings_are_refused() {
    let app = spawn_app().await;
    let admin = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let create = |body: serde_json::Value| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.call(
                reqwest::Method::POST,
                "/api/v1/clients",
                Some(&admin),
                Some(body),
            )
            .await
        }
    };
    for (body, field) in [
        (
            serde_json::json!({"access_token_ttl_secs": 5}),
            "access_token_ttl_secs",
        ),
        (
            serde_json::json!({"refresh_token_idle_ttl_secs": 7200, "refresh_token_absolute_ttl_secs": 3600}),
            "refresh_token_idle_ttl_secs",
        ),
        (serde_json::json!({"web_origins": ["*"]}), "web_origins"),
        (
            serde_json::json!({"web_origins": ["https://app.example/path"]}),
            "web_origins",
        ),
        (
            serde_json::json!({"backchannel_logout_uri": "http://rp.example/bc"}),
            "backchannel_logout_uri",
        ),
    ] {
        let mut spec = serde_json::json!({
            "client_id": "short",
            "grant_types": ["password", "refresh_token"],
            "type": "public",
            "scopes": ["openid", "api_key:read"],
        });
        for (k, v) in body.as_object().unwrap() {
            spec[k] = v.clone();
        }
        let (status, err) = create(spec).await;
        assert_eq!(status, 400, "{err}");
        assert!(err.to_string().contains(field), "{err}");
    }
    let (status, _) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/clients/short",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 404, "refused creations change nothing");

    let (status, created) = create(serde_json::json!({
        "client_id": "short",
        "grant_types": ["password", "refresh_token"],
        "type": "public",
        "scopes": ["openid", "api_key:read"],
        "access_token_ttl_secs": 60,
        "refresh_token_idle_ttl_secs": 120,
        "refresh_token_absolute_ttl_secs": 600,
        "web_origins": ["+", "https://app.example"],
    }))
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["value"]["access_token_ttl_secs"], 60);
    assert_eq!(
        created["value"]["web_origins"],
        serde_json::json!(["+", "https://app.example"])
    );
    let body = token_json(
        app.post_form(
            &app.token_url(),
            &[
                ("client_id", "short"),
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("scope", "openid api_key:read"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(body["expires_in"], 60);
    let jwt = verify_independently(body["access_token"].as_str().unwrap(), &app.jwks().await);
    assert_eq!(
        jwt.claims["exp"].as_i64().unwrap() - jwt.claims["iat"].as_i64().unwrap(),
        60
    );
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    // The idle lifetime is the client's 120 s, not the server's 7 days.
    app.clock.advance(121);
    let resp = app
        .post_form(
            &app.token_url(),
            &[
                ("client_id", "short"),
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
            ],
        )
        .await;
    assert_eq!(resp.status(), 400);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert!(
        err["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{err}"
    );

    // null puts a lifetime back to the server's default.
    let admin = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let (status, updated) = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/clients/short",
            Some(&admin),
            Some(serde_json::json!({"access_token_ttl_secs": null})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert!(updated["value"].get("access_token_ttl_secs").is_none());
    assert_eq!(
        updated["value"]["refresh_token_idle_ttl_secs"], 120,
        "others kept"
    );
}
