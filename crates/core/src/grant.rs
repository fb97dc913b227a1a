//! The escalation rule: **an actor may only grant what it holds, through the credential it is
//! using.** Every write that can widen someone's rights (a key, a membership, a role's
//! permissions, an allow policy, a lifted deny, a client's scopes, re-enabling a user or a key)
//! asks [`check_grant`] first, with what the write would grant and where it takes effect.
//!
//! What the actor holds in a place is the credential's own rights (its ceiling ∩ its subject's
//! live rights, as for any request) ∩ the subject's live rights *there*; a key holds nothing
//! outside its team unless its team is the root team, whose rights reach the whole realm. The
//! model is Kubernetes RBAC's `escalate` check. Narrowing never needs this check.
//!
//! Pure: the store computes the live-rights sets, this module only compares them.

use std::collections::BTreeMap;
use std::fmt;

pub use crate::permission::Permissions;

/// Where a grant takes effect.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// One team: a membership there, a key of that team, a policy on that team.
    Team(String),
    /// Every team: roles, policies on users or roles, clients. Held only through the root team.
    Realm,
    /// A person's rights across all their teams, as their tokens see them. Held where the
    /// credential in use holds it at all (its own request permissions); each team's part of
    /// the same grant is checked in that team.
    Tokens,
}

impl fmt::Display for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Team(t) => write!(f, "team {t}"),
            Self::Realm => f.write_str("the whole realm (held through the root team)"),
            Self::Tokens => f.write_str("tokens valid across the realm"),
        }
    }
}

/// What the credential in use may do, as the resource server authenticated it.
#[derive(Debug, Clone)]
pub struct Authority {
    /// The request's permissions: the credential's ceiling ∩ its subject's live rights.
    pub permissions: Permissions,
    /// The one team a key acts in; `None` for tokens, which act in every team of their subject.
    pub home_team: Option<String>,
    /// The realm's root team: rights held there hold in every team.
    pub root_team: String,
    /// What the credential carries by itself, `None` when it carries everything its subject
    /// may do (a token with every permission, a personal key with no role or scopes).
    pub ceiling: Option<Permissions>,
}

impl Authority {
    /// Whether the credential acts in `reach` at all: tokens everywhere, keys in their team,
    /// and keys of the root team everywhere.
    pub fn reaches(&self, reach: &Reach) -> bool {
        match (&self.home_team, reach) {
            (None, _) | (_, Reach::Tokens) => true,
            (Some(home), _) if *home == self.root_team => true,
            (Some(home), Reach::Team(t)) => home == t,
            (Some(_), Reach::Realm) => false,
        }
    }

    /// What the actor holds in `reach`, given its subject's live rights there (`live`: roles
    /// in that team and in the root team, with policies; across all teams for
    /// [`Reach::Tokens`]; for team keys, their own rights).
    pub fn held(&self, reach: &Reach, live: &Permissions) -> Permissions {
        if !self.reaches(reach) {
            return Permissions::new();
        }
        self.permissions.intersection(live).cloned().collect()
    }

    /// Whether a key created through this credential may simply follow its owner's rights in
    /// `team`: only when the credential itself is unbounded there.
    pub fn may_create_unbounded_key(&self, team: &str) -> bool {
        self.ceiling.is_none() && self.home_team.as_deref().is_none_or(|home| home == team)
    }
}

/// A refused grant: the permissions that would be escalated, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub missing: Permissions,
    pub reach: Reach,
}

impl fmt::Display for Escalation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.missing.iter().map(String::as_str).collect();
        write!(
            f,
            "you can only grant what you hold: this would grant {} in {}, which the credential in use does not hold there",
            names.join(", "),
            self.reach
        )
    }
}

/// **The rule.** `granted` may take effect in `reach` only if the actor holds all of it there
/// (`live` as for [`Authority::held`]).
pub fn check_grant(
    authority: &Authority,
    reach: &Reach,
    live: &Permissions,
    granted: &Permissions,
) -> Result<(), Escalation> {
    let held = authority.held(reach, live);
    let missing: Permissions = granted.difference(&held).cloned().collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Escalation {
            missing,
            reach: reach.clone(),
        })
    }
}

/// A principal's rights: realm-wide (what a token of theirs may do) and in each team (what a
/// key of that team may do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rights {
    pub realm: Permissions,
    pub teams: BTreeMap<String, Permissions>,
}

/// What `after` has that `before` lacks, by reach: the grants a write made to one principal.
pub fn gains(before: &Rights, after: &Rights) -> Vec<(Reach, Permissions)> {
    let empty = Permissions::new();
    let mut out = Vec::new();
    let realm: Permissions = after.realm.difference(&before.realm).cloned().collect();
    if !realm.is_empty() {
        out.push((Reach::Tokens, realm));
    }
    for (team, now) in &after.teams {
        let was = before.teams.get(team).unwrap_or(&empty);
        let gained: Permissions = now.difference(was).cloned().collect();
        if !gained.is_empty() {
            out.push((Reach::Team(team.clone()), gained));
        }
    }
    out
}

/// What a personal key carries: everything its owner may do in its team, or only a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyGrant {
    FollowsOwner,
    Only(Permissions),
}

