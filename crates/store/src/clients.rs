//! OAuth clients of a realm: registration, secrets and listing.

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::rows::*;
use crate::schema::*;
use diesel::prelude::*;
use tessera_core::ValidationError;
use tessera_core::import::ClientSpec;
use tessera_core::model::*;

type Conn = DbConnection;

find_one!(pub fn by_client_id(clients: realm_id, client_id) -> ClientRow as Client);

all_in_realm!(pub fn all_in_realm(clients by client_id) -> ClientRow as Client);

insert_one!(pub fn insert(clients, ClientRow from Client), taken: "client" client_id);

/// Every origin some enabled client allows (CORS preflights, which name no client).
pub fn all_web_origins(conn: &mut Conn) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String, String)> = clients::table
        .filter(clients::enabled.eq(true))
        .filter(clients::settings.like("%web_origins%"))
        .select((clients::settings, clients::redirect_uris))
        .load(conn)?;
    let mut origins: Vec<String> = rows
        .iter()
        .flat_map(|(settings, redirects)| {
            let redirects: Vec<String> = serde_json::from_str(redirects).unwrap_or_default();
            tessera_core::client::ClientSettings::from_stored(settings).origins(&redirects)
        })
        .collect();
    origins.sort();
    origins.dedup();
    Ok(origins)
}

/// Replaces the registration (everything but ids, secret and creation time).
pub fn update_registration(conn: &mut Conn, c: &Client) -> Result<(), StoreError> {
    let row = ClientRow::from_model(c);
    diesel::update(clients::table.filter(clients::id.eq(&row.id)))
        .set((
            clients::name.eq(&row.name),
            clients::confidential.eq(c.confidential),
            clients::grant_types.eq(&row.grant_types),
            clients::allowed_scopes.eq(&row.allowed_scopes),
            clients::default_scopes.eq(&row.default_scopes),
            clients::redirect_uris.eq(&row.redirect_uris),
            clients::post_logout_redirect_uris.eq(&row.post_logout_redirect_uris),
            clients::first_party.eq(c.first_party),
            clients::service_account_user_id.eq(&row.service_account_user_id),
            clients::enabled.eq(c.enabled),
            clients::updated_at.eq(c.updated_at),
            clients::settings.eq(&row.settings),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_secret(
    conn: &mut Conn,
    id: &str,
    secret_sha256: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(clients::table.filter(clients::id.eq(id)))
        .set((
            clients::secret_sha256.eq(secret_sha256),
            clients::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Client ids whose service account is this user.
pub fn served_by(conn: &mut Conn, user_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(clients::table
        .filter(clients::service_account_user_id.eq(user_id))
        .select(clients::client_id)
        .order(clients::client_id)
        .load(conn)?)
}

/// Clients of the realm ordered by `client_id`, after `after`.
pub fn list(
    conn: &mut Conn,
    realm_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Client>, StoreError> {
    page_in_realm!(clients by client_id as ClientRow, realm_id, after, limit)
        .load::<ClientRow>(conn)?
        .into_models()
}

/// Rewrites a client's registration from a validated spec (its `client_id` and kind must be
/// the client's own). Every scope must be defined; a client that gains `client_credentials`
/// gets its service account. Returns the client as stored.
pub fn update(
    conn: &mut Conn,
    existing: &Client,
    spec: &ClientSpec,
    enabled: bool,
    now: i64,
) -> Result<Client, StoreError> {
    spec.validate()?;
    if let Some(name) = crate::scopes::first_undefined(conn, &existing.realm_id, &spec.scopes)? {
        return Err(ValidationError::new(
            "scopes",
            format!("scope {name:?} is not defined in this realm; define it first"),
        )
        .into());
    }
    let mut client = Client {
        enabled,
        updated_at: now,
        ..existing.clone()
    };
    crate::provision::apply_client_spec(conn, &mut client, spec, now)?;
    update_registration(conn, &client)?;
    Ok(client)
}

/// Deletes a client and its service account (so tokens minted for it stop authenticating at
/// the resource server at once).
pub fn delete(conn: &mut Conn, client: &Client) -> Result<(), StoreError> {
    diesel::delete(clients::table.filter(clients::id.eq(&client.id))).execute(conn)?;
    if let Some(user_id) = &client.service_account_user_id {
        diesel::delete(
            users::table
                .filter(users::id.eq(user_id))
                .filter(users::is_service_account.eq(true)),
        )
        .execute(conn)?;
    }
    Ok(())
}
