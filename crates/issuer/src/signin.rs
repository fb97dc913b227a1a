//! The steps of a sign-in after its first factor: a second factor (TOTP, recovery code or
//! passkey), a new password after an administrator's temporary one, and enrolment of a
//! second factor when the policy requires one the user lacks.
//!
//! A half-finished sign-in is a browser session with `pending` set (the step it waits for);
//! it authorises nothing (`store::sessions::live` skips it) and expires after
//! [`PENDING_TTL_SECS`]. Each step is a form post carrying the authorization request, like
//! the sign-in form; when the last step passes, the session is completed with how it was
//! proven (`amr`) and the request continues to consent or the code.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use tessera_core::authn;
use tessera_core::id::random_token;
use tessera_core::model::BrowserSession;
use tessera_core::model::{Realm, User};
use tessera_core::secret::sha256_hex;
use tessera_store as store;
use tessera_store::mfa::{self, Factors};

use crate::authorize::{
    AuthRequest, SESSION_COOKIE, consent_page, cookie_path, csrf_cookie, flow_request, form_action,
    issue_code, login_page, needs_consent, page, render, secure, set_cookie,
};
use crate::error::IssuerError;
use crate::form::{Form, read_form};
use crate::state::IssuerState;
use crate::throttle::{self, ThrottleStep};
use crate::totp;

/// Waiting for a TOTP code, recovery code or passkey.
pub(crate) const STEP_SECOND_FACTOR: &str = "second-factor";
/// Waiting for a new password to replace a temporary one.
pub(crate) const STEP_NEW_PASSWORD: &str = "new-password";
/// Waiting for the user to set up a second factor the policy requires.
pub(crate) const STEP_ENROL: &str = "enrol";
/// How long a half-finished sign-in may wait for its next step.
pub(crate) const PENDING_TTL_SECS: i64 = 600;

/// What decides a sign-in's next step.
struct Situation {
    factors: Factors,
    policy_requires_mfa: bool,
    change_password: bool,
}

/// The step a sign-in proven by `amr` waits for next, if any. Second factor first (so a
/// stolen temporary password cannot replace the password), then the new password, then
/// enrolment.
fn next_step(situation: &Situation, amr: &str, request: &AuthRequest) -> Option<&'static str> {
    let multi = authn::is_multi_factor(amr);
    let wants_mfa = situation.policy_requires_mfa
        || request
            .acr_values
            .as_deref()
            .is_some_and(authn::requires_multi_factor);
    if !multi && situation.factors.any() {
        Some(STEP_SECOND_FACTOR)
    } else if situation.change_password {
        Some(STEP_NEW_PASSWORD)
    } else if !multi && wants_mfa {
        Some(STEP_ENROL)
    } else {
        None
    }
}

async fn situation(
    state: &IssuerState,
    realm: &Realm,
    user: &User,
) -> Result<Situation, IssuerError> {
    let db = state.db.clone();
    let (realm, user_id, change_password) = (
        realm.clone(),
        user.id.clone(),
        user.password_change_required,
    );
    web::block(move || -> Result<_, IssuerError> {
        let mut conn = db.conn()?;
        Ok(Situation {
            factors: mfa::factors_of(&mut conn, &user_id)?,
            policy_requires_mfa: mfa::mfa_required(&mut conn, &realm, &user_id)?,
            change_password,
        })
    })
    .await?
}

/// Whether the realm's or a role's policy requires a second factor of `user`.
pub(crate) async fn policy_requires_mfa(
    state: &IssuerState,
    realm: &Realm,
    user: &User,
) -> Result<bool, IssuerError> {
    let db = state.db.clone();
    let (realm, user_id) = (realm.clone(), user.id.clone());
    web::block(move || Ok(mfa::mfa_required(&mut *db.conn()?, &realm, &user_id)?)).await?
}

