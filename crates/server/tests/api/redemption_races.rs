//! Concurrent redemptions of one code or one refresh token over HTTP (issue 11), on whichever
//! backend the run uses: at most one request wins each race, and afterwards no token of the
//! grant works — not the winner's refresh token, nor any access token issued under it.

use crate::authorize::{REDIRECT, redeem, web_client};
use crate::helpers::*;
use reqwest::Method;
use serde_json::Value;
use tessera_store as store;

/// Races per kind; each sends RACERS requests at once (2 × 25 × 4 = 200 redemptions).
const RACES: usize = 25;
const RACERS: usize = 4;

fn admin_id(app: &TestApp) -> (String, String) {
    let conn = &mut *app.db.conn().unwrap();
    let realm = tessera_store::realms::by_name(conn, "default")
        .unwrap()
        .unwrap();
    let admin = tessera_store::users::by_username(conn, &realm.id, "admin")
        .unwrap()
        .unwrap();
    (realm.id, admin.id)
}

/// A fresh code for the `web` client, stored as the authorization endpoint would.
fn new_code(app: &TestApp, realm_id: &str, user_id: &str) -> String {
    let value = tessera_core::id::random_token::<32>();
    let now = tessera_core::Clock::now(&app.clock);
    store::codes::insert(
        &mut app.db.conn().unwrap(),
        &tessera_core::model::AuthorizationCode {
            code_sha256: tessera_core::secret::sha256_hex(&value),
            realm_id: realm_id.into(),
            client_id: "web".into(),
            user_id: user_id.into(),
            session_id_sha256: None,
            redirect_uri: REDIRECT.into(),
            scope: "openid api_key:read".into(),
            nonce: None,
            code_challenge: None,
            code_challenge_method: None,
            auth_time: now,
            grant_id: tessera_core::id::new_uuid(),
            expires_at: now + 60,
            consumed_at: None,
            created_at: now,
            amr: "pwd".into(),
        },
    )
    .unwrap();
    value
}

async fn answer(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn refresh(app: &TestApp, secret: &str, token: &str) -> (u16, Value) {
    answer(
        app.post_basic(
            "web",
            secret,
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await,
    )
    .await
}

/// At most one winner, and nothing of the grant works afterwards.
async fn assert_grant_dead(
    app: &TestApp,
    secret: &str,
    answers: &[(u16, Value)],
    earlier: &[String],
) {
    let winners: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    assert!(winners.len() <= 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 400, "{body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }
    let mut access: Vec<String> = earlier.to_vec();
    for w in &winners {
        access.push(w["access_token"].as_str().unwrap().to_string());
        let (status, body) = refresh(app, secret, w["refresh_token"].as_str().unwrap()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "the winner's refresh token still works"
        );
    }
    for token in &access {
        let (status, body) = app
            .call(Method::GET, "/v1/auth/test", Some(token), None)
            .await;
        assert_eq!(
            status, 401,
            "an access token of the grant still works: {body}"
        );
    }
}

#[actix_web::test]
async fn parallel_redemptions_of_one_code_leave_nothing_of_its_grant_working() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let (realm_id, user_id) = admin_id(&app);
    for _ in 0..RACES {
        let code = new_code(&app, &realm_id, &user_id);
        let (a, b, c, d) = tokio::join!(
            redeem(&app, &secret, &code, None),
            redeem(&app, &secret, &code, None),
            redeem(&app, &secret, &code, None),
            redeem(&app, &secret, &code, None),
        );
        let mut answers = Vec::with_capacity(RACERS);
        for r in [a, b, c, d] {
            answers.push(answer(r).await);
        }
        assert_grant_dead(&app, &secret, &answers, &[]).await;
    }
}

#[actix_web::test]
async fn parallel_refreshes_with_one_token_leave_nothing_of_its_family_working() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let (realm_id, user_id) = admin_id(&app);
    for _ in 0..RACES {
        let code = new_code(&app, &realm_id, &user_id);
        let (status, first) = answer(redeem(&app, &secret, &code, None).await).await;
        assert_eq!(status, 200, "{first}");
        let token = first["refresh_token"].as_str().unwrap();
        let (a, b, c, d) = tokio::join!(
            refresh(&app, &secret, token),
            refresh(&app, &secret, token),
            refresh(&app, &secret, token),
            refresh(&app, &secret, token),
        );
        let earlier = [first["access_token"].as_str().unwrap().to_string()];
        assert_grant_dead(&app, &secret, &[a, b, c, d], &earlier).await;
    }
}
