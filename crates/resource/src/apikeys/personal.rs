//! Personal API keys (seed 003): a key acts for its creator within one team, never beyond the
//! creator's live rights there, optionally narrowed to a role or scopes. Each person sees
//! their own keys; admins see everyone's.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tessera_core::apikey::{self, ApiKeyKind};
use tessera_core::grant::{KeyGrant, Reach};
use tessera_core::names::validate_display_name;
use tessera_core::page::Page;
use tessera_store::DbConnection;
use tessera_store::access::role_grants;
use tessera_store::apikeys::{self as keys, KeyScope};
use tessera_store::models::ApiKey;

use super::{
    ACTIVE, INACTIVE, find_role, new_key, requested_grant, role_name_map, role_name_of, split,
    store_change,
};
use crate::access::Grantor;
use crate::auth::{Credential, Principal};
use crate::error::ApiError;
use crate::http::{self, Author, ListQuery, json_body, parse_id, parse_time, time_string, with_db};
use crate::state::ResourceState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/apikeys")
            .route(web::get().to(list_personal))
            .route(web::post().to(create_personal)),
    )
    .service(
        web::resource("/api/v1/apikeys/{id}")
            .route(web::get().to(get_personal))
            .route(web::put().to(update_personal))
            .route(web::delete().to(delete_personal)),
    )
    .route("/api/v1/apikeys/{id}/token", web::get().to(exchange));
}

/// A personal key as the API shows it: never the value.
#[derive(Serialize, utoipa::ToSchema)]
struct PersonalKey {
    id: String,
    name: String,
    #[serde(rename = "type")]
    key_type: String,
    role: Option<String>,
    scopes: Vec<String>,
    #[serde(rename = "maskedValue")]
    masked_value: String,
    account: String,
    project: Option<String>,
    team_id: Option<String>,
    owner_id: Option<String>,
    enabled: bool,
    status: String,
    created_by: String,
    updated_by: String,
    created_at: String,
    updated_at: String,
    expires_at: Option<String>,
    last_access_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

fn personal_json(k: ApiKey, role_name: Option<String>, value: Option<String>) -> PersonalKey {
    PersonalKey {
        masked_value: apikey::masked(&k.prefix, &k.last_four),
        enabled: k.status == ACTIVE,
        scopes: split(&k.scopes),
        project: k.team_id.clone(),
        account: k.realm_id,
        id: k.id,
        name: k.name,
        key_type: k.key_type,
        role: role_name,
        team_id: k.team_id,
        owner_id: k.owner_user_id,
        status: k.status,
        created_by: k.created_by,
        updated_by: k.updated_by,
        created_at: time_string(k.created_at),
        updated_at: time_string(k.updated_at),
        expires_at: k.expires_at.map(time_string),
        last_access_at: k.last_access_at.map(time_string),
        value,
    }
}

/// What an audit event shows of a key: what a change may touch, never its hash.
fn audited_key(key: &ApiKey, roles: &HashMap<String, String>) -> serde_json::Value {
    serde_json::json!({
        "name": key.name,
        "role": role_name_of(key, roles),
        "scopes": key.scopes,
        "status": key.status,
        "expires_at": key.expires_at.map(time_string),
    })
}

/// The user a key operation acts for; team keys cannot manage personal keys.
fn acting_user(p: &Principal) -> Result<String, ApiError> {
    p.user_id
        .clone()
        .ok_or_else(|| ApiError::InsufficientScope("api_key:read".into()))
}

/// Whether a key authenticates at `now`: active and not expired.
fn usable(key: &ApiKey, now: i64) -> bool {
    key.status == ACTIVE && key.expires_at.is_none_or(|e| e > now)
}

fn future_time(field: &str, value: &str, now: i64) -> Result<i64, ApiError> {
    let t = parse_time(field, value)?;
    if t <= now {
        return Err(ApiError::bad(field, "must be in the future"));
    }
    Ok(t)
}

/// A personal key the principal may see: their own, or any for admins.
fn visible_personal(conn: &mut DbConnection, p: &Principal, id: &str) -> Result<ApiKey, ApiError> {
    let key = keys::by_id(conn, &p.realm_id, id)?
        .filter(|k| k.kind == "personal")
        .ok_or_else(|| ApiError::NotFound(format!("API key {id}")))?;
    if key.owner_user_id != p.user_id && !p.is_admin() {
        // Not revealing other users' keys: the same answer as a missing one.
        return Err(ApiError::NotFound(format!("API key {id}")));
    }
    Ok(key)
}

/// The personal keys a list shows: the caller's own, another user's (admins, with an
/// `owner_id` filter) or everyone's (admins, without one).
struct PersonalListing {
    realm_id: String,
    owner: Option<String>,
    team: Option<String>,
    page: tessera_core::page::PageRequest,
}

impl PersonalListing {
    fn parse(query: &ListQuery, principal: &Principal, user: String) -> Result<Self, ApiError> {
        let owner_filter = query.filter_value("owner_id").map(str::to_string);
        if owner_filter.as_deref().is_some_and(|o| o != user) && !principal.is_admin() {
            return Err(ApiError::InsufficientScope("user:write".into()));
        }
        Ok(Self {
            realm_id: principal.realm_id.clone(),
            // Without a filter, admins list every user's keys and others their own.
            owner: owner_filter.or((!principal.is_admin()).then_some(user)),
            team: query.filter_value("team_id").map(str::to_string),
            page: query.page.clone(),
        })
    }

