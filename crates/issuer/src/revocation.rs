//! Token revocation (RFC 7009) and introspection (RFC 7662).
//!
//! Both endpoints authenticate the caller like the token endpoint ([`client_auth`]) and take
//! the token from the form body. `token_type_hint` is never trusted: every token is first
//! tried as one of our JWT access tokens (signature by our own keys, `iss` of this realm),
//! then as an opaque refresh token (looked up by SHA-256). Neither endpoint says anything
//! about a token it cannot act on: revocation answers 200 with an empty body, introspection
//! `{"active":false}`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use std::sync::Arc;
use tessera_core::model::{Client, Realm};
use tessera_core::secret;
use tessera_store as store;
use tessera_store::refresh_tokens::RefreshTokenState;
use tessera_token::{AccessTokenClaims, VerifyOptions};

use crate::client_auth;
use crate::error::IssuerError;
use crate::form::{Form, read_form};
use crate::state::IssuerState;
use crate::token::client_addr;

/// Client authentication methods the revocation and introspection endpoints accept.
pub const REVOCATION_AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "none"];
/// Introspection is for confidential callers only (resource servers), so no `none`.
pub const INTROSPECTION_AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post"];

/// Accepts any `iat`/`exp`/`nbf`: revocation acts on expired tokens too (as a no-op).
const IGNORE_TIME: i64 = 1 << 40;

/// What a presented token turned out to be.
enum Found {
    /// One of our access tokens, signature and issuer verified (time not yet checked).
    Access(AccessTokenClaims),
    /// A refresh token of this realm.
    Refresh(RefreshTokenState),
    Unknown,
}

