//! The scheduled-message decisions: cancel (staff), release and fail (the scheduler). Each
//! applies only to a pending message; any other answers `not_pending`.

use super::{Scheduled, ScheduledRecord, ScheduledStatus};
use crate::actor::Role;
use crate::command::{Context, ScheduledCommand};
use crate::error::DomainError;
use crate::event::{
    Event, ScheduledMessageCancelled, ScheduledMessageFailed, ScheduledMessageReleased,
};

/// The longest failure reason recorded (it is a contract error code).
const MAX_FAILURE_REASON_CHARS: usize = 100;

impl ScheduledRecord {
    /// Fails with `not_pending` unless the message still waits for its time.
    pub fn ensure_pending(&self) -> Result<(), DomainError> {
        match self.status {
            ScheduledStatus::Pending => Ok(()),
            status => Err(DomainError::NotPending(status)),
        }
    }
}

/// Fails with `forbidden` unless the principal is the hub itself (the scheduler).
fn ensure_scheduler(ctx: &Context<'_>) -> Result<(), DomainError> {
    if ctx.principal.role() == Role::System {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "only the hub's scheduler releases scheduled messages or records their failure",
        ))
    }
}

/// Fails unless the principal is clinic staff allowed to use the hub.
fn ensure_staff(ctx: &Context<'_>) -> Result<(), DomainError> {
    ctx.principal.ensure_may_use_hub()?;
    if ctx.principal.role().is_clinic_staff() {
        Ok(())
    } else {
        Err(DomainError::forbidden(format!(
            "a {} may not cancel scheduled messages",
            ctx.principal.role()
        )))
    }
}

impl Scheduled {
    /// The scheduled message, or `not_found`.
    pub fn record(&self) -> Result<&ScheduledRecord, DomainError> {
        self.0
            .as_ref()
            .ok_or(DomainError::NotFound("scheduled message"))
    }

    /// Decides a scheduled-message command. Cancelling checks the role only: whether the
    /// caller may write in the conversation is the command's check beside the conversation.
    pub fn decide(
        &self,
        command: &ScheduledCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<Event>, DomainError> {
        match command {
            ScheduledCommand::CancelScheduled(_) => {
                ensure_staff(ctx)?;
                let record = self.record()?;
                record.ensure_pending()?;
                Ok(vec![Event::ScheduledMessageCancelled(
                    ScheduledMessageCancelled {
                        message_id: record.message.message_id,
                        conversation_id: record.message.conversation_id,
                    },
                )])
            }
            ScheduledCommand::MarkScheduledReleased(_) => {
                ensure_scheduler(ctx)?;
                let record = self.record()?;
                record.ensure_pending()?;
                if ctx.now < record.message.release_at {
                    return Err(DomainError::invalid(format!(
                        "the scheduled message is not due until {}",
                        record.message.release_at.to_rfc3339()
                    )));
                }
                Ok(vec![Event::ScheduledMessageReleased(
                    ScheduledMessageReleased {
                        message_id: record.message.message_id,
                        conversation_id: record.message.conversation_id,
                        released_at: ctx.now,
                    },
                )])
            }
            ScheduledCommand::MarkScheduledFailed(cmd) => {
                ensure_scheduler(ctx)?;
                let record = self.record()?;
                record.ensure_pending()?;
                let reason = cmd.failure_reason.trim();
                if reason.is_empty() || reason.chars().count() > MAX_FAILURE_REASON_CHARS {
                    return Err(DomainError::invalid(format!(
                        "failure_reason must be 1 to {MAX_FAILURE_REASON_CHARS} characters"
                    )));
                }
                Ok(vec![Event::ScheduledMessageFailed(
                    ScheduledMessageFailed {
                        message_id: record.message.message_id,
                        conversation_id: record.message.conversation_id,
                        failure_reason: reason.to_owned(),
                    },
                )])
            }
        }
    }
}
