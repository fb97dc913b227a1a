//! Realms: the tenant every other row belongs to.

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::rows::*;
use crate::schema::*;
use diesel::prelude::*;
use tessera_core::model::*;

type Conn = DbConnection;

find_one!(pub fn by_name(realms: name) -> RealmRow as Realm);

find_one!(pub fn by_id(realms: id) -> RealmRow as Realm);

pub fn list(conn: &mut Conn) -> Result<Vec<Realm>, StoreError> {
    realms::table
        .order(realms::name)
        .select(RealmRow::as_select())
        .load::<RealmRow>(conn)?
        .into_models()
}

insert_one!(pub fn insert(realms, RealmRow from Realm), taken: "realm" name);
