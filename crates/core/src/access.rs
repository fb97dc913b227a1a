//! The access rules (docs/api.md, "What a request may do"): what a user, a team key or a
//! personal key may do, and whether an API key may be used at all.
//!
//! Pure: the store loads the rows (role permissions, policies, the key and its owner) and
//! these functions decide what they add up to, so the resource server, the issuer's token
//! exchange and the escalation rule ([`crate::grant`]) all read one definition.

use std::fmt;

use crate::permission::{Permissions, is_permission};

/// What the enabled policies on a principal (their user, roles and teams) add and take away.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyEffects {
    /// Added by allow policies; they are for people, so keys of a team ignore them.
    pub allowed: Permissions,
    /// Taken away by deny policies, whatever else grants them: a deny always wins.
    pub denied: Permissions,
}

impl PolicyEffects {
    /// What `policies` add and take away (the caller picks which apply: enabled, on this
    /// principal).
    pub fn of<'a>(policies: impl IntoIterator<Item = &'a crate::model::Policy>) -> Self {
        let mut effects = Self::default();
        for p in policies {
            match p.effect {
                crate::model::Effect::Allow => effects.allow(p.permissions.to_set()),
                crate::model::Effect::Deny => effects.deny(p.permissions.to_set()),
            }
        }
        effects
    }

    /// Records an allow policy's permissions.
    pub fn allow(&mut self, permissions: impl IntoIterator<Item = String>) {
        self.allowed.extend(permissions);
    }

    /// Records a deny policy's permissions.
    pub fn deny(&mut self, permissions: impl IntoIterator<Item = String>) {
        self.denied.extend(permissions);
    }
}

/// A user's effective permissions: what their roles grant (`from_roles`, every role of the
/// memberships considered) plus what allow policies add, minus what deny policies take away.
/// Only catalogued permissions count, so a custom scope stored in a role grants nothing here.
pub fn effective_permissions(
    from_roles: impl IntoIterator<Item = String>,
    policies: &PolicyEffects,
) -> Permissions {
    let mut allowed: Permissions = from_roles
        .into_iter()
        .chain(policies.allowed.iter().cloned())
        .collect();
    allowed.retain(|p| is_permission(p) && !policies.denied.contains(p));
    allowed
}

/// What a team key may do: its grant (role permissions and scopes) narrowed by the deny
/// policies on its team or role. Allow policies are for people, not service accounts.
pub fn team_key_rights(grant: Permissions, policies: &PolicyEffects) -> Permissions {
    let mut rights = grant;
    rights.retain(|p| !policies.denied.contains(p));
    rights
}

/// The rights a personal key carries right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalKeyRights {
    /// The key's own grant (role and scopes); empty when it follows its owner.
    pub grant: Permissions,
    /// The owner's live permissions in the key's team (all their teams when it names none).
    pub live: Permissions,
    /// What a request with the key may do: the grant AND the live permissions.
    pub rights: Permissions,
}

impl PersonalKeyRights {
    /// A key's rights from its grant and its owner's live permissions: their intersection, or
    /// all of the owner's when the grant is empty (the key follows its owner).
    pub fn new(grant: Permissions, live: Permissions) -> Self {
        let rights = if grant.is_empty() {
            live.clone()
        } else {
            grant.intersection(&live).cloned().collect()
        };
        Self {
            grant,
            live,
            rights,
        }
    }

    /// What the key carries by itself: its grant, or its owner's rights when it has none.
    pub fn carried(&self) -> &Permissions {
        if self.grant.is_empty() {
            &self.live
        } else {
            &self.grant
        }
    }
}

/// Why an API key may not be used. Each side of the server words it in its own error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    /// No key has this secret (or its realm is gone).
    Unknown,
    /// The key belongs to another realm than the one asked.
    OtherRealm,
    /// The key was revoked (made `INACTIVE`); it may be reinstated.
    Revoked,
    /// The key's expiry has passed.
    Expired,
    /// The personal key's owner is disabled: their keys go with them.
    OwnerDisabled,
    /// The personal key names no owner, or one that was deleted.
    OwnerGone,
}

impl fmt::Display for KeyRefusal {
    /// The resource server's wording, which reveals no more than "not valid" for a key that
    /// does not exist here.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unknown | Self::OtherRealm | Self::OwnerGone => "the API key is not valid",
            Self::Revoked => "the API key is revoked",
            Self::Expired => "the API key has expired",
            Self::OwnerDisabled => "the API key's owner is disabled",
        })
    }
}

/// The owner of a personal key, as authentication finds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOwner {
    Enabled,
    Disabled,
    /// The key names no owner, or one that no longer exists.
    Gone,
}

/// What authentication needs to know about a stored API key to decide if it is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyState<'a> {
    pub realm_id: &'a str,
    /// The key is `ACTIVE` (not revoked).
    pub active: bool,
    pub expires_at: Option<i64>,
    /// A personal key's owner; `None` for team keys, which act for no one.
    pub owner: Option<KeyOwner>,
}

/// Whether a credential expiring at `expires_at` (never when `None`) has expired at `now`.
pub fn is_expired(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_some_and(|e| e <= now)
}

