//! The conversation aggregate: its messages, statuses, stars and archive state, decided
//! together with the patient's record (channels, consent, the doctor's rule).

use chrono::{DateTime, Duration, TimeZone, Utc};

pub mod access;
mod compose;
mod record;

pub use record::{Conversation, ConversationRecord, MessageState};

use crate::actor::{Actor, Author, Principal, Role};
use crate::attachment::validate_attachments;
use crate::channel::{Channel, Direction};
use crate::command::{
    Context, ConversationCommand, Draft, LogCall, ReceiveMessage, SendMessage, StartConversation,
};
use crate::consent::sms_consent_keyword;
use crate::error::DomainError;
use crate::event::{
    CallLogged, ConversationArchived, ConversationReopened, ConversationStarted, Counterpart,
    Event, MessageReceived, MessageSent, MessageStarred, MessageUnstarred,
    PatientConversationArchived, PatientConversationOpened, PatientConversationReopened,
    ProviderMessageLinked, SmsConsentChanged, StatusChanged, UnmatchedAssigned,
    WhatsappWindowOpened,
};
use crate::ids::{ConversationId, MessageId, StaffId};
use crate::patient::{Patient, PatientRecord};
use crate::status::{DeliveryStatus, MessageStatus};
use crate::template::{Template, WhatsappTemplateMessage};
use access::{can_see, initiation, is_clinic_recipient, may_write};
pub(crate) use compose::approved_message;
use compose::{compose, Composed};

/// How far in the future a call's time may lie (clock skew between devices).
pub const CALL_CLOCK_SKEW: Duration = Duration::minutes(5);
/// The longest call that can be logged: one day.
pub const MAX_CALL_SECONDS: i64 = 86_400;
/// The longest e-mail subject line.
pub const MAX_SUBJECT_CHARS: usize = 998;

/// The direction of what `author` writes: the patient writes inbound, the clinic outbound.
fn direction_of(author: &Actor) -> Direction {
    if author.role == Role::Patient {
        Direction::Inbound
    } else {
        Direction::Outbound
    }
}

/// Validates message text for a channel: not blank, not longer than the channel allows.
pub fn validate_body(channel: Channel, body: &str) -> Result<(), DomainError> {
    if body.trim().is_empty() {
        return Err(DomainError::invalid("body must not be empty"));
    }
    let max = channel.max_body_chars();
    if body.chars().count() > max {
        return Err(DomainError::invalid(format!(
            "body is longer than {max} characters allowed on {channel}"
        )));
    }
    Ok(())
}

/// Checks a call log by itself (no record needed): its length, its time (from the year 2000
/// to a few minutes after `now`) and its summary.
pub fn validate_call(cmd: &LogCall, now: DateTime<Utc>) -> Result<(), DomainError> {
    if !(0..=MAX_CALL_SECONDS).contains(&cmd.duration_seconds) {
        return Err(DomainError::invalid(format!(
            "duration_seconds must be between 0 and {MAX_CALL_SECONDS}"
        )));
    }
    if cmd.occurred_at > now + CALL_CLOCK_SKEW {
        return Err(DomainError::invalid("occurred_at lies in the future"));
    }
    let earliest = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
    if earliest.is_some_and(|earliest| cmd.occurred_at < earliest) {
        return Err(DomainError::invalid(
            "occurred_at lies before the year 2000",
        ));
    }
    validate_body(Channel::Call, &cmd.summary)
        .map_err(|_| DomainError::invalid("summary must be 1 to 10,000 characters"))
}

/// Checks a draft against its channel alone (no record needed, so a request can be refused
/// before anything is looked up): never `call`, the body, the subject, the attachments.
pub fn validate_content(draft: &Draft) -> Result<(), DomainError> {
    if draft.channel == Channel::Call {
        return Err(DomainError::channel_unavailable(
            Channel::Call,
            "call logs are written with POST /v1/conversations/{id}/calls, never sent",
        ));
    }
    validate_body(draft.channel, &draft.body)?;
    match &draft.subject {
        Some(subject) if subject.chars().count() > MAX_SUBJECT_CHARS => {
            return Err(DomainError::invalid(format!(
                "subject is longer than {MAX_SUBJECT_CHARS} characters"
            )));
        }
        Some(subject) if subject.chars().any(|c| c == '\r' || c == '\n') => {
            return Err(DomainError::invalid("subject must be a single line"));
        }
        Some(subject) if draft.channel == Channel::Email && subject.trim().is_empty() => {
            return Err(DomainError::invalid("subject is required on e-mail"));
        }
        None if draft.channel == Channel::Email => {
            return Err(DomainError::invalid("subject is required on e-mail"));
        }
        _ => {}
    }
    validate_attachments(draft.channel, &draft.attachments)
}

