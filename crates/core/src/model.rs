//! The domain records every crate shares (realms, users, clients, teams, roles, policies, API
//! keys...), with typed fields where the database stores text: a key's kind and status, a
//! policy's effect and subject, a client's grant types and lists. The store parses its rows
//! into these once, at its boundary, so no caller compares a field against a string literal or
//! splits a stored list itself.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::client::ClientSettings;
use crate::error::ValidationError;
use crate::scope::ScopeSet;
use crate::username::Username;

/// Declares a closed set of values with one spelling each, used both in storage and on the
/// wire: `as_str`, `FromStr` (the error names the allowed values), `Display` and serde.
macro_rules! spelled_enum {
    (
        $(#[$meta:meta])*
        $name:ident as $field:literal {
            $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            /// Every spelling, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            /// The spelling stored in the database and sent on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire),+
                }
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok(Self::$variant),)+
                    other => Err(unknown_value($field, other, Self::NAMES)),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

fn unknown_value(field: &str, value: &str, allowed: &[&str]) -> ValidationError {
    ValidationError::new(
        field,
        format!(
            "{value:?} is not allowed; use one of {}",
            allowed.join(", ")
        ),
    )
}

spelled_enum! {
    /// Whose key it is: one user's (`/api/v1/apikeys`) or a team's (`/api/preview/teamkeys`).
    KeyKind as "kind" {
        Personal = "personal",
        Team = "team",
    }
}

spelled_enum! {
    /// A key's type: secret (`sk`) or public (`pk`).
    KeyType as "type" {
        Secret = "sk",
        Public = "pk",
    }
}

spelled_enum! {
    /// Whether a key may authenticate (it must also not be expired).
    KeyStatus as "status" {
        Active = "ACTIVE",
        Inactive = "INACTIVE",
    }
}

impl KeyStatus {
    /// `Active` when `enabled`, else `Inactive`.
    pub fn enabled(enabled: bool) -> Self {
        if enabled {
            Self::Active
        } else {
            Self::Inactive
        }
    }
}

spelled_enum! {
    /// What a policy does to its permissions: adds them, or takes them away (a deny wins).
    Effect as "effect" {
        Allow = "allow",
        Deny = "deny",
    }
}

spelled_enum! {
    /// What a policy applies to.
    SubjectType as "subject_type" {
        User = "user",
        Role = "role",
        Team = "team",
    }
}

spelled_enum! {
    /// The grant types a client may be registered for; the token endpoint implements each.
    GrantType as "grant_types" {
        AuthorizationCode = "authorization_code",
        ClientCredentials = "client_credentials",
        Password = "password",
        RefreshToken = "refresh_token",
        /// RFC 8693, used to trade an API key for an access token.
        TokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange",
    }
}

/// Writes names space-separated, the stored form of every list.
fn write_spaced<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: impl IntoIterator<Item = T>,
) -> fmt::Result {
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// A client's grant types in registration order (the order the API returns them in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantTypes(Vec<GrantType>);

impl GrantTypes {
    /// Parses names separated by spaces and/or commas; an unknown name is an error.
    pub fn parse(stored: &str) -> Result<Self, ValidationError> {
        crate::permission::split_list(stored)
            .map(str::parse)
            .collect()
    }

    /// Parses names given one by one (an API body or an import file).
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, ValidationError> {
        names.iter().map(|n| n.as_ref().parse()).collect()
    }

    pub fn contains(&self, grant: GrantType) -> bool {
        self.0.contains(&grant)
    }

    pub fn iter(&self) -> impl Iterator<Item = GrantType> + '_ {
        self.0.iter().copied()
    }

    /// The spellings, in order.
    pub fn names(&self) -> Vec<String> {
        self.iter().map(|g| g.as_str().to_string()).collect()
    }
}

impl FromIterator<GrantType> for GrantTypes {
    fn from_iter<I: IntoIterator<Item = GrantType>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for GrantTypes {
    /// Space-separated, as stored.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_spaced(f, &self.0)
    }
}

/// Permission names (a role's, a policy's, an API key's scopes) in the order they were
/// written: built-in roles list theirs in catalog order, and the API returns that order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionList(Vec<String>);

impl PermissionList {
    /// Parses a stored list: names separated by spaces and/or commas.
    pub fn from_stored(stored: &str) -> Self {
        crate::permission::split_list(stored)
            .map(str::to_string)
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The names, in order.
    pub fn to_vec(&self) -> Vec<String> {
        self.0.clone()
    }

    /// The names as a set, for set arithmetic with other grants.
    pub fn to_set(&self) -> std::collections::BTreeSet<String> {
        self.0.iter().cloned().collect()
    }
}

impl<S: Into<String>> FromIterator<S> for PermissionList {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Self(iter.into_iter().map(Into::into).collect())
    }
}

impl fmt::Display for PermissionList {
    /// Space-separated, as stored.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_spaced(f, &self.0)
    }
}

