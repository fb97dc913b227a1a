//! Authentication of every request: `Authorization: Bearer <JWT | API key>`.
//!
//! JWTs are verified against the issuer's JWKS (typ `at+jwt`, ES256/RS256 only, `iss`, `aud`,
//! `exp`/`nbf` with a small leeway); a token already verified skips the signature check while
//! its claims still hold ([`crate::token_cache`]). API keys are checked for format and checksum
//! without a query, then looked up by SHA-256. A JWT whose `jti` was revoked (RFC 7009) is
//! refused, cached or not; the check reads an in-memory list kept current by
//! [`crate::revoked`], not the database. Either way the request's permissions are what the
//! credential grants AND what its principal may do right now.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use tessera_core::access::KeyRefusal;
use tessera_core::apikey::{self, KeyFormatError};
use tessera_core::model::KeyKind;
use tessera_store as store;
use tessera_store::access as store_access;
use tessera_store::access::{KeyActor, KeyHolder};
use tessera_token::{AccessTokenClaims, JwksVerifier, VerifyOptions};

use crate::access::{Permissions, effective_permissions};
use crate::error::ApiError;
use crate::state::ResourceState;
use crate::token_cache::{Expected, Verified, VerifiedTokens};

/// What authenticated the request.
#[derive(Debug, Clone)]
pub enum Credential {
    Jwt {
        client_id: String,
    },
    ApiKey {
        key_id: String,
        kind: KeyKind,
        team_id: Option<String>,
    },
}

/// The caller of a request, with what it may do.
#[derive(Debug, Clone)]
pub struct Principal {
    pub realm_id: String,
    pub realm_name: String,
    /// The user acting (a person or a client's service account); `None` for team keys.
    pub user_id: Option<String>,
    /// The identity reported by `/v1/auth/test`.
    pub subject: String,
    /// What the credential carries: the token's scopes, or the key's grant.
    pub scopes: Vec<String>,
    /// What the request may do: the credential's grant AND the principal's live rights.
    pub permissions: Permissions,
    /// What the credential carries by itself, `None` when it carries everything its subject
    /// may do: the limit on what it may grant ([`tessera_core::grant`]).
    pub ceiling: Option<Permissions>,
    /// Names of the roles the user holds in any team (`admin` sees everyone's keys).
    pub roles: BTreeSet<String>,
    pub expires_at: Option<i64>,
    pub credential: Credential,
}

impl Principal {
    /// 403 `insufficient_scope` naming `permission` unless the request may use it.
    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        if self.permissions.contains(permission) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(permission.to_string()))
        }
    }

    pub fn is_admin(&self) -> bool {
        self.roles.contains("admin") && self.permissions.contains("user:write")
    }

    /// `user:<id>` as the seeds record who created or changed something.
    pub fn actor(&self) -> String {
        match (&self.user_id, &self.credential) {
            (Some(u), _) => format!("user:{u}"),
            (None, Credential::ApiKey { key_id, .. }) => format!("apikey:{key_id}"),
            (None, Credential::Jwt { client_id }) => format!("client:{client_id}"),
        }
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<ResourceState>>()
                .cloned()
                .ok_or_else(|| ApiError::Internal("resource state missing".into()))?;
            let token = bearer_token(&req)?;
            if apikey::looks_like_api_key(&token) || !token.contains('.') {
                let result = authenticate_key(&state, &token).await;
                state.metrics.api_key_auth(auth_result(&result));
                result
            } else {
                let result = authenticate_jwt(&state, &token).await;
                state.metrics.jwt_auth(auth_result(&result));
                let principal = result?;
                share_with_client_origins(&state, &req, &principal).await?;
                Ok(principal)
            }
        })
    }
}

/// The metrics' `result` of an authentication: `success`, `invalid` (the credential was
/// refused: unknown, malformed, expired, revoked, its owner disabled) or `error` (the server
/// could not decide, e.g. the database did not answer).
fn auth_result(result: &Result<Principal, ApiError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(ApiError::InvalidToken(_)) => "invalid",
        Err(_) => "error",
    }
}

