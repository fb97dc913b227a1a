//! API keys: personal keys at `/api/v1/apikeys` (seed 003) and team keys at
//! `/api/preview/teamkeys` (seed 004), with the rules of seed 002: a personal key acts for its
//! creator within one team and never beyond the creator's live rights; team keys belong to a
//! team, carry `oaa_push` by default, are created by admins and operators only, are visible to
//! every member, and outlive their creator. Values are shown once and stored as SHA-256.
//!
//! The file reads in three parts: what both kinds share, personal keys, team keys; each
//! handler authorises, reads its input, and calls one function that acts.

use actix_web::web::{Path, Payload};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use tessera_core::apikey::{self, ApiKeyKind, GeneratedApiKey};
use tessera_core::grant::{KeyGrant, Reach};
use tessera_core::model::{ApiKey, KeyKind, KeyStatus, KeyType, PermissionList, Role};
use tessera_core::names::validate_display_name;
use tessera_core::page::{Page, PageRequest};
use tessera_store as store;
use tessera_store::DbConnection;
use tessera_store::access::role_grants;
use tessera_store::api_keys::KeyScope;

use crate::access::Grantor;
use crate::auth::{Credential, Principal};
use crate::error::ApiError;
use crate::http::{
    self, Author, Caller, ListQuery, Reply, Values, parse_id, parse_time, time_string,
};
use crate::state::ResourceState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    personal_routes(cfg);
    team_routes(cfg);
}

/// The names of the keys' roles, by role id.
fn role_name_map(
    conn: &mut DbConnection,
    rows: &[ApiKey],
) -> Result<HashMap<String, String>, ApiError> {
    let ids: Vec<String> = rows.iter().filter_map(|k| k.role_id.clone()).collect();
    Ok(store::roles::names(conn, &ids)?.into_iter().collect())
}

/// The name of `key`'s role among `roles` ([`role_name_map`]).
fn role_name_of(key: &ApiKey, roles: &HashMap<String, String>) -> Option<String> {
    key.role_id.as_ref().and_then(|r| roles.get(r).cloned())
}

/// Resolves a role by name or id in the realm.
fn find_role(conn: &mut DbConnection, realm_id: &str, role: &str) -> Result<Role, ApiError> {
    let found = match store::roles::by_name(conn, realm_id, role)? {
        Some(r) => Some(r),
        None if tessera_core::id::is_uuid(role) => store::roles::in_realm(conn, realm_id, role)?,
        None => None,
    };
    found.ok_or_else(|| ApiError::bad("role", format!("no role {role:?} in this realm")))
}

/// What a key asks for: its role's permissions and its scopes, or (neither given)
/// everything its owner may do in its team.
fn requested_grant(role: Option<&Role>, scopes: &[String]) -> KeyGrant {
    let mut grant: BTreeSet<String> = scopes.iter().cloned().collect();
    if let Some(r) = role {
        grant.extend(r.permissions.to_vec());
    }
    if grant.is_empty() {
        KeyGrant::FollowsOwner
    } else {
        KeyGrant::Only(grant)
    }
}

/// A new active key of `kind` in `team_id`, made by the author, holding the hash of
/// `generated`; no owner, role or scopes yet.
fn new_key(
    author: &Author,
    kind: ApiKeyKind,
    generated: &GeneratedApiKey,
    name: &str,
    team_id: String,
) -> ApiKey {
    let (stored_kind, key_type) = match kind {
        ApiKeyKind::PersonalSecret => (KeyKind::Personal, KeyType::Secret),
        ApiKeyKind::PersonalPublic => (KeyKind::Personal, KeyType::Public),
        ApiKeyKind::Team => (KeyKind::Team, KeyType::Secret),
    };
    ApiKey {
        id: tessera_core::id::new_uuid(),
        realm_id: author.realm_id().to_string(),
        kind: stored_kind,
        key_type,
        name: name.trim().to_string(),
        prefix: kind.prefix().into(),
        secret_sha256: generated.sha256_hex.clone(),
        last_four: generated.last_four.clone(),
        team_id: Some(team_id),
        owner_user_id: None,
        role_id: None,
        scopes: PermissionList::default(),
        status: KeyStatus::Active,
        expires_at: None,
        last_access_at: None,
        created_by: author.name.clone(),
        updated_by: author.name.clone(),
        created_at: author.now,
        updated_at: author.now,
    }
}

/// Marks `key` as changed by the author now, and stores it.
fn store_change(
    conn: &mut DbConnection,
    author: &Author,
    key: &mut ApiKey,
) -> Result<(), ApiError> {
    key.updated_by = author.name.clone();
    key.updated_at = author.now;
    store::api_keys::update(conn, key)?;
    Ok(())
}

