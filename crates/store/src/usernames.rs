//! Usernames in the database: uniqueness by key and by confusable skeleton, sign-in lookups by
//! key, and the start-up backfill of rows written before the rule
//! (see `docs/decisions/0014-username-rule.md`).

use diesel::prelude::*;
use tessera_core::username;
use tessera_core::username::Username;

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::rows::IntoModels;
use crate::rows::UserRow;
use crate::schema::users;
use tessera_core::model::User;

type Conn = DbConnection;

/// The error for a name that is the same as an existing user's (same key).
pub fn same_name(existing: &str) -> StoreError {
    StoreError::Conflict(format!("a user named {existing:?} already exists"))
}

/// The error for a name that looks like an existing user's (same skeleton, different key).
pub fn lookalike(wanted: &str, existing: &str) -> StoreError {
    StoreError::Conflict(format!(
        "{wanted:?} looks like the existing user {existing:?}; choose a username that cannot be mistaken for it"
    ))
}

/// Refuses `name` if another user of the realm (other than `except`, the user being renamed)
/// has the same key or skeleton, or, for rows from before the rule, the same stored name.
/// Call it in the transaction that writes the name; the unique indexes catch a race.
pub fn check_free(
    conn: &mut Conn,
    realm_id: &str,
    name: &Username,
    except: Option<&str>,
) -> Result<(), StoreError> {
    let mut query = users::table
        .filter(users::realm_id.eq(realm_id))
        .filter(
            users::username_key
                .eq(name.key())
                .or(users::username_skeleton.eq(name.skeleton()))
                .or(users::username.eq(name.as_str())),
        )
        .select((users::username, users::username_key))
        .order(users::created_at)
        .limit(5)
        .into_boxed();
    if let Some(id) = except {
        query = query.filter(users::id.ne(id.to_string()));
    }
    let hits: Vec<(String, Option<String>)> = query.load(conn)?;
    if let Some((existing, _)) = hits
        .iter()
        .find(|(u, k)| k.as_deref() == Some(name.key()) || u == name.as_str())
    {
        return Err(same_name(existing));
    }
    if let Some((existing, _)) = hits.first() {
        return Err(lookalike(name.as_str(), existing));
    }
    // Rows from before the rule that the backfill left without a key (few, and usually none):
    // compare in Rust, since SQL cannot compute their keys.
    let mut old = users::table
        .filter(users::realm_id.eq(realm_id))
        .filter(users::username_key.is_null())
        .select(users::username)
        .into_boxed();
    if let Some(id) = except {
        old = old.filter(users::id.ne(id.to_string()));
    }
    for existing in old.load::<String>(conn)? {
        if username::lookup_key(&existing) == name.key() {
            return Err(same_name(&existing));
        }
        if username::lookup_skeleton(&existing) == name.skeleton() {
            return Err(lookalike(name.as_str(), &existing));
        }
    }
    Ok(())
}

/// Turns a unique violation on writing `name` into the same errors as [`check_free`] (the
/// other writer's row is not known here, so the message names the wanted name).
pub fn map_unique(e: diesel::result::Error, name: &str) -> StoreError {
    let skeleton = matches!(
        &e,
        diesel::result::Error::DatabaseError(_, info) if info.message().contains("username_skeleton")
            || info.constraint_name().is_some_and(|c| c.contains("username_skeleton"))
    );
    match StoreError::from(e) {
        StoreError::Conflict(_) if skeleton => StoreError::Conflict(format!(
            "{name:?} looks like the name of an existing user; choose a username that cannot be mistaken for it"
        )),
        StoreError::Conflict(_) => same_name(name),
        other => other,
    }
}

/// The user someone signing in as `input` means: the user whose key is the key of `input`
/// (so `ADMIN` finds `admin`), or, among rows from before the rule whose key is still NULL,
/// the one named exactly `input`. An exact match wins over a key match.
pub fn user_for_sign_in(
    conn: &mut Conn,
    realm_id: &str,
    input: &str,
) -> Result<Option<User>, StoreError> {
    let key = username::lookup_key(input);
    let found: Vec<User> = users::table
        .filter(users::realm_id.eq(realm_id))
        .filter(
            users::username_key
                .eq(&key)
                .or(users::username_key.is_null().and(users::username.eq(input))),
        )
        .select(UserRow::as_select())
        .limit(2)
        .load::<UserRow>(conn)?
        .into_models()?;
    let exact = found.iter().position(|u| u.username == input);
    Ok(match exact {
        Some(i) => found.into_iter().nth(i),
        None => found.into_iter().next(),
    })
}

