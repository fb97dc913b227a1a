//! API keys, personal and team: rows, lookup by hash, listing and last use.

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::rows::find_one;
use crate::rows::*;
use crate::schema::*;
use diesel::prelude::*;
pub use tessera_core::access::PersonalKeyRights;
use tessera_core::model::ApiKey;
use tessera_core::model::KeyKind;

type Conn = DbConnection;

pub fn insert(conn: &mut Conn, key: &ApiKey) -> Result<(), StoreError> {
    diesel::insert_into(api_keys::table)
        .values(ApiKeyRow::from_model(key))
        .execute(conn)?;
    Ok(())
}

find_one!(pub fn by_id(api_keys: realm_id, id) -> ApiKeyRow as ApiKey);

/// Which keys a list may show.
pub enum KeyScope<'a> {
    /// Personal keys of one owner.
    PersonalOf(&'a str),
    /// Every personal key of the realm (admins).
    AllPersonal,
    /// Team keys of these teams.
    TeamKeysOf(&'a [String]),
    /// Every team key of the realm (admins): read through `(realm_id, kind, id)`.
    AllTeam,
}

/// Up to this many teams, a team-key list reads the next ids of each team through that
/// team's index, keeps the first `limit` of them and loads those rows: a few short ordered
/// index reads and one page of rows, whatever the realm holds. One query for several teams
/// would either walk all the realm's team keys in id order, filtering (the plan SQLite picks:
/// 150 ms a page for a member of 2 teams among 1,000 with 1,000,000 keys), or read every key
/// of those teams and sort them. More teams than this (an admin's list of every team) take
/// the single query, which then matches most of what it walks.
pub(crate) const MERGED_TEAMS_MAX: usize = 16;

/// Up to `limit` keys after `after` (by id), in id order, optionally of one team.
pub fn list(
    conn: &mut Conn,
    realm_id: &str,
    scope: KeyScope<'_>,
    team: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<ApiKey>, StoreError> {
    if let KeyScope::TeamKeysOf(teams) = scope
        && (2..=MERGED_TEAMS_MAX).contains(&teams.len())
    {
        let wanted: std::collections::BTreeSet<&String> = teams
            .iter()
            .filter(|t| team.is_none_or(|only| only == t.as_str()))
            .collect();
        let mut ids: Vec<String> = Vec::new();
        for t in wanted {
            let mut q = api_keys::table
                .filter(api_keys::realm_id.eq(realm_id))
                .filter(api_keys::kind.eq(KeyKind::Team.as_str()))
                .filter(api_keys::team_id.eq(t))
                .select(api_keys::id)
                .order(api_keys::id)
                .limit(limit)
                .into_boxed();
            if let Some(after) = after {
                q = q.filter(api_keys::id.gt(after));
            }
            ids.extend(q.load::<String>(conn)?);
        }
        // Ids are lowercase UUIDs: their byte order is both backends' ORDER BY order.
        ids.sort_unstable();
        ids.truncate(usize::try_from(limit).unwrap_or(0));
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        return api_keys::table
            .filter(api_keys::id.eq_any(&ids))
            .select(ApiKeyRow::as_select())
            .order(api_keys::id)
            .load::<ApiKeyRow>(conn)?
            .into_models();
    }
    let mut q = api_keys::table
        .filter(api_keys::realm_id.eq(realm_id))
        .select(ApiKeyRow::as_select())
        .order(api_keys::id)
        .limit(limit)
        .into_boxed();
    q = match scope {
        KeyScope::PersonalOf(owner) => q
            .filter(api_keys::kind.eq(KeyKind::Personal.as_str()))
            .filter(api_keys::owner_user_id.eq(owner)),
        KeyScope::AllPersonal => q.filter(api_keys::kind.eq(KeyKind::Personal.as_str())),
        KeyScope::AllTeam => q.filter(api_keys::kind.eq(KeyKind::Team.as_str())),
        // `=` rather than `IN` for one team: a statement diesel can cache.
        KeyScope::TeamKeysOf([one]) => q
            .filter(api_keys::kind.eq(KeyKind::Team.as_str()))
            .filter(api_keys::team_id.eq(one)),
        KeyScope::TeamKeysOf(teams) => q
            .filter(api_keys::kind.eq(KeyKind::Team.as_str()))
            .filter(api_keys::team_id.eq_any(teams)),
    };
    if let Some(team) = team {
        q = q.filter(api_keys::team_id.eq(team));
    }
    if let Some(after) = after {
        q = q.filter(api_keys::id.gt(after));
    }
    q.load::<ApiKeyRow>(conn)?.into_models()
}

/// Writes the changeable fields of a key.
pub fn update(conn: &mut Conn, key: &ApiKey) -> Result<(), StoreError> {
    diesel::update(api_keys::table.find(&key.id))
        .set((
            api_keys::name.eq(&key.name),
            api_keys::role_id.eq(&key.role_id),
            api_keys::status.eq(key.status.as_str()),
            api_keys::expires_at.eq(key.expires_at),
            api_keys::updated_by.eq(&key.updated_by),
            api_keys::updated_at.eq(key.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut Conn, id: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(api_keys::table.find(id)).execute(conn)?)
}

find_one!(pub fn by_hash(api_keys: secret_sha256) -> ApiKeyRow as ApiKey);

/// Records when keys were last used: one statement per key, batched by the caller.
pub fn touch(conn: &mut Conn, last_access: &[(String, i64)]) -> Result<(), StoreError> {
    crate::db::write_tx(conn, |conn| {
        for (id, at) in last_access {
            diesel::update(api_keys::table.find(id))
                .set(api_keys::last_access_at.eq(*at))
                .execute(conn)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::{Database, PoolOptions};
    use tessera_core::model::{KeyStatus, KeyType, Realm, Team};

    fn key(realm: &str, team: &str, i: usize) -> ApiKey {
        ApiKey {
            id: tessera_core::id::new_uuid(),
            realm_id: realm.into(),
            kind: KeyKind::Team,
            key_type: KeyType::Secret,
            name: format!("k{i}"),
            prefix: "ttk".into(),
            secret_sha256: tessera_core::secret::sha256_hex(&format!("{team}{i}")),
            last_four: "abcd".into(),
            team_id: Some(team.into()),
            owner_user_id: None,
            role_id: None,
            scopes: Default::default(),
            status: KeyStatus::Active,
            expires_at: None,
            last_access_at: None,
            created_by: "test".into(),
            updated_by: "test".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    /// The team-key list of a few teams (merged from one read per team) pages exactly like one
    /// query over all of them would: every key of those teams once, in id order.
    #[test]
    fn team_keys_of_several_teams_page_in_id_order() {
        let dir = tempfile::TempDir::new().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Database::connect(&url, PoolOptions::default()).unwrap();
        db.migrate().unwrap();
        let mut conn = db.conn().unwrap();
        let realm = Realm {
            id: tessera_core::id::new_uuid(),
            name: "r".into(),
            display_name: "r".into(),
            created_at: 0,
            updated_at: 0,
            mfa_required: false,
        };
        crate::realms::insert(&mut conn, &realm).unwrap();
        let teams: Vec<String> = (0..4)
            .map(|t| {
                let team = Team::new(&realm.id, &format!("t{t}"), "", false, 0);
                crate::teams::insert(&mut conn, &team).unwrap();
                team.id
            })
            .collect();
        let mut expected: Vec<String> = Vec::new();
        for (t, count) in teams.iter().zip([7, 5, 0, 9]) {
            for i in 0..count {
                let k = key(&realm.id, t, i);
                if t != &teams[3] {
                    expected.push(k.id.clone());
                }
                insert(&mut conn, &k).unwrap();
            }
        }
        expected.sort();
        // Three of the four teams, one twice: 12 keys, in pages of 5.
        let wanted = vec![
            teams[1].clone(),
            teams[0].clone(),
            teams[2].clone(),
            teams[0].clone(),
        ];
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = list(
                &mut conn,
                &realm.id,
                KeyScope::TeamKeysOf(&wanted),
                None,
                after.as_deref(),
                5,
            )
            .unwrap();
            assert!(page.len() <= 5);
            seen.extend(page.iter().map(|k| k.id.clone()));
            match page.last() {
                Some(last) if page.len() == 5 => after = Some(last.id.clone()),
                _ => break,
            }
        }
        assert_eq!(seen, expected);
        // With a team filter, only that team's keys.
        let only: Vec<ApiKey> = list(
            &mut conn,
            &realm.id,
            KeyScope::TeamKeysOf(&wanted),
            Some(&teams[1]),
            None,
            100,
        )
        .unwrap();
        assert_eq!(only.len(), 5);
        assert!(
            only.iter()
                .all(|k| k.team_id.as_deref() == Some(teams[1].as_str()))
        );
        // A team outside the list is never shown, filtered or not.
        let outside = list(
            &mut conn,
            &realm.id,
            KeyScope::TeamKeysOf(&wanted),
            Some(&teams[3]),
            None,
            100,
        )
        .unwrap();
        assert!(outside.is_empty());
    }
}
