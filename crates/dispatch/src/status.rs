//! Provider status callbacks: a report about an outbound message becomes a delivery status
//! event on its dispatch stream, only ever moving forward.

use domain::dispatch::Dispatch;
use domain::event::ProviderMessageLinked;
use domain::ids::{dispatch_stream, provider_message_stream};
use domain::status::DeliveryStatus;
use domain::{Channel, ConversationId, Direction, Event, MessageId};
use std::sync::Arc;

use commands::{CommandError, Decided, Decision, Executor, Origin, Workspace};
use store::{EventStore, StoreError};

use crate::inbound::{ReportedStatus, StatusReport};
use crate::log::read_all_of;

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
    executor: &Arc<Executor>,
    channel: Channel,
    report: &StatusReport,
) -> Result<ReportOutcome, CommandError> {
    let Some(link) = linked_message(
        executor.store().as_ref(),
        channel,
        &report.provider_message_id,
    )
    .await?
    else {
        return Ok(ReportOutcome::UnknownMessage);
    };
    let (status, read) = match report.status {
        ReportedStatus::Sent => (DeliveryStatus::Sent, false),
        ReportedStatus::Delivered => (DeliveryStatus::Delivered, false),
        ReportedStatus::Read => (DeliveryStatus::Delivered, true),
        ReportedStatus::Failed => (DeliveryStatus::Failed, false),
    };
    let decision = RecordReport {
        link,
        status,
        read,
        reason: report.reason.clone(),
    };
    let executed = executor.execute(Origin::system(), decision).await?;
    Ok(executed.answer.unwrap_or(ReportOutcome::UnknownMessage))
}

/// A provider's report on the message's dispatch stream; delivery status only moves forward.
struct RecordReport {
    link: ProviderMessageLinked,
    status: DeliveryStatus,
    read: bool,
    reason: Option<String>,
}

#[async_trait::async_trait]
impl Decision for RecordReport {
    type Answer = ReportOutcome;

    fn lane(&self) -> String {
        dispatch_stream(self.link.message_id)
    }

    fn kind(&self) -> &'static str {
        "record_delivery_report"
    }

    async fn decide(
        &mut self,
        ws: &mut Workspace<'_>,
    ) -> Result<Decided<ReportOutcome>, CommandError> {
        let dispatch = ws.get::<Dispatch>(&self.lane()).await?;
        let Some(claim) = &dispatch.claim else {
            return Ok(Decided::new(Vec::new(), ReportOutcome::UnknownMessage));
        };
        let event = dispatch.report(claim, self.status, self.reason.clone(), Vec::new());
        let applied = ReportOutcome::Applied {
            conversation_id: self.link.conversation_id,
            message_id: self.link.message_id,
            changed: event.is_some(),
            read: self.read,
        };
        Ok(Decided::new(event.into_iter().collect(), applied))
    }
}