/// A realm: an isolated set of users, clients, teams and keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Realm {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Every user must sign in with a second factor.
    pub mfa_required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The username rule's lookup key (`crate::username`); `None` only for rows from
    /// before the rule that collide with an earlier name.
    pub username_key: Option<String>,
    /// The confusable skeleton of `username_key`, unique per realm.
    pub username_skeleton: Option<String>,
    /// A temporary password was set: the next sign-in must choose a new one.
    pub password_change_required: bool,
}

impl User {
    /// A new enabled user with defaults for everything but the name. The name is a checked
    /// [`Username`], so no insert can skip the rule or leave the key columns empty.
    pub fn new(realm_id: &str, username: &Username, now: i64) -> Self {
        Self {
            id: crate::id::new_uuid(),
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
    pub fn set_username(&mut self, username: &Username) {
        self.username = username.as_str().to_string();
        self.username_key = Some(username.key().to_string());
        self.username_skeleton = Some(username.skeleton().to_string());
    }
}

/// An OAuth client's registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    pub realm_id: String,
    pub client_id: String,
    pub name: String,
    pub confidential: bool,
    pub secret_sha256: Option<String>,
    pub grant_types: GrantTypes,
    pub allowed_scopes: ScopeSet,
    pub default_scopes: ScopeSet,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub first_party: bool,
    pub service_account_user_id: Option<String>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub settings: ClientSettings,
}

impl Client {
    /// Whether the client is registered for `grant`.
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(grant)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
            id: crate::id::new_uuid(),
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: String,
    pub realm_id: String,
    pub name: String,
    pub description: String,
    pub permissions: PermissionList,
    pub builtin: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Holders of this role (in any team) must sign in with a second factor.
    pub requires_mfa: bool,
}

/// A user holds a role in a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMembership {
    pub team_id: String,
    pub user_id: String,
    pub role_id: String,
    pub realm_id: String,
    pub created_at: i64,
}

