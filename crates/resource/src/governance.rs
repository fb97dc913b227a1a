//! Governance APIs: policies (seed 000), the effective permission lists of users and roles,
//! OAuth clients, custom scopes and the audit log.
//!
//! Every handler checks the caller's permission first, then validates, then acts; every write
//! leaves an audit event in the same transaction.
//!
//! Clients: the issuer keeps clients in a read-through cache (`issuer.cache_ttl_secs`, 5 s by
//! default). A client changed, deleted or given a new secret here is forgotten at once by an
//! issuer in the same process (through `ResourceState::client_changed`), and within that TTL
//! by other replicas and by a split-off issuer.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use tessera_core::grant::Reach;
use tessera_core::import::{ClientKind, ClientSpec};
use tessera_core::model::{AuditEvent, Client, Effect, GrantType, Policy, Scope, SubjectType};
use tessera_core::names;
use tessera_core::page::Page;
use tessera_core::permission::is_permission;
use tessera_store::governance as g;
use tessera_store::provision::{self, Actor, PORTAL_CLIENT_ID, UnknownScopes};

use crate::access::{Grantor, effective_permissions};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::{self, ListQuery, Value, Values};
use crate::state::ResourceState;

type State = web::Data<ResourceState>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/policies")
            .route(web::get().to(list_policies))
            .route(web::post().to(create_policy)),
    );
    cfg.service(
        web::resource("/api/v1/policies/{id}")
            .route(web::get().to(get_policy))
            .route(web::put().to(update_policy))
            .route(web::delete().to(delete_policy)),
    );
    cfg.service(
        web::resource("/api/v1/users/{id}/permissions").route(web::get().to(user_permissions)),
    );
    cfg.service(
        web::resource("/api/v1/roles/{id}/permissions").route(web::get().to(role_permissions)),
    );
    // Before `/{client_id}`, which would otherwise take `svc:rotate-secret` as a client id.
    cfg.service(
        web::resource("/api/v1/clients/{client_id}:rotate-secret")
            .route(web::post().to(rotate_client_secret)),
    );
    cfg.service(
        web::resource("/api/v1/clients")
            .route(web::get().to(list_clients))
            .route(web::post().to(create_client)),
    );
    cfg.service(
        web::resource("/api/v1/clients/{client_id}")
            .route(web::get().to(get_client))
            .route(web::put().to(update_client))
            .route(web::delete().to(delete_client)),
    );
    cfg.service(
        web::resource("/api/v1/scopes")
            .route(web::get().to(list_scopes))
            .route(web::post().to(create_scope)),
    );
    cfg.service(
        web::resource("/api/v1/scopes/{id}")
            .route(web::get().to(get_scope))
            .route(web::put().to(update_scope))
            .route(web::delete().to(delete_scope)),
    );
    cfg.service(web::resource("/api/v1/audit").route(web::get().to(list_audit)))
        .service(web::resource("/api/v1/audit/{id}").route(web::get().to(get_audit)));
}

/// A free-text description: at most 1000 characters, no control characters but newlines.
fn validate_description(field: &str, d: &str) -> Result<(), ApiError> {
    if d.chars().count() > 1000 {
        return Err(ApiError::bad(field, "must be at most 1000 characters"));
    }
    if d.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::bad(field, "must not contain control characters"));
    }
    Ok(())
}

fn empty_object() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({}))
}

/// A page token whose key must be an id.
fn after_id(query: &ListQuery) -> Result<Option<String>, ApiError> {
    match &query.page.after {
        Some(a) if !tessera_core::id::is_uuid(a) => Err(ApiError::bad(
            "page_token",
            "is not a page token from this list; pass next_page_token unchanged",
        )),
        other => Ok(other.clone()),
    }
}

// ---- policies ----

