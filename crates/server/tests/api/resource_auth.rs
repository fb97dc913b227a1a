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
    let body: serde_json::Value = app
        .post_form(
            &app.token_url(),
            &[
                ("client_id", "portal"),
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("scope", scope),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_string()
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
        .post_basic(
            "svc",
            &secret,
            &[("grant_type", "client_credentials"), ("scope", "jobs:read")],
        )
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
