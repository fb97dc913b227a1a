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
