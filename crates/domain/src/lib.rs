//! The pure domain core of the communication hub.
//!
//! No I/O, no clock, no randomness, no async: every rule of the product contract is a
//! function of plain values. Commands are decided against state folded from events
//! ([`Aggregate::apply`]) and produce new events, each of which knows its stream.
//!
//! - [`staff::Staff`] decides staff registration, permissions and tokens;
//! - [`patient::Patient`] decides patient records and holds the index of the patient's
//!   conversations, so the doctor's one-open-conversation rule is decided on one stream;
//! - [`conversation::ConversationScope`] decides messages, call logs, statuses, stars and
//!   archiving, with the patient's record beside the conversation;
//! - [`template::Template`] decides message templates, and [`template::render`] fills them;
//! - [`quiet_hours::QuietHoursSetting`] decides the clinic's quiet hours, and
//!   [`quiet_hours::QuietHours::release_at`] says when a scheduled message may go out;
//! - [`scheduled::Scheduled`] decides what happens to a scheduled message after it is written.

pub mod actor;
pub mod attachment;
pub mod channel;
pub mod command;
pub mod consent;
pub mod contact;
pub mod conversation;
pub mod dispatch;
pub mod error;
pub mod event;
pub mod ids;
mod names;
pub mod patient;
pub mod quiet_hours;
pub mod scheduled;
pub mod schema;
pub mod staff;
pub mod status;
pub mod template;
mod token;
pub mod upload;

pub use actor::{Actor, Author, Permission, Principal, Role};
pub use channel::{Channel, Direction};
pub use conversation::access;
pub use error::DomainError;
pub use event::{Event, EventEnvelope, EventMetadata};
pub use ids::{
    AttachmentId, ConversationId, MessageId, PatientId, StaffId, StreamName, TemplateId,
    UnmatchedId,
};
pub use names::UnknownName;
pub use token::Tokens;

/// State rebuilt as a fold over events: `apply` each event of the stream in order.
pub trait Aggregate: Default {
    /// Applies one event; events of other aggregates are ignored.
    fn apply(&mut self, event: &Event);

    /// Folds a sequence of events into a fresh state.
    fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut state = Self::default();
        for event in events {
            state.apply(event);
        }
        state
    }
}
