//! Scheduled-message rules of contract section 8, decided with plain values: when a message
//! may be scheduled for, and what happens to it after it is written (cancel, release, fail).

mod common;

use chrono::Duration;
use common::*;
use domain::command::{
    CancelScheduled, Context, MarkScheduledFailed, MarkScheduledReleased, ScheduledCommand,
};
use domain::event::{
    MessageScheduled, ScheduledMessageCancelled, ScheduledMessageFailed, ScheduledMessageReleased,
};
use domain::scheduled::{validate_send_at, Scheduled, ScheduledStatus};
use domain::template::TemplateRef;
use domain::{
    Author, Channel, ConversationId, DomainError, Event, MessageId, PatientId, Principal, Role,
    TemplateId,
};
use uuid::Uuid;

fn scheduled_message() -> MessageScheduled {
    let send_at = now() + Duration::hours(2);
    MessageScheduled {
        message_id: MessageId(Uuid::new_v4()),
        conversation_id: ConversationId(Uuid::new_v4()),
        starts_conversation: false,
        to: None,
        patient_id: PatientId(Uuid::new_v4()),
        author: Author::new(staff(Role::Receptionist).actor, Some("Rita".into())),
        draft: draft(Channel::Sms, "Reminder: tomorrow 9:30"),
        template: None,
        whatsapp_template: None,
        send_at,
        release_at: send_at,
    }
}

fn cancel(message: &MessageScheduled) -> ScheduledCommand {
    ScheduledCommand::CancelScheduled(CancelScheduled {
        message_id: message.message_id,
    })
}

fn release(message: &MessageScheduled) -> ScheduledCommand {
    ScheduledCommand::MarkScheduledReleased(MarkScheduledReleased {
        message_id: message.message_id,
    })
}

fn fail(message: &MessageScheduled, reason: &str) -> ScheduledCommand {
    ScheduledCommand::MarkScheduledFailed(MarkScheduledFailed {
        message_id: message.message_id,
        failure_reason: reason.into(),
    })
}

fn at(principal: &Principal, now: chrono::DateTime<chrono::Utc>) -> Context<'_> {
    Context { principal, now }
}

#[test]
fn send_at_is_later_than_now_and_at_most_a_year_ahead() {
    assert!(validate_send_at(now() + Duration::seconds(1), now()).is_ok());
    assert!(validate_send_at(now() + Duration::days(365), now()).is_ok());
    for send_at in [
        now(),
        now() - Duration::minutes(5),
        now() + Duration::days(365) + Duration::seconds(1),
    ] {
        let message = invalid_message(validate_send_at(send_at, now()));
        assert!(message.starts_with("send_at "), "{message}");
    }
}

#[test]
fn pending_messages_are_cancelled_once() {
    // Given a pending scheduled message
    let message = scheduled_message();
    let mut events = vec![Event::MessageScheduled(message.clone())];
    let scheduled: Scheduled = given(&events);
    assert_eq!(scheduled.record().unwrap().status, ScheduledStatus::Pending);
    // When staff cancels it
    let cancelled = scheduled
        .decide(&cancel(&message), &ctx(&staff(Role::Doctor)))
        .unwrap();
    // Then it is cancelled, and a second cancel answers not_pending (409).
    assert_eq!(
        cancelled,
        vec![Event::ScheduledMessageCancelled(
            ScheduledMessageCancelled {
                message_id: message.message_id,
                conversation_id: message.conversation_id,
            }
        )]
    );
    events.extend(cancelled);
    let scheduled: Scheduled = given(&events);
    assert_eq!(
        scheduled.record().unwrap().status,
        ScheduledStatus::Cancelled
    );
    let again = scheduled.decide(&cancel(&message), &ctx(&admin()));
    assert_eq!(
        again,
        Err(DomainError::NotPending(ScheduledStatus::Cancelled))
    );
    assert_eq!(code_of(again), "not_pending");
}

#[test]
fn only_pending_messages_are_released_failed_or_cancelled() {
    let message = scheduled_message();
    let due = message.release_at;
    let scheduler = system();
    for (ending, status) in [
        (
            Event::ScheduledMessageReleased(ScheduledMessageReleased {
                message_id: message.message_id,
                conversation_id: message.conversation_id,
                released_at: due,
            }),
            ScheduledStatus::Sent,
        ),
        (
            Event::ScheduledMessageFailed(ScheduledMessageFailed {
                message_id: message.message_id,
                conversation_id: message.conversation_id,
                failure_reason: "channel_unavailable".into(),
            }),
            ScheduledStatus::Failed,
        ),
    ] {
        let scheduled: Scheduled = given(&[Event::MessageScheduled(message.clone()), ending]);
        assert_eq!(scheduled.record().unwrap().status, status);
        for (command, principal) in [
            (release(&message), &scheduler),
            (fail(&message, "consent"), &scheduler),
        ] {
            assert_eq!(
                scheduled.decide(&command, &at(principal, due)),
                Err(DomainError::NotPending(status))
            );
        }
        assert_eq!(
            code_of(scheduled.decide(&cancel(&message), &ctx(&admin()))),
            "not_pending"
        );
    }
}

