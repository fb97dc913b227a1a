//! OpenID Connect: ID tokens (RS256 through the key set's OpenSSL-backed signer, `kid` in the
//! header, `at_hash`) and the userinfo endpoint (OIDC Core §5.3).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use tessera_core::model::{Client, Realm, User};
use tessera_store as store;
use tessera_token::{AccessTokenClaims, SigningAlg, VerifyOptions};

use crate::error::IssuerError;
use crate::state::IssuerState;

/// What an ID token says about one sign-in.
pub struct IdTokenInput<'a> {
    pub user_id: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    /// The browser session the sign-in belongs to (the hash of its cookie), if any.
    pub session: Option<&'a str>,
    /// How the sign-in was proven (`tessera_core::authn`): gives `amr` and `acr`.
    pub amr: &'a str,
}

/// The claims of an ID token (OIDC Core §2), with `sid` (OIDC Back-Channel Logout §2.1) naming
/// the browser session so a relying party can match a logout token to its own session.
#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: String,
    sub: &'a str,
    aud: [&'a str; 1],
    exp: i64,
    iat: i64,
    auth_time: i64,
    azp: &'a str,
    acr: &'static str,
    amr: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    at_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the access token's SHA-256, base64url.
fn at_hash(access_token: &str) -> String {
    use base64::Engine;
    let digest = ring::digest::digest(&ring::digest::SHA256, access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16])
}

/// The `sid` of a browser session: derived from the hash of its cookie (never the cookie),
/// so ID tokens and logout tokens agree without storing another value.
pub use tessera_core::authn::session_sid;

/// Mints an RS256 ID token for `client` with the realm's active RSA key. Signed by the key
/// set's OpenSSL-backed signer (josekit), like access tokens.
pub fn mint_id_token(
    state: &IssuerState,
    realm: &Realm,
    client: &Client,
    input: &IdTokenInput<'_>,
    access_token: &str,
) -> Result<String, IssuerError> {
    let now = state.now();
    let claims = IdTokenClaims {
        iss: state.issuer_url(&realm.name),
        sub: input.user_id,
        aud: [&client.client_id],
        exp: now + state.access_token_ttl(client),
        iat: now,
        auth_time: input.auth_time,
        azp: &client.client_id,
        acr: tessera_core::authn::acr_of(input.amr),
        amr: tessera_core::authn::amr_list(input.amr),
        nonce: input.nonce,
        at_hash: at_hash(access_token),
        sid: input.session.map(session_sid),
    };
    let claims = serde_json::to_value(&claims)
        .map_err(|e| IssuerError::Internal(format!("cannot encode the ID token: {e}")))?;
    Ok(state
        .keys
        .current()
        .sign_jwt(SigningAlg::Rs256, "JWT", &claims)?)
}

/// The subject of an ID token this realm issued (expired ones too: `id_token_hint` names a
/// past sign-in). `None` for anything else, including access tokens.
pub fn id_token_subject(state: &IssuerState, realm: &Realm, token: &str) -> Option<String> {
    let verifier = state.access_token_verifier().ok()?;
    let (header, claims) = verifier.verify_signature(token).ok()?;
    let is_id_token = header["alg"] == "RS256"
        && header["typ"]
            .as_str()
            .is_none_or(|t| t.eq_ignore_ascii_case("JWT"))
        && claims["iss"] == state.issuer_url(&realm.name).as_str();
    is_id_token
        .then(|| claims["sub"].as_str().map(str::to_string))
        .flatten()
}

/// The subject and client (`aud`) of an ID token this realm issued.
pub fn id_token_subject_and_client(
    state: &IssuerState,
    realm: &Realm,
    token: &str,
) -> Option<(String, String)> {
    let sub = id_token_subject(state, realm, token)?;
    let (_, claims) = state
        .access_token_verifier()
        .ok()?
        .verify_signature(token)
        .ok()?;
    let client = match &claims["aud"] {
        serde_json::Value::String(a) => a.clone(),
        serde_json::Value::Array(a) => a.first()?.as_str()?.to_string(),
        _ => return None,
    };
    Some((sub, client))
}

fn bearer_challenge(error: Option<(&str, &str)>) -> String {
    match error {
        None => "Bearer realm=\"tessera\"".into(),
        Some((code, description)) => format!(
            "Bearer realm=\"tessera\", error=\"{code}\", error_description=\"{}\"",
            tessera_core::error::wire_safe(description)
        ),
    }
}

fn userinfo_error(
    status: actix_web::http::StatusCode,
    challenge: String,
    error: Option<&str>,
    description: &str,
) -> HttpResponse {
    let mut resp = HttpResponse::build(status);
    resp.insert_header((header::WWW_AUTHENTICATE, challenge))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    match error {
        Some(e) => resp.json(serde_json::json!({"error": e, "error_description": description})),
        None => resp.finish(),
    }
}

