//! Releasing a scheduled message through the one write path, on a real (SQLite) event store:
//! two executors (as two nodes) releasing the same due message write it exactly once.

use std::sync::Arc;
use std::time::Duration;

use commands::release::{ReleaseOutcome, ReleaseScheduledDecision};
use commands::{Addressee, CommandService, Executor, MessageInput, Origin, RequestMeta};
use domain::contact::PatientContact;
use domain::{Channel, Event, MessageId, PatientId, Principal};
use eventlog::codec;
use store::EventStore;

async fn events(store: &dyn EventStore) -> Vec<Event> {
    store
        .read_all(0, 10_000, None)
        .await
        .unwrap()
        .iter()
        .map(|record| codec::decode(record, store.keyring()).unwrap().event)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_message_released_by_two_nodes_is_sent_once() {
    // Given a portal first message scheduled a moment ahead
    let dir = tempfile::tempdir().unwrap();
    let store = store::open_store(None, &dir.path().join("events.db"), None)
        .await
        .unwrap();
    let service = CommandService::new(Executor::new(store.clone()), None);
    let admin = Principal::bootstrap_admin();
    let contact = PatientContact {
        name: "Pat".into(),
        phone: None,
        email: None,
        portal_enabled: true,
        whatsapp_opt_in: false,
        time_zone: None,
    };
    let patient = service
        .register_patient(&admin, &RequestMeta::new(), contact)
        .await
        .unwrap();
    let input = MessageInput {
        channel: Channel::Portal,
        subject: None,
        body: "See you tomorrow".into(),
        attachment_ids: Vec::new(),
        template: None,
    };
    let send_at = chrono::Utc::now() + chrono::TimeDelta::milliseconds(300);
    let committed = service
        .schedule_first_message(
            &admin,
            &RequestMeta::new(),
            Addressee::Patient(PatientId(patient.id)),
            &input,
            send_at,
        )
        .await
        .unwrap();
    let message_id = match codec::decode(&committed.events[0], store.keyring())
        .unwrap()
        .event
    {
        Event::MessageScheduled(scheduled) => scheduled.message_id,
        other => panic!("{other:?}"),
    };
    let release = |executor: Arc<Executor>| async move {
        executor
            .execute(Origin::system(), ReleaseScheduledDecision { message_id })
            .await
            .unwrap()
            .answer
    };
    // Before its time nothing happens
    let early = release(Executor::new(store.clone())).await;
    assert_eq!(early, Some(ReleaseOutcome::NotDue));
    // When two nodes release it after its time
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (a, b) = tokio::join!(
        release(Executor::new(store.clone())),
        release(Executor::new(store.clone()))
    );
    // Then one released it and the other found it no longer pending
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|outcome| *outcome as u8);
    assert_eq!(
        outcomes,
        [ReleaseOutcome::Released, ReleaseOutcome::NotPending]
    );
    let log = events(store.as_ref()).await;
    let sent: Vec<MessageId> = log
        .iter()
        .filter_map(|event| match event {
            Event::MessageSent(sent) => Some(sent.message_id),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [message_id]);
    let released = log
        .iter()
        .filter(|event| matches!(event, Event::ScheduledMessageReleased(_)))
        .count();
    assert_eq!(released, 1);
}
