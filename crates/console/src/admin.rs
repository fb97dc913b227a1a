//! Administration: users, teams, roles, OAuth clients and the audit log, each a paged list
//! and a detail page, with the writes the API allows the person. What is shown follows the
//! person's live permissions; what is allowed is decided by the API alone.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::forms::{FieldErrors, FormData};
use crate::keys::{Choice, all_teams, roles_for_form};
use crate::ui::{
    Cell, DetailPage, Field, FormPage, FormSpec, Link, ListPage, SecretPage, Table, choices,
};
use crate::view::{self, Context, Membership, encode, paged, short_time, short_time_or};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(users))
        .route("/users/new", web::get().to(new_user))
        .route("/users/new", web::post().to(create_user))
        .route("/users/{id}", web::get().to(user))
        .route("/users/{id}/enabled", web::post().to(set_user_enabled))
        .route("/users/{id}/memberships", web::post().to(change_membership))
        .route("/users/{id}/password-reset", web::post().to(reset_password))
        .route(
            "/users/{id}/second-factors/remove",
            web::post().to(remove_second_factors),
        )
        .route("/teams", web::get().to(teams))
        .route("/teams", web::post().to(create_team))
        .route("/teams/{id}", web::get().to(team))
        .route("/roles", web::get().to(roles))
        .route("/roles/{id}", web::get().to(role))
        .route("/clients", web::get().to(clients))
        .route("/clients/new", web::get().to(new_client))
        .route("/clients/new", web::post().to(create_client))
        .route("/clients/{client_id}", web::get().to(client))
        .route(
            "/clients/{client_id}/rotate-secret",
            web::post().to(rotate_secret),
        )
        .route("/audit", web::get().to(audit))
        .route("/audit/{id}", web::get().to(audit_event));
}

const PAGE_SIZE: u32 = 25;

#[derive(Deserialize)]
struct Values<T> {
    values: Vec<T>,
    #[serde(default)]
    next_page_token: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    value: T,
}

