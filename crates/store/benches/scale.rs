//! Scale benchmark (issue 5): API-key authentication and key-list paging with 1,000,000 keys
//! and 100,000 users in the store, against the same measurements with 1,000 keys. The target
//! (docs/benchmarks.md): "same latency as with 1 k".
//!
//! Each store is a fresh, migrated database with a bootstrapped realm, bulk-loaded in one
//! transaction with multi-row `INSERT`s; then the store functions the servers call are timed
//! on one connection: `store::api_keys::by_hash` (what the resource server and the token
//! exchange run for a key not in their cache), the rest of a cache miss's queries, and
//! `store::api_keys::list` (keyset paging) at page 1 and at a deep page reached by walking the cursor.
//! The query plans of what was timed are printed; a plan that scans `api_keys` or sorts it
//! for a page makes the run fail.
//!
//! ```text
//! cargo bench -p tessera-store --bench scale                          # 1 k vs 1 M keys, SQLite
//! TESSERA_SCALE_KEYS=2000 TESSERA_SCALE_ITERATIONS=200 cargo bench -p tessera-store --bench scale
//! TESSERA_TEST_POSTGRES_URL=$(bash .ci/postgres.sh | tail -n1) cargo bench -p tessera-store --bench scale
//! ```
//!
//! Environment: `TESSERA_SCALE_KEYS` (keys in the large store, default 1,000,000; users are a
//! tenth of the keys), `TESSERA_SCALE_BASELINE` (keys in the small store, default 1,000),
//! `TESSERA_SCALE_ITERATIONS` (timed calls per figure, default 3,000),
//! `TESSERA_SCALE_BACKENDS` (`sqlite`, `postgres` or both, comma-separated; default: SQLite,
//! plus PostgreSQL when `TESSERA_TEST_POSTGRES_URL` is set), `TESSERA_SCALE_REPORT` (a file to
//! write the results to as a markdown block, for `bench/run.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera_store as store;

use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use tessera_core::apikey::{self, ApiKeyKind};
use tessera_core::model::{Team, TeamMembership};
use tessera_core::password::{Argon2Params, PasswordHasher};
use tessera_store::api_keys::KeyScope;
use tessera_store::schema::*;
use tessera_store::{Backend, Database, DbConnection, PoolOptions, StoreError, access, testing};

/// The API's page size when the client names none (`tessera_core::page`); handlers fetch one
/// more row to learn whether there is a next page.
const PAGE_SIZE: i64 = tessera_core::page::DEFAULT_PAGE_SIZE;
/// The page the issue asks about.
const DEEP_PAGE: usize = 1000;
/// Known keys remembered for lookups, spread over the whole load.
const SAMPLES: usize = 8192;
/// SQLite's default limit is 32,766 bound parameters per statement.
const MAX_BIND_PARAMS: usize = 32_000;
const NOW: i64 = 1_800_000_000;

// ------------------------------------------------------------------ rows for the bulk load

/// An `api_keys` row as the API writes it (`tessera_resource::apikeys`), for batch inserts.
#[derive(Insertable)]
#[diesel(table_name = api_keys, treat_none_as_default_value = false)]
struct KeyRow {
    id: String,
    realm_id: String,
    kind: &'static str,
    key_type: &'static str,
    name: String,
    prefix: &'static str,
    secret_sha256: String,
    last_four: String,
    team_id: Option<String>,
    owner_user_id: Option<String>,
    role_id: Option<String>,
    scopes: &'static str,
    status: &'static str,
    expires_at: Option<i64>,
    last_access_at: Option<i64>,
    created_by: String,
    updated_by: String,
    created_at: i64,
    updated_at: i64,
}
const KEY_COLUMNS: usize = 19;
const KEY_COLUMN_NAMES: &str = "id, realm_id, kind, key_type, name, prefix, secret_sha256, \
    last_four, team_id, owner_user_id, role_id, scopes, status, expires_at, last_access_at, \
    created_by, updated_by, created_at, updated_at";

/// One multi-row `INSERT` of keys on SQLite. diesel runs a batch insert on SQLite as one
/// statement per row inside a savepoint (any value might be `DEFAULT`, which SQLite's
/// `VALUES` lacks); this is one statement with the same binds, about 20 % less time for the
/// load. On PostgreSQL diesel's own batch insert is already one statement.
fn sqlite_insert_keys(c: &mut diesel::SqliteConnection, rows: &[KeyRow]) -> QueryResult<usize> {
    use diesel::sql_types::{BigInt, Nullable, Text};
    let one = format!("({})", vec!["?"; KEY_COLUMNS].join(","));
    let sql = format!(
        "INSERT INTO api_keys ({KEY_COLUMN_NAMES}) VALUES {}",
        vec![one; rows.len()].join(",")
    );
    let mut q = diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>();
    for r in rows {
        q = q
            .bind::<Text, _>(&r.id)
            .bind::<Text, _>(&r.realm_id)
            .bind::<Text, _>(r.kind)
            .bind::<Text, _>(r.key_type)
            .bind::<Text, _>(&r.name)
            .bind::<Text, _>(r.prefix)
            .bind::<Text, _>(&r.secret_sha256)
            .bind::<Text, _>(&r.last_four)
            .bind::<Nullable<Text>, _>(r.team_id.as_ref())
            .bind::<Nullable<Text>, _>(r.owner_user_id.as_ref())
            .bind::<Nullable<Text>, _>(r.role_id.as_ref())
            .bind::<Text, _>(r.scopes)
            .bind::<Text, _>(r.status)
            .bind::<Nullable<BigInt>, _>(r.expires_at)
            .bind::<Nullable<BigInt>, _>(r.last_access_at)
            .bind::<Text, _>(&r.created_by)
            .bind::<Text, _>(&r.updated_by)
            .bind::<BigInt, _>(r.created_at)
            .bind::<BigInt, _>(r.updated_at);
    }
    q.execute(c)
}

