//! Teams: `/api/v1/teams`. A team groups users (each with a role in it); the realm's root team
//! always exists and keeps its name.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tessera_core::model::Team;
use tessera_core::names::validate_display_name;
use tessera_core::page::Page;
use tessera_store as store;
use tessera_store::DbConnection;
use tessera_store::provision::ROOT_TEAM_NAME;
use tessera_store::teams::TeamFilter;

use super::{
    ListEntry, MAX_NAME, MAX_TEXT, Mode, RequestBody, check_code, check_entries, check_line,
    check_list, check_text, ensure_unused, found, load_code, store_code, to_json_text, window,
};
use crate::access::Grantor;
use crate::error::ApiError;
use crate::http::Author;
use crate::http::{ListQuery, Values, explicit, time_string};

// ---- what the API returns ----

/// One provider of a team, as stored (and as sent: `type` is a code).
#[derive(Serialize, Deserialize, Clone, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Provider {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// A number or a name.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    kind: Option<Json>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ProviderOut {
    id: String,
    name: String,
    #[serde(rename = "type")]
    #[schema(value_type = Value)]
    kind: Json,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct TeamJson {
    id: String,
    name: String,
    #[schema(value_type = Value)]
    policy_type: Json,
    providers: Vec<ProviderOut>,
    created_at: String,
    updated_at: String,
    description: String,
    user_count: i64,
    sso_alias: String,
    #[schema(value_type = Vec<Value>)]
    provider_types: Vec<Json>,
}

fn team_json(t: Team, user_count: i64) -> TeamJson {
    let providers: Vec<Provider> = serde_json::from_str(&t.providers).unwrap_or_default();
    TeamJson {
        policy_type: load_code(&t.policy_type),
        providers: providers
            .into_iter()
            .map(|p| ProviderOut {
                id: p.id,
                name: p.name.unwrap_or_default(),
                kind: p.kind.unwrap_or(Json::Null),
            })
            .collect(),
        created_at: time_string(t.created_at),
        updated_at: time_string(t.updated_at),
        user_count,
        provider_types: serde_json::from_str(&t.provider_types).unwrap_or_default(),
        id: t.id,
        name: t.name,
        description: t.description,
        sso_alias: t.sso_alias,
    }
}

// ---- what the API reads ----

/// A team (create, PUT, PATCH). On PATCH, absent fields keep their value; on create and PUT,
/// absent optional fields are cleared, as `null` clears them on any.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TeamRequest {
    /// The team's id: left out on create, else the path's.
    id: Option<String>,
    /// 1-200 characters, unique among the realm's teams. Required on create and PUT; never
    /// `null`.
    #[serde(default, deserialize_with = "explicit")]
    #[schema(value_type = String)]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "explicit")]
    description: Option<Option<String>>,
    /// A number or a name, e.g. `1` or `"PROVIDER_ID_SET"`.
    #[serde(default, deserialize_with = "explicit")]
    policy_type: Option<Option<Json>>,
    #[serde(default, deserialize_with = "explicit")]
    providers: Option<Option<Vec<Provider>>>,
    #[serde(default, deserialize_with = "explicit")]
    sso_alias: Option<Option<String>>,
    /// Numbers or names.
    #[serde(default, deserialize_with = "explicit")]
    provider_types: Option<Option<Vec<Json>>>,
}

