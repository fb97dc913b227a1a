//! API keys: the Personal and Team tabs, adding a key (its value shown once), renaming,
//! revoking, reinstating and deleting. Each action is one call to the key API.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use tessera_core::model::KeyStatus;

use crate::ConsoleState;
use crate::api::form_refusal;
use crate::error::ConsoleError;
use crate::forms::{FieldErrors, FormData};
use crate::view::{self, Context, Layout, encode, short_time, short_time_or};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys", web::get().to(list))
        .route("/keys/new", web::get().to(new_personal))
        .route("/keys/new", web::post().to(create_personal))
        .route("/teamkeys/new", web::get().to(new_team))
        .route("/teamkeys/new", web::post().to(create_team))
        .route("/{kind:(keys|teamkeys)}/{id}", web::get().to(detail))
        .route(
            "/{kind:(keys|teamkeys)}/{id}/delete",
            web::get().to(confirm_delete),
        )
        .route(
            "/{kind:(keys|teamkeys)}/{id}/{action:(rename|revoke|reinstate|delete)}",
            web::post().to(act),
        );
}

/// `…/console/`: the person's API keys.
pub async fn home(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    // Signing in first keeps `return_to` pointing at the console home.
    let session = crate::session::Session::require(&state, &req).await?;
    Ok(view::see_other(&format!("{}/keys", session.base)))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Personal,
    Team,
}

impl Kind {
    fn from_segment(segment: &str) -> Self {
        if segment == "teamkeys" {
            Self::Team
        } else {
            Self::Personal
        }
    }

    fn segment(self) -> &'static str {
        match self {
            Self::Personal => "keys",
            Self::Team => "teamkeys",
        }
    }

    fn api_path(self, id: &str) -> String {
        match self {
            Self::Personal => format!("/api/v1/apikeys/{}", encode(id)),
            Self::Team => format!("/api/preview/teamkeys/{}", encode(id)),
        }
    }
}

/// A personal key as `/api/v1/apikeys` shows it.
#[derive(Deserialize)]
struct PersonalKey {
    id: String,
    name: String,
    #[serde(rename = "type")]
    key_type: String,
    role: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(rename = "maskedValue")]
    masked_value: String,
    team_id: Option<String>,
    status: String,
    created_at: String,
    expires_at: Option<String>,
    last_access_at: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

/// A team key as `/api/preview/teamkeys` shows it.
#[derive(Deserialize)]
struct TeamKey {
    id: String,
    #[serde(default)]
    access_key: String,
    name: String,
    created_at: String,
    last_access_at: Option<String>,
    status: String,
    team_id: String,
    team_name: String,
    role: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    value: T,
}

#[derive(Deserialize)]
struct Page<T> {
    values: Vec<T>,
    #[serde(default)]
    next_page_token: String,
}

/// One key, as the pages show it, whichever its kind.
struct KeyView {
    id: String,
    name: String,
    kind: Kind,
    masked: String,
    team_id: String,
    team: String,
    grant: String,
    active: bool,
    status: String,
    created: String,
    expires: String,
    last_used: String,
    href: String,
}

fn personal_view(k: PersonalKey, teams: &HashMap<String, String>, base: &str) -> KeyView {
    let team_id = k.team_id.clone().unwrap_or_default();
    let grant = match (&k.role, k.scopes.is_empty()) {
        (Some(r), _) => format!("role {r}"),
        (None, false) => k.scopes.join(", "),
        (None, true) => "all of your rights".into(),
    };
    let kind_label = if k.key_type == "pk" {
        "public"
    } else {
        "secret"
    };
    KeyView {
        href: format!("{base}/keys/{}", k.id),
        team: teams
            .get(&team_id)
            .cloned()
            .unwrap_or_else(|| team_id.clone()),
        team_id,
        grant,
        active: k.status == KeyStatus::Active.as_str(),
        masked: format!("{} ({kind_label})", k.masked_value),
        created: short_time(&k.created_at),
        expires: short_time_or(&k.expires_at, "never"),
        last_used: short_time_or(&k.last_access_at, "never"),
        id: k.id,
        name: k.name,
        kind: Kind::Personal,
        status: k.status,
    }
}

