//! Ending sessions and what was issued within them: RP-initiated logout ends the browser
//! session with every grant that came from it; Keycloak's `POST …/logout` with a
//! `refresh_token` (python-keycloak's `logout()`) ends that token's grant and session and
//! answers 204; and every client that took part and registered a `backchannel_logout_uri` is
//! sent an OIDC Back-Channel Logout token.

use actix_web::{HttpRequest, HttpResponse, web};
use std::time::Duration;
use tessera_core::id::random_token;
use tessera_core::model::Realm;
use tessera_store as store;
use tessera_token::SigningAlg;

use crate::client_auth;
use crate::error::{IssuerError, OAuthCode};
use crate::form::Form;
use crate::state::IssuerState;
use crate::token::client_addr;

/// The event a logout token carries (OIDC Back-Channel Logout 1.0 §2.4).
const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a relying party has to answer a logout token.
const BACKCHANNEL_TIMEOUT: Duration = Duration::from_secs(5);
/// A logout token is accepted for this long after it is issued.
const LOGOUT_TOKEN_TTL_SECS: i64 = 120;

/// Ends the browser session whose cookie hashes to `session_sha256`, revokes every grant that
/// came from it, and notifies the clients that took part.
pub async fn end_session(
    state: &IssuerState,
    realm: &Realm,
    session_sha256: &str,
) -> Result<(), IssuerError> {
    let db = state.db.clone();
    let (realm_id, hash, now) = (realm.id.clone(), session_sha256.to_string(), state.now());
    let ended =
        web::block(move || store::sessions::end(&mut *db.conn()?, &realm_id, &hash, now)).await??;
    for (jti, exp) in &ended.revoked {
        state.access_token_revoked(jti, *exp);
    }
    let Some(user_id) = ended.user_id else {
        return Ok(());
    };
    tracing::info!(
        realm = %realm.name,
        access_tokens = ended.revoked.len(),
        clients = ended.client_ids.len(),
        "browser session ended"
    );
    notify_clients(state, realm, &user_id, session_sha256, &ended.client_ids).await
}

/// Sends a logout token to each of `client_ids` that registered a back-channel logout URI.
/// Delivery runs in the background: a slow or failing relying party never holds up the
/// browser, and failures are logged.
async fn notify_clients(
    state: &IssuerState,
    realm: &Realm,
    user_id: &str,
    session_sha256: &str,
    client_ids: &[String],
) -> Result<(), IssuerError> {
    let sid = crate::oidc::session_sid(session_sha256);
    for client_id in client_ids {
        let Some(client) = state.client(realm, client_id).await? else {
            continue;
        };
        let Some(uri) = client.settings.backchannel_logout_uri.clone() else {
            continue;
        };
        let token = logout_token(state, realm, &client.client_id, user_id, &sid)?;
        let http = state.backchannel_http()?;
        let (realm_name, client_id) = (realm.name.clone(), client.client_id.clone());
        actix_web::rt::spawn(deliver_logout_token(
            http, uri, token, realm_name, client_id,
        ));
    }
    Ok(())
}

/// A signed logout token for one client (OIDC Back-Channel Logout 1.0 §2.4).
fn logout_token(
    state: &IssuerState,
    realm: &Realm,
    client_id: &str,
    user_id: &str,
    sid: &str,
) -> Result<String, IssuerError> {
    let now = state.now();
    let claims = serde_json::json!({
        "iss": state.issuer_url(&realm.name),
        "sub": user_id,
        "aud": client_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_TTL_SECS,
        "jti": random_token::<16>(),
        "sid": sid,
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    });
    Ok(state
        .keys
        .current()
        .sign_jwt(SigningAlg::Rs256, "logout+jwt", &claims)?)
}

/// Posts a logout token to the client's back-channel URI and logs how it went.
async fn deliver_logout_token(
    http: reqwest::Client,
    uri: String,
    token: String,
    realm_name: String,
    client_id: String,
) {
    let sent = http
        .post(&uri)
        .form(&[("logout_token", token.as_str())])
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => {
            tracing::info!(realm = %realm_name, %client_id, "back-channel logout delivered");
        }
        Ok(r) => tracing::warn!(
            realm = %realm_name, %client_id, status = %r.status(),
            "back-channel logout refused by the client"
        ),
        Err(e) => tracing::warn!(
            realm = %realm_name, %client_id, error = %e,
            "back-channel logout could not be delivered"
        ),
    }
}

/// Revokes a grant (a refresh-token family) and the access tokens issued within it.
async fn revoke_grant(
    state: &IssuerState,
    realm: &Realm,
    family: &str,
    now: i64,
) -> Result<(), IssuerError> {
    let db = state.db.clone();
    let (realm_id, family) = (realm.id.clone(), family.to_string());
    let revoked = web::block(move || {
        store::refresh_tokens::revoke_family(&mut *db.conn()?, &realm_id, &family, now)
    })
    .await??;
    for (jti, exp) in &revoked {
        state.access_token_revoked(jti, *exp);
    }
    Ok(())
}

/// The HTTP client that delivers logout tokens: short timeouts, no redirects (a logout token
/// goes only to the registered URI).
pub fn backchannel_client() -> Result<reqwest::Client, IssuerError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(BACKCHANNEL_TIMEOUT)
        .connect_timeout(BACKCHANNEL_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| IssuerError::Internal(format!("cannot build the HTTP client: {e}")))
}

/// `POST …/logout` with `refresh_token` (Keycloak's form, python-keycloak's `logout()`): the
/// client authenticates as at the token endpoint; the token's grant is revoked and, when it
/// came from a browser sign-in, that session ends too. 204 on success.
pub async fn refresh_token_logout(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
    form: &Form,
) -> Result<HttpResponse, IssuerError> {
    let addr = client_addr(req, state.settings.trust_forwarded_headers);
    let client = client_auth::authenticate(state, req, form, realm, addr).await?;
    let presented = form.require("refresh_token")?;
    let invalid = || IssuerError::oauth(OAuthCode::InvalidGrant, "the refresh token is not valid");
    let now = state.now();
    let token = crate::token::find_by_hash(state, presented, store::refresh_tokens::state_by_hash)
        .await?
        .filter(|t| t.realm_id == realm.id)
        .ok_or_else(invalid)?;
    if token.client_id != client.client_id {
        return Err(IssuerError::oauth(
            OAuthCode::InvalidGrant,
            "the refresh token was issued to another client",
        ));
    }
    if !token.is_active(now) {
        return Err(IssuerError::oauth(
            OAuthCode::InvalidGrant,
            "the refresh token is expired, revoked or already used",
        ));
    }
    revoke_grant(state, realm, &token.family_id, now).await?;
    if let Some(session) = &token.session_id_sha256 {
        end_session(state, realm, session).await?;
    }
    tracing::info!(realm = %realm.name, client_id = %client.client_id, "signed out by refresh token");
    Ok(HttpResponse::NoContent()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .finish())
}