#[test]
fn the_scheduler_releases_a_due_message_and_records_failures() {
    let message = scheduled_message();
    let scheduled: Scheduled = given(&[Event::MessageScheduled(message.clone())]);
    let scheduler = system();
    let late = message.release_at + Duration::hours(3);
    // Released late (the hub was down), never early.
    assert_eq!(
        scheduled.decide(&release(&message), &at(&scheduler, late)),
        Ok(vec![Event::ScheduledMessageReleased(
            ScheduledMessageReleased {
                message_id: message.message_id,
                conversation_id: message.conversation_id,
                released_at: late,
            }
        )])
    );
    let early = message.release_at - Duration::seconds(1);
    assert_eq!(
        code_of(scheduled.decide(&release(&message), &at(&scheduler, early))),
        "invalid_request"
    );
    let failed = scheduled
        .decide(
            &fail(&message, " channel_unavailable "),
            &at(&scheduler, late),
        )
        .unwrap();
    let record = given::<Scheduled>(&[Event::MessageScheduled(message.clone()), failed[0].clone()]);
    let record = record.record().unwrap();
    assert_eq!(record.status, ScheduledStatus::Failed);
    assert_eq!(
        record.failure_reason.as_deref(),
        Some("channel_unavailable")
    );
    assert_eq!(
        code_of(scheduled.decide(&fail(&message, " "), &at(&scheduler, late))),
        "invalid_request"
    );
}

#[test]
fn only_the_scheduler_releases_and_only_staff_cancel() {
    let message = scheduled_message();
    let scheduled: Scheduled = given(&[Event::MessageScheduled(message.clone())]);
    let due = message.release_at;
    for principal in [admin(), staff(Role::Receptionist)] {
        for command in [release(&message), fail(&message, "x")] {
            assert_eq!(
                code_of(scheduled.decide(&command, &at(&principal, due))),
                "forbidden"
            );
        }
    }
    for principal in [
        staff(Role::Auditor),
        patient_principal(message.patient_id),
        system(),
    ] {
        assert_eq!(
            code_of(scheduled.decide(&cancel(&message), &ctx(&principal))),
            "forbidden",
            "{}",
            principal.role()
        );
    }
    assert_eq!(
        code_of(scheduled.decide(
            &cancel(&message),
            &ctx(&staff_without_permission(Role::Doctor))
        )),
        "missing_permission"
    );
    assert_eq!(
        code_of(Scheduled::default().decide(&cancel(&message), &ctx(&admin()))),
        "not_found"
    );
}

// ---------------------------------------------------------------- events

#[test]
fn scheduled_events_live_in_the_message_stream_and_read_back_as_written() {
    let message = MessageScheduled {
        template: Some(TemplateRef {
            id: TemplateId(Uuid::new_v4()),
            version: 2,
        }),
        ..scheduled_message()
    };
    let stream = format!("scheduled-{}", message.message_id.0);
    let events = [
        Event::MessageScheduled(message.clone()),
        Event::ScheduledMessageCancelled(ScheduledMessageCancelled {
            message_id: message.message_id,
            conversation_id: message.conversation_id,
        }),
        Event::ScheduledMessageReleased(ScheduledMessageReleased {
            message_id: message.message_id,
            conversation_id: message.conversation_id,
            released_at: message.release_at,
        }),
        Event::ScheduledMessageFailed(ScheduledMessageFailed {
            message_id: message.message_id,
            conversation_id: message.conversation_id,
            failure_reason: "channel_unavailable".into(),
        }),
    ];
    for event in &events {
        assert_eq!(event.stream(), stream, "{}", event.event_type());
        // MessageScheduled 2: the approved WhatsApp template message it is released as;
        // 3: personal fields sealed.
        let version = if event.event_type() == "MessageScheduled" {
            3
        } else {
            1
        };
        assert_eq!(event.schema_version(), version);
        let back = Event::from_parts(event.event_type(), event.data()).unwrap();
        assert_eq!(&back, event);
    }
}
