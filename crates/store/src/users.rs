//! Users of a realm: lookup, profile, sign-in counters and memberships.

use crate::db::DbConnection;
use crate::db::Window;
use crate::error::StoreError;
use crate::rows::find_one;
use crate::rows::*;
use crate::schema::*;
use diesel::prelude::*;
use std::collections::BTreeSet;
use tessera_core::model::*;

type Conn = DbConnection;

/// The user a typed name means, compared by the username rule's key (`ADMIN` finds `admin`);
/// see [`crate::usernames::user_for_sign_in`].
pub fn by_username(
    conn: &mut Conn,
    realm_id: &str,
    username: &str,
) -> Result<Option<User>, StoreError> {
    crate::usernames::user_for_sign_in(conn, realm_id, username)
}

find_one!(pub fn by_id(users: id) -> UserRow as User);

/// Inserts a user made with [`User::new`] (so its name passed the username rule), refusing a
/// name that is the same as, or looks like, an existing user's. Run it in the write
/// transaction; a unique violation from a concurrent insert becomes the same error.
pub fn insert(conn: &mut Conn, user: &User) -> Result<(), StoreError> {
    let name = tessera_core::username::parse(&user.username)?;
    crate::usernames::check_free(conn, &user.realm_id, &name, None)?;
    let row = UserRow {
        username_key: Some(name.key().to_string()),
        username_skeleton: Some(name.skeleton().to_string()),
        ..UserRow::from_model(user)
    };
    diesel::insert_into(users::table)
        .values(&row)
        .execute(conn)
        .map_err(|e| crate::usernames::map_unique(e, &user.username))?;
    Ok(())
}

pub fn update_profile(conn: &mut Conn, u: &User) -> Result<(), StoreError> {
    diesel::update(users::table.filter(users::id.eq(&u.id)))
        .set((
            users::email.eq(&u.email),
            users::given_name.eq(&u.given_name),
            users::family_name.eq(&u.family_name),
            users::enabled.eq(u.enabled),
            users::updated_at.eq(u.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_password_hash(
    conn: &mut Conn,
    id: &str,
    password_hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(users::table.filter(users::id.eq(id)))
        .set((
            users::password_hash.eq(password_hash),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Counts a successful sign-in: `login_count`, `last_login_at`; clears the failure count.
pub fn record_login_success(conn: &mut Conn, id: &str, now: i64) -> Result<(), StoreError> {
    diesel::update(users::table.filter(users::id.eq(id)))
        .set((
            users::login_count.eq(users::login_count + 1),
            users::failed_login_count.eq(0),
            users::last_login_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn record_login_failure(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    diesel::update(users::table.filter(users::id.eq(id)))
        .set(users::failed_login_count.eq(users::failed_login_count + 1))
        .execute(conn)?;
    Ok(())
}

pub fn memberships(conn: &mut Conn, user_id: &str) -> Result<Vec<TeamMembership>, StoreError> {
    team_memberships::table
        .filter(team_memberships::user_id.eq(user_id))
        .select(TeamMembershipRow::as_select())
        .load::<TeamMembershipRow>(conn)?
        .into_models()
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter<'a> {
    /// The username.
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    /// Members of this team.
    pub team_id: Option<&'a str>,
}

pub fn list(
    conn: &mut Conn,
    realm_id: &str,
    filter: &UserFilter<'_>,
    window: &Window<'_>,
) -> Result<Vec<User>, StoreError> {
    let mut query = page_in_realm!(users by id as UserRow, realm_id, window.after, window.limit);
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

find_one!(pub fn in_realm(users: realm_id, id) -> UserRow as User);

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
pub fn update(conn: &mut Conn, u: &User) -> Result<(), StoreError> {
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

/// Deletes the user; memberships, personal API keys, sessions and tokens go with it (foreign
/// keys), and so do the policies written for the user.
pub fn delete(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
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
