//! Token revocation (RFC 7009) and introspection (RFC 7662): checklist REV, INTRO, BEAR-08.
//! Refresh tokens are written to the store directly, as a code flow would leave them.

use crate::helpers::*;
use diesel::prelude::*;
use tessera_core::Clock;
use tessera_store as store;
use tessera_store::provision::{self, Actor, UnknownScopes};
use tessera_store::schema::{grant_access_tokens, refresh_tokens, revoked_tokens};

fn revoke_url(app: &TestApp) -> String {
    format!("{}/protocol/openid-connect/revoke", app.issuer)
}

fn introspect_url(app: &TestApp) -> String {
    format!("{}/protocol/openid-connect/token/introspect", app.issuer)
}

/// `svc` (client_credentials) and `rs`, a second confidential client acting as the resource
/// server that introspects. Returns their secrets.
fn clients(app: &TestApp) -> (String, String) {
    let svc = app.create_svc();
    let rs = app
        .create_client(serde_json::json!({
            "client_id": "rs",
            "grant_types": ["client_credentials"],
            "scopes": ["jobs:read"],
        }))
        .unwrap();
    (svc, rs)
}

/// A client_credentials access token of `client_id` in `realm_url`'s realm.
async fn cc_token(app: &TestApp, realm_url: &str, client_id: &str, secret: &str) -> String {
    let resp = app
        .http
        .post(format!("{realm_url}/protocol/openid-connect/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "jobs:read")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// Asserts a refused client authentication: 401, a `WWW-Authenticate` starting with
/// `challenge`, and the error `invalid_client`.
async fn assert_basic_challenge_and_invalid_client(resp: reqwest::Response, challenge: &str) {
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with(challenge)
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

async fn post_basic_to(
    app: &TestApp,
    url: &str,
    client_id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.http
        .post(url)
        .basic_auth(client_id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn introspect(app: &TestApp, rs_secret: &str, form: &[(&str, &str)]) -> serde_json::Value {
    let resp = post_basic_to(app, &introspect_url(app), "rs", rs_secret, form).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    resp.json().await.unwrap()
}

async fn revoke(app: &TestApp, client_id: &str, secret: &str, form: &[(&str, &str)]) {
    let resp = post_basic_to(app, &revoke_url(app), client_id, secret, form).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.text().await.unwrap(), "", "RFC 7009 §2.2: no body");
}

async fn auth_test_status(app: &TestApp, token: &str) -> (u16, serde_json::Value) {
    app.call(reqwest::Method::GET, "/v1/auth/test", Some(token), None)
        .await
}

fn inactive() -> serde_json::Value {
    serde_json::json!({"active": false})
}

fn realm_id(app: &TestApp, name: &str) -> String {
    store::realms::by_name(&mut app.db.conn().unwrap(), name)
        .unwrap()
        .unwrap()
        .id
}

/// Inserts a refresh token of `client_id` for `user_id` in family `family`; returns the raw
/// token (the store keeps only its SHA-256).
fn insert_refresh_token(
    app: &TestApp,
    realm_id: &str,
    family: &str,
    client_id: &str,
    user_id: &str,
    rotated: bool,
) -> String {
    let raw = tessera_core::id::random_token::<32>();
    let now = app.clock.now();
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_sha256.eq(tessera_core::secret::sha256_hex(&raw)),
            refresh_tokens::realm_id.eq(realm_id),
            refresh_tokens::family_id.eq(family),
            refresh_tokens::client_id.eq(client_id),
            refresh_tokens::user_id.eq(user_id),
            refresh_tokens::scope.eq("openid jobs:read"),
            refresh_tokens::auth_time.eq(now),
            refresh_tokens::expires_at.eq(now + 3600),
            refresh_tokens::family_expires_at.eq(now + 86_400),
            refresh_tokens::rotated_at.eq(rotated.then_some(now)),
            refresh_tokens::created_at.eq(now),
        ))
        .execute(&mut *app.db.conn().unwrap())
        .unwrap();
    raw
}

fn family_revoked_at(app: &TestApp, family: &str) -> Vec<Option<i64>> {
    refresh_tokens::table
        .filter(refresh_tokens::family_id.eq(family))
        .select(refresh_tokens::revoked_at)
        .load(&mut *app.db.conn().unwrap())
        .unwrap()
}

fn jti_of(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["jti"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn intro_01_active_access_token_has_the_rfc7662_members() {
    let app = spawn_app().await;
    let (svc, rs) = clients(&app);
    let token = cc_token(&app, &app.issuer, "svc", &svc).await;
    let body = introspect(&app, &rs, &[("token", &token)]).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["scope"], "jobs:read");
    assert_eq!(body["client_id"], "svc");
    assert_eq!(body["username"], "service-account-svc");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["iss"], app.issuer.as_str());
    assert_eq!(body["aud"], app.base.as_str());
    assert_eq!(body["jti"], jti_of(&token).as_str());
    let (iat, exp) = (body["iat"].as_i64().unwrap(), body["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 300);
    assert!(body["sub"].as_str().unwrap().len() > 10);

    // client_secret_post works as well.
    let resp = app
        .post_form(
            &introspect_url(&app),
            &[
                ("client_id", "rs"),
                ("client_secret", &rs),
                ("token", &token),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["active"], true);
}

#[actix_web::test]
async fn intro_02_expired_revoked_unknown_or_garbage_tokens_are_just_inactive() {
    let app = spawn_app().await;
    let (svc, rs) = clients(&app);
    let token = cc_token(&app, &app.issuer, "svc", &svc).await;
    let revoked = cc_token(&app, &app.issuer, "svc", &svc).await;
    revoke(&app, "svc", &svc, &[("token", &revoked)]).await;
    let tampered = format!("{}x", &token[..token.len() - 1]);
    for t in [
        revoked.as_str(),
        "garbage",
        "a.b.c",
        tampered.as_str(),
        "tsk_notakey",
    ] {
        assert_eq!(
            introspect(&app, &rs, &[("token", t)]).await,
            inactive(),
            "{t}"
        );
    }
    // Expired: past exp (the clock is a parameter).
    app.clock.advance(301);
    assert_eq!(
        introspect(&app, &rs, &[("token", &token)]).await,
        inactive()
    );
}

#[actix_web::test]
async fn intro_03_requires_client_authentication() {
    let app = spawn_app().await;
    let (svc, _rs) = clients(&app);
    let token = cc_token(&app, &app.issuer, "svc", &svc).await;

    // No caller authentication at all.
    let resp = app
        .post_form(&introspect_url(&app), &[("token", &token)])
        .await;
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    // Bad Basic credentials: 401 with a Basic challenge.
    let resp = post_basic_to(
        &app,
        &introspect_url(&app),
        "rs",
        "wrong",
        &[("token", &token)],
    )
    .await;
    assert_basic_challenge_and_invalid_client(resp, "Basic realm=").await;

    // A Bearer token is not client authentication.
    let resp = app
        .http
        .post(introspect_url(&app))
        .bearer_auth(&token)
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // A public client cannot introspect (no credentials to prove who it is).
    let resp = app
        .post_form(
            &introspect_url(&app),
            &[("client_id", "portal"), ("token", &token)],
        )
        .await;
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

#[actix_web::test]
async fn intro_04_token_is_required_and_only_post_is_accepted() {
    let app = spawn_app().await;
    let (svc, rs) = clients(&app);
    let resp = post_basic_to(&app, &introspect_url(&app), "rs", &rs, &[]).await;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_error_body(&body, "invalid_request", "token");

    let token = cc_token(&app, &app.issuer, "svc", &svc).await;
    let resp = app
        .http
        .get(format!("{}?token={token}", introspect_url(&app)))
        .basic_auth("rs", Some(&rs))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    // Parameters in the URL of a POST are refused too (they end up in logs).
    let resp = app
        .http
        .post(format!("{}?token={token}", introspect_url(&app)))
        .basic_auth("rs", Some(&rs))
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[actix_web::test]
async fn intro_05_a_wrong_or_unknown_hint_is_harmless() {
    let app = spawn_app().await;
    let (svc, rs) = clients(&app);
    let token = cc_token(&app, &app.issuer, "svc", &svc).await;
    for hint in ["refresh_token", "access_token", "foo"] {
        let body = introspect(&app, &rs, &[("token", &token), ("token_type_hint", hint)]).await;
        assert_eq!(body["active"], true, "hint {hint}: {body}");
    }
}

#[actix_web::test]
async fn intro_06_a_token_of_another_realm_is_inactive() {
    let app = spawn_app().await;
    let (_svc, rs) = clients(&app);
    let hasher = tessera_core::password::PasswordHasher::new(app.config.argon2).unwrap();
    provision::bootstrap_realm(
        &app.db,
        "other",
        Some(ADMIN_PASSWORD),
        &hasher,
        app.clock.now(),
    )
    .unwrap();
    let spec: tessera_core::import::ClientSpec = serde_json::from_value(serde_json::json!({
        "client_id": "svc",
        "grant_types": ["client_credentials"],
        "scopes": ["jobs:read"],
    }))
    .unwrap();
    let other_secret = provision::create_client(
        &app.db,
        "other",
        &spec,
        UnknownScopes::Define,
        &Actor::CLI,
        app.clock.now(),
    )
    .unwrap()
    .generated_secret
    .unwrap();
    let other_issuer = format!("{}/realms/other", app.base);
    let foreign = cc_token(&app, &other_issuer, "svc", &other_secret).await;

    // Same keys, same client_id, but issued for another realm.
    assert_eq!(
        introspect(&app, &rs, &[("token", &foreign)]).await,
        inactive()
    );
    // The other realm's own introspection sees it (with a confidential client of that realm).
    let resp = post_basic_to(
        &app,
        &format!("{other_issuer}/protocol/openid-connect/token/introspect"),
        "svc",
        &other_secret,
        &[("token", &foreign)],
    )
    .await;
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["active"], true, "{body}");
    // Revoking it at the default realm does nothing.
    revoke(&app, "rs", &rs, &[("token", &foreign)]).await;
    let resp = post_basic_to(
        &app,
        &format!("{other_issuer}/protocol/openid-connect/token/introspect"),
        "svc",
        &other_secret,
        &[("token", &foreign)],
    )
    .await;
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["active"], true, "{body}");
}

#[actix_web::test]
async fn rev_01_revoking_a_refresh_token_revokes_its_family_and_its_access_tokens() {
    let app = spawn_app().await;
    let (_svc, rs) = clients(&app);
    let web_secret = app
        .create_client(serde_json::json!({
            "client_id": "webapp",
            "grant_types": ["client_credentials"],
            "scopes": ["jobs:read"],
        }))
        .unwrap();
    let rid = realm_id(&app, "default");
    let user = app.provision_user("alice", "alice-password-123", "root", "member");
    let old = insert_refresh_token(&app, &rid, "fam-1", "webapp", &user, true);
    let current = insert_refresh_token(&app, &rid, "fam-1", "webapp", &user, false);
    let other_family = insert_refresh_token(&app, &rid, "fam-2", "webapp", &user, false);

    // An access token issued under the family (recorded as a grant would record it).
    let at = cc_token(&app, &app.issuer, "webapp", &web_secret).await;
    diesel::insert_into(grant_access_tokens::table)
        .values((
            grant_access_tokens::jti.eq(jti_of(&at)),
            grant_access_tokens::grant_id.eq("fam-1"),
            grant_access_tokens::realm_id.eq(&rid),
            grant_access_tokens::expires_at.eq(app.clock.now() + 300),
        ))
        .execute(&mut *app.db.conn().unwrap())
        .unwrap();
    assert_eq!(auth_test_status(&app, &at).await.0, 200);

    // The refresh token's own client sees it active (RFC 7662 for refresh tokens).
    let resp = post_basic_to(
        &app,
        &introspect_url(&app),
        "webapp",
        &web_secret,
        &[("token", &current)],
    )
    .await;
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "refresh_token");
    assert_eq!(body["client_id"], "webapp");
    assert_eq!(body["sub"], user.as_str());
    assert_eq!(body["scope"], "openid jobs:read");
    // Another client (rs) learns nothing about it.
    assert_eq!(
        introspect(&app, &rs, &[("token", &current)]).await,
        inactive()
    );

    revoke(&app, "webapp", &web_secret, &[("token", &current)]).await;
    assert!(
        family_revoked_at(&app, "fam-1").iter().all(Option::is_some),
        "every token of the family is revoked"
    );
    assert!(
        family_revoked_at(&app, "fam-2").iter().all(Option::is_none),
        "other families are untouched"
    );
    let resp = post_basic_to(
        &app,
        &introspect_url(&app),
        "webapp",
        &web_secret,
        &[("token", &current)],
    )
    .await;
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap(), inactive());
    // The access token of the grant is refused by the resource server and inactive.
    let (status, body) = auth_test_status(&app, &at).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(introspect(&app, &rs, &[("token", &at)]).await, inactive());
    // Revoking the rotated one again: still 200.
    revoke(&app, "webapp", &web_secret, &[("token", &old)]).await;
    let _ = other_family;
}

#[actix_web::test]
async fn rev_02_revoked_access_token_is_inactive_and_refused() {
    let app = spawn_app().await;
    let (svc, rs) = clients(&app);
    let token = cc_token(&app, &app.issuer, "svc", &svc).await;
    let other = cc_token(&app, &app.issuer, "svc", &svc).await;
    assert_eq!(auth_test_status(&app, &token).await.0, 200);

    revoke(&app, "svc", &svc, &[("token", &token)]).await;
    assert_eq!(
        introspect(&app, &rs, &[("token", &token)]).await,
        inactive()
    );
    let (status, body) = auth_test_status(&app, &token).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_token");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );
    // Only that token: another token of the same client still works.
    assert_eq!(auth_test_status(&app, &other).await.0, 200);
    assert_eq!(
        introspect(&app, &rs, &[("token", &other)]).await["active"],
        true
    );
    // The revocation is stored with the token's expiry, for pruning.
    let exp: i64 = revoked_tokens::table
        .filter(revoked_tokens::jti.eq(jti_of(&token)))
        .select(revoked_tokens::expires_at)
        .first(&mut *app.db.conn().unwrap())
        .unwrap();
    assert!(exp > app.clock.now());
}

#[actix_web::test]
async fn bear_08_a_revocation_made_elsewhere_applies_within_the_refresh_interval() {
    // The resource server's list is refreshed from the database every cache TTL; with a TTL of
    // zero a revocation written by another replica applies on the next request.
    let app = spawn_app_with(|c| c.issuer.cache_ttl_secs = 0).await;
    let (svc, _rs) = clients(&app);
    let token = cc_token(&app, &app.issuer, "svc", &svc).await;
    assert_eq!(auth_test_status(&app, &token).await.0, 200);
    let rid = realm_id(&app, "default");
    let now = app.clock.now();
    tessera_store::revoked::revoke(
        &mut app.db.conn().unwrap(),
        &jti_of(&token),
        &rid,
        now + 300,
        now,
    )
    .unwrap();
    let (status, body) = auth_test_status(&app, &token).await;
    assert_eq!(status, 401, "{body}");
}

#[actix_web::test]
async fn rev_03_unknown_garbage_and_already_revoked_tokens_get_200() {
    let app = spawn_app().await;
    let (svc, _rs) = clients(&app);
    let token = cc_token(&app, &app.issuer, "svc", &svc).await;
    revoke(&app, "svc", &svc, &[("token", &token)]).await;
    revoke(&app, "svc", &svc, &[("token", &token)]).await;
    for t in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        revoke(&app, "svc", &svc, &[("token", t)]).await;
    }
    // An expired token: 200, nothing stored.
    let expired = cc_token(&app, &app.issuer, "svc", &svc).await;
    app.clock.advance(400);
    revoke(&app, "svc", &svc, &[("token", &expired)]).await;
    let n: i64 = revoked_tokens::table
        .count()
        .get_result(&mut *app.db.conn().unwrap())
        .unwrap();
    assert_eq!(n, 1);
}

#[actix_web::test]
async fn rev_04_a_client_cannot_revoke_another_clients_tokens() {
    let app = spawn_app().await;
    let (svc, rs) = clients(&app);
    let rid = realm_id(&app, "default");
    let user = app.provision_user("bob", "bob-password-123", "root", "member");
    let rt = insert_refresh_token(&app, &rid, "fam-svc", "svc", &user, false);
    let at = cc_token(&app, &app.issuer, "svc", &svc).await;

    // rs tries to revoke svc's refresh and access tokens: 200, nothing happens.
    revoke(&app, "rs", &rs, &[("token", &rt)]).await;
    revoke(&app, "rs", &rs, &[("token", &at)]).await;
    assert!(family_revoked_at(&app, "fam-svc")[0].is_none());
    assert_eq!(auth_test_status(&app, &at).await.0, 200);
    assert_eq!(
        introspect(&app, &rs, &[("token", &at)]).await["active"],
        true
    );
    let resp = post_basic_to(&app, &introspect_url(&app), "svc", &svc, &[("token", &rt)]).await;
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["active"],
        true
    );
}

#[actix_web::test]
async fn rev_05_client_authentication_token_and_post_are_required() {
    let app = spawn_app().await;
    let (svc, _rs) = clients(&app);
    let token = cc_token(&app, &app.issuer, "svc", &svc).await;

    let resp = app.post_form(&revoke_url(&app), &[("token", &token)]).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    let resp = post_basic_to(
        &app,
        &revoke_url(&app),
        "svc",
        "wrong",
        &[("token", &token)],
    )
    .await;
    assert_basic_challenge_and_invalid_client(resp, "Basic realm=\"default\"").await;

    let resp = app
        .post_form(
            &revoke_url(&app),
            &[
                ("client_id", "svc"),
                ("client_secret", "wrong"),
                ("token", &token),
            ],
        )
        .await;
    assert_eq!(resp.status(), 401);

    let resp = post_basic_to(&app, &revoke_url(&app), "svc", &svc, &[]).await;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    let resp = app
        .http
        .get(format!("{}?token={token}", revoke_url(&app)))
        .basic_auth("svc", Some(&svc))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);

    // Nothing was revoked along the way.
    assert_eq!(auth_test_status(&app, &token).await.0, 200);
}

#[actix_web::test]
async fn rev_06_the_hint_is_ignored() {
    let app = spawn_app().await;
    let (svc, rs) = clients(&app);
    let rid = realm_id(&app, "default");
    let user = app.provision_user("carol", "carol-password-123", "root", "member");
    let rt = insert_refresh_token(&app, &rid, "fam-c", "svc", &user, false);
    let at = cc_token(&app, &app.issuer, "svc", &svc).await;

    // A refresh token sent with hint access_token is revoked anyway.
    revoke(
        &app,
        "svc",
        &svc,
        &[("token", &rt), ("token_type_hint", "access_token")],
    )
    .await;
    assert!(family_revoked_at(&app, "fam-c")[0].is_some());
    // An access token with an unknown hint: revoked, 200.
    revoke(
        &app,
        "svc",
        &svc,
        &[("token", &at), ("token_type_hint", "foo")],
    )
    .await;
    assert_eq!(auth_test_status(&app, &at).await.0, 401);
    assert_eq!(introspect(&app, &rs, &[("token", &at)]).await, inactive());
}

#[actix_web::test]
async fn a_public_client_may_revoke_its_own_tokens() {
    let app = spawn_app().await;
    let (_svc, rs) = clients(&app);
    app.provision_user("dave", "dave-password-123", "root", "member");
    let at = app
        .password_token("dave", "dave-password-123", "api_key:read")
        .await;
    let resp = app
        .post_form(
            &revoke_url(&app),
            &[("client_id", "portal"), ("token", &at)],
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(introspect(&app, &rs, &[("token", &at)]).await, inactive());
}

#[actix_web::test]
async fn discovery_advertises_revocation_and_introspection() {
    let app = spawn_app().await;
    let doc = app.discovery().await;
    assert_eq!(doc["revocation_endpoint"], revoke_url(&app).as_str());
    assert_eq!(doc["introspection_endpoint"], introspect_url(&app).as_str());
    assert_eq!(
        doc["revocation_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(
        doc["introspection_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
}
