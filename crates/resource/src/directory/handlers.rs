//! The directory's HTTP operations: every route under `/api/v1/teams`, `/api/v1/users` and
//! `/api/v1/roles` with its OpenAPI description. Each handler authorises, parses the body into
//! its entity's request type, calls one function of the entity's module (`teams`,
//! `users`, `roles`) and responds.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, Route, web};
use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use tessera_store::DbConnection;

use super::roles::{self, RoleJson, RoleRequest, RolesPage};
use super::teams::{self, TeamJson, TeamRequest};
use super::users::{self, NewUser, UserJson, UserRequest};
use super::{Mode, RequestBody};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::Author;
use crate::http::{self, ListQuery, Value};
use crate::openapi::{
    CommonErrors, CreateErrors, Empty, ItemErrors, ItemWriteErrors, ListParams, ValueEnvelope,
    ValuesPage,
};
use crate::state::ResourceState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let teams = [web::get().to(list_teams), web::post().to(create_team)];
    let team = [
        web::get().to(get_team),
        web::put().to(put_team),
        web::patch().to(patch_team),
        web::delete().to(delete_team),
    ];
    entity(cfg, "/api/v1/teams", teams, team);
    let users = [web::get().to(list_users), web::post().to(create_user)];
    let user = [
        web::get().to(get_user),
        web::put().to(put_user),
        web::patch().to(patch_user),
        web::delete().to(delete_user),
    ];
    entity(cfg, "/api/v1/users", users, user);
    let roles = [web::get().to(list_roles), web::post().to(create_role)];
    let role = [
        web::get().to(get_role),
        web::put().to(put_role),
        web::patch().to(patch_role),
        web::delete().to(delete_role),
    ];
    entity(cfg, "/api/v1/roles", roles, role);
}

/// Serves one entity: its collection at `path` (list, create) and each of its items at
/// `path/{id}` (get, replace, update, delete).
fn entity(cfg: &mut web::ServiceConfig, path: &str, collection: [Route; 2], item: [Route; 4]) {
    let mut all = web::resource(path.to_string());
    for route in collection {
        all = all.route(route);
    }
    let mut one = web::resource(format!("{path}/{{id}}"));
    for route in item {
        one = one.route(route);
    }
    cfg.service(all).service(one);
}

/// What every handler answers: a response, or an error mapped by [`ApiError`].
type Reply = Result<HttpResponse, ApiError>;

/// The authenticated caller with the request it came with: what a handler needs before it
/// reads a body. Extracting it authenticates (401 before anything else).
pub(crate) struct Caller {
    principal: Principal,
    state: web::Data<ResourceState>,
    req: HttpRequest,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let principal = Principal::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let principal = principal.await?;
            let state = req
                .app_data::<web::Data<ResourceState>>()
                .cloned()
                .ok_or_else(|| ApiError::Internal("resource state missing".into()))?;
            Ok(Self {
                principal,
                state,
                req,
            })
        })
    }
}

impl Caller {
    /// 403 unless the credential carries `permission`.
    fn require(&self, permission: &str) -> Result<(), ApiError> {
        self.principal.require(permission)
    }

    fn realm_id(&self) -> String {
        self.principal.realm_id.clone()
    }

    /// The paging and filter parameters, filtering on `filterable` fields.
    fn list_query(&self, filterable: &[&str]) -> Result<ListQuery, ApiError> {
        ListQuery::parse(&self.req, filterable)
    }

    /// Reads the JSON object body into `T`; its `id`, when sent, must be `path_id` (on
    /// create, `None`: the server assigns ids).
    async fn body<T: RequestBody>(
        &self,
        payload: web::Payload,
        path_id: Option<&str>,
    ) -> Result<T, ApiError> {
        let Object(body) = http::json_body::<Object<T>>(&self.state, &self.req, payload).await?;
        match (body.sent_id(), path_id) {
            (None, _) => Ok(body),
            (Some(_), None) => Err(ApiError::bad(
                "id",
                "is assigned by the server; leave it out",
            )),
            (Some(sent), Some(path)) if sent == path => Ok(body),
            (Some(_), Some(_)) => Err(ApiError::bad("id", "does not match the id in the path")),
        }
    }

