//! The scopes a user has consented to per client.

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::schema::*;
use diesel::prelude::*;

type Conn = DbConnection;

/// The scopes the user already allowed the client, if any.
pub fn of_user(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    client_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(consents::table
        .find((realm_id, user_id, client_id))
        .select(consents::scopes)
        .first(conn)
        .optional()?)
}

pub fn save(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    client_id: &str,
    scopes: &str,
    now: i64,
) -> Result<(), StoreError> {
    crate::db::write_tx(conn, |conn| {
        diesel::delete(consents::table.find((realm_id, user_id, client_id))).execute(conn)?;
        diesel::insert_into(consents::table)
            .values((
                consents::realm_id.eq(realm_id),
                consents::user_id.eq(user_id),
                consents::client_id.eq(client_id),
                consents::scopes.eq(scopes),
                consents::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    })
}
