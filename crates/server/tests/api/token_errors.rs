//! Token-endpoint refusals: RFC 6749 §5.2 errors (TOK, CAUTH, CC-02), limits, and no 5xx.

use crate::helpers::*;

async fn error_of(resp: reqwest::Response) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap();
    (status, body, headers)
}

fn assert_oauth_error(
    status: u16,
    body: &serde_json::Value,
    headers: &reqwest::header::HeaderMap,
    want_status: u16,
    want_error: &str,
) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], want_error, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["content-type"], "application/json");
    let d = body["error_description"].as_str().unwrap();
    assert!(
        d.chars()
            .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')),
        "error_description charset: {d}"
    );
}

#[actix_web::test]
async fn tok_04_get_is_405_and_a_json_body_is_invalid_request() {
    let app = spawn_app().await;
    let resp = app.http.get(app.token_url()).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let resp = app
        .http
        .post(app.token_url())
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    let (s, b, h) = error_of(resp).await;
    assert_oauth_error(s, &b, &h, 400, "invalid_request");
    assert_description_contains(&b, "x-www-form-urlencoded");
}

#[actix_web::test]
async fn tok_05_missing_and_unknown_grant_types() {
    let app = spawn_app().await;
    let (s, b, h) = error_of(
        app.post_form(&app.token_url(), &[("client_id", "portal")])
            .await,
    )
    .await;
    assert_oauth_error(s, &b, &h, 400, "invalid_request");
    assert_description_contains(&b, "grant_type");
    let (s, b, h) = error_of(
        app.post_form(
            &app.token_url(),
            &[
                ("grant_type", "urn:example:unknown"),
                ("client_id", "portal"),
            ],
        )
        .await,
    )
    .await;
    assert_oauth_error(s, &b, &h, 400, "unsupported_grant_type");
    // Not implemented here, so not accepted either (discovery does not list them).
    for g in ["implicit", "urn:ietf:params:oauth:grant-type:device_code"] {
        let (s, b, _) = error_of(
            app.post_form(
                &app.token_url(),
                &[("grant_type", g), ("client_id", "portal")],
            )
            .await,
        )
        .await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("unsupported_grant_type")),
            "{g}"
        );
    }
}

#[actix_web::test]
async fn duplicate_parameters_are_invalid_request() {
    let app = spawn_app().await;
    let secret = app.create_svc();
    let resp = app
        .http
        .post(app.token_url())
        .basic_auth("svc", Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=jobs:read&scope=clusters:read")
        .send()
        .await
        .unwrap();
    let (s, b, h) = error_of(resp).await;
    assert_oauth_error(s, &b, &h, 400, "invalid_request");
    assert_description_contains(&b, "scope");
}

#[actix_web::test]
async fn cauth_02_wrong_secret_and_unknown_client_are_identical_401s() {
    let app = spawn_app().await;
    app.create_svc();
    let mut answers = Vec::new();
    for (id, secret) in [("svc", "wrong-secret"), ("no-such-client", "whatever")] {
        let resp = app
            .post_basic(id, secret, &[("grant_type", "client_credentials")])
            .await;
        let (s, b, h) = error_of(resp).await;
        assert_oauth_error(s, &b, &h, 401, "invalid_client");
        assert_eq!(
            h["www-authenticate"],
            "Basic realm=\"default\", charset=\"UTF-8\""
        );
        answers.push(b);
    }
    assert_eq!(
        answers[0], answers[1],
        "the client's existence is not revealed"
    );
}

#[actix_web::test]
async fn cauth_03_04_wrong_post_secret_and_missing_secret_are_invalid_client() {
    let app = spawn_app().await;
    app.create_svc();
    for form in [
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "svc"),
            ("client_secret", "nope"),
        ],
        vec![("grant_type", "client_credentials"), ("client_id", "svc")],
        vec![("grant_type", "client_credentials")],
    ] {
        let (s, b, h) = error_of(app.post_form(&app.token_url(), &form).await).await;
        assert_oauth_error(s, &b, &h, 401, "invalid_client");
        assert!(
            h.contains_key("www-authenticate"),
            "a 401 carries a challenge"
        );
    }
}

#[actix_web::test]
async fn cauth_05_07_one_method_per_request_and_never_in_the_url() {
    let app = spawn_app().await;
    let secret = app.create_svc();
    // Basic and a body secret at once.
    let resp = app
        .post_basic(
            "svc",
            &secret,
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", secret.as_str()),
            ],
        )
        .await;
    let (s, b, h) = error_of(resp).await;
    assert_oauth_error(s, &b, &h, 400, "invalid_request");
    // The secret in the query string.
    let resp = app
        .http
        .post(format!("{}?client_secret={secret}", app.token_url()))
        .form(&[("grant_type", "client_credentials"), ("client_id", "svc")])
        .send()
        .await
        .unwrap();
    let (s, b, h) = error_of(resp).await;
    assert_oauth_error(s, &b, &h, 400, "invalid_request");
    // Basic for svc with body client_id of another client.
    let resp = app
        .post_basic(
            "svc",
            &secret,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "portal"),
            ],
        )
        .await;
    let (s, b, h) = error_of(resp).await;
    assert_oauth_error(s, &b, &h, 401, "invalid_client");
    assert!(b.get("access_token").is_none());
}

