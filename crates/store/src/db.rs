//! Connections and pools. The backend is chosen from the URL scheme, never by trial: a
//! PostgreSQL URL that cannot connect reports PostgreSQL's own error.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::StoreError;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// One connection to either backend; queries written against it run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A parsed `TESSERA_DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH` (relative: `sqlite://./data/tessera.db`; absolute: `sqlite:///var/lib/t.db`).
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, passed to libpq unchanged.
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if rest.is_empty() {
                return Err(StoreError::Config(
                    "sqlite URL has no path; use sqlite://./data/tessera.db".into(),
                ));
            }
            return Ok(Self::Sqlite(PathBuf::from(rest)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_string()));
        }
        Err(StoreError::Config(format!(
            "unsupported database URL {:?}: use sqlite://PATH or postgres://USER@HOST/DB",
            redact(url)
        )))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    fn establish(&self) -> Result<DbConnection, StoreError> {
        match self {
            Self::Sqlite(path) => {
                let path_str = path.to_str().ok_or_else(|| {
                    StoreError::Config(format!("database path {path:?} is not UTF-8"))
                })?;
                let mut conn = diesel::SqliteConnection::establish(path_str).map_err(|e| {
                    StoreError::Connection(format!("cannot open SQLite database {path:?}: {e}"))
                })?;
                // Wait for the writer instead of failing with SQLITE_BUSY; enforce references;
                // WAL + NORMAL survives a killed process (not a power cut between syncs).
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .map_err(|e| StoreError::Connection(format!("cannot configure SQLite: {e}")))?;
                Ok(DbConnection::Sqlite(conn))
            }
            Self::Postgres(url) => diesel::PgConnection::establish(url)
                .map(DbConnection::Postgres)
                .map_err(|e| {
                    StoreError::Connection(format!(
                        "cannot connect to PostgreSQL at {}: {}",
                        redact(url),
                        e.to_string().trim()
                    ))
                }),
        }
    }
}

/// Hides the password in a URL for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = StoreError;

    fn connect(&self) -> Result<DbConnection, StoreError> {
        self.url.establish()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        conn.ping().map_err(StoreError::from)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// Pool sizing. SQLite serialises writers anyway; PostgreSQL benefits from a few more.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    pub max_connections: u32,
    /// How long taking a connection waits (for a free one, or for a new one to open) before
    /// it fails; also PostgreSQL's `connect_timeout` when the URL sets none.
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The database: a pool plus which backend it speaks. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: r2d2::Pool<ConnectionManager>,
    backend: Backend,
    /// Told how long each checkout waited (the server's metrics).
    on_checkout: Option<CheckoutObserver>,
}

/// Called with the time each pool checkout took.
pub type CheckoutObserver = std::sync::Arc<dyn Fn(Duration) + Send + Sync>;

/// The pool's connections at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
}

