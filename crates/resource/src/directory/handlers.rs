//! The directory's HTTP operations: every route under `/api/v1/teams`, `/api/v1/users` and
//! `/api/v1/roles` with its OpenAPI description. Each handler authorises, parses the body into
//! its entity's request type, calls one function of the entity's module (`teams`,
//! `users`, `roles`) and responds.

use actix_web::{Route, web};

use super::Mode;
use super::roles::{self, RoleJson, RoleRequest, RolesPage};
use super::teams::{self, TeamJson, TeamRequest};
use super::users::{self, NewUser, UserJson, UserRequest};
use crate::http::{Caller, Reply, done, ok, path_id, value};
use crate::openapi::{
    CommonErrors, CreateErrors, Empty, ItemErrors, ItemWriteErrors, ListParams, ValueEnvelope,
    ValuesPage,
};

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
    let team = caller.load_item("team:read", &path, teams::load);
    Ok(value(team.await?))
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
    let deleted = caller.write_item("team:write", &path, teams::remove);
    deleted.await?;
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
    let user = caller.load_item("user:read", &path, users::load);
    Ok(ok(user.await?))
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
    let deleted = caller.write_item("user:write", &path, users::remove);
    Ok(value(deleted.await?))
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
    let role = caller.load_item("role:read", &path, roles::load);
    Ok(value(role.await?))
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
    let deleted = caller.write_item("role:write", &path, roles::remove);
    deleted.await?;
    Ok(done())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Object;

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
