//! The `tessera` binary's library: configuration, start-up and the CLI commands, so tests can
//! start the real server in-process.

pub mod app;
pub mod cli;
pub mod config;
pub mod cors;
pub mod error;
pub mod observe;

pub use config::Config;
pub use error::ServerError;
