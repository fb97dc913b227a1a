//! The password grant (seed 000) and its brute-force throttle.

use crate::helpers::*;
use tessera_store::provision::{self, Actor, NewUser};

fn retry_after(resp: &reqwest::Response) -> i64 {
    resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The throttle entry under `key` in the default realm.
fn throttle_entry(app: &TestApp, key: &str) -> Option<tessera_store::throttle::ThrottleEntry> {
    let conn = &mut *app.db.conn().unwrap();
    let realm = tessera_store::realms::by_name(conn, "default")
        .unwrap()
        .unwrap();
    tessera_store::throttle::entry(conn, &realm.id, key).unwrap()
}

fn add_user(app: &TestApp, username: &str, password: &str) -> String {
    provision::create_user(
        &app.db,
        "default",
        &NewUser {
            username,
            password: Some(password),
            email: None,
            given_name: None,
            family_name: None,
            team_role: None,
        },
        &tessera_core::password::PasswordHasher::new(app.config.argon2).unwrap(),
        &Actor::CLI,
        tessera_core::Clock::now(&app.clock),
    )
    .unwrap()
    .id
}

/// The exact pipeline of seed 000, run by bash and curl.
const SEED_000_PIPELINE: &str = r#"curl -L -X POST "$REALM/protocol/openid-connect/token" \
-H 'Content-Type: application/x-www-form-urlencoded' \
--data-urlencode "client_id=portal" \
--data-urlencode "grant_type=password" \
--data-urlencode "username=$USERNAME" \
--data-urlencode "password=$PASSWORD" | grep -o '"access_token":"[^"]*"' | awk -F'"' '{print $4}'"#;

#[actix_web::test]
async fn seed_000_curl_pipeline_prints_an_access_token() {
    let app = spawn_app().await;
    let mut bash = std::process::Command::new("bash");
    bash.arg("-c")
        .arg(SEED_000_PIPELINE)
        .env("REALM", &app.issuer)
        .env("USERNAME", "admin")
        .env("PASSWORD", ADMIN_PASSWORD);
    let out = output_of(bash).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(token.matches('.').count(), 2, "one JWT printed: {token:?}");
    let jwt = verify_independently(&token, &app.jwks().await);
    assert_eq!(jwt.claims["client_id"], "portal");
    assert_eq!(jwt.claims["iss"], app.issuer.as_str());
    // The portal's default scopes include the permission catalog.
    assert!(
        jwt.claims["scope"]
            .as_str()
            .unwrap()
            .contains("api_key:read")
    );
}

#[actix_web::test]
async fn password_grant_issues_a_token_for_the_user_and_counts_the_login() {
    let app = spawn_app().await;
    let id = add_user(&app, "ada", "correct horse battery");
    let resp = app
        .password_grant_scoped("ada", "correct horse battery", "profile api_key:read")
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["scope"], "api_key:read profile");
    // portal is registered for refresh: a refresh token, but no ID token without openid.
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 40)
    );
    assert!(body.get("id_token").is_none());
    let jwt = verify_independently(body["access_token"].as_str().unwrap(), &app.jwks().await);
    assert_eq!(jwt.claims["sub"], id.as_str());
    let user = tessera_store::users::by_id(&mut app.db.conn().unwrap(), &id)
        .unwrap()
        .unwrap();
    assert_eq!(user.login_count, 1);
    assert!(user.last_login_at.is_some());
}

#[actix_web::test]
async fn bad_credentials_are_one_indistinguishable_invalid_grant() {
    let app = spawn_app().await;
    add_user(&app, "ada", "correct horse battery");
    let wrong = app.password_grant("ada", "wrong horse battery").await;
    assert_eq!(wrong.status(), 400);
    let wrong: serde_json::Value = wrong.json().await.unwrap();
    let unknown = app.password_grant("nobody", "wrong horse battery").await;
    assert_eq!(unknown.status(), 400);
    let unknown: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(wrong["error"], "invalid_grant");
    assert_eq!(wrong, unknown, "unknown users look like wrong passwords");
}

#[actix_web::test]
async fn a_disabled_user_gets_invalid_grant() {
    let app = spawn_app().await;
    let id = add_user(&app, "ada", "correct horse battery");
    {
        use diesel::prelude::*;
        use tessera_store::schema::users;
        diesel::update(users::table.find(&id))
            .set(users::enabled.eq(false))
            .execute(&mut *app.db.conn().unwrap())
            .unwrap();
    }
    let resp = app.password_grant("ada", "correct horse battery").await;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_error_body(&body, "invalid_grant", "disabled");
}