/// Whether the password grant may sign `user` in: not when the sign-in needs a browser step
/// (a second factor, enrolment, or a new password). The error says what to do.
pub(crate) async fn check_password_grant_allowed(
    state: &IssuerState,
    realm: &Realm,
    user: &User,
) -> Result<(), IssuerError> {
    let s = situation(state, realm, user).await?;
    if s.factors.any() || s.policy_requires_mfa {
        return Err(IssuerError::invalid_grant(
            "this account signs in with a second factor, which the password grant cannot \
             carry; sign in through the browser (authorization code flow)",
        ));
    }
    if s.change_password {
        return Err(IssuerError::invalid_grant(
            "the password is temporary and must be changed; sign in through the browser once \
             to choose a new one",
        ));
    }
    Ok(())
}

fn session_cookie(state: &IssuerState, realm: &Realm, value: String) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .path(cookie_path(state, realm))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .max_age(actix_web::cookie::time::Duration::seconds(
            state.settings.session_ttl_secs,
        ))
        .finish()
}

/// A first factor was proven for `user` (a password, or a passkey alone): creates the browser
/// session (pending a further step when one is needed, else complete), sets its cookie, and
/// answers with the next step's page or continues the authorization request.
pub(crate) async fn start_session(
    state: &IssuerState,
    realm: &Realm,
    request: &AuthRequest,
    user: &User,
    amr: &str,
) -> Result<HttpResponse, IssuerError> {
    let situation = situation(state, realm, user).await?;
    let step = next_step(&situation, amr, request);
    let now = state.now();
    let cookie_value = random_token::<32>();
    let session = BrowserSession {
        id_sha256: sha256_hex(&cookie_value),
        realm_id: realm.id.clone(),
        user_id: user.id.clone(),
        auth_time: now,
        last_seen_at: now,
        expires_at: now
            + if step.is_some() {
                PENDING_TTL_SECS
            } else {
                state.settings.session_ttl_secs
            },
        ended_at: None,
        created_at: now,
        amr: amr.to_string(),
        pending: step.map(str::to_string),
    };
    let db = state.db.clone();
    let stored = session.clone();
    web::block(move || store::sessions::insert(&mut *db.conn()?, &stored)).await??;
    let mut resp = match step {
        Some(step) => step_page(state, realm, request, user, &situation, step, None).await?,
        None => continue_request(state, realm, request, &session, user).await?,
    };
    set_cookie(&mut resp, session_cookie(state, realm, cookie_value));
    Ok(resp)
}

/// A pending sign-in proved a step; `amr` is how it is proven now. Moves it to its next step
/// or completes it and continues the authorization request.
pub(crate) async fn second_factor_passed(
    state: &IssuerState,
    realm: &Realm,
    request: &AuthRequest,
    session: &BrowserSession,
    user: &User,
    amr: &str,
) -> Result<HttpResponse, IssuerError> {
    let situation = situation(state, realm, user).await?;
    let step = next_step(&situation, amr, request);
    let completed = advance(state, session, step, amr).await?;
    match step {
        Some(step) => step_page(state, realm, request, user, &situation, step, None).await,
        None => continue_request(state, realm, request, &completed, user).await,
    }
}

/// Stores the session's next step (or completion) and returns it as now stored.
async fn advance(
    state: &IssuerState,
    session: &BrowserSession,
    step: Option<&str>,
    amr: &str,
) -> Result<BrowserSession, IssuerError> {
    let now = state.now();
    let ttl = match step {
        Some(_) => PENDING_TTL_SECS,
        None => state.settings.session_ttl_secs,
    };
    let advanced = BrowserSession {
        auth_time: now,
        last_seen_at: now,
        expires_at: now + ttl,
        amr: amr.to_string(),
        pending: step.map(str::to_string),
        ..session.clone()
    };
    if !store_advance(state, &advanced).await? {
        return Err(IssuerError::invalid_request(
            "this sign-in has already finished or ended; start again",
        ));
    }
    Ok(advanced)
}