    /// Who writes, from where, and now.
    fn author(&self) -> Author {
        Author::of(&self.state, &self.req, self.principal.clone())
    }

    /// Runs `f` with a database connection, without a transaction.
    async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    {
        http::with_db(&self.state, f).await
    }

    /// Runs `f` in one write transaction as the caller ([`Author`]).
    async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &Author) -> Result<T, ApiError> + Send + 'static,
    {
        let author = self.author();
        http::write(&self.state, move |conn| f(conn, &author)).await
    }
}

/// `body` as JSON, 200.
fn ok<T: Serialize>(body: T) -> HttpResponse {
    HttpResponse::Ok().json(body)
}

/// `{"value": …}`, 200.
fn value<T: Serialize>(value: T) -> HttpResponse {
    HttpResponse::Ok().json(Value { value })
}

/// `{}`, 200: done, nothing to say.
fn done() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({}))
}

/// The path's `{id}`, which must be an id (400 naming `id` otherwise).
fn path_id(path: &web::Path<String>) -> Result<String, ApiError> {
    http::parse_id("id", path).map(str::to_string)
}

/// A body that must be a JSON object: serde's derived structs would also take an array (the
/// fields in order), which no directory body is.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<T> ObjectVisitor<T> {
    fn refuse<E: de::Error>(self) -> Result<T, E> {
        Err(E::custom("must be a JSON object"))
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        self.refuse()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<T, E> {
        self.refuse()
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
        self.refuse()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
        self.refuse()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<T, E> {
        self.refuse()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        self.refuse()
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        self.refuse()
    }
}

/// The PUT (replace) and PATCH (update some fields) operations of one entity: the same request
/// type and the same update function, which takes how absent fields apply ([`Mode`]). Only the
/// method, summary and description of the two documented operations differ.
macro_rules! replace_and_update {
    ($put:ident, $patch:ident => $update:ident; $($entity:tt)*) => {
        replace_and_update!(@one put $put Replace "Replace a "
            "Absent optional fields are cleared. Needs `" $update; $($entity)*);
        replace_and_update!(@one patch $patch Patch "Update some fields of a "
            "Absent fields keep their value. Needs `" $update; $($entity)*);
    };
    (
        @one $method:ident $handler:ident $mode:ident $summary:tt $description:tt $update:ident;
        $path:tt, $tag:tt, $noun:tt, $permission:tt, $request:ident => $response:ident
    ) => {
        #[utoipa::path($method, path = $path, tag = $tag, summary = concat!($summary, $noun),
            description = concat!($description, $permission, "`."), request_body = $request,
            params(("id" = String, Path, description = concat!("The ", $noun, "'s id (a UUID)"))),
            responses((status = 200, description = concat!("The updated ", $noun),
                body = ValueEnvelope<$response>), ItemWriteErrors))]
        pub(crate) async fn $handler(
            caller: Caller,
            path: web::Path<String>,
            payload: web::Payload,
        ) -> Reply {
            $update(caller, path, payload, Mode::$mode).await
        }
    };
}

// ---- teams ----

/// List teams
///
/// Needs `team:read`. Filter fields: `name`, `sso_alias`.
#[utoipa::path(get, path = "/api/v1/teams", tag = "teams", params(ListParams),
    responses((status = 200, description = "One page of teams", body = ValuesPage<TeamJson>), CommonErrors))]
pub(crate) async fn list_teams(caller: Caller) -> Reply {
    caller.require("team:read")?;
    let list = caller.list_query(&["name", "sso_alias"])?;
    let realm_id = caller.realm_id();
    let page = caller
        .read(move |c| teams::list(c, &realm_id, &list))
        .await?;
    Ok(ok(page))
}

/// Get a team
///
/// Needs `team:read`.
#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "teams",
    params(("id" = String, Path, description = "The team's id (a UUID)")),
    responses((status = 200, description = "The team", body = ValueEnvelope<TeamJson>), ItemErrors))]
