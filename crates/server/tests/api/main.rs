//! Integration tests: the real server over HTTP (and the real binary for the CLI).
//! One test binary, so the whole stack links once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod apikeys;
mod authorize;
mod browser;
mod cli;
mod client_credentials;
mod conformance;
mod console;
mod directory;
mod discovery;
mod escalation;
mod escalation_property;
mod example_client;
mod governance;
mod keys;
mod openapi;
mod password;
mod redemption_races;
mod resource_auth;
mod revocation;
mod split;
mod timeouts;
mod token_errors;
