//! Authentication at the resource server (`/v1/auth/test`, seed 001): JWTs from the issuer,
//! API-key format errors, and RFC 6750 challenges.

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

async fn auth_test(app: &TestApp, authorization: Option<&str>) -> (u16, serde_json::Value, String) {
    let mut req = app.http.get(format!("{}/v1/auth/test", app.base));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, resp.json().await.unwrap(), challenge)
}

async fn admin_token(app: &TestApp, scope: &str) -> String {
    access_token_of(
        app.password_grant_scoped("admin", ADMIN_PASSWORD, scope)
            .await,
    )
    .await
}

#[actix_web::test]
async fn a_jwt_from_the_issuer_passes_auth_test() {
    let app = spawn_app().await;
    let token = admin_token(&app, "api_key:read team:read").await;
    let claims = verify_independently(&token, &app.jwks().await).claims;
    let (status, body, _) = auth_test(&app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["authenticated"], true);
    assert_eq!(body["user_id"], claims["sub"]);
    assert_eq!(
        body["scopes"],
        serde_json::json!(["api_key:read", "team:read"])
    );
    let exp = time::OffsetDateTime::from_unix_timestamp(claims["exp"].as_i64().unwrap()).unwrap();
    assert_eq!(
        body["expires_at"],
        exp.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    // bear-06: the scheme is case-insensitive.
    for scheme in ["bearer", "BEARER"] {
        let (status, _, _) = auth_test(&app, Some(&format!("{scheme} {token}"))).await;
        assert_eq!(status, 200, "{scheme}");
    }
}

#[actix_web::test]
async fn a_client_credentials_token_authenticates_its_service_account() {
    let app = spawn_app().await;
    let secret = app.create_svc();
    let body: serde_json::Value = app
        .client_credentials_scoped("svc", &secret, "jobs:read")
        .await
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap();
    let (status, body, _) = auth_test(&app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scopes"], serde_json::json!(["jobs:read"]));
}

#[actix_web::test]
async fn missing_and_unusable_credentials_are_401_with_rfc6750_challenges() {
    let app = spawn_app().await;
    let (status, body, challenge) = auth_test(&app, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_token");
    assert!(
        challenge.starts_with("Bearer") && !challenge.contains("error="),
        "{challenge}"
    );

    let token = admin_token(&app, "api_key:read").await;
    let parts: Vec<&str> = token.split('.').collect();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let b64 = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let mut widened = claims.clone();
    widened["scope"] = "user:write role:write".into();
    let cases = [
        ("Basic YWRtaW46eA==".to_string(), "Bearer"),
        ("Bearer".to_string(), ""),
        ("Bearer not a token".to_string(), ""),
        ("Bearer garbage.garbage.garbage".to_string(), ""),
        // jwt-07: alg none.
        (
            format!(
                "Bearer {}.{}.",
                b64(&serde_json::json!({"alg":"none","typ":"at+jwt"})),
                parts[1]
            ),
            "not accepted",
        ),
        // Changed claims under the original signature.
        (
            format!("Bearer {}.{}.{}", parts[0], b64(&widened), parts[2]),
            "signature",
        ),
    ];
    for (header, hint) in cases {
        let (status, body, challenge) = auth_test(&app, Some(&header)).await;
        assert_eq!(status, 401, "{header}: {body}");
        assert_eq!(body["error"], "invalid_token", "{header}");
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{header}: {challenge}"
        );
        assert!(
            body["error_description"].as_str().unwrap().contains(hint),
            "{header}: {body}"
        );
    }
}

#[actix_web::test]
async fn api_key_format_errors_are_decided_without_the_database() {
    let app = spawn_app().await;
    let valid =
        tessera_core::apikey::generate(tessera_core::apikey::ApiKeyKind::PersonalSecret).value;
    let mut typo: Vec<char> = valid.chars().collect();
    typo[8] = if typo[8] == 'Q' { 'R' } else { 'Q' };
    let typo: String = typo.into_iter().collect();
    for (key, want) in [
        ("tsk_short", "Invalid API key"),
        (typo.as_str(), "Malformed API key"),
        (valid.as_str(), "not valid"),
    ] {
        let (status, body, _) = auth_test(&app, Some(&format!("Bearer {key}"))).await;
        assert_eq!(status, 401, "{key}");
        assert_eq!(body["error"], "invalid_token");
        assert!(
            body["error_description"].as_str().unwrap().contains(want),
            "{key}: {body}"
        );
    }
}

#[actix_web::test]
async fn expired_tokens_and_hmac_forgeries_with_the_public_key_are_refused() {
    let app = spawn_app().await;
    let token = admin_token(&app, "api_key:read").await;
    let parts: Vec<&str> = token.split('.').collect();
    // jwt-08: HS256 "signed" with the issuer's public key (the JWK JSON) as the secret.
    let jwks = app.jwks().await;
    let ec_key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kty"] == "EC")
        .unwrap();
    let header = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(
            &serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": ec_key["kid"]}),
        )
        .unwrap(),
    );
    let input = format!("{header}.{}", parts[1]);
    let secret = serde_json::to_vec(ec_key).unwrap();
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
        input.as_bytes(),
    );
    let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));
    let (status, body, _) = auth_test(&app, Some(&format!("Bearer {forged}"))).await;
    assert_eq!(status, 401, "{body}");
    // Past exp plus the 30 s leeway, the genuine token is refused too.
    assert_eq!(
        auth_test(&app, Some(&format!("Bearer {token}"))).await.0,
        200
    );
    app.clock.advance(300 + 31);
    let (status, body, challenge) = auth_test(&app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 401);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
    assert!(challenge.contains("invalid_token"));
}

#[actix_web::test]
async fn expired_keys_and_keys_of_disabled_owners_are_refused() {
    let app = spawn_app().await;
    let token = admin_token(&app, "api_key:read api_key:create user:read user:write").await;
    let expires =
        time::OffsetDateTime::from_unix_timestamp(tessera_core::Clock::now(&app.clock) + 3600)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
    let created: serde_json::Value = send_json(
        app.http
            .post(format!("{}/api/v1/apikeys", app.base))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "short-lived", "expires_at": expires})),
    )
    .await;
    let key = created["value"].as_str().unwrap().to_string();
    assert_eq!(auth_test(&app, Some(&format!("Bearer {key}"))).await.0, 200);
    app.clock.advance(3601);
    let (status, body, _) = auth_test(&app, Some(&format!("Bearer {key}"))).await;
    assert_eq!(status, 401);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
}

#[actix_web::test]
async fn oversized_json_bodies_are_413() {
    let app = spawn_app().await;
    let token = admin_token(&app, "api_key:create").await;
    let resp = app
        .http
        .post(format!("{}/api/v1/apikeys", app.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{}\"}}", "x".repeat(70_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}
