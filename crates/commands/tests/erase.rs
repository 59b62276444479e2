//! Erasing a patient on a real (SQLite) event store: only admins erase, the key is destroyed
//! and `PatientErased` appended, every later write naming the patient is refused with
//! `patient_erased`, and an erasure says it is incomplete when the log holds the patient's
//! personal data in plain text (written before sealing existed).

use std::sync::Arc;

use commands::{Addressee, CommandError, CommandService, Executor, MessageInput, RequestMeta};
use domain::command::{ConversationCommand, Draft, ReceiveMessage, SendMessage};
use domain::contact::{PatientContact, PhoneNumber};
use domain::event::{InboundUnmatched, PatientRegistered};
use domain::ids::provider_message_key;
use domain::{
    Actor, Channel, ConversationId, DomainError, Event, EventMetadata, PatientId, Permission,
    Principal, Role, StreamName, UnmatchedId,
};
use eventlog::codec;
use store::{EventStore, ExpectedVersion};
use uuid::Uuid;

async fn sqlite() -> (Arc<dyn EventStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open_store(None, &dir.path().join("events.db"), None)
        .await
        .unwrap();
    (store, dir)
}

fn receptionist() -> Principal {
    Principal::new(
        Actor {
            id: Uuid::from_u128(7),
            role: Role::Receptionist,
        },
        [Permission::SendMessages],
    )
    .named("Rita")
}

