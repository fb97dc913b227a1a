//! API keys over HTTP: personal keys (seed 003), team keys (seed 004) and the rules of seed 002.

use crate::helpers::*;
use tessera_store as store;

const ALL: &str = EVERY_PERMISSION;

/// A user in `team` with `role`, and a token for them with every API-key scope.
async fn user_with_token(
    app: &TestApp,
    username: &str,
    team: &str,
    role: &str,
) -> (String, String) {
    let id = app.provision_user(username, "long enough password", team, role);
    (
        id,
        password_token(app, username, "long enough password", ALL).await,
    )
}

async fn password_token(app: &TestApp, username: &str, password: &str, scope: &str) -> String {
    app.password_token(username, password, scope).await
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    bearer: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    app.call(method, path, Some(bearer), body).await
}

fn root_team_id(app: &TestApp) -> String {
    let realm = store::realms::by_name(&mut app.db.conn().unwrap(), "default")
        .unwrap()
        .unwrap();
    store::teams::root(&mut app.db.conn().unwrap(), &realm.id)
        .unwrap()
        .unwrap()
        .id
}

use reqwest::Method;

#[actix_web::test]
async fn personal_key_lifecycle_create_use_update_revoke_delete() {
    let app = spawn_app().await;
    let (member_id, token) = user_with_token(&app, "mia", "root", "member").await;
    let (status, created) = call(
        &app,
        Method::POST,
        "/api/v1/apikeys",
        &token,
        Some(serde_json::json!({"name": "CI key", "type": "sk", "role": "viewer"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let value = created["value"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(value.starts_with("tsk_"));
    assert_eq!(created["role"], "viewer");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["created_by"], format!("user:{member_id}"));
    assert!(
        created["maskedValue"]
            .as_str()
            .unwrap()
            .ends_with(&value[value.len() - 4..])
    );

    // The key authenticates; it carries the viewer role's rights limited by the member's.
    let (status, test) = call(&app, Method::GET, "/v1/auth/test", &value, None).await;
    assert_eq!(status, 200, "{test}");
    assert_eq!(test["user_id"], member_id.as_str());
    // The value is never shown again.
    let (status, listed) = call(&app, Method::GET, "/api/v1/apikeys", &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("value").is_none());
    assert!(!listed.to_string().contains(&value));
    let (status, err) = call(
        &app,
        Method::GET,
        &format!("/api/v1/apikeys/{id}?withValue=true"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_description_contains(&err, "shown once");

    // Disable with PUT: the key stops working on the next request.
    let (status, updated) = call(
        &app,
        Method::PUT,
        &format!("/api/v1/apikeys/{id}"),
        &token,
        Some(serde_json::json!({"name": "CI key (old)", "enabled": false})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["name"], "CI key (old)");
    let (status, err) = call(&app, Method::GET, "/v1/auth/test", &value, None).await;
    assert_eq!(status, 401);
    assert_description_contains(&err, "revoked");
    // Re-enable, then delete.
    let (status, _) = call(
        &app,
        Method::PUT,
        &format!("/api/v1/apikeys/{id}"),
        &token,
        Some(serde_json::json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        call(&app, Method::GET, "/v1/auth/test", &value, None)
            .await
            .0,
        200
    );
    let (status, deleted) = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/apikeys/{id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        deleted,
        serde_json::json!({"acknowledged": true, "deletedCount": 1})
    );
    assert_eq!(
        call(&app, Method::GET, "/v1/auth/test", &value, None)
            .await
            .0,
        401
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/apikeys/{id}"),
            &token,
            None
        )
        .await
        .0,
        404
    );
}

#[actix_web::test]
async fn a_personal_key_never_exceeds_its_creators_live_rights() {
    let app = spawn_app().await;
    let (_, token) = user_with_token(&app, "vic", "root", "viewer").await;
    // A viewer may not create keys at all.
    let (status, err) = call(
        &app,
        Method::POST,
        "/api/v1/apikeys",
        &token,
        Some(serde_json::json!({"name": "k"})),
    )
    .await;
    assert_eq!(status, 403);
    assert_error_body(&err, "insufficient_scope", "api_key:create");

    // A member's key with the admin role still acts only with the member's rights.
    let (_, member) = user_with_token(&app, "meg", "root", "member").await;
    let (status, created) = call(
        &app,
        Method::POST,
        "/api/v1/apikeys",
        &member,
        Some(serde_json::json!({"name": "wide", "role": "admin"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let value = created["value"].as_str().unwrap();
    let (status, err) = call(
        &app,
        Method::POST,
        "/api/preview/teamkeys",
        value,
        Some(serde_json::json!({"name": "t", "team_id": root_team_id(&app)})),
    )
    .await;
    assert_eq!(status, 403, "{err}");
}

#[actix_web::test]
async fn bad_input_is_refused_with_the_field_and_changes_nothing() {
    let app = spawn_app().await;
    let (_, token) = user_with_token(&app, "bob", "root", "member").await;
    let cases = [
        (serde_json::json!({"name": ""}), "name"),
        (serde_json::json!({"name": "x".repeat(201)}), "name"),
        (serde_json::json!({"name": "k", "type": "zz"}), "type"),
        (serde_json::json!({"name": "k", "role": "nope"}), "role"),
        (
            serde_json::json!({"name": "k", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            serde_json::json!({"name": "k", "expires_at": "tomorrow"}),
            "expires_at",
        ),
        (serde_json::json!({"name": "k", "colour": "blue"}), "colour"),
        (serde_json::json!({"name": 5}), "name"),
        (
            serde_json::json!({"name": "k", "team_id": "not-an-id"}),
            "team_id",
        ),
        (
            serde_json::json!({"name": "k", "scopes": ["admin:everything"]}),
            "scopes",
        ),
    ];
    for (body, field) in cases {
        let (status, err) = call(
            &app,
            Method::POST,
            "/api/v1/apikeys",
            &token,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["error"], "invalid_request");
        assert!(
            err["error_description"].as_str().unwrap().contains(field),
            "{body}: {err}"
        );
    }
    let (_, listed) = call(&app, Method::GET, "/api/v1/apikeys", &token, None).await;
    assert_eq!(listed.as_array().unwrap().len(), 0, "nothing was created");
    assert_eq!(
        call(&app, Method::GET, "/api/v1/apikeys/not-an-id", &token, None)
            .await
            .0,
        400
    );
    assert_eq!(
        call(&app, Method::GET, "/api/v1/apikeys", "", None).await.0,
        401
    );
}

#[actix_web::test]
async fn only_admins_see_other_users_keys() {
    let app = spawn_app().await;
    let (_, alice) = user_with_token(&app, "alice", "root", "member").await;
    let (_, bruno) = user_with_token(&app, "bruno", "root", "member").await;
    let (_, created) = call(
        &app,
        Method::POST,
        "/api/v1/apikeys",
        &alice,
        Some(serde_json::json!({"name": "a"})),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/apikeys/{id}"),
            &bruno,
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/api/v1/apikeys/{id}"),
            &bruno,
            None
        )
        .await
        .0,
        404
    );
    let (_, bruno_list) = call(&app, Method::GET, "/api/v1/apikeys", &bruno, None).await;
    assert!(bruno_list.as_array().unwrap().is_empty());
    let admin = password_token(&app, "admin", ADMIN_PASSWORD, &format!("{ALL} user:write")).await;
    let (status, admin_view) = call(
        &app,
        Method::GET,
        &format!("/api/v1/apikeys/{id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{admin_view}");
    let (_, all) = call(&app, Method::GET, "/api/v1/apikeys", &admin, None).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn a_key_exchanged_for_a_jwt_passes_auth_test_with_no_more_than_its_rights() {
    let app = spawn_app().await;
    let (member_id, token) = user_with_token(&app, "eve", "root", "member").await;
    let (_, created) = call(
        &app,
        Method::POST,
        "/api/v1/apikeys",
        &token,
        Some(serde_json::json!({"name": "x", "scopes": ["api_key:read", "team:read"]})),
    )
    .await;
    let (id, value) = (
        created["id"].as_str().unwrap(),
        created["value"].as_str().unwrap(),
    );
    let (status, exchanged) = call(
        &app,
        Method::GET,
        &format!("/api/v1/apikeys/{id}/token"),
        value,
        None,
    )
    .await;
    assert_eq!(status, 200, "{exchanged}");
    let jwt = exchanged["token"].as_str().unwrap();
    let checked = verify_independently(jwt, &app.jwks().await);
    assert_eq!(checked.claims["sub"], member_id.as_str());
    assert_eq!(checked.claims["scope"], "api_key:read team:read");
    let (status, test) = call(&app, Method::GET, "/v1/auth/test", jwt, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        test["scopes"],
        serde_json::json!(["api_key:read", "team:read"])
    );
    // Only the key itself can be exchanged.
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/apikeys/{id}/token"),
            &token,
            None
        )
        .await
        .0,
        400
    );
}

#[actix_web::test]
async fn team_keys_follow_seed_002_and_004() {
    let app = spawn_app().await;
    let team = root_team_id(&app);
    let (_, operator) = user_with_token(&app, "olga", "root", "operator").await;
    let (_, member) = user_with_token(&app, "max", "root", "member").await;
    // Members cannot create team keys; operators can.
    let body = serde_json::json!({"name": "AWS Team Key", "team_id": team});
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/api/preview/teamkeys",
            &member,
            Some(body.clone())
        )
        .await
        .0,
        403
    );
    let (status, created) = call(
        &app,
        Method::POST,
        "/api/preview/teamkeys",
        &operator,
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let key = &created["value"];
    let (id, access_key) = (
        key["id"].as_str().unwrap().to_string(),
        key["access_key"].as_str().unwrap().to_string(),
    );
    assert!(access_key.starts_with("ttk_"));
    assert_eq!(key["status"], "ACTIVE");
    assert_eq!(key["team_id"], team.as_str());
    assert_eq!(key["role"], "oaa_push");
    assert_eq!(key["team_name"], "root");

    // Visible to every member, with the filter of seed 004, never with the value.
    let filter = format!("/api/preview/teamkeys?filter=team_id%20eq%20%22{team}%22");
    let (status, listed) = call(&app, Method::GET, &filter, &member, None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["values"].as_array().unwrap().len(), 1);
    // And one by one, also without the value.
    let (status, one) = call(
        &app,
        Method::GET,
        &format!("/api/preview/teamkeys/{id}"),
        &member,
        None,
    )
    .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["value"]["name"], "AWS Team Key");
    assert_eq!(one["value"]["access_key"], "");
    let unknown = format!("/api/preview/teamkeys/{}", tessera_core::id::new_uuid());
    assert_eq!(
        call(&app, Method::GET, &unknown, &member, None).await.0,
        404
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/api/preview/teamkeys/nope",
            &member,
            None
        )
        .await
        .0,
        400
    );
    assert_eq!(listed["values"][0]["access_key"], "");
    assert_eq!(listed["next_page_token"], "");
    assert_eq!(listed["has_more"], false);
    let (status, err) = call(
        &app,
        Method::GET,
        "/api/preview/teamkeys?filter=name%20eq%20%22x%22",
        &member,
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_description_contains(&err, "filter");

    // The key authenticates with the oaa_push role only.
    let (status, test) = call(&app, Method::GET, "/v1/auth/test", &access_key, None).await;
    assert_eq!(status, 200);
    assert_eq!(test["scopes"], serde_json::json!(["oaa:push"]));
    assert_eq!(
        call(&app, Method::GET, "/api/v1/apikeys", &access_key, None)
            .await
            .0,
        403
    );

    // Rename, revoke, reinstate, delete.
    let (status, renamed) = call(
        &app,
        Method::PATCH,
        &format!("/api/preview/teamkeys/{id}"),
        &operator,
        Some(serde_json::json!({"name": "Updated API Key"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(renamed["value"]["name"], "Updated API Key");
    let (status, empty) = call(
        &app,
        Method::POST,
        &format!("/api/preview/teamkeys/{id}:revoke"),
        &operator,
        None,
    )
    .await;
    assert_eq!((status, empty), (200, serde_json::json!({})));
    assert_eq!(
        call(&app, Method::GET, "/v1/auth/test", &access_key, None)
            .await
            .0,
        401
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            &format!("/api/preview/teamkeys/{id}:reinstate"),
            &operator,
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(&app, Method::GET, "/v1/auth/test", &access_key, None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            &format!("/api/preview/teamkeys/{id}:explode"),
            &operator,
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            &format!("/api/preview/teamkeys/{id}:revoke"),
            &member,
            None
        )
        .await
        .0,
        403
    );
    let (status, deleted) = call(
        &app,
        Method::DELETE,
        &format!("/api/preview/teamkeys/{id}"),
        &operator,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(deleted["value"]["status"], "INACTIVE");
    assert_eq!(deleted["value"]["name"], "Updated API Key");
    assert_eq!(
        call(&app, Method::GET, "/v1/auth/test", &access_key, None)
            .await
            .0,
        401
    );
}

#[actix_web::test]
async fn team_keys_survive_their_creator_and_personal_keys_do_not() {
    // No caching, so the deletion below (made behind the API's back) is seen at once.
    let app = spawn_app_with(|c| c.issuer.cache_ttl_secs = 0).await;
    let team = root_team_id(&app);
    let (operator_id, operator) = user_with_token(&app, "omar", "root", "operator").await;
    let (_, team_key) = call(
        &app,
        Method::POST,
        "/api/preview/teamkeys",
        &operator,
        Some(serde_json::json!({"name": "svc", "team_id": team})),
    )
    .await;
    let (_, personal) = call(
        &app,
        Method::POST,
        "/api/v1/apikeys",
        &operator,
        Some(serde_json::json!({"name": "mine"})),
    )
    .await;
    let team_value = team_key["value"]["access_key"].as_str().unwrap();
    let personal_value = personal["value"].as_str().unwrap();
    assert_eq!(
        call(&app, Method::GET, "/v1/auth/test", personal_value, None)
            .await
            .0,
        200
    );
    // The creator is deleted from the realm.
    {
        use diesel::prelude::*;
        diesel::delete(tessera_store::schema::users::table.find(&operator_id))
            .execute(&mut *app.db.conn().unwrap())
            .unwrap();
    }
    assert_eq!(
        call(&app, Method::GET, "/v1/auth/test", team_value, None)
            .await
            .0,
        200,
        "team key survives"
    );
    let (status, _) = call(&app, Method::GET, "/v1/auth/test", personal_value, None).await;
    assert_eq!(status, 401, "personal keys go with their owner");
}

#[actix_web::test]
async fn last_access_is_recorded_without_a_write_per_request() {
    let app = spawn_app().await;
    let (_, token) = user_with_token(&app, "lu", "root", "member").await;
    let (_, created) = call(
        &app,
        Method::POST,
        "/api/v1/apikeys",
        &token,
        Some(serde_json::json!({"name": "k"})),
    )
    .await;
    let (id, value) = (
        created["id"].as_str().unwrap().to_string(),
        created["value"].as_str().unwrap().to_string(),
    );
    assert!(created["last_access_at"].is_null());
    for _ in 0..3 {
        assert_eq!(
            call(&app, Method::GET, "/v1/auth/test", &value, None)
                .await
                .0,
            200
        );
    }
    // Written by the batch flush (every 10 s), not by the requests themselves.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, got) = call(
            &app,
            Method::GET,
            &format!("/api/v1/apikeys/{id}"),
            &token,
            None,
        )
        .await;
        if !got["last_access_at"].is_null() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "last_access_at never recorded"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// A graceful stop writes the uses recorded since the last periodic write (every 10 s), so
/// "last used" survives restarts and deploys.
#[actix_web::test]
async fn a_graceful_stop_writes_the_last_key_uses() {
    let mut app = spawn_app().await;
    let (_, token) = user_with_token(&app, "stopper", "root", "member").await;
    let (_, created) = call(
        &app,
        Method::POST,
        "/api/v1/apikeys",
        &token,
        Some(serde_json::json!({"name": "k"})),
    )
    .await;
    let value = created["value"].as_str().unwrap().to_string();
    assert_eq!(
        call(&app, Method::GET, "/v1/auth/test", &value, None)
            .await
            .0,
        200
    );
    app.stop_gracefully().await;
    let hash = tessera_core::apikey::parse(&value).unwrap().sha256_hex();
    let key = tessera_store::api_keys::by_hash(&mut app.db.conn().unwrap(), &hash)
        .unwrap()
        .unwrap();
    assert!(
        key.last_access_at.is_some(),
        "the use before the stop was lost"
    );
}

#[actix_web::test]
async fn a_deny_policy_on_the_team_narrows_its_team_keys() {
    let app = spawn_app().await;
    let admin = password_token(
        &app,
        "admin",
        ADMIN_PASSWORD,
        &format!("{ALL} user:write policy:write"),
    )
    .await;
    // Not the root team: a deny there would narrow the realm's admin too, which is refused.
    let (_, team) = call(
        &app,
        Method::POST,
        "/api/v1/teams",
        &admin,
        Some(serde_json::json!({"name": "pushers"})),
    )
    .await;
    let team = team["value"]["id"].as_str().unwrap().to_string();
    let (_, created) = call(
        &app,
        Method::POST,
        "/api/preview/teamkeys",
        &admin,
        Some(serde_json::json!({"name": "push", "team_id": team})),
    )
    .await;
    let key = created["value"]["access_key"].as_str().unwrap().to_string();
    let (_, before) = call(&app, Method::GET, "/v1/auth/test", &key, None).await;
    assert_eq!(before["scopes"], serde_json::json!(["oaa:push"]));
    let (status, policy) = call(
        &app,
        Method::POST,
        "/api/v1/policies",
        &admin,
        Some(serde_json::json!({
            "name": "no pushing",
            "effect": "deny",
            "permissions": ["oaa:push"],
            "subject": {"type": "team", "id": team},
        })),
    )
    .await;
    assert_eq!(status, 201, "{policy}");
    let (status, after) = call(&app, Method::GET, "/v1/auth/test", &key, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        after["scopes"],
        serde_json::json!([]),
        "the deny wins over the role"
    );
}

#[actix_web::test]
async fn responses_carrying_a_key_value_are_not_cached() {
    let app = spawn_app().await;
    let admin = password_token(&app, "admin", ADMIN_PASSWORD, ALL).await;
    let resp = app
        .http
        .post(format!("{}/api/v1/apikeys", app.base))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"name": "cache check"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    // Public documents keep their own caching.
    let jwks = app
        .http
        .get(format!("{}/protocol/openid-connect/certs", app.issuer))
        .send()
        .await
        .unwrap();
    assert!(
        jwks.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public")
    );
}