/// Checks a composed draft against the channel and the patient's record (a WhatsApp template
/// message may go out when the 24-hour window is closed).
fn validate_draft(
    principal: &Principal,
    patient: &PatientRecord,
    composed: &Composed,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let draft = &composed.draft;
    if principal.role() == Role::Patient && draft.channel.is_external() {
        return Err(DomainError::channel_unavailable(
            draft.channel,
            "patients write through the portal",
        ));
    }
    validate_content(draft)?;
    if principal.role() != Role::Patient {
        let approved_template = composed.whatsapp_template.is_some();
        patient.ensure_channel_with(draft.channel, now, approved_template)?;
    } else if !patient.contact.portal_enabled {
        return Err(DomainError::channel_unavailable(
            Channel::Portal,
            "the patient has no portal account",
        ));
    }
    Ok(())
}

/// The first event of a message written through the hub.
fn message_sent(
    conversation_id: ConversationId,
    message_id: MessageId,
    author: Author,
    composed: Composed,
) -> Event {
    let Composed {
        draft,
        template,
        whatsapp_template,
    } = composed;
    let direction = direction_of(&author.actor());
    let delivery_status = match (direction, draft.channel) {
        (Direction::Outbound, Channel::Portal) => Some(DeliveryStatus::Delivered),
        (Direction::Outbound, channel) if channel.is_external() => Some(DeliveryStatus::Queued),
        _ => None,
    };
    Event::MessageSent(MessageSent {
        conversation_id,
        message_id,
        channel: draft.channel,
        direction,
        author,
        subject: draft.subject,
        body: draft.body,
        attachments: draft.attachments,
        delivery_status,
        template,
        whatsapp_template,
        scheduled_for: None,
    })
}

/// The `replied` events a new message written in `direction` brings: its writer is the
/// recipient of every unanswered message from the other side.
fn replied(record: &ConversationRecord, direction: Direction) -> impl Iterator<Item = Event> + '_ {
    let answered = match direction {
        Direction::Inbound => Direction::Outbound,
        Direction::Outbound => Direction::Inbound,
    };
    let unanswered = record.unanswered.get(&answered).into_iter().flatten();
    unanswered.map(|message_id| {
        Event::StatusChanged(StatusChanged {
            conversation_id: record.id,
            message_id: *message_id,
            status: MessageStatus::Replied,
        })
    })
}

/// What an inbound message changes on the patient's record: an SMS consent keyword changes
/// consent, a WhatsApp message (re)opens the 24-hour window from when it was received (never
/// later than `now`), however long it waited in the unmatched queue.
fn channel_effects(
    patient: &PatientRecord,
    cmd: &ReceiveMessage,
    now: DateTime<Utc>,
) -> Option<Event> {
    match cmd.channel {
        Channel::Sms => {
            let opted_in = sms_consent_keyword(&cmd.body)?;
            (opted_in != patient.sms_consent).then(|| {
                Event::SmsConsentChanged(SmsConsentChanged {
                    patient_id: patient.id,
                    opted_in,
                    keyword: cmd.body.trim().to_ascii_uppercase(),
                })
            })
        }
        Channel::Whatsapp => Some(Event::WhatsappWindowOpened(WhatsappWindowOpened {
            patient_id: patient.id,
            opened_at: cmd.received_at.map_or(now, |received| received.min(now)),
        })),
        _ => None,
    }
}

