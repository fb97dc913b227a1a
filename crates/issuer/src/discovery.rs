//! Discovery (OIDC Discovery 1.0, RFC 8414) and the JWKS. Both are served from bytes built
//! once (JWKS: per key change; metadata: per realm, refreshed with the cache TTL).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use std::sync::Arc;
use tessera_core::permission::{CATALOG, OIDC_SCOPES};
use tessera_store as store;

use crate::error::IssuerError;
use crate::revocation::{INTROSPECTION_AUTH_METHODS, REVOCATION_AUTH_METHODS};
use crate::state::IssuerState;
use crate::token::{ACCESS_TOKEN_ALG, GRANT_TYPES};

/// Client authentication methods the token endpoint accepts.
pub const TOKEN_AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "none"];

/// The metadata document. Only what is implemented is advertised.
#[derive(Serialize)]
struct Metadata<'a> {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    end_session_endpoint: String,
    jwks_uri: String,
    grant_types_supported: &'a [&'a str],
    response_types_supported: [&'a str; 1],
    response_modes_supported: [&'a str; 2],
    code_challenge_methods_supported: [&'a str; 1],
    id_token_signing_alg_values_supported: [&'a str; 1],
    /// RFC 9207: every authorization response carries `iss`.
    authorization_response_iss_parameter_supported: bool,
    /// Request objects are refused with request_not_supported; OIDC Discovery defaults
    /// request_uri_parameter_supported to true, so say so.
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
    claims_parameter_supported: bool,
    prompt_values_supported: [&'a str; 3],
    claims_supported: [&'a str; 18],
    /// `acr` classes: `1` one factor, `2` more than one (`tessera_core::authn`).
    acr_values_supported: [&'a str; 2],
    /// OIDC Back-Channel Logout 1.0: logout tokens carry `sid`.
    backchannel_logout_supported: bool,
    backchannel_logout_session_supported: bool,
    token_endpoint_auth_methods_supported: &'a [&'a str],
    revocation_endpoint: String,
    revocation_endpoint_auth_methods_supported: &'a [&'a str],
    introspection_endpoint: String,
    introspection_endpoint_auth_methods_supported: &'a [&'a str],
    scopes_supported: Vec<String>,
    subject_types_supported: [&'a str; 1],
}

async fn metadata_bytes(state: &IssuerState, realm_name: &str) -> Result<Arc<[u8]>, IssuerError> {
    let key = realm_name.to_string();
    if let Some(bytes) = state.discovery_cache().get(&key) {
        return Ok(bytes);
    }
    let scopes = scopes_supported(state, realm_name).await?;
    let doc = metadata_document(state.issuer_url(realm_name), scopes);
    let bytes: Arc<[u8]> = serde_json::to_vec(&doc)
        .map_err(|e| IssuerError::Internal(e.to_string()))?
        .into();
    state.discovery_cache().put(key, Arc::clone(&bytes));
    Ok(bytes)
}

/// The OIDC scopes, the permission catalog and the realm's own scopes, sorted, once each.
async fn scopes_supported(
    state: &IssuerState,
    realm_name: &str,
) -> Result<Vec<String>, IssuerError> {
    let realm = state.realm(realm_name).await?;
    let db = state.db.clone();
    let custom =
        web::block(move || store::scopes::all_in_realm(&mut *db.conn()?, &realm.id)).await??;
    let mut scopes: Vec<String> = OIDC_SCOPES
        .iter()
        .chain(CATALOG)
        .map(|(s, _)| s.to_string())
        .chain(custom.into_iter().map(|s| s.name))
        .collect();
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// The claims an ID token or userinfo may carry.
const CLAIMS_SUPPORTED: [&str; 18] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "azp",
    "at_hash",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "email",
    "email_verified",
    "sid",
    "acr",
    "amr",
];

fn metadata_document(issuer: String, scopes: Vec<String>) -> Metadata<'static> {
    Metadata {
        authorization_endpoint: format!("{issuer}/protocol/openid-connect/auth"),
        userinfo_endpoint: format!("{issuer}/protocol/openid-connect/userinfo"),
        end_session_endpoint: format!("{issuer}/protocol/openid-connect/logout"),
        response_modes_supported: crate::authorize::RESPONSE_MODES,
        code_challenge_methods_supported: ["S256"],
        id_token_signing_alg_values_supported: ["RS256"],
        authorization_response_iss_parameter_supported: true,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        claims_parameter_supported: false,
        prompt_values_supported: ["none", "login", "consent"],
        claims_supported: CLAIMS_SUPPORTED,
        acr_values_supported: tessera_core::authn::ACR_VALUES,
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
        token_endpoint: format!("{issuer}/protocol/openid-connect/token"),
        jwks_uri: format!("{issuer}/protocol/openid-connect/certs"),
        revocation_endpoint: format!("{issuer}/protocol/openid-connect/revoke"),
        revocation_endpoint_auth_methods_supported: REVOCATION_AUTH_METHODS,
        introspection_endpoint: format!("{issuer}/protocol/openid-connect/token/introspect"),
        introspection_endpoint_auth_methods_supported: INTROSPECTION_AUTH_METHODS,
        issuer,
        grant_types_supported: GRANT_TYPES,
        response_types_supported: ["code"],
        token_endpoint_auth_methods_supported: TOKEN_AUTH_METHODS,
        scopes_supported: scopes,
        subject_types_supported: ["public"],
    }
}

fn public_json(bytes: Arc<[u8]>, max_age: u32) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={max_age}")))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(bytes.to_vec())
}

/// `GET /realms/{realm}/.well-known/openid-configuration` and
/// `GET /.well-known/oauth-authorization-server/realms/{realm}` (RFC 8414 §3).
pub async fn metadata(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
) -> Result<HttpResponse, IssuerError> {
    Ok(public_json(metadata_bytes(&state, &realm).await?, 60))
}

/// `GET /realms/{realm}/protocol/openid-connect/certs`. Clients may cache it as long as a new
/// key waits before signing (the activation delay).
pub async fn jwks(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
) -> Result<HttpResponse, IssuerError> {
    state.realm(&realm).await?;
    Ok(public_json(
        state.keys.current().jwks_json(),
        state.settings.jwks_max_age_secs,
    ))
}

/// Keycloak's realm document (`GET /realms/{realm}`), for clients that read the realm's public
/// key from it: python-keycloak's `KeycloakOpenID.public_key()`, and code that wraps that key
/// in PEM to verify access tokens.
#[derive(Serialize)]
struct RealmInfo<'a> {
    realm: &'a str,
    /// Base64 DER SubjectPublicKeyInfo, without PEM armour, of the key that signs access
    /// tokens now. After a rotation it is the new key, while tokens signed by the previous one
    /// still verify only with the JWKS.
    public_key: String,
    #[serde(rename = "token-service")]
    token_service: String,
    #[serde(rename = "account-service")]
    account_service: String,
    /// Keycloak's "not before" revocation time; Tessera revokes per token, never by time.
    #[serde(rename = "tokens-not-before")]
    tokens_not_before: i64,
}

/// `GET /realms/{realm}`: Keycloak's realm info document.
pub async fn realm_info(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
) -> Result<HttpResponse, IssuerError> {
    use base64::Engine;
    let realm = state.realm(&realm).await?;
    let keys = state.keys.current();
    let key = keys
        .signing_key(ACCESS_TOKEN_ALG)
        .ok_or_else(|| IssuerError::Internal(format!("no {} key", ACCESS_TOKEN_ALG.jose_name())))?;
    let issuer = state.issuer_url(&realm.name);
    let doc = RealmInfo {
        realm: &realm.name,
        public_key: base64::engine::general_purpose::STANDARD.encode(key.public_key_der()),
        token_service: format!("{issuer}/protocol/openid-connect"),
        account_service: format!("{issuer}/account"),
        tokens_not_before: 0,
    };
    let bytes: Arc<[u8]> = serde_json::to_vec(&doc)
        .map_err(|e| IssuerError::Internal(e.to_string()))?
        .into();
    Ok(public_json(bytes, state.settings.jwks_max_age_secs))
}