    /// One page and one more row (whether there is another), with their role names.
    fn rows(
        &self,
        conn: &mut DbConnection,
    ) -> Result<(Vec<ApiKey>, HashMap<String, String>), ApiError> {
        let scope = match &self.owner {
            Some(o) => KeyScope::PersonalOf(o),
            None => KeyScope::AllPersonal,
        };
        let (after, limit) = (self.page.after.as_deref(), self.page.size + 1);
        let rows = keys::list(
            conn,
            &self.realm_id,
            scope,
            self.team.as_deref(),
            after,
            limit,
        )?;
        let roles = role_name_map(conn, &rows)?;
        Ok((rows, roles))
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/apikeys",
    tag = "api keys",
    summary = "List personal API keys",
    description = "Your own personal keys; admins see every user's. Needs `api_key:read`. A bare array: when there is another page, its token is in the `X-Next-Page-Token` response header. Filter fields: `owner_id` (another user's: admins only), `team_id`.",
    params(crate::openapi::ListParams),
    responses(
        (status = 200, description = "The keys, never their values", body = Vec<PersonalKey>, headers(("X-Next-Page-Token" = String, description = "The `page_token` of the next page, when there is one"))),
        crate::openapi::CommonErrors,
    )
)]
async fn list_personal(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    principal.require("api_key:read")?;
    let user = acting_user(&principal)?;
    let query = ListQuery::parse(&req, &["owner_id", "team_id"])?;
    let listing = PersonalListing::parse(&query, &principal, user)?;
    let (rows, roles) = with_db(&state, move |conn| listing.rows(conn)).await?;
    let page = Page::from_rows(rows, query.page.size, |k| k.id.clone());
    let mut resp = HttpResponse::Ok();
    if page.has_more() {
        // Seed 003 lists keys as a bare array; the next page travels in a header.
        resp.insert_header(("X-Next-Page-Token", page.next_page_token.clone()));
    }
    let items: Vec<PersonalKey> = page
        .items
        .into_iter()
        .map(|k| {
            let role = role_name_of(&k, &roles);
            personal_json(k, role, None)
        })
        .collect();
    Ok(resp.json(items))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreatePersonal {
    name: String,
    #[serde(rename = "type", default = "default_type")]
    key_type: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
}

fn default_type() -> String {
    "sk".into()
}

/// A new personal key's request, checked as far as it can be without the database.
struct NewPersonalKey {
    kind: ApiKeyKind,
    name: String,
    role: Option<String>,
    scopes: Vec<String>,
    team_id: Option<String>,
    expires_at: Option<i64>,
}

impl CreatePersonal {
    fn checked(self, now: i64) -> Result<NewPersonalKey, ApiError> {
        validate_display_name("name", &self.name)?;
        let kind = match self.key_type.as_str() {
            "sk" => ApiKeyKind::PersonalSecret,
            "pk" => ApiKeyKind::PersonalPublic,
            other => {
                return Err(ApiError::bad(
                    "type",
                    format!("{other:?} is not a key type; use sk or pk"),
                ));
            }
        };
        let expires_at = self
            .expires_at
            .as_deref()
            .map(|e| future_time("expires_at", e, now))
            .transpose()?;
        if let Some(t) = &self.team_id {
            parse_id("team_id", t)?;
        }
        let scopes = self.scopes.unwrap_or_default();
        if let Some(s) = scopes
            .iter()
            .find(|s| !tessera_core::permission::is_permission(s))
        {
            return Err(ApiError::bad(
                "scopes",
                format!("{s:?} is not a permission"),
            ));
        }
        Ok(NewPersonalKey {
            kind,
            name: self.name,
            role: self.role,
            scopes,
            team_id: self.team_id,
            expires_at,
        })
    }
}

/// The team a new key of `user` acts in: the one named, which the user must belong to, or
/// the user's only team.
fn key_team(conn: &mut DbConnection, user: &str, named: Option<&str>) -> Result<String, ApiError> {
    let memberships = role_grants(conn, user, None)?;
    if let Some(t) = named {
        if !memberships.iter().any(|m| m.team_id == t) {
            return Err(ApiError::bad(
                "team_id",
                "you are not a member of that team",
            ));
        }
        return Ok(t.to_string());
    }
    let mut teams: Vec<&String> = memberships.iter().map(|m| &m.team_id).collect();
    teams.dedup();
    match teams.as_slice() {
        [only] => Ok((*only).clone()),
        [] => Err(ApiError::bad("team_id", "you belong to no team")),
        _ => Err(ApiError::bad(
            "team_id",
            "is required: you belong to several teams; name the one the key acts in",
        )),
    }
}

/// Stores a new personal key of `user` after the escalation rule bounds its grant; returns
/// it with its role's name.
fn insert_personal_key(
    conn: &mut DbConnection,
    author: &Author,
    user: &str,
    request: NewPersonalKey,
    generated: &apikey::GeneratedApiKey,
) -> Result<(ApiKey, Option<String>), ApiError> {
    let grantor = Grantor::new(conn, &author.principal)?;
    let team_id = key_team(conn, user, request.team_id.as_deref())?;
    let role = (request.role.as_deref())
        .map(|r| find_role(conn, author.realm_id(), r))
        .transpose()?;
    let mut scopes = request.scopes;
    let requested = requested_grant(role.as_ref(), &scopes);
    let follows_owner = requested == KeyGrant::FollowsOwner;
    let resolved = grantor.personal_key_grant(conn, user, &team_id, requested)?;
    if let (true, KeyGrant::Only(bounded)) = (follows_owner, resolved) {
        // Made through a narrowed credential: the key carries that credential's rights.
        scopes = bounded.into_iter().collect();
    }
    let key = ApiKey {
        owner_user_id: Some(user.to_string()),
        role_id: role.as_ref().map(|r| r.id.clone()),
        scopes: scopes.join(" "),
        expires_at: request.expires_at,
        ..new_key(author, request.kind, generated, &request.name, team_id)
    };
    keys::insert(conn, &key)?;
    author.audit(conn, "api_key.create", &format!("api_key:{}", key.id))?;
    Ok((key, role.map(|r| r.name)))
}

#[utoipa::path(
    post,
    path = "/api/v1/apikeys",
    tag = "api keys",
    summary = "Create a personal API key",
    description = "A key acting for you in one team (`team_id`, required when you belong to several), with no more than your live rights there, optionally narrowed to a `role` or `scopes`. `type` is `sk` (default) or `pk`. The value is in this response only. Needs `api_key:create`.",
    request_body = CreatePersonal,
    responses(
        (status = 201, description = "Created; `value` is shown this once", body = PersonalKey),
        crate::openapi::CommonErrors,
    )
)]
async fn create_personal(
    state: web::Data<ResourceState>,
    principal: Principal,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require("api_key:create")?;
    let user = acting_user(&principal)?;
    let body: CreatePersonal = json_body(&state, &req, payload).await?;
    let author = Author::of(&state, &req, principal);
    let request = body.checked(author.now)?;
    let generated = apikey::generate(request.kind);
    let value = generated.value.clone();
    let (key, role_name) = http::write(&state, move |conn| {
        insert_personal_key(conn, &author, &user, request, &generated)
    })
    .await?;
    Ok(HttpResponse::Created().json(personal_json(key, role_name, Some(value))))
}