#[derive(Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
struct UserRow {
    id: String,
    realm_id: String,
    username: String,
    email: Option<String>,
    email_verified: bool,
    given_name: Option<String>,
    family_name: Option<String>,
    password_hash: Option<String>,
    enabled: bool,
    is_service_account: bool,
    persona: &'static str,
    options: &'static str,
    digest_settings: &'static str,
    login_count: i64,
    failed_login_count: i64,
    last_login_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    display_name: Option<String>,
}
const USER_COLUMNS: usize = 19;

/// diesel's batch insert on either backend (its multi-backend connection has none of its
/// own): one statement on PostgreSQL, one per row in a savepoint on SQLite (fine for the
/// users, teams and memberships, a few seconds in all).
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        match &mut *$conn {
            DbConnection::Sqlite(c) => diesel::insert_into($table).values($rows).execute(c)?,
            DbConnection::Postgres(c) => diesel::insert_into($table).values($rows).execute(c)?,
        }
    };
}

fn insert_keys(conn: &mut DbConnection, rows: &[KeyRow]) -> QueryResult<usize> {
    match conn {
        DbConnection::Sqlite(c) => sqlite_insert_keys(c, rows),
        DbConnection::Postgres(c) => diesel::insert_into(api_keys::table).values(rows).execute(c),
    }
}

/// splitmix64: deterministic positions without another dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

// ------------------------------------------------------------------ the stores

enum Target {
    Sqlite,
    Postgres(String),
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres(_) => "PostgreSQL",
        }
    }
}

/// A loaded store and what the measurements need to know about it. Field order is drop
/// order: the pool closes before its database or directory goes.
struct Store {
    db: Database,
    _pg: Option<testing::PgTestDatabase>,
    _dir: Option<tempfile::TempDir>,
    keys: usize,
    users: usize,
    teams: usize,
    realm_id: String,
    /// Hashes of stored keys (personal and team) at random positions.
    known: Vec<String>,
    /// Hashes of stored personal keys, with their owner.
    known_personal: Vec<String>,
    /// Hashes of keys that were never stored.
    unknown: Vec<String>,
    /// Owns a tenth of the keys: deep pages of one user's list.
    heavy_user: String,
    heavy_keys: usize,
    /// Owns about as many keys as an average user.
    typical_user: String,
    typical_keys: usize,
    team_keys: usize,
    /// A team with about the average number of team keys.
    member_team: String,
    member_team_keys: usize,
    /// Three teams (the first is `member_team`), and their team keys.
    three_teams: Vec<String>,
    three_teams_keys: usize,
    personal_keys: usize,
    load: LoadReport,
}

struct LoadReport {
    /// users, teams and memberships
    directory_rows: usize,
    directory: Duration,
    key_rows: usize,
    keys: Duration,
    keys_cpu: Duration,
    /// SQLite: the database file after the load (and the WAL checkpoint), bytes.
    file_bytes: Option<u64>,
}

fn open(
    target: &Target,
) -> (
    Database,
    Option<testing::PgTestDatabase>,
    Option<tempfile::TempDir>,
) {
    match target {
        Target::Sqlite => {
            let dir = tempfile::TempDir::new().expect("temporary directory");
            let url = sqlite_url(&dir);
            let db = Database::connect(&url, PoolOptions::default()).expect("open SQLite");
            (db, None, Some(dir))
        }
        Target::Postgres(server) => {
            let pg = testing::PgTestDatabase::create(server).expect("PostgreSQL test database");
            let db = Database::connect(pg.url(), PoolOptions::default()).expect("connect");
            (db, Some(pg), None)
        }
    }
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("tessera.db").display())
}

fn batches(columns: usize) -> usize {
    MAX_BIND_PARAMS / columns
}

