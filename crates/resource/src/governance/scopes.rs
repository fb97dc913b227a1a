//! Custom scopes such as `jobs:read`: named by the admin, never renamed (clients and tokens
//! refer to them by name), and not deleted while a client lists them.

use actix_web::web;
use actix_web::web::{Path, Payload};
use serde::{Deserialize, Serialize};
use tessera_core::model::Scope;
use tessera_core::page::Page;
use tessera_store as store;
use tessera_store::DbConnection;

use super::validate_description;
use crate::error::ApiError;
use crate::http::{self, Author, Caller, Reply, Values};

pub fn routes(cfg: &mut web::ServiceConfig) {
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
}

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

/// The body of a create (`name` required) or an update (`description` required; `name`, when
/// sent, must be the scope's own).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ScopeBody {
    name: Option<String>,
    description: Option<String>,
}

impl ScopeBody {
    /// A new scope of the author's realm: a valid name that no built-in scope has.
    fn into_new_scope(self, author: &Author) -> Result<Scope, ApiError> {
        let name = self
            .name
            .ok_or_else(|| ApiError::bad("name", "is required, e.g. \"jobs:read\""))?;
        tessera_core::scope::validate_scope_name(&name)
            .map_err(|e| ApiError::bad("name", e.message))?;
        if tessera_core::permission::is_builtin_scope(&name) {
            return Err(ApiError::Conflict(format!(
                "{name} is a built-in scope (an OpenID Connect scope or a permission); every realm has it already"
            )));
        }
        let description = self.description.unwrap_or_default();
        validate_description("description", &description)?;
        Ok(Scope {
            id: tessera_core::id::new_uuid(),
            realm_id: author.realm_id().to_string(),
            name,
            description,
            created_at: author.now,
            updated_at: author.now,
        })
    }

    /// The new description of an update, checked.
    fn description(&self) -> Result<String, ApiError> {
        let description = self
            .description
            .clone()
            .ok_or_else(|| ApiError::bad("description", "is required"))?;
        validate_description("description", &description)?;
        Ok(description)
    }
}

fn scope_in_realm(conn: &mut DbConnection, realm_id: &str, id: &str) -> Result<Scope, ApiError> {
    store::scopes::in_realm(conn, realm_id, id)?
        .ok_or_else(|| ApiError::NotFound(format!("scope {id}")))
}

/// Stores a new scope unless the realm has one of that name.
fn insert_scope(conn: &mut DbConnection, author: &Author, scope: Scope) -> Result<Scope, ApiError> {
    if store::scopes::by_name(conn, &scope.realm_id, &scope.name)?.is_some() {
        return Err(ApiError::Conflict(format!(
            "scope {} already exists",
            scope.name
        )));
    }
    store::scopes::insert(conn, &scope)?;
    author.audit(conn, "scope.create", &format!("scope:{}", scope.name))?;
    Ok(scope)
}

/// Sets a scope's description; the name, when the body names one, must stay.
fn describe_scope(
    conn: &mut DbConnection,
    author: &Author,
    id: &str,
    name: Option<String>,
    description: String,
) -> Result<Scope, ApiError> {
    let scope = scope_in_realm(conn, author.realm_id(), id)?;
    if name.is_some_and(|n| n != scope.name) {
        return Err(ApiError::bad(
            "name",
            "a scope cannot be renamed: clients and tokens refer to it by name",
        ));
    }
    store::scopes::update_description(conn, id, &description, author.now)?;
    author.audit(conn, "scope.update", &format!("scope:{}", scope.name))?;
    Ok(Scope {
        description,
        updated_at: author.now,
        ..scope
    })
}

/// Deletes a scope no client lists.
fn remove_scope(conn: &mut DbConnection, author: &Author, id: &str) -> Result<(), ApiError> {
    let scope = scope_in_realm(conn, author.realm_id(), id)?;
    let users = store::scopes::clients_using(conn, author.realm_id(), &scope.name)?;
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "scope {} is still listed by client {}; remove it from the client first",
            scope.name,
            users.join(", client ")
        )));
    }
    store::scopes::delete(conn, id)?;
    author.audit(conn, "scope.delete", &format!("scope:{}", scope.name))
}

