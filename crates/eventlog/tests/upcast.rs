//! Every historical schema version decodes: events as versions 1 and 2 recorded them come out
//! in today's shape, current events round-trip unchanged, and versions this hub never wrote are
//! refused rather than guessed at.

use chrono::{TimeZone, Utc};
use domain::event::{CallLogged, MessageReceived, MessageSent};
use domain::template::{TemplateRef, WhatsappTemplateMessage};
use domain::{
    Actor, Author, Channel, ConversationId, Direction, Event, EventMetadata, MessageId, Role,
    TemplateId,
};
use eventlog::codec;
use proptest::prelude::*;
use store::keys::Keyring;
use store::RecordedEvent;
use uuid::Uuid;

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Receptionist),
        Just(Role::Doctor),
        Just(Role::Admin),
        Just(Role::Patient),
    ]
}

fn author() -> impl Strategy<Value = Author> {
    (
        any::<u128>(),
        role(),
        proptest::option::of("[A-Za-z ]{1,20}"),
    )
        .prop_map(|(id, role, name)| Author {
            id: Uuid::from_u128(id),
            role,
            name,
        })
}

fn channel() -> impl Strategy<Value = Channel> {
    prop_oneof![
        Just(Channel::Sms),
        Just(Channel::Email),
        Just(Channel::Portal),
        Just(Channel::Whatsapp),
    ]
}

/// The template a message was rendered from, and the WhatsApp template message, or neither.
fn template_parts() -> impl Strategy<Value = (Option<TemplateRef>, Option<WhatsappTemplateMessage>)>
{
    proptest::option::of((
        any::<u128>(),
        1u32..50,
        proptest::option::of(proptest::collection::vec(".{0,12}", 0..4)),
    ))
    .prop_map(|used| match used {
        None => (None, None),
        Some((id, version, parameters)) => (
            Some(TemplateRef {
                id: TemplateId(Uuid::from_u128(id)),
                version,
            }),
            parameters.map(|parameters| WhatsappTemplateMessage {
                name: "appointment_reminder".into(),
                language: "en_US".into(),
                parameters,
            }),
        ),
    })
}

/// Messages as the hub writes them now.
fn message_sent() -> impl Strategy<Value = Event> {
    (
        (any::<u128>(), any::<u128>()),
        channel(),
        author(),
        ".{0,40}",
        proptest::option::of(".{1,20}"),
        template_parts(),
        proptest::option::of(0i64..4_000_000_000),
    )
        .prop_map(
            |((c, m), channel, author, body, subject, (template, whatsapp_template), scheduled)| {
                Event::MessageSent(MessageSent {
                    conversation_id: ConversationId(Uuid::from_u128(c)),
                    message_id: MessageId(Uuid::from_u128(m)),
                    channel,
                    direction: Direction::Outbound,
                    author,
                    subject,
                    body,
                    attachments: Vec::new(),
                    delivery_status: None,
                    template,
                    whatsapp_template,
                    scheduled_for: scheduled
                        .and_then(|seconds| Utc.timestamp_opt(seconds, 0).single()),
                })
            },
        )
}

/// Events of the types whose shape changed, at their current version.
fn authored_event() -> impl Strategy<Value = Event> {
    let ids = (any::<u128>(), any::<u128>());
    prop_oneof![
        message_sent(),
        (ids, author(), 0u32..86_400, ".{1,40}").prop_map(
            |((c, m), author, duration_seconds, summary)| Event::CallLogged(CallLogged {
                conversation_id: ConversationId(Uuid::from_u128(c)),
                message_id: MessageId(Uuid::from_u128(m)),
                author,
                occurred_at: Utc.with_ymd_and_hms(2026, 3, 4, 10, 0, 0).unwrap(),
                duration_seconds,
                direction: Direction::Inbound,
                summary,
            })
        ),
        (ids, channel(), author(), ".{0,40}", "[a-z0-9]{1,12}").prop_map(
            |((c, m), channel, author, body, provider_message_id)| Event::MessageReceived(
                MessageReceived {
                    conversation_id: ConversationId(Uuid::from_u128(c)),
                    message_id: MessageId(Uuid::from_u128(m)),
                    channel,
                    author,
                    subject: None,
                    body,
                    attachments: Vec::new(),
                    provider_message_id,
                }
            )
        ),
    ]
}

