//! Scheduling a send (contract section 8), decided with plain values: the send's rules are
//! judged at once, nothing enters the timeline, and quiet hours move the release time.

mod common;

use std::collections::BTreeSet;

use chrono::{Duration, NaiveTime, TimeZone, Utc};
use common::*;
use domain::command::{ConversationCommand, SendMessage, StartConversation};
use domain::conversation::{Conversation, ConversationScope};
use domain::quiet_hours::{QuietHours, Tz};
use domain::scheduled::{ensure_may_cancel, schedule, Scheduled};
use domain::{Channel, ConversationId, Event, MessageId, PatientId, Role};
use uuid::Uuid;

fn night() -> QuietHours {
    QuietHours {
        start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
        end: NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
        time_zone: Tz::UTC,
        channels: BTreeSet::from([Channel::Sms]),
    }
}

fn first_message(patient: PatientId, channel: Channel) -> ConversationCommand {
    ConversationCommand::StartConversation(StartConversation {
        conversation_id: ConversationId(Uuid::new_v4()),
        message_id: MessageId(Uuid::new_v4()),
        patient_id: patient,
        to: None,
        draft: draft(channel, "See you tomorrow"),
        template: None,
    })
}

/// Schedules `command` in `world` for `send_at` as `principal`.
fn schedule_in(
    world: &World,
    principal: &domain::Principal,
    patient: PatientId,
    command: &ConversationCommand,
    send_at: chrono::DateTime<Utc>,
    quiet: Option<&QuietHours>,
) -> Result<Vec<Event>, domain::DomainError> {
    let conversation = world
        .conversations
        .get(&command.conversation_id())
        .cloned()
        .unwrap_or_default();
    let patient = world.patients.get(&patient).cloned().unwrap_or_default();
    let scope = ConversationScope {
        patient: &patient,
        conversation: &conversation,
        template: None,
    };
    schedule(&scope, command, send_at, quiet, &ctx(principal))
}

#[test]
fn a_first_message_is_scheduled_without_touching_the_timeline() {
    // Given a patient
    let mut world = World::default();
    let patient = world.register(full_contact());
    let command = first_message(patient, Channel::Sms);
    // When a receptionist schedules a first message for tomorrow morning
    let send_at = now() + Duration::hours(20);
    let events = schedule_in(
        &world,
        &staff(Role::Receptionist),
        patient,
        &command,
        send_at,
        None,
    )
    .unwrap();
    // Then one MessageScheduled is decided on the message's own stream, released when asked
    let [Event::MessageScheduled(scheduled)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert!(scheduled.starts_conversation);
    assert_eq!(scheduled.conversation_id, command.conversation_id());
    assert_eq!(scheduled.release_at, send_at);
    assert_eq!(scheduled.draft.body, "See you tomorrow");
    assert!(events[0].stream().starts_with("scheduled-"));
    world.record(events);
    assert!(world.conversations.is_empty());
}

#[test]
fn the_rules_of_a_send_are_judged_when_it_is_scheduled() {
    let mut world = World::default();
    let mut contact = full_contact();
    contact.phone = None;
    let patient = world.register(contact);
    let later = now() + Duration::hours(1);
    // No phone: SMS is unavailable now, so it is refused now.
    let refused = schedule_in(
        &world,
        &staff(Role::Receptionist),
        patient,
        &first_message(patient, Channel::Sms),
        later,
        None,
    );
    assert_eq!(code_of(refused), "channel_unavailable");
    // send_at in the past or too far ahead: invalid_request naming send_at.
    for send_at in [now() - Duration::seconds(1), now() + Duration::days(366)] {
        let message = invalid_message(schedule_in(
            &world,
            &staff(Role::Receptionist),
            patient,
            &first_message(patient, Channel::Portal),
            send_at,
            None,
        ));
        assert!(message.starts_with("send_at"), "{message}");
    }
    // Without send_messages, and as a patient: refused.
    let missing = schedule_in(
        &world,
        &staff_without_permission(Role::Receptionist),
        patient,
        &first_message(patient, Channel::Portal),
        later,
        None,
    );
    assert_eq!(code_of(missing), "missing_permission");
    let conversation = world
        .start(&staff(Role::Receptionist), patient, None, portal("Hello"))
        .unwrap();
    let reply = ConversationCommand::SendMessage(SendMessage {
        conversation_id: conversation,
        message_id: MessageId(Uuid::new_v4()),
        draft: portal("Later"),
        template: None,
    });
    let by_patient = schedule_in(
        &world,
        &patient_principal(patient),
        patient,
        &reply,
        later,
        None,
    );
    assert_eq!(code_of(by_patient), "forbidden");
}

#[test]
fn quiet_hours_hold_a_message_until_they_end_in_the_patients_zone() {
    // Given quiet hours 22:00-07:00 (UTC by default) on SMS
    let mut world = World::default();
    let patient = world.register(full_contact());
    let mut contact = full_contact();
    contact.time_zone = Some(Tz::Asia__Tokyo);
    let in_tokyo = world.register(contact);
    let quiet = night();
    // When a message is due at 23:00 UTC
    let due = Utc.with_ymd_and_hms(2026, 6, 1, 23, 0, 0).unwrap();
    let release = |patient, channel| {
        let events = schedule_in(
            &world,
            &staff(Role::Receptionist),
            patient,
            &first_message(patient, channel),
            due,
            Some(&quiet),
        )
        .unwrap();
        match &events[0] {
            Event::MessageScheduled(e) => e.release_at,
            other => panic!("{other:?}"),
        }
    };
    // Then on SMS it waits until 07:00 UTC; e-mail is not held; in Tokyo it is 08:00, not held.
    assert_eq!(
        release(patient, Channel::Sms),
        Utc.with_ymd_and_hms(2026, 6, 2, 7, 0, 0).unwrap()
    );
    assert_eq!(release(patient, Channel::Email), due);
    assert_eq!(release(in_tokyo, Channel::Sms), due);
}

#[test]
fn who_may_cancel_follows_who_may_write() {
    // Given a first message scheduled by a doctor (no conversation yet)
    let mut world = World::default();
    let patient = world.register(full_contact());
    let doctor = staff(Role::Doctor);
    let events = schedule_in(
        &world,
        &doctor,
        patient,
        &first_message(patient, Channel::Portal),
        now() + Duration::hours(1),
        None,
    )
    .unwrap();
    let scheduled: Scheduled = given(&events);
    let record = scheduled.record().unwrap();
    let none = Conversation::default();
    // Then the doctor and admins may cancel it; another doctor does not see it; a
    // receptionist does not see a doctor's; an auditor is read-only.
    assert!(ensure_may_cancel(&doctor.actor, record, &none).is_ok());
    assert!(ensure_may_cancel(&admin().actor, record, &none).is_ok());
    assert_eq!(
        code_of(ensure_may_cancel(&staff(Role::Doctor).actor, record, &none)),
        "not_found"
    );
    assert_eq!(
        code_of(ensure_may_cancel(
            &staff(Role::Receptionist).actor,
            record,
            &none
        )),
        "not_found"
    );
    assert_eq!(
        code_of(ensure_may_cancel(
            &staff(Role::Auditor).actor,
            record,
            &none
        )),
        "forbidden"
    );
}
