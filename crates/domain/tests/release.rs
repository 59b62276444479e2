//! Releasing a due scheduled message (contract section 8), decided with plain values: the
//! send's rules are judged again at its time, and it either enters the timeline as an
//! ordinary message or fails with the rule's error code.

mod common;

use chrono::Duration;
use common::*;
use domain::command::{
    Context, ConversationCommand, CreateTemplate, StartConversation, TemplateCommand, TemplateUse,
};
use domain::event::{SmsConsentChanged, WhatsappWindowOpened};
use domain::scheduled::{release, schedule, ReleaseScope, Scheduled};
use domain::template::{Template, TemplateContent, WhatsappTemplate};
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
    given_scheduled(
        World::default(),
        role,
        draft(Channel::Sms, "Your appointment is tomorrow"),
        None,
    )
}

/// `world` with a patient (every channel, the WhatsApp window opened now) and the first
/// message `role` scheduled to them an hour ahead, from `template` when given.
fn given_scheduled(
    mut world: World,
    role: Role,
    draft: domain::command::Draft,
    template: Option<(&Template, TemplateUse)>,
) -> Given {
    let patient = world.register(full_contact());
    world.record(vec![Event::WhatsappWindowOpened(WhatsappWindowOpened {
        patient_id: patient,
        opened_at: now(),
    })]);
    let author = staff(role);
    let command = ConversationCommand::StartConversation(StartConversation {
        conversation_id: ConversationId(Uuid::new_v4()),
        message_id: MessageId(Uuid::new_v4()),
        patient_id: patient,
        to: None,
        draft,
        template: template.as_ref().map(|(_, using)| using.clone()),
    });
    let patient_state = world.patients[&patient].clone();
    let scope = domain::conversation::ConversationScope {
        patient: &patient_state,
        conversation: &Default::default(),
        template: template.map(|(template, _)| template),
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

/// A template with an approved WhatsApp counterpart, created by an admin.
fn whatsapp_reminder() -> Template {
    let events = Template::default()
        .decide(
            &TemplateCommand::CreateTemplate(CreateTemplate {
                template_id: domain::TemplateId(Uuid::new_v4()),
                content: TemplateContent {
                    name: "Reminder".into(),
                    subject: None,
                    body: "Dear {{patient_name}}, see you at {{time}}.".into(),
                    whatsapp: Some(WhatsappTemplate {
                        name: "appointment_reminder".into(),
                        language: "en_US".into(),
                        parameters: vec!["time".into()],
                    }),
                },
            }),
            &ctx(&admin()),
        )
        .unwrap();
    Template::fold(&events)
}

#[test]
fn on_whatsapp_the_window_is_judged_at_release() {
    // Given a WhatsApp message from an approved template, scheduled while the window is open
    let template = whatsapp_reminder();
    let using = TemplateUse {
        id: template.0.as_ref().unwrap().id,
        variables: [("time".to_owned(), "09:30".to_owned())].into(),
    };
    let mut empty = draft(Channel::Whatsapp, "x");
    empty.body = String::new();
    let given = given_scheduled(
        World::default(),
        Role::Receptionist,
        empty,
        Some((&template, using)),
    );
    let author = given.author.clone();
    // When it is released inside the window, the rendered text goes out
    let inside = release_as(&given, &system(), Some(&author), Duration::zero()).unwrap();
    let Event::MessageSent(sent) = &inside[2] else {
        panic!("{inside:?}")
    };
    assert_eq!(
        sent.body,
        "Dear Pat Doe, see you at 09:30.".replace(
            "Pat Doe",
            &given.world.patients[&given.patient]
                .0
                .as_ref()
                .unwrap()
                .contact
                .name
        )
    );
    assert!(sent.whatsapp_template.is_none());
    assert!(sent.template.is_some());
    // When it is released after the window closed, the approved template message goes out
    let outside = release_as(&given, &system(), Some(&author), Duration::days(2)).unwrap();
    let Event::MessageSent(sent) = &outside[2] else {
        panic!("{outside:?}")
    };
    let message = sent
        .whatsapp_template
        .as_ref()
        .expect("the template message");
    assert_eq!(message.name, "appointment_reminder");
    assert_eq!(message.parameters, ["09:30"]);
}

#[test]
fn plain_whatsapp_text_fails_once_the_window_has_closed() {
    // Given a plain WhatsApp message scheduled while the window is open
    let given = given_scheduled(
        World::default(),
        Role::Receptionist,
        draft(Channel::Whatsapp, "See you tomorrow"),
        None,
    );
    // When it is due after the window closed
    let events = release_as(&given, &system(), Some(&given.author), Duration::days(2)).unwrap();
    // Then it fails: only a template message may go out then
    assert_eq!(failure_reason(&events), "channel_unavailable");
}