#[utoipa::path(
    get,
    path = "/api/v1/apikeys/{id}",
    tag = "api keys",
    summary = "Get a personal API key",
    description = "Your own key, or any user's for admins. Needs `api_key:read`.",
    params(("id" = String, Path, description = "The key's id (a UUID)"), ("withValue" = Option<bool>, Query, description = "`true` is refused with 400: values are shown once, at creation, and not stored")),
    responses(
        (status = 200, description = "The key, without its value", body = PersonalKey),
        crate::openapi::ItemErrors,
    )
)]
async fn get_personal(
    state: web::Data<ResourceState>,
    principal: Principal,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    principal.require("api_key:read")?;
    let id = parse_id("id", &path)?.to_string();
    let query = ListQuery::parse(&req, &[])?;
    if query.param("withValue").is_some_and(|v| v == "true") {
        return Err(ApiError::bad(
            "withValue",
            "API key values are shown once, when the key is created, and are not stored; create a new key if it is lost",
        ));
    }
    let (key, role) = with_db(&state, move |conn| {
        let key = visible_personal(conn, &principal, &id)?;
        let roles = role_name_map(conn, std::slice::from_ref(&key))?;
        let role = role_name_of(&key, &roles);
        Ok((key, role))
    })
    .await?;
    Ok(HttpResponse::Ok().json(personal_json(key, role, None)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdatePersonal {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    expires_at: Option<String>,
}

/// Applies an update to a personal key the principal may see, after the escalation rule
/// allows its new role and, when it becomes usable again, its rights; returns the key with
/// its role's name.
fn change_personal_key(
    conn: &mut DbConnection,
    author: &Author,
    id: &str,
    body: UpdatePersonal,
    expires_at: Option<i64>,
) -> Result<(ApiKey, Option<String>), ApiError> {
    let grantor = Grantor::new(conn, &author.principal)?;
    let mut key = visible_personal(conn, &author.principal, id)?;
    let before = key.clone();
    let was_usable = usable(&key, author.now);
    if let Some(n) = &body.name {
        key.name = n.trim().to_string();
    }
    let owner = key.owner_user_id.clone().unwrap_or_default();
    let team = (key.team_id.clone()).unwrap_or_else(|| grantor.root_team().to_string());
    if let Some(r) = &body.role {
        let role = find_role(conn, author.realm_id(), r)?;
        // The key's new grant, checked as if it were made now.
        let requested = requested_grant(Some(&role), &split(&key.scopes));
        grantor.personal_key_grant(conn, &owner, &team, requested)?;
        key.role_id = Some(role.id);
    }
    if let Some(enabled) = body.enabled {
        key.status = if enabled { ACTIVE } else { INACTIVE }.into();
    }
    if expires_at.is_some() {
        key.expires_at = expires_at;
    }
    if !was_usable && usable(&key, author.now) {
        // Reinstating a key gives its rights again.
        let rights = tessera_store::access::personal_key_rights(conn, &key, &owner)?.rights;
        grantor.ensure(&Reach::Team(team), &rights)?;
    }
    store_change(conn, author, &mut key)?;
    let roles = role_name_map(conn, &[before.clone(), key.clone()])?;
    let detail = http::changes(&audited_key(&before, &roles), &audited_key(&key, &roles));
    author.audit_change(
        conn,
        ("api_key.update", &format!("api_key:{}", key.id)),
        &detail,
    )?;
    let role = role_name_of(&key, &roles);
    Ok((key, role))
}

#[utoipa::path(
    put,
    path = "/api/v1/apikeys/{id}",
    tag = "api keys",
    summary = "Update a personal API key",
    description = "Changes the given fields: `name`, `role`, `enabled`, `expires_at` (in the future). Needs `api_key:update`.",
    params(("id" = String, Path, description = "The key's id (a UUID)")),
    request_body = UpdatePersonal,
    responses(
        (status = 200, description = "The updated key", body = PersonalKey),
        crate::openapi::ItemErrors,
    )
)]
async fn update_personal(
    state: web::Data<ResourceState>,
    principal: Principal,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require("api_key:update")?;
    let id = parse_id("id", &path)?.to_string();
    let body: UpdatePersonal = json_body(&state, &req, payload).await?;
    if let Some(n) = &body.name {
        validate_display_name("name", n)?;
    }
    let author = Author::of(&state, &req, principal);
    let expires_at = (body.expires_at.as_deref())
        .map(|e| future_time("expires_at", e, author.now))
        .transpose()?;
    let (key, role) = http::write(&state, move |conn| {
        change_personal_key(conn, &author, &id, body, expires_at)
    })
    .await?;
    Ok(HttpResponse::Ok().json(personal_json(key, role, None)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/apikeys/{id}",
    tag = "api keys",
    summary = "Delete a personal API key",
    description = "Needs `api_key:delete`.",
    params(("id" = String, Path, description = "The key's id (a UUID)")),
    responses(
        (status = 200, description = "Deleted", body = crate::openapi::DeletedCount),
        crate::openapi::ItemErrors,
    )
)]
async fn delete_personal(
    state: web::Data<ResourceState>,
    principal: Principal,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    principal.require("api_key:delete")?;
    let id = parse_id("id", &path)?.to_string();
    let author = Author::of(&state, &req, principal);
    let deleted = http::write(&state, move |conn| {
        let key = visible_personal(conn, &author.principal, &id)?;
        let n = keys::delete(conn, &key.id)?;
        author.audit(conn, "api_key.delete", &format!("api_key:{}", key.id))?;
        Ok(n)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"acknowledged": true, "deletedCount": deleted})))
}