// ---- personal keys (seed 003) ----
//
// Personal API keys (seed 003): a key acts for its creator within one team, never beyond the
// creator's live rights there, optionally narrowed to a role or scopes. Each person sees
// their own keys; admins see everyone's.

fn personal_routes(cfg: &mut web::ServiceConfig) {
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
        enabled: k.status == KeyStatus::Active,
        scopes: k.scopes.to_vec(),
        project: k.team_id.clone(),
        account: k.realm_id,
        id: k.id,
        name: k.name,
        key_type: k.key_type.to_string(),
        role: role_name,
        team_id: k.team_id,
        owner_id: k.owner_user_id,
        status: k.status.to_string(),
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
        "scopes": key.scopes.to_string(),
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

fn future_time(field: &str, value: &str, now: i64) -> Result<i64, ApiError> {
    let t = parse_time(field, value)?;
    if t <= now {
        return Err(ApiError::bad(field, "must be in the future"));
    }
    Ok(t)
}

/// A personal key the principal may see: their own, or any for admins.
fn visible_personal(conn: &mut DbConnection, p: &Principal, id: &str) -> Result<ApiKey, ApiError> {
    let key = store::api_keys::by_id(conn, &p.realm_id, id)?
        .filter(|k| k.kind == KeyKind::Personal)
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
        let rows = store::api_keys::list(
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

#[utoipa::path(get, path = "/api/v1/apikeys", tag = "api keys", summary = "List personal API keys",
    description = "Your own personal keys; admins see every user's. Needs `api_key:read`. A bare array: when there is another page, its token is in the `X-Next-Page-Token` response header. Filter fields: `owner_id` (another user's: admins only), `team_id`.",
    params(crate::openapi::ListParams),
    responses((status = 200, description = "The keys, never their values", body = Vec<PersonalKey>, headers(("X-Next-Page-Token" = String, description = "The `page_token` of the next page, when there is one"))), crate::openapi::CommonErrors),
)]
async fn list_personal(caller: Caller) -> Reply {
    caller.require("api_key:read")?;
    let user = acting_user(&caller.principal)?;
    let query = caller.list_query(&["owner_id", "team_id"])?;
    let listing = PersonalListing::parse(&query, &caller.principal, user)?;
    let (rows, roles) = caller.read(move |c| listing.rows(c)).await?;
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
        scopes: scopes.iter().collect(),
        expires_at: request.expires_at,
        ..new_key(author, request.kind, generated, &request.name, team_id)
    };
    store::api_keys::insert(conn, &key)?;
    author.audit(conn, "api_key.create", &format!("api_key:{}", key.id))?;
    Ok((key, role.map(|r| r.name)))
}

#[utoipa::path(post, path = "/api/v1/apikeys", tag = "api keys", summary = "Create a personal API key",
    description = "A key acting for you in one team (`team_id`, required when you belong to several), with no more than your live rights there, optionally narrowed to a `role` or `scopes`. `type` is `sk` (default) or `pk`. The value is in this response only. Needs `api_key:create`.",
    request_body = CreatePersonal,
    responses((status = 201, description = "Created; `value` is shown this once", body = PersonalKey), crate::openapi::CommonErrors),
)]
async fn create_personal(caller: Caller, payload: Payload) -> Reply {
    caller.require("api_key:create")?;
    let user = acting_user(&caller.principal)?;
    let body: CreatePersonal = caller.json(payload).await?;
    let author = caller.author();
    let request = body.checked(author.now)?;
    let generated = apikey::generate(request.kind);
    let value = generated.value.clone();
    let (key, role_name) = caller
        .write_as(author, move |c, by| {
            insert_personal_key(c, by, &user, request, &generated)
        })
        .await?;
    Ok(HttpResponse::Created().json(personal_json(key, role_name, Some(value))))
}

