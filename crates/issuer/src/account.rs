//! The account page at `/realms/{realm}/account/`: what a signed-in person manages about
//! themselves — password, authenticator app, recovery codes, passkeys, and where they are
//! signed in.
//!
//! Served by the issuer because it rests on the issuer's own sign-in session (the SSO cookie):
//! no token, no API round trip. Without a session it sends the browser through the console's
//! sign-in, which comes back here. Forms use the sign-in pages' double-submit CSRF cookie;
//! changes that would let a thief keep an account (password, turning a factor off, new
//! recovery codes) ask for the current password, checked and throttled like a sign-in.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use tessera_core::id::random_token;
use tessera_core::model::BrowserSession;
use tessera_core::model::{Realm, User};
use tessera_store::mfa;

use crate::authorize::{csrf_cookie, csrf_ok, page, render, set_cookie};
use crate::error::IssuerError;
use crate::form::{Form, read_form};
use crate::signin;
use crate::state::IssuerState;
use crate::totp;

/// One browser session on the page.
pub(crate) struct SessionView {
    pub(crate) id: String,
    pub(crate) signed_in: String,
    pub(crate) how: String,
    pub(crate) current: bool,
}

/// One application holding a refresh token on the page.
pub(crate) struct GrantView {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) since: String,
    pub(crate) scope: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    realm: &'a str,
    username: &'a str,
    base: &'a str,
    console_url: &'a str,
    logout_url: &'a str,
    csrf: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    totp: bool,
    has_factor: bool,
    mfa_required: bool,
    recovery_codes_left: i64,
    passkeys_enabled: bool,
    passkeys: Vec<crate::passkey::PasskeyView>,
    sessions: Vec<SessionView>,
    grants: Vec<GrantView>,
}

/// `{prefix}/realms/{realm}/account/`
fn account_base(state: &IssuerState, realm: &Realm) -> String {
    format!("{}/realms/{}/account/", state.path_prefix(), realm.name)
}

/// The notices a finished action redirects back with (`?done=…`): fixed words, so the query
/// cannot put text on the page.
fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "password" => "Your password was changed. Every other session was signed out.",
        "totp-removed" => "The authenticator app was turned off.",
        "session-ended" => "That session was signed out.",
        "grant-revoked" => "That application's access was revoked.",
        "passkey-added" => "The passkey was added.",
        "passkey-removed" => "The passkey was removed.",
        _ => return None,
    })
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The signed-in person of this realm, or the redirect through the console's sign-in.
async fn require_session(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
) -> Result<Result<(BrowserSession, User), HttpResponse>, IssuerError> {
    match signin::signed_in(state, realm, req).await? {
        Some(found) => Ok(Ok(found)),
        None => {
            let back = account_base(state, realm);
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", &back)
                .finish();
            Ok(Err(see_other(&format!(
                "{}/realms/{}/console/login?{query}",
                state.path_prefix(),
                realm.name
            ))))
        }
    }
}

