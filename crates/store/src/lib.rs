//! Tessera's storage: one schema, two dialects (SQLite bundled, PostgreSQL via bundled libpq),
//! chosen by the database URL. Every query is written once against [`db::DbConnection`].

mod rows;

pub mod access;
pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod db;
pub mod error;
pub mod export;
pub mod mfa;
pub mod policies;
pub mod provision;
pub mod realms;
pub mod refresh_tokens;
pub mod revoked;
pub mod roles;
pub mod schema;
pub mod scopes;
pub mod sessions;
pub mod teams;
pub mod testing;
pub mod throttle;
pub mod usernames;
pub mod users;

pub use db::{Backend, Database, DbConnection, PoolOptions};
pub use error::StoreError;