#[utoipa::path(get, path = "/api/v1/apikeys/{id}", tag = "api keys", summary = "Get a personal API key",
    description = "Your own key, or any user's for admins. Needs `api_key:read`.",
    params(("id" = String, Path, description = "The key's id (a UUID)"), ("withValue" = Option<bool>, Query, description = "`true` is refused with 400: values are shown once, at creation, and not stored")),
    responses((status = 200, description = "The key, without its value", body = PersonalKey), crate::openapi::ItemErrors),
)]
async fn get_personal(caller: Caller, path: Path<String>) -> Reply {
    caller.require("api_key:read")?;
    let id = http::path_id(&path)?;
    let query = caller.list_query(&[])?;
    if query.param("withValue").is_some_and(|v| v == "true") {
        return Err(ApiError::bad(
            "withValue",
            "API key values are shown once, when the key is created, and are not stored; create a new key if it is lost",
        ));
    }
    let principal = caller.principal.clone();
    let (key, role) = caller
        .read(move |c| {
            let key = visible_personal(c, &principal, &id)?;
            let roles = role_name_map(c, std::slice::from_ref(&key))?;
            let role = role_name_of(&key, &roles);
            Ok((key, role))
        })
        .await?;
    Ok(http::ok(personal_json(key, role, None)))
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
    let was_usable = key.usable_at(author.now);
    if let Some(n) = &body.name {
        key.name = n.trim().to_string();
    }
    let owner = key.owner_user_id.clone().unwrap_or_default();
    let team = (key.team_id.clone()).unwrap_or_else(|| grantor.root_team().to_string());
    if let Some(r) = &body.role {
        let role = find_role(conn, author.realm_id(), r)?;
        // The key's new grant, checked as if it were made now.
        let requested = requested_grant(Some(&role), &key.scopes.to_vec());
        grantor.personal_key_grant(conn, &owner, &team, requested)?;
        key.role_id = Some(role.id);
    }
    if let Some(enabled) = body.enabled {
        key.status = KeyStatus::enabled(enabled);
    }
    if expires_at.is_some() {
        key.expires_at = expires_at;
    }
    if !was_usable && key.usable_at(author.now) {
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

#[utoipa::path(put, path = "/api/v1/apikeys/{id}", tag = "api keys", summary = "Update a personal API key",
    description = "Changes the given fields: `name`, `role`, `enabled`, `expires_at` (in the future). Needs `api_key:update`.",
    params(("id" = String, Path, description = "The key's id (a UUID)")),
    request_body = UpdatePersonal,
    responses((status = 200, description = "The updated key", body = PersonalKey), crate::openapi::ItemErrors),
)]
async fn update_personal(caller: Caller, path: Path<String>, payload: Payload) -> Reply {
    caller.require("api_key:update")?;
    let id = http::path_id(&path)?;
    let body: UpdatePersonal = caller.json(payload).await?;
    if let Some(n) = &body.name {
        validate_display_name("name", n)?;
    }
    let author = caller.author();
    let expires_at = (body.expires_at.as_deref())
        .map(|e| future_time("expires_at", e, author.now))
        .transpose()?;
    let (key, role) = caller
        .write_as(author, move |c, by| {
            change_personal_key(c, by, &id, body, expires_at)
        })
        .await?;
    Ok(http::ok(personal_json(key, role, None)))
}

#[utoipa::path(delete, path = "/api/v1/apikeys/{id}", tag = "api keys", summary = "Delete a personal API key",
    description = "Needs `api_key:delete`.",
    params(("id" = String, Path, description = "The key's id (a UUID)")),
    responses((status = 200, description = "Deleted", body = crate::openapi::DeletedCount), crate::openapi::ItemErrors),
)]
async fn delete_personal(caller: Caller, path: Path<String>) -> Reply {
    let deleted = caller.write_item("api_key:delete", &path, |c, by, id| {
        let key = visible_personal(c, &by.principal, id)?;
        let n = store::api_keys::delete(c, &key.id)?;
        by.audit(c, "api_key.delete", &format!("api_key:{}", key.id))?;
        Ok(n)
    });
    let deleted = deleted.await?;
    Ok(http::ok(
        serde_json::json!({"acknowledged": true, "deletedCount": deleted}),
    ))
}

/// The API key the request authenticated with, when it is the personal key `id`: only a key
/// itself may be exchanged, and team keys never.
fn exchangeable_key(
    principal: &Principal,
    id: &str,
    req: &HttpRequest,
) -> Result<String, ApiError> {
    match &principal.credential {
        Credential::ApiKey { key_id, kind, .. } if key_id == id && *kind == KeyKind::Personal => {}
        Credential::ApiKey {
            kind: KeyKind::Team,
            ..
        } => {
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
    access_token_of(resp).await
}

/// The `access_token` of the issuer's answer; its refusal is the caller's 401, naming why.
async fn access_token_of(resp: reqwest::Response) -> Result<String, ApiError> {
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
#[utoipa::path(get, path = "/api/v1/apikeys/{id}/token", tag = "api keys", summary = "Exchange a personal API key for an access token",
    description = "Authenticate with the key itself; the issuer mints (RFC 8693 token exchange) a short-lived JWT carrying no more than the key's rights. Team keys cannot be exchanged. Needs `api_key:read`.",
    params(("id" = String, Path, description = "The key's id (a UUID)")),
    responses((status = 200, description = "A short-lived access token", body = crate::openapi::ExchangedToken), crate::openapi::CommonErrors),
)]
async fn exchange(caller: Caller, path: Path<String>) -> Reply {
    caller.require("api_key:read")?;
    let id = parse_id("id", &path)?;
    let presented = exchangeable_key(&caller.principal, id, &caller.req)?;
    let realm_name = &caller.principal.realm_name;
    let token = exchange_at_issuer(&caller.state, realm_name, &presented).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({"token": token})))
}

