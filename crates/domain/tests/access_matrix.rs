//! The who-may-initiate and who-can-see matrices of contract section 1, every role pair.

mod common;

use common::*;
use domain::access::can_see;
use domain::command::{ConversationCommand, Recipient, SendMessage};
use domain::{Actor, MessageId, Role, StaffId};
use uuid::Uuid;

/// Who may write the first message: every initiator role against every recipient kind.
#[test]
fn who_may_initiate() {
    // (initiator, recipient, expected code or "ok")
    let staff_recipient = |role| {
        Some(Recipient::Staff {
            id: StaffId(Uuid::new_v4()),
            role,
        })
    };
    let cases: Vec<(&str, Role, Option<Recipient>, &str)> = vec![
        (
            "patient to reception",
            Role::Patient,
            Some(Recipient::Reception),
            "ok",
        ),
        (
            "patient to a receptionist",
            Role::Patient,
            staff_recipient(Role::Receptionist),
            "conversation_rule",
        ),
        (
            "patient to a doctor",
            Role::Patient,
            staff_recipient(Role::Doctor),
            "conversation_rule",
        ),
        (
            "patient to an admin",
            Role::Patient,
            staff_recipient(Role::Admin),
            "conversation_rule",
        ),
        (
            "patient to an auditor",
            Role::Patient,
            staff_recipient(Role::Auditor),
            "conversation_rule",
        ),
        (
            "patient naming nobody",
            Role::Patient,
            None,
            "invalid_request",
        ),
        ("receptionist to patient", Role::Receptionist, None, "ok"),
        ("doctor to patient", Role::Doctor, None, "ok"),
        ("admin to patient", Role::Admin, None, "ok"),
        (
            "auditor to patient",
            Role::Auditor,
            None,
            "conversation_rule",
        ),
        ("system to patient", Role::System, None, "conversation_rule"),
    ];
    for (name, role, to, expected) in cases {
        let mut world = World::default();
        let patient = world.register(full_contact());
        let principal = if role == Role::Patient {
            patient_principal(patient)
        } else {
            staff(role)
        };
        let result = world.start(&principal, patient, to, portal("Hello"));
        let got = match &result {
            Ok(_) => "ok",
            Err(error) => error.code(),
        };
        assert_eq!(got, expected, "{name}");
        if result.is_err() {
            assert!(
                world.conversations.is_empty(),
                "{name}: a rejected start wrote nothing"
            );
        }
    }
}

#[test]
fn doctor_holds_one_open_conversation_per_patient() {
    let mut world = World::default();
    let patient = world.register(full_contact());
    let doctor = staff(Role::Doctor);
    let first = world
        .start(&doctor, patient, None, portal("Results"))
        .unwrap();
    let second = world
        .start(&doctor, patient, None, portal("Again"))
        .unwrap_err();
    assert_eq!(
        second,
        domain::DomainError::ConversationExists {
            conversation_id: first
        }
    );
    // Another doctor and the receptionist are not held back by it.
    world
        .start(&staff(Role::Doctor), patient, None, portal("Hi"))
        .unwrap();
    world
        .start(&staff(Role::Receptionist), patient, None, portal("Hi"))
        .unwrap();
    world
        .start(
            &staff(Role::Receptionist),
            patient,
            None,
            portal("Hi again"),
        )
        .unwrap();
    // Admins are unrestricted.
    let admin = staff(Role::Admin);
    world.start(&admin, patient, None, portal("One")).unwrap();
    world.start(&admin, patient, None, portal("Two")).unwrap();
    // Once archived, the doctor may open a new one.
    world
        .decide(
            &doctor,
            patient,
            ConversationCommand::SetArchived(domain::command::SetArchived {
                conversation_id: first,
                archived: true,
            }),
        )
        .unwrap();
    let third = world
        .start(&doctor, patient, None, portal("New topic"))
        .unwrap();
    // Reopening the archived one now would give the doctor two: refused with the open one.
    let reopen = world.decide(
        &doctor,
        patient,
        ConversationCommand::SetArchived(domain::command::SetArchived {
            conversation_id: first,
            archived: false,
        }),
    );
    assert_eq!(
        reopen.unwrap_err(),
        domain::DomainError::ConversationExists {
            conversation_id: third
        }
    );
}

