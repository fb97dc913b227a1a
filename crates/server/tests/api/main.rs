//! Integration tests: the real server over HTTP (and the real binary for the CLI).
//! One test binary, so the whole stack links once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod accounts;
mod apikeys;
mod authorize;
mod browser;
mod cli;
mod client_credentials;
mod conformance;
mod console;
mod cors;
mod directory;
mod discovery;
mod escalation;
mod escalation_property;
mod example_client;
mod external;
mod governance;
mod keys;
mod metrics;
mod mfa;
mod openapi;
mod passkeys;
mod password;
mod proxy;
mod python_clients;
mod redemption_races;
mod resource_auth;
mod response_mode;
mod revocation;
mod session_logout;
mod split;
mod timeouts;
mod token_errors;