pub(crate) async fn get_team(caller: Caller, path: web::Path<String>) -> Reply {
    caller.require("team:read")?;
    let (id, realm_id) = (path_id(&path)?, caller.realm_id());
    let team = caller.read(move |c| teams::load(c, &realm_id, &id)).await?;
    Ok(value(team))
}

/// Create a team
///
/// Needs `team:write`.
#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = TeamRequest,
    responses((status = 200, description = "Created", body = ValueEnvelope<TeamJson>), CreateErrors))]
pub(crate) async fn create_team(caller: Caller, payload: web::Payload) -> Reply {
    caller.require("team:write")?;
    let body: TeamRequest = caller.body(payload, None).await?;
    let team = body.into_new(&caller.principal.realm_id)?;
    let created = caller
        .write(move |c, by| teams::insert(c, by, team))
        .await?;
    Ok(value(created))
}

replace_and_update! {
    put_team, patch_team => update_team;
    "/api/v1/teams/{id}", "teams", "team", "team:write", TeamRequest => TeamJson
}

async fn update_team(
    caller: Caller,
    path: web::Path<String>,
    payload: web::Payload,
    mode: Mode,
) -> Reply {
    caller.require("team:write")?;
    let id = path_id(&path)?;
    let body: TeamRequest = caller.body(payload, Some(&id)).await?;
    let updated = caller
        .write(move |c, by| teams::update(c, by, &id, body, mode))
        .await?;
    Ok(value(updated))
}

/// Delete a team
///
/// The root team cannot be deleted (409). Needs `team:write`.
#[utoipa::path(delete, path = "/api/v1/teams/{id}", tag = "teams",
    params(("id" = String, Path, description = "The team's id (a UUID)")),
    responses((status = 200, description = "Deleted", body = Empty), ItemWriteErrors))]
pub(crate) async fn delete_team(caller: Caller, path: web::Path<String>) -> Reply {
    caller.require("team:write")?;
    let id = path_id(&path)?;
    caller.write(move |c, by| teams::remove(c, by, &id)).await?;
    Ok(done())
}

// ---- users ----

/// List users
///
/// Needs `user:read`. Filter fields: `name`, `email`, `team_id`.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListParams),
    responses((status = 200, description = "One page of users", body = ValuesPage<UserJson>), CommonErrors))]
pub(crate) async fn list_users(caller: Caller) -> Reply {
    caller.require("user:read")?;
    let list = caller.list_query(&["name", "email", "team_id"])?;
    let realm_id = caller.realm_id();
    let page = caller
        .read(move |c| users::list(c, &realm_id, &list))
        .await?;
    Ok(ok(page))
}

/// Get a user
///
/// Needs `user:read`. The user itself, without an envelope.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    responses((status = 200, description = "The user", body = UserJson), ItemErrors))]
pub(crate) async fn get_user(caller: Caller, path: web::Path<String>) -> Reply {
    caller.require("user:read")?;
    let (id, realm_id) = (path_id(&path)?, caller.realm_id());
    let user = caller.read(move |c| users::load(c, &realm_id, &id)).await?;
    Ok(ok(user))
}

/// Create a user
///
/// Needs `user:write`.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserRequest,
    responses((status = 200, description = "Created", body = ValueEnvelope<UserJson>), CreateErrors))]
pub(crate) async fn create_user(caller: Caller, payload: web::Payload) -> Reply {
    caller.require("user:write")?;
    let body: UserRequest = caller.body(payload, None).await?;
    let user = NewUser::new(&caller.req, body).await?;
    let created = caller
        .write(move |c, by| users::insert(c, by, user))
        .await?;
    Ok(value(created))
}

replace_and_update! {
    put_user, patch_user => update_user;
    "/api/v1/users/{id}", "users", "user", "user:write", UserRequest => UserJson
}