#[actix_web::test]
async fn missing_username_or_password_is_invalid_request() {
    let app = spawn_app().await;
    for form in [
        vec![
            ("client_id", "portal"),
            ("grant_type", "password"),
            ("password", "x"),
        ],
        vec![
            ("client_id", "portal"),
            ("grant_type", "password"),
            ("username", "admin"),
        ],
    ] {
        let resp = app.post_form(&app.token_url(), &form).await;
        assert_eq!(resp.status(), 400);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_error_body(&body, "invalid_request", "missing");
    }
}

#[actix_web::test]
async fn tok_06_a_client_without_the_password_grant_is_unauthorized_client() {
    let app = spawn_app().await;
    let secret = app.create_svc();
    let resp = app
        .post_basic(
            "svc",
            &secret,
            &[
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");
    assert!(body.get("access_token").is_none());
}

#[actix_web::test]
async fn repeated_failures_for_a_username_lock_it_from_that_address_without_checking_the_password()
{
    let app = spawn_app().await;
    add_user(&app, "ada", "correct horse battery");
    for _ in 0..5 {
        assert_eq!(
            app.password_grant("ada", "wrong horse battery")
                .await
                .status(),
            400
        );
    }
    // Locked: even the right password is refused, and the answer says when to retry.
    let locked = app.password_grant("ADA", "correct horse battery").await;
    assert_eq!(locked.status(), 429);
    let retry: i64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    let body: serde_json::Value = locked.json().await.unwrap();
    assert_error_body(&body, "invalid_grant", "retry after");
    // Another user is not affected.
    assert_eq!(
        app.password_grant("admin", ADMIN_PASSWORD).await.status(),
        200
    );
    // After the lockout the right password works again.
    app.clock.advance(301);
    assert_eq!(
        app.password_grant("ada", "correct horse battery")
            .await
            .status(),
        200
    );
}

/// Lockout is not a denial of service (issue 11): an attacker's wrong passwords lock the
/// username from the attacker's address only; the real user, elsewhere, signs in at once.
#[actix_web::test]
async fn wrong_passwords_from_one_address_do_not_lock_the_user_out_elsewhere() {
    let app = spawn_app_with(|c| c.issuer.trust_forwarded_headers = true).await;
    add_user(&app, "ada", "correct horse battery");
    for _ in 0..5 {
        let resp = app
            .password_grant_from("203.0.113.1", "ada", "wrong horse battery")
            .await;
        assert_eq!(resp.status(), 400);
    }
    // The attacker's address is locked for ada, even with the right password.
    let locked = app
        .password_grant_from("203.0.113.1", "ADA", "correct horse battery")
        .await;
    assert_eq!(locked.status(), 429);
    assert!((1..=300).contains(&retry_after(&locked)));
    // The real user, from another address, at once.
    let real = app
        .password_grant_from("198.51.100.7", "ada", "correct horse battery")
        .await;
    assert_eq!(real.status(), 200);
    // The state: the attacker's pair stays locked, the real user's leaves no trace, and the
    // username across addresses holds the five failures (the success took its attempt back).
    let attacker = throttle_entry(&app, "pair:203.0.113.1/ada").unwrap();
    assert!(attacker.locked_until.is_some(), "{attacker:?}");
    assert!(throttle_entry(&app, "pair:198.51.100.7/ada").is_none());
    let user = throttle_entry(&app, "user:ada").unwrap();
    assert_eq!((user.failures, user.locked_until), (5, None), "{user:?}");
    // Still locked from the attacker's address after the real user's success.
    let again = app
        .password_grant_from("203.0.113.1", "ada", "correct horse battery")
        .await;
    assert_eq!(again.status(), 429);
}

/// Guessing spread over many addresses (issue 11): past `user_global_max_failures` for one
/// username, each attempt must wait 1, 2, 4 … s after the one before — 429 with Retry-After
/// while the wait runs, for every address, without a lock the attacker can hold.
#[actix_web::test]
async fn guesses_from_many_addresses_slow_the_username_down_with_a_growing_wait() {
    let app = spawn_app_with(|c| {
        c.issuer.trust_forwarded_headers = true;
        c.issuer.throttle.user_global_max_failures = 4;
        c.issuer.throttle.user_global_max_delay_secs = 3;
    })
    .await;
    add_user(&app, "ada", "correct horse battery");
    for i in 1..=4 {
        let resp = app
            .password_grant_from(&format!("10.0.0.{i}"), "ada", "wrong")
            .await;
        assert_eq!(resp.status(), 400, "attempt {i}");
    }
    // The fourth failure reached the limit: the next attempt, from anywhere, waits 1 s.
    let waiting = app
        .password_grant_from("10.0.0.5", "ada", "correct horse battery")
        .await;
    assert_eq!(waiting.status(), 429);
    assert_eq!(retry_after(&waiting), 1);
    let body: serde_json::Value = waiting.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    // Other usernames are not slowed down.
    assert_eq!(
        app.password_grant_from("10.0.0.5", "admin", ADMIN_PASSWORD)
            .await
            .status(),
        200
    );
    // After the wait one attempt is checked; its failure doubles the wait, then it is capped.
    app.clock.advance(1);
    assert_eq!(
        app.password_grant_from("10.0.0.6", "ada", "wrong")
            .await
            .status(),
        400
    );
    let waiting = app.password_grant_from("10.0.0.7", "ada", "wrong").await;
    assert_eq!((waiting.status().as_u16(), retry_after(&waiting)), (429, 2));
    app.clock.advance(2);
    assert_eq!(
        app.password_grant_from("10.0.0.8", "ada", "wrong")
            .await
            .status(),
        400
    );
    let waiting = app.password_grant_from("10.0.0.9", "ada", "wrong").await;
    assert_eq!((waiting.status().as_u16(), retry_after(&waiting)), (429, 3));
    // The real user, once the wait is over, signs in; the wait its attempt started is lifted.
    app.clock.advance(3);
    assert_eq!(
        app.password_grant_from("10.0.0.10", "ada", "correct horse battery")
            .await
            .status(),
        200
    );
    let user = throttle_entry(&app, "user:ada").unwrap();
    assert_eq!((user.failures, user.locked_until), (6, None), "{user:?}");
    // No address was locked: each tried once or twice.
    for i in 1..=9 {
        let pair = throttle_entry(&app, &format!("pair:10.0.0.{i}/ada"));
        assert!(
            pair.as_ref().is_none_or(|p| p.locked_until.is_none()),
            "{pair:?}"
        );
    }
}

#[actix_web::test]
async fn repeated_failures_from_one_address_lock_the_address() {
    let app = spawn_app_with(|c| c.issuer.throttle.address_max_failures = 3).await;
    for name in ["u1", "u2", "u3"] {
        assert_eq!(
            app.password_grant(name, "wrong horse battery")
                .await
                .status(),
            400
        );
    }
    let resp = app.password_grant("admin", ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
}

#[actix_web::test]
async fn the_example_scripts_print_tokens() {
    let app = spawn_app().await;
    let secret = app.create_svc();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut realm_token = std::process::Command::new("bash");
    realm_token
        .arg(format!("{examples}/realm-token.sh"))
        .env("REALM", &app.issuer)
        .env("USERNAME", "admin")
        .env("PASSWORD", ADMIN_PASSWORD);
    let mut client_credentials = std::process::Command::new("bash");
    client_credentials
        .arg(format!("{examples}/client-credentials.sh"))
        .env("REALM", &app.issuer)
        .env("CLIENT_ID", "svc")
        .env("CLIENT_SECRET", &secret)
        .env("SCOPE", "jobs:read,clusters:read");
    for script in [realm_token, client_credentials] {
        let out = output_of(script).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).unwrap();
        verify_independently(token.trim(), &app.jwks().await);
    }
}

/// Sixty wrong passwords for one user from one address at the same moment (issue 11):
/// counting and deciding are one step, so no more attempts than the limit (5) reach the
/// password hash; the rest are 429, and afterwards the user is locked from that address even
/// for the right password.
#[actix_web::test]
async fn a_concurrent_burst_of_wrong_passwords_is_throttled_at_the_limit() {
    let app = spawn_app().await;
    app.provision_user("burst", "the right password", "root", "member");
    let mut handles = Vec::new();
    for _ in 0..60 {
        let (http, url) = (app.http.clone(), app.token_url());
        handles.push(actix_web::rt::spawn(async move {
            let form = [
                ("client_id", "portal"),
                ("grant_type", "password"),
                ("username", "burst"),
                ("password", "a wrong password"),
            ];
            http.post(url)
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for h in handles {
        statuses.push(h.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 400).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + throttled, 60, "{statuses:?}");
    assert!(
        (1..=5).contains(&checked),
        "{checked} attempts reached the hash: {statuses:?}"
    );
    // The state: the user's key is locked now.
    let resp = app.password_grant("burst", "the right password").await;
    assert_eq!(resp.status(), 429);
    let entry = throttle_entry(&app, "pair:127.0.0.1/burst").unwrap();
    assert!(entry.locked_until.is_some(), "{entry:?}");
    // Only the checked attempts were counted for the username across addresses.
    let user = throttle_entry(&app, "user:burst").unwrap();
    assert_eq!(user.failures, checked as i64, "{user:?}");
}
