//! Roles: `/api/v1/roles`. A role is a named set of permissions, given to users in teams and
//! to team keys; every role is available in every team, so what it holds must be held
//! realm-wide by whoever creates or widens it. Built-in roles keep all but `requires_mfa`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use tessera_core::grant::Reach;
use tessera_core::id::new_uuid;
use tessera_core::model::Role;
use tessera_core::names::validate_display_name;
use tessera_core::page::Page;
use tessera_core::permission;
use tessera_store as store;
use tessera_store::DbConnection;
use tessera_store::roles::RoleFilter;

use super::{MAX_TEXT, Mode, RequestBody, check_list, check_text, ensure_unused, found, window};
use crate::access::Grantor;
use crate::error::ApiError;
use crate::http::Author;
use crate::http::{ListQuery, explicit};

// ---- what the API returns ----

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct RoleJson {
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
pub(super) struct RolesPage {
    roles: Vec<RoleJson>,
    next_page_token: String,
    has_more: bool,
}

// ---- what the API reads ----

/// A role (create, PUT, PATCH). On PATCH, absent fields keep their value; on create and PUT,
/// absent optional fields are cleared, as `null` clears them on any.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleRequest {
    /// The role's id: left out on create, else the path's.
    id: Option<String>,
    /// 1-200 characters, unique among the realm's roles. Required on create and PUT; never
    /// `null`.
    #[serde(default, deserialize_with = "explicit")]
    #[schema(value_type = String)]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "explicit")]
    description: Option<Option<String>>,
    /// Permission names such as `api_key:read`.
    #[serde(default, deserialize_with = "explicit")]
    permissions: Option<Option<Vec<String>>>,
    /// Only `true`: every role is available in every team.
    #[serde(default, deserialize_with = "explicit")]
    is_available_in_root_team: Option<Option<bool>>,
    /// Only `true`: every role is available in every team.
    #[serde(default, deserialize_with = "explicit")]
    is_available_in_non_root_team: Option<Option<bool>>,
    /// Holders of the role (in any team) must sign in with a second factor. The one field a
    /// built-in role accepts; changing it needs every permission of the role.
    #[serde(default, deserialize_with = "explicit")]
    requires_mfa: Option<Option<bool>>,
}

