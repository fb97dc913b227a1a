//! Tessera's domain: the types and rules every other crate shares. Nothing here performs I/O
//! (no files, network or database); time comes in through [`clock::Clock`] so expiry logic is
//! testable without sleeping.

pub mod access;
pub mod apikey;
pub mod authn;
pub mod client;
pub mod clock;
pub mod error;
pub mod filter;
pub mod grant;
pub mod id;
pub mod import;
pub mod metrics;
pub mod model;
pub mod names;
pub mod net;
pub mod page;
pub mod password;
pub mod permission;
pub mod pkce;
pub mod scope;
pub mod secret;
pub mod username;

pub use clock::{Clock, ManualClock, SystemClock, UnixTime};
pub use error::ValidationError;
pub use scope::ScopeSet;
