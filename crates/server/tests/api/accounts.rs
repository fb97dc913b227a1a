//! Password resets by administrators, password changes by users, and the sessions and grants
//! a user can see and end (issue 13), through the real HTTP API and the reset page.

use crate::authorize::{Jar, auth_url, get, hidden, post, redeem, sign_in, web_client};
use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use tessera_store as store;

const OLD: &str = "the old password of ada";
const NEW: &str = "ada's brand new password";

/// A full password-grant answer from `portal` (access and refresh token), or the error body.
async fn grant(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    let resp = app.password_grant(username, password).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Tokens of a user who signed in with the password grant: (access token, refresh token).
async fn signed_in(app: &TestApp, username: &str, password: &str) -> (String, String) {
    let (s, b) = grant(app, username, password).await;
    assert_eq!(s, 200, "{b}");
    (
        b["access_token"].as_str().unwrap().to_string(),
        b["refresh_token"].as_str().unwrap().to_string(),
    )
}

async fn refresh(app: &TestApp, client: (&str, Option<&str>), refresh_token: &str) -> (u16, Value) {
    let mut req = app.http.post(app.token_url());
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    match client {
        (id, Some(secret)) => req = req.basic_auth(id, Some(secret)),
        (id, None) => form.push(("client_id", id)),
    }
    let resp = req.form(&form).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn auth_test(app: &TestApp, token: &str) -> u16 {
    app.call(Method::GET, "/v1/auth/test", Some(token), None)
        .await
        .0
}

fn user(app: &TestApp, id: &str) -> tessera_core::model::User {
    store::users::by_id(&mut app.db.conn().unwrap(), id)
        .unwrap()
        .unwrap()
}

/// The audit events of `action`, newest first.
async fn audited(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let filter = form_urlencoded::byte_serialize(format!("action eq \"{action}\"").as_bytes())
        .collect::<String>();
    let (s, b) = app
        .call(
            Method::GET,
            &format!("/api/v1/audit?order=newest&filter={filter}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    b["values"].as_array().unwrap().clone()
}

fn resets_of(app: &TestApp, user_id: &str) -> i64 {
    use diesel::prelude::*;
    use tessera_store::schema::password_resets;
    password_resets::table
        .filter(password_resets::user_id.eq(user_id))
        .count()
        .get_result(&mut *app.db.conn().unwrap())
        .unwrap()
}

async fn reset(app: &TestApp, bearer: &str, user_id: &str, body: Value) -> (u16, Value) {
    app.call(
        Method::POST,
        &format!("/api/v1/users/{user_id}/password-reset"),
        Some(bearer),
        Some(body),
    )
    .await
}

/// The reset page's path and query, from the URL the API handed out.
fn page_path(app: &TestApp, url: &str) -> String {
    url.strip_prefix(&app.base)
        .unwrap_or_else(|| panic!("{url} is not under {}", app.base))
        .to_string()
}

async fn submit_new_password(
    app: &TestApp,
    jar: &mut Jar,
    form_html: &str,
    password: &str,
    again: &str,
) -> (u16, String) {
    let resp = post(
        app,
        jar,
        "/realms/default/login-actions/reset-password",
        &[
            ("csrf", &hidden(form_html, "csrf")),
            ("token", &hidden(form_html, "token")),
            ("password", password),
            ("password_confirm", again),
        ],
    )
    .await;
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

#[actix_web::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_the_old_sign_ins() {
    let app = spawn_app().await;
    let admin = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let ada = app.provision_user("ada", OLD, "root", "member");
    let (ada_at, ada_rt) = signed_in(&app, "ada", OLD).await;

    let (s, made) = reset(
        &app,
        &admin,
        &ada,
        json!({"method": "link", "expires_in_secs": 600}),
    )
    .await;
    assert_eq!(s, 201, "{made}");
    assert_eq!(made["method"], "link");
    let url = made["reset_url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!(
            "{}/login-actions/reset-password?token=",
            app.issuer
        )),
        "{url}"
    );
    assert!(made["expires_at"].is_string());
    assert!(made.get("temporary_password").is_none());
    // Making a link changes nothing yet: the old password and tokens still work.
    assert_eq!(auth_test(&app, &ada_at).await, 200);

    let mut jar = Jar::default();
    let page = get(&app, &mut jar, &url).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let form = page.text().await.unwrap();
    assert!(form.contains("name=\"password_confirm\""), "{form}");

    // Refused new passwords re-show the form and do not spend the link.
    let (s, html) = submit_new_password(&app, &mut jar, &form, NEW, "something else").await;
    assert_eq!(s, 400);
    assert!(html.contains("The two passwords differ"), "{html}");
    let (s, html) = submit_new_password(&app, &mut jar, &html, "short", "short").await;
    assert_eq!(s, 400);
    assert!(html.contains("at least 8 characters"), "{html}");
    assert_eq!(
        grant(&app, "ada", OLD).await.0,
        200,
        "the password is unchanged"
    );
    // Without the CSRF cookie the form is refused, and the link still works afterwards.
    let mut stranger = Jar::default();
    let (s, _) = submit_new_password(&app, &mut stranger, &html, NEW, NEW).await;
    assert_eq!(s, 400);

    let (s, done) = submit_new_password(&app, &mut jar, &html, NEW, NEW).await;
    assert_eq!(s, 200, "{done}");
    assert!(done.contains("Password changed"), "{done}");

    assert_eq!(grant(&app, "ada", NEW).await.0, 200);
    let (s, b) = grant(&app, "ada", OLD).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    let (s, b) = refresh(&app, ("portal", None), &ada_rt).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_grant")),
        "{b}"
    );
    assert_eq!(
        auth_test(&app, &ada_at).await,
        401,
        "the old access token is revoked"
    );
    assert!(!user(&app, &ada).password_change_required);

    // The link is spent.
    let (s, html) = submit_new_password(
        &app,
        &mut jar,
        &html,
        "yet another password",
        "yet another password",
    )
    .await;
    assert_eq!(s, 400);
    assert!(html.contains("already used"), "{html}");
    assert_eq!(get(&app, &mut jar, &url).await.status(), 400);
    assert_eq!(grant(&app, "ada", NEW).await.0, 200);

    // Audited, with the method and never the token.
    let token = url.split_once("token=").unwrap().1;
    let made = audited(&app, &admin, "user.password_reset").await;
    assert_eq!(made.len(), 1);
    assert_eq!(made[0]["target"], format!("user:{ada}"));
    assert!(made[0]["detail"].as_str().unwrap().contains("\"link\""));
    let completed = audited(&app, &admin, "user.password_reset_completed").await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0]["actor"], format!("user:{ada}"));
    for event in made.iter().chain(&completed) {
        assert!(!event.to_string().contains(token), "{event}");
    }
}