/// A row the backfill left without a key: its name collides with an earlier row's, or the
/// rule refuses it. It keeps working for sign-in by its exact name until renamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillIssue {
    pub realm_id: String,
    /// The realm's name, for the log.
    pub realm: String,
    pub user_id: String,
    pub username: String,
    /// The earlier user it collides with; `None` when the rule refuses the name itself.
    pub conflicts_with: Option<String>,
    /// What is wrong and how to fix it.
    pub reason: String,
}

/// Fills `username_key` and `username_skeleton` for rows written before the rule, oldest first
/// (`created_at`, then `id`) so the result does not depend on the backend's row order. A row
/// that collides with an earlier one, or whose name the rule refuses, keeps NULL and is
/// reported (and logged) instead: start-up never fails on old data. Cheap when nothing is
/// NULL: one query.
pub fn backfill_keys(conn: &mut Conn) -> Result<Vec<BackfillIssue>, StoreError> {
    let pending: Vec<(String, String, String)> = users::table
        .filter(
            users::username_key
                .is_null()
                .or(users::username_skeleton.is_null()),
        )
        .order((users::created_at, users::id))
        .select((users::id, users::realm_id, users::username))
        .load(conn)?;
    let mut issues = Vec::new();
    for (id, realm_id, stored) in pending {
        let issue = match username::parse(&stored) {
            Err(e) => Some(BackfillIssue {
                realm: realm_name(conn, &realm_id)?,
                realm_id: realm_id.clone(),
                user_id: id.clone(),
                username: stored.clone(),
                conflicts_with: None,
                reason: format!(
                    "the username rule refuses it ({}); rename the user",
                    e.message
                ),
            }),
            Ok(name) => match holder(conn, &realm_id, &id, &name)? {
                Some(other) => Some(BackfillIssue {
                    realm: realm_name(conn, &realm_id)?,
                    realm_id: realm_id.clone(),
                    user_id: id.clone(),
                    username: stored.clone(),
                    conflicts_with: Some(other.clone()),
                    reason: format!(
                        "it is the same name as, or looks like, {other:?}; rename one of them"
                    ),
                }),
                None => {
                    diesel::update(users::table.filter(users::id.eq(&id)))
                        .set((
                            users::username_key.eq(name.key()),
                            users::username_skeleton.eq(name.skeleton()),
                        ))
                        .execute(conn)?;
                    None
                }
            },
        };
        if let Some(issue) = issue {
            tracing::warn!(
                realm = %issue.realm,
                user_id = %issue.user_id,
                username = %issue.username,
                conflicts_with = issue.conflicts_with.as_deref().unwrap_or(""),
                "user {:?} in realm {:?} keeps no username key: {}; until then it signs in only by its exact name",
                issue.username,
                issue.realm,
                issue.reason
            );
            issues.push(issue);
        }
    }
    Ok(issues)
}

/// The username of another row of the realm that already holds `name`'s key or skeleton.
fn holder(
    conn: &mut Conn,
    realm_id: &str,
    id: &str,
    name: &Username,
) -> Result<Option<String>, StoreError> {
    Ok(users::table
        .filter(users::realm_id.eq(realm_id))
        .filter(users::id.ne(id))
        .filter(
            users::username_key
                .eq(name.key())
                .or(users::username_skeleton.eq(name.skeleton())),
        )
        .select(users::username)
        .first(conn)
        .optional()?)
}

fn realm_name(conn: &mut Conn, realm_id: &str) -> Result<String, StoreError> {
    Ok(crate::schema::realms::table
        .find(realm_id)
        .select(crate::schema::realms::name)
        .first(conn)
        .optional()?
        .unwrap_or_else(|| realm_id.to_string()))
}
