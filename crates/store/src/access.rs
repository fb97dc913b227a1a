//! What a principal may do: the rows behind effective permissions, handed to the pure rules
//! of [`tessera_core::access`], and API-key authentication for the issuer and the resource
//! server ([`authenticate_api_key`]).

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::rows::*;
use crate::schema::*;
use diesel::prelude::*;
use std::collections::BTreeSet;
use tessera_core::access as rules;
use tessera_core::access::KeyOwner;
use tessera_core::access::KeyRefusal;
use tessera_core::access::KeyState;
use tessera_core::access::PolicyEffects;
use tessera_core::grant::Reach;
use tessera_core::grant::Rights;
use tessera_core::permission::Permissions;

pub use tessera_core::access::PersonalKeyRights;

use tessera_core::model::ApiKey;
use tessera_core::model::KeyKind;
use tessera_core::model::KeyStatus;
use tessera_core::model::PermissionList;
use tessera_core::model::Realm;

type Conn = DbConnection;

/// One membership with its role's permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub team_id: String,
    pub role_id: String,
    pub role_name: String,
    pub permissions: PermissionList,
}

/// The user's memberships, optionally only in one team, with each role's permissions.
pub fn role_grants(
    conn: &mut Conn,
    user_id: &str,
    only_team: Option<&str>,
) -> Result<Vec<RoleGrant>, StoreError> {
    role_grants_in(conn, user_id, only_team.as_ref().map(std::slice::from_ref))
}

/// The user's memberships in `teams` (all teams when `None`), with each role's permissions.
fn role_grants_in(
    conn: &mut Conn,
    user_id: &str,
    teams: Option<&[&str]>,
) -> Result<Vec<RoleGrant>, StoreError> {
    let mut query = team_memberships::table
        .inner_join(roles::table)
        .filter(team_memberships::user_id.eq(user_id))
        .select((
            team_memberships::team_id,
            roles::id,
            roles::name,
            roles::permissions,
        ))
        .into_boxed();
    if let Some(teams) = teams {
        query = query.filter(team_memberships::team_id.eq_any(teams.to_vec()));
    }
    Ok(query
        .load::<(String, String, String, String)>(conn)?
        .into_iter()
        .map(|(team_id, role_id, role_name, permissions)| RoleGrant {
            team_id,
            role_id,
            role_name,
            permissions: PermissionList::from_stored(&permissions),
        })
        .collect())
}

/// Serialises the realm's access-changing writes until the transaction ends. Each checks
/// what its actor holds and that the realm keeps an admin against what the others committed:
/// without it, PostgreSQL's READ COMMITTED lets two admins demote each other at once. SQLite's
/// `BEGIN IMMEDIATE` already serialises every write.
pub fn lock_realm_access(conn: &mut Conn, realm_id: &str) -> Result<(), StoreError> {
    crate::db::lock_until_commit(conn, &format!("realm_access\n{realm_id}"))
}

/// A user's live effective permissions (docs/api.md, "What a request may do"): the permissions of their roles in their
/// teams (all, or only `only_team`), plus policy allows, minus policy denies — a deny wins.
pub fn effective_permissions(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    only_team: Option<&str>,
) -> Result<BTreeSet<String>, StoreError> {
    effective_permissions_in(
        conn,
        realm_id,
        user_id,
        only_team.as_ref().map(std::slice::from_ref),
    )
}

/// [`effective_permissions`] over the user's memberships in `teams` (all when `None`).
pub fn effective_permissions_in(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    teams: Option<&[&str]>,
) -> Result<BTreeSet<String>, StoreError> {
    let grants = role_grants_in(conn, user_id, teams)?;
    let role_ids: BTreeSet<String> = grants.iter().map(|g| g.role_id.clone()).collect();
    let team_ids: BTreeSet<String> = grants.iter().map(|g| g.team_id.clone()).collect();
    let policies = crate::policies::for_subjects(conn, realm_id, user_id, &role_ids, &team_ids)?;
    let from_roles = grants.iter().flat_map(|g| g.permissions.to_vec());
    Ok(rules::effective_permissions(
        from_roles,
        &PolicyEffects::of(&policies),
    ))
}

/// What a user may grant in one place, before the credential narrows it (see
/// [`tessera_core::grant`]): their rights in `team` and in the root team, or in the root team
/// alone for realm-wide grants.
pub fn live_rights_for_grant(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    root_team: &str,
    reach: &Reach,
) -> Result<BTreeSet<String>, StoreError> {
    match reach {
        Reach::Team(team) => {
            effective_permissions_in(conn, realm_id, user_id, Some(&[team.as_str(), root_team]))
        }
        Reach::Realm => effective_permissions_in(conn, realm_id, user_id, Some(&[root_team])),
        Reach::Tokens => effective_permissions(conn, realm_id, user_id, None),
    }
}