/// A scope a realm defines beyond the permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub id: String,
    pub realm_id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub realm_id: String,
    pub kind: KeyKind,
    pub key_type: KeyType,
    pub name: String,
    pub prefix: String,
    pub secret_sha256: String,
    pub last_four: String,
    pub team_id: Option<String>,
    pub owner_user_id: Option<String>,
    pub role_id: Option<String>,
    pub scopes: PermissionList,
    pub status: KeyStatus,
    pub expires_at: Option<i64>,
    pub last_access_at: Option<i64>,
    pub created_by: String,
    pub updated_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ApiKey {
    /// Whether the key authenticates at `now`: active and not expired.
    pub fn usable_at(&self, now: i64) -> bool {
        self.status == KeyStatus::Active && self.expires_at.is_none_or(|e| e > now)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub id: String,
    pub realm_id: String,
    pub name: String,
    pub description: String,
    pub effect: Effect,
    pub permissions: PermissionList,
    pub subject_type: SubjectType,
    pub subject_id: String,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

// ---- accounts: second factors and password resets ----

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpCredential {
    pub user_id: String,
    pub realm_id: String,
    /// Base32 (RFC 4648, no padding), as the authenticator app was given it.
    pub secret: String,
    /// `None` while the user has not yet proven the app works.
    pub confirmed_at: Option<i64>,
    /// The last time step accepted (RFC 6238 §5.2: a code is accepted once).
    pub last_step: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    pub id: String,
    pub realm_id: String,
    pub user_id: String,
    /// base64url of the WebAuthn credential id.
    pub credential_id: String,
    pub name: String,
    /// webauthn-rs `Passkey`, JSON.
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnChallenge {
    pub id_sha256: String,
    pub realm_id: String,
    pub user_id: Option<String>,
    /// `register`, `second-factor` or `passwordless`.
    pub purpose: String,
    /// The webauthn-rs ceremony state, JSON.
    pub state: String,
    pub expires_at: i64,
    pub created_at: i64,
}

/// A password-reset link as stored: only the SHA-256 of its token, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordReset {
    pub token_sha256: String,
    pub realm_id: String,
    pub user_id: String,
    /// Who made the link, as the audit log names actors (`user:<id>`).
    pub created_by: String,
    pub expires_at: i64,
    /// When the link was redeemed, or superseded by a newer link or another password change.
    pub used_at: Option<i64>,
    pub created_at: i64,
}

// ---- protocol state: what a sign-in and its grants leave behind ----

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    pub id_sha256: String,
    pub realm_id: String,
    pub user_id: String,
    pub auth_time: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    pub created_at: i64,
    /// How the sign-in was proven: RFC 8176 `amr` values, space-separated.
    pub amr: String,
    /// The step a half-finished sign-in waits for; such a session authorises nothing.
    pub pending: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_sha256: String,
    pub realm_id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id_sha256: Option<String>,
    /// The `redirect_uri` parameter as sent, or empty when the request omitted it.
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub auth_time: i64,
    pub grant_id: String,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub created_at: i64,
    /// How the sign-in was proven: RFC 8176 `amr` values, space-separated.
    pub amr: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_sha256: String,
    pub realm_id: String,
    /// The grant: the authorization code's grant id, shared by every rotation.
    pub family_id: String,
    /// The OAuth `client_id`.
    pub client_id: String,
    pub user_id: String,
    /// The scope of the original grant; a refresh may narrow the access token, never this.
    pub scope: String,
    pub session_id_sha256: Option<String>,
    pub auth_time: i64,
    pub expires_at: i64,
    pub family_expires_at: i64,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
    /// How the sign-in was proven: RFC 8176 `amr` values, space-separated.
    pub amr: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn spellings_round_trip_and_unknown_values_name_the_allowed_ones() {
        for s in KeyStatus::ALL {
            assert_eq!(s.as_str().parse::<KeyStatus>().unwrap(), *s);
        }
        assert_eq!(KeyStatus::Active.as_str(), "ACTIVE");
        assert_eq!(KeyKind::Team.to_string(), "team");
        let err = "maybe".parse::<Effect>().unwrap_err();
        assert_eq!(err.field, "effect");
        assert!(err.message.contains("allow, deny"), "{}", err.message);
        assert!("active".parse::<KeyStatus>().is_err());
    }

    #[test]
    fn serde_uses_the_wire_spelling() {
        assert_eq!(
            serde_json::to_string(&SubjectType::Role).unwrap(),
            "\"role\""
        );
        let g: GrantType =
            serde_json::from_str("\"urn:ietf:params:oauth:grant-type:token-exchange\"").unwrap();
        assert_eq!(g, GrantType::TokenExchange);
        assert!(serde_json::from_str::<KeyType>("\"xx\"").is_err());
    }

    #[test]
    fn lists_keep_order_accept_both_separators_and_store_spaced() {
        let g = GrantTypes::parse("refresh_token,password authorization_code").unwrap();
        assert_eq!(g.to_string(), "refresh_token password authorization_code");
        assert!(g.contains(GrantType::Password));
        assert!(!g.contains(GrantType::ClientCredentials));
        assert_eq!(
            GrantTypes::parse("implicit").unwrap_err().field,
            "grant_types"
        );
        let p = PermissionList::from_stored("user:read,api_key:read  team:read");
        assert_eq!(p.to_vec(), vec!["user:read", "api_key:read", "team:read"]);
        assert_eq!(p.to_string(), "user:read api_key:read team:read");
        assert!(PermissionList::from_stored("").is_empty());
    }
}
