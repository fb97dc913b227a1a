//! Roles of a realm: named permission sets, built-in or custom.

use crate::db::DbConnection;
use crate::db::Window;
use crate::error::StoreError;
use crate::rows::*;
use crate::schema::*;
use diesel::prelude::*;
use tessera_core::model::Role;
use tessera_core::model::*;

type Conn = DbConnection;

find_one!(pub fn by_name(roles: realm_id, name) -> RoleRow as Role);

all_in_realm!(pub fn all_in_realm(roles by name) -> RoleRow as Role);

insert_one!(pub fn insert(roles, RoleRow from Role), taken: "role" name);

/// Names of roles by id, for `role` in responses.
pub fn names(conn: &mut Conn, ids: &[String]) -> Result<Vec<(String, String)>, StoreError> {
    Ok(roles::table
        .filter(roles::id.eq_any(ids))
        .select((roles::id, roles::name))
        .load(conn)?)
}

#[derive(Debug, Clone, Default)]
pub struct RoleFilter<'a> {
    pub name: Option<&'a str>,
}

pub fn list(
    conn: &mut Conn,
    realm_id: &str,
    filter: &RoleFilter<'_>,
    window: &Window<'_>,
) -> Result<Vec<Role>, StoreError> {
    let mut query = page_in_realm!(roles by id as RoleRow, realm_id, window.after, window.limit);
    if let Some(name) = filter.name {
        query = query.filter(roles::name.eq(name.to_string()));
    }
    query.load::<RoleRow>(conn)?.into_models()
}

find_one!(pub fn in_realm(roles: realm_id, id) -> RoleRow as Role);

/// Writes the role's name, description and permissions.
pub fn update(conn: &mut Conn, role: &Role) -> Result<(), StoreError> {
    diesel::update(roles::table.filter(roles::id.eq(&role.id)))
        .set((
            roles::name.eq(&role.name),
            roles::description.eq(&role.description),
            roles::permissions.eq(role.permissions.to_string()),
            roles::requires_mfa.eq(role.requires_mfa),
            roles::updated_at.eq(role.updated_at),
        ))
        .execute(conn)
        .map_err(|e| {
            crate::db::conflict_as(e, || format!("a role named {:?} already exists", role.name))
        })?;
    Ok(())
}

/// How many memberships and API keys use the role.
pub fn usage(conn: &mut Conn, id: &str) -> Result<(i64, i64), StoreError> {
    let memberships: i64 = team_memberships::table
        .filter(team_memberships::role_id.eq(id))
        .count()
        .get_result(conn)?;
    let keys: i64 = api_keys::table
        .filter(api_keys::role_id.eq(id))
        .count()
        .get_result(conn)?;
    Ok((memberships, keys))
}

/// Deletes the role and the policies written for it.
pub fn delete(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    diesel::delete(
        policies::table
            .filter(policies::subject_type.eq(SubjectType::Role.as_str()))
            .filter(policies::subject_id.eq(id)),
    )
    .execute(conn)?;
    diesel::delete(roles::table.filter(roles::id.eq(id))).execute(conn)?;
    Ok(())
}
