//! Second factors over HTTP (no browser): TOTP enrolment on the account page, the sign-in's
//! second step (codes used once, recovery codes used once, throttled per user), MFA required
//! by a role or asked for by `acr_values`, `amr`/`acr` in ID tokens, the password grant's
//! refusal, a temporary password replaced at sign-in, and the account page's password change,
//! sessions and grants. The test clock is manual, so TOTP codes are computed for its time.

use crate::authorize::*;
use crate::helpers::*;
use base64::Engine;
use serde_json::Value;

const REALM_PATH: &str = "/realms/default";

/// The RFC 6238 code of `secret` (base32) at `unix`.
fn code_at(secret: &str, unix: i64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_string())
        .to_bytes()
        .unwrap();
    totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        None,
        String::new(),
    )
    .generate(unix as u64)
}

fn now(app: &TestApp) -> i64 {
    tessera_core::Clock::now(&app.clock)
}

fn pkce_url(app: &TestApp, extra: &[(&str, &str)]) -> String {
    let challenge = challenge(VERIFIER);
    let mut params = vec![
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    auth_url(app, &params)
}

/// Submits the sign-in form of a fresh authorization request with `username`/`password`.
async fn password_step(
    app: &TestApp,
    jar: &mut Jar,
    username: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let url = pkce_url(app, extra);
    submit_sign_in(
        app,
        jar,
        &url,
        &[
            ("username", username),
            ("password", password),
            ("action", "login"),
        ],
    )
    .await
}

/// Posts the form of a sign-in step page `html` to `login-actions/{step}` with `fields`.
async fn step(
    app: &TestApp,
    jar: &mut Jar,
    html: &str,
    step: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    post_page_form(
        app,
        jar,
        &format!("{REALM_PATH}/login-actions/{step}"),
        html,
        fields,
    )
    .await
}

/// Submits the second-factor page `html` with `code`.
async fn submit_code(app: &TestApp, jar: &mut Jar, html: &str, code: &str) -> reqwest::Response {
    step(app, jar, html, "second-factor", &[("code", code)]).await
}

/// Follows consent (when asked) to the code at the redirect URI.
async fn code_from(app: &TestApp, jar: &mut Jar, resp: reqwest::Response) -> String {
    let resp = if resp.status() == 200 {
        let html = resp.text().await.unwrap();
        assert!(html.contains("Allow"), "expected consent: {html}");
        step(app, jar, &html, "consent", &[("action", "allow")]).await
    } else {
        resp
    };
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(REDIRECT), "{location}");
    query_of(&location)["code"].clone()
}

