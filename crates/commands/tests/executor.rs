//! The write path under contention, on a real (SQLite) event store: writers of one stream on one
//! executor never clash, two executors over one store (two nodes) both get through, a refusal in a
//! batch answers only its own caller, and a stale cache never refuses what the log allows.

use std::sync::Arc;

use commands::{Addressee, CommandError, CommandService, Executor, MessageInput, RequestMeta};
use domain::command::{ConversationCommand, Draft, SendMessage};
use domain::contact::{PatientContact, PhoneNumber};
use domain::{
    Channel, ConversationId, DomainError, Event, PatientId, Permission, Principal, Role, StreamName,
};
use eventlog::codec;
use store::EventStore;

/// A fresh SQLite event log in a folder dropped with the returned guard.
async fn sqlite() -> (Arc<dyn EventStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open_store(None, &dir.path().join("events.db"), None)
        .await
        .unwrap();
    (store, dir)
}

fn service(store: &Arc<dyn EventStore>) -> CommandService {
    CommandService::new(Executor::new(store.clone()), None)
}

fn receptionist() -> Principal {
    Principal::new(
        domain::Actor {
            id: uuid::Uuid::from_u128(7),
            role: Role::Receptionist,
        },
        [Permission::SendMessages],
    )
    .named("Rita")
}

fn contact(phone: Option<&str>) -> PatientContact {
    PatientContact {
        name: "Pat".into(),
        phone: phone.map(|p| PhoneNumber::parse(p).unwrap()),
        email: None,
        portal_enabled: true,
        whatsapp_opt_in: false,
        time_zone: None,
    }
}

fn portal(body: &str) -> MessageInput {
    MessageInput {
        channel: Channel::Portal,
        subject: None,
        body: body.into(),
        attachment_ids: Vec::new(),
        template: None,
    }
}

/// A patient and a portal conversation with them, opened by the receptionist.
async fn conversation(service: &CommandService) -> (PatientId, ConversationId) {
    let admin = Principal::bootstrap_admin();
    let patient = service
        .register_patient(&admin, &RequestMeta::new(), contact(None))
        .await
        .unwrap();
    let patient_id = PatientId(patient.id);
    let started = service
        .start_conversation(
            &receptionist(),
            &RequestMeta::new(),
            Addressee::Patient(patient_id),
            &portal("opening"),
        )
        .await
        .unwrap();
    (patient_id, started.message().unwrap().0)
}

fn reply(conversation_id: ConversationId, body: &str) -> ConversationCommand {
    ConversationCommand::SendMessage(SendMessage {
        conversation_id,
        message_id: CommandService::new_message_id(),
        draft: Draft {
            channel: Channel::Portal,
            subject: None,
            body: body.into(),
            attachments: Vec::new(),
        },
        template: None,
    })
}

/// The bodies of the conversation's messages, in stream order.
async fn bodies(store: &Arc<dyn EventStore>, conversation_id: ConversationId) -> Vec<String> {
    let records = store
        .read_stream(&conversation_id.stream(), 0, 10_000)
        .await
        .unwrap();
    records
        .iter()
        .filter_map(
            |record| match codec::decode(record, store.keyring()).unwrap().event {
                Event::MessageSent(sent) => Some(sent.body),
                _ => None,
            },
        )
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_of_one_conversation_never_clash() {
    let (store, _dir) = sqlite().await;
    let service = Arc::new(service(&store));
    let (_, conversation_id) = conversation(&service).await;
    let writers = (0..100).map(|i| {
        let service = service.clone();
        tokio::spawn(async move {
            let command = reply(conversation_id, &format!("reply {i}"));
            service
                .conversation_command(&receptionist(), &RequestMeta::new(), None, &command)
                .await
        })
    });
    let mut positions = Vec::new();
    for writer in futures::future::join_all(writers).await {
        positions.push(writer.unwrap().unwrap().position);
    }
    positions.sort();
    positions.dedup();
    assert_eq!(positions.len(), 100, "each reply has a position of its own");
    let bodies = bodies(&store, conversation_id).await;
    assert_eq!(bodies.len(), 101);
    for i in 0..100 {
        assert!(
            bodies.contains(&format!("reply {i}")),
            "reply {i} is recorded"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_executors_on_one_store_both_get_through() {
    let (store, _dir) = sqlite().await;
    let first = Arc::new(service(&store));
    let second = Arc::new(service(&store));
    let (_, conversation_id) = conversation(&first).await;
    let writers = (0..40).map(|i| {
        let service = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tokio::spawn(async move {
            let command = reply(conversation_id, &format!("reply {i}"));
            service
                .conversation_command(&receptionist(), &RequestMeta::new(), None, &command)
                .await
        })
    });
    for writer in futures::future::join_all(writers).await {
        writer.unwrap().unwrap();
    }
    assert_eq!(bodies(&store, conversation_id).await.len(), 41);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_in_a_batch_answers_only_its_caller() {
    let (store, _dir) = sqlite().await;
    let service = Arc::new(service(&store));
    let (_, conversation_id) = conversation(&service).await;
    let stranger = Principal::new(
        domain::Actor {
            id: uuid::Uuid::from_u128(99),
            role: Role::Patient,
        },
        [],
    );
    let writers = (0..21).map(|i| {
        let service = service.clone();
        let principal = if i == 10 {
            stranger.clone()
        } else {
            receptionist()
        };
        tokio::spawn(async move {
            let command = reply(conversation_id, &format!("reply {i}"));
            service
                .conversation_command(&principal, &RequestMeta::new(), None, &command)
                .await
        })
    });
    let answers: Vec<_> = futures::future::join_all(writers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for (i, answer) in answers.iter().enumerate() {
        match (i, answer) {
            (10, Err(CommandError::Refused(DomainError::NotFound(_)))) => {}
            (10, other) => panic!("the stranger's reply answered {other:?}"),
            (_, Ok(_)) => {}
            (_, Err(error)) => panic!("reply {i} failed: {error}"),
        }
    }
    assert_eq!(bodies(&store, conversation_id).await.len(), 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_cache_never_refuses_what_the_log_allows() {
    let (store, _dir) = sqlite().await;
    let first = service(&store);
    let second = service(&store);
    let admin = Principal::bootstrap_admin();
    let patient = first
        .register_patient(&admin, &RequestMeta::new(), contact(None))
        .await
        .unwrap();
    let patient_id = PatientId(patient.id);
    let sms = MessageInput {
        channel: Channel::Sms,
        ..portal("hello")
    };
    // The first node knows the patient without a phone number: SMS is refused.
    let refused = first
        .start_conversation(
            &receptionist(),
            &RequestMeta::new(),
            Addressee::Patient(patient_id),
            &sms,
        )
        .await;
    assert!(matches!(
        refused,
        Err(CommandError::Refused(
            DomainError::ChannelUnavailable { .. }
        ))
    ));
    // The second node adds one; the first node's cached record is now stale.
    let patch = commands::ContactPatch {
        phone: Some(Some(PhoneNumber::parse("+4915112345678").unwrap())),
        ..Default::default()
    };
    second
        .change_patient(&admin, &RequestMeta::new(), patient_id, &patch)
        .await
        .unwrap();
    first
        .start_conversation(
            &receptionist(),
            &RequestMeta::new(),
            Addressee::Patient(patient_id),
            &sms,
        )
        .await
        .unwrap();
}