/// Stores `advanced` (its step, how it was proven, from when, until when); false when the
/// session was no longer pending (finished or ended).
async fn store_advance(
    state: &IssuerState,
    advanced: &BrowserSession,
) -> Result<bool, IssuerError> {
    let db = state.db.clone();
    let s = advanced.clone();
    let moved = web::block(move || {
        let conn = &mut *db.conn()?;
        mfa::advance_session(
            conn,
            &s.id_sha256,
            s.pending.as_deref(),
            &s.amr,
            s.auth_time,
            s.expires_at,
        )
    })
    .await??;
    Ok(moved)
}

/// Consent when needed, else the code.
async fn continue_request(
    state: &IssuerState,
    realm: &Realm,
    request: &AuthRequest,
    session: &BrowserSession,
    user: &User,
) -> Result<HttpResponse, IssuerError> {
    if needs_consent(state, realm, request, user).await? {
        consent_page(state, realm, request, user)
    } else {
        issue_code(state, realm, request, session).await
    }
}

/// The pending sign-in in `req`'s session cookie: (session, user).
pub(crate) async fn pending(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
) -> Result<Option<(BrowserSession, User)>, IssuerError> {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = sha256_hex(cookie.value());
    let db = state.db.clone();
    let realm_id = realm.id.clone();
    let now = state.now();
    web::block(move || -> Result<_, IssuerError> {
        let mut conn = db.conn()?;
        let Some(session) = mfa::pending_session(&mut conn, &realm_id, &hash, now)? else {
            return Ok(None);
        };
        Ok(store::users::by_id(&mut conn, &session.user_id)?
            .filter(|u| u.enabled)
            .map(|u| (session, u)))
    })
    .await?
}

/// The completed session of `req`, if any.
pub(crate) async fn signed_in(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
) -> Result<Option<(BrowserSession, User)>, IssuerError> {
    crate::authorize::current_session(state, realm, req).await
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage<'a> {
    realm: &'a str,
    action: &'a str,
    csrf: &'a str,
    request: &'a str,
    totp: bool,
    recovery_codes_left: i64,
    passkeys_enabled: bool,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "new_password.html")]
struct NewPasswordPage<'a> {
    realm: &'a str,
    action: &'a str,
    csrf: &'a str,
    request: &'a str,
    error: Option<&'a str>,
}

/// The authenticator-app set-up page, for the sign-in step and the account page alike.
#[derive(Template)]
#[template(path = "enrol.html")]
pub(crate) struct EnrolPage<'a> {
    pub(crate) realm: &'a str,
    pub(crate) action: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) request: &'a str,
    pub(crate) secret: &'a str,
    pub(crate) qr_svg: &'a str,
    pub(crate) error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub(crate) struct RecoveryCodesPage<'a> {
    pub(crate) realm: &'a str,
    pub(crate) codes: &'a [String],
    pub(crate) continue_url: &'a str,
}

/// The page of a step, with a fresh CSRF cookie. `error` re-shows it after a failed try.
async fn step_page(
    state: &IssuerState,
    realm: &Realm,
    request: &AuthRequest,
    user: &User,
    situation: &Situation,
    step: &str,
    error: Option<&str>,
) -> Result<HttpResponse, IssuerError> {
    let csrf = random_token::<24>();
    let form = StepForm {
        action: &form_action(state, realm, step),
        csrf: &csrf,
        request: &request.raw,
        error,
    };
    let html = step_html(state, realm, user, situation, step, &form).await?;
    let status = match error {
        Some(_) => StatusCode::UNAUTHORIZED,
        None => StatusCode::OK,
    };
    let mut resp = page(status, html);
    set_cookie(&mut resp, csrf_cookie(state, realm, csrf));
    Ok(resp)
}

/// What every step's form carries.
struct StepForm<'a> {
    action: &'a str,
    csrf: &'a str,
    request: &'a str,
    error: Option<&'a str>,
}

