//! "You can only grant what you hold, through the credential you are using" (issue 10,
//! docs/security.md): one test per escalation found by the attack probes, each asserting the
//! refusal and that nothing changed, and the guard rails (last admin, portal, PUT semantics).

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const PASSWORD: &str = "long enough password";

/// The realm as the admin sees it, and the calls the tests make.
pub struct Realm {
    pub app: TestApp,
    pub admin: String,
    pub root: String,
}

impl Realm {
    pub async fn new() -> Self {
        let app = spawn_app().await;
        let admin = token(&app, "admin", ADMIN_PASSWORD, None).await;
        let (_, teams) = app
            .call(
                Method::GET,
                "/api/v1/teams?filter=name%20eq%20%22root%22",
                Some(&admin),
                None,
            )
            .await;
        let root = teams["values"][0]["id"].as_str().unwrap().to_string();
        Self { app, admin, root }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.app.call(method, path, Some(bearer), body).await
    }

    pub async fn team(&self, name: &str) -> String {
        let (s, b) = self
            .call(
                Method::POST,
                "/api/v1/teams",
                &self.admin,
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        b["value"]["id"].as_str().unwrap().to_string()
    }

    pub async fn role(&self, name: &str, permissions: &[&str]) -> String {
        let (s, b) = self
            .call(
                Method::POST,
                "/api/v1/roles",
                &self.admin,
                Some(json!({"name": name, "permissions": permissions})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        b["value"]["id"].as_str().unwrap().to_string()
    }

    pub async fn role_id(&self, name: &str) -> String {
        let (_, b) = self
            .call(
                Method::GET,
                &format!("/api/v1/roles?filter=name%20eq%20%22{name}%22"),
                &self.admin,
                None,
            )
            .await;
        b["roles"][0]["id"].as_str().unwrap().to_string()
    }

    /// A user with a password and these (team, role id) memberships; returns the id.
    pub async fn user(&self, name: &str, team_roles: &[(&str, &str)]) -> String {
        let roles: Vec<Value> = team_roles
            .iter()
            .map(|(t, r)| json!({"team_id": t, "role_id": r}))
            .collect();
        let (s, b) = self
            .call(
                Method::POST,
                "/api/v1/users",
                &self.admin,
                Some(json!({"name": name, "password": PASSWORD, "team_roles": roles})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        b["value"]["id"].as_str().unwrap().to_string()
    }

    /// A token for `name` (every scope of `portal` unless `scope` is given).
    pub async fn token(&self, name: &str, scope: Option<&str>) -> String {
        token(&self.app, name, PASSWORD, scope).await
    }

    /// What a credential may do right now.
    pub async fn permissions(&self, bearer: &str) -> BTreeSet<String> {
        let (s, b) = self.call(Method::GET, "/v1/auth/test", bearer, None).await;
        if s != 200 {
            return BTreeSet::new();
        }
        b["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect()
    }

    /// A user's live permissions as the API reports them.
    pub async fn user_permissions(&self, user: &str) -> BTreeSet<String> {
        let (s, b) = self
            .call(
                Method::GET,
                &format!("/api/v1/users/{user}/permissions"),
                &self.admin,
                None,
            )
            .await;
        assert_eq!(s, 200, "{b}");
        set_of(&b["permissions"])
    }
}

pub async fn token(app: &TestApp, name: &str, password: &str, scope: Option<&str>) -> String {
    let mut form = vec![
        ("client_id", "portal"),
        ("grant_type", "password"),
        ("username", name),
        ("password", password),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let resp = app.post_form(&app.token_url(), &form).await;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "token for {name}: {body}");
    body["access_token"].as_str().unwrap().to_string()
}

pub fn set_of(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn strs(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A 403 `insufficient_scope` whose description names each of `escalated`.
#[track_caller]
fn assert_escalation(status: u16, body: &Value, escalated: &[&str]) {
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "insufficient_scope", "{body}");
    let d = body["error_description"].as_str().unwrap();
    assert!(d.contains("you can only grant what you hold"), "{d}");
    for p in escalated {
        assert!(d.contains(p), "{d} should name {p}");
    }
}

async fn key_count(r: &Realm) -> usize {
    let (_, personal) = r
        .call(Method::GET, "/api/v1/apikeys?page_size=100", &r.admin, None)
        .await;
    let (_, team) = r
        .call(
            Method::GET,
            "/api/preview/teamkeys?page_size=100",
            &r.admin,
            None,
        )
        .await;
    personal.as_array().unwrap().len() + team["values"].as_array().unwrap().len()
}

#[actix_web::test]
async fn a_team_operator_cannot_mint_an_admin_team_key_and_make_herself_admin() {
    let r = Realm::new().await;
    let team = r.team("payments").await;
    let operator = r.role_id("operator").await;
    let ops = r.user("olga", &[(&team, &operator)]).await;
    let olga = r.token("olga", None).await;
    // She cannot create users herself...
    let (s, _) = r
        .call(
            Method::POST,
            "/api/v1/users",
            &olga,
            Some(json!({"name": "mallory"})),
        )
        .await;
    assert_eq!(s, 403);
    // ...nor a team key with a role beyond hers.
    let keys_before = key_count(&r).await;
    let (s, b) = r
        .call(
            Method::POST,
            "/api/preview/teamkeys",
            &olga,
            Some(json!({"name": "k", "team_id": team, "role": "admin"})),
        )
        .await;
    assert_escalation(
        s,
        &b,
        &["user:write", "role:write", &format!("team {team}")],
    );
    assert_eq!(key_count(&r).await, keys_before);
    // The team's default oaa_push key is hers to make (operators hold oaa:push), and it can
    // push but not create an admin.
    let (s, b) = r
        .call(
            Method::POST,
            "/api/preview/teamkeys",
            &olga,
            Some(json!({"name": "pusher", "team_id": team})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["value"]["role"], "oaa_push");
    let key = b["value"]["access_key"].as_str().unwrap().to_string();
    assert_eq!(r.permissions(&key).await, strs(&["oaa:push"]));
    let admin_role = r.role_id("admin").await;
    let (s, _) = r
        .call(
            Method::POST,
            "/api/v1/users",
            &key,
            Some(json!({"name": "mallory", "team_roles": [{"team_id": r.root, "role_id": admin_role}]})),
        )
        .await;
    assert_eq!(s, 403);
    assert!(!r.user_permissions(&ops).await.contains("user:write"));
}

#[actix_web::test]
async fn a_narrowed_credential_cannot_create_a_key_wider_than_itself() {
    let r = Realm::new().await;
    r.role("developer", &["api_key:read", "api_key:create"])
        .await;
    // Credentials narrowed four ways, all of the realm's admin.
    let mut narrowed: Vec<(&str, String)> = Vec::new();
    for (label, body) in [
        (
            "developer role",
            json!({"name": "dev", "role": "developer"}),
        ),
        ("member role", json!({"name": "mem", "role": "member"})),
        (
            "scopes",
            json!({"name": "sc", "scopes": ["api_key:create", "api_key:read"]}),
        ),
    ] {
        let (s, b) = r
            .call(Method::POST, "/api/v1/apikeys", &r.admin, Some(body))
            .await;
        assert_eq!(s, 201, "{label}: {b}");
        narrowed.push((label, b["value"].as_str().unwrap().to_string()));
    }
    narrowed.push((
        "token scope",
        token(
            &r.app,
            "admin",
            ADMIN_PASSWORD,
            Some("api_key:create api_key:read"),
        )
        .await,
    ));
    for (label, cred) in &narrowed {
        let held = r.permissions(cred).await;
        assert!(!held.contains("user:write"), "{label}: {held:?}");
        // A key with no role or scopes carries the credential's rights, not the admin's.
        let (s, b) = r
            .call(
                Method::POST,
                "/api/v1/apikeys",
                cred,
                Some(json!({"name": "child"})),
            )
            .await;
        assert_eq!(s, 201, "{label}: {b}");
        let child = b["value"].as_str().unwrap().to_string();
        let got = r.permissions(&child).await;
        assert!(
            !got.is_empty() && got.is_subset(&held),
            "{label}: child {got:?} beyond {held:?}"
        );
        // Asking for more is refused, and no key is made.
        let before = key_count(&r).await;
        for body in [
            json!({"name": "wide", "role": "admin"}),
            json!({"name": "wide", "scopes": ["user:write"]}),
        ] {
            let (s, b) = r
                .call(Method::POST, "/api/v1/apikeys", cred, Some(body))
                .await;
            assert_escalation(s, &b, &["user:write"]);
        }
        assert_eq!(key_count(&r).await, before, "{label}");
    }
}

#[actix_web::test]
async fn a_key_cannot_widen_itself_or_a_sibling() {
    let r = Realm::new().await;
    r.role(
        "developer",
        &["api_key:read", "api_key:create", "api_key:update"],
    )
    .await;
    let (_, b) = r
        .call(
            Method::POST,
            "/api/v1/apikeys",
            &r.admin,
            Some(json!({"name": "dev", "role": "developer"})),
        )
        .await;
    let (dev_id, dev) = (
        b["id"].as_str().unwrap().to_string(),
        b["value"].as_str().unwrap().to_string(),
    );
    let (_, b) = r
        .call(
            Method::POST,
            "/api/v1/apikeys",
            &r.admin,
            Some(json!({"name": "ro", "role": "viewer"})),
        )
        .await;
    let sibling = b["id"].as_str().unwrap().to_string();
    let before = r.permissions(&dev).await;
    for id in [&dev_id, &sibling] {
        let (s, b) = r
            .call(
                Method::PUT,
                &format!("/api/v1/apikeys/{id}"),
                &dev,
                Some(json!({"role": "admin"})),
            )
            .await;
        assert_escalation(s, &b, &["user:write"]);
    }
    let (_, own) = r
        .call(
            Method::GET,
            &format!("/api/v1/apikeys/{dev_id}"),
            &r.admin,
            None,
        )
        .await;
    assert_eq!(own["role"], "developer");
    assert_eq!(r.permissions(&dev).await, before);
    // Narrowing is always allowed.
    r.role("reader", &["api_key:read"]).await;
    let (s, b) = r
        .call(
            Method::PUT,
            &format!("/api/v1/apikeys/{dev_id}"),
            &dev,
            Some(json!({"role": "reader"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(r.permissions(&dev).await, strs(&["api_key:read"]));
}

#[actix_web::test]
async fn user_write_cannot_grant_roles_beyond_the_actor_even_to_herself() {
    let r = Realm::new().await;
    let hr = r
        .role("hr", &["user:read", "user:write", "team:read", "role:read"])
        .await;
    let hera = r.user("hera", &[(&r.root, &hr)]).await;
    let token = r.token("hera", None).await;
    let admin_role = r.role_id("admin").await;
    let member = r.role_id("member").await;
    let (s, b) = r
        .call(
            Method::POST,
            "/api/v1/users",
            &token,
            Some(json!({"name": "crony", "team_roles": [{"team_id": r.root, "role_id": admin_role}]})),
        )
        .await;
    assert_escalation(s, &b, &["role:write", "policy:write"]);
    let (_, list) = r
        .call(
            Method::GET,
            "/api/v1/users?filter=name%20eq%20%22crony%22",
            &r.admin,
            None,
        )
        .await;
    assert!(list["values"].as_array().unwrap().is_empty(), "{list}");
    // Nor to herself.
    let before = r.user_permissions(&hera).await;
    let (s, b) = r
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{hera}"),
            &token,
            Some(json!({"team_roles": [{"team_id": r.root, "role_id": hr}, {"team_id": r.root, "role_id": admin_role}]})),
        )
        .await;
    assert_escalation(s, &b, &["role:write"]);
    assert_eq!(r.user_permissions(&hera).await, before);
    // Within her rights she may: a user with the member role gains what the member role has
    // beyond hr (api_key:*) — which she does not hold, so that is refused too...
    let (s, b) = r
        .call(
            Method::POST,
            "/api/v1/users",
            &token,
            Some(json!({"name": "newbie", "team_roles": [{"team_id": r.root, "role_id": member}]})),
        )
        .await;
    assert_escalation(s, &b, &["api_key:create"]);
    // ...while her own role is hers to give.
    let (s, b) = r
        .call(
            Method::POST,
            "/api/v1/users",
            &token,
            Some(json!({"name": "newbie", "team_roles": [{"team_id": r.root, "role_id": hr}]})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

#[actix_web::test]
async fn an_admin_of_one_team_cannot_grant_in_another() {
    let r = Realm::new().await;
    let (a, b_team) = (r.team("alpha").await, r.team("beta").await);
    let admin_role = r.role_id("admin").await;
    let member = r.role_id("member").await;
    r.user("ada", &[(&a, &admin_role), (&b_team, &member)])
        .await;
    let victim = r.user("vic", &[(&b_team, &member)]).await;
    let ada = r.token("ada", None).await;
    let (s, b) = r
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{victim}"),
            &ada,
            Some(json!({"team_roles": [{"team_id": b_team, "role_id": admin_role}]})),
        )
        .await;
    assert_escalation(s, &b, &["user:write", &format!("team {b_team}")]);
    // In her own team she may.
    let (s, b) = r
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{victim}"),
            &ada,
            Some(json!({"team_roles": [{"team_id": b_team, "role_id": member}, {"team_id": a, "role_id": admin_role}]})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

#[actix_web::test]
async fn role_write_cannot_create_or_widen_a_role_beyond_the_actor() {
    let r = Realm::new().await;
    let designer = r.role("designer", &["role:read", "role:write"]).await;
    r.user("rob", &[(&r.root, &designer)]).await;
    let rob = r.token("rob", None).await;
    let everything: Vec<&str> = tessera_core::permission::CATALOG
        .iter()
        .map(|(p, _)| *p)
        .collect();
    let (s, b) = r
        .call(
            Method::POST,
            "/api/v1/roles",
            &rob,
            Some(json!({"name": "god", "permissions": everything})),
        )
        .await;
    assert_escalation(s, &b, &["user:write", "policy:write"]);
    let (_, list) = r
        .call(
            Method::GET,
            "/api/v1/roles?filter=name%20eq%20%22god%22",
            &r.admin,
            None,
        )
        .await;
    assert!(list["roles"].as_array().unwrap().is_empty());
    // Widening his own role is the same grant.
    let (s, b) = r
        .call(
            Method::PATCH,
            &format!("/api/v1/roles/{designer}"),
            &rob,
            Some(json!({"permissions": ["role:read", "role:write", "user:write"]})),
        )
        .await;
    assert_escalation(s, &b, &["user:write"]);
    let (_, role) = r
        .call(
            Method::GET,
            &format!("/api/v1/roles/{designer}"),
            &r.admin,
            None,
        )
        .await;
    assert_eq!(
        set_of(&role["value"]["permissions"]),
        strs(&["role:read", "role:write"])
    );
    // Roles within his rights, and narrowing, are his to write.
    let (s, b) = r
        .call(
            Method::POST,
            "/api/v1/roles",
            &rob,
            Some(json!({"name": "reader", "permissions": ["role:read"]})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

#[actix_web::test]
async fn policy_write_cannot_allow_or_lift_what_the_actor_lacks() {
    let r = Realm::new().await;
    let warden = r
        .role("warden", &["policy:read", "policy:write", "user:read"])
        .await;
    let wes = r.user("wes", &[(&r.root, &warden)]).await;
    let member = r.role_id("member").await;
    let target = r.user("tia", &[(&r.root, &member)]).await;
    let token = r.token("wes", None).await;
    // Allowing himself (or anyone) what he lacks.
    for subject in [
        json!({"type": "user", "id": wes}),
        json!({"type": "role", "id": warden}),
        json!({"type": "team", "id": r.root}),
    ] {
        let (s, b) = r
            .call(
                Method::POST,
                "/api/v1/policies",
                &token,
                Some(json!({"name": "grab", "effect": "allow", "permissions": ["user:write"], "subject": subject})),
            )
            .await;
        assert_escalation(s, &b, &["user:write"]);
    }
    // Lifting an admin's deny is a grant too: deleting it, disabling it, or turning it into an allow.
    let (s, deny) = r
        .call(
            Method::POST,
            "/api/v1/policies",
            &r.admin,
            Some(json!({"name": "no keys", "effect": "deny", "permissions": ["api_key:create"], "subject": {"type": "user", "id": target}})),
        )
        .await;
    assert_eq!(s, 201, "{deny}");
    let id = deny["value"]["id"].as_str().unwrap();
    let before = r.user_permissions(&target).await;
    assert!(!before.contains("api_key:create"));
    let (s, b) = r
        .call(
            Method::DELETE,
            &format!("/api/v1/policies/{id}"),
            &token,
            None,
        )
        .await;
    assert_escalation(s, &b, &["api_key:create"]);
    for change in [
        json!({"enabled": false}),
        json!({"effect": "allow"}),
        json!({"subject": {"type": "user", "id": wes}}),
    ] {
        let (s, b) = r
            .call(
                Method::PUT,
                &format!("/api/v1/policies/{id}"),
                &token,
                Some(change),
            )
            .await;
        assert_escalation(s, &b, &["api_key:create"]);
    }
    assert_eq!(r.user_permissions(&target).await, before);
    // Adding a deny is narrowing, and his to do.
    let (s, b) = r
        .call(
            Method::POST,
            "/api/v1/policies",
            &token,
            Some(json!({"name": "no reading", "effect": "deny", "permissions": ["user:read"], "subject": {"type": "user", "id": target}})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert!(!r.user_permissions(&target).await.contains("user:read"));
}

#[actix_web::test]
async fn client_write_cannot_give_a_client_permissions_it_lacks() {
    let r = Realm::new().await;
    let integrator = r.role("integrator", &["client:read", "client:write"]).await;
    r.user("ivy", &[(&r.root, &integrator)]).await;
    let ivy = r.token("ivy", None).await;
    let (s, b) = r
        .call(
            Method::POST,
            "/api/v1/clients",
            &ivy,
            Some(json!({"client_id": "backdoor", "grant_types": ["client_credentials"], "scopes": ["user:write", "client:read"]})),
        )
        .await;
    assert_escalation(s, &b, &["user:write"]);
    let (s, _) = r
        .call(Method::GET, "/api/v1/clients/backdoor", &r.admin, None)
        .await;
    assert_eq!(s, 404);
    // Within her rights, and custom scopes (not rights Tessera grants), are hers to give.
    let (s, b) = r
        .call(
            Method::POST,
            "/api/v1/scopes",
            &r.admin,
            Some(json!({"name": "jobs:read"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = r
        .call(
            Method::POST,
            "/api/v1/clients",
            &ivy,
            Some(json!({"client_id": "jobs", "grant_types": ["client_credentials"], "scopes": ["jobs:read", "client:read"]})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = r
        .call(
            Method::PUT,
            "/api/v1/clients/jobs",
            &ivy,
            Some(json!({"scopes": ["jobs:read", "policy:write"]})),
        )
        .await;
    assert_escalation(s, &b, &["policy:write"]);
    let (_, c) = r
        .call(Method::GET, "/api/v1/clients/jobs", &r.admin, None)
        .await;
    assert_eq!(
        set_of(&c["value"]["scopes"]),
        strs(&["client:read", "jobs:read"])
    );
}

#[actix_web::test]
async fn put_on_a_user_without_team_roles_keeps_memberships_and_keys() {
    let r = Realm::new().await;
    let (_, me) = r.call(Method::GET, "/v1/auth/test", &r.admin, None).await;
    let me = me["user_id"].as_str().unwrap().to_string();
    let (s, key) = r
        .call(
            Method::POST,
            "/api/v1/apikeys",
            &r.admin,
            Some(json!({"name": "mine"})),
        )
        .await;
    assert_eq!(s, 201, "{key}");
    let key = key["value"].as_str().unwrap().to_string();
    let before = r.user_permissions(&me).await;
    let (s, b) = r
        .call(
            Method::PUT,
            &format!("/api/v1/users/{me}"),
            &r.admin,
            Some(json!({"name": "admin", "email": "admin@example.com"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["value"]["email"], "admin@example.com");
    assert_eq!(b["value"]["team_roles"].as_array().unwrap().len(), 1, "{b}");
    assert_eq!(r.user_permissions(&me).await, before);
    assert_eq!(
        r.permissions(&key).await,
        before,
        "the personal key survives"
    );
}

#[actix_web::test]
async fn the_realm_keeps_an_enabled_admin() {
    let r = Realm::new().await;
    let (_, me) = r.call(Method::GET, "/v1/auth/test", &r.admin, None).await;
    let me = me["user_id"].as_str().unwrap().to_string();
    let admin_role = r.role_id("admin").await;
    let member = r.role_id("member").await;
    let full = tessera_core::permission::CATALOG.len();
    // Stripping, denying or deleting the only admin is refused, and changes nothing.
    let (s, b) = r
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{me}"),
            &r.admin,
            Some(json!({"team_roles": [{"team_id": r.root, "role_id": member}]})),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    assert_description_contains(&b, "without an enabled admin");
    let (s, b) = r
        .call(
            Method::POST,
            "/api/v1/policies",
            &r.admin,
            Some(json!({"name": "lockout", "effect": "deny", "permissions": ["user:write"], "subject": {"type": "role", "id": admin_role}})),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    let (_, list) = r
        .call(Method::GET, "/api/v1/policies", &r.admin, None)
        .await;
    assert!(list["values"].as_array().unwrap().is_empty());
    assert_eq!(r.user_permissions(&me).await.len(), full);
    // With a second admin, the first may step down; then the second cannot be disabled.
    let second = r.user("second", &[(&r.root, &admin_role)]).await;
    let second_token = r.token("second", None).await;
    let (s, b) = r
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{me}"),
            &second_token,
            Some(json!({"team_roles": [{"team_id": r.root, "role_id": member}]})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = r
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{me}"),
            &second_token,
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let _ = second;
    assert_eq!(r.permissions(&second_token).await.len(), full);
}

#[actix_web::test]
async fn the_portal_client_cannot_be_disabled() {
    let r = Realm::new().await;
    let (s, b) = r
        .call(
            Method::PUT,
            "/api/v1/clients/portal",
            &r.admin,
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    assert_description_contains(&b, "console");
    let (s, b) = r
        .call(
            Method::PUT,
            "/api/v1/clients/portal",
            &r.admin,
            Some(json!({"grant_types": ["password"]})),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    let (_, c) = r
        .call(Method::GET, "/api/v1/clients/portal", &r.admin, None)
        .await;
    assert_eq!(c["value"]["enabled"], true);
    // Sign-in through portal still works.
    token(&r.app, "admin", ADMIN_PASSWORD, None).await;
}

/// Whether `user` holds every permission in the root team (is an admin), from the store.
fn is_admin(r: &Realm, user: &str) -> bool {
    let mut conn = r.app.db.conn().unwrap();
    let realm = tessera_store::realms::by_name(&mut conn, "default")
        .unwrap()
        .unwrap();
    let enabled = tessera_store::users::by_id(&mut conn, user)
        .unwrap()
        .is_some_and(|u| u.enabled);
    let held =
        tessera_store::access::effective_permissions(&mut conn, &realm.id, user, Some(&r.root))
            .unwrap();
    enabled && held.len() == tessera_core::permission::CATALOG.len()
}

/// Two admins remove each other at the same moment, twenty times over (demotion, then
/// deletion): exactly one wins each race and the realm always keeps its admin. Without the
/// realm's access lock, PostgreSQL's READ COMMITTED lets both checks pass.
#[actix_web::test]
async fn two_admins_removing_each_other_at_once_leave_exactly_one() {
    let r = Realm::new().await;
    let admin_role = r.role_id("admin").await;
    let member = r.role_id("member").await;
    let (_, me) = r.call(Method::GET, "/v1/auth/test", &r.admin, None).await;
    let me = me["user_id"].as_str().unwrap().to_string();
    let demote = json!({"team_roles": [{"team_id": r.root, "role_id": member}]});
    let way = |round: usize, target: &str| {
        let path = format!("/api/v1/users/{target}");
        if round.is_multiple_of(2) {
            (Method::PATCH, path, Some(demote.clone()))
        } else {
            (Method::DELETE, path, None)
        }
    };
    let mut survivor = (me, r.admin.clone());
    for round in 0..20 {
        let name = format!("admin{round}");
        let roles = [json!({"team_id": r.root, "role_id": admin_role})];
        let (s, b) = r
            .call(
                Method::POST,
                "/api/v1/users",
                &survivor.1,
                Some(json!({"name": name, "password": PASSWORD, "team_roles": roles})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        let challenger = (
            b["value"]["id"].as_str().unwrap().to_string(),
            r.token(&name, None).await,
        );
        let (m1, p1, b1) = way(round, &challenger.0);
        let (m2, p2, b2) = way(round, &survivor.0);
        let (first, second) = tokio::join!(
            r.call(m1, &p1, &survivor.1, b1),
            r.call(m2, &p2, &challenger.1, b2),
        );
        let wins = [first.0, second.0].iter().filter(|s| **s == 200).count();
        assert_eq!(wins, 1, "round {round}: {} and {}", first.0, second.0);
        let admins = [is_admin(&r, &survivor.0), is_admin(&r, &challenger.0)];
        assert_eq!(
            admins.iter().filter(|a| **a).count(),
            1,
            "round {round}: {admins:?}"
        );
        if !admins[0] {
            survivor = challenger;
        }
    }
}
