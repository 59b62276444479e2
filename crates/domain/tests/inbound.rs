//! Inbound messages from providers: filing, consent keywords, the WhatsApp window, replies.

mod common;

use chrono::{DateTime, Duration, Utc};
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
        received_at: None,
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

/// A WhatsApp message from the unmatched queue, received at `received_at`, as reception files it.
fn filed_whatsapp(patient: PatientId, received_at: DateTime<Utc>) -> ConversationCommand {
    let mut command = receive(
        Channel::Whatsapp,
        patient,
        ConversationId(Uuid::new_v4()),
        "Can I move my appointment?",
    );
    if let ConversationCommand::ReceiveMessage(cmd) = &mut command {
        cmd.unmatched_id = Some(UnmatchedId(Uuid::new_v4()));
        cmd.received_at = Some(received_at);
    }
    command
}

/// Whether the patient's record allows a free-form WhatsApp message at `at`.
fn whatsapp_open_at(world: &World, patient: PatientId, at: DateTime<Utc>) -> bool {
    let record = world.patients[&patient].0.as_ref().expect("registered");
    record.ensure_channel(Channel::Whatsapp, at).is_ok()
}

#[test]
fn a_whatsapp_message_filed_late_opens_the_window_from_when_it_was_received() {
    // Given a WhatsApp message that reached the hub 2 hours ago and waited in the queue,
    let mut world = World::default();
    let patient = world.register(full_contact());
    let received_at = now() - Duration::hours(2);
    // when reception files it now,
    let events = world
        .decide(
            &staff(Role::Receptionist),
            patient,
            filed_whatsapp(patient, received_at),
        )
        .expect("filed");
    // then the window runs from its arrival: 22 hours are left, not 24.
    let opened: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            Event::WhatsappWindowOpened(e) => Some(e.opened_at),
            _ => None,
        })
        .collect();
    assert_eq!(opened, [received_at]);
    let left = Duration::hours(22);
    assert!(whatsapp_open_at(&world, patient, now()));
    assert!(whatsapp_open_at(
        &world,
        patient,
        now() + left - Duration::seconds(1)
    ));
    assert!(!whatsapp_open_at(&world, patient, now() + left));
}

#[test]
fn a_whatsapp_message_filed_after_a_day_opens_no_usable_window() {
    // Given a WhatsApp message that reached the hub 30 hours ago,
    let mut world = World::default();
    let patient = world.register(full_contact());
    let receptionist = staff(Role::Receptionist);
    // when reception files it now,
    world
        .decide(
            &receptionist,
            patient,
            filed_whatsapp(patient, now() - Duration::hours(30)),
        )
        .expect("filed");
    // then its window closed 6 hours ago: free-form WhatsApp needs a template.
    assert!(!whatsapp_open_at(&world, patient, now()));
    assert_eq!(
        code(world.start(&receptionist, patient, None, draft(Channel::Whatsapp, "Hi"))),
        "channel_unavailable"
    );
    // A message received "later" than the decision (a skewed clock) opens it no later than now.
    world
        .decide(
            &receptionist,
            patient,
            filed_whatsapp(patient, now() + Duration::hours(1)),
        )
        .expect("filed");
    assert!(!whatsapp_open_at(
        &world,
        patient,
        now() + Duration::hours(24)
    ));
}

fn code(result: Result<impl std::fmt::Debug, domain::DomainError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => error.code(),
    }
}
