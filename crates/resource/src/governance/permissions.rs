//! Effective permission lists: what a user may do now (roles in all teams, plus allows, minus
//! denies), and what a role grants once the policies on it apply.

use actix_web::web;
use actix_web::web::Path;
use serde::Serialize;
use std::collections::BTreeSet;
use tessera_core::access::PolicyEffects;
use tessera_core::model::{Policy, Role};
use tessera_store as store;
use tessera_store::DbConnection;

use crate::access::effective_permissions;
use crate::error::ApiError;
use crate::http;
use crate::http::{Caller, Reply};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/users/{id}/permissions").route(web::get().to(user_permissions)),
    );
    cfg.service(
        web::resource("/api/v1/roles/{id}/permissions").route(web::get().to(role_permissions)),
    );
}

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

/// A user's live effective permissions, across all teams.
fn user_permissions_in(
    conn: &mut DbConnection,
    realm_id: &str,
    id: String,
) -> Result<UserPermissions, ApiError> {
    store::users::in_realm(conn, realm_id, &id)?
        .ok_or_else(|| ApiError::NotFound(format!("user {id}")))?;
    let permissions = effective_permissions(conn, realm_id, &id, None)?;
    Ok(UserPermissions {
        user_id: id,
        permissions: permissions.into_iter().collect(),
    })
}

/// A role's permissions once the policies on it apply ([`tessera_core::access`]: allows
/// added, denies win, only catalogued permissions).
fn role_with_policies(role: &Role, policies: &[Policy]) -> BTreeSet<String> {
    tessera_core::access::effective_permissions(
        role.permissions.to_vec(),
        &PolicyEffects::of(policies),
    )
}

fn role_permissions_in(
    conn: &mut DbConnection,
    realm_id: &str,
    id: &str,
) -> Result<RolePermissions, ApiError> {
    let role = store::roles::in_realm(conn, realm_id, id)?
        .ok_or_else(|| ApiError::NotFound(format!("role {id}")))?;
    let policies = store::policies::of_role(conn, realm_id, id)?;
    Ok(RolePermissions {
        permissions: role_with_policies(&role, &policies).into_iter().collect(),
        role_id: role.id,
        name: role.name,
    })
}

/// A user's live effective permissions (roles in all teams, plus allows, minus denies).
/// Anyone may ask about themself; asking about others needs `user:read`.
#[utoipa::path(get, path = "/api/v1/users/{id}/permissions", tag = "permissions", summary = "A user's effective permissions",
    description = "The user's roles in all teams, plus policy allows, minus policy denies. Anyone may ask about themself; asking about others needs `user:read`.",
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    responses((status = 200, description = "The effective permissions", body = UserPermissions), crate::openapi::ItemErrors),
)]
async fn user_permissions(caller: Caller, path: Path<String>) -> Reply {
    let id = path.into_inner();
    if caller.principal.user_id.as_deref() != Some(id.as_str()) {
        caller.require("user:read")?;
    }
    http::parse_id("id", &id)?;
    let realm_id = caller.realm_id();
    let body = caller
        .read(move |c| user_permissions_in(c, &realm_id, id))
        .await?;
    Ok(http::ok(body))
}

/// A role's permissions with the policies on the role applied (a deny wins).
#[utoipa::path(get, path = "/api/v1/roles/{id}/permissions", tag = "permissions", summary = "A role's effective permissions",
    description = "The role's permissions with the policies on the role applied (a deny wins). Needs `role:read`.",
    params(("id" = String, Path, description = "The role's id (a UUID)")),
    responses((status = 200, description = "The effective permissions", body = RolePermissions), crate::openapi::ItemErrors),
)]
async fn role_permissions(caller: Caller, path: Path<String>) -> Reply {
    let body = caller.load_item("role:read", &path, role_permissions_in);
    Ok(http::ok(body.await?))
}
