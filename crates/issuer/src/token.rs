//! The token endpoint: `client_credentials` and `password` grants.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use std::net::IpAddr;
use tessera_core::metrics::SignInResult;
use tessera_core::model::{Client, GrantType, Realm};
use tessera_core::{ScopeSet, id::random_token};
use tessera_store as store;
use tessera_token::{AccessTokenClaims, SigningAlg};

use crate::client_auth;
use crate::error::{IssuerError, OAuthCode};
use crate::form::{Form, read_form};
use crate::state::IssuerState;
use crate::throttle;

/// The algorithm of every access token; the realm info document publishes this key.
pub const ACCESS_TOKEN_ALG: SigningAlg = SigningAlg::Es256;

/// Grant types this server implements; discovery lists exactly these.
pub const GRANT_TYPES: &[&str] = GrantType::NAMES;

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    /// RFC 8693 §2.2.1: set on token-exchange responses only.
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_token_type: Option<&'static str>,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    /// The access token's id, for grants that must be able to revoke it.
    #[serde(skip)]
    jti: String,
}

/// `POST /realms/{realm}/protocol/openid-connect/token`
pub async fn token(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    token_for_realm(&state, &realm, &req, payload).await
}

/// `POST /oauth/token`: the default realm's token endpoint at the short path of seed 001.
pub async fn token_default_realm(
    state: web::Data<IssuerState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    token_for_realm(&state, crate::DEFAULT_REALM, &req, payload).await
}

/// What a token request revealed before it ended, for its metrics and audit events.
pub(crate) struct TokenSeen {
    /// The grant type if it is one of [`GRANT_TYPES`], else `other`.
    grant: &'static str,
    realm_id: Option<String>,
    addr: Option<IpAddr>,
    /// The client_id the request presented (shortened), registered or not.
    pub(crate) presented_client: Option<String>,
    /// Whether `presented_client` names a registered client: only those label the metrics.
    pub(crate) known_client: bool,
    /// Whether this request's client-authentication failure locked its address.
    pub(crate) client_locked: bool,
}

impl TokenSeen {
    pub(crate) fn new() -> Self {
        Self {
            grant: "other",
            realm_id: None,
            addr: None,
            presented_client: None,
            known_client: false,
            client_locked: false,
        }
    }
}

/// Answers the request, then counts it and, if it failed for a reason an operator should see
/// (client authentication, an invalid code or refresh token), audits it. Successes write
/// nothing here: the client_credentials path stays free of database writes.
async fn token_for_realm(
    state: &IssuerState,
    realm_name: &str,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let started = std::time::Instant::now();
    let mut seen = TokenSeen::new();
    let result = answer_token_request(state, realm_name, req, payload, &mut seen).await;
    let client_label = match (&seen.presented_client, seen.known_client) {
        (Some(id), true) => id.as_str(),
        _ => "unknown",
    };
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.metric_result(),
    };
    state.metrics.token_request(
        seen.grant,
        outcome,
        client_label,
        started.elapsed().as_secs_f64(),
    );
    if let Err(e) = &result {
        audit_token_failure(state, &seen, e).await;
    }
    result
}

/// Audits a failed token request: a client-authentication failure (and the lock it caused),
/// or `invalid_grant` on a code, refresh token or API key. A password grant's failure is
/// audited as a sign-in ([`check_password`]). Best effort: a failed write is logged, the
/// answer stays the request's own.
async fn audit_token_failure(state: &IssuerState, seen: &TokenSeen, error: &IssuerError) {
    let Some(realm_id) = seen.realm_id.clone() else {
        return;
    };
    let Some((action, detail)) = token_failure_event(seen, error) else {
        return;
    };
    if seen.client_locked {
        state.metrics.throttle_lock("client_address");
    }
    let audit = TokenFailureAudit {
        realm_id,
        actor: format!(
            "client:{}",
            seen.presented_client.as_deref().unwrap_or("unknown")
        ),
        addr: seen.addr.map(|a| a.to_string()).unwrap_or_default(),
        action,
        detail: detail.to_string(),
        locked_secs: seen
            .client_locked
            .then_some(state.settings.throttle.lockout_secs),
        now: state.now(),
    };
    let db = state.db.clone();
    let written = web::block(move || audit.write(&mut *db.conn()?)).await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot audit a failed token request"),
        Err(e) => tracing::warn!(error = %e, "cannot audit a failed token request"),
    }
}

/// The action and detail to audit for a failed token request, or `None` for failures an
/// operator need not see (and for the password grant's, audited as sign-ins).
fn token_failure_event(
    seen: &TokenSeen,
    error: &IssuerError,
) -> Option<(&'static str, serde_json::Value)> {
    let IssuerError::OAuth {
        code, description, ..
    } = error
    else {
        return None;
    };
    match code {
        OAuthCode::InvalidClient => Some((
            "client.authenticate",
            serde_json::json!({
                "client_id": seen.presented_client,
                "grant_type": seen.grant,
                "reason": description,
            }),
        )),
        OAuthCode::InvalidGrant if seen.grant != "password" => Some((
            "token.request",
            serde_json::json!({
                "client_id": seen.presented_client,
                "grant_type": seen.grant,
                "error": code.as_str(),
                "reason": description,
            }),
        )),
        _ => None,
    }
}

