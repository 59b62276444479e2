//! Inbound messages from providers: filing, consent keywords, the WhatsApp window, replies.

mod common;

use common::*;
use domain::command::{ConversationCommand, ReceiveMessage};
use domain::status::MessageStatus;
use domain::{
    Actor, Channel, ConversationId, Event, MessageId, PatientId, Principal, Role, UnmatchedId,
};
use uuid::Uuid;

fn system() -> Principal {
    Principal::new(Actor::system(), [])
}

fn receive(
    channel: Channel,
    patient: PatientId,
    conversation: ConversationId,
    body: &str,
) -> ConversationCommand {
    ConversationCommand::ReceiveMessage(ReceiveMessage {
        conversation_id: conversation,
        message_id: MessageId(Uuid::new_v4()),
        patient_id: patient,
        channel,
        subject: None,
        body: body.into(),
        attachments: Vec::new(),
        provider_message_id: Uuid::new_v4().to_string(),
        unmatched_id: None,
    })
}

#[test]
fn an_inbound_message_without_a_conversation_opens_a_reception_one() {
    let mut world = World::default();
    let patient = world.register(full_contact());
    let conversation = ConversationId(Uuid::new_v4());
    let events = world
        .decide(
            &system(),
            patient,
            receive(Channel::Sms, patient, conversation, "Running late"),
        )
        .expect("filed");
    let types: Vec<_> = events.iter().map(Event::event_type).collect();
    assert_eq!(
        types,
        [
            "PatientConversationOpened",
            "ConversationStarted",
            "MessageReceived",
            "ProviderMessageLinked"
        ]
    );
    let record = world.conversation(conversation);
    assert_eq!(record.counterpart.as_str(), "reception");
    assert_eq!(record.initiator.role, Role::Patient);
}

#[test]
fn an_inbound_reply_marks_the_clinics_messages_replied_and_reopens_an_archive() {
    let mut world = World::default();
    let patient = world.register(full_contact());
    let receptionist = staff(Role::Receptionist);
    let conversation = world
        .start(
            &receptionist,
            patient,
            None,
            draft(Channel::Sms, "Reminder"),
        )
        .expect("started");
    world
        .decide(
            &receptionist,
            patient,
            ConversationCommand::SetArchived(domain::command::SetArchived {
                conversation_id: conversation,
                archived: true,
            }),
        )
        .expect("archived");
    let events = world
        .decide(
            &system(),
            patient,
            receive(Channel::Sms, patient, conversation, "Thanks"),
        )
        .expect("filed");
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::ConversationReopened(_))));
    let record = world.conversation(conversation);
    assert!(!record.archived);
    let outbound = record
        .messages
        .values()
        .find(|m| m.author.role == Role::Receptionist);
    assert_eq!(outbound.map(|m| m.status), Some(MessageStatus::Replied));
}

#[test]
fn sms_keywords_change_consent_once_and_whatsapp_opens_the_window() {
    let mut world = World::default();
    let patient = world.register(full_contact());
    let receptionist = staff(Role::Receptionist);
    let conversation = ConversationId(Uuid::new_v4());
    world
        .decide(
            &system(),
            patient,
            receive(Channel::Sms, patient, conversation, " stop "),
        )
        .expect("filed");
    assert_eq!(
        code(world.start(&receptionist, patient, None, draft(Channel::Sms, "Hi"))),
        "channel_unavailable"
    );
    let again = world
        .decide(
            &system(),
            patient,
            receive(Channel::Sms, patient, conversation, "STOP"),
        )
        .expect("filed");
    assert!(!again
        .iter()
        .any(|e| matches!(e, Event::SmsConsentChanged(_))));
    world
        .decide(
            &system(),
            patient,
            receive(Channel::Sms, patient, conversation, "Start"),
        )
        .expect("filed");
    assert_eq!(
        code(world.start(&receptionist, patient, None, draft(Channel::Sms, "Hi"))),
        "ok"
    );
    assert_eq!(
        code(world.start(&receptionist, patient, None, draft(Channel::Whatsapp, "Hi"))),
        "channel_unavailable"
    );
    world
        .decide(
            &system(),
            patient,
            receive(Channel::Whatsapp, patient, conversation, "Hello"),
        )
        .expect("filed");
    assert_eq!(
        code(world.start(&receptionist, patient, None, draft(Channel::Whatsapp, "Hi"))),
        "ok"
    );
}

#[test]
fn only_the_hub_files_provider_messages_and_only_reception_files_unmatched_ones() {
    let mut world = World::default();
    let patient = world.register(full_contact());
    let conversation = ConversationId(Uuid::new_v4());
    for principal in [
        staff(Role::Receptionist),
        staff(Role::Doctor),
        patient_principal(patient),
    ] {
        assert_eq!(
            code(world.decide(
                &principal,
                patient,
                receive(Channel::Sms, patient, conversation, "x")
            )),
            "forbidden"
        );
    }
    let mut command = receive(Channel::Email, patient, conversation, "x");
    if let ConversationCommand::ReceiveMessage(cmd) = &mut command {
        cmd.unmatched_id = Some(UnmatchedId(Uuid::new_v4()));
    }
    assert_eq!(
        code(world.decide(&system(), patient, command.clone())),
        "forbidden"
    );
    let events = world
        .decide(&staff(Role::Receptionist), patient, command)
        .expect("filed by reception");
    assert!(matches!(events.last(), Some(Event::UnmatchedAssigned(_))));
    assert_eq!(
        code(world.decide(
            &system(),
            patient,
            receive(Channel::Portal, patient, conversation, "x")
        )),
        "invalid_request"
    );
}

fn code(result: Result<impl std::fmt::Debug, domain::DomainError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => error.code(),
    }
}