fn contact() -> PatientContact {
    PatientContact {
        name: "Zebulon Quartermaine".into(),
        phone: Some(PhoneNumber::parse("+4915112345678").unwrap()),
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

fn refusal(result: Result<impl std::fmt::Debug, CommandError>) -> DomainError {
    match result {
        Err(CommandError::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn erasing_destroys_the_key_records_the_event_and_refuses_later_writes() {
    let (store, _dir) = sqlite().await;
    let service = CommandService::new(Executor::new(store.clone()), None);
    let admin = Principal::bootstrap_admin();
    let registered = service
        .register_patient(&admin, &RequestMeta::new(), contact())
        .await
        .unwrap();
    let patient_id = PatientId(registered.id);
    let started = service
        .start_conversation(
            &receptionist(),
            &RequestMeta::new(),
            Addressee::Patient(patient_id),
            &portal("opening"),
        )
        .await
        .unwrap();
    let conversation_id: ConversationId = started.message().unwrap().0;

    let meta = RequestMeta::new();
    let denied = service
        .erase_patient(&receptionist(), &meta, patient_id, &[])
        .await;
    assert!(matches!(refusal(denied), DomainError::Forbidden(_)));
    let unknown = service
        .erase_patient(&admin, &meta, PatientId(Uuid::new_v4()), &[])
        .await;
    assert_eq!(refusal(unknown), DomainError::NotFound("patient"));

    let erasure = service
        .erase_patient(&admin, &meta, patient_id, &[])
        .await
        .unwrap();
    assert!(erasure.complete(), "everything was sealed: {erasure:?}");
    assert_eq!(erasure.plain_events, 0);

    let record = service.patient(patient_id).await.unwrap();
    let record = record.record().unwrap();
    assert!(record.erased);
    assert_eq!(record.contact.name, "erased");
    assert_eq!(record.contact.phone, None);

    // A fresh reader (another process) decodes the erased view.
    let fresh = CommandService::new(Executor::new(store.clone()), None);
    let events = store
        .read_stream(&patient_id.stream(), 0, 100)
        .await
        .unwrap();
    store.keyring().load_for(&events).await.unwrap();
    let decoded: Vec<Event> = events
        .iter()
        .map(|record| codec::decode(record, store.keyring()).unwrap().event)
        .collect();
    assert!(matches!(&decoded[0], Event::PatientRegistered(e) if e.contact.name == "erased"));
    assert!(matches!(decoded.last(), Some(Event::PatientErased(_))));
    assert!(fresh.patient(patient_id).await.unwrap().is_erased());

    let again = service.erase_patient(&admin, &meta, patient_id, &[]).await;
    assert_eq!(refusal(again), DomainError::PatientErased);
    let patch = commands::ContactPatch {
        name: Some("Back again".into()),
        ..Default::default()
    };
    let changed = service
        .change_patient(&admin, &meta, patient_id, &patch)
        .await;
    assert_eq!(refusal(changed), DomainError::PatientErased);
    let token = service
        .replace_token(
            &admin,
            &meta,
            commands::token::Holder::Patient(patient_id.0),
            true,
        )
        .await;
    assert_eq!(refusal(token), DomainError::PatientErased);
    let reply = ConversationCommand::SendMessage(SendMessage {
        conversation_id,
        message_id: CommandService::new_message_id(),
        draft: Draft {
            channel: Channel::Portal,
            subject: None,
            body: "still there?".into(),
            attachments: Vec::new(),
        },
        template: None,
    });
    let replied = service
        .conversation_command(&receptionist(), &meta, None, &reply)
        .await;
    assert_eq!(refusal(replied), DomainError::PatientErased);
    let new_conversation = service
        .start_conversation(
            &admin,
            &meta,
            Addressee::Patient(patient_id),
            &portal("hello"),
        )
        .await;
    assert_eq!(refusal(new_conversation), DomainError::PatientErased);
}

#[tokio::test]
async fn an_erasure_is_incomplete_when_the_log_holds_plain_personal_data() {
    let (store, _dir) = sqlite().await;
    let patient_id = PatientId(Uuid::new_v4());
    // A registration as a hub before sealing wrote it: encoded, never sealed, at the last
    // plain schema version.
    let event = Event::PatientRegistered(PatientRegistered {
        patient_id,
        contact: contact(),
    });
    let mut plain = codec::encode(
        &event,
        Uuid::new_v4(),
        Actor::system(),
        chrono::Utc::now(),
        &EventMetadata::default(),
    );
    plain.schema_version = 2;
    store::append_to_stream(
        store.as_ref(),
        &patient_id.stream(),
        ExpectedVersion::NoStream,
        vec![plain],
    )
    .await
    .unwrap();

    let service = CommandService::new(Executor::new(store.clone()), None);
    let erasure = service
        .erase_patient(
            &Principal::bootstrap_admin(),
            &RequestMeta::new(),
            patient_id,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(erasure.plain_events, 1);
    assert!(!erasure.complete());
    let events = store
        .read_stream(&patient_id.stream(), 0, 10)
        .await
        .unwrap();
    let recorded = codec::decode(&events[1], store.keyring()).unwrap();
    assert!(matches!(
        recorded.event,
        Event::PatientErased(e) if e.plain_events == 1
    ));
    assert!(service.patient(patient_id).await.unwrap().is_erased());
}

#[tokio::test]
async fn an_unmatched_message_filed_to_the_patient_is_plain_and_filing_after_erasure_is_refused() {
    let (store, _dir) = sqlite().await;
    let service = CommandService::new(Executor::new(store.clone()), None);
    let admin = Principal::bootstrap_admin();
    let registered = service
        .register_patient(&admin, &RequestMeta::new(), contact())
        .await
        .unwrap();
    let patient_id = PatientId(registered.id);
    let unmatched = |provider_message_id: &str| InboundUnmatched {
        unmatched_id: UnmatchedId(provider_message_key(Channel::Sms, provider_message_id)),
        channel: Channel::Sms,
        sender: "+4915112345678".into(),
        subject: None,
        body: "From an unknown number".into(),
        attachments: Vec::new(),
        provider_message_id: provider_message_id.into(),
    };
    let filing = |entry: &InboundUnmatched| ReceiveMessage {
        conversation_id: ConversationId(Uuid::new_v4()),
        message_id: CommandService::new_message_id(),
        patient_id,
        channel: Channel::Sms,
        subject: None,
        body: entry.body.clone(),
        attachments: Vec::new(),
        provider_message_id: entry.provider_message_id.clone(),
        unmatched_id: Some(entry.unmatched_id),
        received_at: None,
    };
    let first = unmatched("SM-first");
    assert!(service.keep_unmatched(first.clone()).await.unwrap());
    service
        .receive_message(&receptionist(), &filing(&first))
        .await
        .unwrap();

    let erasure = service
        .erase_patient(&admin, &RequestMeta::new(), patient_id, &[])
        .await
        .unwrap();
    assert_eq!(
        erasure.plain_events, 1,
        "the unmatched entry was never sealed"
    );
    assert!(!erasure.complete());

    let second = unmatched("SM-second");
    assert!(service.keep_unmatched(second.clone()).await.unwrap());
    let filed = service
        .receive_message(&receptionist(), &filing(&second))
        .await;
    assert_eq!(refusal(filed), DomainError::PatientErased);
}
