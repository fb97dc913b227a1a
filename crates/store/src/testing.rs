//! Throw-away PostgreSQL databases for test suites (storage and HTTP): a fresh database per
//! test on the server named by `TESSERA_TEST_POSTGRES_URL`, dropped when the guard drops.
//! Not used by the server itself.

use diesel::prelude::*;

pub const POSTGRES_URL_VAR: &str = "TESSERA_TEST_POSTGRES_URL";

/// The server URL from `TESSERA_TEST_POSTGRES_URL`, when set and non-empty.
pub fn postgres_server_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
}

/// What a test with a PostgreSQL variant does, from `TESSERA_TEST_POSTGRES_URL` and `CI`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostgresVariant {
    /// Set and non-empty: run on that server.
    Run(String),
    /// Set to empty: SQLite only, on purpose (CI's second HTTP run); nothing to report.
    SqliteOnly,
    /// Unset outside CI: skip the PostgreSQL variant, and say so.
    Skip,
    /// Unset under CI: a PostgreSQL variant CI would silently skip; the message says why.
    Fail(String),
}

impl PostgresVariant {
    /// Decides from the variable's value (`None`: unset) and whether `CI` is set.
    pub fn decide(value: Option<&str>, ci: bool) -> Self {
        match value.map(str::trim) {
            Some("") => Self::SqliteOnly,
            Some(url) => Self::Run(url.to_string()),
            None if ci => Self::Fail(format!(
                "{POSTGRES_URL_VAR} is not set, and CI is set: CI must run the PostgreSQL \
                 variants, not skip them. Set it to a server URL (`bash .ci/postgres.sh | tail \
                 -n1` prints one), or set it to empty to run on SQLite only on purpose."
            )),
            None => Self::Skip,
        }
    }

    /// From this process's environment.
    pub fn from_env() -> Self {
        let value = std::env::var(POSTGRES_URL_VAR).ok();
        Self::decide(value.as_deref(), std::env::var_os("CI").is_some())
    }
}

/// The server for `what`'s PostgreSQL variant, or `None` when it does not run on PostgreSQL.
/// Unset outside CI it writes "skipped: {what} …" to standard error, past the test harness's
/// output capture, so the skip shows in a normal `cargo test` run (when `announce`); unset
/// under CI it panics: a variant CI skips would pass unnoticed.
pub fn postgres_for_tests(what: &str, announce: bool) -> Option<String> {
    match PostgresVariant::from_env() {
        PostgresVariant::Run(url) => Some(url),
        PostgresVariant::SqliteOnly => None,
        PostgresVariant::Skip => {
            if announce {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: {what} ({POSTGRES_URL_VAR} is not set: set it to a PostgreSQL server \
                     to run on PostgreSQL, or to empty for SQLite only without this note)"
                );
            }
            None
        }
        PostgresVariant::Fail(message) => panic!("{what}: {message}"),
    }
}

/// A database `tessera_t_<random hex>` created on the test server; dropping the guard drops
/// the database (ending any connection still open to it).
pub struct PgTestDatabase {
    admin: PgConnection,
    name: String,
    url: String,
}

impl PgTestDatabase {
    pub fn create(server_url: &str) -> Result<Self, String> {
        let name = format!(
            "tessera_t_{}",
            tessera_core::secret::hex(&tessera_core::id::random_bytes::<8>())
        );
        let mut admin = PgConnection::establish(server_url)
            .map_err(|e| format!("cannot connect to {POSTGRES_URL_VAR}: {e}"))?;
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .map_err(|e| format!("cannot create database {name}: {e}"))?;
        let url = with_database(server_url, &name);
        Ok(Self { admin, name, url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        // A pool may still be opening a connection in the background (min_idle), so end
        // whatever is connected and retry the drop a few times.
        let name = &self.name;
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

#[cfg(test)]
mod tests {
    use super::PostgresVariant as V;

    #[test]
    fn unset_skips_except_under_ci_and_empty_means_sqlite_only() {
        assert_eq!(V::decide(None, false), V::Skip);
        assert!(matches!(V::decide(None, true), V::Fail(m) if m.contains("set it to empty")));
        assert_eq!(V::decide(Some(""), true), V::SqliteOnly);
        assert_eq!(V::decide(Some("  "), false), V::SqliteOnly);
        assert_eq!(
            V::decide(Some("postgres://u@h/db"), true),
            V::Run("postgres://u@h/db".into())
        );
    }
}

/// Declares functions that insert models as they are, past the store's checks and error
/// mapping: tests of the database's own constraints, rows as older versions wrote them, and
/// bulk loads for benchmarks (one statement per call where the backend allows).
macro_rules! raw_inserts {
    ($($(#[$doc:meta])* $name:ident($model:ident as $row:ident into $table:ident);)+) => {$(
        $(#[$doc])*
        pub fn $name(
            conn: &mut crate::DbConnection,
            models: &[tessera_core::model::$model],
        ) -> Result<usize, diesel::result::Error> {
            let rows: Vec<_> = models.iter().map(crate::rows::$row::from_model).collect();
            let table = crate::schema::$table::table;
            // diesel's multi-backend connection has no batch insert of its own.
            match conn {
                crate::DbConnection::Sqlite(c) => diesel::insert_into(table).values(&rows).execute(c),
                crate::DbConnection::Postgres(c) => {
                    diesel::insert_into(table).values(&rows).execute(c)
                }
            }
        }
    )+};
}

raw_inserts! {
    /// Users, keys and skeletons as given (`None` keys: rows from before the username rule).
    insert_user_rows(User as UserRow into users);
    insert_client_rows(Client as ClientRow into clients);
    insert_team_rows(Team as TeamRow into teams);
    insert_membership_rows(TeamMembership as TeamMembershipRow into team_memberships);
}
