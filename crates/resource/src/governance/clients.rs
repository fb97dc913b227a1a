//! OAuth clients of the realm. A client's tokens may carry the permissions among its scopes,
//! so making a client, widening its scopes or enabling it again needs those permissions
//! realm-wide. The `portal` client, through which the console signs in, stays usable.
//!
//! The issuer keeps clients in a read-through cache (`issuer.cache_ttl_secs`, 5 s by
//! default). A client changed, deleted or given a new secret here is forgotten at once by an
//! issuer in the same process (through `ResourceState::client_changed`), and within that TTL
//! by other replicas and by a split-off issuer.

use actix_web::web;
use actix_web::web::{Path, Payload};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use tessera_core::grant::Reach;
use tessera_core::import::{ClientKind, ClientSpec};
use tessera_core::model::Client;
use tessera_core::names;
use tessera_core::page::Page;
use tessera_core::permission::is_permission;
use tessera_store as store;
use tessera_store::provision::{self, ClientCreated, PORTAL_CLIENT_ID, UnknownScopes};
use tessera_store::{Database, DbConnection};

use crate::access::Grantor;
use crate::error::ApiError;
use crate::http::{self, Author, Caller, Reply, Values};
use crate::state::ResourceState;

pub fn routes(cfg: &mut web::ServiceConfig) {
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
}

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
        let settings = c.settings.clone();
        Self {
            web_origins: settings.web_origins,
            access_token_ttl_secs: settings.access_token_ttl_secs,
            refresh_token_idle_ttl_secs: settings.refresh_token_idle_ttl_secs,
            refresh_token_absolute_ttl_secs: settings.refresh_token_absolute_ttl_secs,
            backchannel_logout_uri: settings.backchannel_logout_uri,
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
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

impl ClientJson {
    /// The client with a secret shown this once (create, rotate-secret).
    fn with_secret(client: Client, secret: Option<String>) -> Self {
        Self {
            client_secret: secret,
            ..Self::from(client)
        }
    }
}

/// The body of a create (`grant_types` required; `client_id` chosen or generated) and of an
/// update (every field given replaces the stored one; the `client_id` and the type stay).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ClientBody {
    /// Create only: chosen by the admin; a UUID when absent.
    client_id: Option<String>,
    name: Option<String>,
    /// `confidential` (the default on create) or `public`; an update may not change it.
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
    /// Update only: `false` disables the client (a new client is enabled).
    enabled: Option<bool>,
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

impl ClientBody {
    /// The type asked for, if any.
    fn kind(&self) -> Result<Option<ClientKind>, ApiError> {
        self.kind
            .as_deref()
            .map(|k| client_kind("type", k))
            .transpose()
    }

    /// A create: the new client's spec, validated.
    fn into_new_spec(self) -> Result<ClientSpec, ApiError> {
        if self.enabled.is_some() {
            return Err(ApiError::bad(
                "enabled",
                "a new client is enabled; disable it afterwards with PUT /api/v1/clients/{client_id}",
            ));
        }
        let kind = self.kind()?.unwrap_or(ClientKind::Confidential);
        let spec = ClientSpec {
            client_id: self.client_id.unwrap_or_else(tessera_core::id::new_uuid),
            name: self.name,
            kind,
            secret: None,
            grant_types: self.grant_types.ok_or_else(|| {
                ApiError::bad("grant_types", "is required, e.g. [\"client_credentials\"]")
            })?,
            scopes: self.scopes.unwrap_or_default(),
            default_scopes: self.default_scopes,
            redirect_uris: self.redirect_uris.unwrap_or_default(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.unwrap_or_default(),
            first_party: self.first_party.unwrap_or(false),
            web_origins: self.web_origins.unwrap_or_default(),
            access_token_ttl_secs: self.access_token_ttl_secs.flatten(),
            refresh_token_idle_ttl_secs: self.refresh_token_idle_ttl_secs.flatten(),
            refresh_token_absolute_ttl_secs: self.refresh_token_absolute_ttl_secs.flatten(),
            backchannel_logout_uri: self.backchannel_logout_uri.flatten(),
        };
        spec.validate()?;
        Ok(spec)
    }

    /// An update, checked as far as it can be without the stored client.
    fn into_update(self) -> Result<ClientUpdate, ApiError> {
        if self.client_id.is_some() {
            return Err(ApiError::bad(
                "client_id",
                "a client's client_id cannot change; create a new client instead",
            ));
        }
        Ok(ClientUpdate {
            kind: self.kind()?,
            body: self,
        })
    }
}

/// An update body with its type checked.
struct ClientUpdate {
    kind: Option<ClientKind>,
    body: ClientBody,
}

impl ClientUpdate {
    /// The stored client with the update applied: its spec, and whether it is enabled.
    fn applied_to(self, existing: &Client) -> Result<(ClientSpec, bool), ApiError> {
        let kind = if existing.confidential {
            ClientKind::Confidential
        } else {
            ClientKind::Public
        };
        if self.kind.is_some_and(|k| k != kind) {
            return Err(ApiError::bad(
                "type",
                "a client's type cannot change (its secret depends on it); create a new client instead",
            ));
        }
        let body = self.body;
        let scopes = body
            .scopes
            .unwrap_or_else(|| existing.allowed_scopes.to_vec());
        // Kept defaults that the new scopes still allow, unless new defaults are given.
        let default_scopes = body.default_scopes.unwrap_or_else(|| {
            existing
                .default_scopes
                .to_vec()
                .into_iter()
                .filter(|d| scopes.contains(d))
                .collect()
        });
        let kept = existing.settings.clone();
        let spec = ClientSpec {
            client_id: existing.client_id.clone(),
            name: Some(body.name.unwrap_or_else(|| existing.name.clone())),
            kind,
            secret: None,
            grant_types: body
                .grant_types
                .unwrap_or_else(|| existing.grant_types.names()),
            scopes,
            default_scopes: Some(default_scopes),
            redirect_uris: body
                .redirect_uris
                .unwrap_or_else(|| existing.redirect_uris.clone()),
            post_logout_redirect_uris: body
                .post_logout_redirect_uris
                .unwrap_or_else(|| existing.post_logout_redirect_uris.clone()),
            first_party: body.first_party.unwrap_or(existing.first_party),
            web_origins: body.web_origins.unwrap_or(kept.web_origins),
            access_token_ttl_secs: body
                .access_token_ttl_secs
                .unwrap_or(kept.access_token_ttl_secs),
            refresh_token_idle_ttl_secs: body
                .refresh_token_idle_ttl_secs
                .unwrap_or(kept.refresh_token_idle_ttl_secs),
            refresh_token_absolute_ttl_secs: body
                .refresh_token_absolute_ttl_secs
                .unwrap_or(kept.refresh_token_absolute_ttl_secs),
            backchannel_logout_uri: body
                .backchannel_logout_uri
                .unwrap_or(kept.backchannel_logout_uri),
        };
        Ok((spec, body.enabled.unwrap_or(existing.enabled)))
    }
}

/// The permissions among a client's scopes.
fn permission_scopes(scopes: &[String]) -> BTreeSet<String> {
    scopes
        .iter()
        .filter(|s| is_permission(s))
        .cloned()
        .collect()
}

/// Permissions the client's tokens may newly carry after an update (all of them, when it is
/// enabled again); custom scopes are not rights Tessera grants.
fn newly_carried(existing: &Client, spec: &ClientSpec, enabled: bool) -> BTreeSet<String> {
    let old = if existing.enabled {
        permission_scopes(&existing.allowed_scopes.to_vec())
    } else {
        BTreeSet::new()
    };
    let new = if enabled {
        permission_scopes(&spec.scopes)
    } else {
        BTreeSet::new()
    };
    new.difference(&old).cloned().collect()
}

/// The console signs in through `portal` with the authorization code, and the seed scripts
/// with its password grant: it stays enabled and keeps the code grant.
fn portal_stays_usable(spec: &ClientSpec, enabled: bool) -> Result<(), ApiError> {
    if !enabled {
        return Err(ApiError::Conflict(
            "the portal client cannot be disabled: every sign-in to the console and every token script using client_id=portal would stop working".into(),
        ));
    }
    if !spec.grant_types.iter().any(|g| g == "authorization_code") {
        return Err(ApiError::Conflict(
            "the portal client keeps the authorization_code grant: the console signs in with it"
                .into(),
        ));
    }
    Ok(())
}

fn client_in_realm(
    conn: &mut DbConnection,
    realm_id: &str,
    client_id: &str,
) -> Result<Client, ApiError> {
    tessera_store::clients::by_client_id(conn, realm_id, client_id)?
        .ok_or_else(|| ApiError::NotFound(format!("client {client_id}")))
}

/// Makes the client (and its service account, its secret) after the escalation rule allows
/// the permissions among its scopes.
fn insert_client(
    conn: &mut DbConnection,
    author: &Author,
    spec: &ClientSpec,
) -> Result<ClientCreated, ApiError> {
    // The client's tokens may carry these permissions: they must be held realm-wide.
    Grantor::new(conn, &author.principal)?
        .ensure(&Reach::Realm, &permission_scopes(&spec.scopes))?;
    Ok(provision::create_client_in(
        conn,
        &author.principal.realm_name,
        spec,
        UnknownScopes::Refuse,
        &author.store_actor(),
        author.now,
    )?)
}

/// Applies an update to a stored client after the escalation rule allows what it widens.
fn change_client(
    conn: &mut DbConnection,
    author: &Author,
    client_id: &str,
    update: ClientUpdate,
) -> Result<Client, ApiError> {
    let grantor = Grantor::new(conn, &author.principal)?;
    let existing = client_in_realm(conn, author.realm_id(), client_id)?;
    let (spec, enabled) = update.applied_to(&existing)?;
    if existing.client_id == PORTAL_CLIENT_ID {
        portal_stays_usable(&spec, enabled)?;
    }
    grantor.ensure(&Reach::Realm, &newly_carried(&existing, &spec, enabled))?;
    let client = store::clients::update(conn, &existing, &spec, enabled, author.now)?;
    let detail = http::changes(
        &ClientJson::from(existing),
        &ClientJson::from(client.clone()),
    );
    author.audit_change(
        conn,
        ("client.update", &format!("client:{client_id}")),
        &detail,
    )?;
    Ok(client)
}

/// Deletes a client other than the portal.
fn remove_client(
    conn: &mut DbConnection,
    author: &Author,
    client_id: &str,
) -> Result<(), ApiError> {
    let client = client_in_realm(conn, author.realm_id(), client_id)?;
    if client.client_id == PORTAL_CLIENT_ID {
        return Err(ApiError::Conflict(
            "the portal client cannot be deleted: the console and the token scripts sign in through it".into(),
        ));
    }
    store::clients::delete(conn, &client)?;
    author.audit(conn, "client.delete", &format!("client:{client_id}"))
}

/// Gives a client a new secret (in the store's own transaction, which audits it); returns
/// the client and the secret.
fn new_client_secret(
    db: &Database,
    author: &Author,
    client_id: &str,
) -> Result<(Client, String), ApiError> {
    client_in_realm(&mut *db.conn()?, author.realm_id(), client_id)?;
    let secret = provision::rotate_client_secret(
        db,
        &author.principal.realm_name,
        client_id,
        &author.store_actor(),
        author.now,
    )?;
    let client = client_in_realm(&mut *db.conn()?, author.realm_id(), client_id)?;
    Ok((client, secret))
}

/// Runs a provisioning call (which opens its own transaction) on the blocking pool.
/// The path's `{client_id}`, which must be a client id.
fn path_client_id(path: Path<String>) -> Result<String, ApiError> {
    let client_id = path.into_inner();
    names::validate_client_id(&client_id)?;
    Ok(client_id)
}

async fn provisioning<T, F>(state: &ResourceState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Database) -> Result<T, ApiError> + Send + 'static,
{
    let db = state.db.clone();
    let result = web::block(move || f(&db)).await?;
    state.invalidate_access();
    result
}

#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", summary = "List OAuth clients",
    description = "Needs `client:read`. No filter fields.",
    params(crate::openapi::ListParams),
    responses((status = 200, description = "One page of clients", body = crate::openapi::ValuesPage<ClientJson>), crate::openapi::CommonErrors),
)]
async fn list_clients(caller: Caller) -> Reply {
    caller.require("client:read")?;
    let query = caller.list_query(&[])?;
    let (after, size, realm_id) = (query.page.after, query.page.size, caller.realm_id());
    let rows = caller
        .read(move |c| {
            Ok(store::clients::list(
                c,
                &realm_id,
                after.as_deref(),
                size + 1,
            )?)
        })
        .await?;
    let page = Page::from_rows(rows, size, |c| c.client_id.clone());
    Ok(http::ok(Values::from_page(page, ClientJson::from)))
}

