//! Signing keys, the JWKS, and JWTs: minting on the issuer side, verification for anyone who
//! holds a JWKS (the issuer itself, the resource server, tests).

pub mod claims;
pub mod error;
pub mod jwks;
pub mod keys;
pub mod verify;

pub use claims::AccessTokenClaims;
pub use error::TokenError;
pub use keys::{KeyPolicy, KeySet, KeyStore, SigningAlg};
pub use verify::{JwksVerifier, VerifyOptions};
