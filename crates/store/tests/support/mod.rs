//! The storage suite's harness: a fresh, migrated database per test on each backend.
//!
//! SQLite: a file in a temporary directory. PostgreSQL: a new database
//! `tessera_t_<random hex>` on the server named by `TESSERA_TEST_POSTGRES_URL` (a role with
//! CREATEDB; `.ci/postgres.sh` prints one), dropped when the test ends, even when it panics.
//! Without that variable the PostgreSQL variants print that they are skipped and pass.

use diesel::prelude::*;
use tessera_core::password::{Argon2Params, PasswordHasher};
use tessera_store::{Database, PoolOptions};

pub const POSTGRES_URL_VAR: &str = "TESSERA_TEST_POSTGRES_URL";

/// Argon2 with toy parameters: correct hashes, a fraction of a millisecond each.
pub fn hasher() -> PasswordHasher {
    PasswordHasher::new(Argon2Params {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    })
    .expect("test argon2 parameters are valid")
}

/// Runs `test` against a fresh SQLite database file.
pub fn run_sqlite(test: fn(&Database)) {
    let dir = tempfile::TempDir::new().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
    let db = Database::connect(&url, PoolOptions::default()).expect("open SQLite");
    let applied = db.migrate().expect("migrate SQLite");
    assert!(
        !applied.is_empty(),
        "a fresh SQLite database applied no migrations"
    );
    test(&db);
    drop(db);
}

/// Runs `test` against a fresh PostgreSQL database, or skips when no server is configured.
pub fn run_postgres(name: &str, test: fn(&Database)) {
    let base_url = match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => {
            println!("skipped postgres::{name}: {POSTGRES_URL_VAR} is not set");
            return;
        }
    };
    let db_name = format!(
        "tessera_t_{}",
        tessera_core::secret::hex(&tessera_core::id::random_bytes::<8>())
    );
    let mut admin = PgConnection::establish(&base_url)
        .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_URL_VAR}: {e}"));
    diesel::sql_query(format!("CREATE DATABASE {db_name}"))
        .execute(&mut admin)
        .unwrap_or_else(|e| panic!("cannot create database {db_name}: {e}"));
    // From here on the guard drops the database, whatever happens.
    let mut guard = PgDatabase {
        admin,
        db_name,
        db: None,
    };
    let url = with_database(&base_url, &guard.db_name);
    let db = Database::connect(&url, PoolOptions::default()).expect("connect to test database");
    let applied = db.migrate().expect("migrate PostgreSQL");
    assert!(
        !applied.is_empty(),
        "a fresh PostgreSQL database applied no migrations"
    );
    test(guard.db.insert(db));
}

/// A test database on the shared server; dropping it drops the pool, then the database.
struct PgDatabase {
    admin: PgConnection,
    db_name: String,
    db: Option<Database>,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Close our pool first. r2d2 may still be opening a connection in the background
        // (min_idle), so end whatever is connected and retry the drop a few times.
        drop(self.db.take());
        let name = &self.db_name;
        let terminate = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        );
        let mut last_error = None;
        for attempt in 0..10 {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = diesel::sql_query(&terminate).execute(&mut self.admin);
            // WITH (FORCE) needs PostgreSQL 13; older servers take the plain form.
            let dropped = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut self.admin)
                .or_else(|_| {
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}"))
                        .execute(&mut self.admin)
                });
            match dropped {
                Ok(_) => return,
                Err(e) => last_error = Some(e),
            }
        }
        if let Some(e) = last_error {
            eprintln!("could not drop test database {name}: {e}");
        }
    }
}

/// `url` with its database (the path component) replaced by `db_name`; credentials, host,
/// port and query parameters are kept.
pub fn with_database(url: &str, db_name: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return format!("{url}/{db_name}");
    };
    let rest = &url[scheme_end..];
    // RFC 3986: the authority (credentials, host, port) ends at the first '/' or '?'.
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let after_path = match rest[authority_end..].find('?') {
        Some(q) => &rest[authority_end + q..],
        None => "",
    };
    format!(
        "{}{}/{db_name}{after_path}",
        &url[..scheme_end],
        &rest[..authority_end]
    )
}
