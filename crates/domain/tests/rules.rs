//! Conversation rules of contract sections 2 and 3, decided with plain values.

mod common;

use chrono::Duration;
use common::*;
use domain::attachment::{AttachmentRef, MediaType};
use domain::command::{
    ConversationCommand, LogCall, MarkRead, Recipient, SendMessage, SetArchived, SetStar,
};
use domain::contact::{EmailAddress, PatientContact, PhoneNumber};
use domain::event::{SmsConsentChanged, WhatsappWindowOpened};
use domain::status::{ConversationStatus, MessageStatus};
use domain::{
    AttachmentId, Channel, ConversationId, Direction, DomainError, Event, MessageId, PatientId,
    Role,
};
use uuid::Uuid;

fn send(
    world: &mut World,
    principal: &domain::Principal,
    patient: PatientId,
    conversation: ConversationId,
    draft: domain::command::Draft,
) -> Result<MessageId, domain::DomainError> {
    let message_id = MessageId(Uuid::new_v4());
    world
        .decide(
            principal,
            patient,
            ConversationCommand::SendMessage(SendMessage {
                conversation_id: conversation,
                message_id,
                draft,
                template: None,
            }),
        )
        .map(|_| message_id)
}

fn code(result: Result<impl std::fmt::Debug, domain::DomainError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => error.code(),
    }
}

#[test]
fn channels_follow_the_patients_record() {
    let mut world = World::default();
    let bare = world.register(PatientContact {
        name: "Bare".into(),
        phone: None,
        email: None,
        portal_enabled: false,
        whatsapp_opt_in: false,
        time_zone: None,
    });
    let full = world.register(full_contact());
    let receptionist = staff(Role::Receptionist);
    for channel in [
        Channel::Sms,
        Channel::Email,
        Channel::Portal,
        Channel::Whatsapp,
        Channel::Call,
    ] {
        assert_eq!(
            code(world.start(&receptionist, bare, None, draft(channel, "Hi"))),
            "channel_unavailable",
            "{channel} to a bare record"
        );
    }
    for channel in [Channel::Sms, Channel::Email, Channel::Portal] {
        assert_eq!(
            code(world.start(&receptionist, full, None, draft(channel, "Hi"))),
            "ok",
            "{channel}"
        );
    }
    // WhatsApp needs the 24-hour window opened by the patient's last inbound message.
    assert_eq!(
        code(world.start(&receptionist, full, None, draft(Channel::Whatsapp, "Hi"))),
        "channel_unavailable"
    );
    world.record(vec![Event::WhatsappWindowOpened(WhatsappWindowOpened {
        patient_id: full,
        opened_at: now() - Duration::hours(23),
    })]);
    assert_eq!(
        code(world.start(&receptionist, full, None, draft(Channel::Whatsapp, "Hi"))),
        "ok"
    );
    world.record(vec![Event::WhatsappWindowOpened(WhatsappWindowOpened {
        patient_id: full,
        opened_at: now() - Duration::hours(25),
    })]);
    assert_eq!(
        code(world.start(&receptionist, full, None, draft(Channel::Whatsapp, "Hi"))),
        "ok",
        "an older inbound never closes a newer window"
    );
    let mut late = World::default();
    let patient = late.register(full_contact());
    late.record(vec![Event::WhatsappWindowOpened(WhatsappWindowOpened {
        patient_id: patient,
        opened_at: now() - Duration::hours(24),
    })]);
    let error = late
        .start(&receptionist, patient, None, draft(Channel::Whatsapp, "Hi"))
        .unwrap_err();
    assert!(error.to_string().contains("template"), "{error}");
    // SMS consent: opted out patients get no SMS until they opt back in.
    world.record(vec![Event::SmsConsentChanged(SmsConsentChanged {
        patient_id: full,
        opted_in: false,
        keyword: "STOP".into(),
    })]);
    assert_eq!(
        code(world.start(&receptionist, full, None, draft(Channel::Sms, "Hi"))),
        "channel_unavailable"
    );
    world.record(vec![Event::SmsConsentChanged(SmsConsentChanged {
        patient_id: full,
        opted_in: true,
        keyword: "START".into(),
    })]);
    assert_eq!(
        code(world.start(&receptionist, full, None, draft(Channel::Sms, "Hi"))),
        "ok"
    );
    // E-mail needs a subject; patients write on the portal only.
    let no_subject = domain::command::Draft {
        subject: None,
        ..draft(Channel::Email, "Hi")
    };
    assert_eq!(
        code(world.start(&receptionist, full, None, no_subject)),
        "invalid_request"
    );
    let patient = patient_principal(full);
    assert_eq!(
        code(world.start(
            &patient,
            full,
            Some(Recipient::Reception),
            draft(Channel::Sms, "Hi")
        )),
        "channel_unavailable"
    );
}

