//! The storage suite's harness: a fresh, migrated database per test on each backend.
//!
//! SQLite: a file in a temporary directory. PostgreSQL: a new database
//! `tessera_t_<random hex>` on the server named by `TESSERA_TEST_POSTGRES_URL` (a role with
//! CREATEDB; `.ci/postgres.sh` prints one), dropped when the test ends, even when it panics.
//! Without that variable the PostgreSQL variants write "skipped: postgres::NAME …" to standard
//! error (shown even though the harness captures test output) and pass, except under CI (`CI`
//! set), where they fail; set to empty, it means SQLite only on purpose, and they pass quietly.

use tessera_core::password::{Argon2Params, PasswordHasher};
use tessera_store::testing;
use tessera_store::{Database, PoolOptions};

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
    let Some(server) = testing::postgres_for_tests(&format!("postgres::{name}"), true) else {
        return;
    };
    // Declared first, dropped last: the pool closes before the database is dropped.
    let pg = testing::PgTestDatabase::create(&server).expect("test database");
    let db = Database::connect(pg.url(), PoolOptions::default()).expect("connect to test database");
    let applied = db.migrate().expect("migrate PostgreSQL");
    assert!(
        !applied.is_empty(),
        "a fresh PostgreSQL database applied no migrations"
    );
    test(&db);
    drop(db);
}
