//! WebAuthn passkeys (webauthn-rs): a second factor after the password, a sign-in on their
//! own (discoverable credentials), and their management on the account page.
//!
//! The relying party is the host of `public_url`; WebAuthn refuses IP addresses as RP IDs, so
//! behind an IP literal passkeys are off and their routes answer 404 saying why. Every
//! ceremony's state is kept in the database (`webauthn_challenges`, five minutes, taken once)
//! under the SHA-256 of a random id the page holds, so any replica can finish what another
//! began and a ceremony cannot be finished twice. The begin steps are JSON (`fetch` from
//! `passkey.js`); the finish steps are ordinary form posts, so the browser follows the usual
//! page flow, cookies and CSRF checks.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::net::IpAddr;
use std::sync::Arc;
use tessera_core::authn;
use tessera_core::id::random_token;
use tessera_core::model::BrowserSession;
use tessera_core::model::{Realm, User};
use tessera_core::model::{StoredPasskey, WebauthnChallenge};
use tessera_core::secret::{constant_time_eq, sha256_hex};
use tessera_store as store;
use tessera_store::mfa;
use tessera_store::throttle::AtLimit;
use tessera_store::throttle::ThrottleRule;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::authorize::{AuthRequest, error_page_with};
use crate::error::IssuerError;
use crate::form::{Form, read_form};
use crate::state::IssuerState;
use crate::{signin, throttle};

/// How long a begun ceremony can be finished.
const CEREMONY_SECS: i64 = 300;
/// The longest passkey name.
pub const MAX_NAME_CHARS: usize = 100;
/// The header the begin steps carry the page's CSRF token in (double submit, as the forms).
const CSRF_HEADER: &str = "x-csrf-token";
/// The CSRF cookie every sign-in and account page sets (`authorize::csrf_cookie`).
const CSRF_COOKIE: &str = "tessera_csrf";

const PURPOSE_PASSWORDLESS: &str = "passwordless";
const PURPOSE_SECOND_FACTOR: &str = "second-factor";
const PURPOSE_REGISTER: &str = "register";

/// The WebAuthn relying party of this issuer, built once from `public_url`.
pub enum RelyingParty {
    Ready(Arc<Webauthn>),
    /// Passkeys are off; the reason, for the 404s and the log.
    Disabled(String),
}

impl RelyingParty {
    /// RP ID = the host of `public_url`, origin = its scheme, host and port. The path prefix
    /// plays no part: a passkey belongs to the host.
    pub fn from_public_url(public_url: &str) -> Self {
        let url = match Url::parse(public_url) {
            Ok(u) => u,
            Err(e) => {
                return Self::Disabled(format!("public_url {public_url:?} is not a URL: {e}"));
            }
        };
        let Some(host) = url.domain().map(str::to_string) else {
            return Self::Disabled(format!(
                "Passkeys are disabled: WebAuthn needs a DNS name as the relying party ID, and \
                 public_url {public_url:?} names an IP address. Set public_url to a DNS name \
                 (for example http://localhost:8080 on one machine)."
            ));
        };
        let origin = match Url::parse(&url.origin().ascii_serialization()) {
            Ok(o) => o,
            Err(e) => return Self::Disabled(format!("no origin for {public_url:?}: {e}")),
        };
        match WebauthnBuilder::new(&host, &origin)
            .map(|b| b.rp_name("Tessera"))
            .and_then(WebauthnBuilder::build)
        {
            Ok(w) => Self::Ready(Arc::new(w)),
            Err(e) => Self::Disabled(format!("WebAuthn refused {public_url:?}: {e}")),
        }
    }
}

fn relying_party(state: &IssuerState) -> &RelyingParty {
    state.relying_party.get_or_init(|| {
        let rp = RelyingParty::from_public_url(&state.public_url);
        if let RelyingParty::Disabled(why) = &rp {
            tracing::warn!(%why, "passkeys disabled");
        }
        rp
    })
}

/// Whether the sign-in and account pages offer passkeys.
pub fn enabled(state: &IssuerState) -> bool {
    matches!(relying_party(state), RelyingParty::Ready(_))
}

/// Why passkeys are off.
struct Off<'a>(&'a str);

impl Off<'_> {
    /// The 404 every passkey route answers then.
    fn response(&self) -> HttpResponse {
        json_refusal(StatusCode::NOT_FOUND, self.0)
    }
}

/// The relying party, or why passkeys are off.
fn ready(state: &IssuerState) -> Result<Arc<Webauthn>, Off<'_>> {
    match relying_party(state) {
        RelyingParty::Ready(w) => Ok(Arc::clone(w)),
        RelyingParty::Disabled(why) => Err(Off(why)),
    }
}

/// A passkey as the account page lists it.
#[derive(Debug, Clone)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    /// As the account page shows times ([`crate::account::when`]).
    pub created: String,
    pub last_used: Option<String>,
}