/// The audit events of one failed token request, ready to write off the async runtime.
struct TokenFailureAudit {
    realm_id: String,
    actor: String,
    addr: String,
    action: &'static str,
    detail: String,
    /// Set when the failure locked the client's address, for how long.
    locked_secs: Option<i64>,
    now: i64,
}

impl TokenFailureAudit {
    fn write(&self, conn: &mut tessera_store::DbConnection) -> Result<(), IssuerError> {
        use tessera_store::provision::{Actor, Audited, audit_event};
        let actor = Actor {
            name: &self.actor,
            source_addr: &self.addr,
        };
        let failure = Audited {
            action: self.action,
            target: actor.name,
            outcome: "failure",
            detail: &self.detail,
        };
        audit_event(conn, &self.realm_id, &actor, &failure, self.now)?;
        let Some(locked_secs) = self.locked_secs else {
            return Ok(());
        };
        let lock = serde_json::json!({
            "reason": "client authentication failures",
            "locked_secs": locked_secs,
        });
        let lock = Audited {
            action: "throttle.lock",
            target: &format!("client_addr:{}", self.addr),
            outcome: "success",
            detail: &lock.to_string(),
        };
        audit_event(conn, &self.realm_id, &actor, &lock, self.now)?;
        Ok(())
    }
}

async fn answer_token_request(
    state: &IssuerState,
    realm_name: &str,
    req: &HttpRequest,
    payload: web::Payload,
    seen: &mut TokenSeen,
) -> Result<HttpResponse, IssuerError> {
    let realm = state.realm(realm_name).await?;
    seen.realm_id = Some(realm.id.clone());
    refuse_url_query(req)?;
    let form = read_form(req, payload, &state.settings).await?;
    let grant_type = form.require("grant_type")?;
    let grant = parse_grant_type(grant_type)?;
    seen.grant = grant.as_str();
    let addr = client_addr(req, state.settings.trust_forwarded_headers);
    seen.addr = addr;
    let client = client_auth::authenticate_seen(state, req, &form, &realm, addr, seen).await?;
    crate::state::share_with_origins(req, &client);
    if !client.allows_grant(grant) {
        return Err(IssuerError::oauth(
            OAuthCode::UnauthorizedClient,
            format!(
                "client {} may not use the {grant_type} grant",
                client.client_id
            ),
        ));
    }
    let response = match grant {
        GrantType::ClientCredentials => client_credentials(state, &realm, &client, &form)?,
        GrantType::Password => password(state, &realm, &client, &form, addr).await?,
        GrantType::AuthorizationCode => authorization_code(state, &realm, &client, &form).await?,
        GrantType::RefreshToken => refresh(state, &realm, &client, &form).await?,
        GrantType::TokenExchange => exchange_api_key(state, &realm, &client, &form).await?,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(response))
}

/// Credentials in a URL end up in logs and histories (RFC 6749 §2.3.1, §3.2).
fn refuse_url_query(req: &HttpRequest) -> Result<(), IssuerError> {
    if req.query_string().is_empty() {
        return Ok(());
    }
    Err(IssuerError::invalid_request(
        "send every parameter in the form body; the token endpoint takes no URL query",
    ))
}

fn parse_grant_type(grant_type: &str) -> Result<GrantType, IssuerError> {
    grant_type.parse::<GrantType>().map_err(|_| {
        IssuerError::oauth(
            OAuthCode::UnsupportedGrantType,
            format!(
                "grant_type {grant_type} is not supported; use one of: {}",
                GRANT_TYPES.join(", ")
            ),
        )
    })
}

/// The scope to grant: what was asked for (every name allowed for the client), or the
/// client's defaults when nothing was asked for.
fn granted_scope(client: &Client, requested: Option<&str>) -> Result<ScopeSet, IssuerError> {
    let Some(requested) = requested else {
        return Ok(client.default_scopes.clone());
    };
    let asked = ScopeSet::parse(requested)
        .map_err(|e| IssuerError::oauth(OAuthCode::InvalidScope, e.message))?;
    let refused = asked.not_in(&client.allowed_scopes);
    if !refused.is_empty() {
        return Err(IssuerError::oauth(
            OAuthCode::InvalidScope,
            format!(
                "client {} may not request: {}",
                client.client_id,
                refused.join(" ")
            ),
        ));
    }
    Ok(asked)
}

fn mint(
    state: &IssuerState,
    realm: &Realm,
    client: &Client,
    subject: &str,
    scope: &ScopeSet,
) -> Result<TokenResponse, IssuerError> {
    mint_until(state, realm, client, subject, scope, None)
}

