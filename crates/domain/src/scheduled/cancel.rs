//! Who may cancel a scheduled message: staff who may write in its conversation. For a first
//! message, whose conversation does not exist yet, that is who could write in the
//! conversation it will start: its author, any receptionist when a receptionist wrote it
//! (a reception conversation), and admins.

use super::ScheduledRecord;
use crate::actor::{Actor, Role};
use crate::conversation::{access, Conversation};
use crate::error::DomainError;

/// Fails with `not_found` when `actor` may not see the scheduled message's conversation (as
/// if the message did not exist), `forbidden` when it sees it but may not write in it.
pub fn ensure_may_cancel(
    actor: &Actor,
    record: &ScheduledRecord,
    conversation: &Conversation,
) -> Result<(), DomainError> {
    match &conversation.0 {
        Some(existing) => {
            if !access::can_see(actor, existing) {
                return Err(DomainError::NotFound("scheduled message"));
            }
            access::may_write(actor, existing)
        }
        None => {
            let author = &record.message.author;
            let allowed = match actor.role {
                Role::Admin => true,
                Role::Receptionist => author.role == Role::Receptionist || author.id == actor.id,
                Role::Doctor => author.id == actor.id,
                Role::Auditor | Role::Patient | Role::System => false,
            };
            match (allowed, actor.role) {
                (true, _) => Ok(()),
                (false, Role::Auditor) => Err(DomainError::forbidden("auditors are read-only")),
                (false, _) => Err(DomainError::NotFound("scheduled message")),
            }
        }
    }
}