/// A browser call with a token: the response may be shared with the token's client's web
/// origins (read by the server's CORS layer). API keys are for scripts and servers: never.
async fn share_with_client_origins(
    state: &ResourceState,
    req: &HttpRequest,
    principal: &Principal,
) -> Result<(), ApiError> {
    use actix_web::HttpMessage;
    let Credential::Jwt { client_id } = &principal.credential else {
        return Ok(());
    };
    if !req.headers().contains_key(actix_web::http::header::ORIGIN) {
        return Ok(());
    }
    let db = state.db.clone();
    let (realm_id, client_id) = (principal.realm_id.clone(), client_id.clone());
    let client = web::block(move || {
        tessera_store::clients::by_client_id(&mut *db.conn()?, &realm_id, &client_id)
    })
    .await??;
    if let Some(c) = client {
        req.extensions_mut()
            .insert(tessera_core::client::AllowedOrigins(
                c.settings.origins(&c.redirect_uris),
            ));
    }
    Ok(())
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1).
fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    if req
        .query_string()
        .split('&')
        .any(|p| p.starts_with("access_token="))
    {
        return Err(ApiError::bad(
            "access_token",
            "send the token in the Authorization header, not the URL",
        ));
    }
    let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) else {
        return Err(ApiError::MissingToken);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::InvalidToken("the Authorization header is not ASCII".into()))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::InvalidToken("use Authorization: Bearer <token>".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::InvalidToken(format!(
            "the {scheme} scheme is not accepted; use Bearer"
        )));
    }
    let b64token = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    if token.is_empty() || !token.chars().all(b64token) {
        return Err(ApiError::InvalidToken(
            "the bearer token is empty or has characters a token cannot contain".into(),
        ));
    }
    Ok(token.to_string())
}

/// A cached authentication result, valid for the settings' TTL within one generation.
pub(crate) struct CacheEntry {
    principal: Principal,
    generation: u64,
    stored: Instant,
}

fn cached(state: &ResourceState, cache_key: &str) -> Option<Principal> {
    let map = state.auth_cache.lock().ok()?;
    let e = map.get(cache_key)?;
    (e.generation == state.generation() && e.stored.elapsed() < state.settings.cache_ttl)
        .then(|| e.principal.clone())
}

fn remember(state: &ResourceState, cache_key: String, principal: &Principal) {
    if let Ok(mut map) = state.auth_cache.lock() {
        if map.len() > 50_000 {
            map.clear();
        }
        map.insert(
            cache_key,
            CacheEntry {
                principal: principal.clone(),
                generation: state.generation(),
                stored: Instant::now(),
            },
        );
    }
}

async fn authenticate_key(state: &ResourceState, token: &str) -> Result<Principal, ApiError> {
    let parsed = apikey::parse(token).map_err(|e| {
        ApiError::InvalidToken(match e {
            KeyFormatError::Invalid => "Invalid API key".into(),
            KeyFormatError::Malformed => "Malformed API key".into(),
        })
    })?;
    let hash = parsed.sha256_hex();
    let now = state.now();
    let principal = match cached(state, &hash) {
        Some(p) => p,
        None => {
            let db = state.db.clone();
            let lookup = hash.clone();
            let p = web::block(move || key_principal(&mut *db.conn()?, &lookup, now)).await??;
            remember(state, hash, &p);
            p
        }
    };
    // A cached principal outlives its check: the key may have expired since.
    if tessera_core::access::is_expired(principal.expires_at, now) {
        return Err(ApiError::InvalidToken(KeyRefusal::Expired.to_string()));
    }
    if let Credential::ApiKey { key_id, .. } = &principal.credential {
        state.record_key_use(key_id, now);
    }
    Ok(principal)
}

/// The principal of a usable key ([`store_access::authenticate_api_key`]), refused with the
/// rule's own wording.
fn key_principal(
    conn: &mut tessera_store::DbConnection,
    hash: &str,
    now: i64,
) -> Result<Principal, ApiError> {
    let KeyHolder {
        key,
        realm,
        acts_as,
    } = store_access::authenticate_api_key(conn, hash, None, now)?
        .map_err(|refusal| ApiError::InvalidToken(refusal.to_string()))?;
    let credential = Credential::ApiKey {
        key_id: key.id.clone(),
        kind: key.kind,
        team_id: key.team_id.clone(),
    };
    match acts_as {
        // A team key acts as its team's service account.
        KeyActor::Team { rights } => {
            let role = match &key.role_id {
                Some(id) => tessera_store::roles::in_realm(conn, &key.realm_id, id)?,
                None => None,
            };
            Ok(Principal {
                realm_id: realm.id,
                realm_name: realm.name,
                user_id: None,
                subject: format!("teamkey:{}", key.id),
                scopes: rights.iter().cloned().collect(),
                ceiling: Some(rights.clone()),
                permissions: rights,
                roles: role.map(|r| r.name).into_iter().collect(),
                expires_at: key.expires_at,
                credential,
            })
        }
        // A personal key acts for its owner, within its team, never beyond the owner's rights.
        KeyActor::Personal { owner_id, rights } => {
            let roles = role_names(conn, &owner_id, key.team_id.as_deref())?;
            Ok(Principal {
                realm_id: realm.id,
                realm_name: realm.name,
                user_id: Some(owner_id.clone()),
                subject: owner_id,
                scopes: rights.carried().iter().cloned().collect(),
                ceiling: (!rights.grant.is_empty()).then_some(rights.grant),
                permissions: rights.rights,
                roles,
                expires_at: key.expires_at,
                credential,
            })
        }
    }
}