/// Who can see what: every viewer role against every kind of conversation.
#[test]
fn who_can_see() {
    let mut world = World::default();
    let patient = world.register(full_contact());
    let other_patient = world.register(full_contact());
    let receptionist = staff(Role::Receptionist);
    let doctor = staff(Role::Doctor);
    let reception = world
        .start(
            &patient_principal(patient),
            patient,
            Some(Recipient::Reception),
            portal("Hi"),
        )
        .unwrap();
    let doctors = world
        .start(&doctor, patient, None, portal("Results"))
        .unwrap();
    let answered = world
        .start(&receptionist, patient, None, portal("Reminder"))
        .unwrap();

    let viewers: Vec<(&str, Actor)> = vec![
        ("admin", staff(Role::Admin).actor),
        ("auditor", staff(Role::Auditor).actor),
        ("a receptionist", staff(Role::Receptionist).actor),
        ("the receptionist who wrote", receptionist.actor),
        ("the doctor who wrote", doctor.actor),
        ("another doctor", staff(Role::Doctor).actor),
        ("the patient", patient_principal(patient).actor),
        ("another patient", patient_principal(other_patient).actor),
    ];
    // Expected visibility of (reception conversation, doctor's conversation, receptionist-started).
    let expected = [
        [true, true, true],
        [true, true, true],
        [true, false, true],
        [true, false, true],
        [false, true, false],
        [false, false, false],
        [true, true, true],
        [false, false, false],
    ];
    for ((name, viewer), row) in viewers.iter().zip(expected) {
        for (conversation, visible) in [reception, doctors, answered].into_iter().zip(row) {
            assert_eq!(
                can_see(viewer, world.conversation(conversation)),
                visible,
                "{name} seeing {conversation}"
            );
            // Through the decision: what may not be seen answers not_found.
            let principal = domain::Principal::new(*viewer, [domain::Permission::SendMessages]);
            let reply = world.decide(
                &principal,
                patient,
                ConversationCommand::SendMessage(SendMessage {
                    conversation_id: conversation,
                    message_id: MessageId(Uuid::new_v4()),
                    draft: portal("reply"),
                    template: None,
                }),
            );
            if !visible {
                assert_eq!(
                    reply.unwrap_err().code(),
                    "not_found",
                    "{name} replying in {conversation}"
                );
            } else if viewer.role == Role::Auditor {
                assert_eq!(
                    reply.unwrap_err().code(),
                    "forbidden",
                    "auditors write nothing"
                );
            } else {
                assert!(reply.is_ok(), "{name} continues {conversation}: {reply:?}");
            }
        }
    }
}

#[test]
fn staff_without_send_messages_cause_nothing() {
    let mut world = World::default();
    let patient = world.register(full_contact());
    for role in [Role::Receptionist, Role::Doctor, Role::Admin] {
        let principal = staff_without_permission(role);
        assert_eq!(
            world
                .start(&principal, patient, None, portal("Hi"))
                .unwrap_err()
                .code(),
            "missing_permission"
        );
    }
    let conversation = world
        .start(&staff(Role::Receptionist), patient, None, portal("Hi"))
        .unwrap();
    let reply = world.decide(
        &staff_without_permission(Role::Receptionist),
        patient,
        ConversationCommand::SendMessage(SendMessage {
            conversation_id: conversation,
            message_id: MessageId(Uuid::new_v4()),
            draft: portal("reply"),
            template: None,
        }),
    );
    assert_eq!(reply.unwrap_err().code(), "missing_permission");
    // Patients and auditors need no permission: auditors can see but not write.
    assert!(can_see(
        &staff_without_permission(Role::Auditor).actor,
        world.conversation(conversation)
    ));
}
