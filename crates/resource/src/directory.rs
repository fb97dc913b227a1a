//! Teams, users and roles (seed 004): `/api/v1/teams`, `/api/v1/users`, `/api/v1/roles`, with
//! the Veza envelopes and fields. Every route checks its permission first, then the input,
//! then acts in one transaction that also records the audit event.
//!
//! Bodies are read field by field so that a wrong type names its field
//! (`team_roles[1].role_id: …`), absent and `null` are told apart (PATCH changes only what it
//! is given), and an unknown field is refused.
//!
//! Codes the seed shows as numbers or as names (`policy_type`, `persona`, `provider_types`,
//! digest `frequency`) are accepted as either and returned as given.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};
use tessera_core::grant::{Reach, Rights};
use tessera_core::id::new_uuid;
use tessera_core::model::{Role, Team, User};
use tessera_core::names::validate_display_name;
use tessera_core::page::Page;
use tessera_core::password::{Argon2Params, PasswordHasher};
use tessera_core::permission;
use tessera_core::username::{self, Username};
use tessera_store::DbConnection;
use tessera_store::directory::{
    self as dir, NamedMembership, RoleFilter, TeamFilter, UserFilter, Window,
};
use tessera_store::provision::ROOT_TEAM_NAME;
use tessera_store::queries as q;
use tessera_store::usernames;

use crate::access::Grantor;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::{
    ListQuery, Value, Values, audit, audit_change, changes, json_body, parse_id, source_addr,
    time_string, with_db, write,
};
use crate::state::ResourceState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/teams")
            .route(web::get().to(list_teams))
            .route(web::post().to(create_team)),
    )
    .service(
        web::resource("/api/v1/teams/{id}")
            .route(web::get().to(get_team))
            .route(web::put().to(put_team))
            .route(web::patch().to(patch_team))
            .route(web::delete().to(delete_team)),
    )
    .service(
        web::resource("/api/v1/users")
            .route(web::get().to(list_users))
            .route(web::post().to(create_user)),
    )
    .service(
        web::resource("/api/v1/users/{id}")
            .route(web::get().to(get_user))
            .route(web::put().to(put_user))
            .route(web::patch().to(patch_user))
            .route(web::delete().to(delete_user)),
    )
    .service(
        web::resource("/api/v1/roles")
            .route(web::get().to(list_roles))
            .route(web::post().to(create_role)),
    )
    .service(
        web::resource("/api/v1/roles/{id}")
            .route(web::get().to(get_role))
            .route(web::put().to(put_role))
            .route(web::patch().to(patch_role))
            .route(web::delete().to(delete_role)),
    );
}

/// Longest free text (descriptions).
const MAX_TEXT: usize = 2000;
/// Longest name-like value (aliases, provider ids, person names, codes).
const MAX_NAME: usize = 200;
/// Longest list in a body (providers, team roles, digests).
const MAX_LIST: usize = 500;

// ---- reading bodies ----

/// One body field: not sent, sent as `null`, or sent with a value.
enum Field<T> {
    Absent,
    Null,
    Set(T),
}

/// How a body applies: create (defaults for what is absent), replace (PUT: the same), or
/// patch (absent fields keep their value).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Replace,
    Patch,
}

/// A JSON object body whose fields are taken one by one.
struct Body {
    map: Map<String, Json>,
}

impl Body {
    async fn read(
        state: &ResourceState,
        req: &HttpRequest,
        payload: web::Payload,
        known: &[&str],
    ) -> Result<Self, ApiError> {
        let value: Json = json_body(state, req, payload).await?;
        let Json::Object(map) = value else {
            return Err(ApiError::bad("body", "must be a JSON object"));
        };
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(ApiError::bad(
                unknown.as_str(),
                format!("unknown field; the fields are {}", known.join(", ")),
            ));
        }
        Ok(Self { map })
    }

    fn take<T: DeserializeOwned>(&mut self, name: &str) -> Result<Field<T>, ApiError> {
        match self.map.remove(name) {
            None => Ok(Field::Absent),
            Some(Json::Null) => Ok(Field::Null),
            Some(v) => decode(name, v).map(Field::Set),
        }
    }

    /// A list whose element errors name their index.
    fn list<T: DeserializeOwned>(&mut self, name: &str) -> Result<Field<Vec<T>>, ApiError> {
        let items: Vec<Json> = match self.take(name)? {
            Field::Absent => return Ok(Field::Absent),
            Field::Null => return Ok(Field::Null),
            Field::Set(items) => items,
        };
        if items.len() > MAX_LIST {
            return Err(ApiError::bad(name, format!("at most {MAX_LIST} entries")));
        }
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| decode(&format!("{name}[{i}]"), v))
            .collect::<Result<Vec<T>, _>>()
            .map(Field::Set)
    }
}

fn decode<T: DeserializeOwned>(field: &str, v: Json) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::bad(field, e.to_string()))
}

/// The body's `id`, when sent, must be the path's.
fn check_body_id(body: &mut Body, path_id: Option<&str>) -> Result<(), ApiError> {
    match (body.take::<String>("id")?, path_id) {
        (Field::Absent | Field::Null, _) => Ok(()),
        (Field::Set(_), None) => Err(ApiError::bad(
            "id",
            "is assigned by the server; leave it out",
        )),
        (Field::Set(id), Some(p)) if id == p => Ok(()),
        (Field::Set(_), Some(_)) => Err(ApiError::bad("id", "does not match the id in the path")),
    }
}

/// A required, non-null field on create and replace; on patch, absent keeps the value.
fn required<T>(field: &str, f: Field<T>, mode: Mode) -> Result<Option<T>, ApiError> {
    match (f, mode) {
        (Field::Set(v), _) => Ok(Some(v)),
        (Field::Absent, Mode::Patch) => Ok(None),
        (Field::Null, _) => Err(ApiError::bad(field, "must not be null")),
        (Field::Absent, _) => Err(ApiError::bad(field, "is required")),
    }
}

