//! Why a command did not commit: a refusal by the rules, a conflict that outlasted the retries,
//! or a failure of the event log. Callers answer each differently (the HTTP edge maps them to
//! contract codes in one place), so they are kept apart here.

use std::sync::Arc;

use domain::DomainError;
use eventlog::DecodeError;
use store::keys::KeyError;
use store::StoreError;
use thiserror::Error;

/// The outcome of a command that appended nothing.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The rules refused the command (or its input): nothing was written.
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// The bearer token names no active holder.
    #[error("the token is not valid")]
    Unauthenticated,
    /// Other nodes kept writing the same streams through every retry.
    #[error("too many concurrent writers; try again")]
    Conflict {
        /// How many times the command was decided.
        attempts: u32,
    },
    /// The event log failed.
    #[error("event store: {0}")]
    Store(#[source] Arc<StoreError>),
    /// A stored event does not decode.
    #[error("event log: {0}")]
    Decode(#[source] Arc<DecodeError>),
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ConcurrencyConflict { .. } => CommandError::Conflict { attempts: 1 },
            // The patient's key is gone: another process erased it (its event not read yet).
            StoreError::Key(KeyError::Destroyed(_)) => {
                CommandError::Refused(DomainError::PatientErased)
            }
            other => CommandError::Store(Arc::new(other)),
        }
    }
}

impl CommandError {
    /// Shorthand for a refusal that names a missing target.
    pub fn not_found(what: &'static str) -> Self {
        CommandError::Refused(DomainError::NotFound(what))
    }

    /// Shorthand for a refusal of malformed input.
    pub fn invalid(message: impl Into<String>) -> Self {
        CommandError::Refused(DomainError::invalid(message))
    }

    /// The domain's refusal, if that is why the command failed.
    pub fn refusal(&self) -> Option<&DomainError> {
        match self {
            CommandError::Refused(refusal) => Some(refusal),
            _ => None,
        }
    }
}

impl From<DecodeError> for CommandError {
    fn from(error: DecodeError) -> Self {
        CommandError::Decode(Arc::new(error))
    }
}
