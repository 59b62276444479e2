//! Scheduling a send (`send_at`): the rules of a send now are judged at once, and nothing
//! enters a timeline; the message waits in its own stream until `release_at`.

use chrono::{DateTime, Utc};

use super::validate_send_at;
use crate::command::{Context, ConversationCommand, Draft};
use crate::conversation::{approved_message, ConversationScope};
use crate::error::DomainError;
use crate::event::{Event, MessageScheduled};
use crate::quiet_hours::QuietHours;

/// Decides a scheduled send: `command` (a first message or a reply) is judged as if it were
/// sent now — permission, who may write, channel, consent, attachments, the template — and
/// `send_at` must be later than now and at most a year ahead. The answer is one
/// `MessageScheduled` carrying the message as it will be sent (rendered already from its
/// template) and `release_at`: `send_at`, or the end of `quiet_hours` when it falls inside
/// them on a held channel, judged in the patient's time zone when known.
///
/// Only clinic staff schedule: a patient's portal message is sent when written.
pub fn schedule(
    scope: &ConversationScope<'_>,
    command: &ConversationCommand,
    send_at: DateTime<Utc>,
    quiet_hours: Option<&QuietHours>,
    ctx: &Context<'_>,
) -> Result<Vec<Event>, DomainError> {
    ctx.principal.ensure_may_use_hub()?;
    if !ctx.principal.role().is_clinic_staff() {
        return Err(DomainError::forbidden(format!(
            "a {} may not schedule messages; only staff do",
            ctx.principal.role()
        )));
    }
    let (starts_conversation, to) = match command {
        ConversationCommand::StartConversation(cmd) => (true, cmd.to),
        ConversationCommand::SendMessage(_) => (false, None),
        _ => {
            return Err(DomainError::invalid(
                "only messages may be scheduled (a first message or a reply)",
            ))
        }
    };
    validate_send_at(send_at, ctx.now)?;
    let events = scope.decide(command, ctx)?;
    let sent = events
        .into_iter()
        .find_map(|event| match event {
            Event::MessageSent(sent) => Some(sent),
            _ => None,
        })
        .ok_or_else(|| DomainError::invalid("the send wrote no message"))?;
    let patient = scope.patient.record()?;
    let (draft, using) = match command {
        ConversationCommand::StartConversation(cmd) => (&cmd.draft, cmd.template.as_ref()),
        ConversationCommand::SendMessage(cmd) => (&cmd.draft, cmd.template.as_ref()),
        _ => return Err(DomainError::invalid("only messages may be scheduled")),
    };
    let whatsapp_template = approved_message(patient, scope.template, draft, using)?;
    let release_at = quiet_hours.map_or(send_at, |quiet| {
        quiet.release_at(send_at, sent.channel, patient.contact.time_zone)
    });
    Ok(vec![Event::MessageScheduled(MessageScheduled {
        message_id: sent.message_id,
        conversation_id: sent.conversation_id,
        starts_conversation,
        to,
        patient_id: patient.id,
        author: sent.author,
        draft: Draft {
            channel: sent.channel,
            subject: sent.subject,
            body: sent.body,
            attachments: sent.attachments,
        },
        template: sent.template,
        whatsapp_template,
        send_at,
        release_at,
    })])
}
