//! Team API keys (seed 004): a key of one team, `oaa_push` by default, created and managed by
//! admins and by admins and operators of the team, visible to its members, outliving its
//! creator.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tessera_core::apikey::{self, ApiKeyKind, GeneratedApiKey};
use tessera_core::grant::{KeyGrant, Reach};
use tessera_core::names::validate_display_name;
use tessera_core::page::{Page, PageRequest};
use tessera_store::DbConnection;
use tessera_store::access::role_grants;
use tessera_store::apikeys::{self as keys, KeyScope};
use tessera_store::models::ApiKey;

use super::{
    ACTIVE, INACTIVE, find_role, new_key, requested_grant, role_name_map, role_name_of,
    store_change,
};
use crate::access::Grantor;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::{self, Author, ListQuery, Values, json_body, parse_id, time_string, with_db};
use crate::state::ResourceState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/preview/teamkeys")
            .route(web::get().to(list_team))
            .route(web::post().to(create_team)),
    )
    .service(
        // `{id}:revoke` and `{id}:reinstate` share the segment with the id.
        web::resource("/api/preview/teamkeys/{id}")
            .route(web::get().to(get_team))
            .route(web::patch().to(rename_team))
            .route(web::delete().to(delete_team))
            .route(web::post().to(team_action)),
    );
}

#[derive(Serialize, utoipa::ToSchema)]
struct TeamKey {
    id: String,
    access_key: String,
    name: String,
    created_at: String,
    updated_at: String,
    last_access_at: Option<String>,
    status: String,
    team_id: String,
    team_name: String,
    role: Option<String>,
}

fn team_json(
    k: ApiKey,
    team_name: String,
    role: Option<String>,
    access_key: Option<String>,
) -> TeamKey {
    TeamKey {
        id: k.id,
        access_key: access_key.unwrap_or_default(),
        name: k.name,
        created_at: time_string(k.created_at),
        updated_at: time_string(k.updated_at),
        // Seed 004 shows the creation time until the key is first used.
        last_access_at: Some(time_string(k.last_access_at.unwrap_or(k.created_at))),
        status: k.status,
        team_id: k.team_id.unwrap_or_default(),
        team_name,
        role,
    }
}

/// The principal's teams with the role names held in each.
fn teams_of(
    conn: &mut DbConnection,
    p: &Principal,
) -> Result<HashMap<String, Vec<String>>, ApiError> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if let Some(user) = &p.user_id {
        for g in role_grants(conn, user, None)? {
            out.entry(g.team_id).or_default().push(g.role_name);
        }
    }
    Ok(out)
}

/// Admins anywhere, or admins and operators of the team, manage its keys.
fn may_manage_team_keys(p: &Principal, roles_in_team: Option<&Vec<String>>) -> bool {
    p.is_admin() || roles_in_team.is_some_and(|r| r.iter().any(|n| n == "admin" || n == "operator"))
}

/// A team key the principal may see: one of their teams' (admins: any).
fn visible_team_key(
    conn: &mut DbConnection,
    p: &Principal,
    id: &str,
) -> Result<(ApiKey, HashMap<String, Vec<String>>), ApiError> {
    let key = keys::by_id(conn, &p.realm_id, id)?
        .filter(|k| k.kind == "team")
        .ok_or_else(|| ApiError::NotFound(format!("team API key {id}")))?;
    let teams = teams_of(conn, p)?;
    let member = key.team_id.as_ref().is_some_and(|t| teams.contains_key(t));
    if !member && !p.is_admin() {
        return Err(ApiError::NotFound(format!("team API key {id}")));
    }
    Ok((key, teams))
}

/// Loads a team key the principal may change, or says why not.
fn manageable_team_key(
    conn: &mut DbConnection,
    p: &Principal,
    id: &str,
) -> Result<ApiKey, ApiError> {
    let (key, mine) = visible_team_key(conn, p, id)?;
    let team = key.team_id.clone().unwrap_or_default();
    if !may_manage_team_keys(p, mine.get(&team)) {
        return Err(ApiError::InsufficientScope(
            "api_key:update (as an admin or operator of the team)".into(),
        ));
    }
    Ok(key)
}