/// A user's rights as their credentials see them: realm-wide (tokens) and in each of their
/// teams and the root team (keys). A disabled or missing user has none.
pub fn user_rights(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    root_team: &str,
) -> Result<Rights, StoreError> {
    let enabled =
        crate::users::by_id(conn, user_id)?.is_some_and(|u| u.realm_id == realm_id && u.enabled);
    if !enabled {
        return Ok(Rights::default());
    }
    let mut teams: BTreeSet<String> = team_memberships::table
        .filter(team_memberships::user_id.eq(user_id))
        .select(team_memberships::team_id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    teams.insert(root_team.to_string());
    let mut rights = Rights {
        realm: effective_permissions(conn, realm_id, user_id, None)?,
        teams: Default::default(),
    };
    for team in teams {
        let in_team = effective_permissions(conn, realm_id, user_id, Some(&team))?;
        rights.teams.insert(team, in_team);
    }
    Ok(rights)
}

/// Whether the realm still has an enabled person who holds every permission in the root team
/// (the built-in admin role there, not narrowed by a deny policy): the one who can mend anything.
pub fn realm_has_enabled_admin(
    conn: &mut Conn,
    realm_id: &str,
    root_team: &str,
) -> Result<bool, StoreError> {
    let candidates: BTreeSet<String> = team_memberships::table
        .inner_join(users::table)
        .filter(team_memberships::team_id.eq(root_team))
        .filter(users::enabled.eq(true))
        .filter(users::is_service_account.eq(false))
        .select(users::id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    for user in candidates {
        let held = effective_permissions(conn, realm_id, &user, Some(root_team))?;
        if tessera_core::permission::CATALOG
            .iter()
            .all(|(p, _)| held.contains(*p))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What a key grants by itself: its role's permissions and its scopes. Empty means "whatever
/// its owner may do" for personal keys.
pub fn key_grant(conn: &mut Conn, key: &ApiKey) -> Result<Permissions, StoreError> {
    let mut grant: Permissions = key.scopes.to_set();
    if let Some(role_id) = &key.role_id
        && let Some(role) = roles::table
            .find(role_id)
            .select(RoleRow::as_select())
            .first::<RoleRow>(conn)
            .optional()?
            .into_models()?
    {
        grant.extend(role.permissions.to_vec());
    }
    Ok(grant)
}

/// What a team key may do ([`tessera_core::access::team_key_rights`]): its grant, narrowed by
/// deny policies on its team or role.
pub fn team_key_rights(conn: &mut Conn, key: &ApiKey) -> Result<Permissions, StoreError> {
    let grant = key_grant(conn, key)?;
    let teams: BTreeSet<String> = key.team_id.iter().cloned().collect();
    let roles: BTreeSet<String> = key.role_id.iter().cloned().collect();
    let policies = crate::policies::for_subjects(conn, &key.realm_id, "", &roles, &teams)?;
    Ok(rules::team_key_rights(grant, &PolicyEffects::of(&policies)))
}

/// The rights a personal key carries right now: its grant AND its owner's live permissions in
/// the key's team (or all the owner's permissions when the key names none).
pub fn personal_key_rights(
    conn: &mut Conn,
    key: &ApiKey,
    owner_id: &str,
) -> Result<PersonalKeyRights, StoreError> {
    let grant = key_grant(conn, key)?;
    let live = effective_permissions(conn, &key.realm_id, owner_id, key.team_id.as_deref())?;
    Ok(PersonalKeyRights::new(grant, live))
}

/// An API key that may be used now: whom it acts for and what it may do.
#[derive(Debug, Clone)]
pub struct KeyHolder {
    pub key: ApiKey,
    pub realm: Realm,
    pub acts_as: KeyActor,
}

/// Whom a usable key acts for.
#[derive(Debug, Clone)]
pub enum KeyActor {
    /// A team key: its team's service account, with [`team_key_rights`].
    Team { rights: Permissions },
    /// A personal key: its owner, within the key's team, never beyond the owner's rights.
    Personal {
        owner_id: String,
        rights: PersonalKeyRights,
    },
}

/// The one API-key authentication, shared by the resource server and the issuer's token
/// exchange: loads the key by the SHA-256 of the presented value, its owner and realm, applies
/// [`tessera_core::access::check_key`] at `now` (in `expected_realm` when the caller is bound
/// to one) and computes what the key may do. `Ok(Err(_))` is a refusal for the caller to word;
/// `Err(_)` a storage failure.
pub fn authenticate_api_key(
    conn: &mut Conn,
    presented_sha256_hex: &str,
    expected_realm: Option<&str>,
    now: i64,
) -> Result<Result<KeyHolder, KeyRefusal>, StoreError> {
    let Some(key) = crate::api_keys::by_hash(conn, presented_sha256_hex)? else {
        return Ok(Err(KeyRefusal::Unknown));
    };
    let owner = if key.kind == KeyKind::Team {
        None
    } else {
        Some(key_owner(conn, key.owner_user_id.as_deref())?)
    };
    let state = KeyState {
        realm_id: &key.realm_id,
        active: key.status == KeyStatus::Active,
        expires_at: key.expires_at,
        owner,
    };
    if let Err(refusal) = rules::check_key(&state, expected_realm, now) {
        return Ok(Err(refusal));
    }
    let Some(realm) = crate::realms::by_id(conn, &key.realm_id)? else {
        return Ok(Err(KeyRefusal::Unknown));
    };
    let acts_as = match (owner, key.owner_user_id.clone()) {
        (None, _) => KeyActor::Team {
            rights: team_key_rights(conn, &key)?,
        },
        (Some(_), Some(owner_id)) => {
            let rights = personal_key_rights(conn, &key, &owner_id)?;
            KeyActor::Personal { owner_id, rights }
        }
        // Refused by `check_key` already: a personal key without an owner.
        (Some(_), None) => return Ok(Err(KeyRefusal::OwnerGone)),
    };
    Ok(Ok(KeyHolder {
        key,
        realm,
        acts_as,
    }))
}

/// A personal key's owner as authentication sees them.
fn key_owner(conn: &mut Conn, owner_id: Option<&str>) -> Result<KeyOwner, StoreError> {
    let Some(id) = owner_id else {
        return Ok(KeyOwner::Gone);
    };
    Ok(match crate::users::by_id(conn, id)? {
        Some(owner) if owner.enabled => KeyOwner::Enabled,
        Some(_) => KeyOwner::Disabled,
        None => KeyOwner::Gone,
    })
}