/// An optional field: `Some(None)` clears it (null, or absent on create/replace).
fn optional<T>(f: Field<T>, mode: Mode) -> Option<Option<T>> {
    match (f, mode) {
        (Field::Set(v), _) => Some(Some(v)),
        (Field::Null, _) => Some(None),
        (Field::Absent, Mode::Patch) => None,
        (Field::Absent, _) => Some(None),
    }
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::bad(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::bad(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_line(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    check_text(field, value, max)?;
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad(field, "must be a single line"));
    }
    Ok(())
}

/// A code the seed shows as a number (`"policy_type": 1`) or a name (`"PROVIDER_ID_SET"`).
fn check_code(field: &str, v: &Json) -> Result<(), ApiError> {
    match v {
        Json::Number(n) if n.is_i64() => Ok(()),
        Json::String(s) if !s.trim().is_empty() => check_line(field, s, MAX_NAME),
        _ => Err(ApiError::bad(
            field,
            "must be a whole number or a non-empty name",
        )),
    }
}

/// Codes are stored as text: a number as its digits, a name as itself.
fn store_code(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn load_code(stored: &str) -> Json {
    if stored.is_empty() {
        Json::Null
    } else if let Ok(n) = stored.parse::<i64>() {
        Json::from(n)
    } else {
        Json::from(stored)
    }
}

fn to_json_text<T: Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Paging parameters as a store window (one extra row tells whether there is more).
fn window(list: &ListQuery) -> Window<'_> {
    Window {
        after: list.page.after.as_deref(),
        limit: list.page.size + 1,
    }
}

fn filter_id<'a>(list: &'a ListQuery, field: &str) -> Result<Option<&'a str>, ApiError> {
    match list.filter_value(field) {
        None => Ok(None),
        Some(v) if tessera_core::id::is_uuid(v) => Ok(Some(v)),
        Some(v) => Err(ApiError::bad(
            "filter",
            format!("{field} {v:?} is not an id (a lowercase UUID)"),
        )),
    }
}

fn ok<T: Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok().json(body)
}

// ---- teams ----

#[derive(Serialize, Deserialize, Clone, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Provider {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    kind: Option<Json>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ProviderOut {
    id: String,
    name: String,
    #[serde(rename = "type")]
    #[schema(value_type = Value)]
    kind: Json,
}

#[derive(Serialize, utoipa::ToSchema)]
struct TeamJson {
    id: String,
    name: String,
    #[schema(value_type = Value)]
    policy_type: Json,
    providers: Vec<ProviderOut>,
    created_at: String,
    updated_at: String,
    description: String,
    user_count: i64,
    sso_alias: String,
    #[schema(value_type = Vec<Value>)]
    provider_types: Vec<Json>,
}

fn team_json(t: Team, user_count: i64) -> TeamJson {
    let providers: Vec<Provider> = serde_json::from_str(&t.providers).unwrap_or_default();
    TeamJson {
        policy_type: load_code(&t.policy_type),
        providers: providers
            .into_iter()
            .map(|p| ProviderOut {
                id: p.id,
                name: p.name.unwrap_or_default(),
                kind: p.kind.unwrap_or(Json::Null),
            })
            .collect(),
        created_at: time_string(t.created_at),
        updated_at: time_string(t.updated_at),
        user_count,
        provider_types: serde_json::from_str(&t.provider_types).unwrap_or_default(),
        id: t.id,
        name: t.name,
        description: t.description,
        sso_alias: t.sso_alias,
    }
}

const TEAM_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "policy_type",
    "providers",
    "sso_alias",
    "provider_types",
];

/// Applies a team body to `team`. Pure: no database.
fn apply_team(team: &mut Team, mut body: Body, mode: Mode) -> Result<(), ApiError> {
    if let Some(name) = required("name", body.take::<String>("name")?, mode)? {
        validate_display_name("name", &name)?;
        team.name = name.trim().to_string();
    }
    if let Some(d) = optional(body.take::<String>("description")?, mode) {
        let d = d.unwrap_or_default();
        check_text("description", &d, MAX_TEXT)?;
        team.description = d;
    }
    if let Some(p) = optional(body.take::<Json>("policy_type")?, mode) {
        team.policy_type = match p {
            Some(v) => {
                check_code("policy_type", &v)?;
                store_code(&v)
            }
            None => String::new(),
        };
    }
    if let Some(alias) = optional(body.take::<String>("sso_alias")?, mode) {
        let alias = alias.unwrap_or_default();
        check_line("sso_alias", &alias, MAX_NAME)?;
        team.sso_alias = alias;
    }
    if let Some(providers) = optional(body.list::<Provider>("providers")?, mode) {
        let providers = providers.unwrap_or_default();
        let mut seen = BTreeSet::new();
        for (i, p) in providers.iter().enumerate() {
            let field = format!("providers[{i}].id");
            if p.id.trim().is_empty() {
                return Err(ApiError::bad(field, "must not be empty"));
            }
            check_line(&field, &p.id, MAX_NAME)?;
            if !seen.insert(p.id.clone()) {
                return Err(ApiError::bad(field, format!("{:?} is listed twice", p.id)));
            }
            if let Some(n) = &p.name {
                check_line(&format!("providers[{i}].name"), n, MAX_NAME)?;
            }
            if let Some(k) = &p.kind {
                check_code(&format!("providers[{i}].type"), k)?;
            }
        }
        team.providers = to_json_text(&providers)?;
    }
    if let Some(types) = optional(body.list::<Json>("provider_types")?, mode) {
        let types = types.unwrap_or_default();
        for (i, t) in types.iter().enumerate() {
            check_code(&format!("provider_types[{i}]"), t)?;
        }
        team.provider_types = to_json_text(&types)?;
    }
    Ok(())
}

#[utoipa::path(
    get,
    path = "/api/v1/teams",
    tag = "teams",
    summary = "List teams",
    description = "Needs `team:read`. Filter fields: `name`, `sso_alias`.",
    params(crate::openapi::ListParams),
    responses(
        (status = 200, description = "One page of teams", body = crate::openapi::ValuesPage<TeamJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
    )
)]
async fn list_teams(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    principal.require("team:read")?;
    let list = ListQuery::parse(&req, &["name", "sso_alias"])?;
    let realm_id = principal.realm_id.clone();
    let page = with_db(&state, move |conn| {
        let filter = TeamFilter {
            name: list.filter_value("name"),
            sso_alias: list.filter_value("sso_alias"),
        };
        let rows = dir::list_teams(conn, &realm_id, &filter, &window(&list))?;
        let page = Page::from_rows(rows, list.page.size, |t| t.id.clone());
        let ids: Vec<String> = page.items.iter().map(|t| t.id.clone()).collect();
        let counts = dir::team_user_counts(conn, &ids)?;
        Ok(Values::from_page(page, |t| {
            let n = counts.get(&t.id).copied().unwrap_or(0);
            team_json(t, n)
        }))
    })
    .await?;
    Ok(ok(&page))
}

