//! Who may see a conversation, who may write in it, and who may write the first message.

use super::record::ConversationRecord;
use crate::actor::{Actor, Permission, Principal, Role};
use crate::command::Recipient;
use crate::error::DomainError;
use crate::event::Counterpart;

/// Whether `actor` may see the conversation (and its messages). Anything it may not see
/// must answer exactly like something that does not exist.
pub fn can_see(actor: &Actor, conversation: &ConversationRecord) -> bool {
    match actor.role {
        Role::Admin | Role::Auditor | Role::System => true,
        Role::Receptionist => {
            conversation.counterpart == Counterpart::Reception
                || conversation.has_participant(actor)
        }
        Role::Doctor => conversation.has_participant(actor),
        Role::Patient => conversation.patient_id.0 == actor.id,
    }
}

/// Whether `actor`, who can see the conversation, may continue it: participants continue
/// their threads, any receptionist answers reception conversations, admins write anywhere.
pub fn may_write(actor: &Actor, conversation: &ConversationRecord) -> Result<(), DomainError> {
    let allowed = match actor.role {
        Role::Admin => true,
        Role::Receptionist => {
            conversation.counterpart == Counterpart::Reception
                || conversation.has_participant(actor)
        }
        Role::Doctor => conversation.has_participant(actor),
        Role::Patient => conversation.patient_id.0 == actor.id,
        Role::Auditor | Role::System => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(DomainError::forbidden(format!(
            "a {} may not write in this conversation",
            actor.role
        )))
    }
}

/// Whether `actor` is on the clinic side that receives the patient's messages in this
/// conversation: any receptionist for a reception conversation, the staff taking part, any admin.
pub fn is_clinic_recipient(actor: &Actor, conversation: &ConversationRecord) -> bool {
    match actor.role {
        Role::Admin => true,
        Role::Receptionist => {
            conversation.counterpart == Counterpart::Reception
                || conversation.has_participant(actor)
        }
        Role::Doctor => conversation.has_participant(actor),
        Role::Patient | Role::Auditor | Role::System => false,
    }
}

/// The who-may-initiate table of the contract (default deny). Returns the counterpart of
/// the new conversation. The doctor's one-open-conversation rule needs the patient's record
/// and is checked by the conversation decision.
pub fn initiation(
    principal: &Principal,
    to: Option<Recipient>,
) -> Result<Counterpart, DomainError> {
    match (principal.role(), to) {
        (Role::Patient, Some(Recipient::Reception)) => Ok(Counterpart::Reception),
        (Role::Patient, Some(Recipient::Staff { role, .. })) => Err(DomainError::ConversationRule(
            format!("a patient may not start a conversation with a {role}; write to reception"),
        )),
        (Role::Patient, None) => Err(DomainError::invalid(
            "`to` is required: \"reception\" or a staff id",
        )),
        (Role::Receptionist, _) => Ok(Counterpart::Reception),
        (Role::Doctor | Role::Admin, _) => Ok(Counterpart::Staff),
        (role @ (Role::Auditor | Role::System), _) => Err(DomainError::ConversationRule(format!(
            "a {role} may not start conversations"
        ))),
    }
}

impl Principal {
    /// Fails with `missing_permission` when clinic staff lacks `send_messages`:
    /// without it, staff may use no part of the hub.
    pub fn ensure_may_use_hub(&self) -> Result<(), DomainError> {
        if self.role().is_clinic_staff() && !self.permissions.contains(&Permission::SendMessages) {
            return Err(DomainError::MissingPermission(Permission::SendMessages));
        }
        Ok(())
    }
}
