//! The relay to NATS JetStream, against the real NATS server at 127.0.0.1:4222: every
//! committed event is published once, in order, on its category and type subject, with
//! `Nats-Msg-Id` = event id; a restarted relay resumes after its checkpoint, and a republished
//! event is dropped by JetStream as a duplicate.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::context::Publish;
use chrono::Utc;
use dispatch::nats::{self, Names};
use domain::event::{PatientRegistered, SmsConsentChanged};
use domain::{Actor, Event, EventMetadata, PatientId};
use eventlog::codec;
use store::{EventStore, ExpectedVersion, SqliteEventStore};
use uuid::Uuid;

const NATS_URL: &str = "nats://127.0.0.1:4222";

/// Appends `n` consent changes of one patient (after its registration when `register`).
async fn append(store: &dyn EventStore, patient: PatientId, register: bool, n: usize) {
    let mut events = Vec::new();
    if register {
        events.push(Event::PatientRegistered(PatientRegistered {
            patient_id: patient,
            contact: domain::contact::PatientContact {
                name: "Pat".into(),
                phone: None,
                email: None,
                portal_enabled: true,
                whatsapp_opt_in: false,
                time_zone: None,
            },
        }));
    }
    events.extend((0..n).map(|i| {
        Event::SmsConsentChanged(SmsConsentChanged {
            patient_id: patient,
            opted_in: i % 2 == 1,
            keyword: "STOP".into(),
        })
    }));
    let encoded = events
        .iter()
        .map(|e| {
            codec::encode(
                e,
                Uuid::new_v4(),
                Actor::system(),
                Utc::now(),
                &EventMetadata::default(),
            )
        })
        .collect();
    store::append_to_stream(
        store,
        &format!("patient-{}", patient.0),
        ExpectedVersion::Any,
        encoded,
    )
    .await
    .unwrap();
}

/// Runs the relay until the stream holds `expected` messages, then stops it.
async fn relay_until(
    store: Arc<dyn EventStore>,
    context: &jetstream::Context,
    names: &Names,
    expected: u64,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = {
        let (store, context, names) = (store.clone(), context.clone(), names.clone());
        tokio::spawn(async move {
            nats::relay(store, context, &names, async {
                let _ = stopped.await;
            })
            .await
        })
    };
    let mut stream = context.get_stream(&names.stream).await.unwrap();
    for _ in 0..100 {
        if stream.info().await.unwrap().state.messages >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    relay.await.unwrap().unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_publishes_every_event_once_in_order() {
    let suffix = Uuid::new_v4().simple().to_string();
    let names = Names {
        stream: format!("HUB_TEST_{suffix}"),
        subject_prefix: format!("hubtest.{suffix}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> = Arc::new(
        SqliteEventStore::open(&dir.path().join("events.db"))
            .await
            .unwrap(),
    );
    let patient = PatientId(Uuid::new_v4());
    append(store.as_ref(), patient, true, 4).await;
    let context = nats::connect(NATS_URL, &names).await.unwrap();

    relay_until(store.clone(), &context, &names, 5).await;
    // Restarted after more commits: resumes after its checkpoint, republishes nothing.
    append(store.as_ref(), patient, false, 3).await;
    relay_until(store.clone(), &context, &names, 8).await;
    assert_eq!(
        store
            .consumer_checkpoint(&names.relay_checkpoint())
            .await
            .unwrap(),
        8
    );

    let stream = context.get_stream(&names.stream).await.unwrap();
    let records = store.read_all(0, 100, None).await.unwrap();
    for (sequence, record) in (1u64..).zip(&records) {
        let message = stream.get_raw_message(sequence).await.unwrap();
        assert_eq!(
            message.subject.as_str(),
            format!("{}.patient.{}", names.subject_prefix, record.event_type)
        );
        let id = message
            .headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .unwrap()
            .as_str();
        assert_eq!(id, record.event_id.to_string());
        let position = message.headers.get(nats::POSITION_HEADER).unwrap().as_str();
        assert_eq!(position, record.position.to_string());
        // The record as stored (personal fields stay sealed on the wire).
        let published: store::RecordedEvent = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(&published, record);
    }

    // A relay that crashed before saving its checkpoint publishes again: JetStream drops it.
    let first = &records[0];
    let ack = context
        .send_publish(
            names.subject(&first.stream, &first.event_type),
            Publish::build()
                .payload(b"again".to_vec().into())
                .message_id(first.event_id.to_string()),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(ack.duplicate);
    assert_eq!(
        context
            .get_stream(&names.stream)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .messages,
        8
    );
    context.delete_stream(&names.stream).await.unwrap();
}
