//! Rows as stored, private to the store. Every column is a type both backends share: lists
//! are space-separated text (scopes, grant types, permissions) or JSON text (redirect URIs),
//! enums are their spelling. Loading parses a row into its `tessera_core::model` type (a value
//! that does not parse is a [`StoreError`], never a panic); writing formats it back.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use tessera_core::ScopeSet;
use tessera_core::client::ClientSettings;
use tessera_core::model::*;

use crate::error::StoreError;
use crate::schema::*;

/// How a model field is written to its column and read back from it.
pub(crate) trait Stored<Column>: Sized {
    fn to_stored(&self) -> Column;
    fn from_stored(column: Column) -> Result<Self, StoreError>;
}

/// Columns stored as they are.
impl<T: Clone> Stored<T> for T {
    fn to_stored(&self) -> T {
        self.clone()
    }

    fn from_stored(column: T) -> Result<Self, StoreError> {
        Ok(column)
    }
}

/// A stored value the model refuses: the row was written by something else, or is damaged.
fn unreadable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Database(DieselError::DeserializationError(Box::new(e)))
}

/// Enums are stored as their spelling.
macro_rules! stored_as_spelling {
    ($($ty:ty),+) => {$(
        impl Stored<String> for $ty {
            fn to_stored(&self) -> String {
                self.as_str().to_string()
            }

            fn from_stored(column: String) -> Result<Self, StoreError> {
                column.parse().map_err(unreadable)
            }
        }
    )+};
}

stored_as_spelling!(KeyKind, KeyType, KeyStatus, Effect, SubjectType);

impl Stored<String> for GrantTypes {
    fn to_stored(&self) -> String {
        self.to_string()
    }

    fn from_stored(column: String) -> Result<Self, StoreError> {
        GrantTypes::parse(&column).map_err(unreadable)
    }
}

impl Stored<String> for PermissionList {
    fn to_stored(&self) -> String {
        self.to_string()
    }

    fn from_stored(column: String) -> Result<Self, StoreError> {
        Ok(PermissionList::from_stored(&column))
    }
}

impl Stored<String> for ScopeSet {
    fn to_stored(&self) -> String {
        self.to_string()
    }

    fn from_stored(column: String) -> Result<Self, StoreError> {
        Ok(ScopeSet::from_stored(&column))
    }
}

/// Redirect URIs: a JSON array. Read as leniently as before (anything else is no URIs).
impl Stored<String> for Vec<String> {
    fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "[]".into())
    }

    fn from_stored(column: String) -> Result<Self, StoreError> {
        Ok(serde_json::from_str(&column).unwrap_or_default())
    }
}

impl Stored<String> for ClientSettings {
    fn to_stored(&self) -> String {
        ClientSettings::to_stored(self)
    }

    fn from_stored(column: String) -> Result<Self, StoreError> {
        Ok(ClientSettings::from_stored(&column))
    }
}

/// A loaded row that becomes a model.
pub(crate) trait IntoModel {
    type Model;
    fn into_model(self) -> Result<Self::Model, StoreError>;
}

/// Loaded rows (a list, or at most one) into their models.
pub(crate) trait IntoModels {
    type Models;
    fn into_models(self) -> Result<Self::Models, StoreError>;
}

impl<R: IntoModel> IntoModels for Vec<R> {
    type Models = Vec<R::Model>;

    fn into_models(self) -> Result<Self::Models, StoreError> {
        self.into_iter().map(IntoModel::into_model).collect()
    }
}

impl<R: IntoModel> IntoModels for Option<R> {
    type Models = Option<R::Model>;

    fn into_models(self) -> Result<Self::Models, StoreError> {
        self.map(IntoModel::into_model).transpose()
    }
}

/// Declares `$vis fn $name(conn, $column: &str, …)`: the one row of `$table` whose columns
/// equal the arguments, parsed into its model (`None` when there is none). Point lookups are
/// the one query every entity repeats; this keeps each to one line.
macro_rules! find_one {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($table:ident: $($column:ident),+) -> $row:ident as $model:ty) => {
        $(#[$doc])*
        $vis fn $name(
            conn: &mut $crate::db::DbConnection,
            $($column: &str),+
        ) -> Result<Option<$model>, $crate::error::StoreError> {
            use diesel::prelude::*;
            use $crate::rows::IntoModels as _;
            $crate::schema::$table::table
                $(.filter($crate::schema::$table::$column.eq($column)))+
                .select(<$row>::as_select())
                .first::<$row>(conn)
                .optional()?
                .into_models()
        }
    };
}
pub(crate) use find_one;

/// Declares `$vis fn $name(conn, realm_id)`: every row of `$table` in the realm, ordered by
/// `$order`, parsed into their models.
macro_rules! all_in_realm {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($table:ident by $order:ident) -> $row:ident as $model:ty) => {
        $(#[$doc])*
        $vis fn $name(
            conn: &mut $crate::db::DbConnection,
            realm_id: &str,
        ) -> Result<Vec<$model>, $crate::error::StoreError> {
            use diesel::prelude::*;
            use $crate::rows::IntoModels as _;
            $crate::schema::$table::table
                .filter($crate::schema::$table::realm_id.eq(realm_id))
                .order($crate::schema::$table::$order)
                .select(<$row>::as_select())
                .load::<$row>(conn)?
                .into_models()
        }
    };
}
pub(crate) use all_in_realm;