#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", summary = "Create an OAuth client",
    description = "The admin may choose the `client_id` (a UUID when absent). A confidential client's secret is in this response only. Needs `client:write`.",
    request_body = ClientBody,
    responses((status = 201, description = "Created; `client_secret` is shown this once", body = crate::openapi::ValueEnvelope<ClientJson>), crate::openapi::CreateErrors),
)]
async fn create_client(caller: Caller, payload: Payload) -> Reply {
    caller.require("client:write")?;
    let body: ClientBody = caller.json(payload).await?;
    let spec = body.into_new_spec()?;
    let created = caller
        .write(move |c, by| insert_client(c, by, &spec))
        .await?;
    let json = ClientJson::with_secret(created.client, created.generated_secret);
    Ok(http::created(json))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}", tag = "clients", summary = "Get an OAuth client",
    description = "Needs `client:read`.",
    params(("client_id" = String, Path, description = "The client's `client_id`")),
    responses((status = 200, description = "The client", body = crate::openapi::ValueEnvelope<ClientJson>), crate::openapi::ItemErrors),
)]
async fn get_client(caller: Caller, path: Path<String>) -> Reply {
    caller.require("client:read")?;
    let (client_id, realm_id) = (path_client_id(path)?, caller.realm_id());
    let client = caller
        .read(move |c| client_in_realm(c, &realm_id, &client_id))
        .await?;
    Ok(http::value(ClientJson::from(client)))
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}", tag = "clients", summary = "Update an OAuth client",
    description = "Every field given replaces the stored one; the type cannot change. The issuer sees the change within its client cache TTL. Needs `client:write`.",
    params(("client_id" = String, Path, description = "The client's `client_id`")),
    request_body = ClientBody,
    responses((status = 200, description = "The updated client", body = crate::openapi::ValueEnvelope<ClientJson>), crate::openapi::ItemErrors),
)]
async fn update_client(caller: Caller, path: Path<String>, payload: Payload) -> Reply {
    caller.require("client:write")?;
    let client_id = path_client_id(path)?;
    let body: ClientBody = caller.json(payload).await?;
    let update = body.into_update()?;
    let id = client_id.clone();
    let updated = caller
        .write(move |c, by| change_client(c, by, &id, update))
        .await?;
    caller.state.client_changed(&updated.realm_id, &client_id);
    Ok(http::value(ClientJson::from(updated)))
}