#[test]
fn attachments_and_lengths_are_bounded_per_channel() {
    let mut world = World::default();
    let patient = world.register(full_contact());
    let receptionist = staff(Role::Receptionist);
    let pdf = AttachmentRef {
        id: AttachmentId(Uuid::new_v4()),
        media_type: MediaType::Pdf,
        size: 1_000,
        sha256: "0".repeat(64),
        filename: None,
    };
    let with = |channel, size: u64| domain::command::Draft {
        attachments: vec![AttachmentRef {
            size,
            ..pdf.clone()
        }],
        ..draft(channel, "See attached")
    };
    assert_eq!(
        code(world.start(&receptionist, patient, None, with(Channel::Sms, 10))),
        "attachments_not_allowed"
    );
    assert_eq!(
        code(world.start(
            &receptionist,
            patient,
            None,
            with(Channel::Email, 26 * 1024 * 1024)
        )),
        "attachment_too_large"
    );
    assert_eq!(
        code(world.start(
            &receptionist,
            patient,
            None,
            with(Channel::Portal, 26 * 1024 * 1024)
        )),
        "ok"
    );
    assert_eq!(
        code(world.start(
            &receptionist,
            patient,
            None,
            with(Channel::Portal, 51 * 1024 * 1024)
        )),
        "attachment_too_large"
    );
    assert_eq!(
        code(world.start(
            &receptionist,
            patient,
            None,
            draft(Channel::Sms, &"x".repeat(1_601))
        )),
        "invalid_request"
    );
    assert_eq!(
        code(world.start(
            &receptionist,
            patient,
            None,
            draft(Channel::Sms, &"x".repeat(1_600))
        )),
        "ok"
    );
    assert_eq!(
        code(world.start(&receptionist, patient, None, draft(Channel::Portal, "   "))),
        "invalid_request"
    );
    assert_eq!(
        code(world.start(
            &receptionist,
            patient,
            None,
            draft(Channel::Portal, &"x".repeat(50_001))
        )),
        "invalid_request"
    );
}

#[test]
fn status_moves_forward_from_the_recipients_side() {
    let mut world = World::default();
    let patient = world.register(full_contact());
    let receptionist = staff(Role::Receptionist);
    let conversation = world
        .start(
            &patient_principal(patient),
            patient,
            Some(Recipient::Reception),
            portal("Question"),
        )
        .unwrap();
    let question = *world
        .conversation(conversation)
        .messages
        .keys()
        .next()
        .unwrap();
    let mark = |message_id| {
        ConversationCommand::MarkRead(MarkRead {
            conversation_id: conversation,
            message_id,
        })
    };
    assert_eq!(
        world.conversation(conversation).status(),
        ConversationStatus::Unread
    );
    // The sender is not the recipient; another receptionist is.
    assert_eq!(
        code(world.decide(&patient_principal(patient), patient, mark(question))),
        "forbidden"
    );
    world
        .decide(&staff(Role::Receptionist), patient, mark(question))
        .unwrap();
    assert_eq!(
        world.conversation(conversation).messages[&question].status,
        MessageStatus::Read
    );
    assert_eq!(
        world.conversation(conversation).status(),
        ConversationStatus::Read
    );
    // The clinic answers: the question is replied, the answer unread for the patient.
    let answer = send(
        &mut world,
        &receptionist,
        patient,
        conversation,
        portal("Answer"),
    )
    .unwrap();
    assert_eq!(
        world.conversation(conversation).messages[&question].status,
        MessageStatus::Replied
    );
    assert_eq!(
        world.conversation(conversation).messages[&answer].direction,
        Direction::Outbound
    );
    // Marking a replied message read changes nothing.
    assert!(world
        .decide(&receptionist, patient, mark(question))
        .unwrap()
        .is_empty());
    assert_eq!(
        world.conversation(conversation).messages[&question].status,
        MessageStatus::Replied
    );
    assert_eq!(
        code(world.decide(&receptionist, patient, mark(answer))),
        "forbidden",
        "staff are not the recipient of outbound messages"
    );
    world
        .decide(&patient_principal(patient), patient, mark(answer))
        .unwrap();
    assert_eq!(
        world.conversation(conversation).status(),
        ConversationStatus::Read
    );
}

#[test]
fn archive_keeps_everything_and_a_new_message_reopens() {
    let mut world = World::default();
    let patient = world.register(full_contact());
    let receptionist = staff(Role::Receptionist);
    let conversation = world
        .start(&receptionist, patient, None, portal("Hello"))
        .unwrap();
    let archive = |archived| {
        ConversationCommand::SetArchived(SetArchived {
            conversation_id: conversation,
            archived,
        })
    };
    let events = world.decide(&receptionist, patient, archive(true)).unwrap();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::ConversationArchived(_))));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::PatientConversationArchived(_))));
    assert_eq!(
        world.conversation(conversation).status(),
        ConversationStatus::Archived
    );
    assert!(
        world
            .decide(&receptionist, patient, archive(true))
            .unwrap()
            .is_empty(),
        "archiving twice changes nothing"
    );
    assert_eq!(
        code(world.decide(&patient_principal(patient), patient, archive(false))),
        "forbidden",
        "patients do not archive"
    );
    let message_count = world.conversation(conversation).messages.len();
    let reply = MessageId(Uuid::new_v4());
    let events = world
        .decide(
            &patient_principal(patient),
            patient,
            ConversationCommand::SendMessage(SendMessage {
                conversation_id: conversation,
                message_id: reply,
                draft: portal("Thanks"),
                template: None,
            }),
        )
        .unwrap();
    assert!(matches!(&events[0], Event::ConversationReopened(e) if e.by_message == Some(reply)));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::PatientConversationReopened(_))));
    assert!(!world.conversation(conversation).archived);
    assert_eq!(
        world.conversation(conversation).messages.len(),
        message_count + 1
    );
}

