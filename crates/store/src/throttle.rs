//! Failed-attempt counters behind brute-force throttling (docs/operations.md).

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::schema::*;
use diesel::prelude::*;

type Conn = DbConnection;

/// One throttle counter: failures under a key (an address, a user, a pair) since the window
/// began, and until when it is locked. A store-only record, not a domain model.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_throttle)]
pub struct ThrottleEntry {
    pub realm_id: String,
    pub throttle_key: String,
    pub failures: i64,
    pub window_started_at: i64,
    pub locked_until: Option<i64>,
}

pub fn entry(
    conn: &mut Conn,
    realm_id: &str,
    key: &str,
) -> Result<Option<ThrottleEntry>, StoreError> {
    Ok(login_throttle::table
        .find((realm_id, key))
        .select(ThrottleEntry::as_select())
        .first(conn)
        .optional()?)
}

/// How many failures within how long a throttle key allows, and what happens at the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRule {
    pub window_secs: i64,
    pub max_failures: i64,
    pub at_limit: AtLimit,
}

/// What a throttle key at its limit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtLimit {
    /// The key is locked for `secs` and its count starts again with the lock.
    Lock { secs: i64 },
    /// A slowdown instead of a lock: the attempt that reaches the limit, and every one after
    /// it, makes the next wait 1 s, then 2, 4, 8 … s, at most `max_delay_secs`. The count keeps
    /// growing and each such attempt starts the window again, so the slowdown lasts until a
    /// whole window passes without an attempt being admitted.
    Backoff { max_delay_secs: i64 },
}

/// The wait after the attempt that brought a backoff key to `failures` (≥ its limit).
pub fn backoff_delay(failures: i64, max_failures: i64, max_delay_secs: i64) -> i64 {
    let over = (failures - max_failures).max(0);
    if over >= 62 {
        max_delay_secs
    } else {
        (1_i64 << over).min(max_delay_secs)
    }
}

/// Takes a key's throttle lock until the transaction ends (PostgreSQL; SQLite's write
/// transactions are serialised already).
pub(crate) fn lock_key(conn: &mut Conn, realm_id: &str, key: &str) -> Result<(), StoreError> {
    crate::db::lock_until_commit(conn, &format!("login_throttle\n{realm_id}\n{key}"))
}

pub(crate) fn put_entry(conn: &mut Conn, entry: &ThrottleEntry) -> Result<(), StoreError> {
    diesel::delete(login_throttle::table.find((&entry.realm_id, &entry.throttle_key)))
        .execute(conn)?;
    diesel::insert_into(login_throttle::table)
        .values(entry)
        .execute(conn)?;
    Ok(())
}

/// Admits one password attempt under every key, or says how many seconds to wait. Count and
/// decision are one step: an admitted attempt is counted as a failure at once (a success
/// takes it back, [`throttle_settle`]), so of many attempts at the same moment no more than
/// `max_failures` of a [`AtLimit::Lock`] key are let through to the password hash, and no
/// more than one per wait of an [`AtLimit::Backoff`] key at its limit (the admission itself
/// starts the next wait). A refused attempt counts nowhere.
pub fn admit(
    conn: &mut Conn,
    realm_id: &str,
    keys: &[(String, ThrottleRule)],
    now: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(admit_reporting(conn, realm_id, keys, now)?.wait)
}

/// What [`throttle_admit`] decided, and the backoff keys whose wait this admission started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// Seconds to wait when refused.
    pub wait: Option<i64>,
    pub backoffs_started: Vec<String>,
}

