//! Teams of a realm and who belongs to them.

use crate::db::DbConnection;
use crate::db::Window;
use crate::error::StoreError;
use crate::rows::*;
use crate::schema::*;
use diesel::prelude::*;
use std::collections::HashMap;
use tessera_core::model::Team;
use tessera_core::model::*;

type Conn = DbConnection;

find_one!(pub fn by_name(teams: realm_id, name) -> TeamRow as Team);

pub fn root(conn: &mut Conn, realm_id: &str) -> Result<Option<Team>, StoreError> {
    teams::table
        .filter(teams::realm_id.eq(realm_id))
        .filter(teams::is_root.eq(true))
        .select(TeamRow::as_select())
        .first::<TeamRow>(conn)
        .optional()?
        .into_models()
}

insert_one!(pub fn insert(teams, TeamRow from Team), taken: "team" name);

set_description!(pub fn update_description(teams));

/// Adds the membership unless it exists; returns whether it was added.
pub fn ensure_membership(conn: &mut Conn, m: &TeamMembership) -> Result<bool, StoreError> {
    let exists: i64 = team_memberships::table
        .filter(team_memberships::team_id.eq(&m.team_id))
        .filter(team_memberships::user_id.eq(&m.user_id))
        .filter(team_memberships::role_id.eq(&m.role_id))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Ok(false);
    }
    diesel::insert_into(team_memberships::table)
        .values(TeamMembershipRow::from_model(m))
        .execute(conn)?;
    Ok(true)
}

/// Names of teams by id, for `team_name` in responses.
pub fn names(conn: &mut Conn, ids: &[String]) -> Result<Vec<(String, String)>, StoreError> {
    Ok(teams::table
        .filter(teams::id.eq_any(ids))
        .select((teams::id, teams::name))
        .load(conn)?)
}

/// Filters a team list understands (all optional, `eq` on each).
#[derive(Debug, Clone, Default)]
pub struct TeamFilter<'a> {
    pub name: Option<&'a str>,
    pub sso_alias: Option<&'a str>,
}

pub fn list(
    conn: &mut Conn,
    realm_id: &str,
    filter: &TeamFilter<'_>,
    window: &Window<'_>,
) -> Result<Vec<Team>, StoreError> {
    let mut query = page_in_realm!(teams by id as TeamRow, realm_id, window.after, window.limit);
    if let Some(name) = filter.name {
        query = query.filter(teams::name.eq(name.to_string()));
    }
    if let Some(alias) = filter.sso_alias {
        query = query.filter(teams::sso_alias.eq(alias.to_string()));
    }
    query.load::<TeamRow>(conn)?.into_models()
}

find_one!(pub fn in_realm(teams: realm_id, id) -> TeamRow as Team);

/// Distinct members of each of `team_ids` (teams without members are absent).
pub fn user_counts(
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
pub fn update(conn: &mut Conn, team: &Team) -> Result<(), StoreError> {
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
        .map_err(|e| {
            crate::db::conflict_as(e, || format!("a team named {:?} already exists", team.name))
        })?;
    Ok(())
}

/// The users with a membership in the team.
pub fn member_ids(conn: &mut Conn, team_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(team_memberships::table
        .filter(team_memberships::team_id.eq(team_id))
        .select(team_memberships::user_id)
        .distinct()
        .load(conn)?)
}

/// Deletes the team; its memberships and the API keys scoped to it go with it (foreign keys),
/// and so do the policies written for it.
pub fn delete(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    diesel::delete(
        policies::table
            .filter(policies::subject_type.eq(SubjectType::Team.as_str()))
            .filter(policies::subject_id.eq(id)),
    )
    .execute(conn)?;
    diesel::delete(teams::table.filter(teams::id.eq(id))).execute(conn)?;
    Ok(())
}