async fn step_html(
    state: &IssuerState,
    realm: &Realm,
    user: &User,
    situation: &Situation,
    step: &str,
    form: &StepForm<'_>,
) -> Result<String, IssuerError> {
    match step {
        STEP_SECOND_FACTOR => render(&SecondFactorPage {
            realm: &realm.name,
            action: form.action,
            csrf: form.csrf,
            request: form.request,
            totp: situation.factors.totp,
            recovery_codes_left: situation.factors.recovery_codes_left,
            passkeys_enabled: state.passkeys_enabled() && situation.factors.passkeys > 0,
            error: form.error,
        }),
        STEP_NEW_PASSWORD => render(&NewPasswordPage {
            realm: &realm.name,
            action: form.action,
            csrf: form.csrf,
            request: form.request,
            error: form.error,
        }),
        _ => enrol_html(state, realm, user, form).await,
    }
}

/// The enrolment page, with the secret to scan as a QR code or type.
async fn enrol_html(
    state: &IssuerState,
    realm: &Realm,
    user: &User,
    form: &StepForm<'_>,
) -> Result<String, IssuerError> {
    let secret = enrolment_secret(state, realm, user).await?;
    let uri = totp::provisioning_uri(&secret, &realm.display_name, &user.username)?;
    render(&EnrolPage {
        realm: &realm.name,
        action: form.action,
        csrf: form.csrf,
        request: form.request,
        secret: &secret,
        qr_svg: &totp::qr_svg(&uri)?,
        error: form.error,
    })
}

/// The secret of the user's unconfirmed TOTP enrolment, started now if there is none (a
/// reloaded page keeps the secret the app may already have scanned).
pub(crate) async fn enrolment_secret(
    state: &IssuerState,
    realm: &Realm,
    user: &User,
) -> Result<String, IssuerError> {
    let db = state.db.clone();
    let (realm_id, user_id, now) = (realm.id.clone(), user.id.clone(), state.now());
    web::block(move || -> Result<String, IssuerError> {
        let mut conn = db.conn()?;
        if let Some(existing) = mfa::totp_of(&mut conn, &user_id)? {
            if existing.confirmed_at.is_none() {
                return Ok(existing.secret);
            }
            return Err(IssuerError::invalid_request(
                "an authenticator app is already set up; remove it on the account page first",
            ));
        }
        let secret = totp::new_secret();
        mfa::start_totp_enrolment(&mut conn, &realm_id, &user_id, &secret, now)?;
        Ok(secret)
    })
    .await?
}

/// What a step's form post shares: the realm, the checked request, and the pending sign-in.
struct StepPost {
    realm: std::sync::Arc<Realm>,
    form: Form,
    request: Box<AuthRequest>,
    session: BrowserSession,
    user: User,
}

impl StepPost {
    /// This step's page again with `error`, the user's factors looked up afresh.
    async fn again(
        &self,
        state: &IssuerState,
        step: &str,
        error: &str,
    ) -> Result<HttpResponse, IssuerError> {
        let (realm, request, user) = (&self.realm, &self.request, &self.user);
        let situation = situation(state, realm, user).await?;
        step_page(state, realm, request, user, &situation, step, Some(error)).await
    }
}

/// Reads a step's form: CSRF, the request, cancel, and the pending sign-in at `step`.
async fn read_step(
    state: &IssuerState,
    realm_name: &str,
    req: &HttpRequest,
    payload: web::Payload,
    step: &str,
) -> Result<Result<StepPost, HttpResponse>, IssuerError> {
    let realm = state.realm(realm_name).await?;
    let form = read_form(req, payload, &state.settings).await?;
    let expired = "The form expired or was not sent from this site. Go back to the application and start again.";
    let request = match flow_request(state, &realm, req, &form, expired).await? {
        Ok(request) => request,
        Err(resp) => return Ok(Err(resp)),
    };
    let found = pending(state, &realm, req).await?;
    if form.get("action") == Some("cancel") {
        if let Some((session, _)) = &found {
            crate::logout::end_session(state, &realm, &session.id_sha256).await?;
        }
        return Ok(Err(request
            .reply
            .error("access_denied", "the user cancelled the sign-in")));
    }
    let Some((session, user)) = found.filter(|(s, _)| s.pending.as_deref() == Some(step)) else {
        let ended = Some("This sign-in took too long or has ended. Sign in again.");
        return login_page(state, &realm, &request, "", ended).map(Err);
    };
    Ok(Ok(StepPost {
        realm,
        form,
        request,
        session,
        user,
    }))
}