/// Builds a store with `n` API keys and `n / 10` users: one user owns a tenth of the keys,
/// team keys are another tenth (at least 303: a full page for each of three teams), and the
/// rest are personal keys spread evenly over the other users (about 8 each), each in its
/// owner's team (100 users per team, at least three teams).
fn build(target: &Target, n: usize, seed: u64) -> Store {
    let (db, pg, dir) = open(target);
    db.migrate().expect("migrate");
    let hasher = PasswordHasher::new(Argon2Params {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    })
    .expect("toy argon2 parameters");
    let realm = tessera_store::provision::bootstrap_realm(
        &db,
        "default",
        Some("correct horse battery staple"),
        &hasher,
        NOW,
    )
    .expect("bootstrap")
    .expect("a new realm")
    .realm;
    let realm_id = realm.id.clone();
    let (member_role, push_role, admin_id) = {
        let mut conn = db.conn().expect("connection");
        let member = store::roles::by_name(&mut conn, &realm_id, "member")
            .unwrap()
            .expect("member role");
        let push = store::roles::by_name(&mut conn, &realm_id, "oaa_push")
            .unwrap()
            .expect("oaa_push role");
        let admin = store::users::by_username(&mut conn, &realm_id, "admin")
            .unwrap()
            .expect("admin user");
        (member.id, push.id, admin.id)
    };
    // A realistic password hash, the same for everyone (hashing 100,000 is not the point).
    let password_hash = hasher.hash("a user's password").expect("hash");

    let users = (n / 10).max(10);
    // At least three, for the list of a member of three teams.
    let teams = users.div_ceil(100).max(3);
    let heavy_keys = n / 10 + n / 1000;
    // At least a full page for each of three teams, so that the team lists of the small store
    // return full pages too.
    let team_keys = (n / 10 + n / 1000)
        .max(3 * (PAGE_SIZE as usize + 1))
        .min(n / 2);
    let spread_keys = n - heavy_keys - team_keys;
    let mut rng = Rng(seed);

    let mut conn = db.conn().expect("connection");
    if let DbConnection::Sqlite(c) = &mut *conn {
        // Only for the load, on this connection: no fsync, a page cache big enough for the
        // indexes being filled in random order. The database is reopened afterwards.
        c.batch_execute(
            "PRAGMA synchronous = OFF; PRAGMA cache_size = -1048576; PRAGMA temp_store = MEMORY;",
        )
        .expect("load pragmas");
    }

    // Users, teams, memberships.
    let started = Instant::now();
    let user_ids: Vec<String> = (0..users).map(|_| tessera_core::id::new_uuid()).collect();
    let team_rows: Vec<Team> = (0..teams)
        .map(|t| Team::new(&realm_id, &format!("team-{t:05}"), "bench team", false, NOW))
        .collect();
    let team_ids: Vec<String> = team_rows.iter().map(|t| t.id.clone()).collect();
    (&mut *conn as &mut DbConnection)
        .transaction::<_, StoreError, _>(|conn| {
            for chunk in team_rows.chunks(batches(11)) {
                testing::insert_team_rows(conn, chunk)?;
            }
            for (start, chunk) in user_ids
                .chunks(batches(USER_COLUMNS))
                .enumerate()
                .map(|(i, c)| (i * batches(USER_COLUMNS), c))
            {
                let rows: Vec<UserRow> = chunk
                    .iter()
                    .enumerate()
                    .map(|(k, id)| {
                        let i = start + k;
                        let username = if i == 0 {
                            "ci-bot".to_string()
                        } else {
                            format!("user{i:07}")
                        };
                        UserRow {
                            id: id.clone(),
                            realm_id: realm_id.clone(),
                            email: Some(format!("{username}@example.com")),
                            username,
                            email_verified: i % 3 == 0,
                            given_name: Some(format!("Given{i}")),
                            family_name: Some("Family".into()),
                            password_hash: Some(password_hash.clone()),
                            enabled: true,
                            is_service_account: false,
                            persona: "",
                            options: "{}",
                            digest_settings: "{}",
                            login_count: (i % 50) as i64,
                            failed_login_count: 0,
                            last_login_at: Some(NOW - (i % 86_400) as i64),
                            created_at: NOW - i as i64,
                            updated_at: NOW - i as i64,
                            display_name: None,
                        }
                    })
                    .collect();
                insert_rows!(conn, users::table, &rows);
            }
            let memberships: Vec<TeamMembership> = user_ids
                .iter()
                .enumerate()
                .map(|(i, u)| TeamMembership {
                    team_id: team_ids[i % teams].clone(),
                    user_id: u.clone(),
                    role_id: member_role.clone(),
                    realm_id: realm_id.clone(),
                    created_at: NOW,
                })
                .collect();
            for chunk in memberships.chunks(batches(5)) {
                testing::insert_membership_rows(conn, chunk)?;
            }
            Ok(())
        })
        .expect("load users");
    let directory = started.elapsed();

    // Keys: generated as the API does (random body, CRC, SHA-256), inserted in batches. The
    // list indexes are dropped for the load and created again from their own DDL afterwards
    // (one sort each instead of a million random inserts); the unique ones stay.
    let started = Instant::now();
    let cpu_started = cpu_time();
    let indexes = secondary_indexes(&mut conn);
    let mut known = Vec::with_capacity(SAMPLES);
    let mut known_personal = Vec::with_capacity(SAMPLES);
    let typical_user = user_ids[1].clone();
    let mut typical_keys = 0;
    (&mut *conn as &mut DbConnection)
        .transaction::<_, StoreError, _>(|conn| {
            let batch = batches(KEY_COLUMNS);
            let mut rows: Vec<KeyRow> = Vec::with_capacity(batch);
            for (name, _) in &indexes {
                conn.batch_execute(&format!("DROP INDEX {name}"))?;
            }
            let (mut heavy_done, mut team_done, mut spread_done) = (0usize, 0usize, 0usize);
            for j in 0..n {
                // Each sort of key at its own even rate through the load, so that the three are
                // interleaved (and in random id order anyway: ids are random UUIDs).
                let heavy_due = heavy_done < heavy_keys && heavy_done * n <= heavy_keys * j;
                let team_due = team_done < team_keys && team_done * n <= team_keys * j;
                let (kind, owner, team, slot) =
                    if heavy_due || (spread_done == spread_keys && heavy_done < heavy_keys) {
                        heavy_done += 1;
                        ("personal", Some(0), 0, heavy_done)
                    } else if team_due || spread_done == spread_keys {
                        team_done += 1;
                        ("team", None, team_done % teams, team_done)
                    } else {
                        spread_done += 1;
                        let user = 1 + spread_done % (users - 1);
                        ("personal", Some(user), user % teams, spread_done)
                    };
                let key_kind = match (kind, slot % 10) {
                    ("team", _) => ApiKeyKind::Team,
                    (_, 9) => ApiKeyKind::PersonalPublic,
                    _ => ApiKeyKind::PersonalSecret,
                };
                let generated = apikey::generate(key_kind);
                if rng.below(n) < SAMPLES {
                    known.push(generated.sha256_hex.clone());
                    if kind == "personal" {
                        known_personal.push(generated.sha256_hex.clone());
                    }
                }
                if owner == Some(1) {
                    typical_keys += 1;
                }
                let owner_id = owner.map(|u| user_ids[u].clone());
                let actor = format!("user:{}", owner_id.as_deref().unwrap_or(&admin_id));
                let created = NOW - (n - j) as i64;
                rows.push(KeyRow {
                    id: tessera_core::id::new_uuid(),
                    realm_id: realm_id.clone(),
                    kind,
                    key_type: if key_kind == ApiKeyKind::PersonalPublic {
                        "pk"
                    } else {
                        "sk"
                    },
                    name: format!("key {j}"),
                    prefix: key_kind.prefix(),
                    secret_sha256: generated.sha256_hex,
                    last_four: generated.last_four,
                    team_id: Some(team_ids[team].clone()),
                    owner_user_id: owner_id,
                    role_id: (kind == "team").then(|| push_role.clone()),
                    scopes: "",
                    status: if j % 50 == 49 { "INACTIVE" } else { "ACTIVE" },
                    expires_at: (j % 4 == 3).then_some(NOW + 86_400 * 365),
                    last_access_at: (j % 3 == 0).then_some(created + 3600),
                    created_by: actor.clone(),
                    updated_by: actor,
                    created_at: created,
                    updated_at: created,
                });
                if rows.len() == batch {
                    insert_keys(conn, &rows)?;
                    rows.clear();
                }
            }
            if !rows.is_empty() {
                insert_keys(conn, &rows)?;
            }
            for (_, ddl) in &indexes {
                conn.batch_execute(ddl)?;
            }
            Ok(())
        })
        .expect("load keys");
    let mut file_bytes = None;
    match &mut *conn {
        // Leave the database as a server would find it: everything in the main file. No
        // ANALYZE: the server never runs it, so SQLite plans without statistics.
        DbConnection::Sqlite(c) => c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);"),
        // What autovacuum does within a minute of such a load: the planner sees the sizes.
        DbConnection::Postgres(c) => c.batch_execute("ANALYZE;"),
    }
    .expect("after the load");
    let keys_time = started.elapsed();
    let keys_cpu = cpu_time().saturating_sub(cpu_started);
    drop(conn);

    // Counted, not assumed: the figures below depend on these.
    let mut conn = db.conn().expect("connection");
    let count = |conn: &mut DbConnection, kind: &str| -> usize {
        api_keys::table
            .filter(api_keys::kind.eq(kind))
            .count()
            .get_result::<i64>(conn)
            .unwrap() as usize
    };
    let personal_keys = count(&mut conn, "personal");
    let stored_team_keys = count(&mut conn, "team");
    assert_eq!(personal_keys + stored_team_keys, n, "keys stored");
    assert_eq!(stored_team_keys, team_keys, "team keys stored");
    let heavy_stored: i64 = api_keys::table
        .filter(api_keys::owner_user_id.eq(&user_ids[0]))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(heavy_stored as usize, heavy_keys, "keys of the heavy user");
    let member_team = team_ids[1 % teams].clone();
    let member_team_keys: i64 = api_keys::table
        .filter(api_keys::kind.eq("team"))
        .filter(api_keys::team_id.eq(&member_team))
        .count()
        .get_result(&mut conn)
        .unwrap();
    let member_team_keys = member_team_keys as usize;
    let three_teams: Vec<String> = (1..=3).map(|t| team_ids[t % teams].clone()).collect();
    let three_teams_keys: i64 = api_keys::table
        .filter(api_keys::kind.eq("team"))
        .filter(api_keys::team_id.eq_any(&three_teams))
        .count()
        .get_result(&mut conn)
        .unwrap();
    let three_teams_keys = three_teams_keys as usize;
    drop(conn);

    let db = match (&dir, target) {
        (Some(dir), Target::Sqlite) => {
            // Reopen: a fresh pool with the server's settings and cold SQLite caches.
            drop(db);
            let path = dir.path().join("tessera.db");
            file_bytes = std::fs::metadata(&path).ok().map(|m| m.len());
            Database::connect(&sqlite_url(dir), PoolOptions::default()).expect("reopen")
        }
        _ => db,
    };

    let mut unknown: Vec<String> = (0..SAMPLES)
        .map(|_| apikey::generate(ApiKeyKind::PersonalSecret).sha256_hex)
        .collect();
    rng.shuffle(&mut known);
    rng.shuffle(&mut known_personal);
    rng.shuffle(&mut unknown);
    Store {
        db,
        _pg: pg,
        _dir: dir,
        keys: n,
        users,
        teams,
        realm_id,
        known,
        known_personal,
        unknown,
        heavy_user: user_ids[0].clone(),
        heavy_keys,
        typical_user,
        typical_keys,
        team_keys,
        member_team,
        member_team_keys,
        three_teams,
        three_teams_keys,
        personal_keys,
        load: LoadReport {
            directory_rows: users + teams + users,
            directory,
            key_rows: n,
            keys: keys_time,
            keys_cpu,
            file_bytes,
        },
    }
}

