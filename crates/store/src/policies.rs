//! Policies: allow or deny permissions to a user, role or team.

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::rows::find_one;
use crate::rows::*;
use crate::schema::*;
use diesel::prelude::*;
use std::collections::BTreeSet;
pub use tessera_core::access::PersonalKeyRights;
use tessera_core::model::Policy;
use tessera_core::model::SubjectType;

type Conn = DbConnection;

/// Whether a policy subject (`user`, `role` or `team`) exists in the realm.
pub fn subject_exists(
    conn: &mut Conn,
    realm_id: &str,
    subject_type: SubjectType,
    subject_id: &str,
) -> Result<bool, StoreError> {
    Ok(match subject_type {
        SubjectType::User => crate::users::in_realm(conn, realm_id, subject_id)?.is_some(),
        SubjectType::Role => crate::roles::in_realm(conn, realm_id, subject_id)?.is_some(),
        SubjectType::Team => crate::teams::in_realm(conn, realm_id, subject_id)?.is_some(),
    })
}

find_one!(pub fn in_realm(policies: realm_id, id) -> PolicyRow as Policy);

find_one!(pub fn by_name(policies: realm_id, name) -> PolicyRow as Policy);

pub(crate) fn name_taken(e: diesel::result::Error, name: &str) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => {
            StoreError::Conflict(format!("a policy named {name:?} already exists"))
        }
        other => other,
    }
}

pub fn insert(conn: &mut Conn, policy: &Policy) -> Result<(), StoreError> {
    diesel::insert_into(policies::table)
        .values(PolicyRow::from_model(policy))
        .execute(conn)
        .map_err(|e| name_taken(e, &policy.name))?;
    Ok(())
}

/// Replaces everything but the id, realm and creation time.
pub fn update(conn: &mut Conn, p: &Policy) -> Result<(), StoreError> {
    diesel::update(policies::table.filter(policies::id.eq(&p.id)))
        .set((
            policies::name.eq(&p.name),
            policies::description.eq(&p.description),
            policies::effect.eq(p.effect.as_str()),
            policies::permissions.eq(p.permissions.to_string()),
            policies::subject_type.eq(p.subject_type.as_str()),
            policies::subject_id.eq(&p.subject_id),
            policies::enabled.eq(p.enabled),
            policies::updated_at.eq(p.updated_at),
        ))
        .execute(conn)
        .map_err(|e| name_taken(e, &p.name))?;
    Ok(())
}

pub fn delete(conn: &mut Conn, id: &str) -> Result<(), StoreError> {
    diesel::delete(policies::table.filter(policies::id.eq(id))).execute(conn)?;
    Ok(())
}

/// Conditions of a policy list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct PolicyFilter<'a> {
    pub subject_type: Option<&'a str>,
    pub subject_id: Option<&'a str>,
    pub effect: Option<&'a str>,
}

/// Policies of the realm ordered by id, after `after`.
pub fn list(
    conn: &mut Conn,
    realm_id: &str,
    filter: &PolicyFilter<'_>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Policy>, StoreError> {
    let mut query = page_in_realm!(policies by id as PolicyRow, realm_id, after, limit);
    if let Some(t) = filter.subject_type {
        query = query.filter(policies::subject_type.eq(t.to_string()));
    }
    if let Some(s) = filter.subject_id {
        query = query.filter(policies::subject_id.eq(s.to_string()));
    }
    if let Some(e) = filter.effect {
        query = query.filter(policies::effect.eq(e.to_string()));
    }
    query.load::<PolicyRow>(conn)?.into_models()
}

/// Enabled policies whose subject is the role.
pub fn of_role(conn: &mut Conn, realm_id: &str, role_id: &str) -> Result<Vec<Policy>, StoreError> {
    policies::table
        .filter(policies::realm_id.eq(realm_id))
        .filter(policies::enabled.eq(true))
        .filter(policies::subject_type.eq(SubjectType::Role.as_str()))
        .filter(policies::subject_id.eq(role_id))
        .select(PolicyRow::as_select())
        .load::<PolicyRow>(conn)?
        .into_models()
}

/// Enabled policies whose subject is the user, one of the roles or one of the teams.
pub fn for_subjects(
    conn: &mut Conn,
    realm_id: &str,
    user_id: &str,
    role_ids: &BTreeSet<String>,
    team_ids: &BTreeSet<String>,
) -> Result<Vec<Policy>, StoreError> {
    let roles: Vec<&String> = role_ids.iter().collect();
    let teams: Vec<&String> = team_ids.iter().collect();
    policies::table
        .filter(policies::realm_id.eq(realm_id))
        .filter(policies::enabled.eq(true))
        .filter(
            (policies::subject_type
                .eq(SubjectType::User.as_str())
                .and(policies::subject_id.eq(user_id)))
            .or(policies::subject_type
                .eq(SubjectType::Role.as_str())
                .and(policies::subject_id.eq_any(roles)))
            .or(policies::subject_type
                .eq(SubjectType::Team.as_str())
                .and(policies::subject_id.eq_any(teams))),
        )
        .select(PolicyRow::as_select())
        .load::<PolicyRow>(conn)?
        .into_models()
}