/// A stored record of `event` with the given schema version and data.
fn record(event: &Event, schema_version: u32, data: serde_json::Value) -> RecordedEvent {
    let actor = Actor::system();
    let encoded = codec::encode(
        event,
        Uuid::new_v4(),
        actor,
        Utc::now(),
        &EventMetadata::default(),
    );
    RecordedEvent {
        event_id: encoded.event_id,
        stream: event.stream(),
        version: 0,
        position: 1,
        event_type: encoded.event_type,
        schema_version,
        occurred_at: encoded.occurred_at,
        actor_id: actor.id,
        actor_role: encoded.actor_role,
        data,
        metadata: encoded.metadata,
        hash: String::new(),
    }
}

/// The same event without what version 3 of `MessageSent` could not record: the time it was
/// scheduled for.
fn without_scheduled_for(event: &Event) -> Event {
    let mut event = event.clone();
    if let Event::MessageSent(e) = &mut event {
        e.scheduled_for = None;
    }
    event
}

/// The data of `event` as version 3 recorded it (no `scheduled_for` on messages).
fn version_3_data(event: &Event) -> serde_json::Value {
    let mut data = event.data();
    if let Event::MessageSent(_) = event {
        data.as_object_mut().unwrap().remove("scheduled_for");
    }
    data
}

/// The same event without what version 2 of `MessageSent` could not record: the template.
fn without_template(event: &Event) -> Event {
    let mut event = without_scheduled_for(event);
    if let Event::MessageSent(e) = &mut event {
        e.template = None;
        e.whatsapp_template = None;
    }
    event
}

/// The data of `event` as version 2 recorded it (no template fields on messages).
fn version_2_data(event: &Event) -> serde_json::Value {
    let mut data = version_3_data(event);
    if let Event::MessageSent(_) = event {
        let fields = data.as_object_mut().unwrap();
        fields.remove("template");
        fields.remove("whatsapp_template");
    }
    data
}

/// The same event without the author's name: what version 1 could record.
fn without_name(event: &Event) -> Event {
    let mut event = without_template(event);
    match &mut event {
        Event::MessageSent(e) => e.author.name = None,
        Event::CallLogged(e) => e.author.name = None,
        Event::MessageReceived(e) => e.author.name = None,
        _ => {}
    }
    event
}

proptest! {
    #[test]
    fn version_1_data_decodes_with_an_unknown_author_name(event in authored_event()) {
        let mut data = version_2_data(&event);
        data["author"].as_object_mut().unwrap().remove("name");
        let decoded = codec::decode(&record(&event, 1, data), &Keyring::in_memory()).unwrap();
        prop_assert_eq!(decoded.schema_version, event.schema_version());
        prop_assert_eq!(decoded.event, without_name(&event));
    }

    #[test]
    fn version_2_messages_decode_without_a_template(event in message_sent()) {
        let decoded = codec::decode(&record(&event, 2, version_2_data(&event)), &Keyring::in_memory()).unwrap();
        prop_assert_eq!(decoded.schema_version, event.schema_version());
        prop_assert_eq!(decoded.event, without_template(&event));
    }

    #[test]
    fn version_3_messages_decode_as_never_scheduled(event in message_sent()) {
        let decoded = codec::decode(&record(&event, 3, version_3_data(&event)), &Keyring::in_memory()).unwrap();
        prop_assert_eq!(decoded.schema_version, event.schema_version());
        prop_assert_eq!(decoded.event, without_scheduled_for(&event));
    }

    #[test]
    fn current_events_round_trip(event in authored_event()) {
        let current = event.schema_version();
        prop_assert_eq!(current, if matches!(event, Event::MessageSent(_)) { 5 } else { 3 });
        let decoded = codec::decode(&record(&event, current, event.data()), &Keyring::in_memory()).unwrap();
        prop_assert_eq!(decoded.schema_version, current);
        prop_assert_eq!(decoded.event, event);
    }

    #[test]
    fn versions_never_written_are_refused(event in authored_event(), later in 1u32..100) {
        let version = event.schema_version() + later;
        prop_assert!(codec::decode(&record(&event, version, event.data()), &Keyring::in_memory()).is_err());
    }
}