#[derive(QueryableByName)]
struct IndexDef {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    ddl: String,
}

/// The indexes of `api_keys` that back no constraint, with the DDL that created them.
fn secondary_indexes(conn: &mut DbConnection) -> Vec<(String, String)> {
    let sql = match conn {
        DbConnection::Sqlite(_) => {
            // Constraint indexes (sqlite_autoindex_*) have no SQL.
            "SELECT name, sql AS ddl FROM sqlite_master \
             WHERE type = 'index' AND tbl_name = 'api_keys' AND sql IS NOT NULL"
        }
        DbConnection::Postgres(_) => {
            "SELECT indexname::text AS name, indexdef AS ddl FROM pg_indexes \
             WHERE tablename = 'api_keys' AND schemaname = current_schema() \
             AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        }
    };
    let rows: Vec<IndexDef> = diesel::sql_query(sql).load(conn).expect("index list");
    assert!(!rows.is_empty(), "api_keys has no secondary index");
    rows.into_iter().map(|r| (r.name, r.ddl)).collect()
}

/// CPU time (user + system) of this process so far: wall time alone says little when the
/// machine is shared.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command (which may contain spaces) start at state; utime and stime are
    // fields 14 and 15 of the line, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    Duration::from_millis(f.iter().sum::<u64>() * 10)
}