/// Redeems `code` and returns (the token response, the ID token's claims).
async fn tokens_for(app: &TestApp, secret: &str, code: &str) -> (Value, Value) {
    let resp = redeem(app, secret, code, Some(VERIFIER)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let id_token = body["id_token"].as_str().unwrap();
    let payload = id_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    (body, claims)
}

fn amr(claims: &Value) -> Vec<String> {
    claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The text of the element with `id` (up to its first `<`).
fn element_text(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('<').unwrap()].to_string()
}

fn recovery_codes(html: &str) -> Vec<String> {
    html.split("<li><code>")
        .skip(1)
        .map(|s| s[..s.find('<').unwrap()].to_string())
        .collect()
}

async fn account(app: &TestApp, jar: &mut Jar) -> reqwest::Response {
    get(app, jar, &format!("{}{REALM_PATH}/account/", app.base)).await
}

/// Posts an account form (`path` under the account page) with the page's CSRF token.
async fn account_post(
    app: &TestApp,
    jar: &mut Jar,
    fields: &[(&str, &str)],
    path: &str,
) -> reqwest::Response {
    let html = account(app, jar).await.text().await.unwrap();
    let csrf = hidden(&html, "csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    post(app, jar, &format!("{REALM_PATH}/account/{path}"), &form).await
}

/// Sets up TOTP for the signed-in user of `jar` on the account page; returns the secret and
/// the recovery codes shown.
async fn enrol_totp(app: &TestApp, jar: &mut Jar) -> (String, Vec<String>) {
    let page = account_post(app, jar, &[], "totp/start").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<svg"), "a QR code is shown");
    let secret = element_text(&html, "totp-secret");
    let csrf = hidden(&html, "csrf");
    let wrong = post(
        app,
        jar,
        &format!("{REALM_PATH}/account/totp/confirm"),
        &[("csrf", &csrf), ("code", "000000")],
    )
    .await;
    assert_eq!(wrong.status(), 400);
    let html = wrong.text().await.unwrap();
    assert!(html.contains("not right"), "{html}");
    let csrf = hidden(&html, "csrf");
    let code = code_at(&secret, now(app));
    let done = post(
        app,
        jar,
        &format!("{REALM_PATH}/account/totp/confirm"),
        &[("csrf", &csrf), ("code", &code)],
    )
    .await;
    assert_eq!(done.status(), 200);
    let codes = recovery_codes(&done.text().await.unwrap());
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// Registers `web`, provisions a root-team member, signs them in (through consent) and enrols
/// TOTP on the account page; returns the signed-in jar, the user's id and what
/// `enrol_totp` returns (the TOTP secret and the recovery codes).
async fn signed_in_member_with_totp(
    app: &TestApp,
    username: &str,
    password: &str,
) -> (Jar, String, (String, Vec<String>)) {
    web_client(app);
    let id = app.provision_user(username, password, "root", "member");
    let mut jar = Jar::default();
    let resp = password_step(app, &mut jar, username, password, &[]).await;
    let _ = code_from(app, &mut jar, resp).await;
    let enrolled = enrol_totp(app, &mut jar).await;
    (jar, id, enrolled)
}

async fn password_grant(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    let resp = app.password_grant(username, password).await;
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[actix_web::test]
async fn totp_enrolled_on_the_account_page_is_asked_at_sign_in_and_codes_work_once() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    app.provision_user("carol", "carol-password-1", "root", "member");

    // A password sign-in says so: one factor.
    let mut jar = Jar::default();
    let resp = password_step(&app, &mut jar, "carol", "carol-password-1", &[]).await;
    let code = code_from(&app, &mut jar, resp).await;
    let (_, claims) = tokens_for(&app, &secret, &code).await;
    assert_eq!(amr(&claims), ["pwd"]);
    assert_eq!(claims["acr"], "1");

    let page = account(&app, &mut jar).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("carol") && html.contains("id=\"totp-status\">Off."));
    let (totp_secret, codes) = enrol_totp(&app, &mut jar).await;
    let html = account(&app, &mut jar).await.text().await.unwrap();
    assert!(html.contains("id=\"totp-status\">On."), "{html}");
    assert!(html.contains("id=\"recovery-left\">10 unused."));

    // The password grant cannot carry a second factor.
    let (status, body) = password_grant(&app, "carol", "carol-password-1").await;
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body, "invalid_grant", "second factor");

    // A new browser: the password alone leads to the second step, which is no session yet.
    let mut other = Jar::default();
    let resp = password_step(&app, &mut other, "carol", "carol-password-1", &[]).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Confirm it"), "{html}");
    let not_yet = account(&app, &mut other).await;
    assert_eq!(not_yet.status(), 303, "a pending sign-in is not signed in");
    // The code that confirmed the app was used: the same time step is refused.
    let replay = code_at(&totp_secret, now(&app));
    let resp = submit_code(&app, &mut other, &html, &replay).await;
    assert_eq!(resp.status(), 401);
    let html = resp.text().await.unwrap();
    assert!(html.contains("not right"), "{html}");
    app.clock.advance(30);
    let fresh = code_at(&totp_secret, now(&app));
    let resp = submit_code(&app, &mut other, &html, &fresh).await;
    let code = code_from(&app, &mut other, resp).await;
    let (_, claims) = tokens_for(&app, &secret, &code).await;
    assert_eq!(amr(&claims), ["pwd", "otp", "mfa"]);
    assert_eq!(claims["acr"], "2");
    assert!(account(&app, &mut other).await.status() == 200);

    // A recovery code signs in once.
    for (attempt, expect_ok) in [(0, true), (1, false)] {
        let mut jar = Jar::default();
        let resp = password_step(&app, &mut jar, "carol", "carol-password-1", &[]).await;
        let html = resp.text().await.unwrap();
        let typed = codes[0].to_uppercase();
        let resp = step(
            &app,
            &mut jar,
            &html,
            "second-factor",
            &[("recovery_code", &typed)],
        )
        .await;
        if expect_ok {
            let code = code_from(&app, &mut jar, resp).await;
            let (_, claims) = tokens_for(&app, &secret, &code).await;
            assert_eq!(claims["acr"], "2", "attempt {attempt}");
        } else {
            assert_eq!(resp.status(), 401, "attempt {attempt}");
            assert!(resp.text().await.unwrap().contains("already used"));
        }
    }
    let html = account(&app, &mut jar).await.text().await.unwrap();
    assert!(html.contains("id=\"recovery-left\">9 unused."), "{html}");
}

#[actix_web::test]
async fn second_factor_guesses_are_throttled_per_user() {
    let app = spawn_app().await;
    let (_, _, (totp_secret, _)) = signed_in_member_with_totp(&app, "gus", "gus-password-1").await;
    app.clock.advance(30);

    let mut attacker = Jar::default();
    let resp = password_step(&app, &mut attacker, "gus", "gus-password-1", &[]).await;
    let mut html = resp.text().await.unwrap();
    for _ in 0..5 {
        let resp = submit_code(&app, &mut attacker, &html, "123456").await;
        html = resp.text().await.unwrap();
    }
    // Locked: even the right code is not checked now.
    let right = code_at(&totp_secret, now(&app));
    let resp = submit_code(&app, &mut attacker, &html, &right).await;
    assert_eq!(resp.status(), 401);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Too many wrong codes"), "{html}");
    assert_eq!(account(&app, &mut attacker).await.status(), 303);
    // The lock is audited like a password lock.
    let admin = app
        .password_token("admin", ADMIN_PASSWORD, "audit:read")
        .await;
    let (status, audit) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/audit?limit=100",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{audit}");
    let text = audit.to_string();
    assert!(text.contains("user.second_factor"), "{text}");
}