/// Mints an access token, expiring at `not_after` if that comes before the usual lifetime.
fn mint_until(
    state: &IssuerState,
    realm: &Realm,
    client: &Client,
    subject: &str,
    scope: &ScopeSet,
    not_after: Option<i64>,
) -> Result<TokenResponse, IssuerError> {
    let now = state.now();
    let ttl = match not_after {
        Some(end) => state.access_token_ttl(client).min(end - now),
        None => state.access_token_ttl(client),
    };
    let claims = AccessTokenClaims {
        iss: state.issuer_url(&realm.name),
        sub: subject.to_string(),
        aud: state.audience().to_string(),
        client_id: client.client_id.clone(),
        scope: scope.to_string(),
        iat: now,
        exp: now + ttl,
        jti: random_token::<16>(),
    };
    let access_token = state
        .keys
        .current()
        .sign_access_token(ACCESS_TOKEN_ALG, &claims)?;
    Ok(TokenResponse {
        access_token,
        issued_token_type: None,
        token_type: "Bearer",
        expires_in: ttl,
        scope: claims.scope,
        refresh_token: None,
        id_token: None,
        jti: claims.jti,
    })
}

/// Adds an ID token for this sign-in when `openid` was granted.
fn add_id_token(
    state: &IssuerState,
    realm: &Realm,
    client: &Client,
    scope: &ScopeSet,
    response: &mut TokenResponse,
    sign_in: &crate::oidc::IdTokenInput<'_>,
) -> Result<(), IssuerError> {
    if scope.contains("openid") {
        response.id_token = Some(crate::oidc::mint_id_token(
            state,
            realm,
            client,
            sign_in,
            &response.access_token,
        )?);
    }
    Ok(())
}

/// Scopes that need an end user, which client_credentials has not.
const END_USER_SCOPES: [&str; 2] = ["openid", "offline_access"];

/// RFC 6749 §4.4: confidential clients only; the subject is the client's service account.
/// No refresh token, no ID token, and no database write.
fn client_credentials(
    state: &IssuerState,
    realm: &Realm,
    client: &Client,
    form: &Form,
) -> Result<TokenResponse, IssuerError> {
    if !client.confidential {
        return Err(IssuerError::oauth(
            OAuthCode::UnauthorizedClient,
            "client_credentials needs a confidential client",
        ));
    }
    // An ID token or offline access makes no sense without an end user (OIDC Core §3.1.3.3):
    // asked for (python-keycloak sends `openid` by default), they are dropped, never refused.
    let requested = form.get("scope").map(|s| {
        s.split([' ', ','])
            .filter(|n| !n.is_empty() && !END_USER_SCOPES.contains(n))
            .collect::<Vec<_>>()
            .join(" ")
    });
    let mut scope = granted_scope(client, requested.as_deref().filter(|s| !s.is_empty()))?;
    for s in END_USER_SCOPES {
        scope.remove(s);
    }
    let subject = client.service_account_user_id.as_deref().ok_or_else(|| {
        IssuerError::Internal(format!(
            "client {} has no service account",
            client.client_id
        ))
    })?;
    mint(state, realm, client, subject, &scope)
}

/// RFC 6749 §4.3, for clients that enable it. Throttled per username and address before any
/// hashing; an unknown user costs one dummy hash like a known one.
async fn password(
    state: &IssuerState,
    realm: &Realm,
    client: &Client,
    form: &Form,
    addr: Option<IpAddr>,
) -> Result<TokenResponse, IssuerError> {
    let username = form.require("username")?.to_string();
    let password = form.require("password")?.to_string();
    let scope = granted_scope(client, form.get("scope"))?;
    let by = SignInBy {
        method: "password_grant",
        client_id: &client.client_id,
        addr,
    };
    let user = check_password(state, realm, username, password, &by).await?;
    crate::signin::check_password_grant_allowed(state, realm, &user).await?;
    let mut response = mint(state, realm, client, &user.id, &scope)?;
    if client.allows_grant(GrantType::RefreshToken) {
        start_password_grant(state, realm, client, &user.id, &scope, &mut response).await?;
    }
    Ok(response)
}

/// As Keycloak does: a client registered for refresh gets a refresh token (and, with
/// `openid`, an ID token) on the password grant, so libraries can refresh and log out after
/// `token()`.
async fn start_password_grant(
    state: &IssuerState,
    realm: &Realm,
    client: &Client,
    user_id: &str,
    scope: &ScopeSet,
    response: &mut TokenResponse,
) -> Result<(), IssuerError> {
    let now = state.now();
    let grant_id = tessera_core::id::new_uuid();
    let stored_scope = scope.to_string();
    let grant = GrantOf {
        family: &grant_id,
        user_id,
        scope: &stored_scope,
        auth_time: now,
        session: None,
        family_expires_at: None,
        amr: tessera_core::authn::PASSWORD,
    };
    let value = start_grant(state, realm, client, &grant, response, now).await?;
    response.refresh_token = Some(value);
    add_id_token(state, realm, client, scope, response, &grant.sign_in(None))
}

