//! Governance over HTTP: policies (seed 000), effective permission lists, OAuth clients,
//! custom scopes and the audit log.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use tessera_store as store;

const ADMIN_SCOPES: &str = EVERY_PERMISSION;
const PASSWORD: &str = "long enough password";

async fn password_token(app: &TestApp, username: &str, password: &str, scope: &str) -> String {
    app.password_token(username, password, scope).await
}

async fn admin_token(app: &TestApp) -> String {
    password_token(app, "admin", ADMIN_PASSWORD, ADMIN_SCOPES).await
}

/// A user of the root team with `role`; returns the user's id.
fn create_user(app: &TestApp, username: &str, role: &str) -> String {
    app.provision_user(username, PASSWORD, "root", role)
}

fn role_id(app: &TestApp, name: &str) -> String {
    let mut conn = app.db.conn().unwrap();
    let realm = store::realms::by_name(&mut conn, "default")
        .unwrap()
        .unwrap();
    store::roles::by_name(&mut conn, &realm.id, name)
        .unwrap()
        .unwrap()
        .id
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    app.call(method, path, bearer, body).await
}

async fn get(app: &TestApp, path: &str, bearer: &str) -> (u16, Value) {
    call(app, Method::GET, path, Some(bearer), None).await
}

async fn post(app: &TestApp, path: &str, bearer: &str, body: Value) -> (u16, Value) {
    call(app, Method::POST, path, Some(bearer), Some(body)).await
}

async fn put(app: &TestApp, path: &str, bearer: &str, body: Value) -> (u16, Value) {
    call(app, Method::PUT, path, Some(bearer), Some(body)).await
}

async fn delete(app: &TestApp, path: &str, bearer: &str) -> (u16, Value) {
    call(app, Method::DELETE, path, Some(bearer), None).await
}

async fn whoami(app: &TestApp, bearer: &str) -> String {
    let (status, body) = get(app, "/v1/auth/test", bearer).await;
    assert_eq!(status, 200, "{body}");
    body["user_id"].as_str().unwrap().to_string()
}

/// Asserts a 400 `invalid_request` whose description names `field`.
fn assert_bad(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 400, "{field}: {body}");
    assert_eq!(body["error"], "invalid_request", "{body}");
    let d = body["error_description"].as_str().unwrap();
    assert!(d.contains(field), "{field} not named in {d:?}");
}

/// Every page of a list, following `next_page_token`; asserts `has_more` agrees with it.
async fn all_pages(app: &TestApp, path: &str, bearer: &str, page_size: u32) -> (Vec<Value>, usize) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut token = String::new();
    let mut values = Vec::new();
    let mut pages = 0;
    loop {
        let url = format!("{path}{sep}page_size={page_size}&page_token={token}");
        let (status, body) = get(app, &url, bearer).await;
        assert_eq!(status, 200, "{url}: {body}");
        pages += 1;
        let page = body["values"].as_array().unwrap();
        assert!(page.len() <= page_size as usize);
        values.extend(page.iter().cloned());
        token = body["next_page_token"].as_str().unwrap().to_string();
        assert_eq!(body["has_more"], !token.is_empty(), "{body}");
        if token.is_empty() {
            return (values, pages);
        }
        assert!(pages < 100, "paging does not end");
    }
}

fn ids(values: &[Value], field: &str) -> Vec<String> {
    values
        .iter()
        .map(|v| v[field].as_str().unwrap().to_string())
        .collect()
}

// ---- policies ----

