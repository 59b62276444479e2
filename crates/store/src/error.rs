//! Store errors.

use thiserror::Error;

use crate::event::ExpectedVersion;

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A stream's version was not what the writer expected; nothing was written.
    #[error("stream `{stream}` is at version {actual:?}, expected {expected:?}")]
    ConcurrencyConflict {
        /// The stream.
        stream: String,
        /// What the writer expected.
        expected: ExpectedVersion,
        /// What the stream's last version was.
        actual: Option<u64>,
    },
    /// The request itself is malformed (e.g. an empty write) or a record does not decode.
    #[error("{0}")]
    InvalidRequest(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A subject's data key is destroyed, or a sealed value or key does not open.
    #[error("data key: {0}")]
    Key(#[from] crate::keys::KeyError),
}

/// Converts a database integer to an unsigned one; negative values never occur in the schema.
pub(crate) fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

/// Converts an unsigned position or version to a database integer.
pub(crate) fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
