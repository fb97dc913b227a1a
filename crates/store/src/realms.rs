//! Realms: the tenant every other row belongs to.

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::rows::*;
use crate::schema::*;
use diesel::prelude::*;
use tessera_core::model::*;

type Conn = DbConnection;

pub fn by_name(conn: &mut Conn, name: &str) -> Result<Option<Realm>, StoreError> {
    realms::table
        .filter(realms::name.eq(name))
        .select(RealmRow::as_select())
        .first::<RealmRow>(conn)
        .optional()?
        .into_models()
}

pub fn by_id(conn: &mut Conn, id: &str) -> Result<Option<Realm>, StoreError> {
    realms::table
        .find(id)
        .select(RealmRow::as_select())
        .first::<RealmRow>(conn)
        .optional()?
        .into_models()
}

pub fn list(conn: &mut Conn) -> Result<Vec<Realm>, StoreError> {
    realms::table
        .order(realms::name)
        .select(RealmRow::as_select())
        .load::<RealmRow>(conn)?
        .into_models()
}

pub fn insert(conn: &mut Conn, realm: &Realm) -> Result<(), StoreError> {
    diesel::insert_into(realms::table)
        .values(RealmRow::from_model(realm))
        .execute(conn)
        .map_err(|e| {
            crate::db::conflict_as(e, || format!("realm {} already exists", realm.name))
        })?;
    Ok(())
}