/// Counts a second-factor attempt for the user before it is checked; a locked user gets
/// the step page with the wait.
fn admit_factor_attempt(
    settings: &crate::config::ThrottleSettings,
    conn: &mut tessera_store::DbConnection,
    realm_id: &str,
    user_id: &str,
    now: i64,
) -> Result<Result<ThrottleStep, i64>, IssuerError> {
    let keys = throttle::second_factor_keys(user_id, settings);
    match throttle::admit_password_attempt(conn, realm_id, &keys, now) {
        Ok(_) => Ok(Ok(ThrottleStep { keys })),
        Err(IssuerError::Throttled {
            retry_after_secs, ..
        }) => Ok(Err(retry_after_secs)),
        Err(e) => Err(e),
    }
}

fn wait_message(retry_after_secs: i64) -> String {
    format!(
        "Too many wrong codes. Try again in {retry_after_secs} second{}.",
        if retry_after_secs == 1 { "" } else { "s" }
    )
}

/// The outcome of checking a code typed at a step.
enum CodeCheck {
    Accepted,
    Wrong,
    Throttled(i64),
}

/// `POST /realms/{realm}/login-actions/second-factor`: a TOTP or recovery code.
pub async fn second_factor(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let post = match read_step(&state, &realm, &req, payload, STEP_SECOND_FACTOR).await? {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let Some(code) = TypedCode::from_form(&post.form) else {
        let missing = "Enter the code from your authenticator app, or a recovery code.";
        return post.again(&state, STEP_SECOND_FACTOR, missing).await;
    };
    let (method, wrong) = (code.method(), code.wrong());
    let addr = crate::token::client_addr(&req, state.settings.trust_forwarded_headers);
    let check = move |conn: &mut tessera_store::DbConnection, user_id: &str, now: i64| {
        code.accept(conn, user_id, now)
    };
    let error = match check_code(&state, &post.realm, &post.user, method, addr, check).await? {
        CodeCheck::Accepted => {
            let amr = combine(&post.session.amr, authn::PASSWORD_AND_OTP);
            let (realm, request, session) = (&post.realm, &post.request, &post.session);
            return second_factor_passed(&state, realm, request, session, &post.user, &amr).await;
        }
        CodeCheck::Wrong => wrong.to_string(),
        CodeCheck::Throttled(wait) => wait_message(wait),
    };
    post.again(&state, STEP_SECOND_FACTOR, &error).await
}

/// A code typed at the second-factor step.
enum TypedCode {
    Totp(String),
    Recovery(String),
}

impl TypedCode {
    /// The app's code when one was typed, else the recovery code; `None` when neither was.
    fn from_form(form: &Form) -> Option<Self> {
        let code = form.get("code").unwrap_or("").trim();
        let recovery = form.get("recovery_code").unwrap_or("").trim();
        match (code.is_empty(), recovery.is_empty()) {
            (false, _) => Some(Self::Totp(code.to_string())),
            (true, false) => Some(Self::Recovery(recovery.to_string())),
            (true, true) => None,
        }
    }

    /// The method as audited.
    fn method(&self) -> &'static str {
        match self {
            Self::Totp(_) => "totp",
            Self::Recovery(_) => "recovery_code",
        }
    }

    /// What the page says when the code is wrong.
    fn wrong(&self) -> &'static str {
        match self {
            Self::Totp(_) => {
                "That code is not right. Enter the current code from your authenticator app."
            }
            Self::Recovery(_) => "That recovery code is not right or was already used.",
        }
    }

    /// Accepts the code, spending it: the TOTP step, or the recovery code.
    fn accept(
        self,
        conn: &mut tessera_store::DbConnection,
        user_id: &str,
        now: i64,
    ) -> Result<bool, IssuerError> {
        match self {
            Self::Totp(code) => accept_totp(conn, user_id, &code, now),
            Self::Recovery(code) => {
                let hash = totp::recovery_code_hash(&code);
                Ok(mfa::redeem_recovery_code(conn, user_id, &hash, now)?)
            }
        }
    }
}