/// A key as the API shows it, with its team's and its role's names.
fn describe_team_key(
    conn: &mut DbConnection,
    key: ApiKey,
    access_key: Option<String>,
) -> Result<TeamKey, ApiError> {
    let team_name = match &key.team_id {
        Some(t) => keys::team_names(conn, std::slice::from_ref(t))?
            .into_iter()
            .next()
            .map(|(_, n)| n)
            .unwrap_or_default(),
        None => String::new(),
    };
    let roles = role_name_map(conn, std::slice::from_ref(&key))?;
    let role = role_name_of(&key, &roles);
    Ok(team_json(key, team_name, role, access_key))
}

/// One page (and one key more, telling whether there is another) of the team keys the
/// principal may see, as the API shows them.
fn list_team_keys(
    conn: &mut DbConnection,
    principal: &Principal,
    wanted: Option<&String>,
    page: &PageRequest,
) -> Result<Vec<TeamKey>, ApiError> {
    let mine = teams_of(conn, principal)?;
    let teams: Option<Vec<String>> = match (wanted, principal.is_admin()) {
        (Some(t), true) => Some(vec![t.clone()]),
        (Some(t), false) if mine.contains_key(t) => Some(vec![t.clone()]),
        (Some(_), false) => Some(Vec::new()),
        // Every team key of the realm, through its own index (not a list of every team).
        (None, true) => None,
        (None, false) => Some(mine.keys().cloned().collect()),
    };
    let scope = match &teams {
        Some(t) => KeyScope::TeamKeysOf(t),
        None => KeyScope::AllTeam,
    };
    let (after, limit) = (page.after.as_deref(), page.size + 1);
    let rows = keys::list(conn, &principal.realm_id, scope, None, after, limit)?;
    let mut page_teams: Vec<String> = rows.iter().filter_map(|k| k.team_id.clone()).collect();
    page_teams.sort();
    page_teams.dedup();
    let names: HashMap<String, String> = keys::team_names(conn, &page_teams)?.into_iter().collect();
    let roles = role_name_map(conn, &rows)?;
    Ok(rows
        .into_iter()
        .map(|k| {
            let team = (k.team_id.as_ref())
                .and_then(|t| names.get(t).cloned())
                .unwrap_or_default();
            let role = role_name_of(&k, &roles);
            team_json(k, team, role, None)
        })
        .collect())
}

#[utoipa::path(
    get,
    path = "/api/preview/teamkeys",
    tag = "team keys",
    operation_id = "list_team_keys",
    summary = "List team API keys",
    description = "The keys of your teams (admins: every team). Needs `api_key:read`. Filter field: `team_id`.",
    params(crate::openapi::ListParams),
    responses(
        (status = 200, description = "One page of keys; `access_key` is empty", body = crate::openapi::ValuesPage<TeamKey>),
        crate::openapi::CommonErrors,
    )
)]
async fn list_team(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    principal.require("api_key:read")?;
    let query = ListQuery::parse(&req, &["team_id"])?;
    let wanted = query.filter_value("team_id").map(str::to_string);
    if let Some(t) = &wanted {
        parse_id("team_id", t)?;
    }
    let page = query.page.clone();
    let rows = with_db(&state, move |conn| {
        list_team_keys(conn, &principal, wanted.as_ref(), &page)
    })
    .await?;
    let page = Page::from_rows(rows, query.page.size, |k| k.id.clone());
    Ok(HttpResponse::Ok().json(Values::from_page(page, |k| k)))
}