/// The query parameters of a console page.
fn query_of(req: &HttpRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(query: &[(String, String)], name: &str) -> String {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

/// Next/first links of a list page that keeps `extra` (filters) across pages.
fn paging(
    ctx: &Context<'_>,
    page: &str,
    extra: &str,
    token: &str,
    next_token: &str,
) -> (Option<String>, Option<String>) {
    let next = (!next_token.is_empty())
        .then(|| ctx.url(&format!("{page}?page_token={}{extra}", encode(next_token))));
    let first =
        (!token.is_empty()).then(|| ctx.url(&format!("{page}?{}", extra.trim_start_matches('&'))));
    (next, first)
}

fn page(html: String) -> HttpResponse {
    view::html(StatusCode::OK, html)
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

// ---- users ----

#[derive(Deserialize)]
struct User {
    id: String,
    name: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    enabled: bool,
    #[serde(default)]
    last_login_at: Option<String>,
    created_at: String,
    #[serde(default)]
    team_roles: Vec<Membership>,
    #[serde(default)]
    options: Option<Value>,
}

impl User {
    /// A client's service account has no password (`options.can_change_password` is false).
    fn is_service_account(&self) -> bool {
        self.options
            .as_ref()
            .and_then(|o| o["can_change_password"].as_bool())
            == Some(false)
    }
}

fn memberships_text(m: &[Membership]) -> String {
    m.iter()
        .map(|m| format!("{} in {}", m.role_name, m.team_name))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn users(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let query = query_of(&req);
    let token = param(&query, "page_token");
    let name = param(&query, "name");
    let mut path = format!("/api/v1/users?page_size={PAGE_SIZE}");
    if !name.is_empty() {
        path.push_str(&format!(
            "&filter={}",
            encode(&format!("name eq \"{name}\""))
        ));
    }
    let mut filter = FormSpec::new("Find a user", ctx.url("/users"), "Find")
        .field(
            Field::new("name", "Sign-in name", "text")
                .value(name.clone())
                .help("The exact name."),
        )
        .search();
    let list: Values<User> = match ctx.api().get(&paged(&path, &token)).await {
        Ok(l) => l,
        Err(ConsoleError::Api(p)) if p.status == StatusCode::BAD_REQUEST => {
            filter = filter.with_errors(&FieldErrors::field("name", p.message()));
            Values {
                values: Vec::new(),
                next_page_token: String::new(),
            }
        }
        Err(e) => return Err(e),
    };
    let extra = if name.is_empty() {
        String::new()
    } else {
        format!("&name={}", encode(&name))
    };
    let (next, first_page) = paging(&ctx, "/users", &extra, &token, &list.next_page_token);
    let rows = list
        .values
        .into_iter()
        .map(|u| {
            vec![
                Cell::link(u.name.clone(), ctx.url(&format!("/users/{}", u.id))),
                Cell::text(u.display_name.unwrap_or_default()),
                Cell::text(u.email.unwrap_or_default()),
                Cell::text(memberships_text(&u.team_roles)),
                Cell::text(if u.enabled { "enabled" } else { "disabled" }),
                Cell::text(short_time_or(&u.last_login_at, "never")),
            ]
        })
        .collect();
    let mut actions = Vec::new();
    if ctx.me.can("user:write") {
        actions.push(Link {
            href: ctx.url("/users/new"),
            label: "Add a user".into(),
        });
    }
    let html = ListPage {
        layout: ctx.layout("users", &req),
        title: "Users".into(),
        intro: "People who sign in to this realm, and the roles they hold in each team.".into(),
        actions,
        forms: vec![filter],
        table: Table {
            caption: "Users".into(),
            headers: vec![
                "Name",
                "Display name",
                "Email",
                "Team roles",
                "Status",
                "Last sign-in",
            ],
            rows,
            empty: "No users match.".into(),
        },
        next,
        first_page,
    }
    .render()?;
    Ok(page(html))
}

async fn team_and_role_choices(
    ctx: &Context<'_>,
    team: &str,
    role: &str,
) -> Result<(Vec<Choice>, Vec<Choice>), ConsoleError> {
    let teams = all_teams(ctx).await?;
    let roles = roles_for_form(ctx)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    Ok((
        choices(teams, &[team.to_string()]),
        choices(roles, &[role.to_string()]),
    ))
}

async fn user_form(
    ctx: &Context<'_>,
    form: Option<&FormData>,
    errors: &FieldErrors,
) -> Result<FormSpec, ConsoleError> {
    let get = |n: &str| form.and_then(|f| f.text(n)).unwrap_or_default();
    let (teams, roles) = team_and_role_choices(ctx, &get("team_id"), &get("role_id")).await?;
    Ok(FormSpec::new("Add a user", ctx.url("/users/new"), "Add the user")
        .field(Field::new("name", "Sign-in name", "text").value(get("name")).required())
        .field(
            Field::new("password", "Password", "password")
                .help("At least 8 characters. Leave empty for a user who cannot sign in with a password.")
                .autocomplete("new-password"),
        )
        .field(Field::new("email", "Email", "email").value(get("email")))
        .field(Field::new("display_name", "Display name", "text").value(get("display_name")))
        .field(
            Field::new("team_id", "Team", "select")
                .options(teams)
                .help("The user's first team; more can be added on their page."),
        )
        .field(Field::new("role_id", "Role in that team", "select").options(roles))
        .with_errors(errors))
}

async fn new_user(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let form = user_form(&ctx, None, &FieldErrors::default()).await?;
    let html = FormPage {
        layout: ctx.layout("users", &req),
        back: Link {
            href: ctx.url("/users"),
            label: "Users".into(),
        },
        intro: "The user signs in with this name and password.".into(),
        form,
    }
    .render()?;
    Ok(page(html))
}

async fn create_user(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let form = FormData::read(&state, payload).await?;
    ctx.session.check_csrf(&form)?;
    let mut request = json!({"name": form.get("name").unwrap_or("")});
    for field in ["password", "email", "display_name"] {
        if let Some(v) = form.get(field).filter(|v| !v.is_empty()) {
            request[field] = Value::String(v.to_string());
        }
    }
    if let (Some(team_id), Some(role_id)) = (form.text("team_id"), form.text("role_id")) {
        request["team_roles"] = json!([{"team_id": team_id, "role_id": role_id}]);
    }
    match ctx
        .api()
        .send::<Envelope<User>>(reqwest::Method::POST, "/api/v1/users", Some(&request))
        .await
    {
        Ok(created) => Ok(view::see_other(
            &ctx.url(&format!("/users/{}?done=user-created", created.value.id)),
        )),
        Err(ConsoleError::Api(p)) if p.is_input_problem() => {
            let errors = FieldErrors::from_problem(
                &p,
                &["name", "password", "email", "display_name", "team_roles"],
            );
            let mut errors = errors;
            if let Some(e) = errors.get("team_roles").map(str::to_string) {
                errors = FieldErrors::field("team_id", e);
            }
            let spec = user_form(&ctx, Some(&form), &errors).await?;
            let html = FormPage {
                layout: ctx.layout("users", &req),
                back: Link {
                    href: ctx.url("/users"),
                    label: "Users".into(),
                },
                intro: "The user signs in with this name and password.".into(),
                form: spec,
            }
            .render()?;
            Ok(view::html(p.status, html))
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct PermissionList {
    permissions: Vec<String>,
}

async fn render_user(
    ctx: &Context<'_>,
    req: &HttpRequest,
    id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    render_user_with(ctx, req, id, status, error, &FieldErrors::default()).await
}

/// The user's page, with a refused password reset's errors next to its fields.
async fn render_user_with(
    ctx: &Context<'_>,
    req: &HttpRequest,
    id: &str,
    status: StatusCode,
    error: Option<String>,
    reset_errors: &FieldErrors,
) -> Result<HttpResponse, ConsoleError> {
    let u: User = ctx
        .api()
        .get(&format!("/api/v1/users/{}", encode(id)))
        .await?;
    let permissions: PermissionList = ctx
        .api()
        .get(&format!("/api/v1/users/{}/permissions", encode(id)))
        .await?;
    // Service accounts sign in with client credentials: no second factors.
    let factors: Option<SecondFactors> = if u.is_service_account() {
        None
    } else {
        Some(
            ctx.api()
                .get(&format!("/api/v1/users/{}/second-factors", encode(id)))
                .await?,
        )
    };
    let base = format!("/users/{}", u.id);
    let writer = ctx.me.can("user:write");
    let mut forms = Vec::new();
    if writer {
        let (label, value) = if u.enabled {
            ("Disable the user", "false")
        } else {
            ("Enable the user", "true")
        };
        let mut toggle = FormSpec::new("", ctx.url(&format!("{base}/enabled")), label)
            .field(Field::new("enabled", "", "hidden").value(value))
            .inline();
        if u.enabled {
            toggle = toggle.danger();
        }
        forms.push(toggle);
        let (teams, roles) = team_and_role_choices(ctx, "", "").await?;
        forms.push(
            FormSpec::new(
                "Add a team role",
                ctx.url(&format!("{base}/memberships")),
                "Add",
            )
            .field(Field::new("op", "", "hidden").value("add"))
            .field(Field::new("team_id", "Team", "select").options(teams))
            .field(Field::new("role_id", "Role", "select").options(roles)),
        );
        if !u.is_service_account() {
            forms.push(reset_form(ctx, &base).with_errors(reset_errors));
        }
        if factors.as_ref().is_some_and(SecondFactors::any) {
            forms.push(
                FormSpec::new(
                    "",
                    ctx.url(&format!("{base}/second-factors/remove")),
                    "Remove second factors (lost phone)",
                )
                .inline()
                .danger(),
            );
        }
        for m in &u.team_roles {
            forms.push(
                FormSpec::new(
                    "",
                    ctx.url(&format!("{base}/memberships")),
                    format!("Remove {} in {}", m.role_name, m.team_name),
                )
                .field(Field::new("op", "", "hidden").value("remove"))
                .field(Field::new("team_id", "", "hidden").value(m.team_id.clone()))
                .field(Field::new("role_id", "", "hidden").value(m.role_id.clone()))
                .inline()
                .danger(),
            );
        }
    }
    let memberships = Table {
        caption: "Team roles".into(),
        headers: vec!["Team", "Role"],
        rows: u
            .team_roles
            .iter()
            .map(|m| {
                vec![
                    Cell::link(
                        m.team_name.clone(),
                        ctx.url(&format!("/teams/{}", m.team_id)),
                    ),
                    Cell::link(
                        m.role_name.clone(),
                        ctx.url(&format!("/roles/{}", m.role_id)),
                    ),
                ]
            })
            .collect(),
        empty: "No team roles: the user has no rights from roles.".into(),
    };
    let html = DetailPage {
        layout: ctx.layout("users", req),
        title: u.name.clone(),
        back: Link {
            href: ctx.url("/users"),
            label: "Users".into(),
        },
        facts: vec![
            ("Sign-in name".into(), u.name),
            ("Display name".into(), u.display_name.unwrap_or_default()),
            ("Email".into(), u.email.unwrap_or_default()),
            (
                "Status".into(),
                if u.enabled {
                    "enabled".into()
                } else {
                    "disabled".into()
                },
            ),
            (
                "Last sign-in".into(),
                short_time_or(&u.last_login_at, "never"),
            ),
            ("Created".into(), short_time(&u.created_at)),
            (
                "Second factors".into(),
                factors
                    .as_ref()
                    .map_or_else(String::new, SecondFactors::describe),
            ),
            ("Permissions now".into(), permissions.permissions.join(", ")),
            ("Id".into(), u.id),
        ],
        tables: vec![memberships],
        forms,
        error,
    }
    .render()?;
    Ok(view::html(status, html))
}

async fn user(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let ctx = Context::load(&state, &req).await?;
    render_user(&ctx, &req, id, StatusCode::OK, None).await
}

/// Sends a user change; a refusal is shown on the user's page.
async fn change_user(
    ctx: &Context<'_>,
    req: &HttpRequest,
    id: &str,
    request: Value,
    done: &str,
) -> Result<HttpResponse, ConsoleError> {
    match ctx
        .api()
        .send::<Value>(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{}", encode(id)),
            Some(&request),
        )
        .await
    {
        Ok(_) => Ok(view::see_other(
            &ctx.url(&format!("/users/{}?done={done}", encode(id))),
        )),
        Err(ConsoleError::Api(p)) if p.is_input_problem() => {
            render_user(ctx, req, id, p.status, Some(p.description)).await
        }
        Err(e) => Err(e),
    }
}

async fn set_user_enabled(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let ctx = Context::load(&state, &req).await?;
    let form = FormData::read(&state, payload).await?;
    ctx.session.check_csrf(&form)?;
    let enabled = match form.get("enabled") {
        Some("true") => true,
        Some("false") => false,
        _ => {
            return Err(ConsoleError::BadRequest(
                "enabled must be true or false".into(),
            ));
        }
    };
    let done = if enabled {
        "user-enabled"
    } else {
        "user-disabled"
    };
    change_user(&ctx, &req, id, json!({"enabled": enabled}), done).await
}

async fn change_membership(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let ctx = Context::load(&state, &req).await?;
    let form = FormData::read(&state, payload).await?;
    ctx.session.check_csrf(&form)?;
    let (Some(team_id), Some(role_id)) = (form.text("team_id"), form.text("role_id")) else {
        return render_user(
            &ctx,
            &req,
            id,
            StatusCode::BAD_REQUEST,
            Some("Choose a team and a role.".into()),
        )
        .await;
    };
    let current: User = ctx
        .api()
        .get(&format!("/api/v1/users/{}", encode(id)))
        .await?;
    let mut pairs: Vec<(String, String)> = current
        .team_roles
        .into_iter()
        .map(|m| (m.team_id, m.role_id))
        .collect();
    match form.get("op") {
        Some("add") if !pairs.contains(&(team_id.clone(), role_id.clone())) => {
            pairs.push((team_id, role_id));
        }
        Some("add") => {}
        Some("remove") => pairs.retain(|p| *p != (team_id.clone(), role_id.clone())),
        _ => return Err(ConsoleError::BadRequest("op must be add or remove".into())),
    }
    let team_roles: Vec<Value> = pairs
        .into_iter()
        .map(|(t, r)| json!({"team_id": t, "role_id": r}))
        .collect();
    change_user(
        &ctx,
        &req,
        id,
        json!({"team_roles": team_roles}),
        "memberships",
    )
    .await
}

/// `GET /api/v1/users/{id}/second-factors`.
#[derive(Deserialize)]
struct SecondFactors {
    totp: bool,
    passkeys: i64,
    recovery_codes_left: i64,
    required: bool,
}

impl SecondFactors {
    fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.totp {
            parts.push("authenticator app".to_string());
        }
        if self.passkeys > 0 {
            parts.push(format!(
                "{} passkey{}",
                self.passkeys,
                if self.passkeys == 1 { "" } else { "s" }
            ));
        }
        if parts.is_empty() {
            parts.push("none".into());
        } else {
            parts.push(format!("{} recovery codes left", self.recovery_codes_left));
        }
        if self.required {
            parts.push("required by policy".into());
        }
        parts.join(", ")
    }
}

/// `POST …/users/{id}/second-factors/remove`: the API's removal of a user's factors.
async fn remove_second_factors(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let ctx = Context::load(&state, &req).await?;
    let form = FormData::read(&state, payload).await?;
    ctx.session.check_csrf(&form)?;
    match ctx
        .api()
        .send::<Value>(
            reqwest::Method::DELETE,
            &format!("/api/v1/users/{}/second-factors", encode(id)),
            None,
        )
        .await
    {
        Ok(_) => Ok(view::see_other(&ctx.url(&format!(
            "/users/{}?done=second-factors-removed",
            encode(id)
        )))),
        Err(ConsoleError::Api(p)) if p.is_input_problem() => {
            render_user(&ctx, &req, id, p.status, Some(p.description)).await
        }
        Err(e) => Err(e),
    }
}

/// An administrator's password reset: a one-time link or a temporary password, each shown
/// once on the page that follows.
fn reset_form(ctx: &Context<'_>, base: &str) -> FormSpec {
    FormSpec::new(
        "Reset password",
        ctx.url(&format!("{base}/password-reset")),
        "Reset password",
    )
    .field(
        Field::new("method", "Method", "select")
            .options(choices(
                vec![
                    ("link".into(), "One-time link the user opens".into()),
                    (
                        "temporary_password".into(),
                        "Temporary password (ends the user's sessions now)".into(),
                    ),
                ],
                &["link".to_string()],
            ))
            .help("Either way, the user's sessions and tokens end when the new password is set."),
    )
    .field(
        Field::new("expires_in_secs", "Link valid for (seconds)", "number")
            .value("86400")
            .help("Links only: 60 to 604800 (7 days)."),
    )
}

#[derive(Deserialize)]
struct ResetResult {
    #[serde(default)]
    reset_url: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    temporary_password: Option<String>,
}

async fn reset_password(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let ctx = Context::load(&state, &req).await?;
    let form = FormData::read(&state, payload).await?;
    ctx.session.check_csrf(&form)?;
    let method = form.get("method").unwrap_or("link");
    let mut request = json!({ "method": method });
    if method == "link"
        && let Some(secs) = form.text("expires_in_secs")
    {
        match secs.parse::<i64>() {
            Ok(n) => request["expires_in_secs"] = json!(n),
            Err(_) => {
                let errors = FieldErrors::field(
                    "expires_in_secs",
                    "enter a whole number of seconds, 60 to 604800",
                );
                return render_user_with(&ctx, &req, id, StatusCode::BAD_REQUEST, None, &errors)
                    .await;
            }
        }
    }
    let result = ctx
        .api()
        .send::<ResetResult>(
            reqwest::Method::POST,
            &format!("/api/v1/users/{}/password-reset", encode(id)),
            Some(&request),
        )
        .await;
    match result {
        Ok(made) => {
            let u: User = ctx
                .api()
                .get(&format!("/api/v1/users/{}", encode(id)))
                .await?;
            let (label, secret, mut facts) = match (made.reset_url, made.temporary_password) {
                (Some(url), _) => (
                    "Reset link",
                    url,
                    vec![("Expires".into(), short_time_or(&made.expires_at, "unknown"))],
                ),
                (None, Some(password)) => (
                    "Temporary password",
                    password,
                    vec![(
                        "Next sign-in".into(),
                        "must choose a new password; every session has ended".into(),
                    )],
                ),
                (None, None) => {
                    return Err(ConsoleError::Upstream(
                        "the API made a reset without a link or a password".into(),
                    ));
                }
            };
            facts.insert(0, ("User".into(), u.name.clone()));
            let html = SecretPage {
                layout: ctx.layout("users", &req),
                title: "Password reset".into(),
                label: label.into(),
                secret,
                facts,
                next: Link {
                    href: ctx.url(&format!("/users/{}", encode(id))),
                    label: "Done".into(),
                },
            }
            .render()?;
            Ok(view::html(StatusCode::CREATED, html))
        }
        Err(ConsoleError::Api(p)) if p.is_input_problem() => {
            let errors = FieldErrors::from_problem(&p, &["method", "expires_in_secs"]);
            render_user_with(&ctx, &req, id, p.status, None, &errors).await
        }
        Err(e) => Err(e),
    }
}

// ---- teams ----

#[derive(Deserialize)]
struct Team {
    id: String,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    user_count: i64,
    created_at: String,
    updated_at: String,
}

fn team_form(ctx: &Context<'_>, form: Option<&FormData>, errors: &FieldErrors) -> FormSpec {
    let get = |n: &str| form.and_then(|f| f.text(n)).unwrap_or_default();
    FormSpec::new("Add a team", ctx.url("/teams"), "Add the team")
        .field(
            Field::new("name", "Name", "text")
                .value(get("name"))
                .required(),
        )
        .field(Field::new("description", "Description", "text").value(get("description")))
        .with_errors(errors)
}

async fn render_teams(
    ctx: &Context<'_>,
    req: &HttpRequest,
    status: StatusCode,
    form: Option<&FormData>,
    errors: &FieldErrors,
) -> Result<HttpResponse, ConsoleError> {
    let query = query_of(req);
    let token = param(&query, "page_token");
    let list: Values<Team> = ctx
        .api()
        .get(&paged(
            &format!("/api/v1/teams?page_size={PAGE_SIZE}"),
            &token,
        ))
        .await?;
    let (next, first_page) = paging(ctx, "/teams", "", &token, &list.next_page_token);
    let mut forms = Vec::new();
    if ctx.me.can("team:write") {
        forms.push(team_form(ctx, form, errors));
    }
    let html = ListPage {
        layout: ctx.layout("teams", req),
        title: "Teams".into(),
        intro: "People hold roles in teams; API keys act within one team.".into(),
        actions: Vec::new(),
        forms,
        table: Table {
            caption: "Teams".into(),
            headers: vec!["Name", "Description", "Members", "Created"],
            rows: list
                .values
                .into_iter()
                .map(|t| {
                    vec![
                        Cell::link(t.name, ctx.url(&format!("/teams/{}", t.id))),
                        Cell::text(t.description),
                        Cell::text(t.user_count.to_string()),
                        Cell::text(short_time(&t.created_at)),
                    ]
                })
                .collect(),
            empty: "No teams.".into(),
        },
        next,
        first_page,
    }
    .render()?;
    Ok(view::html(status, html))
}

async fn teams(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    render_teams(&ctx, &req, StatusCode::OK, None, &FieldErrors::default()).await
}

async fn create_team(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let form = FormData::read(&state, payload).await?;
    ctx.session.check_csrf(&form)?;
    let request = json!({
        "name": form.get("name").unwrap_or(""),
        "description": form.get("description").unwrap_or(""),
    });
    match ctx
        .api()
        .send::<Envelope<Team>>(reqwest::Method::POST, "/api/v1/teams", Some(&request))
        .await
    {
        Ok(t) => Ok(view::see_other(
            &ctx.url(&format!("/teams/{}?done=team-created", t.value.id)),
        )),
        Err(ConsoleError::Api(p)) if p.is_input_problem() => {
            let errors = FieldErrors::from_problem(&p, &["name", "description"]);
            render_teams(&ctx, &req, p.status, Some(&form), &errors).await
        }
        Err(e) => Err(e),
    }
}

async fn team(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let ctx = Context::load(&state, &req).await?;
    let t: Envelope<Team> = ctx
        .api()
        .get(&format!("/api/v1/teams/{}", encode(id)))
        .await?;
    let t = t.value;
    let mut tables = Vec::new();
    if ctx.me.can("user:read") {
        let filter = format!("team_id eq \"{}\"", t.id);
        let members: Values<User> = ctx
            .api()
            .get(&format!(
                "/api/v1/users?page_size=100&filter={}",
                encode(&filter)
            ))
            .await?;
        tables.push(Table {
            caption: "Members (first 100)".into(),
            headers: vec!["Name", "Roles in this team"],
            rows: members
                .values
                .into_iter()
                .map(|u| {
                    let roles: Vec<String> = u
                        .team_roles
                        .iter()
                        .filter(|m| m.team_id == t.id)
                        .map(|m| m.role_name.clone())
                        .collect();
                    vec![
                        Cell::link(u.name, ctx.url(&format!("/users/{}", u.id))),
                        Cell::text(roles.join(", ")),
                    ]
                })
                .collect(),
            empty: "No members.".into(),
        });
    }
    let html = DetailPage {
        layout: ctx.layout("teams", &req),
        title: t.name.clone(),
        back: Link {
            href: ctx.url("/teams"),
            label: "Teams".into(),
        },
        facts: vec![
            ("Name".into(), t.name),
            ("Description".into(), t.description),
            ("Members".into(), t.user_count.to_string()),
            ("Created".into(), short_time(&t.created_at)),
            ("Updated".into(), short_time(&t.updated_at)),
            ("Id".into(), t.id),
        ],
        tables,
        forms: Vec::new(),
        error: None,
    }
    .render()?;
    Ok(page(html))
}

// ---- roles ----

#[derive(Deserialize)]
struct Role {
    id: String,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    builtin: bool,
}

#[derive(Deserialize)]
struct RolePage {
    roles: Vec<Role>,
    #[serde(default)]
    next_page_token: String,
}

async fn roles(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let query = query_of(&req);
    let token = param(&query, "page_token");
    let list: RolePage = ctx
        .api()
        .get(&paged(
            &format!("/api/v1/roles?page_size={PAGE_SIZE}"),
            &token,
        ))
        .await?;
    let (next, first_page) = paging(&ctx, "/roles", "", &token, &list.next_page_token);
    let html = ListPage {
        layout: ctx.layout("roles", &req),
        title: "Roles".into(),
        intro: "Named sets of permissions, held by people in teams and given to API keys.".into(),
        actions: Vec::new(),
        forms: Vec::new(),
        table: Table {
            caption: "Roles".into(),
            headers: vec!["Name", "Description", "Permissions", "Built in"],
            rows: list
                .roles
                .into_iter()
                .map(|r| {
                    vec![
                        Cell::link(r.name, ctx.url(&format!("/roles/{}", r.id))),
                        Cell::text(r.description),
                        Cell::text(r.permissions.len().to_string()),
                        Cell::text(yes_no(r.builtin)),
                    ]
                })
                .collect(),
            empty: "No roles.".into(),
        },
        next,
        first_page,
    }
    .render()?;
    Ok(page(html))
}

async fn role(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let ctx = Context::load(&state, &req).await?;
    let r: Envelope<Role> = ctx
        .api()
        .get(&format!("/api/v1/roles/{}", encode(id)))
        .await?;
    let r = r.value;
    let effective: PermissionList = ctx
        .api()
        .get(&format!("/api/v1/roles/{}/permissions", encode(&r.id)))
        .await?;
    let html = DetailPage {
        layout: ctx.layout("roles", &req),
        title: r.name.clone(),
        back: Link {
            href: ctx.url("/roles"),
            label: "Roles".into(),
        },
        facts: vec![
            ("Name".into(), r.name),
            ("Description".into(), r.description),
            ("Built in".into(), yes_no(r.builtin)),
            ("Permissions".into(), r.permissions.join(", ")),
            (
                "With policies applied".into(),
                effective.permissions.join(", "),
            ),
            ("Id".into(), r.id),
        ],
        tables: Vec::new(),
        forms: Vec::new(),
        error: None,
    }
    .render()?;
    Ok(page(html))
}

// ---- OAuth clients ----

#[derive(Deserialize)]
struct Client {
    client_id: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    enabled: bool,
    #[serde(default)]
    first_party: bool,
    created_at: String,
    #[serde(default)]
    client_secret: Option<String>,
}

async fn clients(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let query = query_of(&req);
    let token = param(&query, "page_token");
    let list: Values<Client> = ctx
        .api()
        .get(&paged(
            &format!("/api/v1/clients?page_size={PAGE_SIZE}"),
            &token,
        ))
        .await?;
    let (next, first_page) = paging(&ctx, "/clients", "", &token, &list.next_page_token);
    let mut actions = Vec::new();
    if ctx.me.can("client:write") {
        actions.push(Link {
            href: ctx.url("/clients/new"),
            label: "Add a client".into(),
        });
    }
    let html = ListPage {
        layout: ctx.layout("clients", &req),
        title: "OAuth clients".into(),
        intro: "Applications and scripts that get tokens from this realm.".into(),
        actions,
        forms: Vec::new(),
        table: Table {
            caption: "OAuth clients".into(),
            headers: vec!["Client id", "Name", "Type", "Grant types", "Status"],
            rows: list
                .values
                .into_iter()
                .map(|c| {
                    vec![
                        Cell::link(
                            c.client_id.clone(),
                            ctx.url(&format!("/clients/{}", encode(&c.client_id))),
                        ),
                        Cell::text(c.name),
                        Cell::text(c.kind),
                        Cell::text(c.grant_types.join(", ")),
                        Cell::text(if c.enabled { "enabled" } else { "disabled" }),
                    ]
                })
                .collect(),
            empty: "No clients.".into(),
        },
        next,
        first_page,
    }
    .render()?;
    Ok(page(html))
}

const GRANT_TYPES: [(&str, &str); 4] = [
    (
        "client_credentials",
        "Client credentials (scripts and services)",
    ),
    (
        "authorization_code",
        "Authorization code (browser sign-in, with PKCE)",
    ),
    ("refresh_token", "Refresh token"),
    ("password", "Password (legacy scripts)"),
];

fn client_form(ctx: &Context<'_>, form: Option<&FormData>, errors: &FieldErrors) -> FormSpec {
    let get = |n: &str| form.and_then(|f| f.text(n)).unwrap_or_default();
    let grants = form
        .map(|f| f.all("grant_types"))
        .unwrap_or_else(|| vec!["client_credentials".into()]);
    let kind = form
        .and_then(|f| f.text("type"))
        .unwrap_or_else(|| "confidential".into());
    FormSpec::new(
        "Add an OAuth client",
        ctx.url("/clients/new"),
        "Add the client",
    )
    .field(
        Field::new("client_id", "Client id", "text")
            .value(get("client_id"))
            .help("What the application sends as client_id. Leave empty for a generated one."),
    )
    .field(Field::new("name", "Name", "text").value(get("name")))
    .field(Field::new("type", "Type", "radios").options(choices(
        vec![
            (
                "confidential".into(),
                "Confidential: has a secret (servers, scripts)".into(),
            ),
            (
                "public".into(),
                "Public: no secret (browser and native apps; PKCE)".into(),
            ),
        ],
        &[kind],
    )))
    .field(
        Field::new("grant_types", "Grant types", "checkboxes").options(choices(
            GRANT_TYPES
                .iter()
                .map(|(v, l)| ((*v).to_string(), (*l).to_string()))
                .collect(),
            &grants,
        )),
    )
    .field(
        Field::new("scopes", "Scopes", "text")
            .value(get("scopes"))
            .help("Separated by spaces, such as: openid profile jobs:read"),
    )
    .field(
        Field::new("redirect_uris", "Redirect URIs", "textarea")
            .value(get("redirect_uris"))
            .help("One per line; needed for the authorization code grant."),
    )
    .with_errors(errors)
}

async fn new_client(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let html = FormPage {
        layout: ctx.layout("clients", &req),
        back: Link {
            href: ctx.url("/clients"),
            label: "OAuth clients".into(),
        },
        intro: "A confidential client's secret is shown once, after it is created.".into(),
        form: client_form(&ctx, None, &FieldErrors::default()),
    }
    .render()?;
    Ok(page(html))
}

fn secret_page(
    ctx: &Context<'_>,
    req: &HttpRequest,
    c: Client,
    secret: String,
    title: &str,
) -> Result<String, ConsoleError> {
    Ok(SecretPage {
        layout: ctx.layout("clients", req),
        title: title.into(),
        label: "Client secret".into(),
        secret,
        facts: vec![
            ("Client id".into(), c.client_id.clone()),
            ("Grant types".into(), c.grant_types.join(", ")),
        ],
        next: Link {
            href: ctx.url(&format!("/clients/{}", encode(&c.client_id))),
            label: "Done".into(),
        },
    }
    .render()?)
}

async fn create_client(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let form = FormData::read(&state, payload).await?;
    ctx.session.check_csrf(&form)?;
    let mut request = json!({
        "type": form.get("type").unwrap_or("confidential"),
        "grant_types": form.all("grant_types"),
        "scopes": form.get("scopes").unwrap_or("").split_whitespace().collect::<Vec<_>>(),
        "redirect_uris": form.get("redirect_uris").unwrap_or("").lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>(),
    });
    for field in ["client_id", "name"] {
        if let Some(v) = form.text(field) {
            request[field] = Value::String(v);
        }
    }
    match ctx
        .api()
        .send::<Envelope<Client>>(reqwest::Method::POST, "/api/v1/clients", Some(&request))
        .await
    {
        Ok(created) => {
            let mut c = created.value;
            match c.client_secret.take() {
                Some(secret) => {
                    let html = secret_page(&ctx, &req, c, secret, "Client created")?;
                    Ok(view::html(StatusCode::CREATED, html))
                }
                None => Ok(view::see_other(&ctx.url(&format!(
                    "/clients/{}?done=client-updated",
                    encode(&c.client_id)
                )))),
            }
        }
        Err(ConsoleError::Api(p)) if p.is_input_problem() => {
            let errors = FieldErrors::from_problem(
                &p,
                &[
                    "client_id",
                    "name",
                    "type",
                    "grant_types",
                    "scopes",
                    "redirect_uris",
                ],
            );
            let html = FormPage {
                layout: ctx.layout("clients", &req),
                back: Link {
                    href: ctx.url("/clients"),
                    label: "OAuth clients".into(),
                },
                intro: "A confidential client's secret is shown once, after it is created.".into(),
                form: client_form(&ctx, Some(&form), &errors),
            }
            .render()?;
            Ok(view::html(p.status, html))
        }
        Err(e) => Err(e),
    }
}

async fn render_client(
    ctx: &Context<'_>,
    req: &HttpRequest,
    client_id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    let c: Envelope<Client> = ctx
        .api()
        .get(&format!("/api/v1/clients/{}", encode(client_id)))
        .await?;
    let c = c.value;
    let mut forms = Vec::new();
    if ctx.me.can("client:write") && c.kind == "confidential" {
        forms.push(
            FormSpec::new(
                "Client secret",
                ctx.url(&format!("/clients/{}/rotate-secret", encode(&c.client_id))),
                "Rotate the secret",
            )
            .danger(),
        );
    }
    let html = DetailPage {
        layout: ctx.layout("clients", req),
        title: c.client_id.clone(),
        back: Link {
            href: ctx.url("/clients"),
            label: "OAuth clients".into(),
        },
        facts: vec![
            ("Client id".into(), c.client_id),
            ("Name".into(), c.name),
            ("Type".into(), c.kind),
            ("Grant types".into(), c.grant_types.join(", ")),
            ("Scopes".into(), c.scopes.join(" ")),
            ("Redirect URIs".into(), c.redirect_uris.join(" ")),
            (
                "Sign-out redirect URIs".into(),
                c.post_logout_redirect_uris.join(" "),
            ),
            (
                "First party (no consent screen)".into(),
                yes_no(c.first_party),
            ),
            (
                "Status".into(),
                if c.enabled {
                    "enabled".into()
                } else {
                    "disabled".into()
                },
            ),
            ("Created".into(), short_time(&c.created_at)),
        ],
        tables: Vec::new(),
        forms,
        error,
    }
    .render()?;
    Ok(view::html(status, html))
}

async fn client(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let ctx = Context::load(&state, &req).await?;
    render_client(&ctx, &req, id, StatusCode::OK, None).await
}

async fn rotate_secret(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let ctx = Context::load(&state, &req).await?;
    let form = FormData::read(&state, payload).await?;
    ctx.session.check_csrf(&form)?;
    match ctx
        .api()
        .send::<Envelope<Client>>(
            reqwest::Method::POST,
            &format!("/api/v1/clients/{}:rotate-secret", encode(id)),
            None,
        )
        .await
    {
        Ok(rotated) => {
            let mut c = rotated.value;
            let secret = c.client_secret.take().unwrap_or_default();
            Ok(page(secret_page(
                &ctx,
                &req,
                c,
                secret,
                "New client secret",
            )?))
        }
        Err(ConsoleError::Api(p)) if p.is_input_problem() => {
            render_client(&ctx, &req, id, p.status, Some(p.description)).await
        }
        Err(e) => Err(e),
    }
}

// ---- audit ----

#[derive(Deserialize)]
struct AuditEvent {
    id: String,
    actor: String,
    action: String,
    target: String,
    source_addr: String,
    outcome: String,
    #[serde(default)]
    detail: String,
    created_at: String,
}

async fn audit(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let query = query_of(&req);
    let token = param(&query, "page_token");
    let fields = ["actor", "action", "target"];
    let mut conditions = Vec::new();
    let mut extra = String::new();
    for f in fields {
        let v = param(&query, f);
        if !v.is_empty() {
            conditions.push(format!("{f} eq \"{v}\""));
            extra.push_str(&format!("&{f}={}", encode(&v)));
        }
    }
    let mut path = format!("/api/v1/audit?order=newest&page_size={PAGE_SIZE}");
    if !conditions.is_empty() {
        path.push_str(&format!("&filter={}", encode(&conditions.join(" and "))));
    }
    let mut filter = FormSpec::new("Filter", ctx.url("/audit"), "Filter")
        .search()
        .field(
            Field::new("actor", "Actor", "text")
                .value(param(&query, "actor"))
                .help("Such as user:{id}"),
        )
        .field(
            Field::new("action", "Action", "text")
                .value(param(&query, "action"))
                .help("Such as api_key.create"),
        )
        .field(
            Field::new("target", "Target", "text")
                .value(param(&query, "target"))
                .help("Such as api_key:{id}"),
        );
    let list: Values<AuditEvent> = match ctx.api().get(&paged(&path, &token)).await {
        Ok(l) => l,
        Err(ConsoleError::Api(p)) if p.status == StatusCode::BAD_REQUEST => {
            filter = filter.with_errors(&FieldErrors::from_problem(&p, &fields));
            Values {
                values: Vec::new(),
                next_page_token: String::new(),
            }
        }
        Err(e) => return Err(e),
    };
    let (next, first_page) = paging(&ctx, "/audit", &extra, &token, &list.next_page_token);
    let html = ListPage {
        layout: ctx.layout("audit", &req),
        title: "Audit log".into(),
        intro: "Every change, newest first: who did it, to what, and from where.".into(),
        actions: Vec::new(),
        forms: vec![filter],
        table: Table {
            caption: "Audit events".into(),
            headers: vec!["Time", "Actor", "Action", "Target", "Outcome"],
            rows: list
                .values
                .into_iter()
                .map(|e| {
                    vec![
                        Cell::link(
                            short_time(&e.created_at),
                            ctx.url(&format!("/audit/{}", e.id)),
                        ),
                        Cell::text(e.actor),
                        Cell::text(e.action),
                        Cell::text(e.target),
                        Cell::text(e.outcome),
                    ]
                })
                .collect(),
            empty: "No events match.".into(),
        },
        next,
        first_page,
    }
    .render()?;
    Ok(page(html))
}

async fn audit_event(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let ctx = Context::load(&state, &req).await?;
    let e: Envelope<AuditEvent> = ctx
        .api()
        .get(&format!("/api/v1/audit/{}", encode(id)))
        .await?;
    let e = e.value;
    let html = DetailPage {
        layout: ctx.layout("audit", &req),
        title: e.action.clone(),
        back: Link {
            href: ctx.url("/audit"),
            label: "Audit log".into(),
        },
        facts: vec![
            ("Time".into(), e.created_at),
            ("Actor".into(), e.actor),
            ("Action".into(), e.action),
            ("Target".into(), e.target),
            ("Outcome".into(), e.outcome),
            ("Source address".into(), e.source_addr),
            ("Detail".into(), e.detail),
            ("Id".into(), e.id),
        ],
        tables: Vec::new(),
        forms: Vec::new(),
        error: None,
    }
    .render()?;
    Ok(page(html))
}