impl RequestBody for RoleRequest {
    fn sent_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl RoleRequest {
    /// A new custom role of the realm from a create body. Pure: no database.
    pub(super) fn into_new(self, realm_id: &str) -> Result<Role, ApiError> {
        let mut role = new_role(realm_id);
        self.apply(&mut role, Mode::Create)?;
        Ok(role)
    }

    /// Checks the body and applies it to `role`. Pure: no database.
    fn apply(self, role: &mut Role, mode: Mode) -> Result<(), ApiError> {
        if let Some(name) = mode.required("name", self.name)? {
            validate_display_name("name", &name)?;
            role.name = name.trim().to_string();
        }
        if let Some(description) = mode.or_default(self.description) {
            check_text("description", &description, MAX_TEXT)?;
            role.description = description;
        }
        if let Some(perms) = mode.or_default(self.permissions) {
            check_permissions(&perms)?;
            role.permissions = tessera_core::ScopeSet::from_names(perms).iter().collect();
        }
        if let Some(required) = mode.optional(self.requires_mfa) {
            role.requires_mfa = required.unwrap_or(false);
        }
        let availability = [
            ("is_available_in_root_team", self.is_available_in_root_team),
            (
                "is_available_in_non_root_team",
                self.is_available_in_non_root_team,
            ),
        ];
        for (field, sent) in availability {
            if matches!(sent, Some(None | Some(false))) {
                return Err(ApiError::bad(
                    field,
                    "every role is available in every team; send true or leave it out",
                ));
            }
        }
        Ok(())
    }
}

fn check_permissions(perms: &[String]) -> Result<(), ApiError> {
    check_list("permissions", perms)?;
    if let Some((i, p)) = perms
        .iter()
        .enumerate()
        .find(|(_, p)| !permission::is_permission(p))
    {
        let known: Vec<&str> = permission::CATALOG.iter().map(|(n, _)| *n).collect();
        return Err(ApiError::bad(
            format!("permissions[{i}]"),
            format!(
                "{p:?} is not a permission; the permissions are {}",
                known.join(", ")
            ),
        ));
    }
    Ok(())
}

// ---- what the handlers call ----

/// One page of the realm's roles.
pub(super) fn list(
    conn: &mut DbConnection,
    realm_id: &str,
    list: &ListQuery,
) -> Result<RolesPage, ApiError> {
    let filter = RoleFilter {
        name: list.filter_value("name"),
    };
    let rows = store::roles::list(conn, realm_id, &filter, &window(list))?;
    let page = Page::from_rows(rows, list.page.size, |r| r.id.clone());
    let has_more = page.has_more();
    Ok(RolesPage {
        roles: page.items.into_iter().map(role_json).collect(),
        next_page_token: page.next_page_token,
        has_more,
    })
}

/// A custom role with nothing in it yet; the create body fills it.
fn new_role(realm_id: &str) -> Role {
    Role {
        id: new_uuid(),
        realm_id: realm_id.to_string(),
        name: String::new(),
        description: String::new(),
        permissions: Default::default(),
        builtin: false,
        created_at: 0,
        updated_at: 0,
        requires_mfa: false,
    }
}

/// The role as the API shows it, or 404.
pub(super) fn load(
    conn: &mut DbConnection,
    realm_id: &str,
    id: &str,
) -> Result<RoleJson, ApiError> {
    found(store::roles::in_realm(conn, realm_id, id)?, "role", id).map(role_json)
}

/// 409 when another role of the realm has this name.
fn ensure_name_free(conn: &mut DbConnection, realm_id: &str, name: &str) -> Result<(), ApiError> {
    let taken = store::roles::by_name(conn, realm_id, name)?.is_some();
    ensure_unused(taken, "role", name)
}

/// Creates the role. A role can be given in any team: its permissions must be held
/// realm-wide.
pub(super) fn insert(
    conn: &mut DbConnection,
    author: &Author,
    mut role: Role,
) -> Result<RoleJson, ApiError> {
    Grantor::new(conn, &author.principal)?.ensure(&Reach::Realm, &role_permissions(&role))?;
    ensure_name_free(conn, author.realm_id(), &role.name)?;
    (role.created_at, role.updated_at) = (author.now, author.now);
    store::roles::insert(conn, &role)?;
    author.audit(conn, "role.create", &format!("role:{}", role.id))?;
    Ok(role_json(role))
}

/// Applies the body to the stored role (404 first). A built-in role changes only its
/// `requires_mfa`; what is added must be held realm-wide, since everyone holding the role, in
/// any team, gains it.
pub(super) fn update(
    conn: &mut DbConnection,
    author: &Author,
    id: &str,
    body: RoleRequest,
    mode: Mode,
) -> Result<RoleJson, ApiError> {
    let grantor = Grantor::new(conn, &author.principal)?;
    let before = found(
        store::roles::in_realm(conn, author.realm_id(), id)?,
        "role",
        id,
    )?;
    let mut role = before.clone();
    body.apply(&mut role, mode)?;
    let (held, holds) = (role_permissions(&before), role_permissions(&role));
    if before.builtin
        && (role.name != before.name || role.description != before.description || holds != held)
    {
        return Err(ApiError::Conflict(format!(
            "{} is a built-in role; only its requires_mfa can be changed (create a custom role instead)",
            before.name
        )));
    }
    if role.requires_mfa != before.requires_mfa {
        // Whether holders need a second factor protects what the role holds: only someone
        // who holds all of it may decide.
        grantor.ensure(&Reach::Realm, &held)?;
    }
    if role.name != before.name {
        ensure_name_free(conn, author.realm_id(), &role.name)?;
    }
    let added: BTreeSet<String> = holds.difference(&held).cloned().collect();
    grantor.ensure(&Reach::Realm, &added)?;
    role.updated_at = author.now;
    store::roles::update(conn, &role)?;
    let shown = role_json(role);
    let target = format!("role:{id}");
    author.audit_difference(conn, ("role.update", &target), &role_json(before), &shown)?;
    Ok(shown)
}

/// Deletes a custom role that no membership or API key uses.
pub(super) fn remove(conn: &mut DbConnection, author: &Author, id: &str) -> Result<(), ApiError> {
    let role = found(
        store::roles::in_realm(conn, author.realm_id(), id)?,
        "role",
        id,
    )?;
    if role.builtin {
        return Err(ApiError::Conflict(format!(
            "{} is a built-in role; built-in roles cannot be deleted",
            role.name
        )));
    }
    let (memberships, keys) = store::roles::usage(conn, id)?;
    if memberships > 0 || keys > 0 {
        return Err(ApiError::Conflict(format!(
            "role {} is in use by {memberships} team membership(s) and {keys} API key(s); remove them first",
            role.name
        )));
    }
    store::roles::delete(conn, id)?;
    author.audit(conn, "role.delete", &format!("role:{id}"))
}