#[utoipa::path(get, path = "/api/v1/scopes", tag = "scopes", summary = "List custom scopes",
    description = "Needs `scope:read`. No filter fields.",
    params(crate::openapi::ListParams),
    responses((status = 200, description = "One page of scopes", body = crate::openapi::ValuesPage<ScopeJson>), crate::openapi::CommonErrors),
)]
async fn list_scopes(caller: Caller) -> Reply {
    caller.require("scope:read")?;
    let query = caller.list_query(&[])?;
    let (after, size, realm_id) = (query.page.after, query.page.size, caller.realm_id());
    let rows = caller
        .read(move |c| {
            Ok(store::scopes::list(
                c,
                &realm_id,
                after.as_deref(),
                size + 1,
            )?)
        })
        .await?;
    let page = Page::from_rows(rows, size, |s| s.name.clone());
    Ok(http::ok(Values::from_page(page, ScopeJson::from)))
}

#[utoipa::path(post, path = "/api/v1/scopes", tag = "scopes", summary = "Create a custom scope",
    description = "`name` such as `jobs:read`; built-in scopes exist already (409). Needs `scope:write`.",
    request_body = ScopeBody,
    responses((status = 201, description = "Created", body = crate::openapi::ValueEnvelope<ScopeJson>), crate::openapi::CreateErrors),
)]
async fn create_scope(caller: Caller, payload: Payload) -> Reply {
    caller.require("scope:write")?;
    let body: ScopeBody = caller.json(payload).await?;
    let author = caller.author();
    let scope = body.into_new_scope(&author)?;
    let created = caller
        .write_as(author, move |c, by| insert_scope(c, by, scope))
        .await?;
    Ok(http::created(ScopeJson::from(created)))
}

#[utoipa::path(get, path = "/api/v1/scopes/{id}", tag = "scopes", summary = "Get a custom scope",
    description = "Needs `scope:read`.",
    params(("id" = String, Path, description = "The scope's id (a UUID)")),
    responses((status = 200, description = "The scope", body = crate::openapi::ValueEnvelope<ScopeJson>), crate::openapi::ItemErrors),
)]
async fn get_scope(caller: Caller, path: Path<String>) -> Reply {
    let scope = caller.load_item("scope:read", &path, scope_in_realm);
    Ok(http::value(ScopeJson::from(scope.await?)))
}

#[utoipa::path(put, path = "/api/v1/scopes/{id}", tag = "scopes", summary = "Update a custom scope's description",
    description = "`description` is required; a scope cannot be renamed. Needs `scope:write`.",
    params(("id" = String, Path, description = "The scope's id (a UUID)")),
    request_body = ScopeBody,
    responses((status = 200, description = "The updated scope", body = crate::openapi::ValueEnvelope<ScopeJson>), crate::openapi::ItemErrors),
)]
async fn update_scope(caller: Caller, path: Path<String>, payload: Payload) -> Reply {
    caller.require("scope:write")?;
    let id = http::path_id(&path)?;
    let body: ScopeBody = caller.json(payload).await?;
    let description = body.description()?;
    let updated = caller
        .write(move |c, by| describe_scope(c, by, &id, body.name, description))
        .await?;
    Ok(http::value(ScopeJson::from(updated)))
}

#[utoipa::path(delete, path = "/api/v1/scopes/{id}", tag = "scopes", summary = "Delete a custom scope",
    description = "A scope a client still lists cannot be deleted (409). Needs `scope:write`.",
    params(("id" = String, Path, description = "The scope's id (a UUID)")),
    responses((status = 200, description = "Deleted", body = crate::openapi::Empty), crate::openapi::ItemWriteErrors),
)]
async fn delete_scope(caller: Caller, path: Path<String>) -> Reply {
    caller
        .write_item("scope:write", &path, remove_scope)
        .await?;
    Ok(http::done())
}