#[actix_web::test]
async fn a_role_that_requires_mfa_forces_enrolment_and_ends_single_factor_sessions() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    app.provision_user("dora", "dora-password-1", "root", "member");
    // Deciding whether holders need a second factor needs what the role holds.
    let admin = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;

    // Dora signs in with her password before the policy.
    let mut jar = Jar::default();
    let resp = password_step(&app, &mut jar, "dora", "dora-password-1", &[]).await;
    let _ = code_from(&app, &mut jar, resp).await;

    let (status, roles) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/roles?filter=name%20eq%20%22member%22",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{roles}");
    let member = roles["roles"][0]["id"].as_str().unwrap().to_string();
    // A built-in role takes requires_mfa and nothing else.
    let (status, body) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/roles/{member}"),
            Some(&admin),
            Some(serde_json::json!({"description": "changed"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/roles/{member}"),
            Some(&admin),
            Some(serde_json::json!({"requires_mfa": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"]["requires_mfa"], true);

    // Her single-factor session no longer suffices; the password grant is refused.
    let page = get(&app, &mut jar, &pkce_url(&app, &[])).await;
    let html = page.text().await.unwrap();
    assert!(
        html.contains("id=\"sign-in\""),
        "asked to sign in again: {html}"
    );
    let (status, body) = password_grant(&app, "dora", "dora-password-1").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let resp = password_step(&app, &mut jar, "dora", "dora-password-1", &[]).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    let totp_secret = element_text(&html, "totp-secret");
    let resp = step(&app, &mut jar, &html, "enrol", &[("code", "999999")]).await;
    assert_eq!(resp.status(), 401);
    let html = resp.text().await.unwrap();
    assert_eq!(
        element_text(&html, "totp-secret"),
        totp_secret,
        "same secret"
    );
    let code = code_at(&totp_secret, now(&app));
    let resp = step(&app, &mut jar, &html, "enrol", &[("code", &code)]).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert_eq!(recovery_codes(&html).len(), 10);
    // The link back to the application, unescaped as a browser would.
    let href = hidden(
        &html.replace("id=\"continue\" href=", "name=\"continue\" value="),
        "continue",
    );
    let resp = get(&app, &mut jar, &format!("{}{href}", app.base)).await;
    let code = code_from(&app, &mut jar, resp).await;
    let (_, claims) = tokens_for(&app, &secret, &code).await;
    assert_eq!(claims["acr"], "2");
    assert_eq!(amr(&claims), ["pwd", "otp", "mfa"]);
}

#[actix_web::test]
async fn acr_values_2_asks_for_a_second_factor_and_1_does_not() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    app.provision_user("eve", "eve-password-1", "root", "member");
    let mut jar = Jar::default();
    let resp = password_step(
        &app,
        &mut jar,
        "eve",
        "eve-password-1",
        &[("acr_values", "1")],
    )
    .await;
    let code = code_from(&app, &mut jar, resp).await;
    let (_, claims) = tokens_for(&app, &secret, &code).await;
    assert_eq!(claims["acr"], "1");
    // The same session does not satisfy acr 2: sign in again, then set up a factor.
    let page = get(&app, &mut jar, &pkce_url(&app, &[("acr_values", "2")])).await;
    assert!(page.text().await.unwrap().contains("id=\"sign-in\""));
    let resp = password_step(
        &app,
        &mut jar,
        "eve",
        "eve-password-1",
        &[("acr_values", "2")],
    )
    .await;
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"totp-secret\""), "{html}");
    let discovery = app.discovery().await;
    assert_eq!(
        discovery["acr_values_supported"],
        serde_json::json!(["1", "2"])
    );
}

#[actix_web::test]
async fn a_temporary_password_is_replaced_at_the_next_sign_in() {
    use diesel::prelude::*;
    let app = spawn_app().await;
    let secret = web_client(&app);
    let id = app.provision_user("tom", "tom-temporary-1", "root", "member");
    diesel::sql_query(format!(
        "UPDATE users SET password_change_required = TRUE WHERE id = '{id}'"
    ))
    .execute(&mut app.db.conn().unwrap())
    .unwrap();

    let (status, body) = password_grant(&app, "tom", "tom-temporary-1").await;
    assert_eq!(status, 400);
    assert_description_contains(&body, "temporary");

    let mut jar = Jar::default();
    let resp = password_step(&app, &mut jar, "tom", "tom-temporary-1", &[]).await;
    let html = resp.text().await.unwrap();
    assert!(html.contains("Choose a new password"), "{html}");
    let resp = step(
        &app,
        &mut jar,
        &html,
        "new-password",
        &[
            ("password", "tom-own-password-1"),
            ("confirm", "tom-own-password-2"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 401);
    let html = resp.text().await.unwrap();
    assert!(html.contains("differ"));
    let resp = step(
        &app,
        &mut jar,
        &html,
        "new-password",
        &[
            ("password", "tom-own-password-1"),
            ("confirm", "tom-own-password-1"),
        ],
    )
    .await;
    let code = code_from(&app, &mut jar, resp).await;
    tokens_for(&app, &secret, &code).await;
    let user = tessera_store::users::by_id(&mut app.db.conn().unwrap(), &id)
        .unwrap()
        .unwrap();
    assert!(!user.password_change_required);
    let (status, _) = password_grant(&app, "tom", "tom-temporary-1").await;
    assert_eq!(status, 400, "the temporary password is gone");
    let (status, body) = password_grant(&app, "tom", "tom-own-password-1").await;
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn the_account_page_changes_the_password_and_ends_sessions_and_grants() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    app.provision_user("fay", "fay-password-1", "root", "member");

    let without = app
        .http
        .get(format!("{}{REALM_PATH}/account/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 303);
    let location = without.headers()["location"].to_str().unwrap();
    assert!(
        location.ends_with("/console/login?return_to=%2Frealms%2Fdefault%2Faccount%2F"),
        "{location}"
    );

    let mut jar = Jar::default();
    let resp = password_step(&app, &mut jar, "fay", "fay-password-1", &[]).await;
    let code = code_from(&app, &mut jar, resp).await;
    let (tokens, _) = tokens_for(&app, &secret, &code).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let mut laptop = Jar::default();
    let resp = password_step(&app, &mut laptop, "fay", "fay-password-1", &[]).await;
    let _ = code_from(&app, &mut laptop, resp).await;

    let html = account(&app, &mut jar).await.text().await.unwrap();
    let session_ids: Vec<String> = html
        .split("id=\"end-session-")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect();
    assert_eq!(
        session_ids.len(),
        1,
        "the other browser, not this one: {html}"
    );
    assert!(html.contains("this browser"));
    let grant_ids: Vec<String> = html
        .split("id=\"revoke-grant-")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect();
    assert_eq!(grant_ids.len(), 1, "{html}");

    // Revoking the grant kills its refresh token.
    let resp = account_post(
        &app,
        &mut jar,
        &[],
        &format!("grants/{}/revoke", grant_ids[0]),
    )
    .await;
    assert_eq!(resp.status(), 303);
    let resp = refresh_with(&app, "web", &secret, &refresh, None).await;
    assert_eq!(resp.status(), 400);
    // Someone else's id is refused and changes nothing.
    let resp = account_post(&app, &mut jar, &[], "sessions/not-a-session/end").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(account(&app, &mut laptop).await.status(), 200);
    // Signing the laptop out ends it.
    let resp = account_post(
        &app,
        &mut jar,
        &[],
        &format!("sessions/{}/end", session_ids[0]),
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(account(&app, &mut laptop).await.status(), 303);

    // A wrong current password changes nothing.
    let resp = account_post(
        &app,
        &mut jar,
        &[
            ("current_password", "wrong-password-1"),
            ("password", "fay-new-password-1"),
            ("confirm", "fay-new-password-1"),
        ],
        "password",
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("not right"));
    let mut check = Jar::default();
    let resp = password_step(&app, &mut check, "fay", "fay-password-1", &[]).await;
    assert_eq!(resp.status(), 303, "the old password still works");

    let resp = account_post(
        &app,
        &mut jar,
        &[
            ("current_password", "fay-password-1"),
            ("password", "fay-new-password-1"),
            ("confirm", "fay-new-password-1"),
        ],
        "password",
    )
    .await;
    assert_eq!(resp.status(), 303);
    // Other sessions ended; this one stays; the new password signs in, the old does not.
    assert_eq!(account(&app, &mut check).await.status(), 303);
    assert_eq!(account(&app, &mut jar).await.status(), 200);
    let mut again = Jar::default();
    let resp = password_step(&app, &mut again, "fay", "fay-password-1", &[]).await;
    assert_eq!(resp.status(), 401);
    let resp = password_step(&app, &mut again, "fay", "fay-new-password-1", &[]).await;
    assert_eq!(resp.status(), 303);
}

#[actix_web::test]
async fn one_recovery_code_sent_by_parallel_sign_ins_signs_in_once() {
    let app = spawn_app().await;
    let (mut jar, _, (_, codes)) = signed_in_member_with_totp(&app, "ivy", "ivy-password-1").await;

    // Four browsers at the second step, each sending the same recovery code at once.
    let mut pending = Vec::new();
    for _ in 0..4 {
        let mut jar = Jar::default();
        let resp = password_step(&app, &mut jar, "ivy", "ivy-password-1", &[]).await;
        let html = resp.text().await.unwrap();
        pending.push((jar, html));
    }
    let attempts = pending.iter_mut().map(|(jar, html)| {
        let (app, code) = (&app, codes[1].clone());
        async move {
            step(app, jar, html, "second-factor", &[("recovery_code", &code)])
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let passed = statuses.iter().filter(|s| **s != 401).count();
    assert_eq!(passed, 1, "{statuses:?}");
    // Exactly one of the four browsers is signed in, and the code is spent.
    let mut signed_in = 0;
    for (jar, _) in &mut pending {
        if account(&app, jar).await.status() == 200 {
            signed_in += 1;
        }
    }
    assert_eq!(signed_in, 1);
    let html = account(&app, &mut jar).await.text().await.unwrap();
    assert!(html.contains("id=\"recovery-left\">9 unused."), "{html}");
}

#[actix_web::test]
async fn an_administrator_removes_a_users_lost_second_factors() {
    let app = spawn_app().await;
    let (_, id, (_, _)) = signed_in_member_with_totp(&app, "lena", "lena-password-1").await;
    let (status, _) = password_grant(&app, "lena", "lena-password-1").await;
    assert_eq!(status, 400);

    let admin = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let path = format!("/api/v1/users/{id}/second-factors");
    let (status, body) = app
        .call(reqwest::Method::GET, &path, Some(&admin), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"totp": true, "passkeys": 0, "recovery_codes_left": 10, "required": false})
    );
    // Not through the API for oneself: the account page asks for the password.
    let (status, body) = app
        .call(
            reqwest::Method::DELETE,
            "/api/v1/users/me/second-factors",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    // A viewer cannot.
    app.provision_user("val", "val-password-1", "root", "viewer");
    let viewer = app
        .password_token("val", "val-password-1", "user:read")
        .await;
    let (status, _) = app
        .call(reqwest::Method::DELETE, &path, Some(&viewer), None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call(reqwest::Method::GET, &path, Some(&admin), None)
        .await;
    assert_eq!(status, 200);

    let (status, body) = app
        .call(reqwest::Method::DELETE, &path, Some(&admin), None)
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, body) = app
        .call(reqwest::Method::GET, &path, Some(&admin), None)
        .await;
    assert_eq!(body["totp"], false);
    assert_eq!(body["recovery_codes_left"], 0);
    let (status, body) = password_grant(&app, "lena", "lena-password-1").await;
    assert_eq!(status, 200, "{body}");
    let (_, audit) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/audit?limit=100",
            Some(&admin),
            None,
        )
        .await;
    assert!(audit.to_string().contains("user.second_factors_removed"));
}

/// The console's user page shows the second factors and removes them for a lost phone.
#[actix_web::test]
async fn the_console_shows_and_removes_a_users_second_factors() {
    let app = spawn_app().await;
    let (_, id, (_, _)) = signed_in_member_with_totp(&app, "max", "max-password-1").await;

    let admin = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let cookie = format!("tessera_console_at={admin}; tessera_console_csrf=c5rf");
    let page = app
        .http
        .get(format!("{}/realms/default/console/users/{id}", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("authenticator app, 10 recovery codes left"),
        "{html}"
    );
    let action = format!("/realms/default/console/users/{id}/second-factors/remove");
    assert!(html.contains(&action));
    let resp = app
        .http
        .post(format!("{}{action}", app.base))
        .header("cookie", &cookie)
        .form(&[("csrf", "c5rf")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let (_, body) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/users/{id}/second-factors"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(body["totp"], false, "{body}");
    let html = app
        .http
        .get(format!("{}/realms/default/console/users/{id}", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains(&action), "nothing left to remove");
}