#[actix_web::test]
async fn an_expired_or_unknown_reset_link_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let ada = app.provision_user("ada", OLD, "root", "member");
    let (s, made) = reset(
        &app,
        &admin,
        &ada,
        json!({"method": "link", "expires_in_secs": 60}),
    )
    .await;
    assert_eq!(s, 201, "{made}");
    let path = page_path(&app, made["reset_url"].as_str().unwrap());
    let mut jar = Jar::default();
    let form = get(&app, &mut jar, &format!("{}{path}", app.base))
        .await
        .text()
        .await
        .unwrap();
    app.clock.advance(61);
    let page = get(&app, &mut jar, &format!("{}{path}", app.base)).await;
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("expired"));
    let (s, _) = submit_new_password(&app, &mut jar, &form, NEW, NEW).await;
    assert_eq!(s, 400);
    assert_eq!(grant(&app, "ada", OLD).await.0, 200);
    assert_eq!(grant(&app, "ada", NEW).await.0, 400);
    // An unknown token: the same page.
    let page = get(
        &app,
        &mut jar,
        &format!("{}/login-actions/reset-password?token=nope", app.issuer),
    )
    .await;
    assert_eq!(page.status(), 400);
    // Lifetimes out of range are refused before anything is stored.
    for secs in [59, 604_801] {
        let (s, b) = reset(
            &app,
            &admin,
            &ada,
            json!({"method": "link", "expires_in_secs": secs}),
        )
        .await;
        assert_eq!(s, 400, "{b}");
        assert!(
            b["error_description"]
                .as_str()
                .unwrap()
                .starts_with("expires_in_secs")
        );
    }
    let (s, _) = reset(&app, &admin, &ada, json!({"method": "email"})).await;
    assert_eq!(s, 400);
    assert_eq!(resets_of(&app, &ada), 1);
}