/// The user's passkeys for the account page, oldest first.
pub async fn views_of(state: &IssuerState, user_id: &str) -> Result<Vec<PasskeyView>, IssuerError> {
    let db = state.db.clone();
    let user_id = user_id.to_string();
    let stored = web::block(move || mfa::passkeys_of(&mut *db.conn()?, &user_id)).await??;
    Ok(stored
        .into_iter()
        .map(|p| PasskeyView {
            id: p.id,
            name: p.name,
            created: crate::account::when(p.created_at),
            last_used: p.last_used_at.map(crate::account::when),
        })
        .collect())
}

fn json_refusal(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "error": message }))
}

fn internal(what: &str) -> impl Fn(serde_json::Error) -> IssuerError + '_ {
    move |e| IssuerError::Internal(format!("{what}: {e}"))
}

/// The begin steps' CSRF check: the page's token in a header against its cookie.
fn csrf_header_ok(req: &HttpRequest) -> bool {
    let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    match (req.cookie(CSRF_COOKIE), sent) {
        (Some(c), Some(s)) => constant_time_eq(c.value().as_bytes(), s.as_bytes()),
        _ => false,
    }
}

/// `GET /realms/{realm}/login-actions/passkey.js`: the ceremonies' browser side, from our
/// origin (the pages' CSP allows no inline script).
pub async fn script(state: web::Data<IssuerState>) -> HttpResponse {
    if let Err(off) = ready(&state) {
        return off.response();
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(include_str!("../../../templates/passkey.js"))
}

#[derive(serde::Deserialize)]
struct BeginBody {
    purpose: String,
}

/// Stores a begun ceremony; returns the id the page finishes it with.
async fn store_ceremony(
    state: &IssuerState,
    realm: &Realm,
    user_id: Option<&str>,
    purpose: &str,
    ceremony: String,
) -> Result<String, IssuerError> {
    let id = random_token::<32>();
    let now = state.now();
    let row = WebauthnChallenge {
        id_sha256: sha256_hex(&id),
        realm_id: realm.id.clone(),
        user_id: user_id.map(str::to_string),
        purpose: purpose.to_string(),
        state: ceremony,
        expires_at: now + CEREMONY_SECS,
        created_at: now,
    };
    let db = state.db.clone();
    web::block(move || mfa::insert_challenge(&mut *db.conn()?, &row)).await??;
    Ok(id)
}

/// The options for `navigator.credentials.*` plus the ceremony's id.
fn begun(id: &str, options: impl serde::Serialize) -> Result<HttpResponse, IssuerError> {
    let mut body = serde_json::to_value(options).map_err(internal("ceremony options"))?;
    body["challenge"] = id.into();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

/// `POST /realms/{realm}/login-actions/passkey/begin` `{"purpose": "passwordless" |
/// "second-factor"}`: starts a sign-in ceremony. Passwordless asks for any discoverable
/// credential of this RP; a second factor asks for one of the pending sign-in's user's.
pub async fn sign_in_begin(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, IssuerError> {
    let (webauthn, realm) = match begin_in_realm(&state, &realm, &req).await? {
        Ok(begun) => begun,
        Err(answer) => return Ok(answer),
    };
    let Ok(begin) = serde_json::from_slice::<BeginBody>(&body) else {
        return Ok(json_refusal(
            StatusCode::BAD_REQUEST,
            "send {\"purpose\": \"passwordless\"} or {\"purpose\": \"second-factor\"} as JSON",
        ));
    };
    match begin.purpose.as_str() {
        PURPOSE_PASSWORDLESS => begin_passwordless(&state, &realm, &webauthn).await,
        PURPOSE_SECOND_FACTOR => begin_second_factor(&state, &realm, &req, &webauthn).await,
        _ => Ok(json_refusal(
            StatusCode::BAD_REQUEST,
            "purpose must be passwordless or second-factor",
        )),
    }
}

/// What every begin step checks first: passkeys are on, the realm, and the page's CSRF
/// header. `Err` is the answer.
async fn begin_in_realm(
    state: &IssuerState,
    realm_name: &str,
    req: &HttpRequest,
) -> Result<Result<(Arc<Webauthn>, Arc<Realm>), HttpResponse>, IssuerError> {
    let webauthn = match ready(state) {
        Ok(w) => w,
        Err(off) => return Ok(Err(off.response())),
    };
    let realm = state.realm(realm_name).await?;
    if !csrf_header_ok(req) {
        return Ok(Err(json_refusal(
            StatusCode::FORBIDDEN,
            "The page expired or was not sent from this site; reload it.",
        )));
    }
    Ok(Ok((webauthn, realm)))
}

/// Asks for any discoverable credential of this RP.
async fn begin_passwordless(
    state: &IssuerState,
    realm: &Realm,
    webauthn: &Webauthn,
) -> Result<HttpResponse, IssuerError> {
    let (mut options, ceremony) = webauthn
        .start_discoverable_authentication()
        .map_err(|e| IssuerError::Internal(format!("webauthn: {e}")))?;
    // A button press, not conditional UI: the browser asks at once.
    options.mediation = None;
    let ceremony = serde_json::to_string(&ceremony).map_err(internal("ceremony"))?;
    let id = store_ceremony(state, realm, None, PURPOSE_PASSWORDLESS, ceremony).await?;
    begun(&id, options)
}

/// Asks for one of the passkeys of the user whose sign-in waits for a second factor.
async fn begin_second_factor(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
    webauthn: &Webauthn,
) -> Result<HttpResponse, IssuerError> {
    let Some((_, user)) = waiting_for_second_factor(state, realm, req).await? else {
        return Ok(json_refusal(
            StatusCode::UNAUTHORIZED,
            "No sign-in is waiting for a second factor; sign in again.",
        ));
    };
    let passkeys = stored_passkeys(state, &user.id).await?;
    if passkeys.is_empty() {
        return Ok(json_refusal(
            StatusCode::BAD_REQUEST,
            "This account has no passkey.",
        ));
    }
    let creds: Vec<Passkey> = passkeys.into_iter().map(|(_, p)| p).collect();
    let (options, ceremony) = webauthn
        .start_passkey_authentication(&creds)
        .map_err(|e| IssuerError::Internal(format!("webauthn: {e}")))?;
    let ceremony = serde_json::to_string(&ceremony).map_err(internal("ceremony"))?;
    let purpose = PURPOSE_SECOND_FACTOR;
    let id = store_ceremony(state, realm, Some(&user.id), purpose, ceremony).await?;
    begun(&id, options)
}

/// The user's passkeys, parsed.
async fn stored_passkeys(
    state: &IssuerState,
    user_id: &str,
) -> Result<Vec<(StoredPasskey, Passkey)>, IssuerError> {
    let db = state.db.clone();
    let user_id = user_id.to_string();
    let stored = web::block(move || mfa::passkeys_of(&mut *db.conn()?, &user_id)).await??;
    stored
        .into_iter()
        .map(|s| {
            let p: Passkey =
                serde_json::from_str(&s.passkey).map_err(internal("stored passkey"))?;
            Ok((s, p))
        })
        .collect()
}

/// Why a passkey sign-in failed, for the audit log (the page never says).
type Refused = &'static str;

/// `POST /realms/{realm}/login-actions/passkey/finish`: form fields `csrf`, `request`,
/// `purpose`, `challenge` and `credential` (the PublicKeyCredential as JSON).
pub async fn sign_in_finish(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let webauthn = match ready(&state) {
        Ok(w) => w,
        Err(off) => return Ok(off.response()),
    };
    let realm = state.realm(&realm).await?;
    let form = read_form(&req, payload, &state.settings).await?;
    let expired = crate::authorize::SIGN_IN_EXPIRED;
    let request = match crate::authorize::flow_request(&state, &realm, &req, &form, expired).await?
    {
        Ok(request) => request,
        Err(resp) => return Ok(resp),
    };
    match form.get("purpose").unwrap_or(PURPOSE_PASSWORDLESS) {
        PURPOSE_PASSWORDLESS => {
            passwordless_finish(&state, &realm, &req, &request, &form, webauthn).await
        }
        PURPOSE_SECOND_FACTOR => {
            second_factor_finish(&state, &realm, &req, &request, &form, webauthn).await
        }
        _ => error_page_with(
            StatusCode::BAD_REQUEST,
            "purpose must be passwordless or second-factor.",
        ),
    }
}

/// A throttle key locked at `max_failures` failures, like the password keys.
fn locking_key(key: String, max_failures: i64, state: &IssuerState) -> Vec<(String, ThrottleRule)> {
    let t = &state.settings.throttle;
    vec![(
        key,
        ThrottleRule {
            window_secs: t.window_secs,
            max_failures,
            at_limit: AtLimit::Lock {
                secs: t.lockout_secs,
            },
        },
    )]
}

/// Admits one attempt under `keys`: `Err(seconds to wait)` while one is locked.
async fn admit(
    state: &IssuerState,
    realm: &Realm,
    keys: &[(String, ThrottleRule)],
) -> Result<Result<(), i64>, IssuerError> {
    let db = state.db.clone();
    let (realm_id, keys, now) = (realm.id.clone(), keys.to_vec(), state.now());
    let admission = web::block(move || {
        store::throttle::admit_reporting(&mut *db.conn()?, &realm_id, &keys, now)
    })
    .await??;
    Ok(match admission.wait {
        None => Ok(()),
        Some(secs) => Err(secs),
    })
}

/// Settles an admitted passwordless attempt and audits it as `user.sign_in` (method
/// `passkey`, with why it failed).
async fn settle_passwordless(
    state: &IssuerState,
    realm: &Realm,
    keys: &[(String, ThrottleRule)],
    addr: Option<IpAddr>,
    client_id: &str,
    user_id: Option<&str>,
    outcome: Result<(), Refused>,
) -> Result<(), IssuerError> {
    let audit = PasswordlessAudit {
        realm_id: realm.id.clone(),
        who: user_id.map_or_else(|| "unknown".to_string(), |id| format!("user:{id}")),
        addr: addr.map(|a| a.to_string()).unwrap_or_default(),
        detail: PasswordlessAudit::detail(client_id, outcome),
        success: outcome.is_ok(),
        lockout_secs: state.settings.throttle.lockout_secs,
        now: state.now(),
    };
    let db = state.db.clone();
    let keys = keys.to_vec();
    let clear = keys.first().map(|(k, _)| k.clone()).unwrap_or_default();
    let locked = web::block(move || -> Result<Vec<String>, IssuerError> {
        let mut conn = db.conn()?;
        let (realm_id, passed, now) = (&audit.realm_id, audit.success, audit.now);
        let locked = store::throttle::settle(&mut conn, realm_id, &keys, &clear, passed, now)?;
        audit.write(&mut conn, &locked)?;
        Ok(locked)
    })
    .await??;
    for key in &locked {
        state.metrics.throttle_lock(throttle::key_kind(key));
    }
    Ok(())
}

/// The audit events of a passwordless attempt: `user.sign_in`, and `throttle.lock` for each
/// key it locked.
struct PasswordlessAudit {
    realm_id: String,
    /// `user:<id>` once the credential named a user, else `unknown`.
    who: String,
    addr: String,
    detail: String,
    success: bool,
    lockout_secs: i64,
    now: i64,
}

impl PasswordlessAudit {
    /// `user.sign_in`'s detail: the method, the client and why it failed.
    fn detail(client_id: &str, outcome: Result<(), Refused>) -> String {
        let mut detail = serde_json::json!({
            "method": "passkey",
            "client_id": client_id,
        });
        if let Err(reason) = outcome {
            detail["reason"] = reason.into();
        }
        detail.to_string()
    }

    fn write(
        &self,
        conn: &mut tessera_store::DbConnection,
        locked: &[String],
    ) -> Result<(), IssuerError> {
        use tessera_store::provision::{Actor, Audited, audit_event};
        let actor = Actor {
            name: &self.who,
            source_addr: &self.addr,
        };
        let sign_in = Audited {
            action: "user.sign_in",
            target: &self.who,
            outcome: if self.success { "success" } else { "failure" },
            detail: &self.detail,
        };
        audit_event(conn, &self.realm_id, &actor, &sign_in, self.now)?;
        let system = Actor {
            name: "system",
            source_addr: &self.addr,
        };
        let detail = serde_json::json!({
            "reason": "passkey failures",
            "locked_secs": self.lockout_secs,
        })
        .to_string();
        for key in locked {
            let lock = Audited {
                action: "throttle.lock",
                target: &format!("throttle:{key}"),
                outcome: "success",
                detail: &detail,
            };
            audit_event(conn, &self.realm_id, &system, &lock, self.now)?;
        }
        Ok(())
    }
}

/// The sign-in page's words for a throttled attempt.
pub(crate) fn too_many(secs: i64) -> String {
    format!(
        "Too many failed attempts. Try again in {secs} second{}.",
        if secs == 1 { "" } else { "s" }
    )
}

/// A passkey alone: the discoverable credential names its user.
async fn passwordless_finish(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
    request: &AuthRequest,
    form: &Form,
    webauthn: Arc<Webauthn>,
) -> Result<HttpResponse, IssuerError> {
    const FAILED: &str = "That passkey could not sign you in. Try again, or sign in with your username and password.";
    let addr = crate::token::client_addr(req, state.settings.trust_forwarded_headers);
    let key = match addr {
        Some(a) => throttle::address_key(a),
        None => "addr:unknown".to_string(),
    };
    let keys = locking_key(key, state.settings.throttle.address_max_failures, state);
    if let Err(secs) = admit(state, realm, &keys).await? {
        let throttled = StatusCode::TOO_MANY_REQUESTS;
        return retry_sign_in(state, realm, request, throttled, &too_many(secs));
    }
    let assertion = Assertion {
        realm_id: realm.id.clone(),
        challenge: form.get("challenge").unwrap_or("").to_string(),
        credential: form.get("credential").unwrap_or("").to_string(),
        now: state.now(),
    };
    let db = state.db.clone();
    let checked = web::block(move || assertion.sign_in(&mut *db.conn()?, &webauthn)).await??;
    let (user_id, outcome) = match &checked {
        Ok(u) => (Some(u.id.clone()), Ok(())),
        Err((why, id)) => (id.clone(), Err(*why)),
    };
    let client_id = &request.client.client_id;
    let user_id = user_id.as_deref();
    settle_passwordless(state, realm, &keys, addr, client_id, user_id, outcome).await?;
    match checked {
        Ok(user) => signin::start_session(state, realm, request, &user, authn::PASSKEY).await,
        Err(_) => retry_sign_in(state, realm, request, StatusCode::UNAUTHORIZED, FAILED),
    }
}

/// A passwordless attempt's result: the user, or why it failed and whom the credential named.
type PasswordlessOutcome<T> = Result<T, (Refused, Option<String>)>;

/// A passwordless assertion identified: its ceremony, the credential and the stored passkey.
type Identified = (
    DiscoverableAuthentication,
    PublicKeyCredential,
    StoredPasskey,
);

/// A passwordless assertion as the finish form sent it.
struct Assertion {
    realm_id: String,
    challenge: String,
    credential: String,
    now: i64,
}

impl Assertion {
    /// Verifies the assertion against its ceremony and the passkey it names, records the use,
    /// and returns that passkey's user if they may sign in.
    fn sign_in(
        &self,
        conn: &mut tessera_store::DbConnection,
        webauthn: &Webauthn,
    ) -> Result<PasswordlessOutcome<User>, IssuerError> {
        let (ceremony, credential, stored) = match self.identify(conn, webauthn)? {
            Ok(found) => found,
            Err(refused) => return Ok(Err(refused)),
        };
        let user_id = Some(stored.user_id.clone());
        let passkey: Passkey =
            serde_json::from_str(&stored.passkey).map_err(internal("stored passkey"))?;
        let Ok(result) = webauthn.finish_discoverable_authentication(
            &credential,
            ceremony,
            &[DiscoverableKey::from(&passkey)],
        ) else {
            return Ok(Err(("invalid_assertion", user_id)));
        };
        record_passkey_use(conn, &stored.id, passkey, &result, self.now)?;
        match store::users::by_id(conn, &stored.user_id)? {
            Some(u) if u.enabled && !u.is_service_account && u.realm_id == self.realm_id => {
                store::users::record_login_success(conn, &u.id, self.now)?;
                Ok(Ok(u))
            }
            _ => Ok(Err(("disabled", user_id))),
        }
    }

    /// Takes the ceremony (once) and finds the stored passkey the credential names, which
    /// must belong to the user handle it presents.
    fn identify(
        &self,
        conn: &mut tessera_store::DbConnection,
        webauthn: &Webauthn,
    ) -> Result<PasswordlessOutcome<Identified>, IssuerError> {
        let refuse = |why: Refused| Ok(Err((why, None)));
        let challenge = sha256_hex(&self.challenge);
        let purpose = PURPOSE_PASSWORDLESS;
        let Some(taken) = mfa::take_challenge(conn, &self.realm_id, &challenge, purpose, self.now)?
        else {
            return refuse("unknown_challenge");
        };
        let ceremony: DiscoverableAuthentication =
            serde_json::from_str(&taken.state).map_err(internal("stored ceremony"))?;
        let Ok(credential) = serde_json::from_str::<PublicKeyCredential>(&self.credential) else {
            return refuse("malformed_credential");
        };
        let Ok((user_handle, credential_id)) =
            webauthn.identify_discoverable_authentication(&credential)
        else {
            return refuse("no_user_handle");
        };
        let credential_id = URL_SAFE_NO_PAD.encode(credential_id);
        let Some(stored) = mfa::passkey_by_credential(conn, &self.realm_id, &credential_id)? else {
            return refuse("unknown_passkey");
        };
        if Uuid::parse_str(&stored.user_id).ok() != Some(user_handle) {
            return Ok(Err(("user_handle_mismatch", Some(stored.user_id))));
        }
        Ok(Ok((ceremony, credential, stored)))
    }
}

/// The login page again, with `message`.
fn retry_sign_in(
    state: &IssuerState,
    realm: &Realm,
    request: &AuthRequest,
    status: StatusCode,
    message: &str,
) -> Result<HttpResponse, IssuerError> {
    let mut resp = crate::authorize::login_page(state, realm, request, "", Some(message))?;
    *resp.status_mut() = status;
    Ok(resp)
}

/// The second-factor page again, with `message`.
async fn retry_second_factor(
    state: &IssuerState,
    realm: &Realm,
    request: &AuthRequest,
    user: &User,
    status: StatusCode,
    message: &str,
) -> Result<HttpResponse, IssuerError> {
    let mut resp = signin::second_factor_page(state, realm, request, user, message).await?;
    *resp.status_mut() = status;
    Ok(resp)
}

/// The pending sign-in of `req` when it waits for its second factor.
async fn waiting_for_second_factor(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
) -> Result<Option<(BrowserSession, User)>, IssuerError> {
    Ok(signin::pending(state, realm, req)
        .await?
        .filter(|(s, _)| s.pending.as_deref() == Some(signin::STEP_SECOND_FACTOR)))
}

/// A passkey after the password, for the pending sign-in's user. Counted and audited like a
/// TOTP code (`mfa:<user id>`, `user.second_factor`).
async fn second_factor_finish(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
    request: &AuthRequest,
    form: &Form,
    webauthn: Arc<Webauthn>,
) -> Result<HttpResponse, IssuerError> {
    const FAILED: &str = "That passkey could not confirm it is you. Try again.";
    let Some((session, user)) = waiting_for_second_factor(state, realm, req).await? else {
        let ended = "This sign-in took too long or has ended. Sign in again.";
        return retry_sign_in(state, realm, request, StatusCode::UNAUTHORIZED, ended);
    };
    let addr = crate::token::client_addr(req, state.settings.trust_forwarded_headers);
    let keys = throttle::second_factor_keys(&user.id, &state.settings.throttle).keys;
    if let Err(secs) = admit(state, realm, &keys).await? {
        let throttled = StatusCode::TOO_MANY_REQUESTS;
        return retry_second_factor(state, realm, request, &user, throttled, &too_many(secs)).await;
    }
    if !settle_second_factor(state, realm, &user, form, webauthn, keys, addr).await? {
        let failed = StatusCode::UNAUTHORIZED;
        return retry_second_factor(state, realm, request, &user, failed, FAILED).await;
    }
    let amr = signin::combine(&session.amr, authn::PASSWORD_AND_PASSKEY);
    signin::second_factor_passed(state, realm, request, &session, &user, &amr).await
}

/// Checks a second-factor assertion, settles the throttle and audits `user.second_factor`,
/// in one database call; whether it passed.
async fn settle_second_factor(
    state: &IssuerState,
    realm: &Realm,
    user: &User,
    form: &Form,
    webauthn: Arc<Webauthn>,
    keys: Vec<(String, ThrottleRule)>,
    addr: Option<IpAddr>,
) -> Result<bool, IssuerError> {
    let challenge = form.get("challenge").unwrap_or("").to_string();
    let credential = form.get("credential").unwrap_or("").to_string();
    let db = state.db.clone();
    let (realm_id, user_id, now) = (realm.id.clone(), user.id.clone(), state.now());
    let (passed, locked) = web::block(move || -> Result<(bool, Vec<String>), IssuerError> {
        let mut conn = db.conn()?;
        let passed = check_second_factor(
            &mut conn,
            &webauthn,
            &realm_id,
            &user_id,
            &challenge,
            &credential,
            now,
        )?;
        let clear = keys.first().map(|(k, _)| k.clone()).unwrap_or_default();
        let locked = store::throttle::settle(&mut conn, &realm_id, &keys, &clear, passed, now)?;
        signin::audit_factor(&mut conn, &realm_id, &user_id, "passkey", passed, addr, now)?;
        Ok((passed, locked))
    })
    .await??;
    for key in &locked {
        state.metrics.throttle_lock(throttle::key_kind(key));
    }
    Ok(passed)
}

/// Verifies a second-factor assertion against the user's challenge and passkeys and records
/// the passkey's use; false for anything that does not check out.
fn check_second_factor(
    conn: &mut tessera_store::DbConnection,
    webauthn: &Webauthn,
    realm_id: &str,
    user_id: &str,
    challenge: &str,
    credential: &str,
    now: i64,
) -> Result<bool, IssuerError> {
    let challenge = sha256_hex(challenge);
    let taken = mfa::take_challenge(conn, realm_id, &challenge, PURPOSE_SECOND_FACTOR, now)?
        .filter(|t| t.user_id.as_deref() == Some(user_id));
    let Some(taken) = taken else {
        return Ok(false);
    };
    let ceremony: PasskeyAuthentication =
        serde_json::from_str(&taken.state).map_err(internal("stored ceremony"))?;
    let Ok(credential) = serde_json::from_str::<PublicKeyCredential>(credential) else {
        return Ok(false);
    };
    let Ok(result) = webauthn.finish_passkey_authentication(&credential, &ceremony) else {
        return Ok(false);
    };
    let used = URL_SAFE_NO_PAD.encode(result.cred_id());
    let Some(stored) =
        mfa::passkey_by_credential(conn, realm_id, &used)?.filter(|p| p.user_id == user_id)
    else {
        return Ok(false);
    };
    let passkey: Passkey =
        serde_json::from_str(&stored.passkey).map_err(internal("stored passkey"))?;
    record_passkey_use(conn, &stored.id, passkey, &result, now)?;
    Ok(true)
}

/// Stores what a successful assertion changed about the passkey (its counter and flags) and
/// when it was used.
fn record_passkey_use(
    conn: &mut tessera_store::DbConnection,
    stored_id: &str,
    mut passkey: Passkey,
    result: &AuthenticationResult,
    now: i64,
) -> Result<(), IssuerError> {
    passkey.update_credential(result);
    let json = serde_json::to_string(&passkey).map_err(internal("passkey"))?;
    mfa::update_passkey_use(conn, stored_id, &json, now)?;
    Ok(())
}

/// `{prefix}/realms/{realm}/account/`
fn account_url(state: &IssuerState, realm: &Realm) -> String {
    format!("{}/realms/{}/account/", state.path_prefix(), realm.name)
}

/// Back to the account page, which shows the notice `done` names.
fn back_to_account(state: &IssuerState, realm: &Realm, done: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("{}?done={done}", account_url(state, realm)),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The WebAuthn user handle of a user: the UUID of its id.
fn user_handle(user: &User) -> Result<Uuid, IssuerError> {
    Uuid::parse_str(&user.id)
        .map_err(|e| IssuerError::Internal(format!("user id {} is not a UUID: {e}", user.id)))
}

/// `POST /realms/{realm}/account/passkeys/begin`: starts registering a passkey for the
/// signed-in user, excluding the ones they have.
pub async fn register_begin(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, IssuerError> {
    let (webauthn, realm) = match begin_in_realm(&state, &realm, &req).await? {
        Ok(begun) => begun,
        Err(answer) => return Ok(answer),
    };
    let Some((_, user)) = signin::signed_in(&state, &realm, &req).await? else {
        return Ok(json_refusal(
            StatusCode::UNAUTHORIZED,
            "Your session has ended; sign in again.",
        ));
    };
    let existing = stored_passkeys(&state, &user.id).await?;
    let exclude = existing.iter().map(|(_, p)| p.cred_id().clone()).collect();
    let display = user.display_name.as_deref().unwrap_or(&user.username);
    let (options, ceremony) = webauthn
        .start_passkey_registration(user_handle(&user)?, &user.username, display, Some(exclude))
        .map_err(|e| IssuerError::Internal(format!("webauthn: {e}")))?;
    let ceremony = serde_json::to_string(&ceremony).map_err(internal("ceremony"))?;
    let id = store_ceremony(&state, &realm, Some(&user.id), PURPOSE_REGISTER, ceremony).await?;
    begun(&id, require_resident_key(options)?)
}

/// Registration options that ask for a discoverable credential, so it can sign in alone. The
/// server's verification does not depend on it; webauthn-rs leaves it to the authenticator,
/// which then often makes a server-side credential that passwordless sign-in cannot find.
fn require_resident_key(options: impl serde::Serialize) -> Result<serde_json::Value, IssuerError> {
    let mut options = serde_json::to_value(options).map_err(internal("ceremony options"))?;
    if let Some(selection) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(serde_json::Value::as_object_mut)
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
    Ok(options)
}

/// An account page's passkey form, CSRF-checked, and its signed-in user. `Err` is the error
/// page; `ended` asks the person to sign in again.
async fn account_form(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
    payload: web::Payload,
    ended: &str,
) -> Result<Result<(Form, User), HttpResponse>, IssuerError> {
    let form = read_form(req, payload, &state.settings).await?;
    if !crate::authorize::csrf_ok(req, &form) {
        return error_page_with(
            StatusCode::BAD_REQUEST,
            "The form expired or was not sent from this site. Reload the account page and try again.",
        )
        .map(Err);
    }
    let Some((_, user)) = signin::signed_in(state, realm, req).await? else {
        return error_page_with(StatusCode::UNAUTHORIZED, ended).map(Err);
    };
    Ok(Ok((form, user)))
}

/// The client's address as audited, empty when unknown.
fn audited_addr(state: &IssuerState, req: &HttpRequest) -> String {
    crate::token::client_addr(req, state.settings.trust_forwarded_headers)
        .map(|a| a.to_string())
        .unwrap_or_default()
}

/// `POST /realms/{realm}/account/passkeys/finish`: form fields `csrf`, `challenge`, `name`
/// and `credential` (the new PublicKeyCredential as JSON). Back to the account page.
pub async fn register_finish(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let webauthn = match ready(&state) {
        Ok(w) => w,
        Err(off) => return Ok(off.response()),
    };
    let realm = state.realm(&realm).await?;
    let ended = "Your session has ended. Sign in again to add a passkey.";
    let (form, user) = match account_form(&state, &realm, &req, payload, ended).await? {
        Ok(signed_in) => signed_in,
        Err(answer) => return Ok(answer),
    };
    let name = form.get("name").unwrap_or("").trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return error_page_with(
            StatusCode::BAD_REQUEST,
            &format!("Give the passkey a name of 1 to {MAX_NAME_CHARS} characters."),
        );
    }
    let registration = Registration {
        realm_id: realm.id.clone(),
        user_id: user.id.clone(),
        name,
        challenge: form.get("challenge").unwrap_or("").to_string(),
        credential: form.get("credential").unwrap_or("").to_string(),
        addr: audited_addr(&state, &req),
        now: state.now(),
    };
    let db = state.db.clone();
    let added = web::block(move || registration.add(&mut *db.conn()?, &webauthn)).await??;
    match added {
        Ok(()) => Ok(back_to_account(&state, &realm, "passkey-added")),
        Err(message) => error_page_with(StatusCode::BAD_REQUEST, message),
    }
}

/// A new passkey as the registration form sent it.
struct Registration {
    realm_id: String,
    user_id: String,
    name: String,
    challenge: String,
    credential: String,
    addr: String,
    now: i64,
}

impl Registration {
    /// Verifies the credential, stores it and audits `user.passkey_added`. `Err` is what the
    /// page tells the person.
    fn add(
        &self,
        conn: &mut tessera_store::DbConnection,
        webauthn: &Webauthn,
    ) -> Result<Result<(), &'static str>, IssuerError> {
        let passkey = match self.verify(conn, webauthn)? {
            Ok(passkey) => passkey,
            Err(message) => return Ok(Err(message)),
        };
        let credential_id = URL_SAFE_NO_PAD.encode(passkey.cred_id());
        if mfa::passkey_by_credential(conn, &self.realm_id, &credential_id)?.is_some() {
            return Ok(Err("This passkey is registered already."));
        }
        let id = tessera_core::id::new_uuid();
        mfa::insert_passkey(
            conn,
            &StoredPasskey {
                id: id.clone(),
                realm_id: self.realm_id.clone(),
                user_id: self.user_id.clone(),
                credential_id,
                name: self.name.clone(),
                passkey: serde_json::to_string(&passkey).map_err(internal("passkey"))?,
                created_at: self.now,
                last_used_at: None,
            },
        )?;
        let detail = serde_json::json!({ "passkey_id": id, "name": self.name });
        self.audit(conn, "user.passkey_added", &detail)?;
        Ok(Ok(()))
    }

    /// Takes the user's registration ceremony (once) and verifies the new credential.
    fn verify(
        &self,
        conn: &mut tessera_store::DbConnection,
        webauthn: &Webauthn,
    ) -> Result<Result<Passkey, &'static str>, IssuerError> {
        let challenge = sha256_hex(&self.challenge);
        let taken =
            mfa::take_challenge(conn, &self.realm_id, &challenge, PURPOSE_REGISTER, self.now)?
                .filter(|t| t.user_id.as_deref() == Some(self.user_id.as_str()));
        let Some(taken) = taken else {
            return Ok(Err(
                "The passkey request expired or was already used. Try again.",
            ));
        };
        let ceremony: PasskeyRegistration =
            serde_json::from_str(&taken.state).map_err(internal("stored ceremony"))?;
        let Ok(credential) = serde_json::from_str::<RegisterPublicKeyCredential>(&self.credential)
        else {
            return Ok(Err("The browser sent no usable passkey. Try again."));
        };
        match webauthn.finish_passkey_registration(&credential, &ceremony) {
            Ok(passkey) => Ok(Ok(passkey)),
            Err(_) => Ok(Err("The passkey could not be verified. Try again.")),
        }
    }

    fn audit(
        &self,
        conn: &mut tessera_store::DbConnection,
        action: &str,
        detail: &serde_json::Value,
    ) -> Result<(), IssuerError> {
        let (realm_id, user_id, addr) = (&self.realm_id, &self.user_id, &self.addr);
        signin::audit_person(
            conn, realm_id, user_id, addr, action, true, detail, self.now,
        )
    }
}

/// `POST /realms/{realm}/account/passkeys/{id}/remove` (form field `csrf`): removes one of
/// the signed-in user's passkeys; 404 for any other id.
pub async fn remove(
    state: web::Data<IssuerState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    if let Err(off) = ready(&state) {
        return Ok(off.response());
    }
    let (realm, id) = path.into_inner();
    let realm = state.realm(&realm).await?;
    let ended = "Your session has ended. Sign in again to manage your passkeys.";
    let (_, user) = match account_form(&state, &realm, &req, payload, ended).await? {
        Ok(signed_in) => signed_in,
        Err(answer) => return Ok(answer),
    };
    let db = state.db.clone();
    let (realm_id, now, addr) = (realm.id.clone(), state.now(), audited_addr(&state, &req));
    let removed = web::block(move || -> Result<bool, IssuerError> {
        let mut conn = db.conn()?;
        if !mfa::remove_passkey(&mut conn, &user.id, &id)? {
            return Ok(false);
        }
        let detail = serde_json::json!({ "passkey_id": id });
        let action = "user.passkey_removed";
        signin::audit_person(
            &mut conn, &realm_id, &user.id, &addr, action, true, &detail, now,
        )?;
        Ok(true)
    })
    .await??;
    if removed {
        Ok(back_to_account(&state, &realm, "passkey-removed"))
    } else {
        error_page_with(StatusCode::NOT_FOUND, "You have no such passkey.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_the_host_of_a_dns_public_url() {
        for url in [
            "http://localhost:8080",
            "https://id.example.com",
            "https://id.example.com/auth",
        ] {
            assert!(
                matches!(RelyingParty::from_public_url(url), RelyingParty::Ready(_)),
                "{url}"
            );
        }
    }

    #[test]
    fn ip_literals_disable_passkeys_saying_why() {
        for url in [
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
            "https://192.0.2.1",
        ] {
            match RelyingParty::from_public_url(url) {
                RelyingParty::Disabled(why) => {
                    assert!(why.contains("DNS name"), "{why}");
                    assert!(why.contains("localhost"), "{why}");
                }
                RelyingParty::Ready(_) => panic!("{url} must disable passkeys"),
            }
        }
    }
}