// ------------------------------------------------------------------ timing

#[derive(Clone, Copy)]
struct Stats {
    p50: f64,
    p99: f64,
    mean: f64,
}

/// Rounds per figure: the two stores take turns, so that a change in the machine's load (it
/// is shared) falls on both.
const ROUNDS: usize = 10;

/// Times `iterations` calls of each of two calls, alternating in rounds after a warm-up of
/// each; in µs.
fn time_pair(
    iterations: usize,
    mut a: impl FnMut(usize),
    mut b: impl FnMut(usize),
) -> (Stats, Stats) {
    for i in 0..iterations.min(200) {
        a(i);
        b(i);
    }
    let (mut na, mut nb) = (
        Vec::with_capacity(iterations),
        Vec::with_capacity(iterations),
    );
    let per_round = iterations.div_ceil(ROUNDS);
    let mut i = 0;
    while i < iterations {
        let n = per_round.min(iterations - i);
        let mut turns = [
            (&mut a as &mut dyn FnMut(usize), &mut na),
            (&mut b, &mut nb),
        ];
        // Who goes first changes every round too.
        if (i / per_round) % 2 == 1 {
            turns.reverse();
        }
        for (f, ns) in turns {
            for k in i..i + n {
                let t = Instant::now();
                f(k);
                ns.push(t.elapsed().as_nanos() as u64);
            }
        }
        i += n;
    }
    (stats(na), stats(nb))
}

fn stats(mut ns: Vec<u64>) -> Stats {
    ns.sort_unstable();
    let at = |p: usize| ns[(ns.len() * p / 100).min(ns.len() - 1)] as f64 / 1000.0;
    Stats {
        p50: at(50),
        p99: at(99),
        mean: ns.iter().sum::<u64>() as f64 / ns.len() as f64 / 1000.0,
    }
}

/// A store call, given the iteration number (which key to look up).
type Call = Rc<dyn Fn(&mut DbConnection, usize)>;

/// One figure's store call on one store.
struct Operation {
    label: &'static str,
    /// The page listed, for list figures.
    page: Option<usize>,
    /// The indexes its `api_keys` queries may use, one at least (checked on SQLite).
    index: Option<&'static [&'static str]>,
    call: Call,
}

/// Walks the keyset cursor the way a client follows `next_page_token`; returns the `after`
/// of page `page` (or of the last full page, when there are fewer) and that page's number.
fn deep_after(
    conn: &mut DbConnection,
    realm: &str,
    scope: &dyn Fn() -> KeyScope<'static>,
    page: usize,
) -> (usize, Option<String>) {
    let mut after: Option<String> = None;
    let mut reached = 1;
    let mut seen = BTreeSet::new();
    while reached < page {
        let rows =
            store::api_keys::list(conn, realm, scope(), None, after.as_deref(), PAGE_SIZE + 1)
                .unwrap();
        // The next page must be full too, or we stop at this one.
        if (rows.len() as i64) <= PAGE_SIZE {
            break;
        }
        let next = rows[PAGE_SIZE as usize - 1].id.clone();
        let probe =
            store::api_keys::list(conn, realm, scope(), None, Some(&next), PAGE_SIZE + 1).unwrap();
        if (probe.len() as i64) < PAGE_SIZE {
            break;
        }
        for r in &rows[..PAGE_SIZE as usize] {
            assert!(seen.insert(r.id.clone()), "a key listed twice while paging");
        }
        after = Some(next);
        reached += 1;
    }
    (reached, after)
}

/// `KeyScope` borrows its ids and the calls outlive the function that makes them: the few
/// ids they need are leaked.
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// The rows a cache miss of the resource server reads for a personal key
/// (`tessera_resource::auth::key_principal`), store call by store call.
fn resolve_personal(conn: &mut DbConnection, hash: &str) -> Result<usize, StoreError> {
    let key = store::api_keys::by_hash(conn, hash)?.expect("known key");
    let realm = store::realms::by_id(conn, &key.realm_id)?.expect("realm");
    let _grant = access::key_grant(conn, &key)?;
    if let Some(role) = &key.role_id {
        store::roles::in_realm(conn, &key.realm_id, role)?;
    }
    let owner_id = key
        .owner_user_id
        .clone()
        .expect("personal key has an owner");
    let owner = store::users::by_id(conn, &owner_id)?.expect("owner");
    let rights = access::personal_key_rights(conn, &key, &owner.id)?;
    let roles = access::role_grants(conn, &owner.id, key.team_id.as_deref())?;
    Ok(realm.name.len() + rights.carried().len() + rights.rights.len() + roles.len())
}

