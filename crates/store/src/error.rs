//! The store's one error type.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use tessera_core::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Connection(String),
    #[error("migration failed: {0}")]
    Migration(String),
    /// A uniqueness rule was broken: the message names what already exists.
    #[error("{0}")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("database error: {0}")]
    Database(DieselError),
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(format!("already exists ({})", info.message()))
            }
            DieselError::DatabaseError(
                kind @ (DatabaseErrorKind::ClosedConnection
                | DatabaseErrorKind::UnableToSendCommand),
                info,
            ) => StoreError::Connection(format!(
                "database connection lost ({kind:?}): {}",
                info.message()
            )),
            DieselError::NotFound => StoreError::NotFound("record".into()),
            other => StoreError::Database(other),
        }
    }
}
