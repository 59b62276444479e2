//! The patient aggregate: contact record, consent, tokens, and the index of the patient's
//! conversations on which the doctor's one-open-conversation rule is decided.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::actor::{Actor, Role};
use crate::channel::Channel;
use crate::command::{validate_token_digest, Context, PatientCommand};
use crate::contact::{validate_name, PatientContact};
use crate::error::DomainError;
use crate::event::{Counterpart, Event, PatientContactChanged, PatientErased, PatientRegistered};
use crate::ids::{ConversationId, PatientId, StaffId};
use crate::token::{issued, Tokens};
use crate::Aggregate;

/// How long after the patient's last inbound WhatsApp message free-form messages may be sent.
pub const WHATSAPP_WINDOW: Duration = Duration::hours(24);

/// One of the patient's conversations, as the patient's index knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationLink {
    /// Reception or a named staff member.
    pub counterpart: Counterpart,
    /// The staff member who opened a `staff` conversation.
    pub staff_id: Option<StaffId>,
    /// Whether it is archived.
    pub archived: bool,
}

/// A registered patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientRecord {
    /// The patient's id.
    pub id: PatientId,
    /// The contact record.
    pub contact: PatientContact,
    /// `false` after an SMS opt-out keyword until an opt-in keyword.
    pub sms_consent: bool,
    /// When the patient's last inbound WhatsApp message arrived.
    pub whatsapp_window_opened_at: Option<DateTime<Utc>>,
    /// Active access tokens.
    pub tokens: Tokens,
    /// Every conversation with this patient.
    pub conversations: BTreeMap<ConversationId, ConversationLink>,
    /// Whether the patient was erased: its contact record shows the erased view and nothing
    /// more is written about it.
    pub erased: bool,
}

impl PatientRecord {
    /// The identity this patient acts as.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.id.0,
            role: Role::Patient,
        }
    }

    /// The open (not archived) conversation that `staff_id` opened with this patient, if any.
    pub fn open_conversation_of(&self, staff_id: StaffId) -> Option<ConversationId> {
        self.conversations
            .iter()
            .find(|(_, link)| link.staff_id == Some(staff_id) && !link.archived)
            .map(|(id, _)| *id)
    }

    /// Whether the 24-hour WhatsApp window since the patient's last inbound message is open.
    pub fn whatsapp_window_open(&self, now: DateTime<Utc>) -> bool {
        self.whatsapp_window_opened_at
            .is_some_and(|opened| now < opened + WHATSAPP_WINDOW)
    }

    /// Fails with `channel_unavailable` (and the reason) when the record does not allow `channel` now.
    pub fn ensure_channel(&self, channel: Channel, now: DateTime<Utc>) -> Result<(), DomainError> {
        self.ensure_channel_with(channel, now, false)
    }

    /// As [`Self::ensure_channel`]; with `approved_template` (an approved WhatsApp template
    /// message) WhatsApp is open outside the 24-hour window too.
    pub fn ensure_channel_with(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        approved_template: bool,
    ) -> Result<(), DomainError> {
        let unavailable = |reason: &str| Err(DomainError::channel_unavailable(channel, reason));
        let contact = &self.contact;
        match channel {
            Channel::Sms if contact.phone.is_none() => unavailable("the patient has no phone number"),
            Channel::Sms if !self.sms_consent => unavailable("the patient opted out of SMS"),
            Channel::Email if contact.email.is_none() => {
                unavailable("the patient has no e-mail address")
            }
            Channel::Portal if !contact.portal_enabled => {
                unavailable("the patient has no portal account")
            }
            Channel::Whatsapp if contact.phone.is_none() => {
                unavailable("the patient has no phone number")
            }
            Channel::Whatsapp if !contact.whatsapp_opt_in => {
                unavailable("the patient has not opted in to WhatsApp")
            }
            Channel::Whatsapp if !approved_template && !self.whatsapp_window_open(now) => {
                unavailable(
                    "outside the 24-hour WhatsApp window since the patient's last message: an approved template is needed",
                )
            }
            Channel::Call => unavailable("call logs are written with POST /v1/conversations/{id}/calls, never sent"),
            _ => Ok(()),
        }
    }
}

/// One patient's state, folded from its stream; `None` before registration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patient(pub Option<PatientRecord>);