#[actix_web::test]
async fn policies_round_trip_create_get_list_update_delete() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let viewer = create_user(&app, "vera", "viewer");

    let (status, body) = post(
        &app,
        "/api/v1/policies",
        &admin,
        json!({
            "name": "No policy reads for Vera",
            "description": "audit finding 12",
            "effect": "deny",
            "permissions": ["policy:read", "client:read", "policy:read"],
            "subject": {"type": "user", "id": viewer},
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let p = &body["value"];
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["name"], "No policy reads for Vera");
    assert_eq!(p["description"], "audit finding 12");
    assert_eq!(p["effect"], "deny");
    assert_eq!(p["permissions"], json!(["client:read", "policy:read"]));
    assert_eq!(p["subject"], json!({"type": "user", "id": viewer}));
    assert_eq!(p["enabled"], true);
    let created_at = p["created_at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(created_at, &time::format_description::well_known::Rfc3339)
            .is_ok(),
        "{created_at}"
    );

    let (status, got) = get(&app, &format!("/api/v1/policies/{id}"), &admin).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(&got["value"], p);

    let (status, list) = get(&app, "/api/v1/policies", &admin).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["values"], json!([p]));
    assert_eq!(list["next_page_token"], "");
    assert_eq!(list["has_more"], false);

    app.clock.advance(5);
    let (status, body) = put(
        &app,
        &format!("/api/v1/policies/{id}"),
        &admin,
        json!({"effect": "allow", "permissions": ["audit:read"], "enabled": false}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let u = &body["value"];
    assert_eq!(u["effect"], "allow");
    assert_eq!(u["permissions"], json!(["audit:read"]));
    assert_eq!(u["enabled"], false);
    assert_eq!(u["name"], p["name"], "fields not given are kept");
    assert_eq!(u["created_at"], p["created_at"]);
    assert_ne!(u["updated_at"], p["updated_at"]);
    let (_, got) = get(&app, &format!("/api/v1/policies/{id}"), &admin).await;
    assert_eq!(&got["value"], u);

    let (status, body) = delete(&app, &format!("/api/v1/policies/{id}"), &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({}));
    let (status, body) = get(&app, &format!("/api/v1/policies/{id}"), &admin).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "not_found");
    let (status, _) = delete(&app, &format!("/api/v1/policies/{id}"), &admin).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn bad_policy_input_is_a_400_naming_the_field_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let viewer = create_user(&app, "vera", "viewer");
    let good = json!({
        "name": "p1", "effect": "allow", "permissions": ["audit:read"],
        "subject": {"type": "user", "id": viewer},
    });
    let (status, body) = post(&app, "/api/v1/policies", &admin, good.clone()).await;
    assert_eq!(status, 201, "{body}");
    let id = body["value"]["id"].as_str().unwrap().to_string();

    let with = |field: &str, value: Value| {
        let mut b = good.clone();
        b["name"] = "p2".into();
        b[field] = value;
        b
    };
    let missing = |field: &str| {
        let mut b = good.clone();
        b["name"] = "p2".into();
        b.as_object_mut().unwrap().remove(field);
        b
    };
    let nobody = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let cases = [
        (with("colour", "red".into()), "colour"),
        (with("effect", "permit".into()), "effect"),
        (
            with("permissions", json!(["policy:read", "jobs:launch"])),
            "jobs:launch",
        ),
        (with("permissions", json!([])), "permissions"),
        (with("permissions", json!("audit:read")), "invalid type"),
        (with("name", "".into()), "name"),
        (with("name", "x".repeat(201).into()), "name"),
        (
            with("subject", json!({"type": "group", "id": viewer})),
            "subject.type",
        ),
        (
            with("subject", json!({"type": "user", "id": "vera"})),
            "subject.id",
        ),
        (
            with("subject", json!({"type": "user", "id": nobody})),
            "subject.id",
        ),
        // A role id is not a user id.
        (
            with(
                "subject",
                json!({"type": "user", "id": role_id(&app, "viewer")}),
            ),
            "subject.id",
        ),
        (
            with("subject", json!({"type": "team", "id": nobody, "extra": 1})),
            "extra",
        ),
        (missing("subject"), "subject"),
        (missing("effect"), "effect"),
        (missing("name"), "name"),
        (missing("permissions"), "permissions"),
    ];
    for (body_in, field) in cases {
        let (status, body) = post(&app, "/api/v1/policies", &admin, body_in.clone()).await;
        assert_bad(status, &body, field);
    }
    // Not JSON at all.
    let resp = app
        .http
        .post(format!("{}/api/v1/policies", app.base))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("name=p2")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Duplicate name → 409, on create and on rename.
    let (status, body) = post(&app, "/api/v1/policies", &admin, good.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "conflict");
    let mut other = good.clone();
    other["name"] = "p3".into();
    let (status, body) = post(&app, "/api/v1/policies", &admin, other).await;
    assert_eq!(status, 201, "{body}");
    let p3 = body["value"]["id"].as_str().unwrap().to_string();
    let (status, body) = put(
        &app,
        &format!("/api/v1/policies/{p3}"),
        &admin,
        json!({"name": "p1"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // Updates validate the same way.
    let (status, body) = put(
        &app,
        &format!("/api/v1/policies/{id}"),
        &admin,
        json!({"permissions": ["nope"]}),
    )
    .await;
    assert_bad(status, &body, "permissions");
    let (status, body) = put(
        &app,
        &format!("/api/v1/policies/{id}"),
        &admin,
        json!({"subject": {"type": "role", "id": nobody}}),
    )
    .await;
    assert_bad(status, &body, "subject.id");

    // Ids that do not parse → 400; unknown ids → 404.
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let body = (method == Method::PUT).then(|| json!({"enabled": false}));
        let (status, resp) = call(
            &app,
            method.clone(),
            "/api/v1/policies/p1",
            Some(&admin),
            body.clone(),
        )
        .await;
        assert_bad(status, &resp, "id");
        let (status, resp) = call(
            &app,
            method.clone(),
            &format!("/api/v1/policies/{nobody}"),
            Some(&admin),
            body,
        )
        .await;
        assert_eq!(status, 404, "{method}: {resp}");
    }

    // Nothing changed: the two good policies, the first as created.
    let (_, list) = get(&app, "/api/v1/policies", &admin).await;
    let values = list["values"].as_array().unwrap();
    assert_eq!(values.len(), 2, "{list}");
    let (_, p1) = get(&app, &format!("/api/v1/policies/{id}"), &admin).await;
    assert_eq!(p1["value"]["permissions"], json!(["audit:read"]));
    assert_eq!(p1["value"]["subject"]["type"], "user");
    let (_, p3v) = get(&app, &format!("/api/v1/policies/{p3}"), &admin).await;
    assert_eq!(p3v["value"]["name"], "p3");
}

#[actix_web::test]
async fn policy_lists_page_and_filter() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let viewer = create_user(&app, "vera", "viewer");
    let viewer_role = role_id(&app, "viewer");
    let mut created = Vec::new();
    for i in 0..7 {
        let (effect, subject) = if i % 2 == 0 {
            ("deny", json!({"type": "user", "id": viewer}))
        } else {
            ("allow", json!({"type": "role", "id": viewer_role}))
        };
        let (status, body) = post(
            &app,
            "/api/v1/policies",
            &admin,
            json!({"name": format!("policy {i}"), "effect": effect,
                   "permissions": ["audit:read"], "subject": subject}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        created.push(body["value"]["id"].as_str().unwrap().to_string());
    }
    let (values, pages) = all_pages(&app, "/api/v1/policies", &admin, 3).await;
    assert_eq!(pages, 3);
    let mut got = ids(&values, "id");
    let mut want = created.clone();
    want.sort();
    assert_eq!(got, want, "every policy once, in id order");
    got.dedup();
    assert_eq!(got.len(), 7);

    let (denies, _) = all_pages(
        &app,
        "/api/v1/policies?filter=effect%20eq%20%22deny%22",
        &admin,
        2,
    )
    .await;
    assert_eq!(denies.len(), 4);
    assert!(denies.iter().all(|p| p["effect"] == "deny"));
    let filter = format!("subject_type eq \"role\" and subject_id eq \"{viewer_role}\"");
    let path = format!(
        "/api/v1/policies?filter={}",
        form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
    );
    let (by_role, _) = all_pages(&app, &path, &admin, 10).await;
    assert_eq!(by_role.len(), 3);
    assert!(
        by_role
            .iter()
            .all(|p| p["subject"]["id"] == viewer_role.as_str())
    );

    for (query, field) in [
        ("page_token=garbage", "page_token"),
        ("page_size=0", "page_size"),
        ("page_size=501", "page_size"),
        ("filter=name%20eq%20%22x%22", "filter"),
        ("filter=effect%20eq%20%22maybe%22", "filter"),
        ("filter=effect%20eq%20deny", "filter"),
    ] {
        let (status, body) = get(&app, &format!("/api/v1/policies?{query}"), &admin).await;
        assert_bad(status, &body, field);
    }
}

#[actix_web::test]
async fn governance_routes_need_a_token_and_their_permission() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    create_user(&app, "vera", "viewer");
    create_user(&app, "max", "member");
    let viewer = password_token(&app, "vera", PASSWORD, ADMIN_SCOPES).await;
    let member = password_token(&app, "max", PASSWORD, ADMIN_SCOPES).await;
    let (_, scope) = post(&app, "/api/v1/scopes", &admin, json!({"name": "jobs:read"})).await;
    let scope_id = scope["value"]["id"].as_str().unwrap().to_string();
    let (_, policy) = post(
        &app,
        "/api/v1/policies",
        &admin,
        json!({"name": "p", "effect": "deny", "permissions": ["oaa:push"],
               "subject": {"type": "role", "id": role_id(&app, "viewer")}}),
    )
    .await;
    let policy_id = policy["value"]["id"].as_str().unwrap().to_string();
    let admin_id = whoami(&app, &admin).await;
    let viewer_role = role_id(&app, "viewer");

    let routes: Vec<(Method, String, Option<Value>, &str)> = vec![
        (Method::GET, "/api/v1/policies".into(), None, "policy:read"),
        (
            Method::POST,
            "/api/v1/policies".into(),
            Some(json!({"name": "x"})),
            "policy:write",
        ),
        (
            Method::GET,
            format!("/api/v1/policies/{policy_id}"),
            None,
            "policy:read",
        ),
        (
            Method::PUT,
            format!("/api/v1/policies/{policy_id}"),
            Some(json!({"enabled": false})),
            "policy:write",
        ),
        (
            Method::DELETE,
            format!("/api/v1/policies/{policy_id}"),
            None,
            "policy:write",
        ),
        (
            Method::GET,
            format!("/api/v1/users/{admin_id}/permissions"),
            None,
            "user:read",
        ),
        (
            Method::GET,
            format!("/api/v1/roles/{viewer_role}/permissions"),
            None,
            "role:read",
        ),
        (Method::GET, "/api/v1/clients".into(), None, "client:read"),
        (
            Method::POST,
            "/api/v1/clients".into(),
            Some(json!({"client_id": "x"})),
            "client:write",
        ),
        (
            Method::GET,
            "/api/v1/clients/portal".into(),
            None,
            "client:read",
        ),
        (
            Method::PUT,
            "/api/v1/clients/portal".into(),
            Some(json!({"name": "x"})),
            "client:write",
        ),
        (
            Method::DELETE,
            "/api/v1/clients/portal".into(),
            None,
            "client:write",
        ),
        (
            Method::POST,
            "/api/v1/clients/portal:rotate-secret".into(),
            None,
            "client:write",
        ),
        (Method::GET, "/api/v1/scopes".into(), None, "scope:read"),
        (
            Method::POST,
            "/api/v1/scopes".into(),
            Some(json!({"name": "x:y"})),
            "scope:write",
        ),
        (
            Method::GET,
            format!("/api/v1/scopes/{scope_id}"),
            None,
            "scope:read",
        ),
        (
            Method::PUT,
            format!("/api/v1/scopes/{scope_id}"),
            Some(json!({"description": "d"})),
            "scope:write",
        ),
        (
            Method::DELETE,
            format!("/api/v1/scopes/{scope_id}"),
            None,
            "scope:write",
        ),
        (Method::GET, "/api/v1/audit".into(), None, "audit:read"),
    ];
    for (method, path, body, permission) in &routes {
        let (status, resp) = call(&app, method.clone(), path, None, body.clone()).await;
        assert_eq!(status, 401, "{method} {path}: {resp}");
        assert_eq!(resp["error"], "invalid_token");
        let (status, resp) =
            call(&app, method.clone(), path, Some("tsk_short"), body.clone()).await;
        assert_eq!(status, 401, "{method} {path}: {resp}");
        // The viewer reads everything but the audit log and writes nothing; the member reads
        // users and roles only.
        let caller = if permission.ends_with(":write") || *permission == "audit:read" {
            &viewer
        } else if matches!(*permission, "user:read" | "role:read") {
            // Both roles may read users and roles: use a token without those scopes.
            &password_token(&app, "max", PASSWORD, "policy:read").await
        } else {
            &member
        };
        let (status, resp) = call(&app, method.clone(), path, Some(caller), body.clone()).await;
        assert_eq!(status, 403, "{method} {path}: {resp}");
        assert_eq!(resp["error"], "insufficient_scope");
        assert!(
            resp["error_description"]
                .as_str()
                .unwrap()
                .contains(permission),
            "{method} {path}: {resp}"
        );
    }
    // Nothing the refused calls named was changed.
    let (status, _) = get(&app, &format!("/api/v1/policies/{policy_id}"), &admin).await;
    assert_eq!(status, 200);
    let (status, _) = get(&app, &format!("/api/v1/scopes/{scope_id}"), &admin).await;
    assert_eq!(status, 200);
    let (_, portal) = get(&app, "/api/v1/clients/portal", &admin).await;
    assert_eq!(portal["value"]["name"], "Tessera portal and scripts");
}

// ---- effective permissions ----

#[actix_web::test]
async fn a_deny_policy_wins_over_the_role_and_a_real_endpoint_refuses() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let vera = create_user(&app, "vera", "viewer");
    let token = password_token(&app, "vera", PASSWORD, "policy:read client:read").await;
    let (status, body) = get(&app, "/api/v1/policies", &token).await;
    assert_eq!(status, 200, "{body}");

    let path = format!("/api/v1/users/{vera}/permissions");
    let (status, before) = get(&app, &path, &admin).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["user_id"], vera.as_str());
    assert_eq!(
        before["permissions"],
        json!([
            "api_key:read",
            "client:read",
            "policy:read",
            "role:read",
            "scope:read",
            "team:read",
            "user:read"
        ])
    );

    let (status, body) = post(
        &app,
        "/api/v1/policies",
        &admin,
        json!({"name": "no policy reads", "effect": "deny", "permissions": ["policy:read"],
               "subject": {"type": "user", "id": vera}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let policy = body["value"]["id"].as_str().unwrap().to_string();

    let (_, after) = get(&app, &path, &admin).await;
    let perms: Vec<String> = ids_of(&after["permissions"]);
    assert!(!perms.contains(&"policy:read".to_string()), "{after}");
    assert!(perms.contains(&"client:read".to_string()), "{after}");
    // The same token, unchanged, is refused now: the live rights lost policy:read.
    let (status, body) = get(&app, "/api/v1/policies", &token).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "insufficient_scope");
    let (status, _) = get(&app, "/api/v1/clients", &token).await;
    assert_eq!(status, 200, "the deny removes only what it names");
    // An allow for the same permission does not beat the deny.
    let (status, _) = post(
        &app,
        "/api/v1/policies",
        &admin,
        json!({"name": "policy reads", "effect": "allow", "permissions": ["policy:read"],
               "subject": {"type": "team", "id": root_team(&app)}}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = get(&app, "/api/v1/policies", &token).await;
    assert_eq!(status, 403, "deny wins over allow");

    // Disabling the deny restores the right.
    let (status, _) = put(
        &app,
        &format!("/api/v1/policies/{policy}"),
        &admin,
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = get(&app, "/api/v1/policies", &token).await;
    assert_eq!(status, 200);

    // A deny on the role shows in the role's list, and applies to its holders.
    let viewer_role = role_id(&app, "viewer");
    let (status, role) = get(
        &app,
        &format!("/api/v1/roles/{viewer_role}/permissions"),
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{role}");
    assert_eq!(role["role_id"], viewer_role.as_str());
    assert_eq!(role["name"], "viewer");
    assert!(ids_of(&role["permissions"]).contains(&"client:read".to_string()));
    let (status, _) = post(
        &app,
        "/api/v1/policies",
        &admin,
        json!({"name": "viewers lose clients", "effect": "deny", "permissions": ["client:read"],
               "subject": {"type": "role", "id": viewer_role}}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, role) = get(
        &app,
        &format!("/api/v1/roles/{viewer_role}/permissions"),
        &admin,
    )
    .await;
    assert!(
        !ids_of(&role["permissions"]).contains(&"client:read".to_string()),
        "{role}"
    );
    assert!(
        ids_of(&role["permissions"]).contains(&"scope:read".to_string()),
        "{role}"
    );
    let (status, _) = get(&app, "/api/v1/clients", &token).await;
    assert_eq!(status, 403);

    // 404 and 400 for the permission lists.
    let nobody = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let (status, _) = get(&app, &format!("/api/v1/users/{nobody}/permissions"), &admin).await;
    assert_eq!(status, 404);
    let (status, _) = get(&app, &format!("/api/v1/roles/{nobody}/permissions"), &admin).await;
    assert_eq!(status, 404);
    let (status, body) = get(&app, "/api/v1/users/vera/permissions", &admin).await;
    assert_bad(status, &body, "id");
    let (status, body) = get(&app, "/api/v1/roles/viewer/permissions", &admin).await;
    assert_bad(status, &body, "id");
}

fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn root_team(app: &TestApp) -> String {
    let mut conn = app.db.conn().unwrap();
    let realm = store::realms::by_name(&mut conn, "default")
        .unwrap()
        .unwrap();
    store::teams::root(&mut conn, &realm.id)
        .unwrap()
        .unwrap()
        .id
}

#[actix_web::test]
async fn an_allow_policy_adds_a_permission_and_users_may_read_their_own() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let vera = create_user(&app, "vera", "viewer");
    let max = create_user(&app, "max", "member");
    // A token without user:read: Vera may still read her own list, not Max's.
    let token = password_token(&app, "vera", PASSWORD, "policy:read policy:write").await;
    let own = format!("/api/v1/users/{vera}/permissions");
    let (status, body) = get(&app, &own, &token).await;
    assert_eq!(status, 200, "{body}");
    assert!(!ids_of(&body["permissions"]).contains(&"policy:write".to_string()));
    let (status, body) = get(&app, &format!("/api/v1/users/{max}/permissions"), &token).await;
    assert_eq!(status, 403, "{body}");

    let new_policy = json!({"name": "vera writes", "effect": "allow", "permissions": ["audit:read"],
                            "subject": {"type": "user", "id": max}});
    let (status, _) = post(&app, "/api/v1/policies", &token, new_policy.clone()).await;
    assert_eq!(status, 403, "a viewer cannot write policies");

    let (status, body) = post(
        &app,
        "/api/v1/policies",
        &admin,
        json!({"name": "vera manages policies", "effect": "allow", "permissions": ["policy:write"],
               "subject": {"type": "user", "id": vera}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (_, body) = get(&app, &own, &token).await;
    assert!(
        ids_of(&body["permissions"]).contains(&"policy:write".to_string()),
        "{body}"
    );
    // She may only allow what she holds herself (issue 10): not audit:read...
    let (status, body) = post(&app, "/api/v1/policies", &token, new_policy).await;
    assert_eq!(status, 403, "{body}");
    assert_description_contains(&body, "audit:read");
    // ...but policy:read, which her viewer role and her token carry.
    let (status, body) = post(
        &app,
        "/api/v1/policies",
        &token,
        json!({"name": "max reads policies", "effect": "allow", "permissions": ["policy:read"],
               "subject": {"type": "user", "id": max}}),
    )
    .await;
    assert_eq!(status, 201, "the allow grants a real endpoint: {body}");
    let (_, body) = get(&app, &format!("/api/v1/users/{max}/permissions"), &admin).await;
    let max_has = ids_of(&body["permissions"]);
    assert!(max_has.contains(&"policy:read".to_string()), "{body}");
    assert!(!max_has.contains(&"audit:read".to_string()), "{body}");
}

// ---- clients ----

#[actix_web::test]
async fn a_client_created_over_http_gets_tokens_with_its_shown_once_secret() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let (status, body) = post(
        &app,
        "/api/v1/clients",
        &admin,
        json!({"client_id": "svc", "grant_types": ["client_credentials"], "scopes": ["jobs:read"]}),
    )
    .await;
    assert_bad(status, &body, "scopes");
    assert_description_contains(&body, "jobs:read");
    let (status, body) = post(
        &app,
        "/api/v1/scopes",
        &admin,
        json!({"name": "jobs:read", "description": "Read jobs"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let (status, body) = post(
        &app,
        "/api/v1/clients",
        &admin,
        json!({"client_id": "svc", "name": "Nightly jobs", "type": "confidential",
               "grant_types": ["client_credentials"], "scopes": ["jobs:read"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let c = &body["value"];
    let secret = c["client_secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 43, "{secret}");
    assert_eq!(c["client_id"], "svc");
    assert_eq!(c["name"], "Nightly jobs");
    assert_eq!(c["type"], "confidential");
    assert_eq!(c["grant_types"], json!(["client_credentials"]));
    assert_eq!(c["scopes"], json!(["jobs:read"]));
    assert_eq!(c["default_scopes"], json!(["jobs:read"]));
    assert!(c["service_account_user_id"].is_string());

    let resp = app
        .client_credentials_scoped("svc", &secret, "jobs:read")
        .await;
    assert_eq!(resp.status(), 200);
    let token: Value = resp.json().await.unwrap();
    let access = token["access_token"].as_str().unwrap();
    let (status, who) = get(&app, "/v1/auth/test", access).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["user_id"], c["service_account_user_id"]);
    assert_eq!(who["scopes"], json!(["jobs:read"]));

    // The secret (and its hash) never appear again.
    let hash = tessera_core::secret::sha256_hex(&secret);
    for path in ["/api/v1/clients/svc", "/api/v1/clients", "/api/v1/audit"] {
        let resp = app
            .http
            .get(format!("{}{path}", app.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let text = resp.text().await.unwrap();
        assert!(!text.contains(&secret), "{path} shows the secret");
        assert!(!text.contains(&hash), "{path} shows the secret's hash");
        assert!(!text.contains("client_secret"), "{path}: {text}");
        assert!(text.contains("svc"), "{path}: {text}");
    }
    let (_, got) = get(&app, "/api/v1/clients/svc", &admin).await;
    let mut expected = c.clone();
    expected.as_object_mut().unwrap().remove("client_secret");
    assert_eq!(got["value"], expected);

    // A public client gets no secret.
    let (status, body) = post(
        &app,
        "/api/v1/clients",
        &admin,
        json!({"client_id": "spa", "type": "public", "grant_types": ["authorization_code"],
               "redirect_uris": ["https://spa.example/cb"], "scopes": ["openid"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["value"].get("client_secret").is_none(), "{body}");
    assert_eq!(
        body["value"]["redirect_uris"],
        json!(["https://spa.example/cb"])
    );

    // Without a client_id one is chosen.
    let (status, body) = post(
        &app,
        "/api/v1/clients",
        &admin,
        json!({"grant_types": ["client_credentials"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(tessera_core::id::is_uuid(
        body["value"]["client_id"].as_str().unwrap()
    ));
}

/// A client_credentials request with `client_secret_post` (a `:` in the client id rules out
/// unencoded Basic credentials).
async fn secret_post(app: &TestApp, secret: &str) -> reqwest::Response {
    app.post_form(
        &app.token_url(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "urn:acme:svc"),
            ("client_secret", secret),
        ],
    )
    .await
}

#[actix_web::test]
async fn rotating_a_secret_makes_the_new_one_work_and_the_old_one_fail() {
    let app = spawn_app_with(|c| c.issuer.cache_ttl_secs = 0).await;
    let admin = admin_token(&app).await;
    let (status, body) = post(
        &app,
        "/api/v1/clients",
        &admin,
        json!({"client_id": "urn:acme:svc", "grant_types": ["client_credentials"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let old = body["value"]["client_secret"].as_str().unwrap().to_string();
    assert_eq!(secret_post(&app, &old).await.status(), 200);

    let (status, body) = post(
        &app,
        "/api/v1/clients/urn:acme:svc:rotate-secret",
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let new = body["value"]["client_secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(body["value"]["client_id"], "urn:acme:svc");
    assert_eq!(secret_post(&app, &new).await.status(), 200);
    let resp = secret_post(&app, &old).await;
    assert_eq!(resp.status(), 401);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"], "invalid_client");
    let (_, got) = get(&app, "/api/v1/clients/urn:acme:svc", &admin).await;
    assert!(got["value"].get("client_secret").is_none(), "{got}");

    // A public client has no secret to rotate; an unknown client is a 404.
    let (status, body) = post(
        &app,
        "/api/v1/clients/portal:rotate-secret",
        &admin,
        json!({}),
    )
    .await;
    assert_bad(status, &body, "public");
    let (status, body) = post(
        &app,
        "/api/v1/clients/nobody:rotate-secret",
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = post(
        &app,
        "/api/v1/clients/bad%20id:rotate-secret",
        &admin,
        json!({}),
    )
    .await;
    assert_bad(status, &body, "client_id");

    // Deleting the client stops its secret at once (the issuer cache is off here).
    let (status, body) = delete(&app, "/api/v1/clients/urn:acme:svc", &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({}));
    assert_eq!(secret_post(&app, &new).await.status(), 401);
}

#[actix_web::test]
async fn client_updates_and_bad_client_input() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    for name in ["jobs:read", "jobs:write"] {
        let (status, _) = post(&app, "/api/v1/scopes", &admin, json!({"name": name})).await;
        assert_eq!(status, 201);
    }
    let (status, body) = post(
        &app,
        "/api/v1/clients",
        &admin,
        json!({"client_id": "svc", "grant_types": ["client_credentials"], "scopes": ["jobs:read", "jobs:write"],
               "default_scopes": ["jobs:read"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let created = body["value"].clone();

    let cases = [
        (
            json!({"client_id": "has space", "grant_types": ["client_credentials"]}),
            "client_id",
        ),
        (
            json!({"client_id": "x", "grant_types": ["implicit"]}),
            "grant_types",
        ),
        (json!({"client_id": "x", "grant_types": []}), "grant_types"),
        (json!({"client_id": "x"}), "grant_types"),
        (
            json!({"client_id": "x", "type": "secret", "grant_types": ["client_credentials"]}),
            "type",
        ),
        (
            json!({"client_id": "x", "type": "public", "grant_types": ["client_credentials"]}),
            "grant_types",
        ),
        (
            json!({"client_id": "x", "grant_types": ["client_credentials"], "secret": "s"}),
            "secret",
        ),
        (
            json!({"client_id": "x", "grant_types": ["client_credentials"], "scopes": ["jobs:delete"]}),
            "jobs:delete",
        ),
        (
            json!({"client_id": "x", "grant_types": ["client_credentials"], "scopes": ["jobs:read"], "default_scopes": ["jobs:write"]}),
            "default_scopes",
        ),
        (
            json!({"client_id": "x", "grant_types": ["authorization_code"], "redirect_uris": ["http://rp.example/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"client_id": "x", "grant_types": ["client_credentials"], "first_party": "yes"}),
            "invalid type",
        ),
    ];
    for (body_in, field) in cases {
        let (status, body) = post(&app, "/api/v1/clients", &admin, body_in.clone()).await;
        assert_bad(status, &body, field);
    }
    let (status, body) = post(
        &app,
        "/api/v1/clients",
        &admin,
        json!({"client_id": "svc", "grant_types": ["client_credentials"]}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = get(&app, "/api/v1/clients/x", &admin).await;
    assert_eq!(status, 404, "no refused client was created");

    // PUT changes what it names and keeps the rest.
    app.clock.advance(3);
    let (status, body) = put(
        &app,
        "/api/v1/clients/svc",
        &admin,
        json!({"name": "Renamed", "scopes": ["jobs:write"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let u = &body["value"];
    assert_eq!(u["name"], "Renamed");
    assert_eq!(u["scopes"], json!(["jobs:write"]));
    assert_eq!(
        u["default_scopes"],
        json!([]),
        "defaults no longer allowed are dropped"
    );
    assert_eq!(u["grant_types"], created["grant_types"]);
    assert_eq!(
        u["service_account_user_id"],
        created["service_account_user_id"]
    );
    assert!(u.get("client_secret").is_none());
    let (_, got) = get(&app, "/api/v1/clients/svc", &admin).await;
    assert_eq!(&got["value"], u);

    for (body_in, field) in [
        (json!({"type": "public"}), "type"),
        (json!({"scopes": ["nope:nope"]}), "nope:nope"),
        (json!({"client_id": "other"}), "client_id"),
        (json!({"grant_types": ["implicit"]}), "grant_types"),
    ] {
        let (status, body) = put(&app, "/api/v1/clients/svc", &admin, body_in).await;
        assert_bad(status, &body, field);
    }
    let (status, _) = put(&app, "/api/v1/clients/nobody", &admin, json!({"name": "x"})).await;
    assert_eq!(status, 404);
    let (_, still) = get(&app, "/api/v1/clients/svc", &admin).await;
    assert_eq!(&still["value"], u, "refused updates changed nothing");

    // The portal client cannot be deleted, and says why.
    let (status, body) = delete(&app, "/api/v1/clients/portal", &admin).await;
    assert_eq!(status, 409, "{body}");
    assert_description_contains(&body, "portal");
    let (status, _) = get(&app, "/api/v1/clients/portal", &admin).await;
    assert_eq!(status, 200);
    let (status, _) = delete(&app, "/api/v1/clients/nobody", &admin).await;
    assert_eq!(status, 404);
    let (status, body) = delete(&app, "/api/v1/clients/bad%20id", &admin).await;
    assert_bad(status, &body, "client_id");
    let (status, body) = delete(&app, "/api/v1/clients/svc", &admin).await;
    assert_eq!((status, body), (200, json!({})));
    let (status, _) = get(&app, "/api/v1/clients/svc", &admin).await;
    assert_eq!(status, 404);

    // Listing pages through every client once.
    for i in 0..4 {
        let (status, _) = post(
            &app,
            "/api/v1/clients",
            &admin,
            json!({"client_id": format!("c{i}"), "grant_types": ["client_credentials"]}),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (values, pages) = all_pages(&app, "/api/v1/clients", &admin, 2).await;
    assert_eq!(
        ids(&values, "client_id"),
        ["c0", "c1", "c2", "c3", "portal"]
    );
    assert_eq!(pages, 3);
    let (status, body) = get(&app, "/api/v1/clients?page_token=%%%", &admin).await;
    assert_bad(status, &body, "page_token");
}

// ---- scopes ----

#[actix_web::test]
async fn scopes_round_trip_and_cannot_be_deleted_while_a_client_lists_them() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let (status, body) = post(
        &app,
        "/api/v1/scopes",
        &admin,
        json!({"name": "jobs:read", "description": "Read jobs"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let s = body["value"].clone();
    let id = s["id"].as_str().unwrap().to_string();
    assert_eq!(s["name"], "jobs:read");
    assert_eq!(s["description"], "Read jobs");
    let (status, got) = get(&app, &format!("/api/v1/scopes/{id}"), &admin).await;
    assert_eq!(status, 200);
    assert_eq!(got["value"], s);

    for (body_in, field) in [
        (json!({"name": "has space"}), "name"),
        (json!({"name": "a,b"}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"description": "no name"}), "name"),
        (
            json!({"name": "ok:ok", "description": "x".repeat(1001)}),
            "description",
        ),
        (json!({"name": "ok:ok", "owner": "me"}), "owner"),
    ] {
        let (status, body) = post(&app, "/api/v1/scopes", &admin, body_in).await;
        assert_bad(status, &body, field);
    }
    for taken in ["jobs:read", "openid", "policy:read"] {
        let (status, body) = post(&app, "/api/v1/scopes", &admin, json!({"name": taken})).await;
        assert_eq!(status, 409, "{taken}: {body}");
        assert_description_contains(&body, taken);
    }

    app.clock.advance(2);
    let (status, body) = put(
        &app,
        &format!("/api/v1/scopes/{id}"),
        &admin,
        json!({"description": "Read batch jobs"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"]["description"], "Read batch jobs");
    assert_ne!(body["value"]["updated_at"], s["updated_at"]);
    let (status, body) = put(
        &app,
        &format!("/api/v1/scopes/{id}"),
        &admin,
        json!({"name": "jobs:list", "description": "x"}),
    )
    .await;
    assert_bad(status, &body, "name");
    let (status, body) = put(&app, &format!("/api/v1/scopes/{id}"), &admin, json!({})).await;
    assert_bad(status, &body, "description");
    let (_, got) = get(&app, &format!("/api/v1/scopes/{id}"), &admin).await;
    assert_eq!(got["value"]["name"], "jobs:read");
    assert_eq!(got["value"]["description"], "Read batch jobs");

    let nobody = "0f8fad5b-d9cb-469f-a165-70867728950e";
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let b = (method == Method::PUT).then(|| json!({"description": "d"}));
        let (status, _) = call(
            &app,
            method.clone(),
            &format!("/api/v1/scopes/{nobody}"),
            Some(&admin),
            b.clone(),
        )
        .await;
        assert_eq!(status, 404, "{method}");
        let (status, body) = call(
            &app,
            method.clone(),
            "/api/v1/scopes/jobs:read",
            Some(&admin),
            b,
        )
        .await;
        assert_bad(status, &body, "id");
    }

    let (status, _) = post(
        &app,
        "/api/v1/clients",
        &admin,
        json!({"client_id": "svc", "grant_types": ["client_credentials"], "scopes": ["jobs:read"]}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = delete(&app, &format!("/api/v1/scopes/{id}"), &admin).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("svc"),
        "{body}"
    );
    let (status, _) = get(&app, &format!("/api/v1/scopes/{id}"), &admin).await;
    assert_eq!(status, 200, "still there");
    let (status, _) = put(&app, "/api/v1/clients/svc", &admin, json!({"scopes": []})).await;
    assert_eq!(status, 200);
    let (status, body) = delete(&app, &format!("/api/v1/scopes/{id}"), &admin).await;
    assert_eq!((status, body), (200, json!({})));
    let (status, _) = get(&app, &format!("/api/v1/scopes/{id}"), &admin).await;
    assert_eq!(status, 404);

    for name in ["b:1", "a:1", "c:1"] {
        let (status, _) = post(&app, "/api/v1/scopes", &admin, json!({"name": name})).await;
        assert_eq!(status, 201);
    }
    let (values, pages) = all_pages(&app, "/api/v1/scopes", &admin, 2).await;
    assert_eq!(ids(&values, "name"), ["a:1", "b:1", "c:1"]);
    assert_eq!(pages, 2);
    let (status, body) = get(
        &app,
        "/api/v1/scopes?filter=name%20eq%20%22a%3A1%22",
        &admin,
    )
    .await;
    assert_bad(status, &body, "filter");
}

// ---- audit ----

#[actix_web::test]
async fn the_audit_log_lists_the_writes_with_their_actor_and_pages() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let admin_id = whoami(&app, &admin).await;
    let vera = create_user(&app, "vera", "viewer");
    // One second between writes: events of the same second are ordered by their random id.
    let tick = || app.clock.advance(1);
    tick();
    let (_, scope) = post(&app, "/api/v1/scopes", &admin, json!({"name": "jobs:read"})).await;
    let scope_id = scope["value"]["id"].as_str().unwrap().to_string();
    tick();
    let (_, policy) = post(
        &app,
        "/api/v1/policies",
        &admin,
        json!({"name": "p", "effect": "deny", "permissions": ["audit:read"],
               "subject": {"type": "user", "id": vera}}),
    )
    .await;
    let policy_id = policy["value"]["id"].as_str().unwrap().to_string();
    tick();
    let (status, _) = put(
        &app,
        &format!("/api/v1/policies/{policy_id}"),
        &admin,
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(status, 200);
    tick();
    let (status, _) = post(
        &app,
        "/api/v1/clients",
        &admin,
        json!({"client_id": "svc", "grant_types": ["client_credentials"]}),
    )
    .await;
    assert_eq!(status, 201);
    tick();
    let (status, _) = post(&app, "/api/v1/clients/svc:rotate-secret", &admin, json!({})).await;
    assert_eq!(status, 200);
    tick();
    let (status, _) = put(
        &app,
        &format!("/api/v1/scopes/{scope_id}"),
        &admin,
        json!({"description": "d"}),
    )
    .await;
    assert_eq!(status, 200);
    tick();
    let (status, _) = delete(&app, &format!("/api/v1/policies/{policy_id}"), &admin).await;
    assert_eq!(status, 200);
    // A refused write leaves no event.
    let (status, _) = post(&app, "/api/v1/scopes", &admin, json!({"name": "jobs:read"})).await;
    assert_eq!(status, 409);

    let actor = format!("user:{admin_id}");
    let filter = format!("actor eq \"{actor}\"");
    let path = format!(
        "/api/v1/audit?filter={}",
        form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
    );
    let (events, pages) = all_pages(&app, &path, &admin, 2).await;
    assert_eq!(pages, 4);
    // The admin's sign-in (for the token) is the admin's too: audited first.
    assert_eq!(events[0]["action"], "user.sign_in");
    let events: Vec<serde_json::Value> = events[1..].to_vec();
    let actions: Vec<String> = ids(&events, "action");
    assert_eq!(
        actions,
        [
            "scope.create",
            "policy.create",
            "policy.update",
            "client.create",
            "client.rotate_secret",
            "scope.update",
            "policy.delete",
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e["actor"] == actor.as_str() && e["outcome"] == "success")
    );
    assert_eq!(events[1]["target"], format!("policy:{policy_id}"));
    assert_eq!(events[3]["target"], "client:svc");
    assert_eq!(events[0]["source_addr"], "127.0.0.1");
    let mut event_ids = ids(&events, "id");
    event_ids.sort();
    event_ids.dedup();
    assert_eq!(event_ids.len(), 7, "no event twice across pages");
    for key in [
        "id",
        "actor",
        "action",
        "target",
        "source_addr",
        "outcome",
        "detail",
        "created_at",
    ] {
        assert!(events[0].get(key).is_some(), "{key}");
    }
    // Unfiltered, the bootstrap and the CLI-created user come first.
    let (status, all) = get(&app, "/api/v1/audit", &admin).await;
    assert_eq!(status, 200);
    let all = all["values"].as_array().unwrap();
    assert_eq!(all.len(), 10, "{all:?}");
    // Same-second events are ordered by id: the bootstrap, the CLI's user and the admin's
    // sign-in, in some order.
    let first: Vec<String> = ids(&all[..3], "action");
    assert!(first.contains(&"realm.bootstrap".to_string()), "{first:?}");
    assert!(first.contains(&"user.create".to_string()), "{first:?}");
    assert!(first.contains(&"user.sign_in".to_string()), "{first:?}");
    // Filters on action and target.
    let (status, body) = get(&app, "/api/v1/audit?filter=action%20eq%20%22client.create%22%20and%20target%20eq%20%22client%3Asvc%22", &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["values"].as_array().unwrap().len(), 1);

    for (query, field) in [
        ("page_token=garbage", "page_token"),
        // A token of another list is not an audit token.
        (
            &format!("page_token={}", tessera_core::page::encode_token(&scope_id)) as &str,
            "page_token",
        ),
        ("filter=outcome%20eq%20%22success%22", "filter"),
        ("filter=actor%20eq%20", "filter"),
    ] {
        let (status, body) = get(&app, &format!("/api/v1/audit?{query}"), &admin).await;
        assert_bad(status, &body, field);
    }

    // Newest first, paged the other way: the same events in reverse.
    let (newest, pages) = all_pages(&app, &format!("{path}&order=newest"), &admin, 2).await;
    assert_eq!(pages, 4);
    let mut reversed = actions.clone();
    reversed.insert(0, "user.sign_in".into());
    reversed.reverse();
    assert_eq!(ids(&newest, "action"), reversed);
    let (status, body) = get(&app, "/api/v1/audit?order=sideways", &admin).await;
    assert_bad(status, &body, "order");

    // One event by id; an unknown or malformed id is 404 / 400.
    let first_id = events[0]["id"].as_str().unwrap();
    let (status, one) = get(&app, &format!("/api/v1/audit/{first_id}"), &admin).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["value"], events[0]);
    let (status, _) = get(
        &app,
        &format!("/api/v1/audit/{}", tessera_core::id::new_uuid()),
        &admin,
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = get(&app, "/api/v1/audit/not-an-id", &admin).await;
    assert_bad(status, &body, "id");

    // Only callers with audit:read: not a member.
    create_user(&app, "max", "member");
    let member = password_token(&app, "max", PASSWORD, "audit:read").await;
    let (status, body) = get(&app, "/api/v1/audit", &member).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = get(&app, &format!("/api/v1/audit/{first_id}"), &member).await;
    assert_eq!(status, 403, "{body}");
}
