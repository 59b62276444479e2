//! Scheduled messages: written now, sent when due.
//!
//! # Why a stream per scheduled message
//!
//! A scheduled message lives in its own stream, `scheduled-<message id>`, named by the id the
//! message will have in the timeline. `MessageScheduled` holds the whole draft (rendered
//! already when it came from a template), its author and its conversation, so the send at its
//! time needs nothing but this stream, the conversation and the patient. Every later event —
//! `ScheduledMessageReleased`, `ScheduledMessageCancelled`, `ScheduledMessageFailed` — is
//! decided on the stream's state and appended with its expected version, so a release, a
//! failure and a cancellation exclude one another: two scheduler nodes, a restart after a
//! crash, or a cancellation racing the release, and exactly one of them wins; the others find
//! it no longer pending. A stream per message (rather than one per conversation) keeps those
//! decisions off the conversation's hot stream until the moment the message enters it.
//!
//! `release_at` is decided when the message is scheduled (`send_at`, moved to the end of quiet
//! hours when it falls inside them); a later change to the quiet-hours setting does not move
//! messages already scheduled, so what the list shows is what happens.
//!
//! The decisions here know the scheduled message only. Cancelling also needs the caller to
//! be allowed to write in the conversation (`conversation::access::may_write`), which the
//! command that runs it checks beside the conversation; releasing is decided together with the
//! conversation's own rules when the message is due.

mod cancel;
mod decide;
mod release;
mod schedule;
mod send_at;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use cancel::ensure_may_cancel;
pub use release::{release, ReleaseScope};
pub use schedule::schedule;
pub use send_at::{validate_send_at, MAX_SCHEDULE_AHEAD};

use crate::event::{Event, MessageScheduled};
use crate::names::UnknownName;
use crate::Aggregate;

/// Where a scheduled message stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ScheduledStatus {
    /// Waiting for its release time.
    Pending,
    /// Released: it is in the timeline.
    Sent,
    /// Cancelled before it was due.
    Cancelled,
    /// A rule failed when it was due; nothing was sent.
    Failed,
}

impl ScheduledStatus {
    /// Every status, in declaration order.
    pub const ALL: [ScheduledStatus; 4] = [
        ScheduledStatus::Pending,
        ScheduledStatus::Sent,
        ScheduledStatus::Cancelled,
        ScheduledStatus::Failed,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduledStatus::Pending => "pending",
            ScheduledStatus::Sent => "sent",
            ScheduledStatus::Cancelled => "cancelled",
            ScheduledStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for ScheduledStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScheduledStatus {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ScheduledStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownName::new("scheduled status", s))
    }
}

/// A scheduled message as its stream knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledRecord {
    /// What was scheduled.
    pub message: MessageScheduled,
    /// Where it stands.
    pub status: ScheduledStatus,
    /// Why it failed, when it did.
    pub failure_reason: Option<String>,
    /// When it was released, when it was.
    pub released_at: Option<DateTime<Utc>>,
}

/// One scheduled message's state; `None` before it is scheduled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scheduled(pub Option<ScheduledRecord>);

impl Aggregate for Scheduled {
    fn apply(&mut self, event: &Event) {
        match (event, &mut self.0) {
            (Event::MessageScheduled(e), None) => {
                self.0 = Some(ScheduledRecord {
                    message: e.clone(),
                    status: ScheduledStatus::Pending,
                    failure_reason: None,
                    released_at: None,
                });
            }
            (Event::ScheduledMessageReleased(e), Some(record)) => {
                record.status = ScheduledStatus::Sent;
                record.released_at = Some(e.released_at);
            }
            (Event::ScheduledMessageCancelled(_), Some(record)) => {
                record.status = ScheduledStatus::Cancelled;
            }
            (Event::ScheduledMessageFailed(e), Some(record)) => {
                record.status = ScheduledStatus::Failed;
                record.failure_reason = Some(e.failure_reason.clone());
            }
            _ => {}
        }
    }
}