#[actix_web::test]
async fn a_temporary_password_flags_the_user_and_ends_her_tokens() {
    let app = spawn_app().await;
    let admin = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let ada = app.provision_user("ada", OLD, "root", "member");
    let (ada_at, ada_rt) = signed_in(&app, "ada", OLD).await;
    assert!(!user(&app, &ada).password_change_required);

    let (s, b) = reset(
        &app,
        &admin,
        &ada,
        json!({"method": "temporary_password", "expires_in_secs": 600}),
    )
    .await;
    assert_eq!(s, 400, "a temporary password has no lifetime: {b}");
    assert_eq!(grant(&app, "ada", OLD).await.0, 200);

    let (s, made) = reset(&app, &admin, &ada, json!({"method": "temporary_password"})).await;
    assert_eq!(s, 201, "{made}");
    assert_eq!(made["method"], "temporary_password");
    let temporary = made["temporary_password"].as_str().unwrap();
    assert!(temporary.len() >= 20, "{temporary}");
    assert!(tessera_core::password::validate_password(temporary).is_ok());
    let stored = user(&app, &ada);
    assert!(stored.password_change_required);
    let hasher = tessera_core::password::PasswordHasher::new(app.config.argon2).unwrap();
    assert!(hasher.verify(temporary, stored.password_hash.as_deref()));
    assert!(!hasher.verify(OLD, stored.password_hash.as_deref()));
    let (s, b) = refresh(&app, ("portal", None), &ada_rt).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_grant")),
        "{b}"
    );
    assert_eq!(auth_test(&app, &ada_at).await, 401);
    let events = audited(&app, &admin, "user.password_reset").await;
    assert!(
        events[0]["detail"]
            .as_str()
            .unwrap()
            .contains("temporary_password")
    );
    assert!(!events[0].to_string().contains(temporary));
}