#[utoipa::path(
    get,
    path = "/api/preview/teamkeys/{id}",
    tag = "team keys",
    operation_id = "get_team_key",
    summary = "Get a team API key",
    description = "A key of one of your teams (admins: any). Needs `api_key:read`.",
    params(("id" = String, Path, description = "The team key's id (a UUID)")),
    responses(
        (status = 200, description = "The key; `access_key` is empty", body = crate::openapi::ValueEnvelope<TeamKey>),
        crate::openapi::ItemErrors,
    )
)]
async fn get_team(
    state: web::Data<ResourceState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("api_key:read")?;
    let id = parse_id("id", &path)?.to_string();
    let described = with_db(&state, move |conn| {
        let (key, _) = visible_team_key(conn, &principal, &id)?;
        describe_team_key(conn, key, None)
    })
    .await?;
    Ok(http::ok_value(described))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateTeamKey {
    name: String,
    team_id: String,
    #[serde(default)]
    role: Option<String>,
}

/// Stores a new key of the team named in `body`, when the author may manage the team's keys
/// and holds its role's permissions there.
fn insert_team_key(
    conn: &mut DbConnection,
    author: &Author,
    body: &CreateTeamKey,
    generated: &GeneratedApiKey,
) -> Result<TeamKey, ApiError> {
    let p = &author.principal;
    let grantor = Grantor::new(conn, p)?;
    keys::team_by_id(conn, &p.realm_id, &body.team_id)?.ok_or_else(|| {
        ApiError::bad("team_id", format!("no team {} in this realm", body.team_id))
    })?;
    let mine = teams_of(conn, p)?;
    if !may_manage_team_keys(p, mine.get(&body.team_id)) {
        return Err(ApiError::InsufficientScope(
            "api_key:create (as an admin or operator of the team)".into(),
        ));
    }
    let role = find_role(
        conn,
        &p.realm_id,
        body.role.as_deref().unwrap_or("oaa_push"),
    )?;
    let granted = match requested_grant(Some(&role), &[]) {
        KeyGrant::Only(g) => g,
        KeyGrant::FollowsOwner => Default::default(),
    };
    grantor.ensure(&Reach::Team(body.team_id.clone()), &granted)?;
    let team_id = body.team_id.clone();
    let key = ApiKey {
        role_id: Some(role.id),
        ..new_key(author, ApiKeyKind::Team, generated, &body.name, team_id)
    };
    keys::insert(conn, &key)?;
    author.audit(conn, "team_key.create", &format!("api_key:{}", key.id))?;
    describe_team_key(conn, key, Some(generated.value.clone()))
}

#[utoipa::path(
    post,
    path = "/api/preview/teamkeys",
    tag = "team keys",
    operation_id = "create_team_key",
    summary = "Create a team API key",
    description = "Admins, and admins and operators of the team, with `api_key:create`. The role is `oaa_push` unless given. `access_key` is in this response only.",
    request_body = CreateTeamKey,
    responses(
        (status = 200, description = "Created; `access_key` is shown this once", body = crate::openapi::ValueEnvelope<TeamKey>),
        crate::openapi::CommonErrors,
    )
)]
async fn create_team(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require("api_key:create")?;
    let body: CreateTeamKey = json_body(&state, &req, payload).await?;
    validate_display_name("name", &body.name)?;
    parse_id("team_id", &body.team_id)?;
    let generated = apikey::generate(ApiKeyKind::Team);
    let author = Author::of(&state, &req, principal);
    let described = http::write(&state, move |conn| {
        insert_team_key(conn, &author, &body, &generated)
    })
    .await?;
    Ok(http::ok_value(described))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RenameTeamKey {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    team_id: Option<String>,
}

/// Renames a team key the author may manage; the body's `team_id`, when sent, must be the
/// key's.
fn rename_team_key(
    conn: &mut DbConnection,
    author: &Author,
    id: &str,
    body: RenameTeamKey,
) -> Result<TeamKey, ApiError> {
    let mut key = manageable_team_key(conn, &author.principal, id)?;
    if (body.team_id.as_deref()).is_some_and(|t| Some(t) != key.team_id.as_deref()) {
        return Err(ApiError::bad(
            "team_id",
            "a team key cannot move to another team",
        ));
    }
    key.name = body.name.trim().to_string();
    store_change(conn, author, &mut key)?;
    author.audit(conn, "team_key.rename", &format!("api_key:{}", key.id))?;
    describe_team_key(conn, key, None)
}

#[utoipa::path(
    patch,
    path = "/api/preview/teamkeys/{id}",
    tag = "team keys",
    operation_id = "rename_team_key",
    summary = "Rename a team API key",
    description = "Only `name` changes; `id` and `team_id`, when sent, must be the key's. Needs `api_key:update` as an admin, or as an admin or operator of the key's team.",
    params(("id" = String, Path, description = "The team key's id (a UUID)")),
    request_body = RenameTeamKey,
    responses(
        (status = 200, description = "The renamed key", body = crate::openapi::ValueEnvelope<TeamKey>),
        crate::openapi::ItemErrors,
    )
)]
async fn rename_team(
    state: web::Data<ResourceState>,
    principal: Principal,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require("api_key:update")?;
    let id = parse_id("id", &path)?.to_string();
    let body: RenameTeamKey = json_body(&state, &req, payload).await?;
    validate_display_name("name", &body.name)?;
    if body.id.as_deref().is_some_and(|b| b != id) {
        return Err(ApiError::bad("id", "does not match the id in the path"));
    }
    let author = Author::of(&state, &req, principal);
    let described = http::write(&state, move |conn| {
        rename_team_key(conn, &author, &id, body)
    })
    .await?;
    Ok(http::ok_value(described))
}