/// Declares `$vis fn $name(conn, &model)`: inserts the model's row into `$table`; a unique
/// violation is a conflict naming `$what` and the model's `$key` ("role admin already exists").
macro_rules! insert_one {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($table:ident, $row:ident from $model:ty), taken: $what:literal $key:ident) => {
        $(#[$doc])*
        $vis fn $name(
            conn: &mut $crate::db::DbConnection,
            model: &$model,
        ) -> Result<(), $crate::error::StoreError> {
            use diesel::prelude::*;
            diesel::insert_into($crate::schema::$table::table)
                .values(<$row>::from_model(model))
                .execute(conn)
                .map_err(|e| {
                    $crate::db::conflict_as(e, || format!("{} {} already exists", $what, model.$key))
                })?;
            Ok(())
        }
    };
}
pub(crate) use insert_one;

/// Declares `$vis fn $name(conn, id, description, now)`: sets the description of the row of
/// `$table` with that id, and its `updated_at`.
macro_rules! set_description {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($table:ident)) => {
        $(#[$doc])*
        $vis fn $name(
            conn: &mut $crate::db::DbConnection,
            id: &str,
            description: &str,
            now: i64,
        ) -> Result<(), $crate::error::StoreError> {
            use diesel::prelude::*;
            use $crate::schema::$table;
            diesel::update($table::table.filter($table::id.eq(id)))
                .set(($table::description.eq(description), $table::updated_at.eq(now)))
                .execute(conn)?;
            Ok(())
        }
    };
}
pub(crate) use set_description;

/// A boxed query for one page of the realm's rows of `$table`, in `$key` order after the key
/// `after` (keyset paging), at most `limit` rows; the caller adds its filters and loads it.
macro_rules! page_in_realm {
    ($table:ident by $key:ident as $row:ty, $realm_id:expr, $after:expr, $limit:expr) => {{
        let mut query = $crate::schema::$table::table
            .filter($crate::schema::$table::realm_id.eq($realm_id))
            .select(<$row>::as_select())
            .order($crate::schema::$table::$key)
            .limit($limit)
            .into_boxed();
        if let Some(after) = $after {
            query = query.filter($crate::schema::$table::$key.gt(after.to_string()));
        }
        query
    }};
}
pub(crate) use page_in_realm;

/// Declares each row struct (fields in table order: plain `load`s read by position) with its
/// conversions from and to the model of the same fields.
macro_rules! rows {
    ($(
        $row:ident($table:ident) <-> $model:ident {
            $($field:ident: $column:ty),+ $(,)?
        }
    )+) => {$(
        #[derive(Debug, Clone, Queryable, Selectable, Insertable)]
        #[diesel(table_name = $table)]
        pub(crate) struct $row {
            $(pub(crate) $field: $column,)+
        }

        impl $row {
            pub(crate) fn from_model(model: &$model) -> Self {
                Self {
                    $($field: Stored::<$column>::to_stored(&model.$field),)+
                }
            }
        }

        impl IntoModel for $row {
            type Model = $model;

            fn into_model(self) -> Result<$model, StoreError> {
                Ok($model {
                    $($field: Stored::from_stored(self.$field)?,)+
                })
            }
        }
    )+};
}