/// [`throttle_admit`], also naming the backoff keys it put into a wait (for metrics).
pub fn admit_reporting(
    conn: &mut Conn,
    realm_id: &str,
    keys: &[(String, ThrottleRule)],
    now: i64,
) -> Result<Admission, StoreError> {
    let refused = |wait| Admission {
        wait: Some(wait),
        backoffs_started: Vec::new(),
    };
    crate::db::write_tx(conn, |conn| {
        let mut sorted: Vec<&(String, ThrottleRule)> = keys.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut counted = Vec::with_capacity(keys.len());
        for (key, rule) in sorted {
            lock_key(conn, realm_id, key)?;
            let entry = match entry(conn, realm_id, key)? {
                Some(e) if e.locked_until.is_some_and(|until| until > now) => {
                    return Ok(refused(e.locked_until.unwrap_or(now) - now));
                }
                Some(e) if e.window_started_at > now - rule.window_secs => e,
                _ => ThrottleEntry {
                    realm_id: realm_id.into(),
                    throttle_key: key.clone(),
                    failures: 0,
                    window_started_at: now,
                    locked_until: None,
                },
            };
            let failures = entry.failures + 1;
            match rule.at_limit {
                AtLimit::Lock { .. } if entry.failures >= rule.max_failures => {
                    // As many attempts as the limit allows are still being checked.
                    return Ok(refused(1));
                }
                AtLimit::Backoff { max_delay_secs } if failures >= rule.max_failures => {
                    counted.push(ThrottleEntry {
                        failures,
                        window_started_at: now,
                        locked_until: Some(
                            now + backoff_delay(failures, rule.max_failures, max_delay_secs),
                        ),
                        ..entry
                    });
                }
                _ => counted.push(ThrottleEntry {
                    failures,
                    locked_until: None,
                    ..entry
                }),
            }
        }
        let mut backoffs_started = Vec::new();
        for entry in &counted {
            if entry.locked_until.is_some() {
                backoffs_started.push(entry.throttle_key.clone());
            }
            put_entry(conn, entry)?;
        }
        Ok(Admission {
            wait: None,
            backoffs_started,
        })
    })
}

/// Settles an admitted attempt. A success clears `clear_on_success` and takes the attempt
/// back from the other keys (and lifts the wait its admission started on a backoff key,
/// unless a later admission has started another); a failure stays counted, and a
/// [`AtLimit::Lock`] key at its limit is locked (a new window starts with the lock). Returns
/// the keys this failure locked.
pub fn settle(
    conn: &mut Conn,
    realm_id: &str,
    keys: &[(String, ThrottleRule)],
    clear_on_success: &str,
    success: bool,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    crate::db::write_tx(conn, |conn| {
        let mut locked = Vec::new();
        let mut sorted: Vec<&(String, ThrottleRule)> = keys.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, rule) in sorted {
            lock_key(conn, realm_id, key)?;
            if success && key == clear_on_success {
                clear(conn, realm_id, key)?;
                continue;
            }
            let Some(mut entry) = entry(conn, realm_id, key)? else {
                continue;
            };
            match (success, rule.at_limit) {
                (true, AtLimit::Backoff { max_delay_secs }) => {
                    // `now` is the admission's time: the wait it started ends exactly here.
                    let started =
                        now + backoff_delay(entry.failures, rule.max_failures, max_delay_secs);
                    if entry.failures >= rule.max_failures && entry.locked_until == Some(started) {
                        entry.locked_until = None;
                    }
                    entry.failures = (entry.failures - 1).max(0);
                }
                (true, AtLimit::Lock { .. }) => entry.failures = (entry.failures - 1).max(0),
                (false, AtLimit::Lock { secs }) if entry.failures >= rule.max_failures => {
                    entry.locked_until = Some(now + secs);
                    entry.failures = 0;
                    entry.window_started_at = now;
                    locked.push(key.clone());
                }
                (false, _) => continue,
            }
            put_entry(conn, &entry)?;
        }
        Ok(locked)
    })
}

/// Deletes entries whose window has passed and that hold no lock; returns how many.
pub fn prune(conn: &mut Conn, now: i64, window_secs: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        login_throttle::table
            .filter(login_throttle::window_started_at.le(now - window_secs))
            .filter(
                login_throttle::locked_until
                    .is_null()
                    .or(login_throttle::locked_until.le(now)),
            ),
    )
    .execute(conn)?)
}

/// A realm's throttle keys matching the SQL LIKE `pattern` (`\` escapes `%`, `_` and itself).
pub fn keys_like(
    conn: &mut Conn,
    realm_id: &str,
    pattern: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(login_throttle::table
        .filter(login_throttle::realm_id.eq(realm_id))
        .filter(login_throttle::throttle_key.like(pattern).escape('\\'))
        .select(login_throttle::throttle_key)
        .order(login_throttle::throttle_key)
        .load(conn)?)
}

pub fn clear(conn: &mut Conn, realm_id: &str, key: &str) -> Result<(), StoreError> {
    diesel::delete(login_throttle::table.find((realm_id, key))).execute(conn)?;
    Ok(())
}