#[utoipa::path(delete, path = "/api/v1/clients/{client_id}", tag = "clients", summary = "Delete an OAuth client",
    description = "The portal client cannot be deleted (409). Needs `client:write`.",
    params(("client_id" = String, Path, description = "The client's `client_id`")),
    responses((status = 200, description = "Deleted", body = crate::openapi::Empty), crate::openapi::ItemWriteErrors),
)]
async fn delete_client(caller: Caller, path: Path<String>) -> Reply {
    caller.require("client:write")?;
    let client_id = path_client_id(path)?;
    let id = client_id.clone();
    caller.write(move |c, by| remove_client(c, by, &id)).await?;
    caller.state.client_changed(&caller.realm_id(), &client_id);
    Ok(http::done())
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}:rotate-secret", tag = "clients", summary = "Rotate an OAuth client's secret",
    description = "A new secret replaces the old one, which stops working. The new secret is in this response only. Needs `client:write`.",
    params(("client_id" = String, Path, description = "The client's `client_id`")),
    responses((status = 200, description = "The client with its new `client_secret`, shown this once", body = crate::openapi::ValueEnvelope<ClientJson>), crate::openapi::ItemErrors),
)]
async fn rotate_client_secret(caller: Caller, path: Path<String>) -> Reply {
    caller.require("client:write")?;
    let client_id = path_client_id(path)?;
    let author = caller.author();
    let (client, secret) = provisioning(&caller.state, move |db| {
        new_client_secret(db, &author, &client_id)
    })
    .await?;
    caller
        .state
        .client_changed(&client.realm_id, &client.client_id);
    Ok(http::value(ClientJson::with_secret(client, Some(secret))))
}