async fn update_user(
    caller: Caller,
    path: web::Path<String>,
    payload: web::Payload,
    mode: Mode,
) -> Reply {
    caller.require("user:write")?;
    let id = path_id(&path)?;
    let body: UserRequest = caller.body(payload, Some(&id)).await?;
    let changes = body.into_changes(mode)?;
    let updated = caller
        .write(move |c, by| users::update(c, by, &id, changes))
        .await?;
    Ok(value(updated))
}

/// Delete a user
///
/// Needs `user:write`.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    responses((status = 200, description = "The user as it was", body = ValueEnvelope<UserJson>), ItemWriteErrors))]
pub(crate) async fn delete_user(caller: Caller, path: web::Path<String>) -> Reply {
    caller.require("user:write")?;
    let id = path_id(&path)?;
    let deleted = caller.write(move |c, by| users::remove(c, by, &id)).await?;
    Ok(value(deleted))
}

// ---- roles ----

/// List roles
///
/// Needs `role:read`. Filter fields: `name`.
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles", params(ListParams),
    responses((status = 200, description = "One page of roles", body = RolesPage), CommonErrors))]
pub(crate) async fn list_roles(caller: Caller) -> Reply {
    caller.require("role:read")?;
    let list = caller.list_query(&["name"])?;
    let realm_id = caller.realm_id();
    let page = caller
        .read(move |c| roles::list(c, &realm_id, &list))
        .await?;
    Ok(ok(page))
}

/// Get a role
///
/// Needs `role:read`.
#[utoipa::path(get, path = "/api/v1/roles/{id}", tag = "roles",
    params(("id" = String, Path, description = "The role's id (a UUID)")),
    responses((status = 200, description = "The role", body = ValueEnvelope<RoleJson>), ItemErrors))]
pub(crate) async fn get_role(caller: Caller, path: web::Path<String>) -> Reply {
    caller.require("role:read")?;
    let (id, realm_id) = (path_id(&path)?, caller.realm_id());
    let role = caller.read(move |c| roles::load(c, &realm_id, &id)).await?;
    Ok(value(role))
}

/// Create a role
///
/// Needs `role:write`.
#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", request_body = RoleRequest,
    responses((status = 200, description = "Created", body = ValueEnvelope<RoleJson>), CreateErrors))]
pub(crate) async fn create_role(caller: Caller, payload: web::Payload) -> Reply {
    caller.require("role:write")?;
    let body: RoleRequest = caller.body(payload, None).await?;
    let role = body.into_new(&caller.principal.realm_id)?;
    let created = caller
        .write(move |c, by| roles::insert(c, by, role))
        .await?;
    Ok(value(created))
}

replace_and_update! {
    put_role, patch_role => update_role;
    "/api/v1/roles/{id}", "roles", "role", "role:write", RoleRequest => RoleJson
}

async fn update_role(
    caller: Caller,
    path: web::Path<String>,
    payload: web::Payload,
    mode: Mode,
) -> Reply {
    caller.require("role:write")?;
    let id = path_id(&path)?;
    let body: RoleRequest = caller.body(payload, Some(&id)).await?;
    let updated = caller
        .write(move |c, by| roles::update(c, by, &id, body, mode))
        .await?;
    Ok(value(updated))
}

/// Delete a role
///
/// A role still in use cannot be deleted (409). Needs `role:write`.
#[utoipa::path(delete, path = "/api/v1/roles/{id}", tag = "roles",
    params(("id" = String, Path, description = "The role's id (a UUID)")),
    responses((status = 200, description = "Deleted", body = Empty), ItemWriteErrors))]
pub(crate) async fn delete_role(caller: Caller, path: web::Path<String>) -> Reply {
    caller.require("role:write")?;
    let id = path_id(&path)?;
    caller.write(move |c, by| roles::remove(c, by, &id)).await?;
    Ok(done())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_must_be_a_json_object() {
        for json in [r#"["name"]"#, r#""name""#, "1", "true", "null"] {
            let read = serde_json::from_str::<Object<TeamRequest>>(json);
            let err = read.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.starts_with("must be a JSON object"), "{json}: {err}");
        }
        assert!(serde_json::from_str::<Object<TeamRequest>>(r#"{"name": "a"}"#).is_ok());
    }
}
