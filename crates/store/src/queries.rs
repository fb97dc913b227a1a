//! Queries, one small function each, written once for both backends.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::models::ThrottleEntry;
use crate::rows::*;
use crate::schema::*;
use tessera_core::model::*;

type Conn = DbConnection;

// ---- realms ----

pub fn realm_by_name(conn: &mut Conn, name: &str) -> Result<Option<Realm>, StoreError> {
    realms::table
        .filter(realms::name.eq(name))
        .select(RealmRow::as_select())
        .first::<RealmRow>(conn)
        .optional()?
        .into_models()
}

pub fn realm_by_id(conn: &mut Conn, id: &str) -> Result<Option<Realm>, StoreError> {
    realms::table
        .find(id)
        .select(RealmRow::as_select())
        .first::<RealmRow>(conn)
        .optional()?
        .into_models()
}

pub fn list_realms(conn: &mut Conn) -> Result<Vec<Realm>, StoreError> {
    realms::table
        .order(realms::name)
        .select(RealmRow::as_select())
        .load::<RealmRow>(conn)?
        .into_models()
}

pub fn insert_realm(conn: &mut Conn, realm: &Realm) -> Result<(), StoreError> {
    diesel::insert_into(realms::table)
        .values(RealmRow::from_model(realm))
        .execute(conn)
        .map_err(|e| conflict_as(e, || format!("realm {} already exists", realm.name)))?;
    Ok(())
}

// ---- clients ----

pub fn client_by_client_id(
    conn: &mut Conn,
    realm_id: &str,
    client_id: &str,
) -> Result<Option<Client>, StoreError> {
    clients::table
        .filter(clients::realm_id.eq(realm_id))
        .filter(clients::client_id.eq(client_id))
        .select(ClientRow::as_select())
        .first::<ClientRow>(conn)
        .optional()?
        .into_models()
}

pub fn list_clients(conn: &mut Conn, realm_id: &str) -> Result<Vec<Client>, StoreError> {
    clients::table
        .filter(clients::realm_id.eq(realm_id))
        .order(clients::client_id)
        .select(ClientRow::as_select())
        .load::<ClientRow>(conn)?
        .into_models()
}

pub fn insert_client(conn: &mut Conn, client: &Client) -> Result<(), StoreError> {
    diesel::insert_into(clients::table)
        .values(ClientRow::from_model(client))
        .execute(conn)
        .map_err(|e| conflict_as(e, || format!("client {} already exists", client.client_id)))?;
    Ok(())
}

/// Every origin some enabled client allows (CORS preflights, which name no client).
pub fn all_web_origins(conn: &mut Conn) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String, String)> = clients::table
        .filter(clients::enabled.eq(true))
        .filter(clients::settings.like("%web_origins%"))
        .select((clients::settings, clients::redirect_uris))
        .load(conn)?;
    let mut origins: Vec<String> = rows
        .iter()
        .flat_map(|(settings, redirects)| {
            let redirects: Vec<String> = serde_json::from_str(redirects).unwrap_or_default();
            tessera_core::client::ClientSettings::from_stored(settings).origins(&redirects)
        })
        .collect();
    origins.sort();
    origins.dedup();
    Ok(origins)
}