impl Database {
    /// Connects once directly (so a failure reports its real cause), then builds the pool.
    pub fn connect(url: &str, options: PoolOptions) -> Result<Self, StoreError> {
        let url = match DatabaseUrl::parse(url)? {
            // Without it libpq waits for the operating system's TCP timeout (minutes) on a
            // host that does not answer.
            DatabaseUrl::Postgres(u) if !u.contains("connect_timeout=") => {
                let separator = if u.contains('?') { '&' } else { '?' };
                DatabaseUrl::Postgres(format!(
                    "{u}{separator}connect_timeout={}",
                    options.acquire_timeout.as_secs().max(1)
                ))
            }
            other => other,
        };
        // libpq uses OpenSSL from pool threads; without NO_ATEXIT, OpenSSL's exit-time cleanup
        // can run under a connection still being opened and crash a short-lived CLI process.
        openssl_sys::init();
        if let DatabaseUrl::Sqlite(path) = &url
            && let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
            && !parent.exists()
        {
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Connection(format!("cannot create directory {parent:?}: {e}"))
                })?;
                // The database holds password and secret hashes: owner only.
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let _ =
                        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700));
                }
            }
        }
        let backend = url.backend();
        let mut first = url.establish()?;
        if let DbConnection::Sqlite(conn) = &mut first {
            // WAL is a property of the file: set it once, before other connections open it.
            // Switching needs the file to itself; another process opening it at the same
            // moment makes it fail once, so try a few times.
            let mut attempt = 0;
            while let Err(e) = conn.batch_execute("PRAGMA journal_mode = WAL;") {
                attempt += 1;
                if attempt >= 20 {
                    return Err(StoreError::Connection(format!("cannot enable WAL: {e}")));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        drop(first);
        let pool = r2d2::Pool::builder()
            .max_size(options.max_connections)
            .min_idle(Some(1))
            // diesel only reports a connection broken by a failed transaction, so a PostgreSQL
            // connection the server dropped (restart, failover) is found by a ping on checkout.
            // A SQLite connection is a file handle: no ping, no round trip.
            .test_on_check_out(backend == Backend::Postgres)
            .connection_timeout(options.acquire_timeout)
            .build(ConnectionManager { url })
            .map_err(|e| StoreError::Connection(e.to_string()))?;
        Ok(Self {
            pool,
            backend,
            on_checkout: None,
        })
    }

    /// This database, reporting the wait of every checkout to `observer`.
    pub fn observed(mut self, observer: CheckoutObserver) -> Self {
        self.on_checkout = Some(observer);
        self
    }

    /// Connections in use and idle (r2d2's count; cheap, no database call).
    pub fn pool_state(&self) -> PoolState {
        let s = self.pool.state();
        PoolState {
            in_use: s.connections - s.idle_connections,
            idle: s.idle_connections,
            max: self.pool.max_size(),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs a trivial query: true readiness, since pooled connections are not pinged on
    /// checkout.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn()?
            .batch_execute("SELECT 1")
            .map_err(|e| StoreError::Connection(format!("database does not answer: {e}")))
    }

    pub fn conn(&self) -> Result<PooledConnection, StoreError> {
        let started = self.on_checkout.as_ref().map(|_| std::time::Instant::now());
        let conn = self
            .pool
            .get()
            .map_err(|e| StoreError::Connection(format!("no database connection: {e}")));
        if let (Some(observe), Some(t)) = (&self.on_checkout, started) {
            observe(t.elapsed());
        }
        conn
    }

    /// Applies pending migrations, then fills the username keys of rows written before the
    /// username rule ([`crate::usernames::backfill_keys`]); returns the migrations applied.
    /// On PostgreSQL an advisory lock keeps two starting replicas from doing this at once.
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn()?;
        let applied = match &mut *conn {
            DbConnection::Sqlite(c) => c
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.to_string()).collect())
                .map_err(|e| StoreError::Migration(e.to_string()))?,
            DbConnection::Postgres(c) => {
                c.batch_execute("SELECT pg_advisory_lock(7358102984)")?;
                let result = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|v| v.iter().map(|m| m.to_string()).collect())
                    .map_err(|e| StoreError::Migration(e.to_string()));
                if result.is_ok() {
                    backfill_usernames(&mut conn);
                }
                conn.batch_execute("SELECT pg_advisory_unlock(7358102984)")?;
                return result;
            }
        };
        backfill_usernames(&mut conn);
        Ok(applied)
    }

    /// Runs `f` in one write transaction. SQLite takes the write lock up front
    /// (`BEGIN IMMEDIATE`) so a read-then-write transaction never fails on lock upgrade.
    /// `f` must not open transactions of its own.
    pub fn write_tx<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        write_tx(&mut conn, f)
    }
}

/// Runs the username backfill in one write transaction. Its data problems are reported by the
/// backfill itself and never fail start-up; neither does a database error here (the rows stay
/// NULL and sign in by their exact name), which is logged.
fn backfill_usernames(conn: &mut DbConnection) {
    if let Err(e) = write_tx(conn, crate::usernames::backfill_keys) {
        tracing::warn!(error = %e, "filling username keys failed; will retry at the next start");
    }
}

/// See [`Database::write_tx`].
pub fn write_tx<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match conn {
        DbConnection::Postgres(_) => conn.transaction(f),
        DbConnection::Sqlite(_) => {
            conn.batch_execute("BEGIN IMMEDIATE")?;
            match f(conn) {
                Ok(v) => match conn.batch_execute("COMMIT") {
                    Ok(()) => Ok(v),
                    Err(e) => {
                        // Never hand the connection back to the pool inside a transaction.
                        let _ = conn.batch_execute("ROLLBACK");
                        Err(e.into())
                    }
                },
                Err(e) => {
                    let _ = conn.batch_execute("ROLLBACK");
                    Err(e)
                }
            }
        }
    }
}

/// Serialises the transactions that name the same `key` until this one ends: a PostgreSQL
/// advisory lock, where READ COMMITTED would let them interleave. SQLite's `BEGIN IMMEDIATE`
/// (see [`write_tx`]) already serialises every write, so there it does nothing.
pub(crate) fn lock_until_commit(conn: &mut DbConnection, key: &str) -> Result<(), StoreError> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<diesel::sql_types::Text, _>(key)
            .execute(pg)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_their_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://./data/tessera.db").unwrap(),
            DatabaseUrl::Sqlite("./data/tessera.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/t.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/t.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://u:p@h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn unreachable_postgres_names_the_real_cause() {
        let err = match Database::connect(
            "postgres://nobody@127.0.0.1:1/none?connect_timeout=2",
            PoolOptions::default(),
        ) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("connected to a closed port"),
        };
        assert!(err.contains("PostgreSQL"), "{err}");
        assert!(err.contains("127.0.0.1"), "{err}");
    }
}

/// Turns a unique violation into a [`StoreError::Conflict`] with a message naming the entity.
pub(crate) fn conflict_as(e: diesel::result::Error, msg: impl FnOnce() -> String) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(msg()),
        other => other,
    }
}

/// Which rows of a list: after the page token's id, at most `limit` of them.
#[derive(Debug, Clone, Default)]
pub struct Window<'a> {
    pub after: Option<&'a str>,
    pub limit: i64,
}
