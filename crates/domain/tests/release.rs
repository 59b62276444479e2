//! Releasing a due scheduled message (contract section 8), decided with plain values: the
//! send's rules are judged again at its time, and it either enters the timeline as an
//! ordinary message or fails with the rule's error code.

mod common;

use chrono::Duration;
use common::*;
use domain::command::{Context, ConversationCommand, StartConversation};
use domain::event::SmsConsentChanged;
use domain::scheduled::{release, schedule, ReleaseScope, Scheduled};
use domain::{Aggregate, Channel, ConversationId, DomainError, Event, MessageId, PatientId};
use domain::{Principal, Role};
use uuid::Uuid;

/// A world with one patient and the scheduled first message `author` wrote to them on SMS.
struct Given {
    world: World,
    patient: PatientId,
    scheduled: Scheduled,
    author: Principal,
}

fn given_a_scheduled_first_message(role: Role) -> Given {
    let mut world = World::default();
    let patient = world.register(full_contact());
    let author = staff(role);
    let command = ConversationCommand::StartConversation(StartConversation {
        conversation_id: ConversationId(Uuid::new_v4()),
        message_id: MessageId(Uuid::new_v4()),
        patient_id: patient,
        to: None,
        draft: draft(Channel::Sms, "Your appointment is tomorrow"),
        template: None,
    });
    let patient_state = world.patients[&patient].clone();
    let scope = domain::conversation::ConversationScope {
        patient: &patient_state,
        conversation: &Default::default(),
        template: None,
    };
    let events = schedule(
        &scope,
        &command,
        now() + Duration::hours(1),
        None,
        &ctx(&author),
    )
    .unwrap();
    Given {
        world,
        patient,
        scheduled: Scheduled::fold(&events),
        author,
    }
}

/// Releases the scheduled message in `given` as `principal`, `after` its release time.
fn release_as(
    given: &Given,
    principal: &Principal,
    author: Option<&Principal>,
    after: Duration,
) -> Result<Vec<Event>, DomainError> {
    let message = &given.scheduled.record().unwrap().message;
    let conversation = given
        .world
        .conversations
        .get(&message.conversation_id)
        .cloned()
        .unwrap_or_default();
    let patient = given.world.patients[&given.patient].clone();
    let scope = ReleaseScope {
        scheduled: &given.scheduled,
        author,
        conversation: &conversation,
        patient: &patient,
    };
    let context = Context {
        principal,
        now: message.release_at + after,
    };
    release(&scope, &context)
}

fn failure_reason(events: &[Event]) -> &str {
    match events {
        [Event::ScheduledMessageFailed(failed)] => &failed.failure_reason,
        other => panic!("expected one ScheduledMessageFailed, got {other:?}"),
    }
}

#[test]
fn a_due_first_message_enters_the_timeline_with_its_release() {
    // Given a first message a receptionist scheduled
    let given = given_a_scheduled_first_message(Role::Receptionist);
    let message = given.scheduled.record().unwrap().message.clone();
    // When the scheduler releases it at its time
    let events = release_as(&given, &system(), Some(&given.author), Duration::zero()).unwrap();
    // Then the ordinary send's events are decided under its id, then the release
    let types: Vec<_> = events.iter().map(Event::event_type).collect();
    assert_eq!(
        types,
        [
            "PatientConversationOpened",
            "ConversationStarted",
            "MessageSent",
            "ScheduledMessageReleased"
        ]
    );
    let Event::MessageSent(sent) = &events[2] else {
        panic!("{events:?}")
    };
    assert_eq!(sent.message_id, message.message_id);
    assert_eq!(sent.conversation_id, message.conversation_id);
    assert_eq!(sent.scheduled_for, Some(message.send_at));
    assert_eq!(sent.author, message.author);
    assert_eq!(sent.body, message.draft.body);
}

#[test]
fn a_patient_who_opted_out_makes_it_fail_with_channel_unavailable() {
    // Given a scheduled SMS, and then the patient texts STOP
    let mut given = given_a_scheduled_first_message(Role::Receptionist);
    let patient_id = given.patient;
    given
        .world
        .record(vec![Event::SmsConsentChanged(SmsConsentChanged {
            patient_id,
            opted_in: false,
            keyword: "STOP".into(),
        })]);
    // When it is due
    let events = release_as(&given, &system(), Some(&given.author), Duration::minutes(1)).unwrap();
    // Then only the failure is decided, with the rule's code
    assert_eq!(failure_reason(&events), "channel_unavailable");
}

#[test]
fn a_doctor_with_another_open_conversation_makes_a_first_message_fail() {
    // Given a doctor's scheduled first message, and then another conversation the doctor opened
    let mut given = given_a_scheduled_first_message(Role::Doctor);
    let (patient, author) = (given.patient, given.author.clone());
    given
        .world
        .start(&author, patient, None, draft(Channel::Sms, "Hello"))
        .unwrap();
    // When it is due
    let events = release_as(&given, &system(), Some(&author), Duration::zero()).unwrap();
    // Then it fails with the rule's code
    assert_eq!(failure_reason(&events), "conversation_exists");
}

#[test]
fn an_author_who_is_no_longer_staff_or_lost_the_permission_makes_it_fail() {
    let given = given_a_scheduled_first_message(Role::Receptionist);
    // When the author's record is gone
    let events = release_as(&given, &system(), None, Duration::zero()).unwrap();
    // Then it fails as forbidden
    assert_eq!(failure_reason(&events), "forbidden");
    // When the author no longer holds send_messages
    let mut without = given.author.clone();
    without.permissions.clear();
    let events = release_as(&given, &system(), Some(&without), Duration::zero()).unwrap();
    assert_eq!(failure_reason(&events), "missing_permission");
}

#[test]
fn only_the_scheduler_releases_and_never_early_or_twice() {
    let mut given = given_a_scheduled_first_message(Role::Receptionist);
    let author = given.author.clone();
    // Staff may not release it
    let refused = release_as(&given, &admin(), Some(&author), Duration::zero());
    assert_eq!(code_of(refused), "forbidden");
    // Nor may the scheduler before its time
    let early = release_as(&given, &system(), Some(&author), -Duration::seconds(1));
    assert_eq!(code_of(early), "invalid_request");
    // Once released, a second release finds it no longer pending
    let events = release_as(&given, &system(), Some(&author), Duration::zero()).unwrap();
    for event in &events {
        given.scheduled.apply(event);
    }
    let again = release_as(&given, &system(), Some(&author), Duration::zero());
    assert_eq!(code_of(again), "not_pending");
}
