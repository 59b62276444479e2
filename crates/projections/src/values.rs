//! How event data becomes read-model values: times as sortable text, status ranks, and a
//! received message in the shape of a sent one.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::event::{MessageReceived, MessageSent};
use domain::Direction;

/// The text form of a time in the read models: RFC 3339 UTC with microseconds (sortable).
pub(crate) fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The order of message statuses: `unread` < `read` < `replied`.
pub(crate) fn status_rank(status: &str) -> u8 {
    match status {
        "unread" => 0,
        "read" => 1,
        _ => 2,
    }
}

/// A received message is projected as an inbound message without delivery status.
pub(crate) fn as_sent(e: &MessageReceived) -> MessageSent {
    MessageSent {
        conversation_id: e.conversation_id,
        message_id: e.message_id,
        channel: e.channel,
        direction: Direction::Inbound,
        author: e.author.clone(),
        subject: e.subject.clone(),
        body: e.body.clone(),
        attachments: e.attachments.clone(),
        delivery_status: None,
        template: None,
        whatsapp_template: None,
        scheduled_for: None,
    }
}