rows! {
    TotpCredentialRow(totp_credentials) <-> TotpCredential {
        user_id: String,
        realm_id: String,
        secret: String,
        confirmed_at: Option<i64>,
        last_step: i64,
        created_at: i64,
    }

    StoredPasskeyRow(passkeys) <-> StoredPasskey {
        id: String,
        realm_id: String,
        user_id: String,
        credential_id: String,
        name: String,
        passkey: String,
        created_at: i64,
        last_used_at: Option<i64>,
    }

    WebauthnChallengeRow(webauthn_challenges) <-> WebauthnChallenge {
        id_sha256: String,
        realm_id: String,
        user_id: Option<String>,
        purpose: String,
        state: String,
        expires_at: i64,
        created_at: i64,
    }

    PasswordResetRow(password_resets) <-> PasswordReset {
        token_sha256: String,
        realm_id: String,
        user_id: String,
        created_by: String,
        expires_at: i64,
        used_at: Option<i64>,
        created_at: i64,
    }

    BrowserSessionRow(browser_sessions) <-> BrowserSession {
        id_sha256: String,
        realm_id: String,
        user_id: String,
        auth_time: i64,
        last_seen_at: i64,
        expires_at: i64,
        ended_at: Option<i64>,
        created_at: i64,
        amr: String,
        pending: Option<String>,
    }

    AuthorizationCodeRow(authorization_codes) <-> AuthorizationCode {
        code_sha256: String,
        realm_id: String,
        client_id: String,
        user_id: String,
        session_id_sha256: Option<String>,
        redirect_uri: String,
        scope: String,
        nonce: Option<String>,
        code_challenge: Option<String>,
        code_challenge_method: Option<String>,
        auth_time: i64,
        grant_id: String,
        expires_at: i64,
        consumed_at: Option<i64>,
        created_at: i64,
        amr: String,
    }

    RefreshTokenRow(refresh_tokens) <-> RefreshToken {
        token_sha256: String,
        realm_id: String,
        family_id: String,
        client_id: String,
        user_id: String,
        scope: String,
        session_id_sha256: Option<String>,
        auth_time: i64,
        expires_at: i64,
        family_expires_at: i64,
        rotated_at: Option<i64>,
        revoked_at: Option<i64>,
        created_at: i64,
        amr: String,
    }

    RealmRow(realms) <-> Realm {
        id: String,
        name: String,
        display_name: String,
        created_at: i64,
        updated_at: i64,
        mfa_required: bool,
    }

    UserRow(users) <-> User {
        id: String,
        realm_id: String,
        username: String,
        email: Option<String>,
        email_verified: bool,
        given_name: Option<String>,
        family_name: Option<String>,
        password_hash: Option<String>,
        enabled: bool,
        is_service_account: bool,
        persona: String,
        options: String,
        digest_settings: String,
        login_count: i64,
        failed_login_count: i64,
        last_login_at: Option<i64>,
        created_at: i64,
        updated_at: i64,
        display_name: Option<String>,
        username_key: Option<String>,
        username_skeleton: Option<String>,
        password_change_required: bool,
    }

    ClientRow(clients) <-> Client {
        id: String,
        realm_id: String,
        client_id: String,
        name: String,
        confidential: bool,
        secret_sha256: Option<String>,
        grant_types: String,
        allowed_scopes: String,
        default_scopes: String,
        redirect_uris: String,
        post_logout_redirect_uris: String,
        first_party: bool,
        service_account_user_id: Option<String>,
        enabled: bool,
        created_at: i64,
        updated_at: i64,
        settings: String,
    }

    TeamRow(teams) <-> Team {
        id: String,
        realm_id: String,
        name: String,
        description: String,
        is_root: bool,
        policy_type: String,
        sso_alias: String,
        providers: String,
        created_at: i64,
        updated_at: i64,
        provider_types: String,
    }

    RoleRow(roles) <-> Role {
        id: String,
        realm_id: String,
        name: String,
        description: String,
        permissions: String,
        builtin: bool,
        created_at: i64,
        updated_at: i64,
        requires_mfa: bool,
    }

    TeamMembershipRow(team_memberships) <-> TeamMembership {
        team_id: String,
        user_id: String,
        role_id: String,
        realm_id: String,
        created_at: i64,
    }

    ScopeRow(scopes) <-> Scope {
        id: String,
        realm_id: String,
        name: String,
        description: String,
        created_at: i64,
        updated_at: i64,
    }

    AuditEventRow(audit_events) <-> AuditEvent {
        id: String,
        realm_id: String,
        actor: String,
        action: String,
        target: String,
        source_addr: String,
        outcome: String,
        detail: String,
        created_at: i64,
    }

    ApiKeyRow(api_keys) <-> ApiKey {
        id: String,
        realm_id: String,
        kind: String,
        key_type: String,
        name: String,
        prefix: String,
        secret_sha256: String,
        last_four: String,
        team_id: Option<String>,
        owner_user_id: Option<String>,
        role_id: Option<String>,
        scopes: String,
        status: String,
        expires_at: Option<i64>,
        last_access_at: Option<i64>,
        created_by: String,
        updated_by: String,
        created_at: i64,
        updated_at: i64,
    }

    PolicyRow(policies) <-> Policy {
        id: String,
        realm_id: String,
        name: String,
        description: String,
        effect: String,
        permissions: String,
        subject_type: String,
        subject_id: String,
        enabled: bool,
        created_at: i64,
        updated_at: i64,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_unknown_stored_value_is_an_error_not_a_panic() {
        assert!(matches!(
            KeyStatus::from_stored("REVOKED".to_string()),
            Err(StoreError::Database(DieselError::DeserializationError(_)))
        ));
        assert_eq!(
            KeyStatus::from_stored("INACTIVE".to_string()).unwrap(),
            KeyStatus::Inactive
        );
        assert_eq!(Stored::<String>::to_stored(&Effect::Deny), "deny");
    }

    #[test]
    fn lists_are_written_space_separated_and_read_with_either_separator() {
        let grants = GrantTypes::from_stored("password,refresh_token".to_string()).unwrap();
        assert_eq!(
            Stored::<String>::to_stored(&grants),
            "password refresh_token"
        );
        let uris = vec!["https://a.example/cb".to_string()];
        let stored: String = uris.to_stored();
        assert_eq!(stored, r#"["https://a.example/cb"]"#);
        assert_eq!(Vec::<String>::from_stored(stored).unwrap(), uris);
    }
}
