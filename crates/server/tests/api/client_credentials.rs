//! The client_credentials grant (seed 001; checklist CC, TOK-02, CAUTH-01).

use crate::helpers::*;
use base64::Engine;
use tessera_store as store;

async fn json(resp: reqwest::Response) -> serde_json::Value {
    resp.json().await.unwrap()
}

#[actix_web::test]
async fn cc_01_basic_auth_gets_a_verifiable_rfc9068_jwt_and_nothing_else() {
    let app = spawn_app().await;
    let secret = app.create_svc();
    let resp = app
        .client_credentials_scoped("svc", &secret, "jobs:read")
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body = json(resp).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "jobs:read");
    assert!(
        body.get("refresh_token").is_none(),
        "CC-01: no refresh token"
    );
    assert!(body.get("id_token").is_none(), "CC-01: no ID token");

    let token = body["access_token"].as_str().unwrap();
    let jwt = verify_independently(token, &app.jwks().await);
    assert_eq!(jwt.header["typ"], "at+jwt");
    assert_eq!(jwt.header["alg"], "ES256");
    let c = &jwt.claims;
    assert_eq!(c["iss"], app.issuer.as_str());
    assert_eq!(c["aud"], app.base.as_str());
    assert_eq!(c["client_id"], "svc");
    assert_eq!(c["scope"], "jobs:read");
    let (iat, exp) = (c["iat"].as_i64().unwrap(), c["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 300, "whole seconds, TTL 300");
    assert!(
        c["jti"].as_str().unwrap().len() >= 22,
        "jti carries ≥128 bits"
    );

    // CC-05: the subject is the client's service account, never a person.
    let realm = store::realms::by_name(&mut app.db.conn().unwrap(), "default")
        .unwrap()
        .unwrap();
    let account = store::users::by_username(
        &mut app.db.conn().unwrap(),
        &realm.id,
        "service-account-svc",
    )
    .unwrap()
    .expect("service account user");
    assert!(account.is_service_account);
    assert_eq!(c["sub"], account.id.as_str());
}

#[actix_web::test]
async fn cc_01_post_auth_and_the_oauth_token_alias_work_too() {
    let app = spawn_app().await;
    let secret = app.create_svc();
    for url in [app.token_url(), format!("{}/oauth/token", app.base)] {
        let resp = app
            .post_form(
                &url,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", "svc"),
                    ("client_secret", &secret),
                    ("scope", "jobs:read,clusters:read"),
                ],
            )
            .await;
        assert_eq!(resp.status(), 200, "{url}");
        let body = json(resp).await;
        assert_eq!(body["scope"], "clusters:read jobs:read", "{url}");
        let jwt = verify_independently(body["access_token"].as_str().unwrap(), &app.jwks().await);
        assert_eq!(
            jwt.claims["iss"],
            app.issuer.as_str(),
            "the alias issues for realm default"
        );
    }
}

#[actix_web::test]
async fn scopes_separated_by_spaces_or_commas_are_the_same_request() {
    let app = spawn_app().await;
    let secret = app.create_svc();
    let mut granted = Vec::new();
    for scope in [
        "jobs:read clusters:read",
        "jobs:read,clusters:read",
        "clusters:read, jobs:read",
    ] {
        let resp = app.client_credentials_scoped("svc", &secret, scope).await;
        assert_eq!(resp.status(), 200, "{scope}");
        granted.push(json(resp).await["scope"].as_str().unwrap().to_string());
    }
    assert!(
        granted.iter().all(|g| g == "clusters:read jobs:read"),
        "{granted:?}"
    );
}

#[actix_web::test]
async fn without_a_scope_the_client_defaults_are_granted() {
    let app = spawn_app().await;
    let secret = app
        .create_client(serde_json::json!({
            "client_id": "svc",
            "grant_types": ["client_credentials"],
            "scopes": ["jobs:read", "clusters:read"],
            "default_scopes": ["jobs:read"],
        }))
        .unwrap();
    let resp = app
        .post_basic("svc", &secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(json(resp).await["scope"], "jobs:read");
}

#[actix_web::test]
async fn cc_03_a_scope_the_client_may_not_have_is_invalid_scope() {
    let app = spawn_app().await;
    let secret = app.create_svc();
    for scope in ["jobs:write", "jobs:read admin", "bad\"scope"] {
        let resp = app.client_credentials_scoped("svc", &secret, scope).await;
        assert_eq!(resp.status(), 400, "{scope}");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let body = json(resp).await;
        assert_eq!(body["error"], "invalid_scope", "{scope}");
        assert!(body["error_description"].as_str().unwrap().len() > 10);
    }
}

#[actix_web::test]
async fn cc_04_openid_is_never_granted_to_a_client_alone() {
    let app = spawn_app().await;
    let secret = app
        .create_client(serde_json::json!({
            "client_id": "svc",
            "grant_types": ["client_credentials"],
            "scopes": ["openid", "jobs:read"],
        }))
        .unwrap();
    let resp = app
        .post_basic(
            "svc",
            &secret,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "openid jobs:read"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body = json(resp).await;
    assert_eq!(body["scope"], "jobs:read");
    assert!(body.get("id_token").is_none());
}

#[actix_web::test]
async fn cauth_01_basic_credentials_are_form_urlencoded_before_base64() {
    let app = spawn_app().await;
    let secret = app.create_client(serde_json::json!({
        "client_id": "urn:acme:svc",
        "grant_types": ["client_credentials"],
        "scopes": ["jobs:read"],
        "secret": "s3cret:with%special+chars/and=more-padding-1234567890",
    }));
    assert!(secret.is_none(), "a fixed secret is not generated");
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = format!(
        "{}:{}",
        encode("urn:acme:svc"),
        encode("s3cret:with%special+chars/and=more-padding-1234567890")
    );
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    );
    let resp = app.client_credentials_with_authorization(&header).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

#[actix_web::test]
async fn seed_001_client_credentials_curl_works_unchanged() {
    let app = spawn_app().await;
    let secret = app.create_svc();
    let out = curl_client_credentials("svc", &secret, "jobs:read", &app.token_url()).await;
    assert!(out.status.success());
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["scope"], "jobs:read");
    verify_independently(body["access_token"].as_str().unwrap(), &app.jwks().await);
}

/// python-keycloak asks for `scope=openid` by default (issue 11): a client that is not
/// allowed `openid` gets its token without it, never `invalid_scope`; other scopes it may not
/// have are still refused.
#[actix_web::test]
async fn openid_asked_of_a_client_that_may_not_have_it_is_dropped_not_refused() {
    let app = spawn_app().await;
    let secret = app.create_svc();
    for scope in ["openid", "openid jobs:read", "openid,offline_access"] {
        let resp = app.client_credentials_scoped("svc", &secret, scope).await;
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{scope}: {body}");
        let granted = body["scope"].as_str().unwrap();
        assert!(
            !granted.contains("openid") && !granted.contains("offline_access"),
            "{body}"
        );
        assert!(granted.contains("jobs:read"), "{body}");
        assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none());
    }
    let resp = app
        .post_basic(
            "svc",
            &secret,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "openid user:write"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 400);
}
