//! The permission catalog and the built-in roles.
//!
//! A permission is also a scope name: a JWT's `scope` limits what its bearer may do, and the
//! principal's live permissions limit it again (docs/api.md, "What a request may do").

/// Every permission an endpoint can declare, with what it allows.
pub const CATALOG: &[(&str, &str)] = &[
    ("api_key:read", "List and read API keys"),
    ("api_key:create", "Create API keys"),
    (
        "api_key:update",
        "Rename, revoke, reinstate and change API keys",
    ),
    ("api_key:delete", "Delete API keys"),
    ("team:read", "List and read teams"),
    (
        "team:write",
        "Create, change and delete teams and memberships",
    ),
    ("user:read", "List and read users"),
    ("user:write", "Create, change and delete users"),
    ("role:read", "List and read roles and their permissions"),
    ("role:write", "Create, change and delete custom roles"),
    ("policy:read", "List and read policies"),
    ("policy:write", "Create, change and delete policies"),
    ("client:read", "List and read OAuth clients"),
    (
        "client:write",
        "Create, change and delete OAuth clients and rotate their secrets",
    ),
    ("scope:read", "List and read custom scopes"),
    ("scope:write", "Create, change and delete custom scopes"),
    ("audit:read", "Read the audit log"),
    (
        "oaa:push",
        "Push Open Authorization API data (team service accounts)",
    ),
];

/// Scopes defined by OpenID Connect that are not permissions.
pub const OIDC_SCOPES: &[(&str, &str)] = &[
    ("openid", "Sign in with OpenID Connect"),
    ("profile", "Your name and username"),
    ("email", "Your e-mail address"),
    ("offline_access", "Stay signed in (refresh tokens)"),
];

/// A set of permission names.
pub type Permissions = std::collections::BTreeSet<String>;

/// The names in a stored permission or scope list. We store lists space-separated, but seeds
/// and scripts wrote commas, so both separate (a comma is never part of a name, see
/// [`crate::scope::validate_scope_name`]). The one reader of stored lists: the access rules,
/// the escalation rule and [`crate::ScopeSet`] must agree on what a list holds.
pub fn split_list(list: &str) -> impl Iterator<Item = &str> {
    list.split([' ', ',']).filter(|s| !s.is_empty())
}

/// A stored permission or scope list as a set (see [`split_list`]).
pub fn parse_list(list: &str) -> Permissions {
    split_list(list).map(str::to_string).collect()
}

pub fn is_permission(name: &str) -> bool {
    CATALOG.iter().any(|(p, _)| *p == name)
}

/// A scope every realm knows without defining it: OIDC scopes and catalog permissions.
pub fn is_builtin_scope(name: &str) -> bool {
    is_permission(name) || OIDC_SCOPES.iter().any(|(s, _)| *s == name)
}

/// A role that exists in every realm and cannot be deleted or edited.
pub struct BuiltinRole {
    pub name: &'static str,
    pub description: &'static str,
    pub permissions: &'static [&'static str],
}

const READ_ALL: &[&str] = &[
    "api_key:read",
    "team:read",
    "user:read",
    "role:read",
    "policy:read",
    "client:read",
    "scope:read",
];

pub const BUILTIN_ROLES: &[BuiltinRole] = &[
    BuiltinRole {
        name: "admin",
        description: "Full control of the realm",
        permissions: &[
            "api_key:read",
            "api_key:create",
            "api_key:update",
            "api_key:delete",
            "team:read",
            "team:write",
            "user:read",
            "user:write",
            "role:read",
            "role:write",
            "policy:read",
            "policy:write",
            "client:read",
            "client:write",
            "scope:read",
            "scope:write",
            "audit:read",
            "oaa:push",
        ],
    },
    BuiltinRole {
        name: "operator",
        description: "Runs the team: manages API keys, including team keys; reads everything else",
        // oaa:push: operators create the team's `oaa_push` keys, and may only grant what
        // they hold (crate::grant).
        permissions: &[
            "api_key:read",
            "api_key:create",
            "api_key:update",
            "api_key:delete",
            "team:read",
            "user:read",
            "role:read",
            "policy:read",
            "client:read",
            "scope:read",
            "audit:read",
            "oaa:push",
        ],
    },
    BuiltinRole {
        name: "member",
        description: "Uses the team's resources and manages their own API keys",
        permissions: &[
            "api_key:read",
            "api_key:create",
            "api_key:update",
            "api_key:delete",
            "team:read",
            "user:read",
            "role:read",
        ],
    },
    BuiltinRole {
        name: "viewer",
        description: "Read-only access",
        permissions: READ_ALL,
    },
    BuiltinRole {
        name: "oaa_push",
        description: "Service accounts that push authorization data (the default for team keys)",
        permissions: &["oaa:push"],
    },
];

pub fn builtin_role(name: &str) -> Option<&'static BuiltinRole> {
    BUILTIN_ROLES.iter().find(|r| r.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_roles_use_only_catalog_permissions() {
        for role in BUILTIN_ROLES {
            for p in role.permissions {
                assert!(is_permission(p), "{} grants unknown {p}", role.name);
            }
        }
        let admin = builtin_role("admin").unwrap();
        assert_eq!(admin.permissions.len(), CATALOG.len());
    }

    #[test]
    fn stored_lists_split_on_spaces_and_commas() {
        let names: Vec<&str> = split_list(" user:read,role:read  user:write,").collect();
        assert_eq!(names, ["user:read", "role:read", "user:write"]);
        assert_eq!(
            parse_list("b a,a"),
            Permissions::from(["a".into(), "b".into()])
        );
        assert!(parse_list(" , ").is_empty());
    }

    #[test]
    fn catalog_names_are_valid_scopes() {
        for (p, _) in CATALOG.iter().chain(OIDC_SCOPES) {
            crate::scope::validate_scope_name(p).unwrap();
            assert!(is_builtin_scope(p));
        }
        assert!(!is_builtin_scope("jobs:read"));
    }
}