// ---- team keys (seed 004) ----
//
// Team API keys (seed 004): a key of one team, `oaa_push` by default, created and managed by
// admins and by admins and operators of the team, visible to its members, outliving its
// creator.

fn team_routes(cfg: &mut web::ServiceConfig) {
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
        status: k.status.to_string(),
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
    let key = store::api_keys::by_id(conn, &p.realm_id, id)?
        .filter(|k| k.kind == KeyKind::Team)
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
        Some(t) => store::teams::names(conn, std::slice::from_ref(t))?
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
    let rows = store::api_keys::list(conn, &principal.realm_id, scope, None, after, limit)?;
    let mut page_teams: Vec<String> = rows.iter().filter_map(|k| k.team_id.clone()).collect();
    page_teams.sort();
    page_teams.dedup();
    let names: HashMap<String, String> = store::teams::names(conn, &page_teams)?
        .into_iter()
        .collect();
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

#[utoipa::path(get, path = "/api/preview/teamkeys", tag = "team keys", operation_id = "list_team_keys", summary = "List team API keys",
    description = "The keys of your teams (admins: every team). Needs `api_key:read`. Filter field: `team_id`.",
    params(crate::openapi::ListParams),
    responses((status = 200, description = "One page of keys; `access_key` is empty", body = crate::openapi::ValuesPage<TeamKey>), crate::openapi::CommonErrors),
)]
async fn list_team(caller: Caller) -> Reply {
    caller.require("api_key:read")?;
    let query = caller.list_query(&["team_id"])?;
    let wanted = query.filter_value("team_id").map(str::to_string);
    if let Some(t) = &wanted {
        parse_id("team_id", t)?;
    }
    let (page, principal) = (query.page.clone(), caller.principal.clone());
    let rows = caller
        .read(move |c| list_team_keys(c, &principal, wanted.as_ref(), &page))
        .await?;
    let page = Page::from_rows(rows, query.page.size, |k| k.id.clone());
    Ok(http::ok(Values::from_page(page, |k| k)))
}

#[utoipa::path(get, path = "/api/preview/teamkeys/{id}", tag = "team keys", operation_id = "get_team_key", summary = "Get a team API key",
    description = "A key of one of your teams (admins: any). Needs `api_key:read`.",
    params(("id" = String, Path, description = "The team key's id (a UUID)")),
    responses((status = 200, description = "The key; `access_key` is empty", body = crate::openapi::ValueEnvelope<TeamKey>), crate::openapi::ItemErrors),
)]
async fn get_team(caller: Caller, path: Path<String>) -> Reply {
    caller.require("api_key:read")?;
    let (id, principal) = (http::path_id(&path)?, caller.principal.clone());
    let described = caller
        .read(move |c| {
            let (key, _) = visible_team_key(c, &principal, &id)?;
            describe_team_key(c, key, None)
        })
        .await?;
    Ok(http::value(described))
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
    store::teams::in_realm(conn, &p.realm_id, &body.team_id)?.ok_or_else(|| {
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
    store::api_keys::insert(conn, &key)?;
    author.audit(conn, "team_key.create", &format!("api_key:{}", key.id))?;
    describe_team_key(conn, key, Some(generated.value.clone()))
}

#[utoipa::path(post, path = "/api/preview/teamkeys", tag = "team keys", operation_id = "create_team_key", summary = "Create a team API key",
    description = "Admins, and admins and operators of the team, with `api_key:create`. The role is `oaa_push` unless given. `access_key` is in this response only.",
    request_body = CreateTeamKey,
    responses((status = 200, description = "Created; `access_key` is shown this once", body = crate::openapi::ValueEnvelope<TeamKey>), crate::openapi::CommonErrors),
)]
async fn create_team(caller: Caller, payload: Payload) -> Reply {
    caller.require("api_key:create")?;
    let body: CreateTeamKey = caller.json(payload).await?;
    validate_display_name("name", &body.name)?;
    parse_id("team_id", &body.team_id)?;
    let generated = apikey::generate(ApiKeyKind::Team);
    let described = caller
        .write(move |c, by| insert_team_key(c, by, &body, &generated))
        .await?;
    Ok(http::value(described))
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

#[utoipa::path(patch, path = "/api/preview/teamkeys/{id}", tag = "team keys", operation_id = "rename_team_key", summary = "Rename a team API key",
    description = "Only `name` changes; `id` and `team_id`, when sent, must be the key's. Needs `api_key:update` as an admin, or as an admin or operator of the key's team.",
    params(("id" = String, Path, description = "The team key's id (a UUID)")),
    request_body = RenameTeamKey,
    responses((status = 200, description = "The renamed key", body = crate::openapi::ValueEnvelope<TeamKey>), crate::openapi::ItemErrors),
)]
async fn rename_team(caller: Caller, path: Path<String>, payload: Payload) -> Reply {
    caller.require("api_key:update")?;
    let id = http::path_id(&path)?;
    let body: RenameTeamKey = caller.json(payload).await?;
    validate_display_name("name", &body.name)?;
    if body.id.as_deref().is_some_and(|b| b != id) {
        return Err(ApiError::bad("id", "does not match the id in the path"));
    }
    let described = caller
        .write(move |c, by| rename_team_key(c, by, &id, body))
        .await?;
    Ok(http::value(described))
}