#[actix_web::test]
async fn a_team_admin_cannot_take_over_a_realm_admin_by_resetting_her_password() {
    let app = spawn_app().await;
    let admin = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let (s, team) = app
        .call(
            Method::POST,
            "/api/v1/teams",
            Some(&admin),
            Some(json!({"name": "alpha"})),
        )
        .await;
    assert_eq!(s, 200, "{team}");
    app.provision_user("tom", "tom's long password", "alpha", "admin");
    let mo = app.provision_user("mo", OLD, "alpha", "member");
    let tom = app
        .password_token("tom", "tom's long password", EVERY_PERMISSION)
        .await;
    let admin_id = store::users::by_username(
        &mut app.db.conn().unwrap(),
        &user(&app, &mo).realm_id,
        "admin",
    )
    .unwrap()
    .unwrap();
    let before = admin_id.password_hash.clone();

    for method in ["link", "temporary_password"] {
        let (s, b) = reset(&app, &tom, &admin_id.id, json!({"method": method})).await;
        assert_eq!(s, 403, "{b}");
        assert_eq!(b["error"], "insufficient_scope");
    }
    let after = user(&app, &admin_id.id);
    assert_eq!(after.password_hash, before);
    assert!(!after.password_change_required);
    assert_eq!(resets_of(&app, &admin_id.id), 0);
    assert_eq!(grant(&app, "admin", ADMIN_PASSWORD).await.0, 200);
    assert!(
        audited(&app, &admin, "user.password_reset")
            .await
            .is_empty()
    );

    // A member of his own team he may reset; himself he may not (that is a change).
    let (s, b) = reset(&app, &tom, &mo, json!({"method": "link"})).await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = reset(&app, &tom, "me", json!({"method": "link"})).await;
    assert_eq!(s, 400, "{b}");
    assert_description_contains(&b, "/api/v1/users/me/password");
    // A service account has no password to reset.
    app.create_svc();
    let svc = store::users::by_username(
        &mut app.db.conn().unwrap(),
        &after.realm_id,
        "service-account-svc",
    )
    .unwrap();
    let svc = svc.unwrap();
    let (s, b) = reset(
        &app,
        &admin,
        &svc.id,
        json!({"method": "temporary_password"}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(user(&app, &svc.id).password_hash, svc.password_hash);
    // Without user:write: 403.
    let viewer = app.password_token("mo", OLD, "user:read").await;
    let (s, _) = reset(&app, &viewer, &admin_id.id, json!({"method": "link"})).await;
    assert_eq!(s, 403);
}

async fn change(app: &TestApp, bearer: &str, who: &str, current: &str, new: &str) -> (u16, Value) {
    app.call(
        Method::POST,
        &format!("/api/v1/users/{who}/password"),
        Some(bearer),
        Some(json!({"current_password": current, "new_password": new})),
    )
    .await
}

#[actix_web::test]
async fn a_user_changes_her_own_password_with_the_current_one_and_a_token() {
    let app = spawn_app().await;
    let admin = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let ada = app.provision_user("ada", OLD, "root", "member");
    let (ada_at, ada_rt) = signed_in(&app, "ada", OLD).await;
    let before = user(&app, &ada).password_hash;

    let (s, b) = change(&app, &ada_at, "me", "not my password", NEW).await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .starts_with("current_password")
    );
    let (s, b) = change(&app, &ada_at, &ada, OLD, "short").await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .starts_with("new_password")
    );
    assert_eq!(user(&app, &ada).password_hash, before);
    // Someone else's password: never, whatever the token holds.
    let (s, b) = change(&app, &admin, &ada, OLD, NEW).await;
    assert_eq!(s, 403, "{b}");
    // An API key cannot change a password.
    let (s, key) = app
        .call(
            Method::POST,
            "/api/v1/apikeys",
            Some(&ada_at),
            Some(json!({"name": "ci", "type": "sk", "role": "viewer"})),
        )
        .await;
    assert_eq!(s, 201, "{key}");
    let key = key["value"].as_str().unwrap();
    let (s, b) = change(&app, key, "me", OLD, NEW).await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(user(&app, &ada).password_hash, before);
    assert_eq!(grant(&app, "ada", OLD).await.0, 200);

    let (s, b) = change(&app, &ada_at, "me", OLD, NEW).await;
    assert_eq!(s, 204, "{b}");
    assert_eq!(grant(&app, "ada", NEW).await.0, 200);
    assert_eq!(grant(&app, "ada", OLD).await.0, 400);
    // Every session and token of hers ended, the caller's included.
    assert_eq!(auth_test(&app, &ada_at).await, 401);
    assert_eq!(refresh(&app, ("portal", None), &ada_rt).await.0, 400);
    assert!(!user(&app, &ada).password_change_required);
    let events = audited(&app, &admin, "user.password_change").await;
    let outcomes: Vec<&str> = events
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, vec!["success", "failure"]);
    assert!(events.iter().all(|e| e["target"] == format!("user:{ada}")));
}

