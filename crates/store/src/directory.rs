//! Teams, users and roles as the directory APIs see them (seed 004): keyset pages by id,
//! lookups confined to one realm, memberships with names resolved, and the deletes that must
//! take their dependants with them.

use diesel::prelude::*;
use std::collections::{BTreeSet, HashMap};

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::rows::*;
use crate::schema::*;
use tessera_core::model::*;

type Conn = DbConnection;

/// Which rows of a list: after the page token's id, at most `limit` of them.
#[derive(Debug, Clone, Default)]
pub struct Window<'a> {
    pub after: Option<&'a str>,
    pub limit: i64,
}

// ---- teams ----

/// Filters a team list understands (all optional, `eq` on each).
#[derive(Debug, Clone, Default)]
pub struct TeamFilter<'a> {
    pub name: Option<&'a str>,
    pub sso_alias: Option<&'a str>,
}

pub fn list_teams(
    conn: &mut Conn,
    realm_id: &str,
    filter: &TeamFilter<'_>,
    window: &Window<'_>,
) -> Result<Vec<Team>, StoreError> {
    let mut query = teams::table
        .filter(teams::realm_id.eq(realm_id))
        .select(TeamRow::as_select())
        .order(teams::id)
        .limit(window.limit)
        .into_boxed();
    if let Some(after) = window.after {
        query = query.filter(teams::id.gt(after.to_string()));
    }
    if let Some(name) = filter.name {
        query = query.filter(teams::name.eq(name.to_string()));
    }
    if let Some(alias) = filter.sso_alias {
        query = query.filter(teams::sso_alias.eq(alias.to_string()));
    }
    query.load::<TeamRow>(conn)?.into_models()
}

pub fn team_in_realm(
    conn: &mut Conn,
    realm_id: &str,
    id: &str,
) -> Result<Option<Team>, StoreError> {
    teams::table
        .filter(teams::id.eq(id))
        .filter(teams::realm_id.eq(realm_id))
        .select(TeamRow::as_select())
        .first::<TeamRow>(conn)
        .optional()?
        .into_models()
}

/// Distinct members of each of `team_ids` (teams without members are absent).
pub fn team_user_counts(
    conn: &mut Conn,
    team_ids: &[String],
) -> Result<HashMap<String, i64>, StoreError> {
    if team_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i64)> = team_memberships::table
        .filter(team_memberships::team_id.eq_any(team_ids))
        .group_by(team_memberships::team_id)
        .select((
            team_memberships::team_id,
            diesel::dsl::count(team_memberships::user_id).aggregate_distinct(),
        ))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Writes every editable field of `team` (not its id, realm, root flag or creation time).
pub fn update_team(conn: &mut Conn, team: &Team) -> Result<(), StoreError> {
    diesel::update(teams::table.filter(teams::id.eq(&team.id)))
        .set((
            teams::name.eq(&team.name),
            teams::description.eq(&team.description),
            teams::policy_type.eq(&team.policy_type),
            teams::sso_alias.eq(&team.sso_alias),
            teams::providers.eq(&team.providers),
            teams::provider_types.eq(&team.provider_types),
            teams::updated_at.eq(team.updated_at),
        ))
        .execute(conn)
        .map_err(|e| unique_as(e, || format!("a team named {:?} already exists", team.name)))?;
    Ok(())
}

/// The users with a membership in the team.
pub fn team_member_ids(conn: &mut Conn, team_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(team_memberships::table
        .filter(team_memberships::team_id.eq(team_id))
        .select(team_memberships::user_id)
        .distinct()
        .load(conn)?)
}

/// Deletes the team; its memberships and the API keys scoped to it go with it (foreign keys),
/// and so do the policies written for it.
pub fn delete_team(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    diesel::delete(
        policies::table
            .filter(policies::subject_type.eq(SubjectType::Team.as_str()))
            .filter(policies::subject_id.eq(id)),
    )
    .execute(conn)?;
    diesel::delete(teams::table.filter(teams::id.eq(id))).execute(conn)?;
    Ok(())
}

// ---- users ----

#[derive(Debug, Clone, Default)]
pub struct UserFilter<'a> {
    /// The username.
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    /// Members of this team.
    pub team_id: Option<&'a str>,
}

