//! The server crate's one error type: everything that can stop a command, with a message an
//! operator can act on.

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    ConfigFile(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] tessera_store::StoreError),
    #[error(transparent)]
    Keys(#[from] tessera_token::TokenError),
    #[error("{0}")]
    Input(String),
    /// A command's error with the database it opened (password masked), so an operator who
    /// ran it against the wrong database sees which.
    #[error("{source} (database {database})")]
    InDatabase {
        database: String,
        source: Box<ServerError>,
    },
}