#[utoipa::path(
    delete,
    path = "/api/preview/teamkeys/{id}",
    tag = "team keys",
    operation_id = "delete_team_key",
    summary = "Delete a team API key",
    description = "Needs `api_key:delete` as an admin, or as an admin or operator of the key's team.",
    params(("id" = String, Path, description = "The team key's id (a UUID)")),
    responses(
        (status = 200, description = "The key as it was, with status `INACTIVE`", body = crate::openapi::ValueEnvelope<TeamKey>),
        crate::openapi::ItemErrors,
    )
)]
async fn delete_team(
    state: web::Data<ResourceState>,
    principal: Principal,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    principal.require("api_key:delete")?;
    let id = parse_id("id", &path)?.to_string();
    let author = Author::of(&state, &req, principal);
    let described = http::write(&state, move |conn| {
        let mut key = manageable_team_key(conn, &author.principal, &id)?;
        keys::delete(conn, &key.id)?;
        author.audit(conn, "team_key.delete", &format!("api_key:{}", key.id))?;
        // Seed 004: the answer is the key as it was, now INACTIVE.
        key.status = INACTIVE.into();
        describe_team_key(conn, key, None)
    })
    .await?;
    Ok(http::ok_value(described))
}

/// Revokes (`INACTIVE`) or reinstates (`ACTIVE`) a team key the author may manage; a key
/// reinstated gives its rights again, which the author must hold in its team.
fn set_team_key_status(
    conn: &mut DbConnection,
    author: &Author,
    id: &str,
    (action, status): (&str, &str),
) -> Result<(), ApiError> {
    let grantor = Grantor::new(conn, &author.principal)?;
    let mut key = manageable_team_key(conn, &author.principal, id)?;
    if status == ACTIVE && key.status != ACTIVE {
        let rights = tessera_store::access::team_key_rights(conn, &key)?;
        let team = key.team_id.clone().unwrap_or_default();
        grantor.ensure(&Reach::Team(team), &rights)?;
    }
    key.status = status.into();
    store_change(conn, author, &mut key)?;
    author.audit(
        conn,
        &format!("team_key.{action}"),
        &format!("api_key:{}", key.id),
    )
}

/// `POST /api/preview/teamkeys/{id}:revoke` and `…:reinstate`.
#[utoipa::path(
    post,
    path = "/api/preview/teamkeys/{id}:revoke",
    tag = "team keys",
    operation_id = "revoke_team_key",
    summary = "Revoke a team API key",
    description = "Sets the key's status to `INACTIVE`: it stops authenticating at once in this process and within seconds on every replica. Needs `api_key:update` as an admin, or as an admin or operator of the key's team.",
    params(("id" = String, Path, description = "The team key's id (a UUID)")),
    responses(
        (status = 200, description = "Revoked", body = crate::openapi::Empty),
        crate::openapi::ItemErrors,
    )
)]
async fn team_action(
    state: web::Data<ResourceState>,
    principal: Principal,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    principal.require("api_key:update")?;
    let (id, action) = path
        .split_once(':')
        .ok_or_else(|| ApiError::NotFound(format!("endpoint POST {}", req.path())))?;
    let status = match action {
        "revoke" => INACTIVE,
        "reinstate" => ACTIVE,
        other => {
            return Err(ApiError::NotFound(format!(
                "action {other:?}; use :revoke or :reinstate"
            )));
        }
    };
    let id = parse_id("id", id)?.to_string();
    let action = action.to_string();
    let author = Author::of(&state, &req, principal);
    http::write(&state, move |conn| {
        set_team_key_status(conn, &author, &id, (&action, status))
    })
    .await?;
    Ok(http::empty_object())
}
