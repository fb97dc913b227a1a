//! Teams, users and roles over HTTP (seed 004): every route's success, 401, 403, 404 and bad
//! input, keyset paging, and the personal-key rules tied to memberships (seed 002).

use crate::helpers::*;
use diesel::prelude::*;
use serde_json::{Value, json};
use tessera_core::model::{ApiKey, KeyKind, KeyStatus, KeyType};

const ALL_SCOPES: &str = EVERY_PERMISSION;

async fn token_for(app: &TestApp, username: &str, password: &str, scope: &str) -> String {
    app.password_token(username, password, scope).await
}

async fn admin(app: &TestApp) -> String {
    token_for(app, "admin", ADMIN_PASSWORD, ALL_SCOPES).await
}

/// A user provisioned directly in the root team with `role`; returns a token with every
/// directory scope (the role decides what it may do).
async fn member_token(app: &TestApp, username: &str, role: &str) -> String {
    app.provision_user(username, "member-password-1", "root", role);
    token_for(app, username, "member-password-1", ALL_SCOPES).await
}

/// Sends a request; returns the status and the JSON body.
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    app.call(method, path, token, body).await
}

/// The six routes of a collection (list, create, get, put, patch, delete of `item`), each with
/// the body it sends and the permission it needs: `read` for the GETs, `write` for the rest.
fn crud_routes<'a>(
    collection: &'a str,
    item: &'a str,
    read: &'a str,
    write: &'a str,
) -> [(&'a str, &'a str, Option<Value>, &'a str); 6] {
    let named = || Some(json!({"name": "x"}));
    [
        ("GET", collection, None, read),
        ("POST", collection, named(), write),
        ("GET", item, None, read),
        ("PUT", item, named(), write),
        ("PATCH", item, named(), write),
        ("DELETE", item, None, write),
    ]
}

/// Asserts that each route answers 401 without a token, 403 naming its permission with the
/// token `no_scope` (whose scopes lack it), and to `viewer` 200 when it needs `read`, else 403.
async fn assert_routes_guarded(
    app: &TestApp,
    routes: [(&str, &str, Option<Value>, &str); 6],
    no_scope: &str,
    viewer: &str,
    read: &str,
) {
    for (method, path, body, permission) in routes {
        let (status, _) = call(app, method, path, None, body.clone()).await;
        assert_eq!(status, 401, "{method} {path}");
        let (status, resp) = call(app, method, path, Some(no_scope), body.clone()).await;
        assert_eq!(status, 403, "{method} {path}: {resp}");
        assert!(description(&resp).contains(permission), "{resp}");
        let (status, resp) = call(app, method, path, Some(viewer), body).await;
        let want = if permission == read { 200 } else { 403 };
        assert_eq!(status, want, "{method} {path}: {resp}");
    }
}

fn description(body: &Value) -> String {
    body["error_description"].as_str().unwrap_or("").to_string()
}

/// Asserts a 400 `invalid_request` whose description names `field`.
fn assert_bad(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 400, "{field}: {body}");
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(
        description(body).contains(field),
        "the error should name {field}: {body}"
    );
}

