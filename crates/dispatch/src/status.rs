//! Provider status callbacks: a report about an outbound message becomes a delivery status
//! event on its dispatch stream, only ever moving forward.

use domain::dispatch::Dispatch;
use domain::event::ProviderMessageLinked;
use domain::ids::{dispatch_stream, provider_message_stream};
use domain::status::DeliveryStatus;
use domain::{Channel, ConversationId, Direction, Event, MessageId};
use store::{EventStore, ExpectedVersion, StoreError};

use crate::inbound::{ReportedStatus, StatusReport};
use crate::log::{append_events, load, read_all_of};

/// How often a report is re-decided after a concurrent write to the same dispatch stream.
const REPORT_ATTEMPTS: u32 = 8;

/// What a status report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportOutcome {
    /// The provider's id names no message the hub sent.
    UnknownMessage,
    /// The report was about this message; `changed` when it moved the status forward, `read`
    /// when the provider says the patient opened it.
    Applied {
        /// The message's conversation.
        conversation_id: ConversationId,
        /// The message.
        message_id: MessageId,
        /// Whether a delivery status event was appended.
        changed: bool,
        /// Whether the patient read it (WhatsApp read receipts).
        read: bool,
    },
}

/// The hub's outbound message a provider id names, if any.
pub async fn linked_message(
    store: &dyn EventStore,
    channel: Channel,
    provider_message_id: &str,
) -> Result<Option<ProviderMessageLinked>, StoreError> {
    let stream = provider_message_stream(channel, provider_message_id);
    let events = read_all_of(store, &stream).await?;
    Ok(events.into_iter().find_map(|event| match event {
        Event::ProviderMessageLinked(link) if link.direction == Direction::Outbound => Some(link),
        _ => None,
    }))
}

/// Records a provider's report about an outbound message on `channel`.
pub async fn record_report(
    store: &dyn EventStore,
    channel: Channel,
    report: &StatusReport,
) -> Result<ReportOutcome, StoreError> {
    let Some(link) = linked_message(store, channel, &report.provider_message_id).await? else {
        return Ok(ReportOutcome::UnknownMessage);
    };
    let (status, read) = match report.status {
        ReportedStatus::Sent => (DeliveryStatus::Sent, false),
        ReportedStatus::Delivered => (DeliveryStatus::Delivered, false),
        ReportedStatus::Read => (DeliveryStatus::Delivered, true),
        ReportedStatus::Failed => (DeliveryStatus::Failed, false),
    };
    let stream = dispatch_stream(link.message_id);
    for _ in 0..REPORT_ATTEMPTS {
        let (dispatch, version) = load::<Dispatch>(store, &stream).await?;
        let Some(claim) = &dispatch.claim else {
            return Ok(ReportOutcome::UnknownMessage);
        };
        let applied = |changed| ReportOutcome::Applied {
            conversation_id: link.conversation_id,
            message_id: link.message_id,
            changed,
            read,
        };
        let Some(event) = dispatch.report(claim, status, report.reason.clone(), Vec::new()) else {
            return Ok(applied(false));
        };
        let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
        match append_events(store, vec![(expected, vec![event])]).await {
            Ok(_) => return Ok(applied(true)),
            Err(StoreError::ConcurrencyConflict { .. }) => continue,
            Err(error) => return Err(error),
        }
    }
    Err(StoreError::InvalidRequest(
        "too many concurrent status reports for one message".into(),
    ))
}