/// The grant a new or changed personal key in `team` may have. A key asked to follow its owner
/// through a bounded credential is bounded to what that credential holds there, so it never
/// outgrows the credential that made it. `owner_live` is the owner's live rights in the team,
/// `live` the actor's (as for [`Authority::held`]).
pub fn personal_key_grant(
    authority: &Authority,
    team: &str,
    requested: KeyGrant,
    live: &Permissions,
    owner_live: &Permissions,
) -> Result<KeyGrant, Escalation> {
    let reach = Reach::Team(team.to_string());
    match requested {
        KeyGrant::FollowsOwner => {
            let held = authority.held(&reach, live);
            if authority.may_create_unbounded_key(team) && owner_live.is_subset(&held) {
                Ok(KeyGrant::FollowsOwner)
            } else if held.is_empty() {
                Err(Escalation {
                    missing: owner_live.clone(),
                    reach,
                })
            } else {
                Ok(KeyGrant::Only(held))
            }
        }
        KeyGrant::Only(grant) => {
            // What the key can do now, and (through a bounded credential) what it could come
            // to do as its owner gains rights: both within what the actor holds.
            let effective: Permissions = grant.intersection(owner_live).cloned().collect();
            check_grant(authority, &reach, live, &effective)?;
            if let Some(ceiling) = &authority.ceiling {
                let beyond: Permissions = grant.difference(ceiling).cloned().collect();
                if !beyond.is_empty() {
                    return Err(Escalation {
                        missing: beyond,
                        reach,
                    });
                }
            }
            Ok(KeyGrant::Only(grant))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> Permissions {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn token(perms: &[&str], ceiling: Option<&[&str]>) -> Authority {
        Authority {
            permissions: set(perms),
            home_team: None,
            root_team: "root".into(),
            ceiling: ceiling.map(set),
        }
    }

    #[test]
    fn a_grant_within_what_is_held_passes_and_beyond_names_the_difference() {
        let a = token(&["user:write", "api_key:read"], None);
        let live = set(&["user:write", "api_key:read", "role:write"]);
        let team = Reach::Team("t".into());
        assert!(check_grant(&a, &team, &live, &set(&["api_key:read"])).is_ok());
        let e = check_grant(&a, &team, &live, &set(&["api_key:read", "role:write"])).unwrap_err();
        // role:write is live but outside the credential: not held.
        assert_eq!(e.missing, set(&["role:write"]));
        assert!(e.to_string().contains("role:write in team t"));
    }

    #[test]
    fn keys_hold_nothing_outside_their_team_unless_it_is_the_root_team() {
        let mut key = token(&["user:write"], Some(&["user:write"]));
        key.home_team = Some("a".into());
        let live = set(&["user:write"]);
        assert_eq!(key.held(&Reach::Team("a".into()), &live), live);
        assert!(key.held(&Reach::Team("b".into()), &live).is_empty());
        assert!(key.held(&Reach::Realm, &live).is_empty());
        key.home_team = Some("root".into());
        assert_eq!(key.held(&Reach::Team("b".into()), &live), live);
        assert_eq!(key.held(&Reach::Realm, &live), live);
    }

    #[test]
    fn a_key_through_a_bounded_credential_is_bounded_to_it() {
        let narrowed = token(
            &["api_key:create", "api_key:read"],
            Some(&["api_key:create", "api_key:read"]),
        );
        let owner = set(&["api_key:create", "api_key:read", "user:write"]);
        let got =
            personal_key_grant(&narrowed, "t", KeyGrant::FollowsOwner, &owner, &owner).unwrap();
        assert_eq!(
            got,
            KeyGrant::Only(set(&["api_key:create", "api_key:read"]))
        );
        // Naming a wider grant is refused even where the owner lacks it today.
        let e = personal_key_grant(
            &narrowed,
            "t",
            KeyGrant::Only(set(&["api_key:read", "policy:read"])),
            &owner,
            &owner,
        )
        .unwrap_err();
        assert_eq!(e.missing, set(&["policy:read"]));
        // An unbounded token may make a key that follows its owner, or any narrowing.
        let full = token(&["api_key:create", "api_key:read", "user:write"], None);
        assert_eq!(
            personal_key_grant(&full, "t", KeyGrant::FollowsOwner, &owner, &owner).unwrap(),
            KeyGrant::FollowsOwner
        );
        assert!(
            personal_key_grant(
                &full,
                "t",
                KeyGrant::Only(set(&["policy:read", "api_key:read"])),
                &owner,
                &owner
            )
            .is_ok()
        );
    }

    #[test]
    fn gains_are_what_after_adds_by_reach() {
        let before = Rights {
            realm: set(&["a"]),
            teams: [("t".to_string(), set(&["a"]))].into(),
        };
        let after = Rights {
            realm: set(&["a", "b"]),
            teams: [
                ("t".to_string(), set(&["b"])),
                ("u".to_string(), set(&["c"])),
            ]
            .into(),
        };
        assert_eq!(
            gains(&before, &after),
            vec![
                (Reach::Tokens, set(&["b"])),
                (Reach::Team("t".into()), set(&["b"])),
                (Reach::Team("u".into()), set(&["c"])),
            ]
        );
        assert!(gains(&after, &after).is_empty());
    }
}
