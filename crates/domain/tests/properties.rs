//! Properties over random command sequences.

mod common;

use std::collections::HashMap;

use chrono::Utc;
use common::*;
use domain::command::{
    ConversationCommand, LogCall, MarkRead, Recipient, SendMessage, SetArchived, SetStar,
};
use domain::conversation::Conversation;
use domain::patient::Patient;
use domain::{
    Actor, Aggregate, Channel, ConversationId, Direction, Event, EventEnvelope, EventMetadata,
    MessageId, PatientId, Principal, Role,
};
use proptest::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone)]
enum Op {
    Start {
        actor: usize,
        patient: usize,
        channel: Channel,
    },
    Send {
        actor: usize,
        conversation: usize,
        channel: Channel,
    },
    Call {
        actor: usize,
        conversation: usize,
        duration: i64,
    },
    Read {
        actor: usize,
        conversation: usize,
        message: usize,
    },
    Star {
        actor: usize,
        conversation: usize,
        message: usize,
        starred: bool,
    },
    Archive {
        actor: usize,
        conversation: usize,
        archived: bool,
    },
}

fn channel() -> impl Strategy<Value = Channel> {
    prop_oneof![
        Just(Channel::Portal),
        Just(Channel::Sms),
        Just(Channel::Email),
        Just(Channel::Whatsapp),
        Just(Channel::Call)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let actor = 0..ACTORS;
    prop_oneof![
        (actor.clone(), 0..2usize, channel()).prop_map(|(actor, patient, channel)| Op::Start {
            actor,
            patient,
            channel
        }),
        (actor.clone(), any::<usize>(), channel()).prop_map(|(actor, conversation, channel)| {
            Op::Send {
                actor,
                conversation,
                channel,
            }
        }),
        (actor.clone(), any::<usize>(), -10..100_000i64).prop_map(
            |(actor, conversation, duration)| Op::Call {
                actor,
                conversation,
                duration
            }
        ),
        (actor.clone(), any::<usize>(), any::<usize>()).prop_map(
            |(actor, conversation, message)| Op::Read {
                actor,
                conversation,
                message
            }
        ),
        (actor.clone(), any::<usize>(), any::<usize>(), any::<bool>()).prop_map(
            |(actor, conversation, message, starred)| Op::Star {
                actor,
                conversation,
                message,
                starred
            }
        ),
        (actor, any::<usize>(), any::<bool>()).prop_map(|(actor, conversation, archived)| {
            Op::Archive {
                actor,
                conversation,
                archived,
            }
        }),
    ]
}

const ACTORS: usize = 10;

/// Two patients, two receptionists (one without `send_messages`), two doctors (one
/// without), an admin and an auditor.
fn cast(patients: &[PatientId]) -> Vec<Principal> {
    vec![
        patient_principal(patients[0]),
        patient_principal(patients[1]),
        staff(Role::Receptionist),
        staff_without_permission(Role::Receptionist),
        staff(Role::Doctor),
        staff(Role::Doctor),
        staff_without_permission(Role::Doctor),
        staff(Role::Admin),
        staff(Role::Auditor),
        staff_without_permission(Role::Admin),
    ]
}

fn command(
    world: &World,
    conversations: &[ConversationId],
    op: &Op,
) -> Option<(usize, ConversationCommand)> {
    let pick =
        |i: usize| (!conversations.is_empty()).then(|| conversations[i % conversations.len()]);
    let message = |conversation: ConversationId, i: usize| {
        let messages: Vec<MessageId> = world
            .conversation(conversation)
            .messages
            .keys()
            .copied()
            .collect();
        messages[i % messages.len()]
    };
    Some(match *op {
        Op::Start { .. } => return None,
        Op::Send {
            actor,
            conversation,
            channel,
        } => {
            let conversation_id = pick(conversation)?;
            (
                actor,
                ConversationCommand::SendMessage(SendMessage {
                    conversation_id,
                    message_id: MessageId(Uuid::new_v4()),
                    draft: draft(channel, "Hello"),
                    template: None,
                }),
            )
        }
        Op::Call {
            actor,
            conversation,
            duration,
        } => {
            let conversation_id = pick(conversation)?;
            (
                actor,
                ConversationCommand::LogCall(LogCall {
                    conversation_id,
                    message_id: MessageId(Uuid::new_v4()),
                    occurred_at: now(),
                    duration_seconds: duration,
                    direction: Direction::Outbound,
                    summary: "Talked".into(),
                }),
            )
        }
        Op::Read {
            actor,
            conversation,
            message: m,
        } => {
            let conversation_id = pick(conversation)?;
            (
                actor,
                ConversationCommand::MarkRead(MarkRead {
                    conversation_id,
                    message_id: message(conversation_id, m),
                }),
            )
        }
        Op::Star {
            actor,
            conversation,
            message: m,
            starred,
        } => {
            let conversation_id = pick(conversation)?;
            (
                actor,
                ConversationCommand::SetStar(SetStar {
                    conversation_id,
                    message_id: message(conversation_id, m),
                    starred,
                }),
            )
        }
        Op::Archive {
            actor,
            conversation,
            archived,
        } => {
            let conversation_id = pick(conversation)?;
            (
                actor,
                ConversationCommand::SetArchived(SetArchived {
                    conversation_id,
                    archived,
                }),
            )
        }
    })
}

fn round_trip(event: &Event) {
    let json = serde_json::to_string(event).unwrap();
    assert_eq!(&serde_json::from_str::<Event>(&json).unwrap(), event);
    assert_eq!(
        &Event::from_parts(event.event_type(), event.data()).unwrap(),
        event
    );
    let envelope = EventEnvelope {
        event_id: Uuid::new_v4(),
        stream: event.stream(),
        version: 3,
        position: 42,
        event: event.clone(),
        schema_version: event.schema_version(),
        occurred_at: Utc::now(),
        actor: Actor {
            id: Uuid::new_v4(),
            role: Role::Receptionist,
        },
        metadata: EventMetadata {
            correlation_id: Some(Uuid::new_v4()),
            causation_id: None,
            idempotency_key: Some("k".into()),
        },
    };
    let json = serde_json::to_value(&envelope).unwrap();
    assert_eq!(json["type"], event.event_type());
    assert_eq!(
        serde_json::from_value::<EventEnvelope>(json).unwrap(),
        envelope
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_command_sequences_keep_the_rules(ops in prop::collection::vec(op(), 1..60)) {
        let mut world = World::default();
        let patients = [world.register(full_contact()), world.register(full_contact())];
        let principals = cast(&patients);
        let mut conversations: Vec<ConversationId> = Vec::new();
        for op in &ops {
            let before_patients = world.patients.clone();
            let before_conversations = world.conversations.clone();
            let before_log = world.log.len();
            let (actor, result) = match *op {
                Op::Start { actor, patient, channel } => {
                    let principal = &principals[actor];
                    let patient = if principal.role() == Role::Patient { PatientId(principal.actor.id) } else { patients[patient] };
                    let result = world.start(principal, patient, Some(Recipient::Reception), draft(channel, "First"));
                    if let Ok(id) = result {
                        conversations.push(id);
                    }
                    (actor, result.map(drop))
                }
                _ => match command(&world, &conversations, op) {
                    Some((actor, command)) => (actor, world.decide(&principals[actor], patients[0], command).map(drop)),
                    None => continue,
                },
            };
            let principal = &principals[actor];
            // (4) Clinic staff without send_messages never cause an event.
            if principal.role().is_clinic_staff() && principal.permissions.is_empty() {
                prop_assert_eq!(result.as_ref().unwrap_err().code(), "missing_permission");
            }
            // (3) A rejected command emits nothing and changes nothing.
            if result.is_err() {
                prop_assert_eq!(world.log.len(), before_log);
                prop_assert_eq!(&world.patients, &before_patients);
                prop_assert_eq!(&world.conversations, &before_conversations);
            }
        }
        // (1) Folding each stream's events reproduces the state built incrementally.
        let mut streams: HashMap<String, Vec<Event>> = HashMap::new();
        for event in &world.log {
            streams.entry(event.stream()).or_default().push(event.clone());
        }
        for (id, patient) in &world.patients {
            prop_assert_eq!(&Patient::fold(&streams[&patient_stream(*id)]), patient);
        }
        for (id, conversation) in &world.conversations {
            prop_assert_eq!(&Conversation::fold(&streams[&domain::StreamName::stream(id)]), conversation);
        }
        // (2) No doctor holds two non-archived conversations with one patient.
        for patient in world.patients.values() {
            let record = patient.0.as_ref().unwrap();
            let mut open: HashMap<domain::StaffId, usize> = HashMap::new();
            for link in record.conversations.values().filter(|l| !l.archived) {
                if let Some(staff) = link.staff_id {
                    *open.entry(staff).or_default() += 1;
                }
            }
            for (id, conversation) in &world.conversations {
                let c = conversation.0.as_ref().unwrap();
                if c.patient_id == record.id {
                    prop_assert_eq!(record.conversations[id].archived, c.archived, "index and conversation agree");
                }
            }
            for principal in principals.iter().filter(|p| p.role() == Role::Doctor) {
                prop_assert!(open.get(&domain::StaffId(principal.actor.id)).copied().unwrap_or(0) <= 1);
            }
        }
        // (5) Every event round-trips through JSON unchanged.
        for event in &world.log {
            round_trip(event);
        }
    }
}

/// Doctors start conversations directly (the random sequence above starts them through
/// reception): no interleaving of starts, archives and reopen-by-message breaks the rule.
#[test]
fn doctors_never_hold_two_open_conversations() {
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(
            &prop::collection::vec((0..4usize, any::<usize>()), 1..40),
            |steps| {
                let mut world = World::default();
                let patient = world.register(full_contact());
                let doctor = staff(Role::Doctor);
                let mut mine: Vec<ConversationId> = Vec::new();
                for (kind, pick) in steps {
                    let target = (!mine.is_empty()).then(|| mine[pick % mine.len()]);
                    match (kind, target) {
                        (0, _) | (_, None) => {
                            if let Ok(id) = world.start(&doctor, patient, None, portal("Hi")) {
                                mine.push(id);
                            }
                        }
                        (1, Some(id)) => {
                            let _ = world.decide(
                                &doctor,
                                patient,
                                ConversationCommand::SetArchived(SetArchived {
                                    conversation_id: id,
                                    archived: true,
                                }),
                            );
                        }
                        (2, Some(id)) => {
                            let _ = world.decide(
                                &doctor,
                                patient,
                                ConversationCommand::SetArchived(SetArchived {
                                    conversation_id: id,
                                    archived: false,
                                }),
                            );
                        }
                        (_, Some(id)) => {
                            let _ = world.decide(
                                &patient_principal(patient),
                                patient,
                                ConversationCommand::SendMessage(SendMessage {
                                    conversation_id: id,
                                    message_id: MessageId(Uuid::new_v4()),
                                    draft: portal("Reply"),
                                    template: None,
                                }),
                            );
                        }
                    }
                    let open = mine
                        .iter()
                        .filter(|id| !world.conversation(**id).archived)
                        .count();
                    prop_assert!(open <= 1, "{open} open conversations");
                }
                Ok(())
            },
        )
        .unwrap();
}