/// Records a new grant's first refresh token along with its access token; returns the
/// refresh token's value.
async fn start_grant(
    state: &IssuerState,
    realm: &Realm,
    client: &Client,
    grant: &GrantOf<'_>,
    response: &TokenResponse,
    now: i64,
) -> Result<String, IssuerError> {
    let (value, row) = refresh_row(state, realm, client, grant);
    let issued = issued_with(response, now, Some(row));
    let db = state.db.clone();
    let realm_id = realm.id.clone();
    let grant_id = grant.family.to_string();
    web::block(move || {
        tessera_store::refresh_tokens::start_grant(&mut *db.conn()?, &realm_id, &grant_id, &issued)
    })
    .await??;
    Ok(value)
}

/// What a grant records of the tokens it issues, so that a replay can revoke them.
fn issued_with(
    response: &TokenResponse,
    now: i64,
    refresh: Option<tessera_core::model::RefreshToken>,
) -> store::refresh_tokens::Issued {
    store::refresh_tokens::Issued {
        access_jti: response.jti.clone(),
        access_expires_at: now + response.expires_in,
        refresh,
    }
}

/// RFC 6749 §4.1.3 with PKCE (RFC 7636): the code is single-use, bound to its client and
/// redirect URI, and expires; a replayed code revokes what the first redemption issued.
///
/// Two database calls: the code is read, then spent and its tokens recorded in one
/// transaction under the grant's lock, so a concurrent replay either finds them and revokes
/// them, or comes first and leaves the winner nothing ([`tessera_store::codes::redeem`]).
async fn authorization_code(
    state: &IssuerState,
    realm: &Realm,
    client: &Client,
    form: &Form,
) -> Result<TokenResponse, IssuerError> {
    let bad = |why: &str| IssuerError::oauth(OAuthCode::InvalidGrant, why.to_string());
    let code = form.require("code")?;
    let now = state.now();
    let row = find_by_hash(state, code, store::codes::by_hash)
        .await?
        .filter(|r| r.realm_id == realm.id)
        .ok_or_else(|| bad("the authorization code is not valid"))?;
    if row.client_id != client.client_id {
        return Err(bad("the authorization code was issued to another client"));
    }
    // Refused requests still spend the code (a wrong verifier may be a guess).
    let refusal = code_refusal(&row, client, form, now).err();
    let scope = ScopeSet::from_stored(&row.scope);
    let mut response = mint(state, realm, client, &row.user_id, &scope)?;
    let grant = GrantOf::of_code(&row);
    let refresh = client
        .allows_grant(GrantType::RefreshToken)
        .then(|| refresh_row(state, realm, client, &grant));
    let issued = issued_with(&response, now, refresh.as_ref().map(|(_, r)| r.clone()));
    redeem_code(state, &row, now, refusal, issued).await?;
    response.refresh_token = refresh.map(|(value, _)| value);
    let sign_in = grant.sign_in(row.nonce.as_deref());
    add_id_token(state, realm, client, &scope, &mut response, &sign_in)?;
    Ok(response)
}

/// Looks up a presented code or refresh token by its hash; only the hash is stored.
pub(crate) async fn find_by_hash<T: Send + 'static>(
    state: &IssuerState,
    presented: &str,
    lookup: fn(&mut store::DbConnection, &str) -> Result<Option<T>, store::StoreError>,
) -> Result<Option<T>, IssuerError> {
    let db = state.db.clone();
    let hash = tessera_core::secret::sha256_hex(presented);
    Ok(web::block(move || lookup(&mut *db.conn()?, &hash)).await??)
}

/// Spends the code and records its tokens, or, for a replay, revokes what it issued before.
async fn redeem_code(
    state: &IssuerState,
    code: &tessera_core::model::AuthorizationCode,
    now: i64,
    refusal: Option<IssuerError>,
    issued: store::refresh_tokens::Issued,
) -> Result<(), IssuerError> {
    let db = state.db.clone();
    let (spent, refused) = (code.clone(), refusal.is_some());
    let outcome =
        web::block(move || store::codes::redeem(&mut *db.conn()?, &spent, now, refused, &issued))
            .await??;
    settle(
        state,
        outcome,
        refusal,
        "the authorization code was already used; the tokens issued for it are revoked",
    )
}

/// Retires the presented refresh token and records its successor, or, for a retired one
/// presented again, revokes the whole grant.
async fn rotate_refresh_token(
    state: &IssuerState,
    token: &tessera_core::model::RefreshToken,
    now: i64,
    issued: store::refresh_tokens::Issued,
) -> Result<(), IssuerError> {
    let db = state.db.clone();
    let retired = token.clone();
    let outcome =
        web::block(move || store::refresh_tokens::rotate(&mut *db.conn()?, &retired, now, &issued))
            .await??;
    settle(
        state,
        outcome,
        None,
        "the refresh token was already used; the grant is revoked",
    )
}

