//! Templates through the one write path, on a real (SQLite) event store: admins create, revise
//! and retire them on their own streams, and sends render the version the cache holds.

use std::collections::BTreeMap;
use std::sync::Arc;

use commands::{Addressee, CommandError, CommandService, Executor, MessageInput, RequestMeta};
use domain::command::TemplateUse;
use domain::contact::PatientContact;
use domain::event::MessageSent;
use domain::template::{TemplateContent, TemplateRef};
use domain::{Channel, DomainError, Event, PatientId, Permission, Principal, Role};
use eventlog::codec;
use store::EventStore;

async fn sqlite() -> (Arc<dyn EventStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open_store(None, &dir.path().join("events.db"), None)
        .await
        .unwrap();
    (store, dir)
}

fn receptionist() -> Principal {
    Principal::new(
        domain::Actor {
            id: uuid::Uuid::from_u128(7),
            role: Role::Receptionist,
        },
        [Permission::SendMessages],
    )
}

fn content(body: &str) -> TemplateContent {
    TemplateContent {
        name: "Reminder".into(),
        subject: None,
        body: body.into(),
        whatsapp: None,
    }
}

async fn patient(service: &CommandService) -> PatientId {
    let contact = PatientContact {
        name: "Pat".into(),
        phone: None,
        email: None,
        portal_enabled: true,
        whatsapp_opt_in: false,
        time_zone: None,
    };
    let registered = service
        .register_patient(&Principal::bootstrap_admin(), &RequestMeta::new(), contact)
        .await
        .unwrap();
    PatientId(registered.id)
}

/// Sends a portal message from `template` with `day`; answers the recorded message.
async fn send(
    service: &CommandService,
    patient: PatientId,
    template: domain::TemplateId,
    day: &str,
) -> Result<MessageSent, CommandError> {
    let input = MessageInput {
        channel: Channel::Portal,
        subject: None,
        body: String::new(),
        attachment_ids: Vec::new(),
        template: Some(TemplateUse {
            id: template,
            variables: BTreeMap::from([("day".to_owned(), day.to_owned())]),
        }),
    };
    let committed = service
        .start_conversation(
            &receptionist(),
            &RequestMeta::new(),
            Addressee::Patient(patient),
            &input,
        )
        .await?;
    Ok(committed
        .events
        .iter()
        .find_map(|record| {
            match codec::decode(record, service.executor().store().keyring())
                .unwrap()
                .event
            {
                Event::MessageSent(message) => Some(message),
                _ => None,
            }
        })
        .unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_write_versions_and_sends_render_the_current_one() {
    let (store, _dir) = sqlite().await;
    let service = CommandService::new(Executor::new(store.clone()), None);
    let admin = Principal::bootstrap_admin();
    let meta = RequestMeta::new();
    let patient = patient(&service).await;

    // Given a template at version 1
    let created = service
        .create_template(
            &admin,
            &meta,
            content("Hi {{patient_name}}, see you {{day}}."),
        )
        .await
        .unwrap();
    assert_eq!(created.version, 1);
    let first = send(&service, patient, created.id, "Monday").await.unwrap();
    assert_eq!(first.body, "Hi Pat, see you Monday.");
    assert_eq!(
        first.template,
        Some(TemplateRef {
            id: created.id,
            version: 1
        })
    );

    // When an admin revises it (twice with the same content)
    let revised = service
        .revise_template(
            &admin,
            &meta,
            created.id,
            content("See you {{day}}, {{patient_name}}."),
        )
        .await
        .unwrap();
    assert_eq!(revised.version, 2);
    let again = service
        .revise_template(
            &admin,
            &meta,
            created.id,
            content("See you {{day}}, {{patient_name}}."),
        )
        .await
        .unwrap();
    assert_eq!(again.version, 2);

    // Then sends render version 2
    let second = send(&service, patient, created.id, "Friday").await.unwrap();
    assert_eq!(second.body, "See you Friday, Pat.");
    assert_eq!(second.template.unwrap().version, 2);

    // And once retired it is not found for sends, and it keeps its version.
    let retired = service
        .retire_template(&admin, &meta, created.id)
        .await
        .unwrap();
    assert_eq!(retired.version, 2);
    let refused = send(&service, patient, created.id, "Friday").await;
    assert!(
        matches!(
            refused,
            Err(CommandError::Refused(DomainError::NotFound("template")))
        ),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_write_templates() {
    let (store, _dir) = sqlite().await;
    let service = CommandService::new(Executor::new(store.clone()), None);
    let refused = service
        .create_template(&receptionist(), &RequestMeta::new(), content("Hi"))
        .await;
    assert!(
        matches!(
            refused,
            Err(CommandError::Refused(DomainError::Forbidden(_)))
        ),
        "{refused:?}"
    );
    assert_eq!(store.head_position().await.unwrap(), 0);
}