fn team_view(k: TeamKey, base: &str) -> KeyView {
    KeyView {
        href: format!("{base}/teamkeys/{}", k.id),
        masked: "ttk_…".into(),
        grant: k.role.map_or_else(|| "—".into(), |r| format!("role {r}")),
        active: k.status == KeyStatus::Active.as_str(),
        created: short_time(&k.created_at),
        expires: "never".into(),
        last_used: short_time_or(&k.last_access_at, "never"),
        id: k.id,
        name: k.name,
        kind: Kind::Team,
        team_id: k.team_id,
        team: k.team_name,
        status: k.status,
    }
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct ListPage {
    layout: Layout,
    team_tab: bool,
    keys: Vec<KeyView>,
    may_create: bool,
    next: Option<String>,
    first_page: Option<String>,
}

const PAGE_SIZE: u32 = 25;

async fn list(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let param = |n: &str| query.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let team_tab = param("tab").as_deref() == Some("team");
    let token = param("page_token").unwrap_or_default();
    let listed = if team_tab {
        team_keys(&ctx, &token).await?
    } else {
        personal_keys(&ctx, &token).await?
    };
    let base = &ctx.session.base;
    let tab = if team_tab { "team" } else { "personal" };
    let page = ListPage {
        layout: ctx.layout("keys", &req),
        team_tab,
        keys: listed.keys,
        may_create: listed.may_create,
        next: listed
            .next_token
            .map(|t| format!("{base}/keys?tab={tab}&page_token={}", encode(&t))),
        first_page: (!token.is_empty()).then(|| format!("{base}/keys?tab={tab}")),
    };
    view::render(StatusCode::OK, page)
}

/// One page of a tab of the keys list.
struct Listed {
    keys: Vec<KeyView>,
    next_token: Option<String>,
    /// Whether to offer adding a key of this tab's kind.
    may_create: bool,
}

/// The team keys this person may see.
async fn team_keys(ctx: &Context<'_>, token: &str) -> Result<Listed, ConsoleError> {
    let page: Page<TeamKey> = ctx
        .api()
        .get(&view::paged(
            &format!("/api/preview/teamkeys?page_size={PAGE_SIZE}"),
            token,
        ))
        .await?;
    let base = &ctx.session.base;
    Ok(Listed {
        keys: page
            .values
            .into_iter()
            .map(|k| team_view(k, base))
            .collect(),
        next_token: Some(page.next_page_token).filter(|t| !t.is_empty()),
        may_create: ctx.me.may_create_team_keys(),
    })
}

/// The person's own keys.
async fn personal_keys(ctx: &Context<'_>, token: &str) -> Result<Listed, ConsoleError> {
    let filter = format!("owner_id eq \"{}\"", ctx.me.user_id);
    let answer = ctx
        .api()
        .get_with_next::<Vec<PersonalKey>>(&view::paged(
            &format!(
                "/api/v1/apikeys?page_size={PAGE_SIZE}&filter={}",
                encode(&filter)
            ),
            token,
        ))
        .await?;
    let teams = team_names(ctx);
    let base = &ctx.session.base;
    Ok(Listed {
        keys: answer
            .body
            .into_iter()
            .map(|k| personal_view(k, &teams, base))
            .collect(),
        next_token: answer.next_page_token,
        may_create: ctx.me.can("api_key:create"),
    })
}

/// The names of the person's teams, by id, for showing their personal keys.
fn team_names(ctx: &Context<'_>) -> HashMap<String, String> {
    ctx.me.teams().into_iter().collect()
}

/// A choice in a `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Deserialize)]
pub struct RoleSummary {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Deserialize)]
struct RoleList {
    roles: Vec<RoleSummary>,
}