#[derive(Serialize, utoipa::ToSchema)]
struct SubjectJson {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct PolicyJson {
    id: String,
    name: String,
    description: String,
    effect: String,
    permissions: Vec<String>,
    subject: SubjectJson,
    enabled: bool,
    created_at: String,
    updated_at: String,
}

impl From<Policy> for PolicyJson {
    fn from(p: Policy) -> Self {
        Self {
            permissions: p.permissions.to_vec(),
            id: p.id,
            name: p.name,
            description: p.description,
            effect: p.effect.to_string(),
            subject: SubjectJson {
                kind: p.subject_type.to_string(),
                id: p.subject_id,
            },
            enabled: p.enabled,
            created_at: http::time_string(p.created_at),
            updated_at: http::time_string(p.updated_at),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SubjectBody {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

/// The body of a create (where name, effect, permissions and subject are required) or an
/// update (where every field given replaces the stored one).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    name: Option<String>,
    description: Option<String>,
    effect: Option<String>,
    permissions: Option<Vec<String>>,
    subject: Option<SubjectBody>,
    enabled: Option<bool>,
}

/// Applies a validated body onto `policy`; on create every required field must be present.
fn apply_policy_body(
    policy: &mut Policy,
    body: PolicyBody,
    creating: bool,
) -> Result<(), ApiError> {
    let required = |field: &str| ApiError::bad(field, "is required");
    match body.name {
        Some(name) => {
            names::validate_display_name("name", &name)?;
            policy.name = name.trim().to_string();
        }
        None if creating => return Err(required("name")),
        None => {}
    }
    if let Some(d) = body.description {
        validate_description("description", &d)?;
        policy.description = d;
    }
    match body.effect {
        Some(e) => {
            policy.effect = e.parse().map_err(|_| {
                ApiError::bad(
                    "effect",
                    format!("{e:?} is not an effect; use \"allow\" or \"deny\""),
                )
            })?;
        }
        None if creating => return Err(required("effect")),
        None => {}
    }
    match body.permissions {
        Some(list) => {
            if list.is_empty() {
                return Err(ApiError::bad("permissions", "list at least one permission"));
            }
            if let Some(bad) = list.iter().find(|p| !is_permission(p)) {
                return Err(ApiError::bad(
                    "permissions",
                    format!("{bad:?} is not a permission of the catalog"),
                ));
            }
            let set: BTreeSet<String> = list.into_iter().collect();
            policy.permissions = set.into_iter().collect();
        }
        None if creating => return Err(required("permissions")),
        None => {}
    }
    match body.subject {
        Some(s) => {
            let Ok(subject_type) = s.kind.parse() else {
                return Err(ApiError::bad(
                    "subject.type",
                    format!(
                        "{:?} is not a subject type; use \"user\", \"role\" or \"team\"",
                        s.kind
                    ),
                ));
            };
            http::parse_id("subject.id", &s.id)?;
            policy.subject_type = subject_type;
            policy.subject_id = s.id;
        }
        None if creating => return Err(required("subject")),
        None => {}
    }
    if let Some(enabled) = body.enabled {
        policy.enabled = enabled;
    }
    Ok(())
}

/// Where a policy on this subject takes effect: a team's policy in that team (the root team's
/// everywhere), a user's or a role's in every team.
fn policy_reach(p: &Policy, root_team: &str) -> Reach {
    match p.subject_type {
        SubjectType::Team if p.subject_id != root_team => Reach::Team(p.subject_id.clone()),
        _ => Reach::Realm,
    }
}

/// The permissions a policy grants (`effect`) while it applies.
fn policy_effect(p: &Policy, effect: Effect) -> BTreeSet<String> {
    if p.enabled && p.effect == effect {
        p.permissions.to_set()
    } else {
        BTreeSet::new()
    }
}

/// What `p` does with `effect` that `other`, on the same subject, does not: the deny a write
/// lifts (`p` before, `other` after) or the allow it adds (`p` after, `other` before).
fn beyond(p: &Policy, other: Option<&Policy>, effect: Effect) -> BTreeSet<String> {
    let same = other
        .filter(|o| o.subject_type == p.subject_type && o.subject_id == p.subject_id)
        .map(|o| policy_effect(o, effect))
        .unwrap_or_default();
    policy_effect(p, effect)
        .difference(&same)
        .cloned()
        .collect()
}

/// A policy write widens rights in two ways: an allow it adds, and a deny it lifts. Both must be
/// held where they take effect; adding a deny is narrowing, but must leave the realm an admin.
fn ensure_policy_change(
    conn: &mut tessera_store::DbConnection,
    grantor: &Grantor<'_>,
    before: Option<&Policy>,
    after: Option<&Policy>,
) -> Result<(), ApiError> {
    let root = grantor.root_team().to_string();
    if let Some(old) = before {
        grantor.ensure(&policy_reach(old, &root), &beyond(old, after, Effect::Deny))?;
    }
    if let Some(new) = after {
        grantor.ensure(
            &policy_reach(new, &root),
            &beyond(new, before, Effect::Allow),
        )?;
    }
    grantor.ensure_realm_keeps_admin(conn)
}

/// Checks what needs the database: the subject exists, the name is free.
fn check_policy_refs(conn: &mut tessera_store::DbConnection, p: &Policy) -> Result<(), ApiError> {
    if !g::subject_exists(conn, &p.realm_id, p.subject_type, &p.subject_id)? {
        return Err(ApiError::bad(
            "subject.id",
            format!(
                "there is no {} with id {} in this realm",
                p.subject_type, p.subject_id
            ),
        ));
    }
    if let Some(other) = g::policy_by_name(conn, &p.realm_id, &p.name)?
        && other.id != p.id
    {
        return Err(ApiError::Conflict(format!(
            "a policy named {:?} already exists",
            p.name
        )));
    }
    Ok(())
}

#[utoipa::path(
    get,
    path = "/api/v1/policies",
    tag = "policies",
    summary = "List policies",
    description = "Needs `policy:read`. Filter fields: `subject_type`, `subject_id`, `effect`.",
    params(crate::openapi::ListParams),
    responses(
        (status = 200, description = "One page of policies", body = crate::openapi::ValuesPage<PolicyJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
    )
)]
async fn list_policies(
    state: State,
    req: HttpRequest,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    principal.require("policy:read")?;
    let query = ListQuery::parse(&req, &["subject_type", "subject_id", "effect"])?;
    let after = after_id(&query)?;
    if let Some(t) = query.filter_value("subject_type")
        && t.parse::<SubjectType>().is_err()
    {
        return Err(ApiError::bad(
            "filter",
            format!("subject_type {t:?} is not a subject type; use user, role or team"),
        ));
    }
    if let Some(e) = query.filter_value("effect")
        && e.parse::<Effect>().is_err()
    {
        return Err(ApiError::bad(
            "filter",
            format!("effect {e:?} is not an effect; use allow or deny"),
        ));
    }
    let subject_type = query.filter_value("subject_type").map(str::to_string);
    let subject_id = query.filter_value("subject_id").map(str::to_string);
    let effect = query.filter_value("effect").map(str::to_string);
    let realm_id = principal.realm_id.clone();
    let size = query.page.size;
    let rows = http::with_db(&state, move |conn| {
        let f = g::PolicyFilter {
            subject_type: subject_type.as_deref(),
            subject_id: subject_id.as_deref(),
            effect: effect.as_deref(),
        };
        Ok(g::list_policies(
            conn,
            &realm_id,
            &f,
            after.as_deref(),
            size + 1,
        )?)
    })
    .await?;
    let page = Page::from_rows(rows, size, |p| p.id.clone());
    Ok(HttpResponse::Ok().json(Values::from_page(page, PolicyJson::from)))
}

#[utoipa::path(
    post,
    path = "/api/v1/policies",
    tag = "policies",
    summary = "Create a policy",
    description = "`name`, `effect` (`allow` or `deny`), `permissions` and `subject` are required. Needs `policy:write`.",
    request_body = PolicyBody,
    responses(
        (status = 201, description = "Created", body = crate::openapi::ValueEnvelope<PolicyJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn create_policy(
    state: State,
    req: HttpRequest,
    principal: Principal,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require("policy:write")?;
    let body: PolicyBody = http::json_body(&state, &req, payload).await?;
    let now = state.now();
    let mut policy = Policy {
        id: tessera_core::id::new_uuid(),
        realm_id: principal.realm_id.clone(),
        name: String::new(),
        description: String::new(),
        // Placeholders: a create body must name the effect and the subject.
        effect: Effect::Allow,
        permissions: Default::default(),
        subject_type: SubjectType::User,
        subject_id: String::new(),
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    apply_policy_body(&mut policy, body, true)?;
    let source = http::source_addr(&req);
    let created = http::write(&state, move |conn| {
        let grantor = Grantor::new(conn, &principal)?;
        check_policy_refs(conn, &policy)?;
        g::insert_policy(conn, &policy)?;
        ensure_policy_change(conn, &grantor, None, Some(&policy))?;
        http::audit(
            conn,
            &principal,
            &source,
            "policy.create",
            &format!("policy:{}", policy.id),
            now,
        )?;
        Ok(policy)
    })
    .await?;
    Ok(HttpResponse::Created().json(Value {
        value: PolicyJson::from(created),
    }))
}

async fn find_policy(state: &State, principal: &Principal, id: String) -> Result<Policy, ApiError> {
    let realm_id = principal.realm_id.clone();
    http::with_db(state, move |conn| {
        g::policy_in_realm(conn, &realm_id, &id)?
            .ok_or_else(|| ApiError::NotFound(format!("policy {id}")))
    })
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/policies/{id}",
    tag = "policies",
    summary = "Get a policy",
    description = "Needs `policy:read`.",
    params(("id" = String, Path, description = "The policy's id (a UUID)")),
    responses(
        (status = 200, description = "The policy", body = crate::openapi::ValueEnvelope<PolicyJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
async fn get_policy(
    state: State,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("policy:read")?;
    let id = path.into_inner();
    http::parse_id("id", &id)?;
    let policy = find_policy(&state, &principal, id).await?;
    Ok(HttpResponse::Ok().json(Value {
        value: PolicyJson::from(policy),
    }))
}

#[utoipa::path(
    put,
    path = "/api/v1/policies/{id}",
    tag = "policies",
    summary = "Update a policy",
    description = "Every field given replaces the stored one. Needs `policy:write`.",
    params(("id" = String, Path, description = "The policy's id (a UUID)")),
    request_body = PolicyBody,
    responses(
        (status = 200, description = "The updated policy", body = crate::openapi::ValueEnvelope<PolicyJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn update_policy(
    state: State,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require("policy:write")?;
    let id = path.into_inner();
    http::parse_id("id", &id)?;
    let body: PolicyBody = http::json_body(&state, &req, payload).await?;
    let now = state.now();
    let source = http::source_addr(&req);
    let updated = http::write(&state, move |conn| {
        let grantor = Grantor::new(conn, &principal)?;
        let before = g::policy_in_realm(conn, &principal.realm_id, &id)?
            .ok_or_else(|| ApiError::NotFound(format!("policy {id}")))?;
        let mut policy = before.clone();
        apply_policy_body(&mut policy, body, false)?;
        policy.updated_at = now;
        check_policy_refs(conn, &policy)?;
        g::update_policy(conn, &policy)?;
        ensure_policy_change(conn, &grantor, Some(&before), Some(&policy))?;
        http::audit_change(
            conn,
            &principal,
            &source,
            ("policy.update", &format!("policy:{id}")),
            &http::changes(&PolicyJson::from(before), &PolicyJson::from(policy.clone())),
            now,
        )?;
        Ok(policy)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Value {
        value: PolicyJson::from(updated),
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/policies/{id}",
    tag = "policies",
    summary = "Delete a policy",
    description = "Needs `policy:write`.",
    params(("id" = String, Path, description = "The policy's id (a UUID)")),
    responses(
        (status = 200, description = "Deleted", body = crate::openapi::Empty),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
async fn delete_policy(
    state: State,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("policy:write")?;
    let id = path.into_inner();
    http::parse_id("id", &id)?;
    let now = state.now();
    let source = http::source_addr(&req);
    http::write(&state, move |conn| {
        let grantor = Grantor::new(conn, &principal)?;
        let before = g::policy_in_realm(conn, &principal.realm_id, &id)?
            .ok_or_else(|| ApiError::NotFound(format!("policy {id}")))?;
        g::delete_policy(conn, &id)?;
        ensure_policy_change(conn, &grantor, Some(&before), None)?;
        http::audit(
            conn,
            &principal,
            &source,
            "policy.delete",
            &format!("policy:{id}"),
            now,
        )
    })
    .await?;
    Ok(empty_object())
}

// ---- effective permission lists ----

#[derive(Serialize, utoipa::ToSchema)]
struct UserPermissions {
    user_id: String,
    permissions: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RolePermissions {
    role_id: String,
    name: String,
    permissions: Vec<String>,
}

/// A user's live effective permissions (roles in all teams, plus allows, minus denies).
/// Anyone may ask about themself; asking about others needs `user:read`.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/permissions",
    tag = "permissions",
    summary = "A user's effective permissions",
    description = "The user's roles in all teams, plus policy allows, minus policy denies. Anyone may ask about themself; asking about others needs `user:read`.",
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    responses(
        (status = 200, description = "The effective permissions", body = UserPermissions),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
async fn user_permissions(
    state: State,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    if principal.user_id.as_deref() != Some(id.as_str()) {
        principal.require("user:read")?;
    }
    http::parse_id("id", &id)?;
    let realm_id = principal.realm_id.clone();
    let permissions = http::with_db(&state, move |conn| {
        g::user_in_realm(conn, &realm_id, &id)?
            .ok_or_else(|| ApiError::NotFound(format!("user {id}")))?;
        effective_permissions(conn, &realm_id, &id, None).map(|p| (id, p))
    })
    .await?;
    let (user_id, permissions) = permissions;
    Ok(HttpResponse::Ok().json(UserPermissions {
        user_id,
        permissions: permissions.into_iter().collect(),
    }))
}

/// A role's permissions with the policies on the role applied (a deny wins).
#[utoipa::path(
    get,
    path = "/api/v1/roles/{id}/permissions",
    tag = "permissions",
    summary = "A role's effective permissions",
    description = "The role's permissions with the policies on the role applied (a deny wins). Needs `role:read`.",
    params(("id" = String, Path, description = "The role's id (a UUID)")),
    responses(
        (status = 200, description = "The effective permissions", body = RolePermissions),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
async fn role_permissions(
    state: State,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("role:read")?;
    let id = path.into_inner();
    http::parse_id("id", &id)?;
    let realm_id = principal.realm_id.clone();
    let body = http::with_db(&state, move |conn| {
        let role = g::role_in_realm(conn, &realm_id, &id)?
            .ok_or_else(|| ApiError::NotFound(format!("role {id}")))?;
        let policies = g::role_policies(conn, &realm_id, &id)?;
        let mut set: BTreeSet<String> = role.permissions.to_set();
        for p in policies.iter().filter(|p| p.effect == Effect::Allow) {
            set.extend(p.permissions.to_vec());
        }
        for p in policies.iter().filter(|p| p.effect == Effect::Deny) {
            for perm in p.permissions.iter() {
                set.remove(perm);
            }
        }
        set.retain(|p| is_permission(p));
        Ok(RolePermissions {
            role_id: role.id,
            name: role.name,
            permissions: set.into_iter().collect(),
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

// ---- clients ----

/// A client as the API shows it: never its secret or the secret's hash.
#[derive(Serialize, utoipa::ToSchema)]
struct ClientJson {
    id: String,
    client_id: String,
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    grant_types: Vec<String>,
    scopes: Vec<String>,
    default_scopes: Vec<String>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    first_party: bool,
    enabled: bool,
    service_account_user_id: Option<String>,
    /// Browser origins that may call Tessera from script (CORS); `+` stands for the redirect
    /// URIs' origins.
    web_origins: Vec<String>,
    /// This client's access-token lifetime; absent: the server's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token_ttl_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token_idle_ttl_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token_absolute_ttl_secs: Option<i64>,
    /// OIDC Back-Channel Logout 1.0 endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    backchannel_logout_uri: Option<String>,
    created_at: String,
    updated_at: String,
    /// Only in the responses of create and rotate-secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

impl From<Client> for ClientJson {
    fn from(c: Client) -> Self {
        let settings = c.settings;
        Self {
            web_origins: settings.web_origins,
            access_token_ttl_secs: settings.access_token_ttl_secs,
            refresh_token_idle_ttl_secs: settings.refresh_token_idle_ttl_secs,
            refresh_token_absolute_ttl_secs: settings.refresh_token_absolute_ttl_secs,
            backchannel_logout_uri: settings.backchannel_logout_uri,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            grant_types: c.grant_types.names(),
            scopes: c.allowed_scopes.to_vec(),
            default_scopes: c.default_scopes.to_vec(),
            kind: if c.confidential {
                "confidential"
            } else {
                "public"
            },
            id: c.id,
            client_id: c.client_id,
            name: c.name,
            first_party: c.first_party,
            enabled: c.enabled,
            service_account_user_id: c.service_account_user_id,
            created_at: http::time_string(c.created_at),
            updated_at: http::time_string(c.updated_at),
            client_secret: None,
        }
    }
}

fn client_kind(field: &str, kind: &str) -> Result<ClientKind, ApiError> {
    match kind {
        "confidential" => Ok(ClientKind::Confidential),
        "public" => Ok(ClientKind::Public),
        other => Err(ApiError::bad(
            field,
            format!("{other:?} is not a client type; use \"confidential\" or \"public\""),
        )),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewClientBody {
    /// Chosen by the admin; a UUID when absent.
    client_id: Option<String>,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    grant_types: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
    default_scopes: Option<Vec<String>>,
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    first_party: Option<bool>,
    /// Browser origins allowed to call Tessera from script (CORS): `scheme://host[:port]`,
    /// or `+` for the redirect URIs' origins. `*` is refused.
    web_origins: Option<Vec<String>>,
    /// 10 to 86400; `null` for the server's default.
    #[serde(default, deserialize_with = "http::explicit")]
    access_token_ttl_secs: Option<Option<i64>>,
    /// 60 to 31536000; `null` for the server's default.
    #[serde(default, deserialize_with = "http::explicit")]
    refresh_token_idle_ttl_secs: Option<Option<i64>>,
    /// 60 to 31536000; `null` for the server's default.
    #[serde(default, deserialize_with = "http::explicit")]
    refresh_token_absolute_ttl_secs: Option<Option<i64>>,
    /// https URL (plain http for loopback) receiving OIDC back-channel logout tokens; `null`
    /// removes it.
    #[serde(default, deserialize_with = "http::explicit")]
    backchannel_logout_uri: Option<Option<String>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ClientUpdateBody {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    grant_types: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
    default_scopes: Option<Vec<String>>,
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    first_party: Option<bool>,
    /// Browser origins allowed to call Tessera from script (CORS): `scheme://host[:port]`,
    /// or `+` for the redirect URIs' origins. `*` is refused.
    web_origins: Option<Vec<String>>,
    /// 10 to 86400; `null` for the server's default.
    #[serde(default, deserialize_with = "http::explicit")]
    access_token_ttl_secs: Option<Option<i64>>,
    /// 60 to 31536000; `null` for the server's default.
    #[serde(default, deserialize_with = "http::explicit")]
    refresh_token_idle_ttl_secs: Option<Option<i64>>,
    /// 60 to 31536000; `null` for the server's default.
    #[serde(default, deserialize_with = "http::explicit")]
    refresh_token_absolute_ttl_secs: Option<Option<i64>>,
    /// https URL (plain http for loopback) receiving OIDC back-channel logout tokens; `null`
    /// removes it.
    #[serde(default, deserialize_with = "http::explicit")]
    backchannel_logout_uri: Option<Option<String>>,
    enabled: Option<bool>,
}

/// Runs a provisioning call (which opens its own transaction) on the blocking pool.
async fn provisioning<T, F>(state: &State, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&tessera_store::Database) -> Result<T, ApiError> + Send + 'static,
{
    let db = state.db.clone();
    let result = web::block(move || f(&db)).await?;
    state.invalidate_access();
    result
}

#[utoipa::path(
    get,
    path = "/api/v1/clients",
    tag = "clients",
    summary = "List OAuth clients",
    description = "Needs `client:read`. No filter fields.",
    params(crate::openapi::ListParams),
    responses(
        (status = 200, description = "One page of clients", body = crate::openapi::ValuesPage<ClientJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
    )
)]
async fn list_clients(
    state: State,
    req: HttpRequest,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    principal.require("client:read")?;
    let query = ListQuery::parse(&req, &[])?;
    let after = query.page.after.clone();
    let size = query.page.size;
    let realm_id = principal.realm_id.clone();
    let rows = http::with_db(&state, move |conn| {
        Ok(g::list_clients(
            conn,
            &realm_id,
            after.as_deref(),
            size + 1,
        )?)
    })
    .await?;
    let page = Page::from_rows(rows, size, |c| c.client_id.clone());
    Ok(HttpResponse::Ok().json(Values::from_page(page, ClientJson::from)))
}

#[utoipa::path(
    post,
    path = "/api/v1/clients",
    tag = "clients",
    summary = "Create an OAuth client",
    description = "The admin may choose the `client_id` (a UUID when absent). A confidential client's secret is in this response only. Needs `client:write`.",
    request_body = NewClientBody,
    responses(
        (status = 201, description = "Created; `client_secret` is shown this once", body = crate::openapi::ValueEnvelope<ClientJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn create_client(
    state: State,
    req: HttpRequest,
    principal: Principal,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require("client:write")?;
    let body: NewClientBody = http::json_body(&state, &req, payload).await?;
    let kind = match &body.kind {
        Some(k) => client_kind("type", k)?,
        None => ClientKind::Confidential,
    };
    let spec = ClientSpec {
        client_id: body.client_id.unwrap_or_else(tessera_core::id::new_uuid),
        name: body.name,
        kind,
        secret: None,
        grant_types: body.grant_types.ok_or_else(|| {
            ApiError::bad("grant_types", "is required, e.g. [\"client_credentials\"]")
        })?,
        scopes: body.scopes.unwrap_or_default(),
        default_scopes: body.default_scopes,
        redirect_uris: body.redirect_uris.unwrap_or_default(),
        post_logout_redirect_uris: body.post_logout_redirect_uris.unwrap_or_default(),
        first_party: body.first_party.unwrap_or(false),
        web_origins: body.web_origins.unwrap_or_default(),
        access_token_ttl_secs: body.access_token_ttl_secs.flatten(),
        refresh_token_idle_ttl_secs: body.refresh_token_idle_ttl_secs.flatten(),
        refresh_token_absolute_ttl_secs: body.refresh_token_absolute_ttl_secs.flatten(),
        backchannel_logout_uri: body.backchannel_logout_uri.flatten(),
    };
    spec.validate()?;
    let now = state.now();
    let actor = principal.actor();
    let source = http::source_addr(&req);
    let realm = principal.realm_name.clone();
    let created = http::write(&state, move |conn| {
        // The client's tokens may carry these permissions: they must be held realm-wide.
        Grantor::new(conn, &principal)?.ensure(&Reach::Realm, &permission_scopes(&spec.scopes))?;
        Ok(provision::create_client_in(
            conn,
            &realm,
            &spec,
            UnknownScopes::Refuse,
            &Actor {
                name: &actor,
                source_addr: &source,
            },
            now,
        )?)
    })
    .await?;
    let mut json = ClientJson::from(created.client);
    json.client_secret = created.generated_secret;
    Ok(HttpResponse::Created().json(Value { value: json }))
}

/// The permissions among a client's scopes.
fn permission_scopes(scopes: &[String]) -> BTreeSet<String> {
    scopes
        .iter()
        .filter(|s| is_permission(s))
        .cloned()
        .collect()
}

/// The console signs in through `portal` with the authorization code, and the seed scripts
/// with its password grant: it stays enabled and keeps the code grant.
fn portal_stays_usable(spec: &ClientSpec, enabled: bool) -> Result<(), ApiError> {
    if !enabled {
        return Err(ApiError::Conflict(
            "the portal client cannot be disabled: every sign-in to the console and every token script using client_id=portal would stop working".into(),
        ));
    }
    if !spec
        .grant_types
        .iter()
        .any(|g| g == GrantType::AuthorizationCode.as_str())
    {
        return Err(ApiError::Conflict(
            "the portal client keeps the authorization_code grant: the console signs in with it"
                .into(),
        ));
    }
    Ok(())
}

async fn find_client(
    state: &State,
    principal: &Principal,
    client_id: String,
) -> Result<Client, ApiError> {
    let realm_id = principal.realm_id.clone();
    http::with_db(state, move |conn| {
        tessera_store::queries::client_by_client_id(conn, &realm_id, &client_id)?
            .ok_or_else(|| ApiError::NotFound(format!("client {client_id}")))
    })
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/clients/{client_id}",
    tag = "clients",
    summary = "Get an OAuth client",
    description = "Needs `client:read`.",
    params(("client_id" = String, Path, description = "The client's `client_id`")),
    responses(
        (status = 200, description = "The client", body = crate::openapi::ValueEnvelope<ClientJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
async fn get_client(
    state: State,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("client:read")?;
    let client_id = path.into_inner();
    names::validate_client_id(&client_id)?;
    let client = find_client(&state, &principal, client_id).await?;
    Ok(HttpResponse::Ok().json(Value {
        value: ClientJson::from(client),
    }))
}

#[utoipa::path(
    put,
    path = "/api/v1/clients/{client_id}",
    tag = "clients",
    summary = "Update an OAuth client",
    description = "Every field given replaces the stored one; the type cannot change. The issuer sees the change within its client cache TTL. Needs `client:write`.",
    params(("client_id" = String, Path, description = "The client's `client_id`")),
    request_body = ClientUpdateBody,
    responses(
        (status = 200, description = "The updated client", body = crate::openapi::ValueEnvelope<ClientJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
async fn update_client(
    state: State,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require("client:write")?;
    let client_id = path.into_inner();
    names::validate_client_id(&client_id)?;
    let body: ClientUpdateBody = http::json_body(&state, &req, payload).await?;
    let new_kind = body
        .kind
        .as_deref()
        .map(|k| client_kind("type", k))
        .transpose()?;
    let now = state.now();
    let source = http::source_addr(&req);
    let changed = (principal.realm_id.clone(), client_id.clone());
    let updated = http::write(&state, move |conn| {
        let grantor = Grantor::new(conn, &principal)?;
        let existing = tessera_store::queries::client_by_client_id(conn, &principal.realm_id, &client_id)?
            .ok_or_else(|| ApiError::NotFound(format!("client {client_id}")))?;
        let kind = if existing.confidential { ClientKind::Confidential } else { ClientKind::Public };
        if new_kind.is_some_and(|k| k != kind) {
            return Err(ApiError::bad(
                "type",
                "a client's type cannot change (its secret depends on it); create a new client instead",
            ));
        }
        let scopes = body.scopes.unwrap_or_else(|| existing.allowed_scopes.to_vec());
        // Kept defaults that the new scopes still allow, unless new defaults are given.
        let default_scopes = body.default_scopes.unwrap_or_else(|| {
            existing
                .default_scopes
                .iter()
                .map(str::to_string)
                .filter(|d| scopes.contains(d))
                .collect()
        });
        let kept = existing.settings.clone();
        let spec = ClientSpec {
            client_id: existing.client_id.clone(),
            name: Some(body.name.unwrap_or_else(|| existing.name.clone())),
            kind,
            secret: None,
            grant_types: body.grant_types.unwrap_or_else(|| existing.grant_types.names()),
            scopes,
            default_scopes: Some(default_scopes),
            redirect_uris: body.redirect_uris.unwrap_or_else(|| existing.redirect_uris.clone()),
            post_logout_redirect_uris: body
                .post_logout_redirect_uris
                .unwrap_or_else(|| existing.post_logout_redirect_uris.clone()),
            first_party: body.first_party.unwrap_or(existing.first_party),
            web_origins: body.web_origins.unwrap_or(kept.web_origins),
            access_token_ttl_secs: body.access_token_ttl_secs.unwrap_or(kept.access_token_ttl_secs),
            refresh_token_idle_ttl_secs: body
                .refresh_token_idle_ttl_secs
                .unwrap_or(kept.refresh_token_idle_ttl_secs),
            refresh_token_absolute_ttl_secs: body
                .refresh_token_absolute_ttl_secs
                .unwrap_or(kept.refresh_token_absolute_ttl_secs),
            backchannel_logout_uri: body.backchannel_logout_uri.unwrap_or(kept.backchannel_logout_uri),
        };
        let enabled = body.enabled.unwrap_or(existing.enabled);
        if existing.client_id == PORTAL_CLIENT_ID {
            portal_stays_usable(&spec, enabled)?;
        }
        // Permissions its tokens may newly carry (all of them, when it is enabled again) must
        // be held realm-wide; custom scopes are not rights Tessera grants.
        let old_scopes = if existing.enabled { permission_scopes(&existing.allowed_scopes.to_vec()) } else { BTreeSet::new() };
        let new_scopes = if enabled { permission_scopes(&spec.scopes) } else { BTreeSet::new() };
        let added: BTreeSet<String> = new_scopes.difference(&old_scopes).cloned().collect();
        grantor.ensure(&Reach::Realm, &added)?;
        let client = g::update_client(conn, &existing, &spec, enabled, now)?;
        let detail = http::changes(&ClientJson::from(existing), &ClientJson::from(client.clone()));
        http::audit_change(conn, &principal, &source, ("client.update", &format!("client:{client_id}")), &detail, now)?;
        Ok(client)
    })
    .await?;
    state.client_changed(&changed.0, &changed.1);
    Ok(HttpResponse::Ok().json(Value {
        value: ClientJson::from(updated),
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/clients/{client_id}",
    tag = "clients",
    summary = "Delete an OAuth client",
    description = "The portal client cannot be deleted (409). Needs `client:write`.",
    params(("client_id" = String, Path, description = "The client's `client_id`")),
    responses(
        (status = 200, description = "Deleted", body = crate::openapi::Empty),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn delete_client(
    state: State,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("client:write")?;
    let client_id = path.into_inner();
    names::validate_client_id(&client_id)?;
    let now = state.now();
    let source = http::source_addr(&req);
    let changed = (principal.realm_id.clone(), client_id.clone());
    http::write(&state, move |conn| {
        let client = tessera_store::queries::client_by_client_id(conn, &principal.realm_id, &client_id)?
            .ok_or_else(|| ApiError::NotFound(format!("client {client_id}")))?;
        if client.client_id == PORTAL_CLIENT_ID {
            return Err(ApiError::Conflict(
                "the portal client cannot be deleted: the console and the token scripts sign in through it".into(),
            ));
        }
        g::delete_client(conn, &client)?;
        http::audit(conn, &principal, &source, "client.delete", &format!("client:{client_id}"), now)
    })
    .await?;
    state.client_changed(&changed.0, &changed.1);
    Ok(empty_object())
}

#[utoipa::path(
    post,
    path = "/api/v1/clients/{client_id}:rotate-secret",
    tag = "clients",
    summary = "Rotate an OAuth client's secret",
    description = "A new secret replaces the old one, which stops working. The new secret is in this response only. Needs `client:write`.",
    params(("client_id" = String, Path, description = "The client's `client_id`")),
    responses(
        (status = 200, description = "The client with its new `client_secret`, shown this once", body = crate::openapi::ValueEnvelope<ClientJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
async fn rotate_client_secret(
    state: State,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("client:write")?;
    let client_id = path.into_inner();
    names::validate_client_id(&client_id)?;
    let now = state.now();
    let actor = principal.actor();
    let source = http::source_addr(&req);
    let realm = principal.realm_name.clone();
    let realm_id = principal.realm_id.clone();
    let (client, secret) = provisioning(&state, move |db| {
        let realm_name = realm.clone();
        let found =
            tessera_store::queries::client_by_client_id(&mut *db.conn()?, &realm_id, &client_id)?;
        if found.is_none() {
            return Err(ApiError::NotFound(format!("client {client_id}")));
        }
        let secret = provision::rotate_client_secret(
            db,
            &realm_name,
            &client_id,
            &Actor {
                name: &actor,
                source_addr: &source,
            },
            now,
        )?;
        let client =
            tessera_store::queries::client_by_client_id(&mut *db.conn()?, &realm_id, &client_id)?
                .ok_or_else(|| ApiError::NotFound(format!("client {client_id}")))?;
        Ok((client, secret))
    })
    .await?;
    state.client_changed(&client.realm_id, &client.client_id);
    let mut json = ClientJson::from(client);
    json.client_secret = Some(secret);
    Ok(HttpResponse::Ok().json(Value { value: json }))
}

// ---- scopes ----

#[derive(Serialize, utoipa::ToSchema)]
struct ScopeJson {
    id: String,
    name: String,
    description: String,
    created_at: String,
    updated_at: String,
}

impl From<Scope> for ScopeJson {
    fn from(s: Scope) -> Self {
        Self {
            id: s.id,
            name: s.name,
            description: s.description,
            created_at: http::time_string(s.created_at),
            updated_at: http::time_string(s.updated_at),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ScopeBody {
    name: Option<String>,
    description: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/scopes",
    tag = "scopes",
    summary = "List custom scopes",
    description = "Needs `scope:read`. No filter fields.",
    params(crate::openapi::ListParams),
    responses(
        (status = 200, description = "One page of scopes", body = crate::openapi::ValuesPage<ScopeJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
    )
)]
async fn list_scopes(
    state: State,
    req: HttpRequest,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    principal.require("scope:read")?;
    let query = ListQuery::parse(&req, &[])?;
    let after = query.page.after.clone();
    let size = query.page.size;
    let realm_id = principal.realm_id.clone();
    let rows = http::with_db(&state, move |conn| {
        Ok(g::list_scopes(conn, &realm_id, after.as_deref(), size + 1)?)
    })
    .await?;
    let page = Page::from_rows(rows, size, |s| s.name.clone());
    Ok(HttpResponse::Ok().json(Values::from_page(page, ScopeJson::from)))
}

#[utoipa::path(
    post,
    path = "/api/v1/scopes",
    tag = "scopes",
    summary = "Create a custom scope",
    description = "`name` such as `jobs:read`; built-in scopes exist already (409). Needs `scope:write`.",
    request_body = ScopeBody,
    responses(
        (status = 201, description = "Created", body = crate::openapi::ValueEnvelope<ScopeJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn create_scope(
    state: State,
    req: HttpRequest,
    principal: Principal,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require("scope:write")?;
    let body: ScopeBody = http::json_body(&state, &req, payload).await?;
    let name = body
        .name
        .ok_or_else(|| ApiError::bad("name", "is required, e.g. \"jobs:read\""))?;
    tessera_core::scope::validate_scope_name(&name)
        .map_err(|e| ApiError::bad("name", e.message))?;
    if tessera_core::permission::is_builtin_scope(&name) {
        return Err(ApiError::Conflict(format!(
            "{name} is a built-in scope (an OpenID Connect scope or a permission); every realm has it already"
        )));
    }
    let description = body.description.unwrap_or_default();
    validate_description("description", &description)?;
    let now = state.now();
    let scope = Scope {
        id: tessera_core::id::new_uuid(),
        realm_id: principal.realm_id.clone(),
        name,
        description,
        created_at: now,
        updated_at: now,
    };
    let source = http::source_addr(&req);
    let created = http::write(&state, move |conn| {
        if tessera_store::queries::scope_by_name(conn, &scope.realm_id, &scope.name)?.is_some() {
            return Err(ApiError::Conflict(format!(
                "scope {} already exists",
                scope.name
            )));
        }
        tessera_store::queries::insert_scope(conn, &scope)?;
        http::audit(
            conn,
            &principal,
            &source,
            "scope.create",
            &format!("scope:{}", scope.name),
            now,
        )?;
        Ok(scope)
    })
    .await?;
    Ok(HttpResponse::Created().json(Value {
        value: ScopeJson::from(created),
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/scopes/{id}",
    tag = "scopes",
    summary = "Get a custom scope",
    description = "Needs `scope:read`.",
    params(("id" = String, Path, description = "The scope's id (a UUID)")),
    responses(
        (status = 200, description = "The scope", body = crate::openapi::ValueEnvelope<ScopeJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
async fn get_scope(
    state: State,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("scope:read")?;
    let id = path.into_inner();
    http::parse_id("id", &id)?;
    let realm_id = principal.realm_id.clone();
    let scope = http::with_db(&state, move |conn| {
        g::scope_in_realm(conn, &realm_id, &id)?
            .ok_or_else(|| ApiError::NotFound(format!("scope {id}")))
    })
    .await?;
    Ok(HttpResponse::Ok().json(Value {
        value: ScopeJson::from(scope),
    }))
}

#[utoipa::path(
    put,
    path = "/api/v1/scopes/{id}",
    tag = "scopes",
    summary = "Update a custom scope's description",
    description = "`description` is required; a scope cannot be renamed. Needs `scope:write`.",
    params(("id" = String, Path, description = "The scope's id (a UUID)")),
    request_body = ScopeBody,
    responses(
        (status = 200, description = "The updated scope", body = crate::openapi::ValueEnvelope<ScopeJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
async fn update_scope(
    state: State,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require("scope:write")?;
    let id = path.into_inner();
    http::parse_id("id", &id)?;
    let body: ScopeBody = http::json_body(&state, &req, payload).await?;
    let description = body
        .description
        .ok_or_else(|| ApiError::bad("description", "is required"))?;
    validate_description("description", &description)?;
    let now = state.now();
    let source = http::source_addr(&req);
    let updated = http::write(&state, move |conn| {
        let scope = g::scope_in_realm(conn, &principal.realm_id, &id)?
            .ok_or_else(|| ApiError::NotFound(format!("scope {id}")))?;
        if body.name.as_ref().is_some_and(|n| *n != scope.name) {
            return Err(ApiError::bad(
                "name",
                "a scope cannot be renamed: clients and tokens refer to it by name",
            ));
        }
        tessera_store::queries::update_scope_description(conn, &id, &description, now)?;
        http::audit(
            conn,
            &principal,
            &source,
            "scope.update",
            &format!("scope:{}", scope.name),
            now,
        )?;
        Ok(Scope {
            description,
            updated_at: now,
            ..scope
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(Value {
        value: ScopeJson::from(updated),
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/scopes/{id}",
    tag = "scopes",
    summary = "Delete a custom scope",
    description = "A scope a client still lists cannot be deleted (409). Needs `scope:write`.",
    params(("id" = String, Path, description = "The scope's id (a UUID)")),
    responses(
        (status = 200, description = "Deleted", body = crate::openapi::Empty),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
    )
)]
async fn delete_scope(
    state: State,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("scope:write")?;
    let id = path.into_inner();
    http::parse_id("id", &id)?;
    let now = state.now();
    let source = http::source_addr(&req);
    http::write(&state, move |conn| {
        let scope = g::scope_in_realm(conn, &principal.realm_id, &id)?
            .ok_or_else(|| ApiError::NotFound(format!("scope {id}")))?;
        let users = g::clients_using_scope(conn, &principal.realm_id, &scope.name)?;
        if !users.is_empty() {
            return Err(ApiError::Conflict(format!(
                "scope {} is still listed by client {}; remove it from the client first",
                scope.name,
                users.join(", client ")
            )));
        }
        g::delete_scope(conn, &id)?;
        http::audit(
            conn,
            &principal,
            &source,
            "scope.delete",
            &format!("scope:{}", scope.name),
            now,
        )
    })
    .await?;
    Ok(empty_object())
}

// ---- audit ----

#[derive(Serialize, utoipa::ToSchema)]
struct AuditJson {
    id: String,
    actor: String,
    action: String,
    target: String,
    source_addr: String,
    outcome: String,
    detail: String,
    created_at: String,
}

impl From<AuditEvent> for AuditJson {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            actor: e.actor,
            action: e.action,
            target: e.target,
            source_addr: e.source_addr,
            outcome: e.outcome,
            detail: e.detail,
            created_at: http::time_string(e.created_at),
        }
    }
}

/// The audit log, oldest first unless `order=newest`; the page token carries `(created_at, id)`
/// of the last event.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    summary = "List audit events",
    description = "Oldest first; `order=newest` lists newest first (pass the same `order` with every page). Needs `audit:read`. Filter fields: `actor`, `action`, `target`.",
    params(
        crate::openapi::ListParams,
        ("order" = Option<String>, Query, description = "`oldest` (default) or `newest`"),
    ),
    responses(
        (status = 200, description = "One page of events", body = crate::openapi::ValuesPage<AuditJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
    )
)]
async fn list_audit(
    state: State,
    req: HttpRequest,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    principal.require("audit:read")?;
    let query = ListQuery::parse(&req, &["actor", "action", "target"])?;
    let newest_first = match query.param("order") {
        None | Some("oldest") => false,
        Some("newest") => true,
        Some(other) => {
            return Err(ApiError::bad(
                "order",
                format!("{other:?} is not an order; use oldest or newest"),
            ));
        }
    };
    let after = match &query.page.after {
        None => None,
        Some(key) => Some(
            key.split_once(',')
                .and_then(|(at, id)| {
                    let at = at.parse::<i64>().ok()?;
                    tessera_core::id::is_uuid(id).then(|| (at, id.to_string()))
                })
                .ok_or_else(|| {
                    ApiError::bad(
                        "page_token",
                        "is not a page token from the audit log; pass next_page_token unchanged",
                    )
                })?,
        ),
    };
    let actor = query.filter_value("actor").map(str::to_string);
    let action = query.filter_value("action").map(str::to_string);
    let target = query.filter_value("target").map(str::to_string);
    let size = query.page.size;
    let realm_id = principal.realm_id.clone();
    let rows = http::with_db(&state, move |conn| {
        let filter = g::AuditFilter {
            actor: actor.as_deref(),
            action: action.as_deref(),
            target: target.as_deref(),
        };
        let after = after.as_ref().map(|(at, id)| (*at, id.as_str()));
        Ok(g::list_audit_events(
            conn,
            &realm_id,
            &filter,
            after,
            newest_first,
            size + 1,
        )?)
    })
    .await?;
    let page = Page::from_rows(rows, size, |e| format!("{},{}", e.created_at, e.id));
    Ok(HttpResponse::Ok().json(Values::from_page(page, AuditJson::from)))
}

#[utoipa::path(
    get,
    path = "/api/v1/audit/{id}",
    tag = "audit",
    summary = "Get an audit event",
    description = "Needs `audit:read`.",
    params(("id" = String, Path, description = "The event's id (a UUID)")),
    responses(
        (status = 200, description = "The event", body = crate::openapi::ValueEnvelope<AuditJson>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
async fn get_audit(
    state: State,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require("audit:read")?;
    let id = http::parse_id("id", &path)?.to_string();
    let realm_id = principal.realm_id.clone();
    let event = http::with_db(&state, move |conn| {
        g::audit_event(conn, &realm_id, &id)?
            .ok_or_else(|| ApiError::NotFound(format!("audit event {id}")))
    })
    .await?;
    Ok(HttpResponse::Ok().json(http::Value {
        value: AuditJson::from(event),
    }))
}