/// **The rule** for using an API key at `now`, in `expected_realm` when the caller is bound to
/// one: in that realm, not revoked, not expired, and (personal keys) with an enabled owner. The
/// key's own state is judged before its owner's.
pub fn check_key(
    key: &KeyState<'_>,
    expected_realm: Option<&str>,
    now: i64,
) -> Result<(), KeyRefusal> {
    if expected_realm.is_some_and(|realm| realm != key.realm_id) {
        return Err(KeyRefusal::OtherRealm);
    }
    if !key.active {
        return Err(KeyRefusal::Revoked);
    }
    if is_expired(key.expires_at, now) {
        return Err(KeyRefusal::Expired);
    }
    match key.owner {
        None | Some(KeyOwner::Enabled) => Ok(()),
        Some(KeyOwner::Disabled) => Err(KeyRefusal::OwnerDisabled),
        Some(KeyOwner::Gone) => Err(KeyRefusal::OwnerGone),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> Permissions {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn policies(allow: &[&str], deny: &[&str]) -> PolicyEffects {
        PolicyEffects {
            allowed: set(allow),
            denied: set(deny),
        }
    }

    #[test]
    fn roles_and_allows_add_up_and_a_deny_wins() {
        let roles = set(&["user:read", "user:write"]);
        let got = effective_permissions(
            roles,
            &policies(&["audit:read", "user:write"], &["user:write"]),
        );
        assert_eq!(got, set(&["audit:read", "user:read"]));
        // A deny also removes what only an allow policy granted.
        let got = effective_permissions(set(&[]), &policies(&["audit:read"], &["audit:read"]));
        assert!(got.is_empty());
    }

    #[test]
    fn uncatalogued_names_are_dropped() {
        let got = effective_permissions(
            set(&["jobs:read", "role:read"]),
            &policies(&["openid"], &[]),
        );
        assert_eq!(got, set(&["role:read"]));
    }

    #[test]
    fn a_team_key_is_narrowed_by_denies_only() {
        let grant = set(&["oaa:push", "jobs:read", "user:read"]);
        let got = team_key_rights(grant, &policies(&["audit:read"], &["user:read"]));
        // Allow policies add nothing; the key's own (even uncatalogued) grant stays.
        assert_eq!(got, set(&["jobs:read", "oaa:push"]));
    }

    #[test]
    fn a_personal_key_holds_its_grant_and_its_owners_live_rights() {
        let owner = set(&["api_key:read", "user:read"]);
        let key = PersonalKeyRights::new(set(&["api_key:read", "policy:read"]), owner.clone());
        assert_eq!(key.rights, set(&["api_key:read"]));
        assert_eq!(key.carried(), &set(&["api_key:read", "policy:read"]));
    }

    #[test]
    fn a_personal_key_with_no_grant_follows_its_owner() {
        let owner = set(&["api_key:read", "user:read"]);
        let key = PersonalKeyRights::new(set(&[]), owner.clone());
        assert_eq!(key.rights, owner);
        assert_eq!(key.carried(), &owner);
        // …including when the owner loses everything.
        assert!(PersonalKeyRights::new(set(&[]), set(&[])).rights.is_empty());
    }

    fn key(active: bool, expires_at: Option<i64>, owner: Option<KeyOwner>) -> KeyState<'static> {
        KeyState {
            realm_id: "r1",
            active,
            expires_at,
            owner,
        }
    }

    #[test]
    fn a_usable_key_is_active_unexpired_in_its_realm_with_an_enabled_owner() {
        let now = 100;
        let ok = key(true, Some(101), Some(KeyOwner::Enabled));
        assert_eq!(check_key(&ok, Some("r1"), now), Ok(()));
        assert_eq!(check_key(&ok, None, now), Ok(()));
        assert_eq!(check_key(&key(true, None, None), None, now), Ok(()));
        assert_eq!(check_key(&ok, Some("r2"), now), Err(KeyRefusal::OtherRealm));
        let refusals = [
            (key(false, None, None), KeyRefusal::Revoked),
            (key(true, Some(100), None), KeyRefusal::Expired),
            (
                key(true, None, Some(KeyOwner::Disabled)),
                KeyRefusal::OwnerDisabled,
            ),
            (key(true, None, Some(KeyOwner::Gone)), KeyRefusal::OwnerGone),
            // The key's own state is reported before its owner's.
            (
                key(false, Some(1), Some(KeyOwner::Disabled)),
                KeyRefusal::Revoked,
            ),
            (
                key(true, Some(1), Some(KeyOwner::Gone)),
                KeyRefusal::Expired,
            ),
        ];
        for (state, refusal) in refusals {
            assert_eq!(check_key(&state, None, now), Err(refusal), "{state:?}");
        }
    }

    #[test]
    fn refusals_keep_the_wording_clients_see() {
        assert_eq!(KeyRefusal::Revoked.to_string(), "the API key is revoked");
        assert_eq!(KeyRefusal::Expired.to_string(), "the API key has expired");
        assert_eq!(
            KeyRefusal::OwnerDisabled.to_string(),
            "the API key's owner is disabled"
        );
        assert_eq!(
            KeyRefusal::OwnerGone.to_string(),
            "the API key is not valid"
        );
    }
}