#[actix_web::test]
async fn wrong_current_passwords_lock_like_failed_sign_ins() {
    let app = spawn_app().await;
    app.provision_user("ada", OLD, "root", "member");
    let (ada_at, _) = signed_in(&app, "ada", OLD).await;
    let limit = app.config.issuer.throttle.user_max_failures;
    for i in 0..limit {
        let (s, b) = change(&app, &ada_at, "me", "wrong guess", NEW).await;
        assert_eq!(s, 400, "attempt {i}: {b}");
    }
    let resp = app
        .http
        .post(format!("{}/api/v1/users/me/password", app.base))
        .bearer_auth(&ada_at)
        .json(&json!({"current_password": OLD, "new_password": NEW}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(
        resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    // The same pair is locked at the token endpoint too: one count.
    let (s, _) = grant(&app, "ada", OLD).await;
    assert_eq!(s, 429);
    assert_eq!(auth_test(&app, &ada_at).await, 200, "nothing was changed");
    assert_eq!(
        grant(&app, "ada", NEW).await.0,
        429,
        "and NEW was never set"
    );
    let events: Vec<String> = {
        use diesel::prelude::*;
        use tessera_store::schema::audit_events;
        audit_events::table
            .filter(audit_events::action.eq("throttle.lock"))
            .select(audit_events::target)
            .load(&mut *app.db.conn().unwrap())
            .unwrap()
    };
    assert_eq!(events, vec!["throttle:pair:127.0.0.1/ada".to_string()]);
}

#[actix_web::test]
async fn a_user_sees_and_ends_her_sessions_and_grants_and_no_one_elses() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let mut jar = Jar::default();
    // A browser sign-in (the admin's) and the grant the web client got from it.
    let reply = sign_in(&app, &mut jar, &auth_url(&app, &[])).await;
    let resp = redeem(&app, &secret, &reply["code"], None).await;
    assert_eq!(resp.status(), 200);
    let web: Value = resp.json().await.unwrap();
    let web_at = web["access_token"].as_str().unwrap().to_string();
    let web_rt = web["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    let sid =
        verify_independently(web["id_token"].as_str().unwrap(), &app.jwks().await).claims["sid"]
            .as_str()
            .unwrap()
            .to_string();
    // And a password-grant token, the one making the calls.
    let (admin, admin_rt) = signed_in(&app, "admin", ADMIN_PASSWORD).await;

    let (s, listed) = app
        .call(Method::GET, "/api/v1/users/me/sessions", Some(&admin), None)
        .await;
    assert_eq!(s, 200, "{listed}");
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{listed}");
    assert_eq!(
        sessions[0]["id"],
        sid.as_str(),
        "the session's public id is its sid"
    );
    assert!(!listed.to_string().contains(&jar.0["tessera_session"]));
    assert_eq!(sessions[0]["amr"], json!(["pwd"]));
    let grants = listed["grants"].as_array().unwrap();
    let mut clients: Vec<&str> = grants
        .iter()
        .map(|g| g["client_id"].as_str().unwrap())
        .collect();
    clients.sort();
    assert_eq!(clients, vec!["portal", "web"], "{listed}");
    let web_grant = grants.iter().find(|g| g["client_id"] == "web").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Another user cannot see, end or revoke them.
    let ada = app.provision_user("ada", OLD, "root", "member");
    let (ada_at, _) = signed_in(&app, "ada", OLD).await;
    let admin_id = user(&app, &ada).realm_id;
    let admin_id = store::users::by_username(&mut app.db.conn().unwrap(), &admin_id, "admin")
        .unwrap()
        .unwrap()
        .id;
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/me/sessions/{sid}"),
            Some(&ada_at),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/me/grants/{web_grant}"),
            Some(&ada_at),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{admin_id}/grants/{web_grant}"),
            Some(&ada_at),
            None,
        )
        .await;
    assert_eq!(s, 403, "a member may not end the admin's grants");
    assert_eq!(auth_test(&app, &web_at).await, 200);
    let (_, listed) = app
        .call(Method::GET, "/api/v1/users/me/sessions", Some(&admin), None)
        .await;
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(listed["grants"].as_array().unwrap().len(), 2);
    // The admin sees Ada's (user:read), and Ada her own: her password-grant family.
    let (s, hers) = app
        .call(
            Method::GET,
            &format!("/api/v1/users/{ada}/sessions"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 200, "{hers}");
    assert_eq!(hers["grants"].as_array().unwrap().len(), 1);

    // Revoking the web grant ends its refresh and access tokens, and nothing else.
    let (s, b) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/me/grants/{web_grant}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 204, "{b}");
    let (s, b) = refresh(&app, ("web", Some(&secret)), &web_rt).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_grant")),
        "{b}"
    );
    assert_eq!(auth_test(&app, &web_at).await, 401);
    assert_eq!(auth_test(&app, &admin).await, 200);
    let (s, _) = refresh(&app, ("portal", None), &admin_rt).await;
    assert_eq!(s, 200, "the portal grant is untouched");
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/me/grants/{web_grant}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 404, "already revoked");

    // Ending the session: gone from the list, and the browser must sign in again.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{admin_id}/sessions/{sid}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, listed) = app
        .call(Method::GET, "/api/v1/users/me/sessions", Some(&admin), None)
        .await;
    assert!(
        listed["sessions"].as_array().unwrap().is_empty(),
        "{listed}"
    );
    let page = get(&app, &mut jar, &auth_url(&app, &[])).await;
    assert_eq!(page.status(), 200);
    assert!(
        page.text().await.unwrap().contains("name=\"password\""),
        "the sign-in form again"
    );

    let ended = audited(&app, &admin, "user.session_end").await;
    assert_eq!(ended.len(), 1);
    assert!(ended[0]["detail"].as_str().unwrap().contains(&sid));
    assert_eq!(audited(&app, &admin, "user.grant_revoke").await.len(), 1);
}