#[actix_web::test]
async fn cc_02_tok_07_a_public_client_cannot_use_client_credentials() {
    let app = spawn_app().await;
    let (s, b, h) = error_of(
        app.post_form(
            &app.token_url(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "portal"),
            ],
        )
        .await,
    )
    .await;
    assert_oauth_error(s, &b, &h, 400, "unauthorized_client");
}

#[actix_web::test]
async fn cauth_13_repeated_client_failures_from_one_address_are_throttled() {
    let app = spawn_app_with(|c| c.issuer.throttle.client_max_failures = 3).await;
    let secret = app.create_svc();
    for _ in 0..3 {
        let resp = app
            .post_basic("svc", "guess", &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(resp.status(), 401);
    }
    let resp = app
        .post_basic("svc", &secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    app.clock.advance(301);
    let resp = app
        .post_basic("svc", &secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(resp.status(), 200);
}

#[actix_web::test]
async fn oversized_bodies_are_413_with_a_json_error() {
    let app = spawn_app().await;
    let big = format!("grant_type=client_credentials&scope={}", "a".repeat(20_000));
    let resp = app
        .http
        .post(app.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    let (s, b, _) = error_of(resp).await;
    assert_eq!(s, 413);
    assert_description_contains(&b, "16384");
}

#[actix_web::test]
async fn malformed_input_never_gets_a_5xx() {
    let app = spawn_app().await;
    app.create_svc();
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"%%%".to_vec(),
        b"grant_type=client_credentials&client_id=%FF%FE".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x01],
        b"grant_type=password&client_id=portal&username=&password=".to_vec(),
        b"grant_type=password&client_id=portal&username=a&password=b&scope=%00".to_vec(),
        format!(
            "grant_type=password&client_id=portal&username={}&password=x",
            "u".repeat(5000)
        )
        .into_bytes(),
        b"grant_type=client_credentials&client_id=svc&client_secret=x&scope=jobs:read\"".to_vec(),
    ];
    for body in bodies {
        let resp = app
            .http
            .post(app.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        assert!(
            status.is_client_error(),
            "{status} for {:?}",
            String::from_utf8_lossy(&body)
        );
    }
    for header in [
        "Basic",
        "Basic !!!",
        "Basic Og==",
        "Bearer x",
        "Basic c3ZjOg==",
    ] {
        let resp = app.client_credentials_with_authorization(header).await;
        assert!(
            resp.status().is_client_error(),
            "{} for {header}",
            resp.status()
        );
    }
}

/// A NUL byte in a username, a client id, a realm name, a filter or a JSON body is bad input
/// (PostgreSQL text cannot hold one): a 4xx that says so, never a 5xx (issue 11).
#[actix_web::test]
async fn a_nul_byte_anywhere_is_a_4xx_never_a_5xx() {
    let app = spawn_app().await;
    let base = app.base.clone();
    let form_cases: Vec<(String, String)> = vec![
        (
            app.token_url(),
            "client_id=portal&grant_type=password&username=ad%00min&password=x".into(),
        ),
        (
            app.token_url(),
            "client_id=por%00tal&grant_type=password&username=admin&password=x".into(),
        ),
        (
            app.token_url(),
            "client_id=portal&grant_type=pass%00word".into(),
        ),
        (
            format!("{base}/realms/de%00fault/protocol/openid-connect/token"),
            "client_id=portal&grant_type=password&username=a&password=b".into(),
        ),
        (
            format!("{base}/realms/default/protocol/openid-connect/token/introspect"),
            "token=a%00b&client_id=portal".into(),
        ),
    ];
    for (url, body) in &form_cases {
        let resp = app
            .http
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert!(
            (400..500).contains(&status),
            "{url} {body}: {status} {text}"
        );
    }
    let admin = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let (status, body) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/users?filter=name%20eq%20%22a%00b%22",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(serde_json::json!({"name": "nul\u{0}user"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("NUL"),
        "{body}"
    );
    for path in [
        "/realms/de%00fault/.well-known/openid-configuration",
        "/api/v1/clients/por%00tal",
    ] {
        let (status, body) = app
            .call(reqwest::Method::GET, path, Some(&admin), None)
            .await;
        assert!((400..500).contains(&status), "{path}: {status} {body}");
    }
}