/// `GET|POST /realms/{realm}/protocol/openid-connect/userinfo`
pub async fn userinfo(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let realm = state.realm(&realm).await?;
    let token = match presented_token(&state, &req, payload).await? {
        Ok(token) => token,
        Err(answer) => return Ok(answer),
    };
    let claims = match verified_claims(&state, &realm, &token)? {
        Ok(claims) => claims,
        Err(answer) => return Ok(answer),
    };
    if req.headers().contains_key(header::ORIGIN)
        && let Some(client) = state.client(&realm, &claims.client_id).await?
    {
        crate::state::share_with_origins(&req, &client);
    }
    if !claims.scope.split(' ').any(|s| s == "openid") {
        return Ok(userinfo_error(
            actix_web::http::StatusCode::FORBIDDEN,
            "Bearer realm=\"tessera\", error=\"insufficient_scope\", scope=\"openid\"".into(),
            Some("insufficient_scope"),
            "the token was not issued with the openid scope",
        ));
    }
    let user = match token_user(&state, &claims).await? {
        Ok(user) => user,
        Err(answer) => return Ok(answer),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(user_claims(&user, &claims.scope)))
}

/// The access token, sent once: in the `Authorization` header or a form body (RFC 6750 §2.1,
/// §2.2). `Err` is the answer when it is missing or sent twice.
async fn presented_token(
    state: &IssuerState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Result<String, HttpResponse>, IssuerError> {
    use actix_web::http::StatusCode;
    let header_token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let body_token = if is_form_post(req) {
        crate::form::read_form(req, payload, &state.settings)
            .await?
            .get("access_token")
            .map(str::to_string)
    } else {
        None
    };
    Ok(match (header_token, body_token) {
        (Some(_), Some(_)) => Err(userinfo_error(
            StatusCode::BAD_REQUEST,
            bearer_challenge(Some(("invalid_request", "send the token once"))),
            Some("invalid_request"),
            "send the token once: in the Authorization header or the body",
        )),
        (Some(t), None) | (None, Some(t)) if !t.is_empty() => Ok(t),
        _ => Err(userinfo_error(
            StatusCode::UNAUTHORIZED,
            bearer_challenge(None),
            None,
            "",
        )),
    })
}

fn is_form_post(req: &HttpRequest) -> bool {
    req.method() == actix_web::http::Method::POST
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
}

/// The answer to a token that cannot be used: 401 with `invalid_token` and why.
fn invalid_token(why: &str) -> HttpResponse {
    userinfo_error(
        actix_web::http::StatusCode::UNAUTHORIZED,
        bearer_challenge(Some(("invalid_token", why))),
        Some("invalid_token"),
        why,
    )
}

/// The claims of an access token this realm issued and that has not expired.
fn verified_claims(
    state: &IssuerState,
    realm: &Realm,
    token: &str,
) -> Result<Result<AccessTokenClaims, HttpResponse>, IssuerError> {
    let verifier = state.access_token_verifier()?;
    let issuer = state.issuer_url(&realm.name);
    let verified = verifier.verify_access_token(
        token,
        &VerifyOptions {
            issuer: &issuer,
            audience: state.audience(),
            now: state.now(),
            leeway_secs: state.settings.token_leeway_secs,
        },
    );
    Ok(verified.map_err(|e| invalid_token(&e.to_string())))
}

/// The enabled user a token not revoked speaks for; service accounts have no userinfo.
async fn token_user(
    state: &IssuerState,
    claims: &AccessTokenClaims,
) -> Result<Result<User, HttpResponse>, IssuerError> {
    let db = state.db.clone();
    let (jti, sub) = (claims.jti.clone(), claims.sub.clone());
    let found = web::block(move || -> Result<(bool, Option<User>), IssuerError> {
        let mut conn = db.conn()?;
        Ok((
            tessera_store::revoked::is_revoked(&mut conn, &jti)?,
            store::users::by_id(&mut conn, &sub)?,
        ))
    })
    .await??;
    Ok(match found {
        (true, _) => Err(invalid_token("the token has been revoked")),
        (false, Some(u)) if u.enabled && !u.is_service_account => Ok(u),
        _ => Err(invalid_token("the token's subject is not a user")),
    })
}

/// The claims the granted scopes release (OIDC Core §5.4): `profile` and `email`.
fn user_claims(user: &User, scope: &str) -> serde_json::Value {
    let scopes: Vec<&str> = scope.split(' ').collect();
    let mut body = serde_json::json!({"sub": user.id});
    if scopes.contains(&"profile") {
        let name = [user.given_name.as_deref(), user.family_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        body["preferred_username"] = user.username.clone().into();
        if !name.is_empty() {
            body["name"] = name.into();
        }
        if let Some(g) = &user.given_name {
            body["given_name"] = g.clone().into();
        }
        if let Some(f) = &user.family_name {
            body["family_name"] = f.clone().into();
        }
        body["updated_at"] = user.updated_at.into();
    }
    if scopes.contains(&"email")
        && let Some(e) = &user.email
    {
        body["email"] = e.clone().into();
        body["email_verified"] = user.email_verified.into();
    }
    body
}