/// Why a code may not be redeemed by this request: expired, another redirect URI, or a
/// verifier that does not match its challenge.
fn code_refusal(
    row: &tessera_core::model::AuthorizationCode,
    client: &Client,
    form: &Form,
    now: i64,
) -> Result<(), IssuerError> {
    let bad = |why: &str| IssuerError::oauth(OAuthCode::InvalidGrant, why.to_string());
    if row.expires_at <= now {
        return Err(bad("the authorization code has expired"));
    }
    let registered = &client.redirect_uris;
    let redirect_ok = match (row.redirect_uri.as_str(), form.get("redirect_uri")) {
        ("", None) => true,
        ("", Some(given)) => registered.len() == 1 && registered[0] == given,
        (sent, Some(given)) => sent == given,
        (_, None) => false,
    };
    if !redirect_ok {
        return Err(bad("redirect_uri does not match the authorization request"));
    }
    match (&row.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !tessera_core::pkce::verify(challenge, verifier) {
                return Err(bad("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(bad("code_verifier is missing")),
        // A verifier for a code issued without a challenge: a downgrade attempt.
        (None, Some(_)) => return Err(bad("this code was issued without PKCE")),
        (None, None) => {}
    }
    Ok(())
}

/// Turns what a redemption did into the answer: `Ok` only when the tokens were recorded. A
/// replay's revoked access tokens are reported to the resource server in this process.
fn settle(
    state: &IssuerState,
    outcome: tessera_store::codes::Redemption,
    refusal: Option<IssuerError>,
    replayed: &str,
) -> Result<(), IssuerError> {
    use tessera_store::codes::Redemption;
    match outcome {
        Redemption::Issued => Ok(()),
        Redemption::Spent => Err(refusal.unwrap_or_else(|| {
            IssuerError::Internal("a spent redemption without a reason".into())
        })),
        Redemption::UserDisabled => Err(IssuerError::oauth(
            OAuthCode::InvalidGrant,
            "the user is disabled",
        )),
        Redemption::Replayed(revoked) => {
            for (jti, exp) in &revoked {
                state.access_token_revoked(jti, *exp);
            }
            Err(IssuerError::oauth(OAuthCode::InvalidGrant, replayed))
        }
    }
}

/// The grant a new refresh token continues: its family, who signed in when, within which
/// browser session, and the family's absolute end once the first token set it.
struct GrantOf<'a> {
    family: &'a str,
    user_id: &'a str,
    scope: &'a str,
    auth_time: i64,
    session: Option<&'a str>,
    family_expires_at: Option<i64>,
    /// How the sign-in was proven (`tessera_core::authn`).
    amr: &'a str,
}

impl<'a> GrantOf<'a> {
    /// The grant an authorization code starts; its first refresh token sets the family's end.
    fn of_code(code: &'a tessera_core::model::AuthorizationCode) -> Self {
        Self {
            family: &code.grant_id,
            user_id: &code.user_id,
            scope: &code.scope,
            auth_time: code.auth_time,
            session: code.session_id_sha256.as_deref(),
            family_expires_at: None,
            amr: &code.amr,
        }
    }

    /// The grant a refresh token belongs to, kept to its family's end.
    fn of_refresh(token: &'a tessera_core::model::RefreshToken) -> Self {
        Self {
            family: &token.family_id,
            user_id: &token.user_id,
            scope: &token.scope,
            auth_time: token.auth_time,
            session: token.session_id_sha256.as_deref(),
            family_expires_at: Some(token.family_expires_at),
            amr: &token.amr,
        }
    }

    /// The sign-in behind this grant, as its ID tokens tell it.
    fn sign_in(&self, nonce: Option<&'a str>) -> crate::oidc::IdTokenInput<'a> {
        crate::oidc::IdTokenInput {
            user_id: self.user_id,
            nonce,
            auth_time: self.auth_time,
            session: self.session,
            amr: self.amr,
        }
    }
}

/// A new refresh token of `grant.family` (its value, and its row to store). Its idle lifetime
/// never reaches past the family's absolute end (`family_expires_at`, set by the first token).
fn refresh_row(
    state: &IssuerState,
    realm: &Realm,
    client: &Client,
    grant: &GrantOf<'_>,
) -> (String, tessera_core::model::RefreshToken) {
    let now = state.now();
    let value = random_token::<32>();
    let (idle, absolute) = state.refresh_token_ttls(client);
    let family_end = grant.family_expires_at.unwrap_or(now + absolute);
    let row = tessera_core::model::RefreshToken {
        token_sha256: tessera_core::secret::sha256_hex(&value),
        realm_id: realm.id.clone(),
        family_id: grant.family.to_string(),
        client_id: client.client_id.clone(),
        user_id: grant.user_id.to_string(),
        scope: grant.scope.to_string(),
        session_id_sha256: grant.session.map(str::to_string),
        auth_time: grant.auth_time,
        expires_at: (now + idle).min(family_end),
        family_expires_at: family_end,
        rotated_at: None,
        revoked_at: None,
        created_at: now,
        amr: grant.amr.to_string(),
    };
    (value, row)
}

/// RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every refresh returns a new refresh token
/// and retires the presented one; presenting a retired one again revokes the whole grant.
///
/// Two database calls: the token is read, then retired and its successor recorded in one
/// transaction under the family's lock ([`tessera_store::refresh_tokens::rotate`]).
async fn refresh(
    state: &IssuerState,
    realm: &Realm,
    client: &Client,
    form: &Form,
) -> Result<TokenResponse, IssuerError> {
    let bad = |why: &str| IssuerError::oauth(OAuthCode::InvalidGrant, why.to_string());
    let presented = form.require("refresh_token")?;
    let now = state.now();
    let token = find_by_hash(state, presented, store::refresh_tokens::by_hash)
        .await?
        .filter(|t| t.realm_id == realm.id)
        .ok_or_else(|| bad("the refresh token is not valid"))?;
    if token.client_id != client.client_id {
        return Err(bad("the refresh token was issued to another client"));
    }
    if token.revoked_at.is_some() {
        return Err(bad("the refresh token has been revoked"));
    }
    let scope = refreshed_scope(&token, form, now)?;
    let mut response = mint(state, realm, client, &token.user_id, &scope)?;
    let grant = GrantOf::of_refresh(&token);
    let (value, successor) = refresh_row(state, realm, client, &grant);
    let issued = issued_with(&response, now, Some(successor));
    rotate_refresh_token(state, &token, now, issued).await?;
    response.refresh_token = Some(value);
    add_id_token(
        state,
        realm,
        client,
        &scope,
        &mut response,
        &grant.sign_in(None),
    )?;
    Ok(response)
}

/// The scope a refresh grants: the grant's, or the narrower one asked for. A retired token
/// skips these checks: the rotation finds it retired and ends the grant.
fn refreshed_scope(
    token: &tessera_core::model::RefreshToken,
    form: &Form,
    now: i64,
) -> Result<ScopeSet, IssuerError> {
    let granted = ScopeSet::from_stored(&token.scope);
    if token.rotated_at.is_some() {
        return Ok(granted);
    }
    // Refuse what can be refused without retiring the token.
    if token.expires_at <= now || token.family_expires_at <= now {
        return Err(IssuerError::oauth(
            OAuthCode::InvalidGrant,
            "the refresh token has expired; sign in again",
        ));
    }
    let Some(requested) = form.get("scope") else {
        return Ok(granted);
    };
    let asked = ScopeSet::parse(requested)
        .map_err(|e| IssuerError::oauth(OAuthCode::InvalidScope, e.message))?;
    let wider = asked.not_in(&granted);
    if !wider.is_empty() {
        return Err(IssuerError::oauth(
            OAuthCode::InvalidScope,
            format!("the grant does not include: {}", wider.join(" ")),
        ));
    }
    Ok(asked)
}

/// Where a sign-in comes from, for its metrics and audit event.
pub(crate) struct SignInBy<'a> {
    /// `password_grant` or `form`.
    pub method: &'static str,
    pub client_id: &'a str,
    pub addr: Option<IpAddr>,
}

/// A username is kept in a sign-in's audit event up to this many characters.
const MAX_AUDITED_USERNAME_CHARS: usize = 100;

/// Checks a username and password: throttled per username and address, per address and per
/// username ([`throttle::password_keys`]) before any hashing,
/// argon2 on the bounded blocking pool, a dummy hash for unknown users, failures counted.
/// Errors are `invalid_grant` ("invalid username or password", or a disabled account) or
/// `Throttled`; the sign-in page shows the same words.
///
/// Every attempt is counted in the metrics and audited (`user.sign_in`) in the database call
/// the throttle makes anyway. The audit event says why a sign-in failed (`unknown_user` or
/// `invalid_password`), which the answer never does; so do the locks it caused.
pub(crate) async fn check_password(
    state: &IssuerState,
    realm: &Realm,
    username: String,
    password: String,
    by: &SignInBy<'_>,
) -> Result<tessera_core::model::User, IssuerError> {
    let keys = throttle::password_keys(&username, by.addr, &state.settings.throttle);
    let audit = SignInAudit {
        realm_id: realm.id.clone(),
        method: by.method,
        client_id: by.client_id.to_string(),
        username: username.chars().take(MAX_AUDITED_USERNAME_CHARS).collect(),
        addr: by.addr.map(|a| a.to_string()).unwrap_or_default(),
        now: state.now(),
    };
    let user = admit_password_attempt(state, &keys, username, &audit).await?;
    let verified = verify_password(state, user.as_ref(), password).await?;
    let reason = SignInReason::of(user.as_ref(), verified);
    let user_id = user.as_ref().map(|u| u.id.clone());
    settle_password_attempt(state, keys, verified, user_id, audit, reason).await?;
    state.metrics.sign_in(by.method, reason.counted());
    match user {
        Some(u) if verified && u.enabled => Ok(u),
        Some(_) if verified => Err(IssuerError::oauth(
            OAuthCode::InvalidGrant,
            "this account is disabled",
        )),
        _ => Err(IssuerError::oauth(
            OAuthCode::InvalidGrant,
            "invalid username or password",
        )),
    }
}

/// Passes the throttle before any hashing and looks the user up, in one database call. A
/// throttled attempt is audited and counted as such; backoffs it waited out are counted.
async fn admit_password_attempt(
    state: &IssuerState,
    keys: &throttle::PasswordKeys,
    username: String,
    audit: &SignInAudit,
) -> Result<Option<tessera_core::model::User>, IssuerError> {
    let db = state.db.clone();
    let (keys, audit_) = (keys.clone(), audit.clone());
    let admitted = web::block(move || -> Result<_, IssuerError> {
        let audit = audit_;
        let mut conn = db.conn()?;
        match throttle::admit_password_attempt(&mut conn, &audit.realm_id, &keys, audit.now) {
            Ok(backoffs) => Ok((
                backoffs,
                store::users::by_username(&mut conn, &audit.realm_id, &username)?,
            )),
            Err(refused) => {
                if matches!(refused, IssuerError::Throttled { .. }) {
                    audit.write(&mut conn, None, SignInReason::Throttled)?;
                }
                Err(refused)
            }
        }
    })
    .await?;
    let (backoffs, user) = admitted.inspect_err(|e| {
        if matches!(e, IssuerError::Throttled { .. }) {
            state.metrics.sign_in(audit.method, SignInResult::Throttled);
        }
    })?;
    for _ in 0..backoffs {
        state.metrics.throttle_backoff();
    }
    Ok(user)
}

/// Argon2 on the bounded blocking pool. An unknown user or a service account is checked
/// against a dummy hash, so that it costs what a known user does.
async fn verify_password(
    state: &IssuerState,
    user: Option<&tessera_core::model::User>,
    password: String,
) -> Result<bool, IssuerError> {
    let _permit = state
        .hash_permits
        .acquire()
        .await
        .map_err(|e| IssuerError::Internal(e.to_string()))?;
    let hasher = state.hasher.clone();
    let stored = user
        .filter(|u| !u.is_service_account)
        .and_then(|u| u.password_hash.clone());
    Ok(web::block(move || hasher.verify(&password, stored.as_deref())).await?)
}

/// Records how an attempt ended, in one database call: the throttle's counters, the user's
/// login record, the `user.sign_in` event and a `throttle.lock` event per key it locked.
async fn settle_password_attempt(
    state: &IssuerState,
    keys: throttle::PasswordKeys,
    verified: bool,
    user_id: Option<String>,
    audit: SignInAudit,
    reason: SignInReason,
) -> Result<(), IssuerError> {
    let db = state.db.clone();
    let lockout_secs = state.settings.throttle.lockout_secs;
    let locked = web::block(move || -> Result<Vec<String>, IssuerError> {
        let mut conn = db.conn()?;
        let (realm_id, now) = (&audit.realm_id, audit.now);
        let locked = throttle::settle_password_attempt(&mut conn, realm_id, &keys, verified, now)?;
        if let Some(id) = &user_id {
            if verified {
                store::users::record_login_success(&mut conn, id, now)?;
            } else {
                store::users::record_login_failure(&mut conn, id)?;
            }
        }
        audit.write(&mut conn, user_id.as_deref(), reason)?;
        for key in &locked {
            audit.write_lock(&mut conn, key, lockout_secs)?;
        }
        Ok(locked)
    })
    .await??;
    for key in &locked {
        state.metrics.throttle_lock(throttle::key_kind(key));
    }
    Ok(())
}

/// How a sign-in ended, as audited: finer than the answer, which does not tell an unknown
/// user from a wrong password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignInReason {
    Success,
    UnknownUser,
    InvalidPassword,
    Disabled,
    Throttled,
}

impl SignInReason {
    fn of(user: Option<&tessera_core::model::User>, verified: bool) -> Self {
        match user {
            None => Self::UnknownUser,
            Some(_) if !verified => Self::InvalidPassword,
            Some(u) if !u.enabled => Self::Disabled,
            Some(_) => Self::Success,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::UnknownUser => "unknown_user",
            Self::InvalidPassword => "invalid_password",
            Self::Disabled => "disabled",
            Self::Throttled => "throttled",
        }
    }

    /// The metrics' result: unknown user and wrong password are one (`invalid`).
    fn counted(self) -> SignInResult {
        match self {
            Self::Success => SignInResult::Success,
            Self::UnknownUser | Self::InvalidPassword => SignInResult::Invalid,
            Self::Disabled => SignInResult::Disabled,
            Self::Throttled => SignInResult::Throttled,
        }
    }
}

/// The audit events of one sign-in attempt.
#[derive(Clone)]
struct SignInAudit {
    realm_id: String,
    method: &'static str,
    client_id: String,
    username: String,
    addr: String,
    now: i64,
}

impl SignInAudit {
    /// The actor and target: the user when known, else the name tried.
    fn who(&self, user_id: Option<&str>) -> String {
        match user_id {
            Some(id) => format!("user:{id}"),
            None => format!("username:{}", self.username),
        }
    }

    /// `user.sign_in`, with the method, client, username and why it failed.
    fn write(
        &self,
        conn: &mut tessera_store::DbConnection,
        user_id: Option<&str>,
        reason: SignInReason,
    ) -> Result<(), IssuerError> {
        use tessera_store::provision::{Actor, Audited, audit_event};
        let who = self.who(user_id);
        let success = reason == SignInReason::Success;
        let mut detail = serde_json::json!({
            "method": self.method,
            "client_id": self.client_id,
            "username": self.username,
        });
        if !success {
            detail["reason"] = reason.as_str().into();
        }
        audit_event(
            conn,
            &self.realm_id,
            &Actor {
                name: &who,
                source_addr: &self.addr,
            },
            &Audited {
                action: "user.sign_in",
                target: &who,
                outcome: if success { "success" } else { "failure" },
                detail: &detail.to_string(),
            },
            self.now,
        )?;
        Ok(())
    }

    /// `throttle.lock`: a throttle key this attempt locked.
    fn write_lock(
        &self,
        conn: &mut tessera_store::DbConnection,
        key: &str,
        lockout_secs: i64,
    ) -> Result<(), IssuerError> {
        use tessera_store::provision::{Actor, Audited, audit_event};
        let detail = serde_json::json!({
            "reason": "sign-in failures",
            "username": self.username,
            "locked_secs": lockout_secs,
        });
        audit_event(
            conn,
            &self.realm_id,
            &Actor {
                name: "system",
                source_addr: &self.addr,
            },
            &Audited {
                action: "throttle.lock",
                target: &format!("throttle:{key}"),
                outcome: "success",
                detail: &detail.to_string(),
            },
            self.now,
        )?;
        Ok(())
    }
}

/// RFC 8693 token exchange of a personal API key (`subject_token`) for a short-lived JWT of
/// its owner. The token carries no more than the key's rights right now, and expires no later
/// than the key.
async fn exchange_api_key(
    state: &IssuerState,
    realm: &Realm,
    client: &Client,
    form: &Form,
) -> Result<TokenResponse, IssuerError> {
    let hash = exchanged_key_hash(form)?;
    let (owner, rights, expires_at) = personal_key_holder(state, realm, hash).await?;
    let scope = ScopeSet::from_names(rights);
    let mut response = mint_until(state, realm, client, &owner, &scope, expires_at)?;
    response.issued_token_type = Some(ACCESS_TOKEN_TYPE);
    Ok(response)
}

/// RFC 8693's name for what an API key is exchanged for.
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Checks a token-exchange request's parameters; the hash of the API key it presents.
fn exchanged_key_hash(form: &Form) -> Result<String, IssuerError> {
    use tessera_core::apikey::{self, API_KEY_TOKEN_TYPE};
    let subject_token = form.require("subject_token")?.to_string();
    let subject_type = form.require("subject_token_type")?;
    if subject_type != API_KEY_TOKEN_TYPE {
        return Err(IssuerError::invalid_request(format!(
            "subject_token_type must be {API_KEY_TOKEN_TYPE}"
        )));
    }
    if form
        .get("requested_token_type")
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(IssuerError::invalid_request(format!(
            "only {ACCESS_TOKEN_TYPE} can be requested"
        )));
    }
    let key = apikey::parse(&subject_token).map_err(|_| {
        IssuerError::oauth(
            OAuthCode::InvalidGrant,
            "the subject token is not a valid API key",
        )
    })?;
    Ok(key.sha256_hex())
}