/// The figures' store calls on one store: cursors walked, answers checked on every call.
fn operations(store: &Store, conn: &mut DbConnection) -> Vec<Operation> {
    let realm = leak(&store.realm_id);
    let heavy = leak(&store.heavy_user);
    let typical = leak(&store.typical_user);
    let one_team: &'static [String] = Box::leak(vec![store.member_team.clone()].into_boxed_slice());
    let three_teams: &'static [String] = Box::leak(store.three_teams.clone().into_boxed_slice());
    let mut ops = Vec::new();

    // Authentication: the lookup by hash (known keys at random positions, unknown hashes),
    // and every store call of the resource server's cache miss.
    let known = store.known.clone();
    let unknown = store.unknown.clone();
    let personal = store.known_personal.clone();
    let auth: Vec<(&'static str, Call)> = vec![
        (
            "auth: `store::api_keys::by_hash`, stored key at a random position",
            Rc::new(move |c, i| {
                let key = store::api_keys::by_hash(c, &known[i % known.len()]).unwrap();
                assert!(key.is_some(), "a stored key was not found");
                black_box(key);
            }),
        ),
        (
            "auth: `store::api_keys::by_hash`, unknown hash",
            Rc::new(move |c, i| {
                let key = store::api_keys::by_hash(c, &unknown[i % unknown.len()]).unwrap();
                assert!(key.is_none(), "an unknown hash matched");
            }),
        ),
        (
            "auth: all store calls of a cache miss for a personal key (`key_principal`)",
            Rc::new(move |c, i| {
                black_box(resolve_personal(c, &personal[i % personal.len()]).unwrap());
            }),
        ),
    ];
    for (label, call) in auth {
        ops.push(Operation {
            label,
            page: None,
            index: None,
            call,
        });
    }

    // Listing: page 1 and a deep page, as the handlers call it (size + 1 rows).
    type ScopeFn = Rc<dyn Fn() -> KeyScope<'static>>;
    // The team-key lists of up to 16 teams read each team through its own index
    // (`store::api_keys::list`); an admin's list of the large store's 1,001 teams walks the realm's.
    const TEAMS: &[&str] = &["api_keys_team_page"];
    let lists: Vec<(&'static str, &'static [&'static str], ScopeFn, usize, bool)> = vec![
        (
            "list: all personal keys (admin; `KeyScope::AllPersonal`)",
            &["api_keys_realm_kind_page"],
            Rc::new(|| KeyScope::AllPersonal),
            store.personal_keys,
            true,
        ),
        (
            "list: the keys of the user who owns a tenth of them (`PersonalOf`)",
            &["api_keys_owner_page"],
            Rc::new(move || KeyScope::PersonalOf(heavy)),
            store.heavy_keys,
            true,
        ),
        (
            "list: a typical user's keys (`PersonalOf`)",
            &["api_keys_owner_page"],
            Rc::new(move || KeyScope::PersonalOf(typical)),
            store.typical_keys,
            false,
        ),
        (
            "list: team keys of every team (admin; `AllTeam`)",
            &["api_keys_realm_kind_page"],
            Rc::new(|| KeyScope::AllTeam),
            store.team_keys,
            true,
        ),
        (
            "list: team keys of one team (a member; `TeamKeysOf` one team)",
            TEAMS,
            Rc::new(move || KeyScope::TeamKeysOf(one_team)),
            store.member_team_keys,
            false,
        ),
        (
            "list: team keys of three teams (a member of three; `TeamKeysOf` three teams)",
            TEAMS,
            Rc::new(move || KeyScope::TeamKeysOf(three_teams)),
            store.three_teams_keys,
            false,
        ),
    ];
    for (label, index, scope, total, deep) in lists {
        let mut pages = vec![(1usize, None::<String>)];
        if deep {
            pages.push(deep_after(conn, realm, &*scope, DEEP_PAGE));
        }
        for (page, after) in pages {
            let expected = (total as i64 - (page as i64 - 1) * PAGE_SIZE).clamp(0, PAGE_SIZE + 1);
            let scope = scope.clone();
            ops.push(Operation {
                label,
                page: Some(page),
                index: Some(index),
                call: Rc::new(move |c, _| {
                    let rows = store::api_keys::list(
                        c,
                        realm,
                        scope(),
                        None,
                        after.as_deref(),
                        PAGE_SIZE + 1,
                    )
                    .unwrap();
                    assert_eq!(rows.len() as i64, expected, "rows on the page");
                    let mut last = after.as_deref();
                    for r in &rows {
                        assert!(
                            last.is_none_or(|l| l < r.id.as_str()),
                            "rows out of id order"
                        );
                        last = Some(&r.id);
                    }
                    black_box(rows);
                }),
            });
        }
    }
    ops
}

/// The plans of the `api_keys` queries each operation sends (the SQL diesel sent, captured
/// from the connection, then explained), and what is wrong with them.
fn plans(
    store: &Store,
    conn: &mut DbConnection,
    ops: &[Operation],
) -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let mut plans = Vec::new();
    let mut problems = Vec::new();
    let captured: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = captured.clone();
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            sink.lock().unwrap().push(query.to_string());
        }
    });
    // SQLite plans without statistics (the server never runs ANALYZE), so its plans do not
    // depend on the data and are checked on every store: no scan, no sort, the scope's index.
    // PostgreSQL's planner weighs its statistics (a bitmap scan and a sort of a user's 8 keys
    // is a good plan there), so only a sequential scan of the large store counts against it.
    let sqlite = store.db.backend() == Backend::Sqlite;
    let check = sqlite || store.keys >= 100_000;
    for op in ops {
        let label = match op.page {
            Some(page) => format!("{}, page {}", op.label, fmt_int(page)),
            None => op.label.to_string(),
        };
        captured.lock().unwrap().clear();
        (op.call)(conn, 0);
        let queries: Vec<String> = captured.lock().unwrap().drain(..).collect();
        let mut lines = Vec::new();
        for query in queries.iter().filter(|s| s.contains("api_keys")) {
            for line in explain(conn, query) {
                // A scan of the table, or a sort of its rows for each page.
                let scans_keys = match store.db.backend() {
                    Backend::Sqlite => {
                        (line.contains("SCAN api_keys") && !line.contains("USING"))
                            || line.contains("TEMP B-TREE")
                    }
                    Backend::Postgres => line.contains("Seq Scan on api_keys"),
                };
                if check && scans_keys {
                    problems.push(format!("{label}: {}", line.trim()));
                }
                // PostgreSQL prints the whole array of team ids.
                lines.push(match line.char_indices().nth(160) {
                    Some((cut, _)) => format!("{}…", &line[..cut]),
                    None => line,
                });
            }
        }
        if sqlite
            && let Some(indexes) = op.index
            && !lines
                .iter()
                .any(|l| l.contains("api_keys") && indexes.iter().any(|i| l.contains(i)))
        {
            problems.push(format!("{label}: does not use {}", indexes.join(" or ")));
        }
        plans.push((label, lines));
    }
    conn.set_instrumentation(None::<Box<dyn Instrumentation>>);
    (plans, problems)
}