/// The names of the roles `user_id` holds in `team` (in any team when `None`), for
/// [`Principal::roles`].
fn role_names(
    conn: &mut tessera_store::DbConnection,
    user_id: &str,
    team: Option<&str>,
) -> Result<BTreeSet<String>, ApiError> {
    Ok(store_access::role_grants(conn, user_id, team)?
        .into_iter()
        .map(|g| g.role_name)
        .collect())
}

/// The payload of an unverified token, to find its realm before verifying it.
fn unverified_payload(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// The `iss` this resource server accepts for tokens of `realm_name`.
fn realm_issuer(state: &ResourceState, realm_name: &str) -> String {
    format!(
        "{}/realms/{realm_name}",
        state.settings.issuer_base.trim_end_matches('/')
    )
}

async fn authenticate_jwt(state: &ResourceState, token: &str) -> Result<Principal, ApiError> {
    let now = state.now();
    let verified = verified_jwt(state, token, now).await?;
    let claims = &verified.claims;
    // Checked on every request, cached verification or not.
    if state
        .revoked
        .is_revoked(&state.db, &claims.jti, now)
        .await?
    {
        return Err(ApiError::InvalidToken("the token has been revoked".into()));
    }
    let subject = jwt_subject_cached(state, &verified).await?;
    Ok(scoped_by_token(subject, claims))
}

/// The token's verification: from the cache while it still holds, else verified in full and
/// cached (a failure evicts what the cache had).
async fn verified_jwt(
    state: &ResourceState,
    token: &str,
    now: i64,
) -> Result<Arc<Verified>, ApiError> {
    let cache = state.revoked.verified();
    let key = VerifiedTokens::key(token);
    if let Some(v) = still_verified(state, cache.get(&key), now).await? {
        return Ok(v);
    }
    match verify_jwt(state, token, now).await {
        Ok(v) => {
            let v = Arc::new(v);
            cache.insert(key, Arc::clone(&v));
            Ok(v)
        }
        Err(e) => {
            cache.remove(&key);
            Err(e)
        }
    }
}

/// The token's subject with its live rights, from the principal cache or the database.
async fn jwt_subject_cached(
    state: &ResourceState,
    verified: &Verified,
) -> Result<Principal, ApiError> {
    let claims = &verified.claims;
    let cache_key = format!("jwt:{}:{}", claims.sub, claims.scope);
    if let Some(p) = cached(state, &cache_key) {
        return Ok(p);
    }
    let db = state.db.clone();
    let (sub, name) = (claims.sub.clone(), verified.realm_name.clone());
    let p = web::block(move || jwt_subject(&mut *db.conn()?, &name, &sub)).await??;
    remember(state, cache_key, &p);
    Ok(p)
}

/// The subject's rights narrowed to the token's scope; a token without every permission has
/// a ceiling (what it may grant).
fn scoped_by_token(subject: Principal, claims: &AccessTokenClaims) -> Principal {
    let scopes: BTreeSet<String> = claims
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let carries_everything = tessera_core::permission::CATALOG
        .iter()
        .all(|(p, _)| scopes.contains(*p));
    Principal {
        permissions: subject.permissions.intersection(&scopes).cloned().collect(),
        ceiling: (!carries_everything).then(|| {
            scopes
                .iter()
                .filter(|s| tessera_core::permission::is_permission(s))
                .cloned()
                .collect()
        }),
        scopes: scopes.into_iter().collect(),
        expires_at: Some(claims.exp),
        credential: Credential::Jwt {
            client_id: claims.client_id.clone(),
        },
        ..subject
    }
}

/// A cached verification that still holds now (see [`crate::token_cache`]); `None` sends the
/// token to full verification.
async fn still_verified(
    state: &ResourceState,
    cached: Option<Arc<Verified>>,
    now: i64,
) -> Result<Option<Arc<Verified>>, ApiError> {
    let Some(v) = cached else {
        return Ok(None);
    };
    let verifier = state.jwks.verifier(&v.realm_name, v.kid.as_deref()).await?;
    let valid = v.still_valid(&Expected {
        verifier: &verifier,
        issuer: &realm_issuer(state, &v.realm_name),
        audience: &state.settings.audience,
        now,
        leeway_secs: state.settings.leeway_secs,
    });
    Ok(valid.then_some(v))
}

/// Full verification: signature against the realm's key set, then the claims.
async fn verify_jwt(state: &ResourceState, token: &str, now: i64) -> Result<Verified, ApiError> {
    let payload = unverified_payload(token);
    let issuer = payload
        .as_ref()
        .and_then(|p| p.get("iss")?.as_str())
        .ok_or_else(|| ApiError::InvalidToken("the token is not a JWT with an issuer".into()))?;
    let prefix = realm_issuer(state, "");
    let realm_name = issuer
        .strip_prefix(&prefix)
        .filter(|r| tessera_core::names::validate_realm_name(r).is_ok())
        .ok_or_else(|| ApiError::InvalidToken("the token was issued by another issuer".into()))?
        .to_string();
    let kid = JwksVerifier::token_kid(token);
    let verifier = state.jwks.verifier(&realm_name, kid.as_deref()).await?;
    let claims = verifier
        .verify_access_token(
            token,
            &VerifyOptions {
                issuer,
                audience: &state.settings.audience,
                now,
                leeway_secs: state.settings.leeway_secs,
            },
        )
        .map_err(|e| ApiError::InvalidToken(e.to_string()))?;
    // Verification accepted `nbf` as absent, null or an integer.
    let nbf = payload.as_ref().and_then(|p| p.get("nbf")?.as_i64());
    Ok(Verified::new(realm_name, kid, claims, nbf, &verifier))
}

/// The live rights of a token's subject (all teams).
fn jwt_subject(
    conn: &mut tessera_store::DbConnection,
    realm_name: &str,
    user_id: &str,
) -> Result<Principal, ApiError> {
    let gone =
        || ApiError::InvalidToken("the token's subject no longer exists or is disabled".into());
    let realm = store::realms::by_name(conn, realm_name)?.ok_or_else(gone)?;
    let user = store::users::by_id(conn, user_id)?
        .filter(|u| u.enabled && u.realm_id == realm.id)
        .ok_or_else(gone)?;
    let permissions = effective_permissions(conn, &realm.id, &user.id, None)?;
    let roles = role_names(conn, &user.id, None)?;
    Ok(Principal {
        realm_id: realm.id,
        realm_name: realm.name,
        user_id: Some(user.id.clone()),
        subject: user.id,
        scopes: Vec::new(),
        permissions,
        ceiling: None,
        roles,
        expires_at: None,
        credential: Credential::Jwt {
            client_id: String::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::JwksSource;
    use crate::state::ResourceSettings;
    use diesel::prelude::*;
    use std::time::Duration;
    use tessera_core::password::{Argon2Params, PasswordHasher};
    use tessera_core::{Clock, ManualClock};
    use tessera_store::{Database, PoolOptions};
    use tessera_token::{AccessTokenClaims, KeyPolicy, KeyStore, SigningAlg};

    const BASE: &str = "http://rs.test";

    struct Fixture {
        dir: std::path::PathBuf,
        state: ResourceState,
        keys: Arc<KeyStore>,
        clock: ManualClock,
        admin_id: String,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn fixture() -> Fixture {
        let dir = std::env::temp_dir().join(format!(
            "tessera-auth-{}",
            tessera_core::id::random_token::<8>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let now = 1_800_000_000;
        let db = Database::connect(
            &format!("sqlite://{}", dir.join("t.db").display()),
            PoolOptions::default(),
        )
        .unwrap();
        db.migrate().unwrap();
        let hasher = PasswordHasher::new(Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        let report = tessera_store::provision::bootstrap_realm(
            &db,
            "default",
            Some("admin-password"),
            &hasher,
            now,
        )
        .unwrap()
        .unwrap();
        let admin_id =
            store::users::by_username(&mut db.conn().unwrap(), &report.realm.id, "admin")
                .unwrap()
                .unwrap()
                .id;
        let policy = KeyPolicy {
            activation_delay_secs: 0,
            retention_secs: 3600,
        };
        let keys = Arc::new(KeyStore::open(&dir.join("keys"), policy, now).unwrap().0);
        let clock = ManualClock::new(now);
        let state = ResourceState::new(
            db,
            Arc::new(clock.clone()),
            JwksSource::local(Arc::clone(&keys)),
            ResourceSettings {
                issuer_base: BASE.into(),
                audience: BASE.into(),
                leeway_secs: 30,
                trust_forwarded_headers: false,
                cache_ttl: Duration::from_secs(5),
                max_body_bytes: 1 << 16,
                body_read_timeout: Duration::from_secs(10),
                relay_secret: None,
            },
        );
        Fixture {
            dir,
            state,
            keys,
            clock,
            admin_id,
        }
    }

    impl Fixture {
        fn token(&self, jti: &str, ttl: i64) -> (String, AccessTokenClaims) {
            let now = self.clock.now();
            let claims = AccessTokenClaims {
                iss: format!("{BASE}/realms/default"),
                sub: self.admin_id.clone(),
                aud: BASE.into(),
                client_id: "portal".into(),
                scope: "user:read".into(),
                iat: now,
                exp: now + ttl,
                jti: jti.into(),
            };
            let token = self
                .keys
                .current()
                .sign_access_token(SigningAlg::Es256, &claims)
                .unwrap();
            (token, claims)
        }

        fn cached(&self, token: &str) -> Option<Arc<Verified>> {
            self.state
                .revoked
                .verified()
                .get(&VerifiedTokens::key(token))
        }
    }

    fn refusal(r: Result<Principal, ApiError>) -> String {
        match r {
            Err(ApiError::InvalidToken(m)) => m,
            Err(e) => panic!("unexpected error {e:?}"),
            Ok(p) => panic!("accepted as {}", p.subject),
        }
    }

    #[actix_web::test]
    async fn a_repeated_token_is_served_from_the_cache() {
        let f = fixture();
        let (token, _) = f.token("j1", 300);
        let first = authenticate_jwt(&f.state, &token).await.unwrap();
        let entry = f.cached(&token).unwrap();
        let second = authenticate_jwt(&f.state, &token).await.unwrap();
        // A miss would have stored a new entry.
        assert!(Arc::ptr_eq(&entry, &f.cached(&token).unwrap()));
        assert_eq!(first.subject, second.subject);
        assert_eq!(second.permissions.iter().collect::<Vec<_>>(), ["user:read"]);
        assert_eq!(second.expires_at, first.expires_at);
        // A token that differs in one character is not a hit (and fails its signature).
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(refusal(authenticate_jwt(&f.state, &forged).await).contains("signature"));
        assert!(f.cached(&forged).is_none());
    }

    #[actix_web::test]
    async fn a_cached_token_is_refused_once_expired() {
        let f = fixture();
        let (token, claims) = f.token("j1", 300);
        authenticate_jwt(&f.state, &token).await.unwrap();
        f.clock.set(claims.exp + 29);
        authenticate_jwt(&f.state, &token).await.unwrap();
        assert!(f.cached(&token).is_some());
        f.clock.set(claims.exp + 30);
        assert!(refusal(authenticate_jwt(&f.state, &token).await).contains("expired"));
        assert!(f.cached(&token).is_none());
    }

    #[actix_web::test]
    async fn a_cached_token_is_refused_once_revoked() {
        let f = fixture();
        let (token, claims) = f.token("j1", 300);
        authenticate_jwt(&f.state, &token).await.unwrap();
        assert!(f.cached(&token).is_some());
        f.state.revoked.note(&claims.jti, claims.exp);
        assert!(refusal(authenticate_jwt(&f.state, &token).await).contains("revoked"));
        // Another token of the same subject is not affected.
        let (other, _) = f.token("j2", 300);
        authenticate_jwt(&f.state, &other).await.unwrap();
    }

    #[actix_web::test]
    async fn a_cached_token_of_a_disabled_subject_is_refused() {
        use tessera_store::schema::users;
        let f = fixture();
        let (token, _) = f.token("j1", 300);
        authenticate_jwt(&f.state, &token).await.unwrap();
        diesel::update(users::table.filter(users::id.eq(&f.admin_id)))
            .set(users::enabled.eq(false))
            .execute(&mut *f.state.db.conn().unwrap())
            .unwrap();
        f.state.invalidate_access();
        assert!(refusal(authenticate_jwt(&f.state, &token).await).contains("disabled"));
    }
}