/// Whether `code` is the current code of the user's confirmed authenticator app, in a step
/// not used before; the step is recorded so that it cannot be used again.
fn accept_totp(
    conn: &mut tessera_store::DbConnection,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<bool, IssuerError> {
    let Some(t) = mfa::totp_of(conn, user_id)?.filter(|t| t.confirmed_at.is_some()) else {
        return Ok(false);
    };
    match totp::matching_step(&t.secret, code, now, t.last_step) {
        Some(s) => Ok(mfa::accept_totp_step(conn, user_id, s)?),
        None => Ok(false),
    }
}

/// Checks a typed code in one database call, under the user's second-factor throttle: the
/// attempt is admitted first, then `check` runs, then the throttle is settled and the
/// attempt audited (`user.second_factor` with `method`).
async fn check_code<F>(
    state: &IssuerState,
    realm: &Realm,
    user: &User,
    method: &'static str,
    addr: Option<std::net::IpAddr>,
    check: F,
) -> Result<CodeCheck, IssuerError>
where
    F: FnOnce(&mut tessera_store::DbConnection, &str, i64) -> Result<bool, IssuerError>
        + Send
        + 'static,
{
    let db = state.db.clone();
    let (realm_id, user_id, now) = (realm.id.clone(), user.id.clone(), state.now());
    let settings = state.settings.throttle;
    web::block(move || -> Result<CodeCheck, IssuerError> {
        let mut conn = db.conn()?;
        let step = match admit_factor_attempt(&settings, &mut conn, &realm_id, &user_id, now)? {
            Ok(s) => s,
            Err(wait) => return Ok(CodeCheck::Throttled(wait)),
        };
        let accepted = check(&mut conn, &user_id, now)?;
        throttle::settle_password_attempt(&mut conn, &realm_id, &step.keys, accepted, now)?;
        audit_factor(&mut conn, &realm_id, &user_id, method, accepted, addr, now)?;
        Ok(if accepted {
            CodeCheck::Accepted
        } else {
            CodeCheck::Wrong
        })
    })
    .await?
}

/// The second-factor page again with `error`, for a passkey that failed (`crate::passkey`).
pub(crate) async fn second_factor_page(
    state: &IssuerState,
    realm: &Realm,
    request: &AuthRequest,
    user: &User,
    error: &str,
) -> Result<HttpResponse, IssuerError> {
    let situation = situation(state, realm, user).await?;
    let step = STEP_SECOND_FACTOR;
    step_page(state, realm, request, user, &situation, step, Some(error)).await
}

/// How a sign-in is proven once `added` was proven on top of `so_far`: the union of both,
/// `pwd` first (a passkey-alone sign-in needs no second factor, so this only grows a
/// password sign-in).
pub(crate) fn combine(so_far: &str, added: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for m in authn::amr_list(so_far)
        .into_iter()
        .chain(authn::amr_list(added))
    {
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out.join(" ")
}

/// An audit event about a person, acted by that person (sign-in steps, account changes):
/// actor and target are `user:<id>`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn audit_person(
    conn: &mut tessera_store::DbConnection,
    realm_id: &str,
    user_id: &str,
    addr: &str,
    action: &str,
    success: bool,
    detail: &serde_json::Value,
    now: i64,
) -> Result<(), IssuerError> {
    use tessera_store::provision::{Actor, Audited, audit_event};
    let who = format!("user:{user_id}");
    audit_event(
        conn,
        realm_id,
        &Actor {
            name: &who,
            source_addr: addr,
        },
        &Audited {
            action,
            target: &who,
            outcome: if success { "success" } else { "failure" },
            detail: &detail.to_string(),
        },
        now,
    )?;
    Ok(())
}

/// `user.second_factor` audit event: which method, whether it passed, from where.
pub(crate) fn audit_factor(
    conn: &mut tessera_store::DbConnection,
    realm_id: &str,
    user_id: &str,
    method: &str,
    success: bool,
    addr: Option<std::net::IpAddr>,
    now: i64,
) -> Result<(), IssuerError> {
    let addr = addr.map(|a| a.to_string()).unwrap_or_default();
    audit_person(
        conn,
        realm_id,
        user_id,
        &addr,
        "user.second_factor",
        success,
        &serde_json::json!({ "method": method }),
        now,
    )
}

/// `POST /realms/{realm}/login-actions/new-password`: replaces a temporary password.
pub async fn new_password(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let post = match read_step(&state, &realm, &req, payload, STEP_NEW_PASSWORD).await? {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let password = post.form.get("password").unwrap_or("").to_string();
    let confirm = post.form.get("confirm").unwrap_or("");
    let differ = "The two passwords differ. Type the same new password twice.";
    if let Some(problem) = new_password_problem(&password, confirm, differ) {
        return post.again(&state, STEP_NEW_PASSWORD, &problem).await;
    }
    let hash = hash_new_password(&state, password).await?;
    set_password_ending_other_sessions(&state, &post.realm, &post.user, &hash, &post.session)
        .await?;
    let user = User {
        password_change_required: false,
        ..post.user.clone()
    };
    let (realm, request, session) = (&post.realm, &post.request, &post.session);
    second_factor_passed(&state, realm, request, session, &user, &session.amr).await
}

/// What is wrong with a person's new password typed twice, in the words the page shows:
/// `differ` when the two differ, else the policy's objection.
pub(crate) fn new_password_problem(password: &str, confirm: &str, differ: &str) -> Option<String> {
    if password != confirm {
        return Some(differ.to_string());
    }
    tessera_core::password::validate_password(password)
        .err()
        .map(|e| format!("Choose another password: {}.", e.message))
}

/// Hashes a person's new password on the blocking pool.
pub(crate) async fn hash_new_password(
    state: &IssuerState,
    password: String,
) -> Result<String, IssuerError> {
    let hasher = state.hasher.clone();
    web::block(move || hasher.hash(&password))
        .await?
        .map_err(|e| IssuerError::invalid_request(e.message))
}

/// Stores the user's own new password and ends every other session of the user (with their
/// grants and tokens, and back-channel logout), keeping `current`.
pub(crate) async fn set_password_ending_other_sessions(
    state: &IssuerState,
    realm: &Realm,
    user: &User,
    password_hash: &str,
    current: &BrowserSession,
) -> Result<(), IssuerError> {
    let db = state.db.clone();
    let (realm_id, user_id, hash, keep, now) = (
        realm.id.clone(),
        user.id.clone(),
        password_hash.to_string(),
        current.id_sha256.clone(),
        state.now(),
    );
    let others = web::block(move || -> Result<Vec<String>, IssuerError> {
        let mut conn = db.conn()?;
        mfa::set_own_password(&mut conn, &user_id, &hash, now)?;
        Ok(mfa::live_sessions_except(
            &mut conn, &realm_id, &user_id, &keep, now,
        )?)
    })
    .await??;
    for session in others {
        crate::logout::end_session(state, realm, &session).await?;
    }
    Ok(())
}

/// `POST /realms/{realm}/login-actions/enrol`: confirms the TOTP app the policy required,
/// completes the sign-in and shows the recovery codes once.
pub async fn enrol(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let post = match read_step(&state, &realm, &req, payload, STEP_ENROL).await? {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let code = post.form.get("code").unwrap_or("");
    let addr = crate::token::client_addr(&req, state.settings.trust_forwarded_headers);
    if let Err(error) = confirm_enrolment(&state, &post.realm, &post.user, code, addr).await? {
        return post.again(&state, STEP_ENROL, &error).await;
    }
    let codes = issue_recovery_codes(&state, &post.realm, &post.user).await?;
    let amr = combine(&post.session.amr, authn::PASSWORD_AND_OTP);
    let situation = situation(&state, &post.realm, &post.user).await?;
    if let Some(next) = next_step(&situation, &amr, &post.request) {
        // Not expected after enrolment (the factor now exists and was just proven), but
        // never complete a sign-in a rule still holds back.
        advance(&state, &post.session, Some(next), &amr).await?;
        let (realm, request, user) = (&post.realm, &post.request, &post.user);
        return step_page(&state, realm, request, user, &situation, next, None).await;
    }
    advance(&state, &post.session, None, &amr).await?;
    recovery_codes_page(&state, &post, &codes)
}

/// The new recovery codes, shown once, with the link that continues the sign-in.
fn recovery_codes_page(
    state: &IssuerState,
    post: &StepPost,
    codes: &[String],
) -> Result<HttpResponse, IssuerError> {
    let continue_url = format!(
        "{}/realms/{}/protocol/openid-connect/auth?{}",
        state.path_prefix(),
        post.realm.name,
        post.request.raw
    );
    Ok(page(
        StatusCode::OK,
        render(&RecoveryCodesPage {
            realm: &post.realm.name,
            codes,
            continue_url: &continue_url,
        })?,
    ))
}

/// Confirms the user's pending TOTP enrolment with the first code from the app (throttled
/// and audited like a second factor). `Err` carries the message to show.
pub(crate) async fn confirm_enrolment(
    state: &IssuerState,
    realm: &Realm,
    user: &User,
    code: &str,
    addr: Option<std::net::IpAddr>,
) -> Result<Result<(), String>, IssuerError> {
    let code = code.trim().to_string();
    let check =
        move |conn: &mut tessera_store::DbConnection, user_id: &str, now: i64| match mfa::totp_of(
            conn, user_id,
        )? {
            Some(t) if t.confirmed_at.is_none() => {
                match totp::matching_step(&t.secret, &code, now, 0) {
                    Some(s) => Ok(mfa::confirm_totp(conn, user_id, s, now)?),
                    None => Ok(false),
                }
            }
            _ => Ok(false),
        };
    let checked = check_code(state, realm, user, "totp_enrolment", addr, check).await?;
    Ok(match checked {
        CodeCheck::Accepted => Ok(()),
        CodeCheck::Wrong => Err("That code is not right. Scan the code again, or type the key, and enter the code the app shows now.".to_string()),
        CodeCheck::Throttled(wait) => Err(wait_message(wait)),
    })
}

/// New recovery codes for the user, replacing any old ones; returned once to show.
pub(crate) async fn issue_recovery_codes(
    state: &IssuerState,
    realm: &Realm,
    user: &User,
) -> Result<Vec<String>, IssuerError> {
    let codes = totp::new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_code_hash(c)).collect();
    let db = state.db.clone();
    let (realm_id, user_id, now) = (realm.id.clone(), user.id.clone(), state.now());
    web::block(move || {
        mfa::replace_recovery_codes(&mut *db.conn()?, &realm_id, &user_id, &hashes, now)
    })
    .await??;
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amr_grows_without_repeats() {
        assert_eq!(combine("pwd", authn::PASSWORD_AND_OTP), "pwd otp mfa");
        assert_eq!(
            combine("pwd otp mfa", authn::PASSWORD_AND_OTP),
            "pwd otp mfa"
        );
        assert!(authn::is_multi_factor(&combine(
            "pwd",
            authn::PASSWORD_AND_PASSKEY
        )));
    }
}