#[derive(QueryableByName)]
struct SqlitePlanRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    id: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    parent: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PgPlanRow {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

/// The plan of one captured query (`SQL -- binds: [...]`).
fn explain(conn: &mut DbConnection, captured: &str) -> Vec<String> {
    let (sql, binds) = captured
        .split_once(" -- binds: ")
        .unwrap_or((captured, "[]"));
    match conn {
        DbConnection::Sqlite(c) => {
            // Unbound `?` are NULL; SQLite plans without looking at values (no ANALYZE data).
            let rows: Vec<SqlitePlanRow> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load(c)
                .expect("EXPLAIN QUERY PLAN");
            let mut depth: Vec<(i32, usize)> = Vec::new();
            rows.into_iter()
                .map(|r| {
                    let level = depth
                        .iter()
                        .find(|(id, _)| *id == r.parent)
                        .map_or(0, |(_, l)| l + 1);
                    depth.push((r.id, level));
                    format!("{}{}", "  ".repeat(level), r.detail)
                })
                .collect()
        }
        DbConnection::Postgres(c) => {
            // The plan for these values (PostgreSQL 15 has no EXPLAIN (GENERIC_PLAN)).
            let values = pg_literals(binds);
            let mut sql = sql.to_string();
            for (i, v) in values.iter().enumerate().rev() {
                sql = sql.replace(&format!("${}", i + 1), v);
            }
            let rows: Vec<PgPlanRow> = diesel::sql_query(format!("EXPLAIN {sql}"))
                .load(c)
                .expect("EXPLAIN");
            rows.into_iter().map(|r| r.line).collect()
        }
    }
}

/// Debug-printed binds (`["a", 101, ["b", "c"]]`) as SQL literals, for EXPLAIN on PostgreSQL.
fn pg_literals(binds: &str) -> Vec<String> {
    fn value(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        match chars.peek() {
            Some('"') => {
                chars.next();
                let mut s = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => s.extend(chars.next()),
                        '"' => break,
                        c => s.push(c),
                    }
                }
                format!("'{}'", s.replace('\'', "''"))
            }
            Some('[') => {
                chars.next();
                let mut items = Vec::new();
                loop {
                    while chars.peek() == Some(&' ') || chars.peek() == Some(&',') {
                        chars.next();
                    }
                    if chars.peek() == Some(&']') {
                        chars.next();
                        break;
                    }
                    items.push(value(chars));
                }
                format!("ARRAY[{}]::text[]", items.join(","))
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ',' || c == ']' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                s.trim().to_string()
            }
        }
    }
    let inner = binds.trim();
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let inner = inner.strip_suffix(']').unwrap_or(inner);
    let mut chars = inner.chars().peekable();
    let mut out = Vec::new();
    loop {
        while chars.peek() == Some(&' ') || chars.peek() == Some(&',') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        out.push(value(&mut chars));
    }
    out
}

// ------------------------------------------------------------------ report

fn fmt_int(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_us(v: f64) -> String {
    if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .replace(['_', ','], "")
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {v:?}")),
        _ => default,
    }
}

fn load_line(store: &Store) -> String {
    let l = &store.load;
    let rate = |rows: usize, d: Duration| fmt_int((rows as f64 / d.as_secs_f64()) as usize);
    let mut s = format!(
        "{} users + {} teams + {} memberships in {:.1} s ({} rows/s); {} keys in {:.1} s ({} rows/s",
        fmt_int(store.users),
        fmt_int(store.teams),
        fmt_int(store.users),
        l.directory.as_secs_f64(),
        rate(l.directory_rows, l.directory),
        fmt_int(l.key_rows),
        l.keys.as_secs_f64(),
        rate(l.key_rows, l.keys),
    );
    // SQLite works in this process; PostgreSQL's work is in its server.
    if let Some(bytes) = l.file_bytes {
        let _ = write!(
            s,
            "; CPU time {:.1} s, including the three list indexes built after the rows); database file {:.0} MiB",
            l.keys_cpu.as_secs_f64(),
            bytes as f64 / 1_048_576.0
        );
    } else {
        s.push_str(", including the three list indexes built after the rows)");
    }
    s
}

fn data_line(store: &Store) -> String {
    format!(
        "{} keys: {} personal ({} of one user, {} of a typical user, the rest ~{} per user over {} users) and {} team keys over {} team(s)",
        fmt_int(store.keys),
        fmt_int(store.personal_keys),
        fmt_int(store.heavy_keys),
        fmt_int(store.typical_keys),
        ((store.personal_keys - store.heavy_keys) as f64 / (store.users - 1) as f64).round(),
        fmt_int(store.users),
        fmt_int(store.team_keys),
        fmt_int(store.teams),
    )
}