#[test]
fn stars_are_per_staff_member() {
    let mut world = World::default();
    let patient = world.register(full_contact());
    let (alice, bob) = (staff(Role::Receptionist), staff(Role::Receptionist));
    let conversation = world.start(&alice, patient, None, portal("Hello")).unwrap();
    let message = *world
        .conversation(conversation)
        .messages
        .keys()
        .next()
        .unwrap();
    let star = |starred| {
        ConversationCommand::SetStar(SetStar {
            conversation_id: conversation,
            message_id: message,
            starred,
        })
    };
    world.decide(&alice, patient, star(true)).unwrap();
    assert!(world
        .decide(&alice, patient, star(true))
        .unwrap()
        .is_empty());
    let starred_by = &world.conversation(conversation).messages[&message].starred_by;
    assert!(
        starred_by.contains(&domain::StaffId(alice.actor.id))
            && !starred_by.contains(&domain::StaffId(bob.actor.id))
    );
    world.decide(&bob, patient, star(true)).unwrap();
    world.decide(&alice, patient, star(false)).unwrap();
    let starred_by = &world.conversation(conversation).messages[&message].starred_by;
    assert_eq!(starred_by.len(), 1);
    assert_eq!(
        code(world.decide(&patient_principal(patient), patient, star(true))),
        "forbidden"
    );
    assert_eq!(
        code(world.decide(&staff(Role::Auditor), patient, star(true))),
        "forbidden"
    );
}

#[test]
fn call_logs_are_checked() {
    let mut world = World::default();
    let patient = world.register(full_contact());
    let receptionist = staff(Role::Receptionist);
    let conversation = world
        .start(&receptionist, patient, None, portal("Hello"))
        .unwrap();
    let call = |occurred_at, duration_seconds, summary: &str| {
        ConversationCommand::LogCall(LogCall {
            conversation_id: conversation,
            message_id: MessageId(Uuid::new_v4()),
            occurred_at,
            duration_seconds,
            direction: Direction::Inbound,
            summary: summary.into(),
        })
    };
    assert_eq!(
        code(world.decide(
            &receptionist,
            patient,
            call(now() - Duration::hours(1), 300, "Asked about results")
        )),
        "ok"
    );
    assert_eq!(
        code(world.decide(&receptionist, patient, call(now(), -1, "Negative"))),
        "invalid_request"
    );
    assert_eq!(
        code(world.decide(&receptionist, patient, call(now(), 86_401, "Too long"))),
        "invalid_request"
    );
    assert_eq!(
        code(world.decide(
            &receptionist,
            patient,
            call(now() + Duration::minutes(4), 60, "Clock skew")
        )),
        "ok"
    );
    assert_eq!(
        code(world.decide(
            &receptionist,
            patient,
            call(now() + Duration::minutes(10), 60, "Future")
        )),
        "invalid_request"
    );
    assert_eq!(
        code(world.decide(&receptionist, patient, call(now(), 60, " "))),
        "invalid_request"
    );
    assert_eq!(
        code(world.decide(
            &patient_principal(patient),
            patient,
            call(now(), 60, "By patient")
        )),
        "forbidden"
    );
    let logged = world.conversation(conversation);
    let calls: Vec<_> = logged
        .messages
        .values()
        .filter(|m| m.channel == Channel::Call)
        .collect();
    assert_eq!(calls.len(), 2);
    assert!(calls
        .iter()
        .all(|m| m.status == MessageStatus::Read && m.delivery_status.is_none()));
}

#[test]
fn bad_values_are_typed_errors() {
    assert_eq!(
        DomainError::from("fax".parse::<Channel>().unwrap_err()).code(),
        "invalid_request"
    );
    assert_eq!(
        DomainError::from("nurse".parse::<Role>().unwrap_err()).code(),
        "invalid_request"
    );
    assert_eq!(
        DomainError::from("sideways".parse::<Direction>().unwrap_err()).code(),
        "invalid_request"
    );
    assert!(PhoneNumber::parse("0151 1234567").is_err());
    assert!(EmailAddress::parse("not an address").is_err());
    assert_eq!(
        domain::command::validate_idempotency_key("")
            .unwrap_err()
            .code(),
        "invalid_request"
    );
    assert!(serde_json::from_str::<PhoneNumber>("\"+49\"").is_err());
}