#[utoipa::path(delete, path = "/api/preview/teamkeys/{id}", tag = "team keys", operation_id = "delete_team_key", summary = "Delete a team API key",
    description = "Needs `api_key:delete` as an admin, or as an admin or operator of the key's team.",
    params(("id" = String, Path, description = "The team key's id (a UUID)")),
    responses((status = 200, description = "The key as it was, with status `INACTIVE`", body = crate::openapi::ValueEnvelope<TeamKey>), crate::openapi::ItemErrors),
)]
async fn delete_team(caller: Caller, path: Path<String>) -> Reply {
    let described = caller.write_item("api_key:delete", &path, |c, by, id| {
        let mut key = manageable_team_key(c, &by.principal, id)?;
        store::api_keys::delete(c, &key.id)?;
        by.audit(c, "team_key.delete", &format!("api_key:{}", key.id))?;
        // Seed 004: the answer is the key as it was, now INACTIVE.
        key.status = KeyStatus::Inactive;
        describe_team_key(c, key, None)
    });
    let described = described.await?;
    Ok(http::value(described))
}

/// Revokes (`INACTIVE`) or reinstates (`ACTIVE`) a team key the author may manage; a key
/// reinstated gives its rights again, which the author must hold in its team.
fn set_team_key_status(
    conn: &mut DbConnection,
    author: &Author,
    id: &str,
    (action, status): (&str, KeyStatus),
) -> Result<(), ApiError> {
    let grantor = Grantor::new(conn, &author.principal)?;
    let mut key = manageable_team_key(conn, &author.principal, id)?;
    if status == KeyStatus::Active && key.status != KeyStatus::Active {
        let rights = tessera_store::access::team_key_rights(conn, &key)?;
        let team = key.team_id.clone().unwrap_or_default();
        grantor.ensure(&Reach::Team(team), &rights)?;
    }
    key.status = status;
    store_change(conn, author, &mut key)?;
    author.audit(
        conn,
        &format!("team_key.{action}"),
        &format!("api_key:{}", key.id),
    )
}

/// `POST /api/preview/teamkeys/{id}:revoke` and `…:reinstate`.
#[utoipa::path(post, path = "/api/preview/teamkeys/{id}:revoke", tag = "team keys", operation_id = "revoke_team_key", summary = "Revoke a team API key",
    description = "Sets the key's status to `INACTIVE`: it stops authenticating at once in this process and within seconds on every replica. Needs `api_key:update` as an admin, or as an admin or operator of the key's team.",
    params(("id" = String, Path, description = "The team key's id (a UUID)")),
    responses((status = 200, description = "Revoked", body = crate::openapi::Empty), crate::openapi::ItemErrors),
)]
async fn team_action(caller: Caller, path: Path<String>) -> Reply {
    caller.require("api_key:update")?;
    let (id, action) = path
        .split_once(':')
        .ok_or_else(|| ApiError::NotFound(format!("endpoint POST {}", caller.req.path())))?;
    let status = match action {
        "revoke" => KeyStatus::Inactive,
        "reinstate" => KeyStatus::Active,
        other => {
            return Err(ApiError::NotFound(format!(
                "action {other:?}; use :revoke or :reinstate"
            )));
        }
    };
    let (id, action) = (parse_id("id", id)?.to_string(), action.to_string());
    caller
        .write(move |c, by| set_team_key_status(c, by, &id, (&action, status)))
        .await?;
    Ok(http::done())
}