async fn root_team_id(app: &TestApp, token: &str) -> String {
    let (status, body) = call(
        app,
        "GET",
        "/api/v1/teams?filter=name%20eq%20%22root%22",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["values"][0]["id"].as_str().unwrap().to_string()
}

async fn role_id(app: &TestApp, token: &str, name: &str) -> String {
    let (status, body) = call(
        app,
        "GET",
        &format!("/api/v1/roles?filter=name%20eq%20%22{name}%22"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["roles"][0]["id"].as_str().unwrap().to_string()
}

async fn create_team(app: &TestApp, token: &str, name: &str) -> String {
    let (status, body) = call(
        app,
        "POST",
        "/api/v1/teams",
        Some(token),
        Some(json!({"name": name})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["value"]["id"].as_str().unwrap().to_string()
}

fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    let mut conn = app.db.conn().unwrap();
    let realm = tessera_store::realms::by_name(&mut conn, "default")
        .unwrap()
        .unwrap();
    tessera_store::audit::of_realm(&mut conn, &realm.id)
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.target))
        .collect()
}

/// Asserts that the audit log holds each of `actions` with the target `target`.
fn assert_audited(app: &TestApp, actions: &[&str], target: &str) {
    let logged = audit_actions(app);
    for action in actions {
        assert!(
            logged.iter().any(|(a, t)| a == action && t == target),
            "{action} on {target} missing from {logged:?}"
        );
    }
}

fn insert_key(app: &TestApp, kind: KeyKind, owner: Option<&str>, team: &str) -> String {
    let id = tessera_core::id::new_uuid();
    let mut conn = app.db.conn().unwrap();
    let realm = tessera_store::realms::by_name(&mut conn, "default")
        .unwrap()
        .unwrap();
    let key = ApiKey {
        id: id.clone(),
        realm_id: realm.id,
        kind,
        key_type: KeyType::Secret,
        name: format!("{kind} key"),
        prefix: "tsk_".into(),
        secret_sha256: tessera_core::secret::sha256_hex(&id),
        last_four: "abcd".into(),
        team_id: Some(team.into()),
        owner_user_id: owner.map(str::to_string),
        role_id: None,
        scopes: Default::default(),
        status: KeyStatus::Active,
        expires_at: None,
        last_access_at: None,
        created_by: "user:test".into(),
        updated_by: "user:test".into(),
        created_at: 0,
        updated_at: 0,
    };
    tessera_store::api_keys::insert(&mut conn, &key).unwrap();
    id
}

fn key_exists(app: &TestApp, id: &str) -> bool {
    use tessera_store::schema::api_keys;
    let n: i64 = api_keys::table
        .filter(api_keys::id.eq(id))
        .count()
        .get_result(&mut *app.db.conn().unwrap())
        .unwrap();
    n == 1
}

// ---- teams ----

#[actix_web::test]
async fn teams_create_get_list_put_patch_delete_round_trip() {
    let app = spawn_app().await;
    let token = admin(&app).await;

    // The seed's create body, verbatim.
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/teams",
        Some(&token),
        Some(json!({
            "name": "AWS Dev Team",
            "policy_type": "PROVIDER_ID_SET",
            "providers": [{"id": "10fc60da-9df6-4495-ae0f-abf92e0bd715"}],
            "description": "Limited to aws_dev account",
            "sso_alias": "AWS Dev Team",
            "provider_types": [1]
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let team = &body["value"];
    let id = team["id"].as_str().unwrap().to_string();
    assert!(tessera_core::id::is_uuid(&id));
    assert_eq!(team["name"], "AWS Dev Team");
    assert_eq!(team["policy_type"], "PROVIDER_ID_SET");
    assert_eq!(
        team["providers"][0]["id"],
        "10fc60da-9df6-4495-ae0f-abf92e0bd715"
    );
    assert_eq!(team["description"], "Limited to aws_dev account");
    assert_eq!(team["sso_alias"], "AWS Dev Team");
    assert_eq!(team["provider_types"], json!([1]));
    assert_eq!(team["user_count"], 0);
    assert!(
        time::OffsetDateTime::parse(
            team["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok(),
        "{team}"
    );

    let (status, got) = call(
        &app,
        "GET",
        &format!("/api/v1/teams/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["value"], *team);

    let (status, list) = call(&app, "GET", "/api/v1/teams", Some(&token), None).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"root") && names.contains(&"AWS Dev Team"),
        "{list}"
    );
    assert_eq!(list["has_more"], false);
    assert_eq!(list["next_page_token"], "");

    // PATCH changes only what it is given.
    let (status, patched) = call(
        &app,
        "PATCH",
        &format!("/api/v1/teams/{id}"),
        Some(&token),
        Some(json!({"id": id, "description": "now prod", "policy_type": 2})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["value"]["description"], "now prod");
    assert_eq!(patched["value"]["policy_type"], 2);
    assert_eq!(patched["value"]["sso_alias"], "AWS Dev Team");
    assert_eq!(patched["value"]["providers"].as_array().unwrap().len(), 1);

    // PUT replaces: what it leaves out goes back to its default.
    let (status, put) = call(
        &app,
        "PUT",
        &format!("/api/v1/teams/{id}"),
        Some(&token),
        Some(json!({"name": "AWS Prod Team"})),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["value"]["name"], "AWS Prod Team");
    assert_eq!(put["value"]["description"], "");
    assert_eq!(put["value"]["sso_alias"], "");
    assert_eq!(put["value"]["providers"], json!([]));
    assert_eq!(put["value"]["policy_type"], Value::Null);

    let (status, deleted) = call(
        &app,
        "DELETE",
        &format!("/api/v1/teams/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted, json!({}));
    let (status, _) = call(
        &app,
        "GET",
        &format!("/api/v1/teams/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 404);

    assert_audited(
        &app,
        &["team.create", "team.update", "team.delete"],
        &format!("team:{id}"),
    );
}

#[actix_web::test]
async fn team_user_count_is_live() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let team = create_team(&app, &token, "Counted").await;
    let member = role_id(&app, &token, "member").await;
    for name in ["ann", "bob"] {
        let (status, body) = call(
            &app,
            "POST",
            "/api/v1/users",
            Some(&token),
            Some(json!({"name": name, "team_roles": [{"team_id": team, "role_id": member}]})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, got) = call(
        &app,
        "GET",
        &format!("/api/v1/teams/{team}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(got["value"]["user_count"], 2, "{got}");
}

#[actix_web::test]
async fn team_routes_answer_401_without_a_token_and_403_without_the_permission() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let team = create_team(&app, &token, "Guarded").await;
    let viewer = member_token(&app, "vera", "viewer").await;
    let no_team_scope = token_for(&app, "admin", ADMIN_PASSWORD, "user:read").await;
    let item = format!("/api/v1/teams/{team}");
    let routes = crud_routes("/api/v1/teams", &item, "team:read", "team:write");
    for (method, path, body, permission) in routes {
        let (status, resp) = call(&app, method, path, None, body.clone()).await;
        assert_eq!(status, 401, "{method} {path}: {resp}");
        assert_eq!(resp["error"], "invalid_token");
        // A token whose scopes lack the permission.
        let (status, resp) = call(&app, method, path, Some(&no_team_scope), body.clone()).await;
        assert_eq!(status, 403, "{method} {path}: {resp}");
        assert_eq!(resp["error"], "insufficient_scope");
        assert!(description(&resp).contains(permission), "{resp}");
        // A viewer may read but not write.
        let (status, resp) = call(&app, method, path, Some(&viewer), body).await;
        if permission == "team:read" {
            assert_eq!(status, 200, "{method} {path}: {resp}");
        } else {
            assert_eq!(status, 403, "{method} {path}: {resp}");
            assert!(description(&resp).contains("team:write"), "{resp}");
        }
    }
    // Nothing the refused requests sent was applied.
    let (_, got) = call(&app, "GET", &item, Some(&token), None).await;
    assert_eq!(got["value"]["name"], "Guarded");
}

#[actix_web::test]
async fn unknown_and_malformed_team_ids_are_404_and_400() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let missing = "/api/v1/teams/0f8fad5b-d9cb-469f-a165-70867728950e";
    for method in ["GET", "PUT", "PATCH", "DELETE"] {
        let body = (method == "PUT" || method == "PATCH").then(|| json!({"name": "x"}));
        let (status, resp) = call(&app, method, missing, Some(&token), body.clone()).await;
        assert_eq!(status, 404, "{method}: {resp}");
        assert_eq!(resp["error"], "not_found");
        let (status, resp) =
            call(&app, method, "/api/v1/teams/not-an-id", Some(&token), body).await;
        assert_bad(status, &resp, "id");
    }
}

#[actix_web::test]
async fn bad_team_input_is_400_or_409_naming_the_field_and_changes_nothing() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let team = create_team(&app, &token, "Existing").await;
    let long = "x".repeat(201);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": "A", "colour": "red"}), "colour"),
        (json!({"name": 7}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": long}), "name"),
        (json!({"description": "no name"}), "name"),
        (json!({"name": null}), "name"),
        (
            json!({"name": "A", "providers": [{"id": "p", "colour": 1}]}),
            "providers[0]",
        ),
        (
            json!({"name": "A", "providers": [{"id": "p"}, {"id": "p"}]}),
            "providers[1].id",
        ),
        (json!({"name": "A", "providers": "p"}), "providers"),
        (
            json!({"name": "A", "provider_types": [true]}),
            "provider_types[0]",
        ),
        (json!({"name": "A", "policy_type": {"x": 1}}), "policy_type"),
        (json!({"name": "A", "id": team}), "id"),
        (json!(["name"]), "body"),
    ];
    for (body, field) in cases {
        let (status, resp) = call(
            &app,
            "POST",
            "/api/v1/teams",
            Some(&token),
            Some(body.clone()),
        )
        .await;
        assert_bad(status, &resp, field);
    }
    let (status, resp) = call(
        &app,
        "POST",
        "/api/v1/teams",
        Some(&token),
        Some(json!({"name": "Existing"})),
    )
    .await;
    assert_eq!(status, 409, "{resp}");
    assert_eq!(resp["error"], "conflict");
    assert!(description(&resp).contains("Existing"), "{resp}");

    // Not JSON at all.
    let resp = app
        .http
        .post(format!("{}/api/v1/teams", app.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    // An update with a bad field changes nothing, not even the valid fields beside it.
    let (status, resp) = call(
        &app,
        "PATCH",
        &format!("/api/v1/teams/{team}"),
        Some(&token),
        Some(json!({"description": "changed", "sso_alias": 5})),
    )
    .await;
    assert_bad(status, &resp, "sso_alias");
    let other = create_team(&app, &token, "Other").await;
    let (status, resp) = call(
        &app,
        "PATCH",
        &format!("/api/v1/teams/{other}"),
        Some(&token),
        Some(json!({"name": "Existing", "description": "changed"})),
    )
    .await;
    assert_eq!(status, 409, "{resp}");
    let (_, got) = call(
        &app,
        "GET",
        &format!("/api/v1/teams/{team}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(got["value"]["description"], "");
    let (_, got) = call(
        &app,
        "GET",
        &format!("/api/v1/teams/{other}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(got["value"]["description"], "");
    assert_eq!(got["value"]["name"], "Other");

    let (_, list) = call(&app, "GET", "/api/v1/teams", Some(&token), None).await;
    assert_eq!(list["values"].as_array().unwrap().len(), 3, "{list}");
}

#[actix_web::test]
async fn the_root_team_cannot_be_deleted_or_renamed() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let root = root_team_id(&app, &token).await;
    let (status, resp) = call(
        &app,
        "DELETE",
        &format!("/api/v1/teams/{root}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 409, "{resp}");
    assert!(description(&resp).contains("root team"), "{resp}");
    let (status, resp) = call(
        &app,
        "PATCH",
        &format!("/api/v1/teams/{root}"),
        Some(&token),
        Some(json!({"name": "everyone"})),
    )
    .await;
    assert_eq!(status, 409, "{resp}");
    // Its description may change.
    let (status, resp) = call(
        &app,
        "PATCH",
        &format!("/api/v1/teams/{root}"),
        Some(&token),
        Some(json!({"description": "All of us"})),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["value"]["name"], "root");
    assert_eq!(resp["value"]["user_count"], 1);
}

// ---- paging and filters ----

#[actix_web::test]
async fn team_pages_follow_next_page_token_without_duplicates() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let mut expected = vec![root_team_id(&app, &token).await];
    for i in 0..7 {
        expected.push(create_team(&app, &token, &format!("Team {i}")).await);
    }
    let mut seen: Vec<String> = Vec::new();
    let mut url = "/api/v1/teams?page_size=3".to_string();
    let mut pages = 0;
    loop {
        let (status, body) = call(&app, "GET", &url, Some(&token), None).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        let values = body["values"].as_array().unwrap();
        assert!(values.len() <= 3);
        seen.extend(values.iter().map(|t| t["id"].as_str().unwrap().to_string()));
        let next = body["next_page_token"].as_str().unwrap();
        assert_eq!(body["has_more"], !next.is_empty(), "{body}");
        if next.is_empty() {
            break;
        }
        url = format!("/api/v1/teams?page_size=3&page_token={next}");
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        seen.len(),
        "duplicates across pages: {seen:?}"
    );
    expected.sort();
    assert_eq!(sorted, expected);
}

#[actix_web::test]
async fn user_and_role_pages_cover_every_row_once() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    for i in 0..5 {
        let (status, body) = call(
            &app,
            "POST",
            "/api/v1/users",
            Some(&token),
            Some(json!({"name": format!("pager{i}")})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    for (path, key, total) in [
        ("/api/v1/users", "values", 6),
        ("/api/v1/roles", "roles", 5),
    ] {
        let mut seen = std::collections::BTreeSet::new();
        let mut url = format!("{path}?page_size=2");
        loop {
            let (status, body) = call(&app, "GET", &url, Some(&token), None).await;
            assert_eq!(status, 200, "{body}");
            for v in body[key].as_array().unwrap() {
                assert!(seen.insert(v["id"].as_str().unwrap().to_string()), "{body}");
            }
            if body["has_more"] == false {
                assert_eq!(body["next_page_token"], "");
                break;
            }
            url = format!(
                "{path}?page_size=2&page_token={}",
                body["next_page_token"].as_str().unwrap()
            );
        }
        assert_eq!(seen.len(), total, "{path}");
    }
}

#[actix_web::test]
async fn invalid_page_tokens_sizes_and_filters_are_400() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    for path in ["/api/v1/teams", "/api/v1/users", "/api/v1/roles"] {
        for (query, field) in [
            ("page_token=!!!", "page_token"),
            ("page_token=aGVsbG8", "page_token"),
            ("page_size=0", "page_size"),
            ("page_size=501", "page_size"),
            ("filter=colour%20eq%20%22red%22", "filter"),
            ("filter=name%20ne%20%22x%22", "filter"),
            ("filter=name%20eq%20x", "filter"),
        ] {
            let (status, body) =
                call(&app, "GET", &format!("{path}?{query}"), Some(&token), None).await;
            assert_bad(status, &body, field);
        }
    }
    let (status, body) = call(
        &app,
        "GET",
        "/api/v1/users?filter=team_id%20eq%20%22nope%22",
        Some(&token),
        None,
    )
    .await;
    assert_bad(status, &body, "team_id");
}

#[actix_web::test]
async fn filters_select_by_documented_fields() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let team = create_team(&app, &token, "Filtered").await;
    create_team(&app, &token, "Unfiltered").await;
    let (_, body) = call(
        &app,
        "GET",
        "/api/v1/teams?filter=name%20eq%20%22Filtered%22",
        Some(&token),
        None,
    )
    .await;
    let values = body["values"].as_array().unwrap();
    assert_eq!(values.len(), 1, "{body}");
    assert_eq!(values[0]["id"], team.as_str());

    let member = role_id(&app, &token, "member").await;
    let (status, created) = call(
        &app,
        "POST",
        "/api/v1/users",
        Some(&token),
        Some(json!({"name": "ada", "email": "ada@example.com",
                    "team_roles": [{"team_id": team, "role_id": member}]})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    for filter in [
        "email%20eq%20%22ada@example.com%22".to_string(),
        "name%20eq%20%22ada%22".to_string(),
        format!("team_id%20eq%20%22{team}%22"),
    ] {
        let (status, body) = call(
            &app,
            "GET",
            &format!("/api/v1/users?filter={filter}"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let values = body["values"].as_array().unwrap();
        assert_eq!(values.len(), 1, "{filter}: {body}");
        assert_eq!(values[0]["name"], "ada");
    }
    let (_, body) = call(
        &app,
        "GET",
        "/api/v1/roles?filter=name%20eq%20%22admin%22",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(body["roles"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["roles"][0]["name"], "admin");
}

// ---- users ----

#[actix_web::test]
async fn users_create_with_the_seed_body_sign_in_and_never_show_the_password() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let team = create_team(&app, &token, "Demo").await;
    let member = role_id(&app, &token, "member").await;
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/users",
        Some(&token),
        Some(json!({
            // The seed sent "Demo User"; usernames have no spaces (docs/api.md, "Usernames").
            "name": "Demo.User",
            "email": "demo@example.com",
            "password": "password",
            "persona": 1,
            "team_roles": [{"team_id": team, "role_id": member}],
            "digest_settings": [{"digest_id": "d1", "digest_name": "Weekly", "frequency": 2}],
            "given_name": "Demo",
            "family_name": "User",
            "display_name": "Demo U."
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let user = &body["value"];
    let id = user["id"].as_str().unwrap().to_string();
    assert_eq!(user["name"], "Demo.User");
    assert_eq!(user["email"], "demo@example.com");
    assert_eq!(user["display_name"], "Demo U.");
    assert_eq!(user["given_name"], "Demo");
    assert_eq!(user["family_name"], "User");
    assert_eq!(user["enabled"], true);
    assert_eq!(user["persona"], 1);
    assert_eq!(user["logins_lifetime"], "0");
    assert_eq!(user["last_login_at"], Value::Null);
    assert_eq!(
        user["team_roles"],
        json!([{"team_id": team, "team_name": "Demo", "role_id": member, "role_name": "member"}])
    );
    assert_eq!(
        user["digest_settings"],
        json!([{"digest_id": "d1", "digest_name": "Weekly", "frequency": 2}])
    );
    assert_eq!(user["options"]["can_delete"], true);
    let text = body.to_string();
    assert!(
        !text.contains("\"password\"") && !text.contains("argon2"),
        "{text}"
    );

    // The password works at the issuer, and the sign-in is counted.
    token_for(&app, "demo.user", "password", "user:read").await;
    let (status, got) = call(
        &app,
        "GET",
        &format!("/api/v1/users/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{got}");
    // Seed 004: GET answers the user itself.
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["logins_lifetime"], "1");
    assert!(got["last_login_at"].is_string(), "{got}");
    assert!(!got.to_string().contains("argon2"));

    let (_, list) = call(&app, "GET", "/api/v1/users", Some(&token), None).await;
    let listed = list["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == id.as_str())
        .unwrap();
    assert_eq!(listed["team_roles"][0]["team_name"], "Demo");
    assert!(!list.to_string().contains("argon2"));
    assert!(
        audit_actions(&app)
            .iter()
            .any(|(a, t)| a == "user.create" && *t == format!("user:{id}"))
    );
}

#[actix_web::test]
async fn users_without_team_roles_join_the_root_team_as_members() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/users",
        Some(&token),
        Some(json!({"name": "plain"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"]["team_roles"][0]["team_name"], "root");
    assert_eq!(body["value"]["team_roles"][0]["role_name"], "member");
}

#[actix_web::test]
async fn users_patch_changes_given_fields_put_replaces_delete_returns_the_user() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let (_, created) = call(
        &app,
        "POST",
        "/api/v1/users",
        Some(&token),
        Some(
            json!({"name": "grace", "email": "g@example.com", "given_name": "Grace",
                    "password": "grace-password"}),
        ),
    )
    .await;
    let id = created["value"]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/users/{id}");

    let (status, patched) = call(
        &app,
        "PATCH",
        &path,
        Some(&token),
        Some(json!({"id": id, "family_name": "Hopper", "enabled": false,
                    "options": {"has_mfa": true}})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    let u = &patched["value"];
    assert_eq!(u["family_name"], "Hopper");
    assert_eq!(u["given_name"], "Grace");
    assert_eq!(u["email"], "g@example.com");
    assert_eq!(u["enabled"], false);
    assert_eq!(u["options"]["has_mfa"], true);
    assert_eq!(u["team_roles"][0]["team_name"], "root");
    let patched_roles = u["team_roles"].clone();

    // A disabled user cannot sign in.
    let resp = app.password_grant("grace", "grace-password").await;
    assert_ne!(resp.status().as_u16(), 200);

    let (status, put) = call(
        &app,
        "PUT",
        &path,
        Some(&token),
        Some(json!({"name": "grace.hopper", "email": "gh@example.com"})),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    let u = &put["value"];
    assert_eq!(u["name"], "grace.hopper");
    assert_eq!(u["given_name"], Value::Null);
    assert_eq!(u["family_name"], Value::Null);
    assert_eq!(u["enabled"], true);
    // A PUT that does not give team_roles keeps the memberships (issue 10); an explicit
    // empty list removes them.
    assert_eq!(u["team_roles"], patched_roles, "{put}");
    let (status, put) = call(
        &app,
        "PUT",
        &path,
        Some(&token),
        Some(json!({"name": "grace.hopper", "team_roles": []})),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["value"]["team_roles"], json!([]));

    let (status, deleted) = call(&app, "DELETE", &path, Some(&token), None).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["value"]["id"], id.as_str());
    assert_eq!(deleted["value"]["name"], "grace.hopper");
    let (status, _) = call(&app, "GET", &path, Some(&token), None).await;
    assert_eq!(status, 404);
    assert_audited(&app, &["user.update", "user.delete"], &format!("user:{id}"));
}

#[actix_web::test]
async fn user_routes_answer_401_403_and_404() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let viewer = member_token(&app, "vic", "viewer").await;
    let no_user_scope = token_for(&app, "admin", ADMIN_PASSWORD, "team:read").await;
    let (_, created) = call(
        &app,
        "POST",
        "/api/v1/users",
        Some(&token),
        Some(json!({"name": "target"})),
    )
    .await;
    let item = format!("/api/v1/users/{}", created["value"]["id"].as_str().unwrap());
    let routes = crud_routes("/api/v1/users", &item, "user:read", "user:write");
    assert_routes_guarded(&app, routes, &no_user_scope, &viewer, "user:read").await;
    let (_, got) = call(&app, "GET", &item, Some(&token), None).await;
    assert_eq!(got["name"], "target");

    let missing = "/api/v1/users/0f8fad5b-d9cb-469f-a165-70867728950e";
    for method in ["GET", "PUT", "PATCH", "DELETE"] {
        let body = (method == "PUT" || method == "PATCH").then(|| json!({"name": "x"}));
        let (status, resp) = call(&app, method, missing, Some(&token), body.clone()).await;
        assert_eq!(status, 404, "{method}: {resp}");
        let (status, resp) = call(&app, method, "/api/v1/users/42", Some(&token), body).await;
        assert_bad(status, &resp, "id");
    }
}

#[actix_web::test]
async fn bad_user_input_is_4xx_naming_the_field_and_changes_nothing() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let root = root_team_id(&app, &token).await;
    let member = role_id(&app, &token, "member").await;
    let missing = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": "u", "shoe_size": 9}), "shoe_size"),
        (json!({"email": "a@b.c"}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": " padded"}), "name"),
        (json!({"name": "x".repeat(256)}), "name"),
        (json!({"name": "u", "password": "short"}), "password"),
        (json!({"name": "u", "email": "not-an-address"}), "email"),
        (json!({"name": "u", "enabled": "yes"}), "enabled"),
        (
            json!({"name": "u", "team_roles": {"team_id": root}}),
            "team_roles",
        ),
        (
            json!({"name": "u", "team_roles": [{"team_id": root}]}),
            "team_roles[0]",
        ),
        (
            json!({"name": "u", "team_roles": [{"team_id": "nope", "role_id": member}]}),
            "team_roles[0].team_id",
        ),
        (
            json!({"name": "u", "team_roles": [{"team_id": root, "role_id": member}, {"team_id": missing, "role_id": member}]}),
            "team_roles[1].team_id",
        ),
        (
            json!({"name": "u", "team_roles": [{"team_id": root, "role_id": missing}]}),
            "team_roles[0].role_id",
        ),
        (
            json!({"name": "u", "team_roles": [{"team_id": root, "role_id": member}, {"team_id": root, "role_id": member}]}),
            "team_roles[1]",
        ),
        (
            json!({"name": "u", "digest_settings": [{"digest_name": "x"}]}),
            "digest_settings[0]",
        ),
        (
            json!({"name": "u", "options": {"can_fly": true}}),
            "options",
        ),
        (
            json!({"name": "u", "auth_provider_type": 3}),
            "auth_provider_type",
        ),
        (json!({"name": "u", "id": missing}), "id"),
    ];
    for (body, field) in cases {
        let (status, resp) = call(
            &app,
            "POST",
            "/api/v1/users",
            Some(&token),
            Some(body.clone()),
        )
        .await;
        assert_bad(status, &resp, field);
    }
    let (_, list) = call(&app, "GET", "/api/v1/users", Some(&token), None).await;
    assert_eq!(
        list["values"].as_array().unwrap().len(),
        1,
        "only admin: {list}"
    );

    let (status, created) = call(
        &app,
        "POST",
        "/api/v1/users",
        Some(&token),
        Some(json!({"name": "dup"})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let (status, resp) = call(
        &app,
        "POST",
        "/api/v1/users",
        Some(&token),
        Some(json!({"name": "dup"})),
    )
    .await;
    assert_eq!(status, 409, "{resp}");
    assert!(description(&resp).contains("dup"));
    let (status, resp) = call(
        &app,
        "POST",
        "/api/v1/users",
        Some(&token),
        Some(json!({"name": "admin"})),
    )
    .await;
    assert_eq!(status, 409, "{resp}");

    let id = created["value"]["id"].as_str().unwrap();
    let path = format!("/api/v1/users/{id}");
    // The password is set on create only.
    let (status, resp) = call(
        &app,
        "PATCH",
        &path,
        Some(&token),
        Some(json!({"password": "new-password"})),
    )
    .await;
    assert_bad(status, &resp, "password");
    // A bad team role rolls back the whole update.
    let (status, resp) = call(
        &app,
        "PATCH",
        &path,
        Some(&token),
        Some(json!({"given_name": "Changed", "team_roles": [{"team_id": missing, "role_id": member}]})),
    )
    .await;
    assert_bad(status, &resp, "team_roles[0].team_id");
    let (status, resp) = call(
        &app,
        "PATCH",
        &path,
        Some(&token),
        Some(json!({"name": "admin", "given_name": "Changed"})),
    )
    .await;
    assert_eq!(status, 409, "{resp}");
    let (_, got) = call(&app, "GET", &path, Some(&token), None).await;
    assert_eq!(got["given_name"], Value::Null, "{got}");
    assert_eq!(got["name"], "dup");
    assert_eq!(got["team_roles"][0]["team_name"], "root");
}

async fn user_names(app: &TestApp, token: &str) -> Vec<String> {
    let (status, list) = call(app, "GET", "/api/v1/users", Some(token), None).await;
    assert_eq!(status, 200, "{list}");
    let mut names: Vec<String> = list["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The one username rule (docs/api.md, "Usernames"): case and width do not make a new name,
/// lookalikes of an existing name are refused, invisible and direction-changing characters,
/// spaces and mixed scripts are 400s naming the username; nothing is created by a refusal.
#[actix_web::test]
async fn usernames_follow_one_rule_for_case_width_lookalikes_and_invisible_characters() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let post = |body: Value| {
        let (app, token) = (&app, token.clone());
        async move { call(app, "POST", "/api/v1/users", Some(&token), Some(body)).await }
    };
    let (status, created) = post(json!({"name": "paypa"})).await;
    assert_eq!(status, 200, "{created}");
    let before = user_names(&app, &token).await;
    assert_eq!(before, vec!["admin", "paypa"]);

    for same in ["Admin", "ADMIN", "\u{FF41}\u{FF44}\u{FF4D}\u{FF49}\u{FF4E}"] {
        let (status, resp) = post(json!({"name": same})).await;
        assert_eq!(status, 409, "{same}: {resp}");
        assert_eq!(resp["error"], "conflict", "{resp}");
        assert!(
            description(&resp).contains("a user named 'admin' already exists"),
            "{same}: {resp}"
        );
    }
    // Whole-script Cyrillic "раура" reads as the existing Latin "paypa".
    let (status, resp) = post(json!({"name": "\u{0440}\u{0430}\u{0443}\u{0440}\u{0430}"})).await;
    assert_eq!(status, 409, "{resp}");
    assert!(
        description(&resp).contains("looks like the existing user 'paypa'"),
        "{resp}"
    );

    let refused = [
        ("admin\u{202E}nimda", "U+202E"),
        ("ad\u{200B}min", "U+200B"),
        ("ada lovelace", "space"),
        // Latin "p", "y", "p", "a", "l" with a Cyrillic "а".
        ("p\u{0430}ypal", "different scripts"),
    ];
    for (name, why) in refused {
        let (status, resp) = post(json!({"name": name})).await;
        assert_bad(status, &resp, "name");
        let d = description(&resp);
        assert!(d.contains("username"), "{name:?}: {resp}");
        assert!(d.contains(why), "{name:?} should say {why}: {resp}");
    }
    assert_eq!(user_names(&app, &token).await, before, "nothing created");

    // Fullwidth input is stored in its NFKC form; the password grant takes any case.
    let (status, kim) = post(json!({"name": "\u{FF2B}im", "password": "kim-password-1"})).await;
    assert_eq!(status, 200, "{kim}");
    assert_eq!(kim["value"]["name"], "Kim", "{kim}");
    for spelling in ["Kim", "kim", "KIM", "\u{FF2B}\u{FF29}\u{FF2D}"] {
        let access = app
            .password_token(spelling, "kim-password-1", "openid")
            .await;
        assert!(!access.is_empty());
    }

    // Renames follow the same rule; a change of case of one's own name is no clash.
    let path = format!("/api/v1/users/{}", kim["value"]["id"].as_str().unwrap());
    let patch = |body: Value| {
        let (app, token, path) = (&app, token.clone(), path.clone());
        async move { call(app, "PATCH", &path, Some(&token), Some(body)).await }
    };
    let (status, resp) = patch(json!({"name": "ADMIN"})).await;
    assert_eq!(status, 409, "{resp}");
    let (status, resp) = patch(json!({"name": "\u{0440}\u{0430}\u{0443}\u{0440}\u{0430}"})).await;
    assert_eq!(status, 409, "{resp}");
    let (status, resp) = patch(json!({"name": "k\u{200B}im"})).await;
    assert_bad(status, &resp, "name");
    assert!(description(&resp).contains("U+200B"), "{resp}");
    let (status, resp) = patch(json!({"name": "KIM"})).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["value"]["name"], "KIM", "{resp}");
    app.password_token("kim", "kim-password-1", "openid").await;
}

#[actix_web::test]
async fn an_admin_cannot_delete_or_disable_themselves() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let (_, list) = call(
        &app,
        "GET",
        "/api/v1/users?filter=name%20eq%20%22admin%22",
        Some(&token),
        None,
    )
    .await;
    let me = format!(
        "/api/v1/users/{}",
        list["values"][0]["id"].as_str().unwrap()
    );
    let (status, resp) = call(&app, "DELETE", &me, Some(&token), None).await;
    assert_eq!(status, 409, "{resp}");
    let (status, resp) = call(
        &app,
        "PATCH",
        &me,
        Some(&token),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, 409, "{resp}");
    let (_, got) = call(&app, "GET", &me, Some(&token), None).await;
    assert_eq!(got["enabled"], true);
}

#[actix_web::test]
async fn removing_a_user_from_a_team_deletes_their_personal_keys_for_that_team_only() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let left = create_team(&app, &token, "Left").await;
    let kept = create_team(&app, &token, "Kept").await;
    let member = role_id(&app, &token, "member").await;
    let viewer = role_id(&app, &token, "viewer").await;
    let (status, created) = call(
        &app,
        "POST",
        "/api/v1/users",
        Some(&token),
        Some(json!({"name": "kim", "team_roles": [
            {"team_id": left, "role_id": member},
            {"team_id": left, "role_id": viewer},
            {"team_id": kept, "role_id": member}
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let kim = created["value"]["id"].as_str().unwrap().to_string();
    let other = call(
        &app,
        "POST",
        "/api/v1/users",
        Some(&token),
        Some(json!({"name": "lee",
        "team_roles": [{"team_id": left, "role_id": member}]})),
    )
    .await
    .1["value"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let kim_left = insert_key(&app, KeyKind::Personal, Some(&kim), &left);
    let kim_kept = insert_key(&app, KeyKind::Personal, Some(&kim), &kept);
    let lee_left = insert_key(&app, KeyKind::Personal, Some(&other), &left);
    let team_key = insert_key(&app, KeyKind::Team, None, &left);

    // Dropping one of two roles in a team keeps the user in it: nothing is deleted.
    let path = format!("/api/v1/users/{kim}");
    let (status, resp) = call(
        &app,
        "PATCH",
        &path,
        Some(&token),
        Some(json!({"team_roles": [
            {"team_id": left, "role_id": member},
            {"team_id": kept, "role_id": member}
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    assert!(key_exists(&app, &kim_left));

    let (status, resp) = call(
        &app,
        "PATCH",
        &path,
        Some(&token),
        Some(json!({"team_roles": [
            {"team_id": kept, "role_id": member}
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["value"]["team_roles"].as_array().unwrap().len(), 1);
    assert!(
        !key_exists(&app, &kim_left),
        "the personal key for the team left is deleted"
    );
    assert!(key_exists(&app, &kim_kept), "keys for other teams stay");
    assert!(key_exists(&app, &lee_left), "other users' keys stay");
    assert!(key_exists(&app, &team_key), "team keys stay");
}

#[actix_web::test]
async fn deleting_a_user_deletes_all_their_personal_keys() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let team = create_team(&app, &token, "Keys").await;
    let member = role_id(&app, &token, "member").await;
    let root = root_team_id(&app, &token).await;
    let (_, created) = call(&app, "POST", "/api/v1/users", Some(&token), Some(json!({"name": "max",
        "team_roles": [{"team_id": team, "role_id": member}, {"team_id": root, "role_id": member}]}))).await;
    let max = created["value"]["id"].as_str().unwrap().to_string();
    let keys = [
        insert_key(&app, KeyKind::Personal, Some(&max), &team),
        insert_key(&app, KeyKind::Personal, Some(&max), &root),
    ];
    let team_key = insert_key(&app, KeyKind::Team, None, &team);
    let (status, resp) = call(
        &app,
        "DELETE",
        &format!("/api/v1/users/{max}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    for k in &keys {
        assert!(!key_exists(&app, k));
    }
    assert!(
        key_exists(&app, &team_key),
        "team keys outlive their creator"
    );
    let (_, got) = call(
        &app,
        "GET",
        &format!("/api/v1/teams/{team}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(got["value"]["user_count"], 0);
}

#[actix_web::test]
async fn a_service_account_cannot_be_deleted_while_its_client_exists() {
    let app = spawn_app().await;
    app.create_svc();
    let token = admin(&app).await;
    let (_, list) = call(
        &app,
        "GET",
        "/api/v1/users?filter=name%20eq%20%22service-account-svc%22",
        Some(&token),
        None,
    )
    .await;
    let id = list["values"][0]["id"].as_str().unwrap().to_string();
    let (status, resp) = call(
        &app,
        "DELETE",
        &format!("/api/v1/users/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 409, "{resp}");
    assert!(description(&resp).contains("svc"), "{resp}");
}

// ---- roles ----

#[actix_web::test]
async fn roles_list_shows_the_builtins_in_the_seed_envelope() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let (status, body) = call(&app, "GET", "/api/v1/roles", Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("values").is_none(), "{body}");
    assert_eq!(body["has_more"], false);
    let roles = body["roles"].as_array().unwrap();
    let mut names: Vec<&str> = roles.iter().map(|r| r["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["admin", "member", "oaa_push", "operator", "viewer"]);
    let admin_role = roles.iter().find(|r| r["name"] == "admin").unwrap();
    assert_eq!(admin_role["builtin"], true);
    assert_eq!(admin_role["is_available_in_root_team"], true);
    assert_eq!(admin_role["is_available_in_non_root_team"], true);
    assert_eq!(
        admin_role["permissions"].as_array().unwrap().len(),
        tessera_core::permission::CATALOG.len()
    );
}

#[actix_web::test]
async fn custom_roles_create_get_put_patch_delete() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/roles",
        Some(&token),
        Some(
            json!({"name": "auditor", "permissions": ["team:read", "user:read"],
                    "description": "Reads"}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let role = &body["value"];
    let id = role["id"].as_str().unwrap().to_string();
    assert_eq!(role["permissions"], json!(["team:read", "user:read"]));
    assert_eq!(role["builtin"], false);
    let path = format!("/api/v1/roles/{id}");

    let (status, got) = call(&app, "GET", &path, Some(&token), None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["value"], *role);

    let (status, patched) = call(
        &app,
        "PATCH",
        &path,
        Some(&token),
        Some(json!({"permissions": ["role:read"]})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["value"]["permissions"], json!(["role:read"]));
    assert_eq!(patched["value"]["description"], "Reads");

    let (status, put) = call(
        &app,
        "PUT",
        &path,
        Some(&token),
        Some(json!({"name": "reader"})),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["value"]["name"], "reader");
    assert_eq!(put["value"]["permissions"], json!([]));
    assert_eq!(put["value"]["description"], "");

    let (status, resp) = call(&app, "DELETE", &path, Some(&token), None).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp, json!({}));
    let (status, _) = call(&app, "GET", &path, Some(&token), None).await;
    assert_eq!(status, 404);
    assert_audited(
        &app,
        &["role.create", "role.update", "role.delete"],
        &format!("role:{id}"),
    );
}

#[actix_web::test]
async fn a_role_change_applies_to_its_holders_at_once() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let (_, created) = call(
        &app,
        "POST",
        "/api/v1/roles",
        Some(&token),
        Some(json!({"name": "team-reader", "permissions": ["team:read"]})),
    )
    .await;
    let role = created["value"]["id"].as_str().unwrap().to_string();
    let root = root_team_id(&app, &token).await;
    let (status, _) = call(
        &app,
        "POST",
        "/api/v1/users",
        Some(&token),
        Some(json!({
        "name": "rita", "password": "rita-password",
        "team_roles": [{"team_id": root, "role_id": role}]})),
    )
    .await;
    assert_eq!(status, 200);
    let rita = token_for(&app, "rita", "rita-password", ALL_SCOPES).await;
    let (status, _) = call(&app, "GET", "/api/v1/teams", Some(&rita), None).await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &app,
        "PATCH",
        &format!("/api/v1/roles/{role}"),
        Some(&token),
        Some(json!({"permissions": ["user:read"]})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, resp) = call(&app, "GET", "/api/v1/teams", Some(&rita), None).await;
    assert_eq!(status, 403, "{resp}");
    let (status, _) = call(&app, "GET", "/api/v1/users", Some(&rita), None).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn builtin_roles_cannot_be_changed_or_deleted_and_roles_in_use_cannot_be_deleted() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let admin_role = role_id(&app, &token, "admin").await;
    let path = format!("/api/v1/roles/{admin_role}");
    for (method, body) in [
        ("PUT", Some(json!({"name": "admin", "permissions": []}))),
        ("PATCH", Some(json!({"permissions": ["team:read"]}))),
        ("DELETE", None),
    ] {
        let (status, resp) = call(&app, method, &path, Some(&token), body).await;
        assert_eq!(status, 409, "{method}: {resp}");
        assert!(description(&resp).contains("built-in"), "{resp}");
    }
    let (_, got) = call(&app, "GET", &path, Some(&token), None).await;
    assert_eq!(
        got["value"]["permissions"].as_array().unwrap().len(),
        tessera_core::permission::CATALOG.len()
    );

    let (_, created) = call(
        &app,
        "POST",
        "/api/v1/roles",
        Some(&token),
        Some(json!({"name": "busy", "permissions": ["team:read"]})),
    )
    .await;
    let busy = created["value"]["id"].as_str().unwrap().to_string();
    let root = root_team_id(&app, &token).await;
    let (status, _) = call(
        &app,
        "POST",
        "/api/v1/users",
        Some(&token),
        Some(json!({
        "name": "holder", "team_roles": [{"team_id": root, "role_id": busy}]})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, resp) = call(
        &app,
        "DELETE",
        &format!("/api/v1/roles/{busy}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 409, "{resp}");
    assert!(description(&resp).contains("busy"), "{resp}");
    let (status, _) = call(
        &app,
        "GET",
        &format!("/api/v1/roles/{busy}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn bad_role_input_is_4xx_naming_the_field() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"name": "r", "permissions": ["team:read", "launch:missiles"]}),
            "permissions[1]",
        ),
        (
            json!({"name": "r", "permissions": "team:read"}),
            "permissions",
        ),
        (json!({"name": "r", "permissions": [1]}), "permissions[0]"),
        (json!({"permissions": []}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(256)}), "name"),
        (json!({"name": "r", "builtin": true}), "builtin"),
        (
            json!({"name": "r", "is_available_in_root_team": false}),
            "is_available_in_root_team",
        ),
    ];
    for (body, field) in cases {
        let (status, resp) = call(
            &app,
            "POST",
            "/api/v1/roles",
            Some(&token),
            Some(body.clone()),
        )
        .await;
        assert_bad(status, &resp, field);
    }
    let (status, resp) = call(
        &app,
        "POST",
        "/api/v1/roles",
        Some(&token),
        Some(json!({"name": "viewer"})),
    )
    .await;
    assert_eq!(status, 409, "{resp}");
    let (_, list) = call(&app, "GET", "/api/v1/roles", Some(&token), None).await;
    assert_eq!(
        list["roles"].as_array().unwrap().len(),
        5,
        "nothing was created: {list}"
    );
}

#[actix_web::test]
async fn role_routes_answer_401_403_404() {
    let app = spawn_app().await;
    let token = admin(&app).await;
    let viewer = member_token(&app, "val", "viewer").await;
    let no_role_scope = token_for(&app, "admin", ADMIN_PASSWORD, "team:read").await;
    let (_, created) = call(
        &app,
        "POST",
        "/api/v1/roles",
        Some(&token),
        Some(json!({"name": "custom", "permissions": []})),
    )
    .await;
    let item = format!("/api/v1/roles/{}", created["value"]["id"].as_str().unwrap());
    let routes = crud_routes("/api/v1/roles", &item, "role:read", "role:write");
    assert_routes_guarded(&app, routes, &no_role_scope, &viewer, "role:read").await;
    let missing = "/api/v1/roles/0f8fad5b-d9cb-469f-a165-70867728950e";
    for method in ["GET", "PUT", "PATCH", "DELETE"] {
        let body = (method == "PUT" || method == "PATCH").then(|| json!({"name": "x"}));
        let (status, resp) = call(&app, method, missing, Some(&token), body.clone()).await;
        assert_eq!(status, 404, "{method}: {resp}");
        let (status, resp) = call(&app, method, "/api/v1/roles/ADMIN", Some(&token), body).await;
        assert_bad(status, &resp, "id");
    }
}