impl RequestBody for TeamRequest {
    fn sent_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl TeamRequest {
    /// A new team of the realm from a create body. Pure: no database.
    pub(super) fn into_new(self, realm_id: &str) -> Result<Team, ApiError> {
        let mut team = Team::new(realm_id, "", "", false, 0);
        self.apply(&mut team, Mode::Create)?;
        Ok(team)
    }

    /// Checks the body and applies it to `team`. Pure: no database.
    fn apply(self, team: &mut Team, mode: Mode) -> Result<(), ApiError> {
        if let Some(name) = mode.required("name", self.name)? {
            validate_display_name("name", &name)?;
            team.name = name.trim().to_string();
        }
        if let Some(description) = mode.or_default(self.description) {
            check_text("description", &description, MAX_TEXT)?;
            team.description = description;
        }
        if let Some(policy_type) = mode.optional(self.policy_type) {
            team.policy_type = store_code("policy_type", policy_type)?;
        }
        if let Some(alias) = mode.or_default(self.sso_alias) {
            check_line("sso_alias", &alias, MAX_NAME)?;
            team.sso_alias = alias;
        }
        if let Some(providers) = mode.or_default(self.providers) {
            check_entries("providers", &providers)?;
            team.providers = to_json_text(&providers)?;
        }
        if let Some(types) = mode.or_default(self.provider_types) {
            check_list("provider_types", &types)?;
            for (i, t) in types.iter().enumerate() {
                check_code(&format!("provider_types[{i}]"), t)?;
            }
            team.provider_types = to_json_text(&types)?;
        }
        Ok(())
    }
}

impl ListEntry for Provider {
    const KEYS: [&'static str; 3] = ["id", "name", "type"];

    fn parts(&self) -> (&str, Option<&str>, Option<&Json>) {
        (&self.id, self.name.as_deref(), self.kind.as_ref())
    }
}

// ---- what the handlers call ----

/// One page of the realm's teams, each with its live member count.
pub(super) fn list(
    conn: &mut DbConnection,
    realm_id: &str,
    list: &ListQuery,
) -> Result<Values<TeamJson>, ApiError> {
    let filter = TeamFilter {
        name: list.filter_value("name"),
        sso_alias: list.filter_value("sso_alias"),
    };
    let rows = store::teams::list(conn, realm_id, &filter, &window(list))?;
    let page = Page::from_rows(rows, list.page.size, |t| t.id.clone());
    let ids: Vec<String> = page.items.iter().map(|t| t.id.clone()).collect();
    let counts = store::teams::user_counts(conn, &ids)?;
    Ok(Values::from_page(page, |t| {
        let n = counts.get(&t.id).copied().unwrap_or(0);
        team_json(t, n)
    }))
}

/// The team with its live member count, or 404.
pub(super) fn load(
    conn: &mut DbConnection,
    realm_id: &str,
    id: &str,
) -> Result<TeamJson, ApiError> {
    let team = found(store::teams::in_realm(conn, realm_id, id)?, "team", id)?;
    let count = store::teams::user_counts(conn, std::slice::from_ref(&team.id))?
        .get(&team.id)
        .copied()
        .unwrap_or(0);
    Ok(team_json(team, count))
}

/// 409 when another team of the realm has this name.
fn ensure_name_free(conn: &mut DbConnection, realm_id: &str, name: &str) -> Result<(), ApiError> {
    let taken = store::teams::by_name(conn, realm_id, name)?.is_some();
    ensure_unused(taken, "team", name)
}

/// Creates the checked team ([`TeamRequest::into_new`]) unless its name is taken.
pub(super) fn insert(
    conn: &mut DbConnection,
    author: &Author,
    mut team: Team,
) -> Result<TeamJson, ApiError> {
    ensure_name_free(conn, author.realm_id(), &team.name)?;
    (team.created_at, team.updated_at) = (author.now, author.now);
    store::teams::insert(conn, &team)?;
    author.audit(conn, "team.create", &format!("team:{}", team.id))?;
    Ok(team_json(team, 0))
}

/// Applies the body to the stored team (404 first); the root team keeps its name.
pub(super) fn update(
    conn: &mut DbConnection,
    author: &Author,
    id: &str,
    body: TeamRequest,
    mode: Mode,
) -> Result<TeamJson, ApiError> {
    let before = found(
        store::teams::in_realm(conn, author.realm_id(), id)?,
        "team",
        id,
    )?;
    let mut team = before.clone();
    body.apply(&mut team, mode)?;
    if team.name != before.name {
        if before.is_root {
            return Err(ApiError::Conflict(format!(
                "the root team is always named {ROOT_TEAM_NAME:?}; it cannot be renamed"
            )));
        }
        ensure_name_free(conn, author.realm_id(), &team.name)?;
    }
    team.updated_at = author.now;
    store::teams::update(conn, &team)?;
    author.audit(conn, "team.update", &format!("team:{id}"))?;
    load(conn, author.realm_id(), id)
}

/// Deletes a team other than the root. Leaving a team can lift a deny that the team's
/// policies or roles put on rights held elsewhere: every member's gains must be held.
pub(super) fn remove(conn: &mut DbConnection, author: &Author, id: &str) -> Result<(), ApiError> {
    let grantor = Grantor::new(conn, &author.principal)?;
    let team = found(
        store::teams::in_realm(conn, author.realm_id(), id)?,
        "team",
        id,
    )?;
    if team.is_root {
        return Err(ApiError::Conflict(
            "the root team cannot be deleted: every realm keeps one".into(),
        ));
    }
    let members = store::teams::member_ids(conn, id)?;
    let mut before = Vec::with_capacity(members.len());
    for m in &members {
        before.push(grantor.user_rights(conn, m)?);
    }
    store::teams::delete(conn, id)?;
    for (m, was) in members.iter().zip(&before) {
        let now_rights = grantor.user_rights(conn, m)?;
        grantor.ensure_gains(was, &now_rights)?;
    }
    author.audit(conn, "team.delete", &format!("team:{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body as the handlers read it, or the path of the field serde refused.
    fn parse(json: &str) -> Result<TeamRequest, String> {
        let de = &mut serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(de).map_err(|e| e.path().to_string())
    }

    fn stored_team() -> Team {
        let mut team = Team::new("realm", "ops", "on call", false, 0);
        team.sso_alias = "ops-sso".into();
        team
    }

    #[test]
    fn patch_keeps_what_is_absent_and_clears_what_is_null() {
        let mut team = stored_team();
        let body = parse(r#"{"description": null}"#).unwrap();
        body.apply(&mut team, Mode::Patch).unwrap();
        assert_eq!(team.name, "ops");
        assert_eq!(team.description, "");
        assert_eq!(team.sso_alias, "ops-sso");
    }

    #[test]
    fn replace_clears_what_is_absent_and_needs_a_name() {
        let mut team = stored_team();
        parse(r#"{"name": "ops"}"#)
            .unwrap()
            .apply(&mut team, Mode::Replace)
            .unwrap();
        assert_eq!(
            (team.description.as_str(), team.sso_alias.as_str()),
            ("", "")
        );
        for (json, message) in [
            ("{}", "is required"),
            (r#"{"name": null}"#, "must not be null"),
        ] {
            let err = parse(json).unwrap().apply(&mut team, Mode::Replace);
            assert!(
                matches!(&err, Err(ApiError::BadRequest { field, message: m }) if field == "name" && m == message),
                "{json}: {err:?}"
            );
        }
    }

    #[test]
    fn serde_errors_name_the_field() {
        assert_eq!(parse(r#"{"colour": "red"}"#).err().unwrap(), "colour");
        assert_eq!(parse(r#"{"sso_alias": 5}"#).err().unwrap(), "sso_alias");
        let nested = parse(r#"{"providers": [{"id": "p", "colour": 1}]}"#);
        assert_eq!(nested.err().unwrap(), "providers[0].colour");
    }

    #[test]
    fn providers_are_checked_entry_by_entry() {
        let body = parse(r#"{"name": "a", "providers": [{"id": "p"}, {"id": "p"}]}"#).unwrap();
        let err = body.apply(&mut stored_team(), Mode::Create);
        assert!(
            matches!(&err, Err(ApiError::BadRequest { field, .. }) if field == "providers[1].id"),
            "{err:?}"
        );
    }
}
