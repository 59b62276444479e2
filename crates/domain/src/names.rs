//! The error of parsing a wire name (a role, a channel, a direction) that names nothing.

use thiserror::Error;

/// A wire name that is none of its kind's values.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownName {
    /// What was parsed: `role`, `channel`, `direction`.
    pub kind: &'static str,
    /// The text that named nothing.
    pub value: String,
}

impl UnknownName {
    /// `value` is not a `kind`.
    pub fn new(kind: &'static str, value: &str) -> Self {
        UnknownName {
            kind,
            value: value.to_owned(),
        }
    }
}