/// The owner of a usable personal API key, its rights right now and the key's expiry. Team
/// keys act for no user and cannot be exchanged.
async fn personal_key_holder(
    state: &IssuerState,
    realm: &Realm,
    hash: String,
) -> Result<(String, tessera_core::permission::Permissions, Option<i64>), IssuerError> {
    let now = state.now();
    let db = state.db.clone();
    let realm_id = realm.id.clone();
    web::block(move || -> Result<_, IssuerError> {
        use tessera_core::access::KeyRefusal;
        use tessera_store::access::{KeyActor, authenticate_api_key};
        let refused = |why: &str| IssuerError::oauth(OAuthCode::InvalidGrant, why.to_string());
        let holder = authenticate_api_key(&mut *db.conn()?, &hash, Some(&realm_id), now)?.map_err(
            |refusal| match refusal {
                KeyRefusal::OwnerDisabled | KeyRefusal::OwnerGone => {
                    refused("the API key's owner is disabled or gone")
                }
                other => refused(&other.to_string()),
            },
        )?;
        match holder.acts_as {
            KeyActor::Personal { owner_id, rights } => {
                Ok((owner_id, rights.rights, holder.key.expires_at))
            }
            KeyActor::Team { .. } => Err(refused("team keys cannot be exchanged for tokens")),
        }
    })
    .await?
}

/// The client's address ([`tessera_core::net::client_address`]).
pub(crate) fn client_addr(req: &HttpRequest, trust_forwarded: bool) -> Option<IpAddr> {
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    tessera_core::net::client_address(req.peer_addr().map(|a| a.ip()), forwarded, trust_forwarded)
}
