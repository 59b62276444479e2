//! Builders shared by the domain tests: principals, patients, drafts, and a tiny world that
//! routes events to their aggregates by stream.

#![allow(dead_code)]

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use domain::command::{Context, ConversationCommand, Draft, Recipient, StartConversation};
use domain::contact::{EmailAddress, PatientContact, PhoneNumber};
use domain::conversation::{Conversation, ConversationScope};
use domain::event::PatientRegistered;
use domain::patient::Patient;
use domain::template::Template;
use domain::{
    Actor, Aggregate, Channel, ConversationId, DomainError, Event, MessageId, PatientId,
    Permission, Principal, Role, StreamName, TemplateId,
};
use uuid::Uuid;

/// A fixed "now" for deterministic decisions.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

/// A principal of `role` with `send_messages`.
pub fn staff(role: Role) -> Principal {
    Principal::new(
        Actor {
            id: Uuid::new_v4(),
            role,
        },
        [Permission::SendMessages],
    )
}

/// A principal of `role` without any permission.
pub fn staff_without_permission(role: Role) -> Principal {
    Principal::new(
        Actor {
            id: Uuid::new_v4(),
            role,
        },
        [],
    )
}

/// The principal of a patient.
pub fn patient_principal(id: PatientId) -> Principal {
    Principal::new(
        Actor {
            id: id.0,
            role: Role::Patient,
        },
        [],
    )
}

/// A contact record with every channel available.
pub fn full_contact() -> PatientContact {
    PatientContact {
        name: "Pat".into(),
        phone: Some(PhoneNumber::parse("+4915112345678").unwrap()),
        email: Some(EmailAddress::parse("pat@example.org").unwrap()),
        portal_enabled: true,
        whatsapp_opt_in: true,
        time_zone: None,
    }
}

/// A portal draft.
pub fn portal(body: &str) -> Draft {
    Draft {
        channel: Channel::Portal,
        subject: None,
        body: body.into(),
        attachments: vec![],
    }
}

/// A draft on `channel` with a subject.
pub fn draft(channel: Channel, body: &str) -> Draft {
    Draft {
        channel,
        subject: Some("Subject".into()),
        body: body.into(),
        attachments: vec![],
    }
}

/// Aggregates by stream, fed only with decided events.
#[derive(Default)]
pub struct World {
    pub patients: HashMap<PatientId, Patient>,
    pub conversations: HashMap<ConversationId, Conversation>,
    pub templates: HashMap<TemplateId, Template>,
    pub log: Vec<Event>,
}

impl World {
    /// Registers a patient with `contact`.
    pub fn register(&mut self, contact: PatientContact) -> PatientId {
        let id = PatientId(Uuid::new_v4());
        self.record(vec![Event::PatientRegistered(PatientRegistered {
            patient_id: id,
            contact,
        })]);
        id
    }

    /// Applies events to the aggregates their streams name.
    pub fn record(&mut self, events: Vec<Event>) {
        for event in events {
            let stream = event.stream();
            if let Some(id) = stream.strip_prefix("patient-") {
                let id = PatientId(id.parse().unwrap());
                self.patients.entry(id).or_default().apply(&event);
            } else if let Some(id) = stream.strip_prefix("conversation-") {
                let id = ConversationId(id.parse().unwrap());
                self.conversations.entry(id).or_default().apply(&event);
            } else if let Some(id) = stream.strip_prefix("template-") {
                let id = TemplateId(id.parse().unwrap());
                self.templates.entry(id).or_default().apply(&event);
            }
            self.log.push(event);
        }
    }

    /// Decides a conversation command and records its events.
    pub fn decide(
        &mut self,
        principal: &Principal,
        patient: PatientId,
        command: ConversationCommand,
    ) -> Result<Vec<Event>, DomainError> {
        let conversation = self
            .conversations
            .get(&command.conversation_id())
            .cloned()
            .unwrap_or_default();
        let patient_id = conversation
            .0
            .as_ref()
            .map(|c| c.patient_id)
            .unwrap_or(patient);
        let patient = self.patients.get(&patient_id).cloned().unwrap_or_default();
        let template = match &command {
            ConversationCommand::StartConversation(c) => c.template.as_ref(),
            ConversationCommand::SendMessage(c) => c.template.as_ref(),
            _ => None,
        }
        .and_then(|using| self.templates.get(&using.id).cloned());
        let scope = ConversationScope {
            patient: &patient,
            conversation: &conversation,
            template: template.as_ref(),
        };
        let events = scope.decide(
            &command,
            &Context {
                principal,
                now: now(),
            },
        )?;
        self.record(events.clone());
        Ok(events)
    }

    /// Starts a conversation; answers its id.
    pub fn start(
        &mut self,
        principal: &Principal,
        patient: PatientId,
        to: Option<Recipient>,
        draft: Draft,
    ) -> Result<ConversationId, DomainError> {
        let conversation_id = ConversationId(Uuid::new_v4());
        let command = ConversationCommand::StartConversation(StartConversation {
            conversation_id,
            message_id: MessageId(Uuid::new_v4()),
            patient_id: patient,
            to,
            draft,
            template: None,
        });
        self.decide(principal, patient, command)
            .map(|_| conversation_id)
    }

    /// The conversation's state.
    pub fn conversation(&self, id: ConversationId) -> &domain::conversation::ConversationRecord {
        self.conversations[&id].0.as_ref().unwrap()
    }

    /// The stream names of the log, for routing checks.
    pub fn streams(&self) -> Vec<String> {
        self.log.iter().map(Event::stream).collect()
    }
}

/// The stream of a patient.
pub fn patient_stream(id: PatientId) -> String {
    id.stream()
}

/// The state folded from `events`: the "given" of a rule test.
pub fn given<A: Aggregate>(events: &[Event]) -> A {
    A::fold(events)
}

/// A context for `principal` at [`now`].
pub fn ctx(principal: &Principal) -> Context<'_> {
    Context {
        principal,
        now: now(),
    }
}

/// An admin with `send_messages`.
pub fn admin() -> Principal {
    staff(Role::Admin)
}

/// The hub itself (scheduler, dispatchers).
pub fn system() -> Principal {
    Principal::new(Actor::system(), [])
}

/// The message of an `invalid_request` refusal; panics on anything else.
pub fn invalid_message(result: Result<impl std::fmt::Debug, DomainError>) -> String {
    match result {
        Err(DomainError::InvalidRequest(message)) => message,
        other => panic!("expected invalid_request, got {other:?}"),
    }
}

/// `ok` or the refusal's contract code.
pub fn code_of(result: Result<impl std::fmt::Debug, DomainError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => error.code(),
    }
}
