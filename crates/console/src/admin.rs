//! Administration: users, teams, roles, OAuth clients and the audit log, each a paged list
//! and a detail page, with the writes the API allows the person. What is shown follows the
//! person's live permissions; what is allowed is decided by the API alone.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::ConsoleState;
use crate::api::{ApiProblem, form_refusal, refusal_if};
use crate::error::ConsoleError;
use crate::forms::{FieldErrors, FormData};
use crate::keys::{Choice, all_teams, roles_for_form};
use crate::ui::{
    Cell, DetailPage, Field, FormPage, FormSpec, Link, ListPage, SecretPage, Table, choices, fact,
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

/// A page of an API list (the roles list names its items `roles`).
#[derive(Deserialize)]
struct Values<T> {
    #[serde(alias = "roles")]
    values: Vec<T>,
    #[serde(default)]
    next_page_token: String,
}

impl<T> Values<T> {
    /// What a list shows under a filter the API refused.
    fn none() -> Self {
        Self {
            values: Vec::new(),
            next_page_token: String::new(),
        }
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    value: T,
}

/// One item the API wraps as `{"value": …}`.
async fn get_value<T: DeserializeOwned>(ctx: &Context<'_>, path: &str) -> Result<T, ConsoleError> {
    let envelope: Envelope<T> = ctx.api().get(path).await?;
    Ok(envelope.value)
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

/// The next and first page links of a list page.
type Paging = (Option<String>, Option<String>);

/// Next/first links of a list page that keeps `extra` (filters) across pages.
fn paging(ctx: &Context<'_>, page: &str, extra: &str, token: &str, next_token: &str) -> Paging {
    let next = (!next_token.is_empty())
        .then(|| ctx.url(&format!("{page}?page_token={}{extra}", encode(next_token))));
    let first =
        (!token.is_empty()).then(|| ctx.url(&format!("{page}?{}", extra.trim_start_matches('&'))));
    (next, first)
}

/// One page of an unfiltered API list (`/api/v1/{resource}`), shown at `/{resource}`.
async fn fetch_list<T: DeserializeOwned>(
    ctx: &Context<'_>,
    req: &HttpRequest,
    resource: &str,
) -> Result<(Vec<T>, Paging), ConsoleError> {
    let token = param(&query_of(req), "page_token");
    let list: Values<T> = ctx
        .api()
        .get(&paged(
            &format!("/api/v1/{resource}?page_size={PAGE_SIZE}"),
            &token,
        ))
        .await?;
    let links = paging(
        ctx,
        &format!("/{resource}"),
        "",
        &token,
        &list.next_page_token,
    );
    Ok((list.values, links))
}

/// A list page with a filter form, such as the users and the audit log.
struct FilteredList {
    /// The navigation section, and the page's path (`/{section}`).
    section: &'static str,
    title: &'static str,
    intro: &'static str,
    /// The API's list, with the filters and without the page token.
    api_path: String,
    /// The filters again, as `&name=value` pairs of the console's paging links.
    extra: String,
    filter: FormSpec,
}

impl FilteredList {
    /// One page of the list; a filter the API refuses (400) is shown on the filter form,
    /// over an empty list.
    async fn page<T: DeserializeOwned>(
        self,
        ctx: &Context<'_>,
        req: &HttpRequest,
        errors: impl FnOnce(&ApiProblem) -> FieldErrors,
        table: impl FnOnce(&Context<'_>, Vec<T>) -> Table,
    ) -> Result<ListPage, ConsoleError> {
        let token = param(&query_of(req), "page_token");
        let answer = ctx.api().get(&paged(&self.api_path, &token)).await;
        let (list, filter) = match refusal_if(answer, |p| p.status == StatusCode::BAD_REQUEST)? {
            Ok(list) => (list, self.filter),
            Err(p) => (Values::none(), self.filter.with_errors(&errors(&p))),
        };
        let page_path = format!("/{}", self.section);
        let links = paging(ctx, &page_path, &self.extra, &token, &list.next_page_token);
        let layout = ctx.layout(self.section, req);
        let mut page = ListPage::new(layout, self.title, self.intro, table(ctx, list.values));
        page.forms = vec![filter];
        Ok(page.paged(links))
    }
}

/// A button-like link to `rest`, shown only to people with `permission`.
fn action_if(ctx: &Context<'_>, permission: &str, rest: &str, label: &str) -> Vec<Link> {
    if ctx.me.can(permission) {
        vec![Link::new(ctx.url(rest), label)]
    } else {
        Vec::new()
    }
}

/// A table row: a link to the item, then its values.
fn row<const N: usize>(link: Cell, values: [String; N]) -> Vec<Cell> {
    std::iter::once(link)
        .chain(values.into_iter().map(Cell::text))
        .collect()
}

fn back(ctx: &Context<'_>, rest: &str, label: &str) -> Link {
    Link::new(ctx.url(rest), label)
}

/// The labelled values of a detail page.
type Facts = Vec<(String, String)>;

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn enabled_word(enabled: bool) -> &'static str {
    if enabled { "enabled" } else { "disabled" }
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

fn user_path(id: &str) -> String {
    format!("/api/v1/users/{}", encode(id))
}

async fn fetch_user(ctx: &Context<'_>, id: &str) -> Result<User, ConsoleError> {
    ctx.api().get(&user_path(id)).await
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
    let name = param(&query_of(&req), "name");
    let list = FilteredList {
        section: "users",
        title: "Users",
        intro: "People who sign in to this realm, and the roles they hold in each team.",
        api_path: users_api_path(&name),
        extra: if name.is_empty() {
            String::new()
        } else {
            format!("&name={}", encode(&name))
        },
        filter: user_search_form(&ctx, &name),
    };
    let errors = |p: &ApiProblem| FieldErrors::field("name", p.message());
    let mut page = list.page(&ctx, &req, errors, users_table).await?;
    page.actions = action_if(&ctx, "user:write", "/users/new", "Add a user");
    view::render(StatusCode::OK, page)
}

/// The users list, narrowed to one sign-in name when one is asked for.
fn users_api_path(name: &str) -> String {
    let mut path = format!("/api/v1/users?page_size={PAGE_SIZE}");
    if !name.is_empty() {
        path.push_str(&format!(
            "&filter={}",
            encode(&format!("name eq \"{name}\""))
        ));
    }
    path
}

fn user_search_form(ctx: &Context<'_>, name: &str) -> FormSpec {
    FormSpec::new("Find a user", ctx.url("/users"), "Find")
        .field(
            Field::new("name", "Sign-in name", "text")
                .value(name)
                .help("The exact name."),
        )
        .search()
}

fn users_table(ctx: &Context<'_>, users: Vec<User>) -> Table {
    let rows = users
        .into_iter()
        .map(|u| {
            vec![
                Cell::link(u.name.clone(), ctx.url(&format!("/users/{}", u.id))),
                Cell::text(u.display_name.unwrap_or_default()),
                Cell::text(u.email.unwrap_or_default()),
                Cell::text(memberships_text(&u.team_roles)),
                Cell::text(enabled_word(u.enabled)),
                Cell::text(short_time_or(&u.last_login_at, "never")),
            ]
        })
        .collect();
    let headers = vec![
        "Name",
        "Display name",
        "Email",
        "Team roles",
        "Status",
        "Last sign-in",
    ];
    Table::new("Users", headers, rows, "No users match.")
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

/// Where a page with one form stands: its section, the list it goes back to, and its intro.
struct FormPlace {
    section: &'static str,
    back: &'static str,
    back_label: &'static str,
    intro: &'static str,
}

const NEW_USER: FormPlace = FormPlace {
    section: "users",
    back: "/users",
    back_label: "Users",
    intro: "The user signs in with this name and password.",
};

const NEW_CLIENT: FormPlace = FormPlace {
    section: "clients",
    back: "/clients",
    back_label: "OAuth clients",
    intro: "A confidential client's secret is shown once, after it is created.",
};

/// A page with one form: empty, or as sent with the API's refusal.
fn form_page(
    ctx: &Context<'_>,
    req: &HttpRequest,
    status: StatusCode,
    place: &FormPlace,
    form: FormSpec,
) -> Result<HttpResponse, ConsoleError> {
    let page = FormPage {
        layout: ctx.layout(place.section, req),
        back: back(ctx, place.back, place.back_label),
        intro: place.intro.into(),
        form,
    };
    view::render(status, page)
}

async fn new_user(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let form = user_form(&ctx, None, &FieldErrors::default()).await?;
    form_page(&ctx, &req, StatusCode::OK, &NEW_USER, form)
}

async fn create_user(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let (ctx, form) = Context::load_form(&state, &req, payload).await?;
    let answer = ctx
        .api()
        .send::<Envelope<User>>(
            reqwest::Method::POST,
            "/api/v1/users",
            Some(&new_user_request(&form)),
        )
        .await;
    match form_refusal(answer)? {
        Ok(created) => Ok(ctx.redirect(&format!("/users/{}?done=user-created", created.value.id))),
        Err(p) => {
            let spec = user_form(&ctx, Some(&form), &new_user_errors(&p)).await?;
            form_page(&ctx, &req, p.status, &NEW_USER, spec)
        }
    }
}

/// The API's new user from the form: blank optional fields are left out, and the team role
/// is sent only with both its team and its role.
fn new_user_request(form: &FormData) -> Value {
    let mut request = json!({"name": form.get("name").unwrap_or("")});
    for field in ["password", "email", "display_name"] {
        if let Some(v) = form.get(field).filter(|v| !v.is_empty()) {
            request[field] = Value::String(v.to_string());
        }
    }
    if let (Some(team_id), Some(role_id)) = (form.text("team_id"), form.text("role_id")) {
        request["team_roles"] = json!([{"team_id": team_id, "role_id": role_id}]);
    }
    request
}

/// A refusal of a new user next to its field; one about `team_roles` goes to the team select.
fn new_user_errors(p: &ApiProblem) -> FieldErrors {
    let errors = FieldErrors::from_problem(
        p,
        &["name", "password", "email", "display_name", "team_roles"],
    );
    match errors.get("team_roles").map(str::to_string) {
        Some(e) => FieldErrors::field("team_id", e),
        None => errors,
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

/// What the user's page shows, as the API reports it.
struct UserDetails {
    user: User,
    permissions: Vec<String>,
    /// `None` for a service account, which signs in with client credentials.
    factors: Option<SecondFactors>,
}

impl UserDetails {
    async fn load(ctx: &Context<'_>, id: &str) -> Result<Self, ConsoleError> {
        let user = fetch_user(ctx, id).await?;
        let permissions: PermissionList = ctx
            .api()
            .get(&format!("{}/permissions", user_path(id)))
            .await?;
        let factors = if user.is_service_account() {
            None
        } else {
            Some(
                ctx.api()
                    .get(&format!("{}/second-factors", user_path(id)))
                    .await?,
            )
        };
        Ok(Self {
            user,
            permissions: permissions.permissions,
            factors,
        })
    }

    fn facts(self) -> Facts {
        let u = self.user;
        let factors = self
            .factors
            .as_ref()
            .map_or_else(String::new, SecondFactors::describe);
        vec![
            fact("Sign-in name", u.name),
            fact("Display name", u.display_name.unwrap_or_default()),
            fact("Email", u.email.unwrap_or_default()),
            fact("Status", enabled_word(u.enabled)),
            fact("Last sign-in", short_time_or(&u.last_login_at, "never")),
            fact("Created", short_time(&u.created_at)),
            fact("Second factors", factors),
            fact("Permissions now", self.permissions.join(", ")),
            fact("Id", u.id),
        ]
    }
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
    let details = UserDetails::load(ctx, id).await?;
    let forms = if ctx.me.can("user:write") {
        user_forms(ctx, &details, reset_errors).await?
    } else {
        Vec::new()
    };
    let memberships = memberships_table(ctx, &details.user.team_roles);
    let title = details.user.name.clone();
    let back = back(ctx, "/users", "Users");
    let mut page = DetailPage::new(ctx.layout("users", req), title, back, details.facts());
    page.tables = vec![memberships];
    page.forms = forms;
    page.error = error;
    view::render(status, page)
}

/// The changes a user writer may make on the user's page.
async fn user_forms(
    ctx: &Context<'_>,
    details: &UserDetails,
    reset_errors: &FieldErrors,
) -> Result<Vec<FormSpec>, ConsoleError> {
    let u = &details.user;
    let base = format!("/users/{}", u.id);
    let mut forms = vec![
        enabled_toggle(ctx, &base, u.enabled),
        add_membership_form(ctx, &base).await?,
    ];
    if !u.is_service_account() {
        forms.push(reset_form(ctx, &base).with_errors(reset_errors));
    }
    if details.factors.as_ref().is_some_and(SecondFactors::any) {
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
    forms.extend(
        u.team_roles
            .iter()
            .map(|m| remove_membership_form(ctx, &base, m)),
    );
    Ok(forms)
}

fn enabled_toggle(ctx: &Context<'_>, base: &str, enabled: bool) -> FormSpec {
    let (label, value) = if enabled {
        ("Disable the user", "false")
    } else {
        ("Enable the user", "true")
    };
    let toggle = FormSpec::new("", ctx.url(&format!("{base}/enabled")), label)
        .field(Field::new("enabled", "", "hidden").value(value))
        .inline();
    if enabled { toggle.danger() } else { toggle }
}

async fn add_membership_form(ctx: &Context<'_>, base: &str) -> Result<FormSpec, ConsoleError> {
    let (teams, roles) = team_and_role_choices(ctx, "", "").await?;
    Ok(FormSpec::new(
        "Add a team role",
        ctx.url(&format!("{base}/memberships")),
        "Add",
    )
    .field(Field::new("op", "", "hidden").value("add"))
    .field(Field::new("team_id", "Team", "select").options(teams))
    .field(Field::new("role_id", "Role", "select").options(roles)))
}

fn remove_membership_form(ctx: &Context<'_>, base: &str, m: &Membership) -> FormSpec {
    FormSpec::new(
        "",
        ctx.url(&format!("{base}/memberships")),
        format!("Remove {} in {}", m.role_name, m.team_name),
    )
    .field(Field::new("op", "", "hidden").value("remove"))
    .field(Field::new("team_id", "", "hidden").value(m.team_id.clone()))
    .field(Field::new("role_id", "", "hidden").value(m.role_id.clone()))
    .inline()
    .danger()
}

fn memberships_table(ctx: &Context<'_>, team_roles: &[Membership]) -> Table {
    let rows = team_roles
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
        .collect();
    Table::new(
        "Team roles",
        vec!["Team", "Role"],
        rows,
        "No team roles: the user has no rights from roles.",
    )
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

/// Sends one change of a user; then the user's page with the `done` notice, or with the
/// API's refusal.
async fn change_user(
    ctx: &Context<'_>,
    req: &HttpRequest,
    id: &str,
    method: reqwest::Method,
    api_path: &str,
    request: Option<&Value>,
    done: &str,
) -> Result<HttpResponse, ConsoleError> {
    let answer = ctx.api().send::<Value>(method, api_path, request).await;
    match form_refusal(answer)? {
        Ok(_) => Ok(ctx.redirect(&format!("/users/{}?done={done}", encode(id)))),
        Err(p) => render_user(ctx, req, id, p.status, Some(p.description)).await,
    }
}

/// A PATCH of the user's attributes, through [`change_user`].
async fn patch_user(
    ctx: &Context<'_>,
    req: &HttpRequest,
    id: &str,
    request: Value,
    done: &str,
) -> Result<HttpResponse, ConsoleError> {
    let path = user_path(id);
    change_user(
        ctx,
        req,
        id,
        reqwest::Method::PATCH,
        &path,
        Some(&request),
        done,
    )
    .await
}

async fn set_user_enabled(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let (ctx, form) = Context::load_form(&state, &req, payload).await?;
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
    patch_user(&ctx, &req, id, json!({"enabled": enabled}), done).await
}

async fn change_membership(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let (ctx, form) = Context::load_form(&state, &req, payload).await?;
    let (Some(team_id), Some(role_id)) = (form.text("team_id"), form.text("role_id")) else {
        let error = Some("Choose a team and a role.".into());
        return render_user(&ctx, &req, id, StatusCode::BAD_REQUEST, error).await;
    };
    let current = fetch_user(&ctx, id).await?;
    let team_roles = changed_team_roles(current.team_roles, form.get("op"), (team_id, role_id))?;
    let request = json!({"team_roles": team_roles});
    patch_user(&ctx, &req, id, request, "memberships").await
}

/// The user's team roles after adding or removing one, as the API's `team_roles`.
fn changed_team_roles(
    current: Vec<Membership>,
    op: Option<&str>,
    pair: (String, String),
) -> Result<Vec<Value>, ConsoleError> {
    let mut pairs: Vec<(String, String)> = current
        .into_iter()
        .map(|m| (m.team_id, m.role_id))
        .collect();
    match op {
        Some("add") if !pairs.contains(&pair) => pairs.push(pair),
        Some("add") => {}
        Some("remove") => pairs.retain(|p| *p != pair),
        _ => return Err(ConsoleError::BadRequest("op must be add or remove".into())),
    }
    Ok(pairs
        .into_iter()
        .map(|(t, r)| json!({"team_id": t, "role_id": r}))
        .collect())
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
    let (ctx, _form) = Context::load_form(&state, &req, payload).await?;
    let api_path = format!("{}/second-factors", user_path(id));
    let done = "second-factors-removed";
    change_user(
        &ctx,
        &req,
        id,
        reqwest::Method::DELETE,
        &api_path,
        None,
        done,
    )
    .await
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

impl ResetResult {
    /// The secret's label, the secret, and what to know about it.
    fn secret(self) -> Result<(&'static str, String, Facts), ConsoleError> {
        match (self.reset_url, self.temporary_password) {
            (Some(url), _) => Ok((
                "Reset link",
                url,
                vec![fact("Expires", short_time_or(&self.expires_at, "unknown"))],
            )),
            (None, Some(password)) => Ok((
                "Temporary password",
                password,
                vec![fact(
                    "Next sign-in",
                    "must choose a new password; every session has ended",
                )],
            )),
            (None, None) => Err(ConsoleError::Upstream(
                "the API made a reset without a link or a password".into(),
            )),
        }
    }
}

/// The API's reset request from the form; a link's lifetime must be a whole number.
fn reset_request(form: &FormData) -> Result<Value, FieldErrors> {
    let method = form.get("method").unwrap_or("link");
    let mut request = json!({ "method": method });
    if method == "link"
        && let Some(secs) = form.text("expires_in_secs")
    {
        let n = secs.parse::<i64>().map_err(|_| {
            FieldErrors::field(
                "expires_in_secs",
                "enter a whole number of seconds, 60 to 604800",
            )
        })?;
        request["expires_in_secs"] = json!(n);
    }
    Ok(request)
}

async fn reset_password(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let (ctx, form) = Context::load_form(&state, &req, payload).await?;
    let request = match reset_request(&form) {
        Ok(request) => request,
        Err(errors) => {
            return render_user_with(&ctx, &req, id, StatusCode::BAD_REQUEST, None, &errors).await;
        }
    };
    let answer = ctx
        .api()
        .send::<ResetResult>(
            reqwest::Method::POST,
            &format!("{}/password-reset", user_path(id)),
            Some(&request),
        )
        .await;
    match form_refusal(answer)? {
        Ok(made) => show_reset(&ctx, &req, id, made).await,
        Err(p) => {
            let errors = FieldErrors::from_problem(&p, &["method", "expires_in_secs"]);
            render_user_with(&ctx, &req, id, p.status, None, &errors).await
        }
    }
}

/// The reset's link or temporary password, shown once.
async fn show_reset(
    ctx: &Context<'_>,
    req: &HttpRequest,
    id: &str,
    made: ResetResult,
) -> Result<HttpResponse, ConsoleError> {
    let u = fetch_user(ctx, id).await?;
    let (label, secret, mut facts) = made.secret()?;
    facts.insert(0, fact("User", u.name));
    let page = SecretPage {
        layout: ctx.layout("users", req),
        title: "Password reset".into(),
        label: label.into(),
        secret,
        facts,
        next: Link::new(ctx.url(&format!("/users/{}", encode(id))), "Done"),
    };
    view::render(StatusCode::CREATED, page)
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
    let (teams, links) = fetch_list::<Team>(ctx, req, "teams").await?;
    let rows = teams
        .into_iter()
        .map(|t| {
            let link = Cell::link(t.name, ctx.url(&format!("/teams/{}", t.id)));
            let created = short_time(&t.created_at);
            row(link, [t.description, t.user_count.to_string(), created])
        })
        .collect();
    let headers = vec!["Name", "Description", "Members", "Created"];
    let mut page = ListPage::new(
        ctx.layout("teams", req),
        "Teams",
        "People hold roles in teams; API keys act within one team.",
        Table::new("Teams", headers, rows, "No teams."),
    )
    .paged(links);
    if ctx.me.can("team:write") {
        page.forms = vec![team_form(ctx, form, errors)];
    }
    view::render(status, page)
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
    let (ctx, form) = Context::load_form(&state, &req, payload).await?;
    let request = json!({
        "name": form.get("name").unwrap_or(""),
        "description": form.get("description").unwrap_or(""),
    });
    let answer = ctx
        .api()
        .send::<Envelope<Team>>(reqwest::Method::POST, "/api/v1/teams", Some(&request))
        .await;
    match form_refusal(answer)? {
        Ok(t) => Ok(ctx.redirect(&format!("/teams/{}?done=team-created", t.value.id))),
        Err(p) => {
            let errors = FieldErrors::from_problem(&p, &["name", "description"]);
            render_teams(&ctx, &req, p.status, Some(&form), &errors).await
        }
    }
}

async fn team(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let ctx = Context::load(&state, &req).await?;
    let t: Team = get_value(&ctx, &format!("/api/v1/teams/{}", encode(id))).await?;
    let tables = if ctx.me.can("user:read") {
        vec![members_table(&ctx, &t.id).await?]
    } else {
        Vec::new()
    };
    let facts = vec![
        fact("Name", t.name.clone()),
        fact("Description", t.description),
        fact("Members", t.user_count.to_string()),
        fact("Created", short_time(&t.created_at)),
        fact("Updated", short_time(&t.updated_at)),
        fact("Id", t.id),
    ];
    let back = back(&ctx, "/teams", "Teams");
    let mut page = DetailPage::new(ctx.layout("teams", &req), t.name, back, facts);
    page.tables = tables;
    view::render(StatusCode::OK, page)
}

/// The team's first 100 members and their roles in it.
async fn members_table(ctx: &Context<'_>, team_id: &str) -> Result<Table, ConsoleError> {
    let filter = format!("team_id eq \"{team_id}\"");
    let members: Values<User> = ctx
        .api()
        .get(&format!(
            "/api/v1/users?page_size=100&filter={}",
            encode(&filter)
        ))
        .await?;
    let rows = members
        .values
        .into_iter()
        .map(|u| {
            let roles: Vec<String> = u
                .team_roles
                .iter()
                .filter(|m| m.team_id == team_id)
                .map(|m| m.role_name.clone())
                .collect();
            vec![
                Cell::link(u.name, ctx.url(&format!("/users/{}", u.id))),
                Cell::text(roles.join(", ")),
            ]
        })
        .collect();
    let headers = vec!["Name", "Roles in this team"];
    Ok(Table::new(
        "Members (first 100)",
        headers,
        rows,
        "No members.",
    ))
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

async fn roles(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let (roles, links) = fetch_list::<Role>(&ctx, &req, "roles").await?;
    let rows = roles
        .into_iter()
        .map(|r| {
            let link = Cell::link(r.name, ctx.url(&format!("/roles/{}", r.id)));
            let count = r.permissions.len().to_string();
            row(link, [r.description, count, yes_no(r.builtin)])
        })
        .collect();
    let headers = vec!["Name", "Description", "Permissions", "Built in"];
    let page = ListPage::new(
        ctx.layout("roles", &req),
        "Roles",
        "Named sets of permissions, held by people in teams and given to API keys.",
        Table::new("Roles", headers, rows, "No roles."),
    )
    .paged(links);
    view::render(StatusCode::OK, page)
}

async fn role(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let ctx = Context::load(&state, &req).await?;
    let r: Role = get_value(&ctx, &format!("/api/v1/roles/{}", encode(id))).await?;
    let effective: PermissionList = ctx
        .api()
        .get(&format!("/api/v1/roles/{}/permissions", encode(&r.id)))
        .await?;
    let facts = vec![
        fact("Name", r.name.clone()),
        fact("Description", r.description),
        fact("Built in", yes_no(r.builtin)),
        fact("Permissions", r.permissions.join(", ")),
        fact("With policies applied", effective.permissions.join(", ")),
        fact("Id", r.id),
    ];
    let back = back(&ctx, "/roles", "Roles");
    let page = DetailPage::new(ctx.layout("roles", &req), r.name, back, facts);
    view::render(StatusCode::OK, page)
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

impl Client {
    fn facts(self) -> Facts {
        vec![
            fact("Client id", self.client_id),
            fact("Name", self.name),
            fact("Type", self.kind),
            fact("Grant types", self.grant_types.join(", ")),
            fact("Scopes", self.scopes.join(" ")),
            fact("Redirect URIs", self.redirect_uris.join(" ")),
            fact(
                "Sign-out redirect URIs",
                self.post_logout_redirect_uris.join(" "),
            ),
            fact("First party (no consent screen)", yes_no(self.first_party)),
            fact("Status", enabled_word(self.enabled)),
            fact("Created", short_time(&self.created_at)),
        ]
    }
}

fn client_path(client_id: &str) -> String {
    format!("/clients/{}", encode(client_id))
}

async fn clients(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let (clients, links) = fetch_list::<Client>(&ctx, &req, "clients").await?;
    let rows = clients
        .into_iter()
        .map(|c| {
            let link = Cell::link(c.client_id.clone(), ctx.url(&client_path(&c.client_id)));
            let grants = c.grant_types.join(", ");
            row(
                link,
                [c.name, c.kind, grants, enabled_word(c.enabled).into()],
            )
        })
        .collect();
    let headers = vec!["Client id", "Name", "Type", "Grant types", "Status"];
    let mut page = ListPage::new(
        ctx.layout("clients", &req),
        "OAuth clients",
        "Applications and scripts that get tokens from this realm.",
        Table::new("OAuth clients", headers, rows, "No clients."),
    )
    .paged(links);
    page.actions = action_if(&ctx, "client:write", "/clients/new", "Add a client");
    view::render(StatusCode::OK, page)
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

/// The fields of the new-client form, as the API names them.
const CLIENT_FIELDS: [&str; 6] = [
    "client_id",
    "name",
    "type",
    "grant_types",
    "scopes",
    "redirect_uris",
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
    .field(Field::new("type", "Type", "radios").options(client_type_choices(kind)))
    .field(Field::new("grant_types", "Grant types", "checkboxes").options(grant_choices(&grants)))
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

fn client_type_choices(kind: String) -> Vec<Choice> {
    choices(
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
    )
}

fn grant_choices(selected: &[String]) -> Vec<Choice> {
    let grants = GRANT_TYPES
        .iter()
        .map(|(v, l)| ((*v).to_string(), (*l).to_string()))
        .collect();
    choices(grants, selected)
}

async fn new_client(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let form = client_form(&ctx, None, &FieldErrors::default());
    form_page(&ctx, &req, StatusCode::OK, &NEW_CLIENT, form)
}

/// A client's new secret, shown once.
fn secret_page(
    ctx: &Context<'_>,
    req: &HttpRequest,
    c: Client,
    secret: String,
    title: &str,
) -> SecretPage {
    SecretPage {
        layout: ctx.layout("clients", req),
        title: title.into(),
        label: "Client secret".into(),
        secret,
        facts: vec![
            fact("Client id", c.client_id.clone()),
            fact("Grant types", c.grant_types.join(", ")),
        ],
        next: Link::new(ctx.url(&client_path(&c.client_id)), "Done"),
    }
}

/// The API's new client from the form: scopes split at blanks, one redirect URI a line.
fn new_client_request(form: &FormData) -> Value {
    let redirect_uris: Vec<&str> = form
        .get("redirect_uris")
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut request = json!({
        "type": form.get("type").unwrap_or("confidential"),
        "grant_types": form.all("grant_types"),
        "scopes": form.get("scopes").unwrap_or("").split_whitespace().collect::<Vec<_>>(),
        "redirect_uris": redirect_uris,
    });
    for field in ["client_id", "name"] {
        if let Some(v) = form.text(field) {
            request[field] = Value::String(v);
        }
    }
    request
}

async fn create_client(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let (ctx, form) = Context::load_form(&state, &req, payload).await?;
    let request = new_client_request(&form);
    let answer = ctx
        .api()
        .send::<Envelope<Client>>(reqwest::Method::POST, "/api/v1/clients", Some(&request))
        .await;
    match form_refusal(answer)? {
        Ok(created) => show_created_client(&ctx, &req, created.value),
        Err(p) => {
            let errors = FieldErrors::from_problem(&p, &CLIENT_FIELDS);
            let spec = client_form(&ctx, Some(&form), &errors);
            form_page(&ctx, &req, p.status, &NEW_CLIENT, spec)
        }
    }
}

/// A new confidential client's secret, shown once; a public client's page.
fn show_created_client(
    ctx: &Context<'_>,
    req: &HttpRequest,
    mut c: Client,
) -> Result<HttpResponse, ConsoleError> {
    match c.client_secret.take() {
        Some(secret) => view::render(
            StatusCode::CREATED,
            secret_page(ctx, req, c, secret, "Client created"),
        ),
        None => Ok(ctx.redirect(&format!(
            "{}?done=client-updated",
            client_path(&c.client_id)
        ))),
    }
}

async fn render_client(
    ctx: &Context<'_>,
    req: &HttpRequest,
    client_id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    let c: Client = get_value(ctx, &format!("/api/v1/clients/{}", encode(client_id))).await?;
    let mut forms = Vec::new();
    if ctx.me.can("client:write") && c.kind == "confidential" {
        forms.push(
            FormSpec::new(
                "Client secret",
                ctx.url(&format!("{}/rotate-secret", client_path(&c.client_id))),
                "Rotate the secret",
            )
            .danger(),
        );
    }
    let title = c.client_id.clone();
    let back = back(ctx, "/clients", "OAuth clients");
    let mut page = DetailPage::new(ctx.layout("clients", req), title, back, c.facts());
    page.forms = forms;
    page.error = error;
    view::render(status, page)
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
    let (ctx, _form) = Context::load_form(&state, &req, payload).await?;
    let answer = ctx
        .api()
        .send::<Envelope<Client>>(
            reqwest::Method::POST,
            &format!("/api/v1/clients/{}:rotate-secret", encode(id)),
            None,
        )
        .await;
    match form_refusal(answer)? {
        Ok(rotated) => {
            let mut c = rotated.value;
            let secret = c.client_secret.take().unwrap_or_default();
            let page = secret_page(&ctx, &req, c, secret, "New client secret");
            view::render(StatusCode::OK, page)
        }
        Err(p) => render_client(&ctx, &req, id, p.status, Some(p.description)).await,
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

/// The audit log's filters, as the API and the console's own links carry them.
const AUDIT_FILTERS: [&str; 3] = ["actor", "action", "target"];

async fn audit(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let ctx = Context::load(&state, &req).await?;
    let query = query_of(&req);
    let (api_path, extra) = audit_filter(&query);
    let list = FilteredList {
        section: "audit",
        title: "Audit log",
        intro: "Every change, newest first: who did it, to what, and from where.",
        api_path,
        extra,
        filter: audit_filter_form(&ctx, &query),
    };
    let errors = |p: &ApiProblem| FieldErrors::from_problem(p, &AUDIT_FILTERS);
    let page = list.page(&ctx, &req, errors, audit_table).await?;
    view::render(StatusCode::OK, page)
}

/// The API's audit path for the filters in the query, and the same filters for the
/// console's paging links.
fn audit_filter(query: &[(String, String)]) -> (String, String) {
    let mut conditions = Vec::new();
    let mut extra = String::new();
    for f in AUDIT_FILTERS {
        let v = param(query, f);
        if !v.is_empty() {
            conditions.push(format!("{f} eq \"{v}\""));
            extra.push_str(&format!("&{f}={}", encode(&v)));
        }
    }
    let mut path = format!("/api/v1/audit?order=newest&page_size={PAGE_SIZE}");
    if !conditions.is_empty() {
        path.push_str(&format!("&filter={}", encode(&conditions.join(" and "))));
    }
    (path, extra)
}

fn audit_filter_form(ctx: &Context<'_>, query: &[(String, String)]) -> FormSpec {
    let field = |name: &'static str, label: &str, help: &str| {
        Field::new(name, label, "text")
            .value(param(query, name))
            .help(help)
    };
    FormSpec::new("Filter", ctx.url("/audit"), "Filter")
        .search()
        .field(field("actor", "Actor", "Such as user:{id}"))
        .field(field("action", "Action", "Such as api_key.create"))
        .field(field("target", "Target", "Such as api_key:{id}"))
}

fn audit_table(ctx: &Context<'_>, events: Vec<AuditEvent>) -> Table {
    let rows = events
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
        .collect();
    let headers = vec!["Time", "Actor", "Action", "Target", "Outcome"];
    Table::new("Audit events", headers, rows, "No events match.")
}

async fn audit_event(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let id = path.1.as_str();
    let ctx = Context::load(&state, &req).await?;
    let e: AuditEvent = get_value(&ctx, &format!("/api/v1/audit/{}", encode(id))).await?;
    let facts = vec![
        fact("Time", e.created_at),
        fact("Actor", e.actor),
        fact("Action", e.action.clone()),
        fact("Target", e.target),
        fact("Outcome", e.outcome),
        fact("Source address", e.source_addr),
        fact("Detail", e.detail),
        fact("Id", e.id),
    ];
    let back = back(&ctx, "/audit", "Audit log");
    let page = DetailPage::new(ctx.layout("audit", &req), e.action, back, facts);
    view::render(StatusCode::OK, page)
}