pub fn list_users(
    conn: &mut Conn,
    realm_id: &str,
    filter: &UserFilter<'_>,
    window: &Window<'_>,
) -> Result<Vec<User>, StoreError> {
    let mut query = users::table
        .filter(users::realm_id.eq(realm_id))
        .select(UserRow::as_select())
        .order(users::id)
        .limit(window.limit)
        .into_boxed();
    if let Some(after) = window.after {
        query = query.filter(users::id.gt(after.to_string()));
    }
    if let Some(name) = filter.name {
        query = query.filter(users::username.eq(name.to_string()));
    }
    if let Some(email) = filter.email {
        query = query.filter(users::email.eq(email.to_string()));
    }
    if let Some(team) = filter.team_id {
        query = query.filter(
            users::id.eq_any(
                team_memberships::table
                    .filter(team_memberships::team_id.eq(team.to_string()))
                    .select(team_memberships::user_id),
            ),
        );
    }
    query.load::<UserRow>(conn)?.into_models()
}

pub fn user_in_realm(
    conn: &mut Conn,
    realm_id: &str,
    id: &str,
) -> Result<Option<User>, StoreError> {
    users::table
        .filter(users::id.eq(id))
        .filter(users::realm_id.eq(realm_id))
        .select(UserRow::as_select())
        .first::<UserRow>(conn)
        .optional()?
        .into_models()
}

/// A membership with the team's and the role's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedMembership {
    pub user_id: String,
    pub team_id: String,
    pub team_name: String,
    pub role_id: String,
    pub role_name: String,
}

/// The memberships of `user_ids`, oldest first.
pub fn named_memberships(
    conn: &mut Conn,
    user_ids: &[String],
) -> Result<Vec<NamedMembership>, StoreError> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, String, String, String, String)> = team_memberships::table
        .inner_join(teams::table)
        .inner_join(roles::table)
        .filter(team_memberships::user_id.eq_any(user_ids))
        .order((team_memberships::created_at, teams::name, roles::name))
        .select((
            team_memberships::user_id,
            teams::id,
            teams::name,
            roles::id,
            roles::name,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(user_id, team_id, team_name, role_id, role_name)| NamedMembership {
                user_id,
                team_id,
                team_name,
                role_id,
                role_name,
            },
        )
        .collect())
}

/// Writes every editable field of `user` (not its id, realm, password, counters or creation
/// time). A changed name must have been set with [`User::set_username`] and checked with
/// [`crate::usernames::check_free`]; the keys are written with it.
pub fn update_user(conn: &mut Conn, u: &User) -> Result<(), StoreError> {
    diesel::update(users::table.filter(users::id.eq(&u.id)))
        .set((
            users::username.eq(&u.username),
            users::username_key.eq(&u.username_key),
            users::username_skeleton.eq(&u.username_skeleton),
            users::email.eq(&u.email),
            users::given_name.eq(&u.given_name),
            users::family_name.eq(&u.family_name),
            users::display_name.eq(&u.display_name),
            users::enabled.eq(u.enabled),
            users::persona.eq(&u.persona),
            users::options.eq(&u.options),
            users::digest_settings.eq(&u.digest_settings),
            users::updated_at.eq(u.updated_at),
        ))
        .execute(conn)
        .map_err(|e| crate::usernames::map_unique(e, &u.username))?;
    Ok(())
}

/// What replacing a user's memberships changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipChange {
    /// Teams the user is no longer in at all.
    pub left_teams: Vec<String>,
    /// Personal API keys deleted because their team was left.
    pub deleted_keys: usize,
}