/// Parses the form and authenticates the caller, as at the token endpoint.
async fn authenticated_request(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(Form, Arc<Client>), IssuerError> {
    if !req.query_string().is_empty() {
        // Credentials and tokens in a URL end up in logs (RFC 6749 §2.3.1, RFC 7009 §2.1).
        return Err(IssuerError::invalid_request(
            "send every parameter in the form body; this endpoint takes no URL query",
        ));
    }
    let form = read_form(req, payload, &state.settings).await?;
    let addr = client_addr(req, state.settings.trust_forwarded_headers);
    let client = client_auth::authenticate(state, req, &form, realm, addr).await?;
    crate::state::share_with_origins(req, &client);
    Ok((form, client))
}

/// Finds out what `token` is. JWTs are verified with our own keys and this realm's `iss`;
/// anything else is looked up as a refresh token of this realm.
async fn identify(state: &IssuerState, realm: &Realm, token: &str) -> Result<Found, IssuerError> {
    if token.split('.').count() == 3 {
        let issuer = state.issuer_url(&realm.name);
        let verified = state.access_token_verifier()?.verify_access_token(
            token,
            &VerifyOptions {
                issuer: &issuer,
                audience: state.audience(),
                now: state.now(),
                leeway_secs: IGNORE_TIME,
            },
        );
        if let Ok(claims) = verified {
            return Ok(Found::Access(claims));
        }
    }
    let hash = secret::sha256_hex(token);
    let db = state.db.clone();
    let found =
        web::block(move || store::refresh_tokens::state_by_hash(&mut *db.conn()?, &hash)).await??;
    Ok(match found {
        Some(rt) if rt.realm_id == realm.id => Found::Refresh(rt),
        _ => Found::Unknown,
    })
}

fn no_store(mut resp: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    resp.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    resp
}

// ---- revocation ----

/// `POST /realms/{realm}/protocol/openid-connect/revoke` (RFC 7009).
pub async fn revoke(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let realm = state.realm(&realm).await?;
    let (form, client) = authenticated_request(&state, &realm, &req, payload).await?;
    let token = form.require("token")?;
    // token_type_hint is optional and only a hint (RFC 7009 §2.1): not read at all.
    match identify(&state, &realm, token).await? {
        Found::Access(claims) => revoke_access_token(&state, &realm, &client, claims).await?,
        Found::Refresh(rt) => revoke_refresh_family(&state, &realm, &client, rt).await?,
        Found::Unknown => {}
    }
    Ok(no_store(HttpResponse::Ok()).finish())
}

/// Records the `jti` of an unexpired access token issued to `client`. Another client's token
/// is left alone, silently (RFC 7009 §2.1: nothing about the token is revealed).
async fn revoke_access_token(
    state: &IssuerState,
    realm: &Realm,
    client: &Client,
    claims: AccessTokenClaims,
) -> Result<(), IssuerError> {
    let now = state.now();
    if claims.client_id != client.client_id || claims.exp <= now {
        return Ok(());
    }
    let db = state.db.clone();
    let realm_id = realm.id.clone();
    let (jti, exp) = (claims.jti.clone(), claims.exp);
    web::block(move || store::revoked::revoke(&mut *db.conn()?, &jti, &realm_id, exp, now))
        .await??;
    state.access_token_revoked(&claims.jti, claims.exp);
    tracing::info!(realm = %realm.name, client_id = %client.client_id, "access token revoked");
    Ok(())
}

/// Revokes the whole family of a refresh token of `client`, and the access tokens issued
/// under it. Another client's refresh token keeps working (REV-04).
async fn revoke_refresh_family(
    state: &IssuerState,
    realm: &Realm,
    client: &Client,
    rt: RefreshTokenState,
) -> Result<(), IssuerError> {
    if rt.client_id != client.client_id {
        return Ok(());
    }
    let now = state.now();
    let db = state.db.clone();
    let (realm_id, family) = (realm.id.clone(), rt.family_id.clone());
    let revoked_ats = web::block(move || {
        store::refresh_tokens::revoke_family(&mut *db.conn()?, &realm_id, &family, now)
    })
    .await??;
    for (jti, exp) in &revoked_ats {
        state.access_token_revoked(jti, *exp);
    }
    tracing::info!(
        realm = %realm.name,
        client_id = %client.client_id,
        access_tokens = revoked_ats.len(),
        "refresh token family revoked"
    );
    Ok(())
}

// ---- introspection ----

/// RFC 7662 §2.2 response. An inactive token has `active: false` and nothing else.
#[derive(Serialize, Default)]
struct Introspection {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
}

/// `POST /realms/{realm}/protocol/openid-connect/token/introspect` (RFC 7662). The caller must
/// be a confidential client of the realm (a resource server), so tokens cannot be scanned.
pub async fn introspect(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let realm = state.realm(&realm).await?;
    let (form, client) = authenticated_request(&state, &realm, &req, payload).await?;
    if !client.confidential {
        return Err(IssuerError::invalid_client(
            &realm.name,
            "introspection requires a confidential client; authenticate with client_secret_basic or client_secret_post",
        ));
    }
    let token = form.require("token")?;
    // token_type_hint is only a hint (RFC 7662 §2.1): every token type is tried regardless.
    let answer = match identify(&state, &realm, token).await? {
        Found::Access(claims) => introspect_access_token(&state, &realm, claims).await?,
        Found::Refresh(rt) => introspect_refresh_token(&state, &realm, &client, rt),
        Found::Unknown => Introspection::default(),
    };
    Ok(no_store(HttpResponse::Ok()).json(answer))
}

/// Active when unexpired, not revoked, and its subject still exists and is enabled.
async fn introspect_access_token(
    state: &IssuerState,
    realm: &Realm,
    claims: AccessTokenClaims,
) -> Result<Introspection, IssuerError> {
    let now = state.now();
    if claims.exp <= now || claims.iat > now + 60 {
        return Ok(Introspection::default());
    }
    let db = state.db.clone();
    let (jti, sub, realm_id) = (claims.jti.clone(), claims.sub.clone(), realm.id.clone());
    let (revoked, user) = web::block(move || -> Result<_, IssuerError> {
        let mut conn = db.conn()?;
        let revoked = store::revoked::is_revoked(&mut conn, &jti)?;
        let user = if revoked {
            None
        } else {
            store::users::by_id(&mut conn, &sub)?
        };
        Ok((revoked, user))
    })
    .await??;
    let Some(user) = user.filter(|u| !revoked && u.enabled && u.realm_id == realm_id) else {
        return Ok(Introspection::default());
    };
    Ok(Introspection {
        active: true,
        scope: (!claims.scope.is_empty()).then_some(claims.scope),
        client_id: Some(claims.client_id),
        username: Some(user.username),
        token_type: Some("Bearer"),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        sub: Some(claims.sub),
        aud: Some(claims.aud),
        iss: Some(claims.iss),
        jti: Some(claims.jti),
    })
}

/// Active when it is the caller's own, and neither revoked, rotated nor expired.
fn introspect_refresh_token(
    state: &IssuerState,
    realm: &Realm,
    client: &Client,
    rt: RefreshTokenState,
) -> Introspection {
    if rt.client_id != client.client_id || !rt.is_active(state.now()) {
        return Introspection::default();
    }
    Introspection {
        active: true,
        scope: Some(rt.scope),
        client_id: Some(rt.client_id),
        token_type: Some("refresh_token"),
        exp: Some(rt.expires_at.min(rt.family_expires_at)),
        iat: Some(rt.created_at),
        sub: Some(rt.user_id),
        iss: Some(state.issuer_url(&realm.name)),
        ..Introspection::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inactive_answer_has_no_other_members() {
        assert_eq!(
            serde_json::to_value(Introspection::default()).unwrap(),
            serde_json::json!({"active": false})
        );
    }
}
