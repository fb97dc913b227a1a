//! Tessera's storage: one schema, two dialects (SQLite bundled, PostgreSQL via bundled libpq),
//! chosen by the database URL. Every query is written once against [`db::DbConnection`].

pub mod access;
pub mod accounts;
pub mod apikeys;
pub mod browser;
pub mod db;
pub mod directory;
pub mod error;
pub mod export;
pub mod governance;
pub mod mfa;
pub mod models;
pub mod provision;
pub mod queries;
pub mod revocation;
mod rows;
pub mod schema;
pub mod testing;
pub mod usernames;

pub use db::{Backend, Database, DbConnection, PoolOptions};
pub use error::StoreError;
