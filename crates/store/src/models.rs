//! Rows as stored. Lists are space-separated text (scopes, grant types) or JSON text
//! (redirect URIs), so every column is a type both backends share.

use diesel::prelude::*;
use tessera_core::ScopeSet;

use crate::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = realms)]
pub struct Realm {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Every user must sign in with a second factor.
    pub mfa_required: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub realm_id: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub password_hash: Option<String>,
    pub enabled: bool,
    pub is_service_account: bool,
    pub persona: String,
    pub options: String,
    pub digest_settings: String,
    pub login_count: i64,
    pub failed_login_count: i64,
    pub last_login_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub display_name: Option<String>,
    /// The username rule's lookup key (`tessera_core::username`); `None` only for rows from
    /// before the rule that collide with an earlier name.
    pub username_key: Option<String>,
    /// The confusable skeleton of `username_key`, unique per realm.
    pub username_skeleton: Option<String>,
    /// A temporary password was set: the next sign-in must choose a new one.
    pub password_change_required: bool,
}

impl User {
    /// A new enabled user with defaults for everything but the name. The name is a checked
    /// [`Username`](tessera_core::username::Username), so no insert can skip the rule or
    /// leave the key columns empty.
    pub fn new(realm_id: &str, username: &tessera_core::username::Username, now: i64) -> Self {
        Self {
            id: tessera_core::id::new_uuid(),
            realm_id: realm_id.to_string(),
            username: username.as_str().to_string(),
            email: None,
            email_verified: false,
            given_name: None,
            family_name: None,
            password_hash: None,
            enabled: true,
            is_service_account: false,
            persona: String::new(),
            options: "{}".into(),
            digest_settings: "{}".into(),
            login_count: 0,
            failed_login_count: 0,
            last_login_at: None,
            created_at: now,
            updated_at: now,
            display_name: None,
            username_key: Some(username.key().to_string()),
            username_skeleton: Some(username.skeleton().to_string()),
            password_change_required: false,
        }
    }

    /// Renames the user: the stored form and both keys change together.
    pub fn set_username(&mut self, username: &tessera_core::username::Username) {
        self.username = username.as_str().to_string();
        self.username_key = Some(username.key().to_string());
        self.username_skeleton = Some(username.skeleton().to_string());
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = clients)]
pub struct Client {
    pub id: String,
    pub realm_id: String,
    pub client_id: String,
    pub name: String,
    pub confidential: bool,
    pub secret_sha256: Option<String>,
    pub grant_types: String,
    pub allowed_scopes: String,
    pub default_scopes: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub first_party: bool,
    pub service_account_user_id: Option<String>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// JSON of [`tessera_core::client::ClientSettings`].
    pub settings: String,
}

impl Client {
    pub fn settings(&self) -> tessera_core::client::ClientSettings {
        tessera_core::client::ClientSettings::from_stored(&self.settings)
    }

    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.split(' ').any(|g| g == grant_type)
    }

    pub fn allowed_scopes(&self) -> ScopeSet {
        ScopeSet::from_stored(&self.allowed_scopes)
    }

    pub fn default_scopes(&self) -> ScopeSet {
        ScopeSet::from_stored(&self.default_scopes)
    }

    pub fn redirect_uris(&self) -> Vec<String> {
        serde_json::from_str(&self.redirect_uris).unwrap_or_default()
    }

    pub fn post_logout_redirect_uris(&self) -> Vec<String> {
        serde_json::from_str(&self.post_logout_redirect_uris).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = teams)]
pub struct Team {
    pub id: String,
    pub realm_id: String,
    pub name: String,
    pub description: String,
    pub is_root: bool,
    pub policy_type: String,
    pub sso_alias: String,
    pub providers: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// JSON array of provider type codes (seed 004).
    pub provider_types: String,
}

impl Team {
    pub fn new(realm_id: &str, name: &str, description: &str, is_root: bool, now: i64) -> Self {
        Self {
            id: tessera_core::id::new_uuid(),
            realm_id: realm_id.into(),
            name: name.into(),
            description: description.into(),
            is_root,
            policy_type: String::new(),
            sso_alias: String::new(),
            providers: "[]".into(),
            created_at: now,
            updated_at: now,
            provider_types: "[]".into(),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = roles)]
pub struct Role {
    pub id: String,
    pub realm_id: String,
    pub name: String,
    pub description: String,
    pub permissions: String,
    pub builtin: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Holders of this role (in any team) must sign in with a second factor.
    pub requires_mfa: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = team_memberships)]
pub struct TeamMembership {
    pub team_id: String,
    pub user_id: String,
    pub role_id: String,
    pub realm_id: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = scopes)]
pub struct Scope {
    pub id: String,
    pub realm_id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_throttle)]
pub struct ThrottleEntry {
    pub realm_id: String,
    pub throttle_key: String,
    pub failures: i64,
    pub window_started_at: i64,
    pub locked_until: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: String,
    pub realm_id: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub source_addr: String,
    pub outcome: String,
    pub detail: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: String,
    pub realm_id: String,
    /// `personal` or `team`.
    pub kind: String,
    /// `sk` or `pk`.
    pub key_type: String,
    pub name: String,
    pub prefix: String,
    pub secret_sha256: String,
    pub last_four: String,
    pub team_id: Option<String>,
    pub owner_user_id: Option<String>,
    pub role_id: Option<String>,
    pub scopes: String,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    pub expires_at: Option<i64>,
    pub last_access_at: Option<i64>,
    pub created_by: String,
    pub updated_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = policies)]
pub struct Policy {
    pub id: String,
    pub realm_id: String,
    pub name: String,
    pub description: String,
    /// `allow` or `deny`.
    pub effect: String,
    pub permissions: String,
    /// `user`, `role` or `team`.
    pub subject_type: String,
    pub subject_id: String,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}