fn main() {
    let keys = env_usize("TESSERA_SCALE_KEYS", 1_000_000);
    let baseline = env_usize("TESSERA_SCALE_BASELINE", 1_000).min(keys);
    let iterations = env_usize("TESSERA_SCALE_ITERATIONS", 3_000).max(10);
    let pg = testing::postgres_server_url();
    let wanted = std::env::var("TESSERA_SCALE_BACKENDS").unwrap_or_default();
    let mut targets = Vec::new();
    if wanted.is_empty() || wanted.contains("sqlite") {
        targets.push(Target::Sqlite);
    }
    if wanted.is_empty() || wanted.contains("postgres") {
        match pg {
            Some(url) => targets.push(Target::Postgres(url)),
            None if wanted.contains("postgres") => {
                panic!(
                    "TESSERA_SCALE_BACKENDS names postgres but TESSERA_TEST_POSTGRES_URL is unset"
                )
            }
            None => {}
        }
    }
    assert!(
        baseline >= 1000,
        "TESSERA_SCALE_KEYS and TESSERA_SCALE_BASELINE must be at least 1000"
    );

    let mut report = String::new();
    let mut failed = false;
    for target in &targets {
        println!(
            "== {}: {} keys vs {} keys, {} timed calls per figure",
            target.name(),
            fmt_int(baseline),
            fmt_int(keys),
            fmt_int(iterations)
        );
        let small = build(target, baseline, 1);
        println!("loaded {} keys: {}", fmt_int(baseline), load_line(&small));
        let big = build(target, keys, 2);
        println!("loaded {} keys: {}", fmt_int(keys), load_line(&big));
        let mut small_conn = small.db.conn().expect("connection");
        let mut big_conn = big.db.conn().expect("connection");
        let small_ops = operations(&small, &mut small_conn);
        let big_ops = operations(&big, &mut big_conn);

        let mut table = String::new();
        let _ = writeln!(
            table,
            "| figure ({}) | {} keys: p50 / p99 / mean µs | {} keys: p50 / p99 / mean µs | p50 ratio |",
            target.name(),
            fmt_int(baseline),
            fmt_int(keys)
        );
        let _ = writeln!(table, "|---|---|---|---|");
        for (s, b) in small_ops.iter().zip(&big_ops) {
            assert_eq!(s.label, b.label);
            let (ss, bs) = time_pair(
                iterations,
                |i| (s.call)(&mut small_conn, i),
                |i| (b.call)(&mut big_conn, i),
            );
            // Deep pages differ in number (the small store has fewer pages): name both.
            let label = match (s.page, b.page) {
                (Some(sp), Some(bp)) if sp != bp => format!(
                    "{}, page {} ({} keys: page {}, its last full page)",
                    b.label,
                    fmt_int(bp),
                    fmt_int(baseline),
                    fmt_int(sp)
                ),
                (_, Some(bp)) => format!("{}, page {}", b.label, fmt_int(bp)),
                _ => b.label.to_string(),
            };
            let cell =
                |x: &Stats| format!("{} / {} / {}", fmt_us(x.p50), fmt_us(x.p99), fmt_us(x.mean));
            let _ = writeln!(
                table,
                "| {label} | {} | {} | {:.2}× |",
                cell(&ss),
                cell(&bs),
                bs.p50 / ss.p50
            );
        }
        let (_, small_problems) = plans(&small, &mut small_conn, &small_ops);
        let (big_plans, big_problems) = plans(&big, &mut big_conn, &big_ops);
        println!("\n{table}");
        println!("loaded {} keys: {}", fmt_int(keys), load_line(&big));

        println!("\nQuery plans ({}, {} keys):", target.name(), fmt_int(keys));
        let mut plans = String::new();
        for (label, lines) in &big_plans {
            let _ = writeln!(plans, "{label}:");
            for line in lines {
                let _ = writeln!(plans, "    {line}");
            }
        }
        println!("{plans}");
        for p in small_problems.iter().chain(&big_problems) {
            eprintln!("PLAN PROBLEM ({}): {p}", target.name());
            failed = true;
        }
        let _ = writeln!(report, "#### {}\n", target.name());
        if let DbConnection::Postgres(c) = &mut *big_conn {
            #[derive(QueryableByName)]
            struct Version {
                #[diesel(sql_type = diesel::sql_types::Text)]
                server_version: String,
            }
            let v: Version = diesel::sql_query("SHOW server_version")
                .get_result(c)
                .expect("server version");
            let _ = writeln!(
                report,
                "- Server: PostgreSQL {}, on the same machine, not pinned.",
                v.server_version
            );
        }
        let _ = writeln!(
            report,
            "- Stores: {}; {}.",
            data_line(&small),
            data_line(&big)
        );
        let _ = writeln!(report, "- Load of the large store: {}.", load_line(&big));
        let _ = writeln!(
            report,
            "- {} timed calls per figure and store, on one connection per store, after 200 untimed ones; the two stores take turns in {ROUNDS} rounds. Page size {} (the API default; {} rows fetched).\n",
            fmt_int(iterations),
            PAGE_SIZE,
            PAGE_SIZE + 1
        );
        report.push_str(&table);
        let _ = writeln!(
            report,
            "\nQuery plans with {} keys:\n\n```text\n{plans}```\n",
            fmt_int(keys)
        );
    }
    if let Ok(path) = std::env::var("TESSERA_SCALE_REPORT")
        && !path.is_empty()
    {
        std::fs::write(&path, report).expect("write TESSERA_SCALE_REPORT");
    }
    if failed {
        eprintln!("scale benchmark: a query plan scans or sorts api_keys (see above)");
        std::process::exit(1);
    }
}