/// A patient's registration or contact change, with or without a time zone.
fn patient_contact_event() -> impl Strategy<Value = Event> {
    let zones = [
        None,
        Some(domain::quiet_hours::Tz::Europe__Berlin),
        Some(domain::quiet_hours::Tz::America__New_York),
    ];
    (
        any::<u128>(),
        "[A-Za-z ]{1,20}",
        any::<bool>(),
        any::<bool>(),
        0usize..3,
        any::<bool>(),
    )
        .prop_map(move |(id, name, portal, whatsapp, zone, registered)| {
            let contact = domain::contact::PatientContact {
                name,
                phone: None,
                email: None,
                portal_enabled: portal,
                whatsapp_opt_in: whatsapp,
                time_zone: zones[zone],
            };
            let patient_id = domain::PatientId(Uuid::from_u128(id));
            if registered {
                Event::PatientRegistered(domain::event::PatientRegistered {
                    patient_id,
                    contact,
                })
            } else {
                Event::PatientContactChanged(domain::event::PatientContactChanged {
                    patient_id,
                    contact,
                })
            }
        })
}

/// The same contact event without the time zone: what version 1 could record.
fn without_time_zone(event: &Event) -> Event {
    let mut event = event.clone();
    match &mut event {
        Event::PatientRegistered(e) => e.contact.time_zone = None,
        Event::PatientContactChanged(e) => e.contact.time_zone = None,
        _ => {}
    }
    event
}

proptest! {
    #[test]
    fn version_1_contacts_decode_without_a_time_zone(event in patient_contact_event()) {
        let mut data = event.data();
        data.as_object_mut().unwrap().remove("time_zone");
        let decoded = codec::decode(&record(&event, 1, data), &Keyring::in_memory()).unwrap();
        prop_assert_eq!(decoded.schema_version, 3);
        prop_assert_eq!(decoded.event, without_time_zone(&event));
    }

    #[test]
    fn current_contacts_round_trip(event in patient_contact_event()) {
        prop_assert_eq!(event.schema_version(), 3);
        let decoded = codec::decode(&record(&event, 2, event.data()), &Keyring::in_memory()).unwrap();
        prop_assert_eq!(decoded.event, event);
    }
}

#[test]
fn unchanged_types_decode_at_version_1() {
    let archived = Event::ConversationArchived(domain::event::ConversationArchived {
        conversation_id: ConversationId(Uuid::from_u128(1)),
    });
    assert_eq!(archived.schema_version(), 1);
    let decoded = codec::decode(
        &record(&archived, 1, archived.data()),
        &Keyring::in_memory(),
    )
    .unwrap();
    assert_eq!(decoded.schema_version, 1);
    assert_eq!(decoded.event, archived);
}

/// A scheduled WhatsApp message as the hub writes it now.
fn message_scheduled(whatsapp_template: Option<WhatsappTemplateMessage>) -> Event {
    let at = Utc.with_ymd_and_hms(2026, 6, 2, 7, 30, 0).unwrap();
    Event::MessageScheduled(domain::event::MessageScheduled {
        message_id: MessageId(Uuid::from_u128(1)),
        conversation_id: ConversationId(Uuid::from_u128(2)),
        starts_conversation: true,
        to: None,
        patient_id: domain::PatientId(Uuid::from_u128(3)),
        author: domain::Author::new(Actor::system(), None),
        draft: domain::command::Draft {
            channel: Channel::Whatsapp,
            subject: None,
            body: "See you at 09:30".into(),
            attachments: Vec::new(),
        },
        template: None,
        whatsapp_template,
        send_at: at,
        release_at: at,
    })
}

