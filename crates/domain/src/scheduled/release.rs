//! Releasing a due scheduled message: the send is judged again, now, as the author would send
//! it, and either enters the timeline together with `ScheduledMessageReleased`, or the message
//! becomes `failed` with the rule's error code.

use super::Scheduled;
use crate::actor::{Principal, Role};
use crate::command::{Context, MarkScheduledFailed, MarkScheduledReleased, ScheduledCommand};
use crate::command::{ConversationCommand, SendMessage, StartConversation};
use crate::conversation::{Conversation, ConversationScope};
use crate::error::DomainError;
use crate::event::Event;
use crate::patient::Patient;

/// The states a release is decided on.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseScope<'a> {
    /// The scheduled message's own state.
    pub scheduled: &'a Scheduled,
    /// The author as its staff record stands now (`None` when the record is gone).
    pub author: Option<&'a Principal>,
    /// The conversation (empty when the message starts one).
    pub conversation: &'a Conversation,
    /// The patient the conversation is with.
    pub patient: &'a Patient,
}

/// Decides the release of a due scheduled message, by the hub's scheduler only (`forbidden`
/// otherwise), never before `release_at` (`invalid_request`), and only while it is pending
/// (`not_pending`). The send is judged as the author sending it now would be — permission,
/// who may write, channel availability, consent, the WhatsApp window, the doctor's one open
/// conversation — by the conversation's own decision; on WhatsApp outside the 24-hour window a
/// message rendered from a template goes out as the approved template message recorded with it. When it passes, the answer is that
/// send's events (the message under its scheduled id, with `scheduled_for`) followed by
/// `ScheduledMessageReleased`; when a rule fails, only `ScheduledMessageFailed` with the
/// error's contract code.
pub fn release(scope: &ReleaseScope<'_>, ctx: &Context<'_>) -> Result<Vec<Event>, DomainError> {
    let record = scope.scheduled.record()?;
    let released = scope.scheduled.decide(
        &ScheduledCommand::MarkScheduledReleased(MarkScheduledReleased {
            message_id: record.message.message_id,
        }),
        ctx,
    )?;
    let fail = |error: DomainError| {
        scope.scheduled.decide(
            &ScheduledCommand::MarkScheduledFailed(MarkScheduledFailed {
                message_id: record.message.message_id,
                failure_reason: error.code().to_owned(),
            }),
            ctx,
        )
    };
    let Some(author) = scope
        .author
        .filter(|author| author.actor == record.message.author.actor())
    else {
        return fail(DomainError::forbidden(
            "the author of the scheduled message is no longer staff",
        ));
    };
    let message = &record.message;
    let command = if message.starts_conversation {
        ConversationCommand::StartConversation(StartConversation {
            conversation_id: message.conversation_id,
            message_id: message.message_id,
            patient_id: message.patient_id,
            to: message.to,
            draft: message.draft.clone(),
            template: None,
        })
    } else {
        ConversationCommand::SendMessage(SendMessage {
            conversation_id: message.conversation_id,
            message_id: message.message_id,
            draft: message.draft.clone(),
            template: None,
        })
    };
    let send = ConversationScope {
        patient: scope.patient,
        conversation: scope.conversation,
        template: None,
    };
    let as_author = Context {
        principal: author,
        now: ctx.now,
    };
    let patient_matches = scope
        .patient
        .0
        .as_ref()
        .is_some_and(|patient| patient.id == message.patient_id);
    let decided = if patient_matches && author.role() != Role::Patient {
        send.decide_release(&command, message.whatsapp_template.as_ref(), &as_author)
    } else {
        Err(DomainError::NotFound("patient"))
    };
    let mut events = match decided {
        Ok(events) => events,
        Err(error) => return fail(error),
    };
    for event in &mut events {
        if let Event::MessageSent(sent) = event {
            if sent.message_id == message.message_id {
                sent.author = message.author.clone();
                sent.template = message.template;
                sent.scheduled_for = Some(message.send_at);
            }
        }
    }
    events.extend(released);
    Ok(events)
}