/// Replaces the registration (everything but ids, secret and creation time).
pub fn update_client_registration(conn: &mut Conn, c: &Client) -> Result<(), StoreError> {
    let row = ClientRow::from_model(c);
    diesel::update(clients::table.filter(clients::id.eq(&row.id)))
        .set((
            clients::name.eq(&row.name),
            clients::confidential.eq(c.confidential),
            clients::grant_types.eq(&row.grant_types),
            clients::allowed_scopes.eq(&row.allowed_scopes),
            clients::default_scopes.eq(&row.default_scopes),
            clients::redirect_uris.eq(&row.redirect_uris),
            clients::post_logout_redirect_uris.eq(&row.post_logout_redirect_uris),
            clients::first_party.eq(c.first_party),
            clients::service_account_user_id.eq(&row.service_account_user_id),
            clients::enabled.eq(c.enabled),
            clients::updated_at.eq(c.updated_at),
            clients::settings.eq(&row.settings),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_client_secret(
    conn: &mut Conn,
    id: &str,
    secret_sha256: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(clients::table.filter(clients::id.eq(id)))
        .set((
            clients::secret_sha256.eq(secret_sha256),
            clients::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

// ---- users ----

/// The user a typed name means, compared by the username rule's key (`ADMIN` finds `admin`);
/// see [`crate::usernames::user_for_sign_in`].
pub fn user_by_username(
    conn: &mut Conn,
    realm_id: &str,
    username: &str,
) -> Result<Option<User>, StoreError> {
    crate::usernames::user_for_sign_in(conn, realm_id, username)
}

pub fn user_by_id(conn: &mut Conn, id: &str) -> Result<Option<User>, StoreError> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first::<UserRow>(conn)
        .optional()?
        .into_models()
}

/// Inserts a user made with [`User::new`] (so its name passed the username rule), refusing a
/// name that is the same as, or looks like, an existing user's. Run it in the write
/// transaction; a unique violation from a concurrent insert becomes the same error.
pub fn insert_user(conn: &mut Conn, user: &User) -> Result<(), StoreError> {
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

pub fn update_user_profile(conn: &mut Conn, u: &User) -> Result<(), StoreError> {
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

pub fn set_user_password(
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

// ---- roles, teams, memberships ----

pub fn role_by_name(
    conn: &mut Conn,
    realm_id: &str,
    name: &str,
) -> Result<Option<Role>, StoreError> {
    roles::table
        .filter(roles::realm_id.eq(realm_id))
        .filter(roles::name.eq(name))
        .select(RoleRow::as_select())
        .first::<RoleRow>(conn)
        .optional()?
        .into_models()
}

pub fn list_roles(conn: &mut Conn, realm_id: &str) -> Result<Vec<Role>, StoreError> {
    roles::table
        .filter(roles::realm_id.eq(realm_id))
        .order(roles::name)
        .select(RoleRow::as_select())
        .load::<RoleRow>(conn)?
        .into_models()
}

pub fn insert_role(conn: &mut Conn, role: &Role) -> Result<(), StoreError> {
    diesel::insert_into(roles::table)
        .values(RoleRow::from_model(role))
        .execute(conn)
        .map_err(|e| conflict_as(e, || format!("role {} already exists", role.name)))?;
    Ok(())
}

pub fn update_role(conn: &mut Conn, role: &Role) -> Result<(), StoreError> {
    diesel::update(roles::table.filter(roles::id.eq(&role.id)))
        .set((
            roles::description.eq(&role.description),
            roles::permissions.eq(role.permissions.to_string()),
            roles::requires_mfa.eq(role.requires_mfa),
            roles::updated_at.eq(role.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn team_by_name(
    conn: &mut Conn,
    realm_id: &str,
    name: &str,
) -> Result<Option<Team>, StoreError> {
    teams::table
        .filter(teams::realm_id.eq(realm_id))
        .filter(teams::name.eq(name))
        .select(TeamRow::as_select())
        .first::<TeamRow>(conn)
        .optional()?
        .into_models()
}

pub fn root_team(conn: &mut Conn, realm_id: &str) -> Result<Option<Team>, StoreError> {
    teams::table
        .filter(teams::realm_id.eq(realm_id))
        .filter(teams::is_root.eq(true))
        .select(TeamRow::as_select())
        .first::<TeamRow>(conn)
        .optional()?
        .into_models()
}

pub fn insert_team(conn: &mut Conn, team: &Team) -> Result<(), StoreError> {
    diesel::insert_into(teams::table)
        .values(TeamRow::from_model(team))
        .execute(conn)
        .map_err(|e| conflict_as(e, || format!("team {} already exists", team.name)))?;
    Ok(())
}

pub fn update_team_description(
    conn: &mut Conn,
    id: &str,
    description: &str,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(teams::table.filter(teams::id.eq(id)))
        .set((
            teams::description.eq(description),
            teams::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

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

pub fn memberships_of_user(
    conn: &mut Conn,
    user_id: &str,
) -> Result<Vec<TeamMembership>, StoreError> {
    team_memberships::table
        .filter(team_memberships::user_id.eq(user_id))
        .select(TeamMembershipRow::as_select())
        .load::<TeamMembershipRow>(conn)?
        .into_models()
}

// ---- scopes ----

pub fn scope_by_name(
    conn: &mut Conn,
    realm_id: &str,
    name: &str,
) -> Result<Option<Scope>, StoreError> {
    scopes::table
        .filter(scopes::realm_id.eq(realm_id))
        .filter(scopes::name.eq(name))
        .select(ScopeRow::as_select())
        .first::<ScopeRow>(conn)
        .optional()?
        .into_models()
}

pub fn list_scopes(conn: &mut Conn, realm_id: &str) -> Result<Vec<Scope>, StoreError> {
    scopes::table
        .filter(scopes::realm_id.eq(realm_id))
        .order(scopes::name)
        .select(ScopeRow::as_select())
        .load::<ScopeRow>(conn)?
        .into_models()
}

pub fn insert_scope(conn: &mut Conn, scope: &Scope) -> Result<(), StoreError> {
    diesel::insert_into(scopes::table)
        .values(ScopeRow::from_model(scope))
        .execute(conn)
        .map_err(|e| conflict_as(e, || format!("scope {} already exists", scope.name)))?;
    Ok(())
}

pub fn update_scope_description(
    conn: &mut Conn,
    id: &str,
    description: &str,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(scopes::table.filter(scopes::id.eq(id)))
        .set((
            scopes::description.eq(description),
            scopes::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

// ---- sign-in throttle ----

pub fn throttle_entry(
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
fn lock_throttle_key(conn: &mut Conn, realm_id: &str, key: &str) -> Result<(), StoreError> {
    crate::db::lock_until_commit(conn, &format!("login_throttle\n{realm_id}\n{key}"))
}

fn put_throttle_entry(conn: &mut Conn, entry: &ThrottleEntry) -> Result<(), StoreError> {
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
pub fn throttle_admit(
    conn: &mut Conn,
    realm_id: &str,
    keys: &[(String, ThrottleRule)],
    now: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(throttle_admit_reporting(conn, realm_id, keys, now)?.wait)
}

/// What [`throttle_admit`] decided, and the backoff keys whose wait this admission started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// Seconds to wait when refused.
    pub wait: Option<i64>,
    pub backoffs_started: Vec<String>,
}

/// [`throttle_admit`], also naming the backoff keys it put into a wait (for metrics).
pub fn throttle_admit_reporting(
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
            lock_throttle_key(conn, realm_id, key)?;
            let entry = match throttle_entry(conn, realm_id, key)? {
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
            put_throttle_entry(conn, entry)?;
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
pub fn throttle_settle(
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
            lock_throttle_key(conn, realm_id, key)?;
            if success && key == clear_on_success {
                throttle_clear(conn, realm_id, key)?;
                continue;
            }
            let Some(mut entry) = throttle_entry(conn, realm_id, key)? else {
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
            put_throttle_entry(conn, &entry)?;
        }
        Ok(locked)
    })
}

/// Deletes entries whose window has passed and that hold no lock; returns how many.
pub fn throttle_prune(conn: &mut Conn, now: i64, window_secs: i64) -> Result<usize, StoreError> {
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
pub fn throttle_keys_like(
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

pub fn throttle_clear(conn: &mut Conn, realm_id: &str, key: &str) -> Result<(), StoreError> {
    diesel::delete(login_throttle::table.find((realm_id, key))).execute(conn)?;
    Ok(())
}

// ---- audit ----

pub fn insert_audit_event(conn: &mut Conn, event: &AuditEvent) -> Result<(), StoreError> {
    diesel::insert_into(audit_events::table)
        .values(AuditEventRow::from_model(event))
        .execute(conn)?;
    Ok(())
}

pub fn audit_events_of_realm(
    conn: &mut Conn,
    realm_id: &str,
) -> Result<Vec<AuditEvent>, StoreError> {
    audit_events::table
        .filter(audit_events::realm_id.eq(realm_id))
        .order((audit_events::created_at, audit_events::id))
        .select(AuditEventRow::as_select())
        .load::<AuditEventRow>(conn)?
        .into_models()
}

/// Turns a unique violation into a [`StoreError::Conflict`] with a message naming the entity.
fn conflict_as(e: diesel::result::Error, msg: impl FnOnce() -> String) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(msg()),
        other => other,
    }
}

// ---- authorization codes ----