/// The team with its live member count, or 404.
fn load_team(conn: &mut DbConnection, realm_id: &str, id: &str) -> Result<TeamJson, ApiError> {
    let team = dir::team_in_realm(conn, realm_id, id)?
        .ok_or_else(|| ApiError::NotFound(format!("team {id}")))?;
    let count = dir::team_user_counts(conn, std::slice::from_ref(&team.id))?
        .get(&team.id)
        .copied()
        .unwrap_or(0);
    Ok(team_json(team, count))
}

#[utoipa::path(
    get,
    path = "/api/v1/teams/{id}",
    tag = "teams",
    summary = "Get a team",
    description = "Needs `team:read`.",
    params(("id" = String, Path, description = "The team's id (a UUID)")),
    responses(
        (status = 200, description = "The team", body = crate::openapi::ValueEnvelope<TeamJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
async fn get_team(
    state: web::Data<ResourceState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("team:read")?;
    let id = parse_id("id", &path)?.to_string();
    let realm_id = principal.realm_id.clone();
    let team = with_db(&state, move |conn| load_team(conn, &realm_id, &id)).await?;
    Ok(ok(&Value { value: team }))
}

#[utoipa::path(
    post,
    path = "/api/v1/teams",
    tag = "teams",
    summary = "Create a team",
    description = "Needs `team:write`.",
    request_body = crate::openapi::TeamBody,
    responses(
        (status = 200, description = "Created", body = crate::openapi::ValueEnvelope<TeamJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn create_team(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require("team:write")?;
    let mut body = Body::read(&state, &req, payload, TEAM_FIELDS).await?;
    check_body_id(&mut body, None)?;
    let now = state.now();
    let mut team = Team::new(&principal.realm_id, "", "", false, now);
    apply_team(&mut team, body, Mode::Create)?;
    let source = source_addr(&req);
    let created = write(&state, move |conn| {
        if q::team_by_name(conn, &principal.realm_id, &team.name)?.is_some() {
            return Err(ApiError::Conflict(format!(
                "a team named {:?} already exists",
                team.name
            )));
        }
        q::insert_team(conn, &team)?;
        audit(
            conn,
            &principal,
            &source,
            "team.create",
            &format!("team:{}", team.id),
            now,
        )?;
        Ok(team_json(team, 0))
    })
    .await?;
    Ok(ok(&Value { value: created }))
}

#[utoipa::path(
    put,
    path = "/api/v1/teams/{id}",
    tag = "teams",
    summary = "Replace a team",
    description = "Absent optional fields are cleared. Needs `team:write`.",
    params(("id" = String, Path, description = "The team's id (a UUID)")),
    request_body = crate::openapi::TeamBody,
    responses(
        (status = 200, description = "The updated team", body = crate::openapi::ValueEnvelope<TeamJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn put_team(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    update_team(state, principal, req, path, payload, Mode::Replace).await
}

#[utoipa::path(
    patch,
    path = "/api/v1/teams/{id}",
    tag = "teams",
    summary = "Update some fields of a team",
    description = "Absent fields keep their value. Needs `team:write`.",
    params(("id" = String, Path, description = "The team's id (a UUID)")),
    request_body = crate::openapi::TeamBody,
    responses(
        (status = 200, description = "The updated team", body = crate::openapi::ValueEnvelope<TeamJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn patch_team(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    update_team(state, principal, req, path, payload, Mode::Patch).await
}

async fn update_team(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    mode: Mode,
) -> Result<HttpResponse, ApiError> {
    principal.require("team:write")?;
    let id = parse_id("id", &path)?.to_string();
    let mut body = Body::read(&state, &req, payload, TEAM_FIELDS).await?;
    check_body_id(&mut body, Some(&id))?;
    let now = state.now();
    let source = source_addr(&req);
    let updated = write(&state, move |conn| {
        let before = dir::team_in_realm(conn, &principal.realm_id, &id)?
            .ok_or_else(|| ApiError::NotFound(format!("team {id}")))?;
        let mut team = before.clone();
        apply_team(&mut team, body, mode)?;
        if before.is_root && team.name != before.name {
            return Err(ApiError::Conflict(format!(
                "the root team is always named {ROOT_TEAM_NAME:?}; it cannot be renamed"
            )));
        }
        if team.name != before.name
            && q::team_by_name(conn, &principal.realm_id, &team.name)?.is_some()
        {
            return Err(ApiError::Conflict(format!(
                "a team named {:?} already exists",
                team.name
            )));
        }
        team.updated_at = now;
        dir::update_team(conn, &team)?;
        audit(
            conn,
            &principal,
            &source,
            "team.update",
            &format!("team:{id}"),
            now,
        )?;
        load_team(conn, &principal.realm_id, &id)
    })
    .await?;
    Ok(ok(&Value { value: updated }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/teams/{id}",
    tag = "teams",
    summary = "Delete a team",
    description = "The root team cannot be deleted (409). Needs `team:write`.",
    params(("id" = String, Path, description = "The team's id (a UUID)")),
    responses(
        (status = 200, description = "Deleted", body = crate::openapi::Empty),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn delete_team(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("team:write")?;
    let id = parse_id("id", &path)?.to_string();
    let now = state.now();
    let source = source_addr(&req);
    write(&state, move |conn| {
        let grantor = Grantor::new(conn, &principal)?;
        let team = dir::team_in_realm(conn, &principal.realm_id, &id)?
            .ok_or_else(|| ApiError::NotFound(format!("team {id}")))?;
        if team.is_root {
            return Err(ApiError::Conflict(
                "the root team cannot be deleted: every realm keeps one".into(),
            ));
        }
        // Leaving a team can lift a deny that the team's policies or roles put on rights
        // held elsewhere: every member's gains must be held.
        let members = dir::team_member_ids(conn, &id)?;
        let mut before = Vec::with_capacity(members.len());
        for m in &members {
            before.push(grantor.user_rights(conn, m)?);
        }
        dir::delete_team(conn, &id)?;
        for (m, was) in members.iter().zip(&before) {
            let now_rights = grantor.user_rights(conn, m)?;
            grantor.ensure_gains(was, &now_rights)?;
        }
        audit(
            conn,
            &principal,
            &source,
            "team.delete",
            &format!("team:{id}"),
            now,
        )?;
        Ok(())
    })
    .await?;
    Ok(ok(&serde_json::json!({})))
}

// ---- users ----

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TeamRoleIn {
    team_id: String,
    role_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct TeamRoleOut {
    team_id: String,
    team_name: String,
    role_id: String,
    role_name: String,
}

#[derive(Serialize, Deserialize, Clone, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Digest {
    digest_id: String,
    #[serde(default)]
    digest_name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Value>)]
    frequency: Option<Json>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct DigestOut {
    digest_id: String,
    digest_name: String,
    #[schema(value_type = Value)]
    frequency: Json,
}

/// What the caller may do to the user (`options`); stored values override defaults.
#[derive(Serialize, Deserialize, Clone, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UserOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_change_password: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    has_mfa: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_change_roles: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_disable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_delete: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_edit_name: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_extend_support: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_remove_from_teams: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct OptionsOut {
    can_change_password: bool,
    has_mfa: bool,
    can_change_roles: bool,
    can_disable: bool,
    can_delete: bool,
    can_edit_name: bool,
    can_extend_support: bool,
    can_remove_from_teams: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
struct UserJson {
    id: String,
    name: String,
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    email: Option<String>,
    enabled: bool,
    last_login_at: Option<String>,
    last_refresh_at: Option<String>,
    created_at: String,
    updated_at: String,
    logins_lifetime: String,
    #[schema(value_type = Value)]
    auth_provider_type: Json,
    auth_provider_id: Option<String>,
    #[schema(value_type = Value)]
    persona: Json,
    options: OptionsOut,
    team_roles: Vec<TeamRoleOut>,
    digest_settings: Vec<DigestOut>,
    expires_at: Option<String>,
}

fn user_json(u: User, memberships: Vec<NamedMembership>) -> UserJson {
    let stored: UserOptions = serde_json::from_str(&u.options).unwrap_or_default();
    let local = !u.is_service_account;
    let options = OptionsOut {
        can_change_password: stored.can_change_password.unwrap_or(local),
        has_mfa: stored.has_mfa.unwrap_or(false),
        can_change_roles: stored.can_change_roles.unwrap_or(true),
        can_disable: stored.can_disable.unwrap_or(true),
        can_delete: stored.can_delete.unwrap_or(local),
        can_edit_name: stored.can_edit_name.unwrap_or(local),
        can_extend_support: stored.can_extend_support.unwrap_or(false),
        can_remove_from_teams: stored.can_remove_from_teams.unwrap_or(true),
    };
    let digests: Vec<Digest> = serde_json::from_str(&u.digest_settings).unwrap_or_default();
    UserJson {
        last_login_at: u.last_login_at.map(time_string),
        last_refresh_at: None,
        created_at: time_string(u.created_at),
        updated_at: time_string(u.updated_at),
        logins_lifetime: u.login_count.to_string(),
        auth_provider_type: Json::Null,
        auth_provider_id: None,
        persona: load_code(&u.persona),
        options,
        team_roles: memberships
            .into_iter()
            .map(|m| TeamRoleOut {
                team_id: m.team_id,
                team_name: m.team_name,
                role_id: m.role_id,
                role_name: m.role_name,
            })
            .collect(),
        digest_settings: digests
            .into_iter()
            .map(|d| DigestOut {
                digest_id: d.digest_id,
                digest_name: d.digest_name.unwrap_or_default(),
                frequency: d.frequency.unwrap_or(Json::Null),
            })
            .collect(),
        expires_at: None,
        id: u.id,
        name: u.username,
        display_name: u.display_name,
        given_name: u.given_name,
        family_name: u.family_name,
        email: u.email,
        enabled: u.enabled,
    }
}

fn load_user(conn: &mut DbConnection, realm_id: &str, id: &str) -> Result<UserJson, ApiError> {
    let user = dir::user_in_realm(conn, realm_id, id)?
        .ok_or_else(|| ApiError::NotFound(format!("user {id}")))?;
    let memberships = dir::named_memberships(conn, std::slice::from_ref(&user.id))?;
    Ok(user_json(user, memberships))
}

const USER_FIELDS: &[&str] = &[
    "id",
    "name",
    "email",
    "password",
    "persona",
    "team_roles",
    "digest_settings",
    "given_name",
    "family_name",
    "display_name",
    "enabled",
    "options",
    "auth_provider_type",
    "auth_provider_id",
];

/// A user body, checked but not yet applied (team roles need the database).
struct UserInput {
    /// The name as sent; checked against the username rule where it is written (a replace
    /// that repeats a name from before the rule must not fail on it).
    name: Option<String>,
    password: Option<String>,
    /// `None`: leave the memberships alone.
    team_roles: Option<Vec<(String, String)>>,
    apply: Box<dyn FnOnce(&mut User) + Send>,
}

/// A user's `name` is the sign-in name: it follows the one username rule
/// ([`tessera_core::username`]) shared with the CLI and import. The error names the body
/// field, `name`, and says it is the username that is wrong.
fn parse_user_name(name: &str) -> Result<Username, ApiError> {
    username::parse(name).map_err(|e| ApiError::bad("name", format!("the username {}", e.message)))
}

fn check_email(email: &str) -> Result<(), ApiError> {
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad(
            "email",
            format!("{email:?} is not an e-mail address"),
        ))
    }
}

/// A person's name field: `""` clears it like `null`.
fn person_name(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if !v.is_empty() => {
            check_line(field, &v, MAX_NAME)?;
            Ok(Some(v))
        }
        _ => Ok(None),
    }
}

/// Reads and checks a user body. Pure: no database.
fn parse_user(mut body: Body, mode: Mode) -> Result<UserInput, ApiError> {
    let name = required("name", body.take::<String>("name")?, mode)?;
    let password = match (body.take::<String>("password")?, mode) {
        (Field::Set(p), Mode::Create) => {
            tessera_core::password::validate_password(&p)?;
            Some(p)
        }
        (Field::Absent | Field::Null, _) => None,
        (Field::Set(_), _) => {
            return Err(ApiError::bad(
                "password",
                "is set only when the user is created; an administrator resets it with POST /api/v1/users/{id}/password-reset (a link or a temporary password), and a user changes her own with POST /api/v1/users/me/password",
            ));
        }
    };
    let email = optional(body.take::<String>("email")?, mode)
        .map(|e| match e {
            Some(e) if !e.is_empty() => check_email(&e).map(|()| Some(e)),
            _ => Ok(None),
        })
        .transpose()?;
    let given = optional(body.take::<String>("given_name")?, mode)
        .map(|v| person_name("given_name", v))
        .transpose()?;
    let family = optional(body.take::<String>("family_name")?, mode)
        .map(|v| person_name("family_name", v))
        .transpose()?;
    let display = optional(body.take::<String>("display_name")?, mode)
        .map(|v| person_name("display_name", v))
        .transpose()?;
    let enabled = match body.take::<bool>("enabled")? {
        Field::Set(b) => Some(b),
        Field::Null => return Err(ApiError::bad("enabled", "must be true or false")),
        Field::Absent if mode == Mode::Patch => None,
        Field::Absent => Some(true),
    };
    let persona = optional(body.take::<Json>("persona")?, mode)
        .map(|p| match p {
            Some(v) => check_code("persona", &v).map(|()| store_code(&v)),
            None => Ok(String::new()),
        })
        .transpose()?;
    let options = optional(body.take::<UserOptions>("options")?, mode)
        .map(|o| to_json_text(&o.unwrap_or_default()))
        .transpose()?;
    let digests = match optional(body.list::<Digest>("digest_settings")?, mode) {
        None => None,
        Some(d) => {
            let d = d.unwrap_or_default();
            let mut seen = BTreeSet::new();
            for (i, g) in d.iter().enumerate() {
                let field = format!("digest_settings[{i}].digest_id");
                if g.digest_id.trim().is_empty() {
                    return Err(ApiError::bad(field, "must not be empty"));
                }
                check_line(&field, &g.digest_id, MAX_NAME)?;
                if !seen.insert(g.digest_id.clone()) {
                    return Err(ApiError::bad(
                        field,
                        format!("{:?} is listed twice", g.digest_id),
                    ));
                }
                if let Some(n) = &g.digest_name {
                    check_line(&format!("digest_settings[{i}].digest_name"), n, MAX_NAME)?;
                }
                if let Some(f) = &g.frequency {
                    check_code(&format!("digest_settings[{i}].frequency"), f)?;
                }
            }
            Some(to_json_text(&d)?)
        }
    };
    for field in ["auth_provider_type", "auth_provider_id"] {
        if let Field::Set(_) = body.take::<Json>(field)? {
            return Err(ApiError::bad(
                field,
                "external identity providers are not supported; users are local accounts (send null or leave it out)",
            ));
        }
    }
    let team_roles = match body.list::<TeamRoleIn>("team_roles")? {
        // Memberships change only when team_roles is given, on PUT too: a replace that
        // omits them must not silently take someone's rights (or delete their keys). On
        // create, no team_roles puts the user in the root team as a member (see create).
        Field::Absent => None,
        Field::Null => Some(Vec::new()),
        Field::Set(list) => {
            let mut pairs = Vec::with_capacity(list.len());
            for (i, tr) in list.into_iter().enumerate() {
                parse_id(&format!("team_roles[{i}].team_id"), &tr.team_id)?;
                parse_id(&format!("team_roles[{i}].role_id"), &tr.role_id)?;
                let pair = (tr.team_id, tr.role_id);
                if pairs.contains(&pair) {
                    return Err(ApiError::bad(
                        format!("team_roles[{i}]"),
                        "this team and role are listed twice",
                    ));
                }
                pairs.push(pair);
            }
            Some(pairs)
        }
    };
    Ok(UserInput {
        name,
        password,
        team_roles,
        apply: Box::new(move |u: &mut User| {
            if let Some(v) = email {
                u.email = v;
            }
            if let Some(v) = given {
                u.given_name = v;
            }
            if let Some(v) = family {
                u.family_name = v;
            }
            if let Some(v) = display {
                u.display_name = v;
            }
            if let Some(v) = enabled {
                u.enabled = v;
            }
            if let Some(v) = persona {
                u.persona = v;
            }
            if let Some(v) = options {
                u.options = v;
            }
            if let Some(v) = digests {
                u.digest_settings = v;
            }
        }),
    })
}

/// Every team and role named must exist in the realm: a 400 naming the entry otherwise.
fn check_team_roles(
    conn: &mut DbConnection,
    realm_id: &str,
    pairs: &[(String, String)],
) -> Result<(), ApiError> {
    for (i, (team, role)) in pairs.iter().enumerate() {
        if dir::team_in_realm(conn, realm_id, team)?.is_none() {
            return Err(ApiError::bad(
                format!("team_roles[{i}].team_id"),
                format!("no team {team} in this realm"),
            ));
        }
        if dir::role_in_realm(conn, realm_id, role)?.is_none() {
            return Err(ApiError::bad(
                format!("team_roles[{i}].role_id"),
                format!("no role {role} in this realm"),
            ));
        }
    }
    Ok(())
}

/// The configured password hasher when the server shares one (`web::Data<PasswordHasher>`),
/// else one with the default (OWASP) parameters, made once per process. Stored hashes carry
/// their parameters, so either verifies at sign-in.
pub(crate) fn hasher(req: &HttpRequest) -> Result<Arc<PasswordHasher>, ApiError> {
    if let Some(h) = req.app_data::<web::Data<PasswordHasher>>() {
        return Ok(h.clone().into_inner());
    }
    static DEFAULT: OnceLock<Result<Arc<PasswordHasher>, String>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            PasswordHasher::new(Argon2Params::default())
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(ApiError::Internal)
}

#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    summary = "List users",
    description = "Needs `user:read`. Filter fields: `name`, `email`, `team_id`.",
    params(crate::openapi::ListParams),
    responses(
        (status = 200, description = "One page of users", body = crate::openapi::ValuesPage<UserJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
    )
)]
async fn list_users(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    principal.require("user:read")?;
    let list = ListQuery::parse(&req, &["name", "email", "team_id"])?;
    filter_id(&list, "team_id")?;
    let realm_id = principal.realm_id.clone();
    let page = with_db(&state, move |conn| {
        let filter = UserFilter {
            name: list.filter_value("name"),
            email: list.filter_value("email"),
            team_id: list.filter_value("team_id"),
        };
        let rows = dir::list_users(conn, &realm_id, &filter, &window(&list))?;
        let page = Page::from_rows(rows, list.page.size, |u| u.id.clone());
        let ids: Vec<String> = page.items.iter().map(|u| u.id.clone()).collect();
        let mut by_user: HashMap<String, Vec<NamedMembership>> = HashMap::new();
        for m in dir::named_memberships(conn, &ids)? {
            by_user.entry(m.user_id.clone()).or_default().push(m);
        }
        Ok(Values::from_page(page, |u| {
            let ms = by_user.remove(&u.id).unwrap_or_default();
            user_json(u, ms)
        }))
    })
    .await?;
    Ok(ok(&page))
}

/// `GET /api/v1/users/{id}` answers the user itself, without an envelope.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    summary = "Get a user",
    description = "Needs `user:read`. The user itself, without an envelope.",
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    responses(
        (status = 200, description = "The user", body = UserJson),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
async fn get_user(
    state: web::Data<ResourceState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("user:read")?;
    let id = parse_id("id", &path)?.to_string();
    let realm_id = principal.realm_id.clone();
    let user = with_db(&state, move |conn| load_user(conn, &realm_id, &id)).await?;
    Ok(ok(&user))
}

#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    summary = "Create a user",
    description = "Needs `user:write`.",
    request_body = crate::openapi::UserBody,
    responses(
        (status = 200, description = "Created", body = crate::openapi::ValueEnvelope<UserJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn create_user(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require("user:write")?;
    let mut body = Body::read(&state, &req, payload, USER_FIELDS).await?;
    check_body_id(&mut body, None)?;
    let input = parse_user(body, Mode::Create)?;
    let name = parse_user_name(input.name.as_deref().unwrap_or_default())?;
    let password_hash = match input.password {
        Some(p) => {
            let h = hasher(&req)?;
            Some(web::block(move || h.hash(&p)).await??)
        }
        None => None,
    };
    let now = state.now();
    let source = source_addr(&req);
    let (apply, team_roles) = (input.apply, input.team_roles);
    let created = write(&state, move |conn| {
        let grantor = Grantor::new(conn, &principal)?;
        let realm_id = principal.realm_id.clone();
        let mut user = User::new(&realm_id, &name, now);
        apply(&mut user);
        user.password_hash = password_hash;
        usernames::check_free(conn, &realm_id, &name, None)?;
        let pairs = match team_roles {
            Some(pairs) => {
                check_team_roles(conn, &realm_id, &pairs)?;
                pairs
            }
            None => match (
                q::root_team(conn, &realm_id)?,
                q::role_by_name(conn, &realm_id, "member")?,
            ) {
                (Some(team), Some(role)) => vec![(team.id, role.id)],
                _ => Vec::new(),
            },
        };
        q::insert_user(conn, &user)?;
        dir::replace_memberships(conn, &realm_id, &user.id, &pairs, now)?;
        let rights = grantor.user_rights(conn, &user.id)?;
        grantor.ensure_gains(&Rights::default(), &rights)?;
        audit(
            conn,
            &principal,
            &source,
            "user.create",
            &format!("user:{}", user.id),
            now,
        )?;
        load_user(conn, &realm_id, &user.id)
    })
    .await?;
    Ok(ok(&Value { value: created }))
}

#[utoipa::path(
    put,
    path = "/api/v1/users/{id}",
    tag = "users",
    summary = "Replace a user",
    description = "Absent optional fields are cleared. Needs `user:write`.",
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    request_body = crate::openapi::UserBody,
    responses(
        (status = 200, description = "The updated user", body = crate::openapi::ValueEnvelope<UserJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn put_user(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    update_user(state, principal, req, path, payload, Mode::Replace).await
}

#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    summary = "Update some fields of a user",
    description = "Absent fields keep their value. Needs `user:write`.",
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    request_body = crate::openapi::UserBody,
    responses(
        (status = 200, description = "The updated user", body = crate::openapi::ValueEnvelope<UserJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn patch_user(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    update_user(state, principal, req, path, payload, Mode::Patch).await
}

async fn update_user(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    mode: Mode,
) -> Result<HttpResponse, ApiError> {
    principal.require("user:write")?;
    let id = parse_id("id", &path)?.to_string();
    let mut body = Body::read(&state, &req, payload, USER_FIELDS).await?;
    check_body_id(&mut body, Some(&id))?;
    let input = parse_user(body, mode)?;
    let now = state.now();
    let source = source_addr(&req);
    let (apply, team_roles, new_name) = (input.apply, input.team_roles, input.name);
    let updated = write(&state, move |conn| {
        let grantor = Grantor::new(conn, &principal)?;
        let realm_id = principal.realm_id.clone();
        let before = dir::user_in_realm(conn, &realm_id, &id)?
            .ok_or_else(|| ApiError::NotFound(format!("user {id}")))?;
        let rights_before = grantor.user_rights(conn, &id)?;
        let shown_before = load_user(conn, &realm_id, &id)?;
        let mut user = before.clone();
        apply(&mut user);
        // Repeating the current name (as PUT does) is no change, even for a name from
        // before the username rule; a new name must pass the rule and be free.
        if let Some(sent) = new_name.as_deref().filter(|n| *n != before.username) {
            let name = parse_user_name(sent)?;
            if name.as_str() != before.username {
                if before.is_service_account {
                    return Err(ApiError::Conflict(
                        "a service account is named after its client; it cannot be renamed".into(),
                    ));
                }
                usernames::check_free(conn, &realm_id, &name, Some(&id))?;
                user.set_username(&name);
            }
        }
        if !user.enabled && before.enabled && principal.user_id.as_deref() == Some(id.as_str()) {
            return Err(ApiError::Conflict("you cannot disable yourself".into()));
        }
        user.updated_at = now;
        dir::update_user(conn, &user)?;
        if let Some(pairs) = team_roles {
            check_team_roles(conn, &realm_id, &pairs)?;
            dir::replace_memberships(conn, &realm_id, &id, &pairs, now)?;
        }
        let rights_after = grantor.user_rights(conn, &id)?;
        grantor.ensure_gains(&rights_before, &rights_after)?;
        grantor.ensure_realm_keeps_admin(conn)?;
        let shown = load_user(conn, &realm_id, &id)?;
        audit_change(
            conn,
            &principal,
            &source,
            ("user.update", &format!("user:{id}")),
            &changes(&shown_before, &shown),
            now,
        )?;
        Ok(shown)
    })
    .await?;
    Ok(ok(&Value { value: updated }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "users",
    summary = "Delete a user",
    description = "Needs `user:write`.",
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    responses(
        (status = 200, description = "The user as it was", body = crate::openapi::ValueEnvelope<UserJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn delete_user(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("user:write")?;
    let id = parse_id("id", &path)?.to_string();
    let now = state.now();
    let source = source_addr(&req);
    let deleted = write(&state, move |conn| {
        let grantor = Grantor::new(conn, &principal)?;
        let user = load_user(conn, &principal.realm_id, &id)?;
        if principal.user_id.as_deref() == Some(id.as_str()) {
            return Err(ApiError::Conflict("you cannot delete yourself".into()));
        }
        let clients = dir::clients_served_by(conn, &id)?;
        if !clients.is_empty() {
            return Err(ApiError::Conflict(format!(
                "user {id} is the service account of client {}; delete the client instead",
                clients.join(", ")
            )));
        }
        dir::delete_user(conn, &id)?;
        grantor.ensure_realm_keeps_admin(conn)?;
        audit(
            conn,
            &principal,
            &source,
            "user.delete",
            &format!("user:{id}"),
            now,
        )?;
        Ok(user)
    })
    .await?;
    Ok(ok(&Value { value: deleted }))
}

// ---- roles ----

#[derive(Serialize, utoipa::ToSchema)]
struct RoleJson {
    id: String,
    name: String,
    permissions: Vec<String>,
    is_available_in_root_team: bool,
    is_available_in_non_root_team: bool,
    description: String,
    builtin: bool,
    /// Holders must sign in with a second factor.
    requires_mfa: bool,
}

fn role_permissions(r: &Role) -> BTreeSet<String> {
    r.permissions.to_set()
}

fn role_json(r: Role) -> RoleJson {
    RoleJson {
        permissions: r.permissions.to_vec(),
        is_available_in_root_team: true,
        is_available_in_non_root_team: true,
        id: r.id,
        name: r.name,
        description: r.description,
        builtin: r.builtin,
        requires_mfa: r.requires_mfa,
    }
}

/// `{"roles": […], "next_page_token": "…", "has_more": …}`.
#[derive(Serialize, utoipa::ToSchema)]
struct RolesPage {
    roles: Vec<RoleJson>,
    next_page_token: String,
    has_more: bool,
}

const ROLE_FIELDS: &[&str] = &[
    "id",
    "name",
    "permissions",
    "description",
    "is_available_in_root_team",
    "is_available_in_non_root_team",
    "requires_mfa",
];

fn apply_role(role: &mut Role, mut body: Body, mode: Mode) -> Result<(), ApiError> {
    if let Some(name) = required("name", body.take::<String>("name")?, mode)? {
        validate_display_name("name", &name)?;
        role.name = name.trim().to_string();
    }
    if let Some(d) = optional(body.take::<String>("description")?, mode) {
        let d = d.unwrap_or_default();
        check_text("description", &d, MAX_TEXT)?;
        role.description = d;
    }
    if let Some(perms) = optional(body.list::<String>("permissions")?, mode) {
        let perms = perms.unwrap_or_default();
        for (i, p) in perms.iter().enumerate() {
            if !permission::is_permission(p) {
                let known: Vec<&str> = permission::CATALOG.iter().map(|(n, _)| *n).collect();
                return Err(ApiError::bad(
                    format!("permissions[{i}]"),
                    format!(
                        "{p:?} is not a permission; the permissions are {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        role.permissions = tessera_core::ScopeSet::from_names(perms).iter().collect();
    }
    if let Some(required) = optional(body.take::<bool>("requires_mfa")?, mode) {
        role.requires_mfa = required.unwrap_or(false);
    }
    for field in ["is_available_in_root_team", "is_available_in_non_root_team"] {
        match body.take::<bool>(field)? {
            Field::Absent | Field::Set(true) => {}
            Field::Null | Field::Set(false) => {
                return Err(ApiError::bad(
                    field,
                    "every role is available in every team; send true or leave it out",
                ));
            }
        }
    }
    Ok(())
}

#[utoipa::path(
    get,
    path = "/api/v1/roles",
    tag = "roles",
    summary = "List roles",
    description = "Needs `role:read`. Filter fields: `name`.",
    params(crate::openapi::ListParams),
    responses(
        (status = 200, description = "One page of roles", body = RolesPage),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
    )
)]
async fn list_roles(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    principal.require("role:read")?;
    let list = ListQuery::parse(&req, &["name"])?;
    let realm_id = principal.realm_id.clone();
    let page = with_db(&state, move |conn| {
        let filter = RoleFilter {
            name: list.filter_value("name"),
        };
        let rows = dir::list_roles(conn, &realm_id, &filter, &window(&list))?;
        Ok(Page::from_rows(rows, list.page.size, |r| r.id.clone()))
    })
    .await?;
    let has_more = page.has_more();
    Ok(ok(&RolesPage {
        roles: page.items.into_iter().map(role_json).collect(),
        next_page_token: page.next_page_token,
        has_more,
    }))
}

fn find_role(conn: &mut DbConnection, realm_id: &str, id: &str) -> Result<Role, ApiError> {
    dir::role_in_realm(conn, realm_id, id)?.ok_or_else(|| ApiError::NotFound(format!("role {id}")))
}

#[utoipa::path(
    get,
    path = "/api/v1/roles/{id}",
    tag = "roles",
    summary = "Get a role",
    description = "Needs `role:read`.",
    params(("id" = String, Path, description = "The role's id (a UUID)")),
    responses(
        (status = 200, description = "The role", body = crate::openapi::ValueEnvelope<RoleJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
async fn get_role(
    state: web::Data<ResourceState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("role:read")?;
    let id = parse_id("id", &path)?.to_string();
    let realm_id = principal.realm_id.clone();
    let role = with_db(&state, move |conn| find_role(conn, &realm_id, &id)).await?;
    Ok(ok(&Value {
        value: role_json(role),
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/roles",
    tag = "roles",
    summary = "Create a role",
    description = "Needs `role:write`.",
    request_body = crate::openapi::RoleBody,
    responses(
        (status = 200, description = "Created", body = crate::openapi::ValueEnvelope<RoleJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn create_role(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require("role:write")?;
    let mut body = Body::read(&state, &req, payload, ROLE_FIELDS).await?;
    check_body_id(&mut body, None)?;
    let now = state.now();
    let mut role = Role {
        id: new_uuid(),
        realm_id: principal.realm_id.clone(),
        name: String::new(),
        description: String::new(),
        permissions: Default::default(),
        builtin: false,
        created_at: now,
        updated_at: now,
        requires_mfa: false,
    };
    apply_role(&mut role, body, Mode::Create)?;
    let source = source_addr(&req);
    let created = write(&state, move |conn| {
        // A role can be given in any team: its permissions must be held realm-wide.
        Grantor::new(conn, &principal)?.ensure(&Reach::Realm, &role_permissions(&role))?;
        if q::role_by_name(conn, &principal.realm_id, &role.name)?.is_some() {
            return Err(ApiError::Conflict(format!(
                "a role named {:?} already exists",
                role.name
            )));
        }
        q::insert_role(conn, &role)?;
        audit(
            conn,
            &principal,
            &source,
            "role.create",
            &format!("role:{}", role.id),
            now,
        )?;
        Ok(role_json(role))
    })
    .await?;
    Ok(ok(&Value { value: created }))
}

#[utoipa::path(
    put,
    path = "/api/v1/roles/{id}",
    tag = "roles",
    summary = "Replace a role",
    description = "Absent optional fields are cleared. Needs `role:write`.",
    params(("id" = String, Path, description = "The role's id (a UUID)")),
    request_body = crate::openapi::RoleBody,
    responses(
        (status = 200, description = "The updated role", body = crate::openapi::ValueEnvelope<RoleJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn put_role(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    update_role(state, principal, req, path, payload, Mode::Replace).await
}

#[utoipa::path(
    patch,
    path = "/api/v1/roles/{id}",
    tag = "roles",
    summary = "Update some fields of a role",
    description = "Absent fields keep their value. Needs `role:write`.",
    params(("id" = String, Path, description = "The role's id (a UUID)")),
    request_body = crate::openapi::RoleBody,
    responses(
        (status = 200, description = "The updated role", body = crate::openapi::ValueEnvelope<RoleJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn patch_role(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    update_role(state, principal, req, path, payload, Mode::Patch).await
}

async fn update_role(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    mode: Mode,
) -> Result<HttpResponse, ApiError> {
    principal.require("role:write")?;
    let id = parse_id("id", &path)?.to_string();
    let mut body = Body::read(&state, &req, payload, ROLE_FIELDS).await?;
    check_body_id(&mut body, Some(&id))?;
    let now = state.now();
    let source = source_addr(&req);
    let updated = write(&state, move |conn| {
        let grantor = Grantor::new(conn, &principal)?;
        let before = find_role(conn, &principal.realm_id, &id)?;
        let mut role = before.clone();
        apply_role(&mut role, body, mode)?;
        if before.builtin
            && (role.name != before.name
                || role.description != before.description
                || role_permissions(&role) != role_permissions(&before))
        {
            return Err(ApiError::Conflict(format!(
                "{} is a built-in role; only its requires_mfa can be changed (create a custom role instead)",
                before.name
            )));
        }
        if role.requires_mfa != before.requires_mfa {
            // Whether holders need a second factor protects what the role holds: only someone
            // who holds all of it may decide.
            grantor.ensure(&Reach::Realm, &role_permissions(&before))?;
        }
        if role.name != before.name
            && q::role_by_name(conn, &principal.realm_id, &role.name)?.is_some()
        {
            return Err(ApiError::Conflict(format!(
                "a role named {:?} already exists",
                role.name
            )));
        }
        let added: BTreeSet<String> = role_permissions(&role)
            .difference(&role_permissions(&before))
            .cloned()
            .collect();
        // Everyone holding the role, in any team, gains what is added.
        grantor.ensure(&Reach::Realm, &added)?;
        role.updated_at = now;
        dir::update_role(conn, &role)?;
        let shown = role_json(role);
        audit_change(
            conn,
            &principal,
            &source,
            ("role.update", &format!("role:{id}")),
            &changes(&role_json(before), &shown),
            now,
        )?;
        Ok(shown)
    })
    .await?;
    Ok(ok(&Value { value: updated }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/roles/{id}",
    tag = "roles",
    summary = "Delete a role",
    description = "A role still in use cannot be deleted (409). Needs `role:write`.",
    params(("id" = String, Path, description = "The role's id (a UUID)")),
    responses(
        (status = 200, description = "Deleted", body = crate::openapi::Empty),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn delete_role(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("role:write")?;
    let id = parse_id("id", &path)?.to_string();
    let now = state.now();
    let source = source_addr(&req);
    write(&state, move |conn| {
        let role = find_role(conn, &principal.realm_id, &id)?;
        if role.builtin {
            return Err(ApiError::Conflict(format!(
                "{} is a built-in role; built-in roles cannot be deleted",
                role.name
            )));
        }
        let (memberships, keys) = dir::role_usage(conn, &id)?;
        if memberships > 0 || keys > 0 {
            return Err(ApiError::Conflict(format!(
                "role {} is in use by {memberships} team membership(s) and {keys} API key(s); remove them first",
                role.name
            )));
        }
        dir::delete_role(conn, &id)?;
        audit(conn, &principal, &source, "role.delete", &format!("role:{id}"), now)?;
        Ok(())
    })
    .await?;
    Ok(ok(&serde_json::json!({})))
}
