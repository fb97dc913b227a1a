//! CORS: a browser app on a client's `web_origins` may call the token, userinfo and REST
//! endpoints and read the answers; other origins may not; public documents are readable by
//! any origin; the authorization endpoint and the sign-in pages never answer CORS.

use crate::helpers::*;

const APP: &str = "https://app.example";
const DEV: &str = "http://127.0.0.1:5173";
const EVIL: &str = "https://evil.example";

/// The public client `spa` (password grant for brevity), allowed from APP and from the
/// origin of its redirect URI (`+`).
fn spa(app: &TestApp) {
    app.create_client(serde_json::json!({
        "client_id": "spa",
        "type": "public",
        "grant_types": ["password", "refresh_token", "authorization_code"],
        "scopes": ["openid", "profile", "api_key:read"],
        "redirect_uris": [format!("{DEV}/callback")],
        "web_origins": [APP, "+"],
    }));
}

async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.http
        .request(reqwest::Method::OPTIONS, format!("{}{path}", app.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, authorization",
        )
        .send()
        .await
        .unwrap()
}

fn allow_origin(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_string())
}

async fn spa_token(app: &TestApp, origin: &str, password: &str) -> reqwest::Response {
    app.http
        .post(app.token_url())
        .header("origin", origin)
        .form(&[
            ("client_id", "spa"),
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", password),
            ("scope", "openid api_key:read"),
        ])
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn preflights_are_answered_for_known_origins_only_and_never_on_the_browser_pages() {
    let app = spawn_app().await;
    spa(&app);
    let token_path = "/realms/default/protocol/openid-connect/token";
    for origin in [APP, DEV] {
        let resp = preflight(&app, token_path, origin).await;
        assert_eq!(resp.status(), 204, "{origin}");
        assert_eq!(allow_origin(&resp).as_deref(), Some(origin));
        let methods = resp.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap();
        assert!(methods.contains("POST"), "{methods}");
        let headers = resp.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(headers.contains("authorization") && headers.contains("content-type"));
        assert!(resp.headers().contains_key("access-control-max-age"));
    }
    for path in [
        token_path,
        "/realms/default/protocol/openid-connect/userinfo",
        "/api/v1/apikeys",
        "/v1/auth/test",
    ] {
        let resp = preflight(&app, path, EVIL).await;
        assert_eq!(resp.status(), 403, "{path}");
        assert_eq!(allow_origin(&resp), None);
        assert!(resp.text().await.unwrap().contains("web_origins"));
        assert_eq!(preflight(&app, path, APP).await.status(), 204, "{path}");
    }
    // The authorization endpoint and sign-in pages are navigations: no CORS, ever.
    for path in [
        "/realms/default/protocol/openid-connect/auth",
        "/realms/default/login-actions/authenticate",
        "/realms/default/protocol/openid-connect/logout",
    ] {
        let resp = preflight(&app, path, APP).await;
        assert_eq!(allow_origin(&resp), None, "{path}");
        assert_ne!(resp.status(), 204, "{path}");
    }
}

#[actix_web::test]
async fn responses_are_shared_only_with_the_clients_own_origins() {
    let app = spawn_app().await;
    spa(&app);
    let resp = spa_token(&app, APP, ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(allow_origin(&resp).as_deref(), Some(APP));
    assert!(
        resp.headers()
            .get_all("vary")
            .iter()
            .any(|v| v.to_str().unwrap().contains("Origin"))
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap().to_string();

    // An error the app must be able to read (wrong password) is shared too.
    let resp = spa_token(&app, APP, "wrong password here").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(allow_origin(&resp).as_deref(), Some(APP));
    // Another origin gets the answer (CORS is not access control) but the browser may not
    // read it.
    let resp = spa_token(&app, EVIL, ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(allow_origin(&resp), None);
    // portal has no web origins: APP may not read portal's answers.
    let resp = app
        .http
        .post(app.token_url())
        .header("origin", APP)
        .form(ADMIN_PASSWORD_GRANT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(allow_origin(&resp), None);

    // userinfo and the REST API: shared with the token's client's origins.
    for (path, origin, shared) in [
        (
            "/realms/default/protocol/openid-connect/userinfo",
            APP,
            true,
        ),
        (
            "/realms/default/protocol/openid-connect/userinfo",
            EVIL,
            false,
        ),
        ("/v1/auth/test", DEV, true),
        ("/v1/auth/test", EVIL, false),
        ("/api/v1/apikeys", APP, true),
    ] {
        let resp = app
            .http
            .get(format!("{}{path}", app.base))
            .header("origin", origin)
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path} from {origin}");
        assert_eq!(
            allow_origin(&resp).is_some_and(|o| o == origin),
            shared,
            "{path} from {origin}"
        );
    }
    // An API key is for scripts and servers: never shared with a browser origin.
    let admin = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let (status, created) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/apikeys",
            Some(&admin),
            Some(serde_json::json!({"name": "script", "type": "sk", "role": "viewer"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["value"].as_str().unwrap();
    let resp = app
        .http
        .get(format!("{}/v1/auth/test", app.base))
        .header("origin", APP)
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(allow_origin(&resp), None);
}

#[actix_web::test]
async fn public_documents_are_readable_from_any_origin() {
    let app = spawn_app().await;
    for path in [
        "/realms/default/.well-known/openid-configuration",
        "/realms/default/protocol/openid-connect/certs",
    ] {
        let resp = app
            .http
            .get(format!("{}{path}", app.base))
            .header("origin", EVIL)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(allow_origin(&resp).as_deref(), Some("*"), "{path}");
        let resp = preflight(&app, path, EVIL).await;
        assert_eq!(resp.status(), 204);
        assert_eq!(allow_origin(&resp).as_deref(), Some("*"));
    }
}