/// What the conversation and its patient's record decide on together.
#[derive(Debug, Clone, Copy)]
pub struct ConversationScope<'a> {
    /// The patient's record (for a new conversation: the patient named in the command).
    pub patient: &'a Patient,
    /// The conversation itself (empty for a new one).
    pub conversation: &'a Conversation,
    /// The template a message is written from, when the command names one.
    pub template: Option<&'a Template>,
}

impl ConversationScope<'_> {
    /// Decides the send of a released scheduled message: `command` (a first message or a
    /// reply, its draft rendered already) exactly as a send now by `ctx`'s principal would be
    /// decided, with `released_as`, the approved WhatsApp template message recorded when it was
    /// scheduled, sent in place of the text when the 24-hour window is closed now.
    pub fn decide_release(
        &self,
        command: &ConversationCommand,
        released_as: Option<&WhatsappTemplateMessage>,
        ctx: &Context<'_>,
    ) -> Result<Vec<Event>, DomainError> {
        ctx.principal.ensure_may_use_hub()?;
        // Nothing more is written about an erased patient, in any of its conversations.
        self.patient.ensure_not_erased()?;
        match command {
            ConversationCommand::StartConversation(cmd) => self.start(cmd, released_as, ctx),
            ConversationCommand::SendMessage(cmd) => self.send(cmd, released_as, ctx),
            _ => Err(DomainError::invalid(
                "only messages are released (a first message or a reply)",
            )),
        }
    }

    /// Decides a conversation command. Rejected commands emit nothing.
    pub fn decide(
        &self,
        command: &ConversationCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<Event>, DomainError> {
        ctx.principal.ensure_may_use_hub()?;
        // Nothing more is written about an erased patient, in any of its conversations.
        self.patient.ensure_not_erased()?;
        match command {
            ConversationCommand::StartConversation(cmd) => self.start(cmd, None, ctx),
            ConversationCommand::SendMessage(cmd) => self.send(cmd, None, ctx),
            ConversationCommand::LogCall(cmd) => self.log_call(cmd, ctx),
            ConversationCommand::ReceiveMessage(cmd) => self.receive(cmd, ctx),
            ConversationCommand::MarkRead(cmd) => {
                let (record, actor) = self.visible(ctx)?;
                let message = record.message(cmd.message_id)?;
                if message.channel == Channel::Call && actor.role == Role::Patient {
                    // Call logs are the clinic's record: a patient never sees them.
                    return Err(DomainError::NotFound("message"));
                }
                let is_recipient = match message.direction {
                    Direction::Inbound => is_clinic_recipient(&actor, record),
                    Direction::Outbound => actor.role == Role::Patient,
                };
                if !is_recipient {
                    return Err(DomainError::forbidden(
                        "only the recipient may mark a message read",
                    ));
                }
                if !message.status.advances_to(MessageStatus::Read) {
                    return Ok(Vec::new());
                }
                Ok(vec![Event::StatusChanged(StatusChanged {
                    conversation_id: record.id,
                    message_id: cmd.message_id,
                    status: MessageStatus::Read,
                })])
            }
            ConversationCommand::SetStar(cmd) => {
                let (record, actor) = self.visible(ctx)?;
                let message = record.message(cmd.message_id)?;
                if !actor.role.is_clinic_staff() {
                    return Err(DomainError::forbidden("only staff star messages"));
                }
                let staff_id = StaffId(actor.id);
                if message.starred_by.contains(&staff_id) == cmd.starred {
                    return Ok(Vec::new());
                }
                let (conversation_id, message_id) = (record.id, cmd.message_id);
                Ok(vec![if cmd.starred {
                    Event::MessageStarred(MessageStarred {
                        conversation_id,
                        message_id,
                        staff_id,
                    })
                } else {
                    Event::MessageUnstarred(MessageUnstarred {
                        conversation_id,
                        message_id,
                        staff_id,
                    })
                }])
            }
            ConversationCommand::SetArchived(cmd) => {
                let (record, actor) = self.visible(ctx)?;
                if !actor.role.is_clinic_staff() {
                    return Err(DomainError::forbidden("only staff archive conversations"));
                }
                may_write(&actor, record)?;
                if record.archived == cmd.archived {
                    return Ok(Vec::new());
                }
                if cmd.archived {
                    Ok(vec![
                        Event::ConversationArchived(ConversationArchived {
                            conversation_id: record.id,
                        }),
                        Event::PatientConversationArchived(PatientConversationArchived {
                            patient_id: record.patient_id,
                            conversation_id: record.id,
                        }),
                    ])
                } else {
                    self.reopen(record, None)
                }
            }
        }
    }

    /// The conversation, if the principal may see it (else `not_found`), and the acting identity.
    fn visible(&self, ctx: &Context<'_>) -> Result<(&ConversationRecord, Actor), DomainError> {
        let actor = ctx.principal.actor;
        match &self.conversation.0 {
            Some(record) if can_see(&actor, record) => Ok((record, actor)),
            _ => Err(DomainError::NotFound("conversation")),
        }
    }

    /// Reopens an archived conversation, unless its doctor already has another open one.
    fn reopen(
        &self,
        record: &ConversationRecord,
        by_message: Option<MessageId>,
    ) -> Result<Vec<Event>, DomainError> {
        if let Some(doctor) = record.doctor() {
            let open = self.patient.record()?.open_conversation_of(doctor);
            if let Some(conversation_id) = open.filter(|id| *id != record.id) {
                return Err(DomainError::ConversationExists { conversation_id });
            }
        }
        Ok(vec![
            Event::ConversationReopened(ConversationReopened {
                conversation_id: record.id,
                by_message,
            }),
            Event::PatientConversationReopened(PatientConversationReopened {
                patient_id: record.patient_id,
                conversation_id: record.id,
            }),
        ])
    }

    fn start(
        &self,
        cmd: &StartConversation,
        released_as: Option<&WhatsappTemplateMessage>,
        ctx: &Context<'_>,
    ) -> Result<Vec<Event>, DomainError> {
        if self.conversation.0.is_some() {
            return Err(DomainError::invalid("conversation id already in use"));
        }
        let principal = ctx.principal;
        let patient = self.patient.record()?;
        if principal.role() == Role::Patient && principal.actor.id != patient.id.0 {
            return Err(DomainError::NotFound("patient"));
        }
        let counterpart = initiation(principal, cmd.to)?;
        let staff_id = (counterpart == Counterpart::Staff).then_some(StaffId(principal.actor.id));
        if principal.role() == Role::Doctor {
            if let Some(conversation_id) = patient.open_conversation_of(StaffId(principal.actor.id))
            {
                return Err(DomainError::ConversationExists { conversation_id });
            }
        }
        let composed = compose(
            principal,
            patient,
            self.template,
            &cmd.draft,
            cmd.template.as_ref(),
            released_as,
            ctx.now,
        )?;
        validate_draft(principal, patient, &composed, ctx.now)?;
        Ok(vec![
            Event::PatientConversationOpened(PatientConversationOpened {
                patient_id: patient.id,
                conversation_id: cmd.conversation_id,
                counterpart,
                staff_id,
            }),
            Event::ConversationStarted(ConversationStarted {
                conversation_id: cmd.conversation_id,
                patient_id: patient.id,
                counterpart,
                initiator: principal.actor,
            }),
            message_sent(
                cmd.conversation_id,
                cmd.message_id,
                principal.author(),
                composed,
            ),
        ])
    }

    /// The events every new entry brings: reopening an archived conversation first.
    fn before_new_entry(
        &self,
        record: &ConversationRecord,
        message_id: MessageId,
    ) -> Result<Vec<Event>, DomainError> {
        if record.messages.contains_key(&message_id) {
            return Err(DomainError::invalid("message id already in use"));
        }
        if record.archived {
            self.reopen(record, Some(message_id))
        } else {
            Ok(Vec::new())
        }
    }

    fn send(
        &self,
        cmd: &SendMessage,
        released_as: Option<&WhatsappTemplateMessage>,
        ctx: &Context<'_>,
    ) -> Result<Vec<Event>, DomainError> {
        let (record, actor) = self.visible(ctx)?;
        may_write(&actor, record)?;
        let patient = self.patient.record()?;
        let composed = compose(
            ctx.principal,
            patient,
            self.template,
            &cmd.draft,
            cmd.template.as_ref(),
            released_as,
            ctx.now,
        )?;
        validate_draft(ctx.principal, patient, &composed, ctx.now)?;
        let mut events = self.before_new_entry(record, cmd.message_id)?;
        let author = ctx.principal.author();
        events.push(message_sent(record.id, cmd.message_id, author, composed));
        events.extend(replied(record, direction_of(&actor)));
        Ok(events)
    }

    fn receive(&self, cmd: &ReceiveMessage, ctx: &Context<'_>) -> Result<Vec<Event>, DomainError> {
        let filer = ctx.principal.role();
        let allowed = match cmd.unmatched_id {
            None => filer == Role::System,
            Some(_) => matches!(filer, Role::Receptionist | Role::Admin),
        };
        if !allowed {
            return Err(DomainError::forbidden(
                "inbound messages are filed by the hub's webhooks or by reception",
            ));
        }
        if !cmd.channel.is_external() {
            return Err(DomainError::invalid(
                "inbound messages come on sms, email or whatsapp",
            ));
        }
        let patient = self.patient.record()?;
        let author = patient.actor();
        let mut events = match &self.conversation.0 {
            None => vec![
                Event::PatientConversationOpened(PatientConversationOpened {
                    patient_id: patient.id,
                    conversation_id: cmd.conversation_id,
                    counterpart: Counterpart::Reception,
                    staff_id: None,
                }),
                Event::ConversationStarted(ConversationStarted {
                    conversation_id: cmd.conversation_id,
                    patient_id: patient.id,
                    counterpart: Counterpart::Reception,
                    initiator: author,
                }),
            ],
            Some(record) if record.patient_id != patient.id => {
                return Err(DomainError::invalid(
                    "the conversation belongs to another patient",
                ))
            }
            Some(record) => self.before_new_entry(record, cmd.message_id)?,
        };
        events.push(Event::MessageReceived(MessageReceived {
            conversation_id: cmd.conversation_id,
            message_id: cmd.message_id,
            channel: cmd.channel,
            author: Author::new(author, Some(patient.contact.name.clone())),
            subject: cmd.subject.clone(),
            body: cmd.body.clone(),
            attachments: cmd.attachments.clone(),
            provider_message_id: cmd.provider_message_id.clone(),
        }));
        if let Some(record) = &self.conversation.0 {
            events.extend(replied(record, Direction::Inbound));
        }
        events.extend(channel_effects(patient, cmd, ctx.now));
        events.push(Event::ProviderMessageLinked(ProviderMessageLinked {
            channel: cmd.channel,
            provider_message_id: cmd.provider_message_id.clone(),
            direction: Direction::Inbound,
            conversation_id: cmd.conversation_id,
            message_id: cmd.message_id,
        }));
        if let Some(unmatched_id) = cmd.unmatched_id {
            events.push(Event::UnmatchedAssigned(UnmatchedAssigned {
                unmatched_id,
                patient_id: patient.id,
                conversation_id: cmd.conversation_id,
                message_id: cmd.message_id,
            }));
        }
        Ok(events)
    }

    fn log_call(&self, cmd: &LogCall, ctx: &Context<'_>) -> Result<Vec<Event>, DomainError> {
        let (record, actor) = self.visible(ctx)?;
        if !actor.role.is_clinic_staff() {
            return Err(DomainError::forbidden("only staff log calls"));
        }
        may_write(&actor, record)?;
        validate_call(cmd, ctx.now)?;
        let mut events = self.before_new_entry(record, cmd.message_id)?;
        events.push(Event::CallLogged(CallLogged {
            conversation_id: record.id,
            message_id: cmd.message_id,
            author: ctx.principal.author(),
            occurred_at: cmd.occurred_at,
            // Bounded to 0..=86,400 above.
            duration_seconds: cmd.duration_seconds as u32,
            direction: cmd.direction,
            summary: cmd.summary.clone(),
        }));
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_bounded_per_channel() {
        assert!(validate_body(Channel::Sms, &"a".repeat(1600)).is_ok());
        assert!(validate_body(Channel::Sms, &"a".repeat(1601)).is_err());
        assert!(validate_body(Channel::Email, "  \n").is_err());
    }
}