/// A moment as the account page shows it: `2026-12-03 13:40 UTC`.
pub(crate) fn when(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// Renders the page for `user` with a fresh CSRF cookie.
async fn render_account(
    state: &IssuerState,
    realm: &Realm,
    session: &BrowserSession,
    user: &User,
    notice_text: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, IssuerError> {
    let data = account_data(state, realm, session, user).await?;
    let csrf = random_token::<24>();
    let html = render(&AccountPage {
        realm: &realm.name,
        username: &user.username,
        base: &account_base(state, realm),
        console_url: &format!("{}/realms/{}/console/", state.path_prefix(), realm.name),
        logout_url: &format!(
            "{}/realms/{}/protocol/openid-connect/logout",
            state.path_prefix(),
            realm.name
        ),
        csrf: &csrf,
        notice: notice_text,
        error,
        totp: data.factors.totp,
        has_factor: data.factors.any(),
        mfa_required: data.mfa_required,
        recovery_codes_left: data.factors.recovery_codes_left,
        passkeys_enabled: data.passkeys_enabled,
        passkeys: data.passkeys,
        sessions: data.sessions,
        grants: data.grants,
    })?;
    let status = error.map_or(StatusCode::OK, |_| StatusCode::BAD_REQUEST);
    let mut resp = page(status, html);
    set_cookie(&mut resp, csrf_cookie(state, realm, csrf));
    Ok(resp)
}

/// What the account page shows about the person.
struct AccountData {
    factors: mfa::Factors,
    mfa_required: bool,
    passkeys_enabled: bool,
    passkeys: Vec<crate::passkey::PasskeyView>,
    sessions: Vec<SessionView>,
    grants: Vec<GrantView>,
}

async fn account_data(
    state: &IssuerState,
    realm: &Realm,
    session: &BrowserSession,
    user: &User,
) -> Result<AccountData, IssuerError> {
    let db = state.db.clone();
    let (realm_row, user_id, current, now) = (
        realm.clone(),
        user.id.clone(),
        session.id_sha256.clone(),
        state.now(),
    );
    let (factors, mfa_required, sessions, grants) =
        web::block(move || -> Result<_, IssuerError> {
            let mut conn = db.conn()?;
            let factors = mfa::factors_of(&mut conn, &user_id)?;
            let required = mfa::mfa_required(&mut conn, &realm_row, &user_id)?;
            let (sessions, grants) = crate::sessions::of_user(&mut conn, &user_id, &current, now)?;
            Ok((factors, required, sessions, grants))
        })
        .await??;
    let passkeys_enabled = state.passkeys_enabled();
    let passkeys = if passkeys_enabled {
        crate::passkey::views_of(state, &user.id).await?
    } else {
        Vec::new()
    };
    Ok(AccountData {
        factors,
        mfa_required,
        passkeys_enabled,
        passkeys,
        sessions: sessions.into_iter().map(session_view).collect(),
        grants: grants.into_iter().map(grant_view).collect(),
    })
}

fn session_view((s, current): (tessera_store::accounts::SessionInfo, bool)) -> SessionView {
    SessionView {
        signed_in: when(s.created_at),
        how: describe_amr(&s.amr),
        id: s.id,
        current,
    }
}

fn grant_view(g: tessera_store::accounts::GrantInfo) -> GrantView {
    GrantView {
        since: when(g.created_at),
        id: g.id,
        client_id: g.client_id,
        scope: g.scope,
    }
}

fn describe_amr(amr: &str) -> String {
    let parts: Vec<&str> = tessera_core::authn::amr_list(amr)
        .into_iter()
        .filter_map(|m| match m {
            "pwd" => Some("password"),
            "otp" => Some("one-time code"),
            "hwk" => Some("passkey"),
            _ => None,
        })
        .collect();
    parts.join(" + ")
}

/// `GET /realms/{realm}/account/`
pub async fn show(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, IssuerError> {
    let realm = state.realm(&realm).await?;
    let (session, user) = match require_session(&state, &realm, &req).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let done = query
        .iter()
        .find(|(k, _)| k == "done")
        .and_then(|(_, v)| notice(v));
    render_account(&state, &realm, &session, &user, done, None).await
}

/// A checked account form: the realm, the person, the form.
struct AccountPost {
    realm: std::sync::Arc<Realm>,
    session: BrowserSession,
    user: User,
    form: Form,
}

async fn read_post(
    state: &IssuerState,
    realm_name: &str,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Result<AccountPost, HttpResponse>, IssuerError> {
    let realm = state.realm(realm_name).await?;
    let form = read_form(req, payload, &state.settings).await?;
    let (session, user) = match require_session(state, &realm, req).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(Err(redirect)),
    };
    if !csrf_ok(req, &form) {
        return render_account(
            state,
            &realm,
            &session,
            &user,
            None,
            Some("The form expired or was not sent from this page. Try again."),
        )
        .await
        .map(Err);
    }
    Ok(Ok(AccountPost {
        realm,
        session,
        user,
        form,
    }))
}

/// Checks the current password typed on the page like a sign-in (throttled, audited).
/// `Err` carries the message to show.
async fn confirm_password(
    state: &IssuerState,
    req: &HttpRequest,
    post: &AccountPost,
) -> Result<Result<(), String>, IssuerError> {
    let typed = post.form.get("current_password").unwrap_or("").to_string();
    if typed.is_empty() {
        return Ok(Err("Enter your current password.".into()));
    }
    let by = crate::token::SignInBy {
        method: "account",
        client_id: "",
        addr: crate::token::client_addr(req, state.settings.trust_forwarded_headers),
    };
    match crate::token::check_password(state, &post.realm, post.user.username.clone(), typed, &by)
        .await
    {
        Ok(u) if u.id == post.user.id => Ok(Ok(())),
        Ok(_) | Err(IssuerError::OAuth { .. }) => {
            Ok(Err("The current password is not right.".into()))
        }
        Err(IssuerError::Throttled {
            retry_after_secs, ..
        }) => Ok(Err(format!(
            "Too many failed attempts. Try again in {retry_after_secs} seconds."
        ))),
        Err(e) => Err(e),
    }
}

/// An account form for a change that asks for the current password: read, checked, and the
/// password confirmed; otherwise the page (or redirect) to answer with.
async fn read_confirmed_post(
    state: &IssuerState,
    realm_name: &str,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Result<AccountPost, HttpResponse>, IssuerError> {
    let post = match read_post(state, realm_name, req, payload).await? {
        Ok(p) => p,
        Err(resp) => return Ok(Err(resp)),
    };
    if let Err(message) = confirm_password(state, req, &post).await? {
        return show_error(state, &post, &message).await.map(Err);
    }
    Ok(Ok(post))
}

async fn show_error(
    state: &IssuerState,
    post: &AccountPost,
    message: &str,
) -> Result<HttpResponse, IssuerError> {
    render_account(
        state,
        &post.realm,
        &post.session,
        &post.user,
        None,
        Some(message),
    )
    .await
}

/// `POST /realms/{realm}/account/password`
pub async fn change_password(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let post = match read_post(&state, &realm, &req, payload).await? {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let password = post.form.get("password").unwrap_or("").to_string();
    let confirm = post.form.get("confirm").unwrap_or("");
    let differ = "The two new passwords differ. Type the same one twice.";
    if let Some(problem) = signin::new_password_problem(&password, confirm, differ) {
        return show_error(&state, &post, &problem).await;
    }
    if let Err(message) = confirm_password(&state, &req, &post).await? {
        return show_error(&state, &post, &message).await;
    }
    let hash = signin::hash_new_password(&state, password).await?;
    let (realm, user, session) = (&post.realm, &post.user, &post.session);
    signin::set_password_ending_other_sessions(&state, realm, user, &hash, session).await?;
    let detail = serde_json::json!({"via": "account"});
    audit(&state, &req, &post, "user.password_change", detail).await?;
    Ok(done(&state, &post.realm, "password"))
}

/// Back to the account page, which shows the notice `what` names ([`notice`]).
fn done(state: &IssuerState, realm: &Realm, what: &str) -> HttpResponse {
    see_other(&format!("{}?done={what}", account_base(state, realm)))
}

/// Writes an audit event about the person, by the person, from the browser's address.
async fn audit(
    state: &IssuerState,
    req: &HttpRequest,
    post: &AccountPost,
    action: &'static str,
    detail: serde_json::Value,
) -> Result<(), IssuerError> {
    let db = state.db.clone();
    let addr = crate::token::client_addr(req, state.settings.trust_forwarded_headers)
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (realm_id, user_id, now) = (post.realm.id.clone(), post.user.id.clone(), state.now());
    web::block(move || {
        signin::audit_person(
            &mut *db.conn()?,
            &realm_id,
            &user_id,
            &addr,
            action,
            true,
            &detail,
            now,
        )
    })
    .await?
}

/// The enrolment page shown on the account page (same template as the sign-in step).
async fn enrol_page(
    state: &IssuerState,
    post: &AccountPost,
    error: Option<&str>,
) -> Result<HttpResponse, IssuerError> {
    let secret = match signin::enrolment_secret(state, &post.realm, &post.user).await {
        Ok(s) => s,
        Err(IssuerError::OAuth { description, .. }) => {
            return show_error(state, post, &description).await;
        }
        Err(e) => return Err(e),
    };
    let uri = totp::provisioning_uri(&secret, &post.realm.display_name, &post.user.username)?;
    let csrf = random_token::<24>();
    let html = render(&crate::signin::EnrolPage {
        realm: &post.realm.name,
        action: &format!("{}totp/confirm", account_base(state, &post.realm)),
        csrf: &csrf,
        request: "",
        secret: &secret,
        qr_svg: &totp::qr_svg(&uri)?,
        error,
    })?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut resp = page(status, html);
    set_cookie(&mut resp, csrf_cookie(state, &post.realm, csrf));
    Ok(resp)
}

/// `POST /realms/{realm}/account/totp/start`
pub async fn start_totp(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    match read_post(&state, &realm, &req, payload).await? {
        Ok(post) => enrol_page(&state, &post, None).await,
        Err(resp) => Ok(resp),
    }
}

/// `POST /realms/{realm}/account/totp/confirm`: the first code proves the app works; the
/// recovery codes are shown once.
pub async fn confirm_totp(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let post = match read_post(&state, &realm, &req, payload).await? {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let base = account_base(&state, &post.realm);
    if post.form.get("action") == Some("cancel") {
        return Ok(see_other(&base));
    }
    let code = post.form.get("code").unwrap_or("").to_string();
    let addr = crate::token::client_addr(&req, state.settings.trust_forwarded_headers);
    let confirmed = signin::confirm_enrolment(&state, &post.realm, &post.user, &code, addr).await?;
    if let Err(message) = confirmed {
        return enrol_page(&state, &post, Some(&message)).await;
    }
    let codes = signin::issue_recovery_codes(&state, &post.realm, &post.user).await?;
    Ok(page(
        StatusCode::OK,
        render(&signin::RecoveryCodesPage {
            realm: &post.realm.name,
            codes: &codes,
            continue_url: &base,
        })?,
    ))
}

/// `POST /realms/{realm}/account/totp/remove`
pub async fn remove_totp(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let post = match read_confirmed_post(&state, &realm, &req, payload).await? {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let db = state.db.clone();
    let user_id = post.user.id.clone();
    web::block(move || mfa::remove_totp(&mut *db.conn()?, &user_id)).await??;
    audit(
        &state,
        &req,
        &post,
        "user.totp_removed",
        serde_json::json!({}),
    )
    .await?;
    Ok(done(&state, &post.realm, "totp-removed"))
}

/// `POST /realms/{realm}/account/recovery-codes`: new codes, the old ones stop working.
pub async fn new_recovery_codes(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let post = match read_confirmed_post(&state, &realm, &req, payload).await? {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let db = state.db.clone();
    let user_id = post.user.id.clone();
    let factors = web::block(move || mfa::factors_of(&mut *db.conn()?, &user_id)).await??;
    if !factors.any() {
        return show_error(
            &state,
            &post,
            "Set up an authenticator app or a passkey first.",
        )
        .await;
    }
    let codes = signin::issue_recovery_codes(&state, &post.realm, &post.user).await?;
    audit(
        &state,
        &req,
        &post,
        "user.recovery_codes_replaced",
        serde_json::json!({}),
    )
    .await?;
    Ok(page(
        StatusCode::OK,
        render(&signin::RecoveryCodesPage {
            realm: &post.realm.name,
            codes: &codes,
            continue_url: &account_base(&state, &post.realm),
        })?,
    ))
}

/// `POST /realms/{realm}/account/sessions/{id}/end`
pub async fn end_session(
    state: web::Data<IssuerState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let (realm, id) = path.into_inner();
    let post = match read_post(&state, &realm, &req, payload).await? {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let db = state.db.clone();
    let (user_id, now) = (post.user.id.clone(), state.now());
    let lookup = id.clone();
    let hash = web::block(move || {
        crate::sessions::session_hash_of_user(&mut *db.conn()?, &user_id, &lookup, now)
    })
    .await??;
    let Some(hash) = hash else {
        return show_error(
            &state,
            &post,
            "That session is not yours or has already ended.",
        )
        .await;
    };
    crate::logout::end_session(&state, &post.realm, &hash).await?;
    audit(
        &state,
        &req,
        &post,
        "user.session_ended",
        serde_json::json!({"session": id}),
    )
    .await?;
    if hash == post.session.id_sha256 {
        return Ok(see_other(&account_base(&state, &post.realm)));
    }
    Ok(done(&state, &post.realm, "session-ended"))
}

/// `POST /realms/{realm}/account/grants/{id}/revoke`
pub async fn revoke_grant(
    state: web::Data<IssuerState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, IssuerError> {
    let (realm, id) = path.into_inner();
    let post = match read_post(&state, &realm, &req, payload).await? {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let revoked = crate::sessions::revoke_grant_of_user(&state, &post.user.id, &id).await?;
    if !revoked {
        return show_error(
            &state,
            &post,
            "That application's access is not yours or has already ended.",
        )
        .await;
    }
    audit(
        &state,
        &req,
        &post,
        "user.grant_revoked",
        serde_json::json!({"grant": id}),
    )
    .await?;
    Ok(done(&state, &post.realm, "grant-revoked"))
}
