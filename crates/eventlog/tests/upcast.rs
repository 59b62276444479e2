//! Every historical schema version decodes: events as version 1 recorded them come out in
//! today's shape, current events round-trip unchanged, and versions this hub never wrote are
//! refused rather than guessed at.

use chrono::{TimeZone, Utc};
use domain::event::{CallLogged, MessageReceived, MessageSent};
use domain::{
    Actor, Author, Channel, ConversationId, Direction, Event, EventMetadata, MessageId, Role,
};
use eventlog::codec;
use proptest::prelude::*;
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

/// Events of the types whose shape changed, at their current version.
fn authored_event() -> impl Strategy<Value = Event> {
    let ids = (any::<u128>(), any::<u128>());
    prop_oneof![
        (
            ids,
            channel(),
            author(),
            ".{0,40}",
            proptest::option::of(".{1,20}")
        )
            .prop_map(
                |((c, m), channel, author, body, subject)| Event::MessageSent(MessageSent {
                    conversation_id: ConversationId(Uuid::from_u128(c)),
                    message_id: MessageId(Uuid::from_u128(m)),
                    channel,
                    direction: Direction::Outbound,
                    author,
                    subject,
                    body,
                    attachments: Vec::new(),
                    delivery_status: None,
                })
            ),
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
    }
}

/// The same event without the author's name: what version 1 could record.
fn without_name(event: &Event) -> Event {
    let mut event = event.clone();
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
        let mut data = event.data();
        data["author"].as_object_mut().unwrap().remove("name");
        let decoded = codec::decode(&record(&event, 1, data)).unwrap();
        prop_assert_eq!(decoded.schema_version, 2);
        prop_assert_eq!(decoded.event, without_name(&event));
    }

    #[test]
    fn current_events_round_trip(event in authored_event()) {
        prop_assert_eq!(event.schema_version(), 2);
        let decoded = codec::decode(&record(&event, 2, event.data())).unwrap();
        prop_assert_eq!(decoded.schema_version, 2);
        prop_assert_eq!(decoded.event, event);
    }

    #[test]
    fn versions_never_written_are_refused(event in authored_event(), version in 3u32..100) {
        prop_assert!(codec::decode(&record(&event, version, event.data())).is_err());
    }
}

#[test]
fn unchanged_types_decode_at_version_1() {
    let archived = Event::ConversationArchived(domain::event::ConversationArchived {
        conversation_id: ConversationId(Uuid::from_u128(1)),
    });
    assert_eq!(archived.schema_version(), 1);
    let decoded = codec::decode(&record(&archived, 1, archived.data())).unwrap();
    assert_eq!(decoded.schema_version, 1);
    assert_eq!(decoded.event, archived);
}