/// The realm's roles for a form; empty when the person may not read roles.
pub async fn roles_for_form(ctx: &Context<'_>) -> Result<Vec<RoleSummary>, ConsoleError> {
    match ctx
        .api()
        .get::<RoleList>("/api/v1/roles?page_size=500")
        .await
    {
        Ok(list) => Ok(list.roles),
        Err(ConsoleError::Api(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

#[derive(Template)]
#[template(path = "console/key_form.html")]
struct KeyForm {
    layout: Layout,
    team_key: bool,
    action: String,
    name: String,
    teams: Vec<Choice>,
    roles: Vec<Choice>,
    /// The person's permissions, to narrow a personal key (checked ones are kept on errors).
    scopes: Vec<Choice>,
    secret_type: bool,
    expires_at: String,
    errors: FieldErrors,
}

/// The page with the form that adds a key: empty, or as sent with the errors to show on it.
async fn show_key_form(
    ctx: &Context<'_>,
    req: &HttpRequest,
    team_key: bool,
    form: Option<&FormData>,
    status: StatusCode,
    errors: FieldErrors,
) -> Result<HttpResponse, ConsoleError> {
    let text = |name: &str| form.and_then(|f| f.text(name));
    let chosen_role = text("role").unwrap_or_else(|| {
        if team_key {
            "oaa_push".into()
        } else {
            String::new()
        }
    });
    let chosen_scopes = form.map(|f| f.all("scopes")).unwrap_or_default();
    let page = KeyForm {
        layout: ctx.layout("keys", req),
        team_key,
        action: ctx.url(if team_key {
            "/teamkeys/new"
        } else {
            "/keys/new"
        }),
        name: text("name").unwrap_or_default(),
        teams: team_choices(ctx, team_key, &text("team_id").unwrap_or_default()).await?,
        roles: role_choices(ctx, team_key, &chosen_role).await?,
        scopes: scope_choices(ctx, &chosen_scopes),
        secret_type: form.and_then(|f| f.get("type")) != Some("pk"),
        expires_at: text("expires_at").unwrap_or_default(),
        errors,
    };
    view::render(status, page)
}

/// The teams a key may be for: every team for an admin's team key, else the person's own
/// (for a team key, those whose keys they manage).
async fn team_choices(
    ctx: &Context<'_>,
    team_key: bool,
    chosen: &str,
) -> Result<Vec<Choice>, ConsoleError> {
    let team_list = if team_key && ctx.me.is_admin() {
        all_teams(ctx).await?
    } else {
        ctx.me
            .teams()
            .into_iter()
            .filter(|(id, _)| !team_key || ctx.me.manages_team_keys_of(id))
            .collect()
    };
    Ok(team_list
        .into_iter()
        .map(|(id, name)| Choice {
            selected: id == chosen,
            value: id,
            label: name,
        })
        .collect())
}

/// The realm's roles, described; a personal key may instead keep all of the person's rights.
async fn role_choices(
    ctx: &Context<'_>,
    team_key: bool,
    chosen: &str,
) -> Result<Vec<Choice>, ConsoleError> {
    let mut roles: Vec<Choice> = roles_for_form(ctx)
        .await?
        .into_iter()
        .map(|r| Choice {
            selected: r.name == chosen,
            label: if r.description.is_empty() {
                r.name.clone()
            } else {
                format!("{} — {}", r.name, r.description)
            },
            value: r.name,
        })
        .collect();
    if !team_key {
        let all = Choice {
            value: String::new(),
            label: "All of my rights in the team".into(),
            selected: chosen.is_empty(),
        };
        roles.insert(0, all);
    }
    Ok(roles)
}

/// The person's permissions, to narrow a personal key to.
fn scope_choices(ctx: &Context<'_>, chosen: &[String]) -> Vec<Choice> {
    ctx.me
        .permissions
        .iter()
        .map(|p| Choice {
            selected: chosen.contains(p),
            value: p.clone(),
            label: p.clone(),
        })
        .collect()
}

#[derive(Deserialize)]
struct TeamSummary {
    id: String,
    name: String,
}

/// Every team of the realm (for admins' forms).
pub async fn all_teams(ctx: &Context<'_>) -> Result<Vec<(String, String)>, ConsoleError> {
    let page: Page<TeamSummary> = ctx.api().get("/api/v1/teams?page_size=500").await?;
    Ok(page.values.into_iter().map(|t| (t.id, t.name)).collect())
}

async fn new_personal(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let errors = FieldErrors::default();
    show_key_form(&ctx, &req, false, None, StatusCode::OK, errors).await
}

async fn new_team(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    if !ctx.me.may_create_team_keys() {
        // The API would refuse the form's request; say so before it is filled in.
        return Err(ConsoleError::Api(crate::api::ApiProblem {
            status: StatusCode::FORBIDDEN,
            error: "insufficient_scope".into(),
            description: "Only admins, and admins and operators of a team, create team keys (api_key:create)."
                .into(),
            field: None,
        }));
    }
    let errors = FieldErrors::default();
    show_key_form(&ctx, &req, true, None, StatusCode::OK, errors).await
}

/// `YYYY-MM-DD` from a date input → the end of that day in UTC.
fn end_of_day(date: &str) -> Option<String> {
    let b = date.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    shape.then(|| format!("{date}T23:59:59Z"))
}

#[derive(Template)]
#[template(path = "console/key_created.html")]
struct CreatedPage {
    layout: Layout,
    key: KeyView,
    value: String,
}

async fn create_personal(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let (ctx, form) = Context::load_form(&state, &req, payload).await?;
    let request = match personal_key_request(&form) {
        Ok(request) => request,
        Err(errors) => {
            let status = StatusCode::BAD_REQUEST;
            return show_key_form(&ctx, &req, false, Some(&form), status, errors).await;
        }
    };
    let answer = ctx
        .api()
        .send::<PersonalKey>(reqwest::Method::POST, "/api/v1/apikeys", Some(&request))
        .await;
    let key = match form_refusal(answer)? {
        Ok(key) => key,
        Err(p) => {
            let fields = ["name", "type", "team_id", "role", "scopes", "expires_at"];
            let errors = FieldErrors::from_problem(&p, &fields);
            return show_key_form(&ctx, &req, false, Some(&form), p.status, errors).await;
        }
    };
    let value = key.value.clone().unwrap_or_default();
    let key = personal_view(key, &team_names(&ctx), &ctx.session.base);
    show_created(&ctx, &req, key, value)
}

/// The API's new personal key from the form; an expiry date must be a date.
fn personal_key_request(form: &FormData) -> Result<Value, FieldErrors> {
    let mut request = json!({
        "name": form.get("name").unwrap_or(""),
        "type": if form.get("type") == Some("pk") { "pk" } else { "sk" },
    });
    if let Some(t) = form.text("team_id") {
        request["team_id"] = Value::String(t);
    }
    if let Some(r) = form.text("role") {
        request["role"] = Value::String(r);
    }
    let scopes = form.all("scopes");
    if !scopes.is_empty() {
        request["scopes"] = json!(scopes);
    }
    if let Some(d) = form.text("expires_at") {
        let expires_at = end_of_day(&d)
            .ok_or_else(|| FieldErrors::field("expires_at", "use a date such as 2027-01-31"))?;
        request["expires_at"] = Value::String(expires_at);
    }
    Ok(request)
}

/// A new key with its value, shown once.
fn show_created(
    ctx: &Context<'_>,
    req: &HttpRequest,
    key: KeyView,
    value: String,
) -> Result<HttpResponse, ConsoleError> {
    let page = CreatedPage {
        layout: ctx.layout("keys", req),
        key,
        value,
    };
    view::render(StatusCode::CREATED, page)
}

async fn create_team(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let (ctx, form) = Context::load_form(&state, &req, payload).await?;
    let mut request = json!({
        "name": form.get("name").unwrap_or(""),
        "team_id": form.get("team_id").unwrap_or(""),
    });
    if let Some(r) = form.text("role") {
        request["role"] = Value::String(r);
    }
    let path = "/api/preview/teamkeys";
    let answer = ctx
        .api()
        .send::<Envelope<TeamKey>>(reqwest::Method::POST, path, Some(&request))
        .await;
    match form_refusal(answer)? {
        Ok(created) => {
            let value = created.value.access_key.clone();
            show_created(
                &ctx,
                &req,
                team_view(created.value, &ctx.session.base),
                value,
            )
        }
        Err(p) => {
            let errors = FieldErrors::from_problem(&p, &["name", "team_id", "role"]);
            show_key_form(&ctx, &req, true, Some(&form), p.status, errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "console/key.html")]
struct DetailPage {
    layout: Layout,
    key: KeyView,
    may_update: bool,
    may_delete: bool,
    name_value: String,
    errors: FieldErrors,
}

async fn load_key(ctx: &Context<'_>, kind: Kind, id: &str) -> Result<KeyView, ConsoleError> {
    Ok(match kind {
        Kind::Personal => {
            let key: PersonalKey = ctx.api().get(&kind.api_path(id)).await?;
            personal_view(key, &team_names(ctx), &ctx.session.base)
        }
        Kind::Team => {
            let key: Envelope<TeamKey> = ctx.api().get(&kind.api_path(id)).await?;
            team_view(key.value, &ctx.session.base)
        }
    })
}

async fn render_detail(
    ctx: &Context<'_>,
    req: &HttpRequest,
    kind: Kind,
    id: &str,
    status: StatusCode,
    name_value: Option<String>,
    errors: FieldErrors,
) -> Result<HttpResponse, ConsoleError> {
    let key = load_key(ctx, kind, id).await?;
    let team_ok = kind == Kind::Personal || ctx.me.manages_team_keys_of(&key.team_id);
    let page = DetailPage {
        layout: ctx.layout("keys", req),
        may_update: team_ok && ctx.me.can("api_key:update"),
        may_delete: team_ok && ctx.me.can("api_key:delete"),
        name_value: name_value.unwrap_or_else(|| key.name.clone()),
        key,
        errors,
    };
    view::render(status, page)
}

async fn detail(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (_realm, kind, id) = path.into_inner();
    let ctx = Context::load(&state, &req).await?;
    render_detail(
        &ctx,
        &req,
        Kind::from_segment(&kind),
        &id,
        StatusCode::OK,
        None,
        FieldErrors::default(),
    )
    .await
}

/// Runs one key action, then shows the key (or the list) with a confirmation; an API
/// refusal is shown on the key's page.
async fn act(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String, String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let (_realm, segment, id, action) = path.into_inner();
    let kind = Kind::from_segment(&segment);
    let action = Action::from_segment(&action);
    let (ctx, form) = Context::load_form(&state, &req, payload).await?;
    let call = action.call(kind, &id, form.get("name").unwrap_or(""));
    let answer = ctx
        .api()
        .send::<Value>(call.method, &call.path, call.body.as_ref())
        .await;
    match form_refusal(answer)? {
        Ok(_) if action == Action::Delete => {
            let tab = if kind == Kind::Team {
                "team"
            } else {
                "personal"
            };
            Ok(ctx.redirect(&format!("/keys?tab={tab}&done={}", call.done)))
        }
        Ok(_) => Ok(ctx.redirect(&format!(
            "/{}/{}?done={}",
            kind.segment(),
            encode(&id),
            call.done
        ))),
        Err(p) => {
            let errors = FieldErrors::from_problem(&p, &["name"]);
            let name =
                (action == Action::Rename).then(|| form.get("name").unwrap_or("").to_string());
            render_detail(&ctx, &req, kind, &id, p.status, name, errors).await
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Rename,
    Revoke,
    Reinstate,
    Delete,
}

/// The API call of a key action, and the notice that confirms it.
struct KeyCall {
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
    done: &'static str,
}

impl Action {
    /// The route's pattern admits only these four.
    fn from_segment(segment: &str) -> Self {
        match segment {
            "rename" => Self::Rename,
            "revoke" => Self::Revoke,
            "reinstate" => Self::Reinstate,
            _ => Self::Delete,
        }
    }

    /// Personal keys change by PUT; team keys are renamed by PATCH and revoked or
    /// reinstated by their own POST actions.
    fn call(self, kind: Kind, id: &str, name: &str) -> KeyCall {
        use reqwest::Method;
        let path = kind.api_path(id);
        let (method, path, body, done) = match (self, kind) {
            (Self::Rename, Kind::Personal) => {
                (Method::PUT, path, Some(json!({"name": name})), "renamed")
            }
            (Self::Rename, Kind::Team) => {
                (Method::PATCH, path, Some(json!({"name": name})), "renamed")
            }
            (Self::Revoke, Kind::Personal) => (
                Method::PUT,
                path,
                Some(json!({"enabled": false})),
                "revoked",
            ),
            (Self::Reinstate, Kind::Personal) => (
                Method::PUT,
                path,
                Some(json!({"enabled": true})),
                "reinstated",
            ),
            (Self::Revoke, Kind::Team) => (Method::POST, format!("{path}:revoke"), None, "revoked"),
            (Self::Reinstate, Kind::Team) => (
                Method::POST,
                format!("{path}:reinstate"),
                None,
                "reinstated",
            ),
            (Self::Delete, _) => (Method::DELETE, path, None, "deleted"),
        };
        KeyCall {
            method,
            path,
            body,
            done,
        }
    }
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
pub struct ConfirmPage {
    pub layout: Layout,
    pub title: String,
    pub question: String,
    pub action: String,
    pub button: String,
    pub cancel: String,
}

async fn confirm_delete(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (_realm, segment, id) = path.into_inner();
    let kind = Kind::from_segment(&segment);
    let ctx = Context::load(&state, &req).await?;
    let key = load_key(&ctx, kind, &id).await?;
    let page = ConfirmPage {
        layout: ctx.layout("keys", &req),
        title: format!("Delete “{}”?", key.name),
        question: format!(
            "Deleting the key “{}” ({}) is permanent: anything using it stops working at once, and it cannot be reinstated. To stop it for now, revoke it instead.",
            key.name, key.masked
        ),
        action: format!("{}/delete", key.href),
        button: "Delete the key".into(),
        cancel: key.href,
    };
    view::render(StatusCode::OK, page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_dates_become_the_end_of_the_day() {
        assert_eq!(
            end_of_day("2027-01-31").as_deref(),
            Some("2027-01-31T23:59:59Z")
        );
        assert_eq!(end_of_day("31/01/2027"), None);
        assert_eq!(end_of_day("2027-1-31"), None);
    }

    #[test]
    fn kinds_map_to_their_api() {
        assert_eq!(Kind::from_segment("teamkeys"), Kind::Team);
        assert_eq!(Kind::from_segment("keys"), Kind::Personal);
        assert_eq!(Kind::Team.api_path("x"), "/api/preview/teamkeys/x");
        assert_eq!(Kind::Personal.segment(), "keys");
    }
}
