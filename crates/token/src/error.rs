//! The token crate's one error type.

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Key files could not be read, written or parsed; the message names the file.
    #[error("signing keys: {0}")]
    Keys(String),
    #[error("cannot sign: {0}")]
    Signing(String),
    /// A presented token failed verification; the message says why, for `error_description`.
    #[error("{0}")]
    Invalid(String),
}
