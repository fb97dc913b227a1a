//! The declarative realm file read by `tessera import`: what a realm should contain.
//! Entities are matched by name, so importing the same file twice changes nothing.

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::names;
use crate::scope::validate_scope_name;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RealmImport {
    pub realm: RealmSpec,
    #[serde(default)]
    pub scopes: Vec<ScopeSpec>,
    #[serde(default)]
    pub roles: Vec<RoleSpec>,
    #[serde(default)]
    pub teams: Vec<TeamSpec>,
    #[serde(default)]
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub clients: Vec<ClientSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RealmSpec {
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Every user must sign in with a second factor (left as it is when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_required: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScopeSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub permissions: Vec<String>,
    /// Holders must sign in with a second factor.
    #[serde(default, skip_serializing_if = "is_false")]
    pub requires_mfa: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TeamSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MembershipSpec {
    pub team: String,
    pub role: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    /// Applied when the user is created; an existing user keeps their password.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub teams: Vec<MembershipSpec>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    Confidential,
    Public,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub client_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "type", default = "confidential")]
    pub kind: ClientKind,
    /// A fixed secret for reproducible setups. Without it a confidential client gets a
    /// generated secret, printed once when the client is created.
    #[serde(default)]
    pub secret: Option<String>,
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Granted when a request names no scope; defaults to `scopes`.
    #[serde(default)]
    pub default_scopes: Option<Vec<String>>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards (exact match).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub first_party: bool,
    /// Browser origins that may call the token, userinfo and REST endpoints from script (CORS);
    /// `+` adds the redirect URIs' origins ([`crate::client::ClientSettings`]).
    #[serde(default)]
    pub web_origins: Vec<String>,
    #[serde(default)]
    pub access_token_ttl_secs: Option<i64>,
    #[serde(default)]
    pub refresh_token_idle_ttl_secs: Option<i64>,
    #[serde(default)]
    pub refresh_token_absolute_ttl_secs: Option<i64>,
    /// OIDC Back-Channel Logout 1.0 endpoint of the client.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
}

fn yes() -> bool {
    true
}

fn confidential() -> ClientKind {
    ClientKind::Confidential
}

/// Grant types a client may be registered for.
pub const GRANT_TYPES: &[&str] = crate::model::GrantType::NAMES;

impl ClientSpec {
    /// The settings stored beside the registration.
    pub fn settings(&self) -> crate::client::ClientSettings {
        crate::client::ClientSettings {
            web_origins: self.web_origins.clone(),
            access_token_ttl_secs: self.access_token_ttl_secs,
            refresh_token_idle_ttl_secs: self.refresh_token_idle_ttl_secs,
            refresh_token_absolute_ttl_secs: self.refresh_token_absolute_ttl_secs,
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        self.settings().validate()?;
        names::validate_client_id(&self.client_id)?;
        if let Some(name) = &self.name {
            names::validate_display_name("name", name)?;
        }
        if self.grant_types.is_empty() {
            return Err(ValidationError::new(
                "grant_types",
                format!("client {} needs at least one grant type", self.client_id),
            ));
        }
        for g in &self.grant_types {
            if !GRANT_TYPES.contains(&g.as_str()) {
                return Err(ValidationError::new(
                    "grant_types",
                    format!(
                        "unknown grant type {g:?}; use one of {}",
                        GRANT_TYPES.join(", ")
                    ),
                ));
            }
        }
        if self.kind == ClientKind::Public {
            if self.secret.is_some() {
                return Err(ValidationError::new(
                    "secret",
                    format!("public client {} cannot have a secret", self.client_id),
                ));
            }
            if self.grant_types.iter().any(|g| g == "client_credentials") {
                return Err(ValidationError::new(
                    "grant_types",
                    "client_credentials needs a confidential client (RFC 6749 §4.4)",
                ));
            }
        }
        if let Some(secret) = &self.secret
            && secret.len() < 32
        {
            return Err(ValidationError::new(
                "secret",
                "a client secret must be at least 32 characters; omit it to have one generated",
            ));
        }
        for s in self
            .scopes
            .iter()
            .chain(self.default_scopes.iter().flatten())
        {
            validate_scope_name(s)?;
        }
        if let Some(defaults) = &self.default_scopes
            && let Some(extra) = defaults.iter().find(|d| !self.scopes.contains(d))
        {
            return Err(ValidationError::new(
                "default_scopes",
                format!("{extra:?} is not among the client's scopes"),
            ));
        }
        for uri in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            names::validate_redirect_uri(uri)?;
        }
        Ok(())
    }
}

impl RealmImport {
    /// Checks every rule that needs no database, so a bad file changes nothing.
    pub fn validate(&self) -> Result<(), ValidationError> {
        names::validate_realm_name(&self.realm.name)?;
        for s in &self.scopes {
            validate_scope_name(&s.name)?;
        }
        for r in &self.roles {
            names::validate_display_name("roles.name", &r.name)?;
            if crate::permission::builtin_role(&r.name).is_some() {
                return Err(ValidationError::new(
                    "roles.name",
                    format!("{} is a built-in role and cannot be redefined", r.name),
                ));
            }
            for p in &r.permissions {
                if !crate::permission::is_permission(p) {
                    return Err(ValidationError::new(
                        "roles.permissions",
                        format!("role {}: unknown permission {p:?}", r.name),
                    ));
                }
            }
        }
        for t in &self.teams {
            names::validate_display_name("teams.name", &t.name)?;
        }
        let mut keys = std::collections::BTreeMap::new();
        let mut skeletons = std::collections::BTreeMap::new();
        for u in &self.users {
            // The same rule as the REST API and the CLI, and the same uniqueness: two entries
            // differing only in case, width or lookalike letters would be one user.
            let name = crate::username::parse(&u.username)?;
            if let Some(earlier) = keys.insert(name.key().to_string(), u.username.as_str()) {
                return Err(ValidationError::new(
                    "username",
                    format!(
                        "{:?} and {earlier:?} are the same username (case and width do not count); keep one",
                        u.username
                    ),
                ));
            }
            if let Some(earlier) =
                skeletons.insert(name.skeleton().to_string(), u.username.as_str())
            {
                return Err(ValidationError::new(
                    "username",
                    format!(
                        "{:?} looks like {earlier:?}; rename one of them",
                        u.username
                    ),
                ));
            }
            if let Some(p) = &u.password {
                crate::password::validate_password(p).map_err(|e| {
                    ValidationError::new("users.password", format!("{}: {}", u.username, e.message))
                })?;
            }
            for m in &u.teams {
                let team_known = self.teams.iter().any(|t| t.name == m.team);
                if !team_known {
                    return Err(ValidationError::new(
                        "users.teams",
                        format!(
                            "user {} refers to team {:?}, which the file does not define",
                            u.username, m.team
                        ),
                    ));
                }
                let role_known = crate::permission::builtin_role(&m.role).is_some()
                    || self.roles.iter().any(|r| r.name == m.role);
                if !role_known {
                    return Err(ValidationError::new(
                        "users.teams",
                        format!("user {} refers to unknown role {:?}", u.username, m.role),
                    ));
                }
            }
        }
        for c in &self.clients {
            c.validate()?;
        }
        check_unique("scopes", self.scopes.iter().map(|s| s.name.as_str()))?;
        check_unique("roles", self.roles.iter().map(|s| s.name.as_str()))?;
        check_unique("teams", self.teams.iter().map(|s| s.name.as_str()))?;
        check_unique("clients", self.clients.iter().map(|s| s.client_id.as_str()))?;
        Ok(())
    }
}

fn check_unique<'a>(
    field: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), ValidationError> {
    let mut seen = std::collections::BTreeSet::new();
    for n in names {
        if !seen.insert(n) {
            return Err(ValidationError::new(
                field,
                format!("{n:?} appears more than once"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RealmImport {
        serde_json::from_value(serde_json::json!({
            "realm": {"name": "acme"},
            "scopes": [{"name": "jobs:read"}],
            "teams": [{"name": "platform"}],
            "users": [{"username": "ada", "password": "correct horse", "teams": [{"team": "platform", "role": "member"}]}],
            "clients": [{"client_id": "svc", "grant_types": ["client_credentials"], "scopes": ["jobs:read"]}]
        }))
        .unwrap()
    }

    #[test]
    fn a_good_file_validates() {
        let f = sample();
        f.validate().unwrap();
        assert_eq!(f.clients[0].kind, ClientKind::Confidential);
        assert!(f.users[0].enabled);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_value::<RealmImport>(serde_json::json!({
            "realm": {"name": "acme", "colour": "blue"}
        }))
        .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn dangling_references_and_duplicates_are_refused() {
        let mut f = sample();
        f.users[0].teams[0].team = "nope".into();
        assert_eq!(f.validate().unwrap_err().field, "users.teams");

        let mut f = sample();
        f.clients.push(f.clients[0].clone());
        assert_eq!(f.validate().unwrap_err().field, "clients");

        let mut f = sample();
        f.clients[0].kind = ClientKind::Public;
        assert_eq!(f.validate().unwrap_err().field, "grant_types");

        let mut f = sample();
        f.clients[0].default_scopes = Some(vec!["clusters:read".into()]);
        assert_eq!(f.validate().unwrap_err().field, "default_scopes");
    }

    #[test]
    fn usernames_follow_the_one_rule() {
        let mut f = sample();
        f.users[0].username = "ad\u{202E}a".into();
        let e = f.validate().unwrap_err();
        assert_eq!(e.field, "username");
        assert!(e.message.contains("U+202E"), "{}", e.message);

        let mut f = sample();
        let mut twin = f.users[0].clone();
        twin.username = "ADA".into();
        f.users.push(twin);
        let e = f.validate().unwrap_err();
        assert!(e.message.contains("same username"), "{}", e.message);

        let mut f = sample();
        f.users[0].username = "paypa".into();
        let mut twin = f.users[0].clone();
        twin.username = "\u{0440}\u{0430}\u{0443}\u{0440}\u{0430}".into();
        f.users.push(twin);
        let e = f.validate().unwrap_err();
        assert!(e.message.contains("looks like"), "{}", e.message);
    }
}