#[test]
fn version_1_scheduled_messages_decode_without_a_template_message() {
    let current = message_scheduled(Some(WhatsappTemplateMessage {
        name: "appointment_reminder".into(),
        language: "en_US".into(),
        parameters: vec!["09:30".into()],
    }));
    assert_eq!(current.schema_version(), 3);
    let decoded =
        codec::decode(&record(&current, 2, current.data()), &Keyring::in_memory()).unwrap();
    assert_eq!(decoded.event, current);
    let mut data = current.data();
    data.as_object_mut().unwrap().remove("whatsapp_template");
    let decoded = codec::decode(&record(&current, 1, data), &Keyring::in_memory()).unwrap();
    assert_eq!(decoded.schema_version, 3);
    assert_eq!(decoded.event, message_scheduled(None));
}

/// `event` encoded as the executor writes it: personal fields sealed under `subject`'s key.
fn sealed_record(event: &Event, subject: Uuid, keys: &Keyring) -> RecordedEvent {
    let mut encoded = codec::encode(
        event,
        Uuid::new_v4(),
        Actor::system(),
        Utc.with_ymd_and_hms(2026, 3, 4, 10, 0, 0).unwrap(),
        &EventMetadata::default(),
    );
    codec::seal(&mut encoded, subject, keys).unwrap();
    let mut stored = record(event, encoded.schema_version, encoded.data);
    stored.event_id = encoded.event_id;
    stored
}

/// Every text of the event's personal fields, to look for in stored data.
fn personal_texts(event: &Event) -> Vec<String> {
    match event {
        Event::MessageSent(e) => [Some(e.body.clone()), e.subject.clone()]
            .into_iter()
            .flatten()
            .collect(),
        Event::MessageReceived(e) => vec![e.body.clone()],
        Event::CallLogged(e) => vec![e.summary.clone()],
        Event::PatientRegistered(e) => vec![e.contact.name.clone()],
        Event::PatientContactChanged(e) => vec![e.contact.name.clone()],
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|text| text.trim().len() >= 4)
    .collect()
}

/// The erased view: what a sealed event shows once its key is destroyed.
fn erased(event: &Event) -> Event {
    let mut event = event.clone();
    let erase_author = |author: &mut Author| author.name = None;
    match &mut event {
        Event::MessageSent(e) => {
            e.subject = None;
            e.body = String::new();
            e.whatsapp_template = None;
            erase_author(&mut e.author);
        }
        Event::MessageReceived(e) => {
            e.subject = None;
            e.body = String::new();
            erase_author(&mut e.author);
        }
        Event::CallLogged(e) => e.summary = String::new(),
        Event::PatientRegistered(e) => {
            e.contact.name = "erased".into();
            e.contact.time_zone = None;
        }
        Event::PatientContactChanged(e) => {
            e.contact.name = "erased".into();
            e.contact.time_zone = None;
        }
        _ => {}
    }
    event
}

proptest! {
    /// Sealed at the newest version, every event decodes to itself while its key exists, holds
    /// none of its personal texts in the stored data, and decodes to the erased view once the
    /// key is destroyed.
    #[test]
    fn sealed_events_open_while_the_key_exists_and_erase_after(
        event in prop_oneof![authored_event(), patient_contact_event()],
        subject in any::<u128>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let keys = Keyring::in_memory();
        let subject = Uuid::from_u128(subject);
        runtime.block_on(keys.ensure(subject)).unwrap();
        let stored = sealed_record(&event, subject, &keys);
        prop_assert_eq!(stored.schema_version, event.schema_version());
        let text = stored.data.to_string();
        for personal in personal_texts(&event) {
            let quoted = serde_json::to_string(&personal).unwrap();
            prop_assert!(!text.contains(&quoted), "{} is stored in the clear", personal);
        }
        let decoded = codec::decode(&stored, &keys).unwrap();
        prop_assert_eq!(&decoded.event, &event);
        runtime.block_on(keys.destroy(subject)).unwrap();
        let decoded = codec::decode(&stored, &keys).unwrap();
        prop_assert_eq!(decoded.event, erased(&event));
    }
}
