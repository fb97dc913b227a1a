//! OAuth scopes of a realm and the clients that use them.

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::rows::*;
use crate::schema::*;
use diesel::prelude::*;
use tessera_core::ScopeSet;
use tessera_core::model::*;
use tessera_core::permission::is_builtin_scope;

type Conn = DbConnection;

find_one!(pub fn by_name(scopes: realm_id, name) -> ScopeRow as Scope);

all_in_realm!(pub fn all_in_realm(scopes by name) -> ScopeRow as Scope);

insert_one!(pub fn insert(scopes, ScopeRow from Scope), taken: "scope" name);

set_description!(pub fn update_description(scopes));

/// The first scope in `names` that is neither built in nor defined in the realm.
pub fn first_undefined<'a>(
    conn: &mut Conn,
    realm_id: &str,
    names: &'a [String],
) -> Result<Option<&'a str>, StoreError> {
    for name in names {
        if !is_builtin_scope(name) && by_name(conn, realm_id, name)?.is_none() {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

find_one!(pub fn in_realm(scopes: realm_id, id) -> ScopeRow as Scope);

/// Custom scopes of the realm ordered by name, after `after`.
pub fn list(
    conn: &mut Conn,
    realm_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Scope>, StoreError> {
    page_in_realm!(scopes by name as ScopeRow, realm_id, after, limit)
        .load::<ScopeRow>(conn)?
        .into_models()
}

/// The `client_id`s of the realm's clients that list `scope` (allowed or default), sorted.
pub fn clients_using(
    conn: &mut Conn,
    realm_id: &str,
    scope: &str,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String, String, String)> = clients::table
        .filter(clients::realm_id.eq(realm_id))
        .select((
            clients::client_id,
            clients::allowed_scopes,
            clients::default_scopes,
        ))
        .order(clients::client_id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|(_, allowed, defaults)| {
            ScopeSet::from_stored(allowed).contains(scope)
                || ScopeSet::from_stored(defaults).contains(scope)
        })
        .map(|(id, _, _)| id)
        .collect())
}

pub fn delete(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    diesel::delete(scopes::table.filter(scopes::id.eq(id))).execute(conn)?;
    Ok(())
}