/// The API key the request authenticated with, when it is the personal key `id`: only a key
/// itself may be exchanged, and team keys never.
fn exchangeable_key(
    principal: &Principal,
    id: &str,
    req: &HttpRequest,
) -> Result<String, ApiError> {
    match &principal.credential {
        Credential::ApiKey { key_id, kind, .. } if key_id == id && kind == "personal" => {}
        Credential::ApiKey { kind, .. } if kind == "team" => {
            return Err(ApiError::bad(
                "id",
                "team keys cannot be exchanged for tokens",
            ));
        }
        _ => {
            return Err(ApiError::bad(
                "Authorization",
                "authenticate with the API key itself to exchange it for a token",
            ));
        }
    }
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, t)| t.to_string())
        .ok_or(ApiError::MissingToken)
}

/// Exchanges a presented key at the realm's token endpoint (RFC 8693) for an access token.
async fn exchange_at_issuer(
    state: &ResourceState,
    realm_name: &str,
    presented: &str,
) -> Result<String, ApiError> {
    let token_url = format!(
        "{}/realms/{realm_name}/protocol/openid-connect/token",
        state.settings.issuer_base.trim_end_matches('/'),
    );
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let resp = client
        .post(&token_url)
        .form(&[
            ("grant_type", apikey::TOKEN_EXCHANGE_GRANT),
            ("client_id", tessera_store::provision::PORTAL_CLIENT_ID),
            ("subject_token", presented),
            ("subject_token_type", apikey::API_KEY_TOKEN_TYPE),
        ])
        .send()
        .await
        .map_err(|e| ApiError::IssuerUnreachable(format!("cannot reach the issuer: {e}")))?;
    let status = resp.status();
    let body: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| ApiError::IssuerUnreachable(format!("the issuer answered badly: {e}")))?;
    if !status.is_success() {
        return Err(ApiError::InvalidToken(format!(
            "the issuer refused the exchange: {}",
            body["error_description"]
                .as_str()
                .unwrap_or("no reason given")
        )));
    }
    body["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| ApiError::IssuerUnreachable("the issuer returned no access_token".into()))
}

/// `GET /api/v1/apikeys/{id}/token`: the key the request authenticated with, exchanged at the
/// issuer (RFC 8693) for a short-lived JWT carrying no more than the key's rights.
#[utoipa::path(
    get,
    path = "/api/v1/apikeys/{id}/token",
    tag = "api keys",
    summary = "Exchange a personal API key for an access token",
    description = "Authenticate with the key itself; the issuer mints (RFC 8693 token exchange) a short-lived JWT carrying no more than the key's rights. Team keys cannot be exchanged. Needs `api_key:read`.",
    params(("id" = String, Path, description = "The key's id (a UUID)")),
    responses(
        (status = 200, description = "A short-lived access token", body = crate::openapi::ExchangedToken),
        crate::openapi::CommonErrors,
    )
)]
async fn exchange(
    state: web::Data<ResourceState>,
    principal: Principal,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    principal.require("api_key:read")?;
    let id = parse_id("id", &path)?;
    let presented = exchangeable_key(&principal, id, &req)?;
    let token = exchange_at_issuer(&state, &principal.realm_name, &presented).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({"token": token})))
}