impl Aggregate for Patient {
    fn apply(&mut self, event: &Event) {
        let Some(record) = &mut self.0 else {
            if let Event::PatientRegistered(e) = event {
                self.0 = Some(PatientRecord {
                    id: e.patient_id,
                    contact: e.contact.clone(),
                    sms_consent: true,
                    whatsapp_window_opened_at: None,
                    tokens: Tokens::default(),
                    conversations: BTreeMap::new(),
                    erased: false,
                });
            }
            return;
        };
        match event {
            Event::PatientContactChanged(e) => record.contact = e.contact.clone(),
            Event::PatientErased(_) => {
                record.contact = PatientContact::erased(&record.contact);
                record.tokens = Tokens::default();
                record.erased = true;
            }
            Event::SmsConsentChanged(e) => record.sms_consent = e.opted_in,
            Event::WhatsappWindowOpened(e) => {
                record.whatsapp_window_opened_at =
                    record.whatsapp_window_opened_at.max(Some(e.opened_at));
            }
            Event::TokenIssued(_) | Event::TokenRevoked(_) => record.tokens.apply(event),
            Event::PatientConversationOpened(e) => {
                record.conversations.insert(
                    e.conversation_id,
                    ConversationLink {
                        counterpart: e.counterpart,
                        staff_id: e.staff_id,
                        archived: false,
                    },
                );
            }
            Event::PatientConversationArchived(e) => {
                if let Some(link) = record.conversations.get_mut(&e.conversation_id) {
                    link.archived = true;
                }
            }
            Event::PatientConversationReopened(e) => {
                if let Some(link) = record.conversations.get_mut(&e.conversation_id) {
                    link.archived = false;
                }
            }
            _ => {}
        }
    }
}

/// Fails with `forbidden` unless the principal is an admin or receptionist allowed to use the hub.
fn ensure_front_desk(ctx: &Context<'_>) -> Result<(), DomainError> {
    ctx.principal.ensure_may_use_hub()?;
    match ctx.principal.role() {
        Role::Admin | Role::Receptionist => Ok(()),
        role => Err(DomainError::forbidden(format!(
            "a {role} may not manage patient records"
        ))),
    }
}

fn validate_contact(contact: &PatientContact) -> Result<PatientContact, DomainError> {
    Ok(PatientContact {
        name: validate_name(&contact.name)?,
        ..contact.clone()
    })
}

impl Patient {
    /// The registered record, or `not_found`.
    pub fn record(&self) -> Result<&PatientRecord, DomainError> {
        self.0.as_ref().ok_or(DomainError::NotFound("patient"))
    }

    /// Whether the patient was erased.
    pub fn is_erased(&self) -> bool {
        self.0.as_ref().is_some_and(|record| record.erased)
    }

    /// Fails with `patient_erased` once the patient was erased: every write naming it is refused.
    pub fn ensure_not_erased(&self) -> Result<(), DomainError> {
        if self.is_erased() {
            return Err(DomainError::PatientErased);
        }
        Ok(())
    }

    /// Decides an erasure (admins only; `not_found` before registration, `patient_erased` the
    /// second time). `plain_events` counts the patient's events that hold personal data in
    /// plain text, which destroying its key cannot make unreadable.
    pub fn erase(&self, ctx: &Context<'_>, plain_events: u64) -> Result<Vec<Event>, DomainError> {
        ctx.principal.ensure_may_use_hub()?;
        if ctx.principal.role() != Role::Admin {
            return Err(DomainError::forbidden("only admins erase patients"));
        }
        let record = self.record()?;
        self.ensure_not_erased()?;
        Ok(vec![Event::PatientErased(PatientErased {
            patient_id: record.id,
            plain_events,
        })])
    }

    /// Decides a patient-record command.
    pub fn decide(
        &self,
        command: &PatientCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<Event>, DomainError> {
        match command {
            PatientCommand::RegisterPatient(cmd) => {
                ensure_front_desk(ctx)?;
                if self.0.is_some() {
                    return Err(DomainError::invalid("patient id already registered"));
                }
                let contact = validate_contact(&cmd.contact)?;
                validate_token_digest(&cmd.token_sha256)?;
                let holder = Actor {
                    id: cmd.patient_id.0,
                    role: Role::Patient,
                };
                Ok(vec![
                    Event::PatientRegistered(PatientRegistered {
                        patient_id: cmd.patient_id,
                        contact,
                    }),
                    issued(holder, &cmd.token_sha256),
                ])
            }
            PatientCommand::ChangePatientContact(cmd) => {
                ensure_front_desk(ctx)?;
                let record = self.record()?;
                self.ensure_not_erased()?;
                let contact = validate_contact(&cmd.contact)?;
                if contact == record.contact {
                    return Ok(Vec::new());
                }
                Ok(vec![Event::PatientContactChanged(PatientContactChanged {
                    patient_id: record.id,
                    contact,
                })])
            }
            PatientCommand::RotateToken(cmd) => {
                let record = self.record()?;
                self.ensure_not_erased()?;
                record
                    .tokens
                    .rotate(ctx.principal, record.actor(), Some(&cmd.token_sha256))
            }
            PatientCommand::RevokeTokens(_) => {
                let record = self.record()?;
                self.ensure_not_erased()?;
                record.tokens.rotate(ctx.principal, record.actor(), None)
            }
        }
    }
}
