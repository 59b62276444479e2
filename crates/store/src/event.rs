//! The records the store keeps: events to append, recorded events, expected versions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An event to append: its envelope without stream, version and position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Unique id of the event.
    pub event_id: Uuid,
    /// The event's type name.
    pub event_type: String,
    /// Version of the type's shape.
    pub schema_version: u32,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Who caused it.
    pub actor_id: Uuid,
    /// The actor's role.
    pub actor_role: String,
    /// The event's data.
    pub data: serde_json::Value,
    /// Correlation, causation and idempotency key.
    pub metadata: serde_json::Value,
}

/// An event as recorded, with its place in its stream and in the global order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Unique id of the event.
    pub event_id: Uuid,
    /// The stream, e.g. `conversation-<uuid>`.
    pub stream: String,
    /// 0-based position in the stream.
    pub version: u64,
    /// Global position in commit order, starting at 1, without gaps.
    pub position: u64,
    /// The event's type name.
    pub event_type: String,
    /// Version of the type's shape.
    pub schema_version: u32,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Who caused it.
    pub actor_id: Uuid,
    /// The actor's role.
    pub actor_role: String,
    /// The event's data.
    pub data: serde_json::Value,
    /// Correlation, causation and idempotency key.
    pub metadata: serde_json::Value,
    /// SHA-256 (lowercase hex) over the previous event's hash and this event's canonical
    /// content: the log's hash chain (see [`crate::chain`]).
    #[serde(default)]
    pub hash: String,
}

/// What a writer expects a stream's version to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist.
    NoStream,
    /// The stream must exist.
    StreamExists,
    /// The stream's last version must be this.
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream whose last version is `actual` satisfies the expectation.
    pub fn accepts(self, actual: Option<u64>) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual.is_none(),
            ExpectedVersion::StreamExists => actual.is_some(),
            ExpectedVersion::Exact(version) => actual == Some(version),
        }
    }
}

/// Events for one stream, checked against an expected version.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamWrite {
    /// The stream.
    pub stream: String,
    /// What its version must be.
    pub expected: ExpectedVersion,
    /// Events to append, in order.
    pub events: Vec<NewEvent>,
}

/// A command's idempotency key: the same key from the same actor appends once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// Who sent the command.
    pub actor_id: Uuid,
    /// The caller's key.
    pub key: String,
}

/// One atomic append to one or more streams.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppendRequest {
    /// The writes; all are appended or none.
    pub writes: Vec<StreamWrite>,
    /// The command's idempotency key, if any.
    pub idempotency: Option<IdempotencyKey>,
}

/// What an append recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendOutcome {
    /// The recorded events (for a repeated key: those of the first append).
    pub events: Vec<RecordedEvent>,
    /// Whether the idempotency key had been used already, so nothing was appended.
    pub duplicate: bool,
}