/// The console's "Reset password" form on a user's page: the link or the temporary password
/// is shown once, and the API's refusal is shown next to its field.
#[actix_web::test]
async fn the_console_resets_a_password_and_shows_the_result_once() {
    let app = spawn_app().await;
    let admin = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let ada = app.provision_user("ada", OLD, "root", "member");
    let page_url = format!("{}/realms/default/console/users/{ada}", app.base);
    let cookie = format!("tessera_console_at={admin}; tessera_console_csrf=c5rf");
    let page = app
        .http
        .get(&page_url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let action = format!("/realms/default/console/users/{ada}/password-reset");
    assert!(html.contains(&action), "{html}");
    assert!(html.contains("Temporary password"), "{html}");

    let submit = |fields: Vec<(&'static str, &'static str)>| {
        let mut form = vec![("csrf", "c5rf")];
        form.extend(fields);
        app.http
            .post(format!("{}{action}", app.base))
            .header("cookie", &cookie)
            .form(&form)
            .send()
    };
    // Out of range: the user's page again, the API's message next to the field.
    let resp = submit(vec![("method", "link"), ("expires_in_secs", "5")])
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let html = resp.text().await.unwrap();
    assert!(html.contains("must be 60 to 604800 seconds"), "{html}");
    assert!(html.contains("aria-invalid=\"true\""), "{html}");
    assert_eq!(resets_of(&app, &ada), 0);

    let resp = submit(vec![("method", "link"), ("expires_in_secs", "600")])
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let html = resp.text().await.unwrap();
    let marker = format!("{}/login-actions/reset-password?token=", app.issuer);
    let start = html.find(&marker).unwrap_or_else(|| panic!("{html}"));
    let end = start + html[start..].find('<').unwrap();
    let url = html[start..end]
        .replace("&#x3d;", "=")
        .replace("&#61;", "=");
    let mut jar = Jar::default();
    assert_eq!(get(&app, &mut jar, &url).await.status(), 200, "{url}");
    assert_eq!(resets_of(&app, &ada), 1);

    let resp = submit(vec![
        ("method", "temporary_password"),
        ("expires_in_secs", ""),
    ])
    .await
    .unwrap();
    assert_eq!(resp.status(), 201);
    let html = resp.text().await.unwrap();
    let marker = "data-testid=\"secret-value\">";
    let start = html.find(marker).unwrap_or_else(|| panic!("{html}")) + marker.len();
    let shown = &html[start..start + html[start..].find('<').unwrap()];
    let stored = user(&app, &ada);
    assert!(stored.password_change_required);
    let hasher = tessera_core::password::PasswordHasher::new(app.config.argon2).unwrap();
    assert!(
        hasher.verify(shown, stored.password_hash.as_deref()),
        "{shown}"
    );
    assert_eq!(grant(&app, "ada", OLD).await.0, 400);
}
