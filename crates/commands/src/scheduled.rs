//! Cancelling a scheduled message: decided on its own stream, with its conversation beside it
//! (staff who may write there may cancel).

use chrono::Utc;
use domain::command::{CancelScheduled, Context, ScheduledCommand};
use domain::conversation::Conversation;
use domain::ids::scheduled_stream;
use domain::scheduled::{ensure_may_cancel, Scheduled};
use domain::{DomainError, MessageId, Principal, StreamName};

use crate::error::CommandError;
use crate::executor::{Decided, Decision};
use crate::workspace::Workspace;

/// Cancels a pending scheduled message; anything no longer pending answers `not_pending`.
pub struct CancelScheduledDecision {
    /// Who asks.
    pub principal: Principal,
    /// The message id it was scheduled under.
    pub message_id: MessageId,
}

#[async_trait::async_trait]
impl Decision for CancelScheduledDecision {
    type Answer = ();

    fn lane(&self) -> String {
        scheduled_stream(self.message_id)
    }

    fn kind(&self) -> &'static str {
        "cancel_scheduled"
    }

    async fn decide(&mut self, ws: &mut Workspace<'_>) -> Result<Decided<()>, CommandError> {
        self.principal.ensure_may_use_hub()?;
        let scheduled = ws.get::<Scheduled>(&self.lane()).await?;
        let record = scheduled
            .0
            .as_ref()
            .ok_or(DomainError::NotFound("scheduled message"))?;
        let conversation = ws
            .get::<Conversation>(&record.message.conversation_id.stream())
            .await?;
        ensure_may_cancel(&self.principal.actor, record, &conversation)?;
        let command = ScheduledCommand::CancelScheduled(CancelScheduled {
            message_id: self.message_id,
        });
        let context = Context {
            principal: &self.principal,
            now: Utc::now(),
        };
        Ok(Decided::events(scheduled.decide(&command, &context)?))
    }
}