/// Makes the user's memberships exactly `wanted` (team id, role id). Leaving a team deletes
/// the user's personal API keys scoped to it. Run inside the caller's transaction.
pub fn replace_memberships(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    wanted: &[(String, String)],
    now: i64,
) -> Result<MembershipChange, StoreError> {
    let current: BTreeSet<(String, String)> = team_memberships::table
        .filter(team_memberships::user_id.eq(user_id))
        .select((team_memberships::team_id, team_memberships::role_id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let wanted_set: BTreeSet<(String, String)> = wanted.iter().cloned().collect();
    for (team, role) in current.difference(&wanted_set) {
        diesel::delete(
            team_memberships::table
                .filter(team_memberships::user_id.eq(user_id))
                .filter(team_memberships::team_id.eq(team))
                .filter(team_memberships::role_id.eq(role)),
        )
        .execute(conn)?;
    }
    for (team, role) in wanted_set.difference(&current) {
        diesel::insert_into(team_memberships::table)
            .values(&TeamMembershipRow {
                team_id: team.clone(),
                user_id: user_id.into(),
                role_id: role.clone(),
                realm_id: realm_id.into(),
                created_at: now,
            })
            .execute(conn)?;
    }
    let before: BTreeSet<&String> = current.iter().map(|(t, _)| t).collect();
    let after: BTreeSet<&String> = wanted_set.iter().map(|(t, _)| t).collect();
    let left_teams: Vec<String> = before.difference(&after).map(|t| (*t).clone()).collect();
    let deleted_keys = if left_teams.is_empty() {
        0
    } else {
        diesel::delete(
            api_keys::table
                .filter(api_keys::kind.eq(KeyKind::Personal.as_str()))
                .filter(api_keys::owner_user_id.eq(user_id))
                .filter(api_keys::team_id.eq_any(&left_teams)),
        )
        .execute(conn)?
    };
    Ok(MembershipChange {
        left_teams,
        deleted_keys,
    })
}

/// Client ids whose service account is this user.
pub fn clients_served_by(conn: &mut Conn, user_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(clients::table
        .filter(clients::service_account_user_id.eq(user_id))
        .select(clients::client_id)
        .order(clients::client_id)
        .load(conn)?)
}

/// Deletes the user; memberships, personal API keys, sessions and tokens go with it (foreign
/// keys), and so do the policies written for the user.
pub fn delete_user(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    diesel::delete(
        policies::table
            .filter(policies::subject_type.eq(SubjectType::User.as_str()))
            .filter(policies::subject_id.eq(id)),
    )
    .execute(conn)?;
    // Personal keys go explicitly too, so the rule does not rest on the foreign key alone.
    diesel::delete(
        api_keys::table
            .filter(api_keys::kind.eq(KeyKind::Personal.as_str()))
            .filter(api_keys::owner_user_id.eq(id)),
    )
    .execute(conn)?;
    diesel::delete(users::table.filter(users::id.eq(id))).execute(conn)?;
    Ok(())
}

// ---- roles ----

#[derive(Debug, Clone, Default)]
pub struct RoleFilter<'a> {
    pub name: Option<&'a str>,
}

pub fn list_roles(
    conn: &mut Conn,
    realm_id: &str,
    filter: &RoleFilter<'_>,
    window: &Window<'_>,
) -> Result<Vec<Role>, StoreError> {
    let mut query = roles::table
        .filter(roles::realm_id.eq(realm_id))
        .select(RoleRow::as_select())
        .order(roles::id)
        .limit(window.limit)
        .into_boxed();
    if let Some(after) = window.after {
        query = query.filter(roles::id.gt(after.to_string()));
    }
    if let Some(name) = filter.name {
        query = query.filter(roles::name.eq(name.to_string()));
    }
    query.load::<RoleRow>(conn)?.into_models()
}

pub fn role_in_realm(
    conn: &mut Conn,
    realm_id: &str,
    id: &str,
) -> Result<Option<Role>, StoreError> {
    roles::table
        .filter(roles::id.eq(id))
        .filter(roles::realm_id.eq(realm_id))
        .select(RoleRow::as_select())
        .first::<RoleRow>(conn)
        .optional()?
        .into_models()
}

/// Writes the role's name, description and permissions.
pub fn update_role(conn: &mut Conn, role: &Role) -> Result<(), StoreError> {
    diesel::update(roles::table.filter(roles::id.eq(&role.id)))
        .set((
            roles::name.eq(&role.name),
            roles::description.eq(&role.description),
            roles::permissions.eq(role.permissions.to_string()),
            roles::requires_mfa.eq(role.requires_mfa),
            roles::updated_at.eq(role.updated_at),
        ))
        .execute(conn)
        .map_err(|e| unique_as(e, || format!("a role named {:?} already exists", role.name)))?;
    Ok(())
}

/// How many memberships and API keys use the role.
pub fn role_usage(conn: &mut Conn, id: &str) -> Result<(i64, i64), StoreError> {
    let memberships: i64 = team_memberships::table
        .filter(team_memberships::role_id.eq(id))
        .count()
        .get_result(conn)?;
    let keys: i64 = api_keys::table
        .filter(api_keys::role_id.eq(id))
        .count()
        .get_result(conn)?;
    Ok((memberships, keys))
}

/// Deletes the role and the policies written for it.
pub fn delete_role(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    diesel::delete(
        policies::table
            .filter(policies::subject_type.eq(SubjectType::Role.as_str()))
            .filter(policies::subject_id.eq(id)),
    )
    .execute(conn)?;
    diesel::delete(roles::table.filter(roles::id.eq(id))).execute(conn)?;
    Ok(())
}

fn unique_as(e: diesel::result::Error, msg: impl FnOnce() -> String) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(msg()),
        other => other,
    }
}
