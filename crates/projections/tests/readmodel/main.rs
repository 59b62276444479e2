//! The read models against a plain in-memory reference built from the same events, on both
//! backends: every filter and combination, pagination over a growing inbox, incremental
//! versus rebuilt, a projector killed mid-way, and point-in-time replay.

mod bench;
mod reporting;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::Utc;
use domain::access::can_see;
use domain::command::{
    Context, ConversationCommand, Draft, MarkRead, Recipient, SendMessage, SetArchived, SetStar,
    StartConversation,
};
use domain::contact::{PatientContact, PhoneNumber};
use domain::conversation::{Conversation, ConversationScope};
use domain::event::PatientRegistered;
use domain::patient::Patient;
use domain::status::ConversationStatus;
use domain::{
    Actor, Aggregate, Channel, ConversationId, Direction, Event, EventMetadata, MessageId,
    PatientId, Permission, Principal, Role,
};
use eventlog::codec;
use projections::{
    ConversationFilter, MessageFilter, PageRequest, Projection, Projector, ReadModel, SqlReadModel,
};
use proptest::prelude::*;
use store::{AppendRequest, EventStore, ExpectedVersion, StreamWrite};
use uuid::Uuid;

use bench::{run_cases, Bench};

const WORDS: [&str; 5] = [
    "appointment",
    "results",
    "invoice",
    "prescription",
    "physio",
];

/// The name of the live generation of the read models.
const LIVE_GENERATION: &str = "SELECT value FROM readmodel_meta WHERE key = 'live'";

/// The actors of a scenario and the aggregates their commands are decided on.
struct Clinic {
    principals: Vec<Principal>,
    patients: Vec<PatientId>,
    patient_state: HashMap<PatientId, Patient>,
    conversations: Vec<ConversationId>,
    conversation_state: HashMap<ConversationId, Conversation>,
}

impl Clinic {
    async fn new(store: &dyn EventStore) -> Clinic {
        let patients = vec![PatientId(Uuid::new_v4()), PatientId(Uuid::new_v4())];
        let mut clinic = Clinic {
            principals: vec![
                Principal::new(
                    Actor {
                        id: patients[0].0,
                        role: Role::Patient,
                    },
                    [],
                ),
                Principal::new(
                    Actor {
                        id: patients[1].0,
                        role: Role::Patient,
                    },
                    [],
                ),
                Principal::new(
                    Actor {
                        id: Uuid::new_v4(),
                        role: Role::Receptionist,
                    },
                    [Permission::SendMessages],
                ),
                Principal::new(
                    Actor {
                        id: Uuid::new_v4(),
                        role: Role::Receptionist,
                    },
                    [Permission::SendMessages],
                ),
                Principal::new(
                    Actor {
                        id: Uuid::new_v4(),
                        role: Role::Doctor,
                    },
                    [Permission::SendMessages],
                ),
                Principal::new(
                    Actor {
                        id: Uuid::new_v4(),
                        role: Role::Doctor,
                    },
                    [Permission::SendMessages],
                ),
                Principal::new(
                    Actor {
                        id: Uuid::new_v4(),
                        role: Role::Admin,
                    },
                    [Permission::SendMessages],
                ),
                Principal::new(
                    Actor {
                        id: Uuid::new_v4(),
                        role: Role::Auditor,
                    },
                    [],
                ),
            ],
            patients: patients.clone(),
            patient_state: HashMap::new(),
            conversations: Vec::new(),
            conversation_state: HashMap::new(),
        };
        for patient in patients {
            let contact = PatientContact {
                name: "Pat".into(),
                phone: Some(PhoneNumber::parse("+4915112345678").unwrap()),
                email: Some(domain::contact::EmailAddress::parse("p@example.org").unwrap()),
                portal_enabled: true,
                whatsapp_opt_in: false,
                time_zone: None,
            };
            clinic
                .commit(
                    store,
                    clinic.principals[6].actor,
                    vec![Event::PatientRegistered(PatientRegistered {
                        patient_id: patient,
                        contact,
                    })],
                )
                .await;
        }
        clinic
    }

    /// Appends events decided on the current states and applies them to the states.
    async fn commit(&mut self, store: &dyn EventStore, actor: Actor, events: Vec<Event>) {
        let mut writes: Vec<StreamWrite> = Vec::new();
        for event in &events {
            let encoded = codec::encode(
                event,
                Uuid::new_v4(),
                actor,
                Utc::now(),
                &EventMetadata::default(),
            );
            let stream = event.stream();
            match writes.iter_mut().find(|w| w.stream == stream) {
                Some(write) => write.events.push(encoded),
                None => writes.push(StreamWrite {
                    stream,
                    expected: ExpectedVersion::Any,
                    events: vec![encoded],
                }),
            }
        }
        store
            .append(AppendRequest {
                writes,
                idempotency: None,
            })
            .await
            .unwrap();
        for event in &events {
            let stream = event.stream();
            if let Some(id) = stream.strip_prefix("patient-") {
                self.patient_state
                    .entry(PatientId(id.parse().unwrap()))
                    .or_default()
                    .apply(event);
            } else if let Some(id) = stream.strip_prefix("conversation-") {
                self.conversation_state
                    .entry(ConversationId(id.parse().unwrap()))
                    .or_default()
                    .apply(event);
            }
        }
    }

    /// Decides and commits one random step; rejected commands are skipped.
    async fn step(&mut self, store: &dyn EventStore, step: &Step) {
        let principal = self.principals[step.actor % self.principals.len()].clone();
        let draft = Draft {
            channel: [Channel::Portal, Channel::Sms, Channel::Email][step.channel % 3],
            subject: Some(format!("About {}", WORDS[step.word % WORDS.len()])),
            body: format!(
                "Note on {} and {}",
                WORDS[step.word % WORDS.len()],
                WORDS[(step.word / 5) % WORDS.len()]
            ),
            attachments: vec![],
        };
        let existing = (!self.conversations.is_empty())
            .then(|| self.conversations[step.target % self.conversations.len()]);
        let command = match (step.kind % 6, existing) {
            (0, _) | (_, None) => {
                let patient = match principal.role() {
                    Role::Patient => PatientId(principal.actor.id),
                    _ => self.patients[step.target % self.patients.len()],
                };
                ConversationCommand::StartConversation(StartConversation {
                    conversation_id: ConversationId(Uuid::new_v4()),
                    message_id: MessageId(Uuid::new_v4()),
                    patient_id: patient,
                    to: Some(Recipient::Reception),
                    draft,
                    template: None,
                })
            }
            (1 | 2, Some(conversation_id)) => ConversationCommand::SendMessage(SendMessage {
                conversation_id,
                message_id: MessageId(Uuid::new_v4()),
                draft,
                template: None,
            }),
            (kind @ (3 | 4), Some(conversation_id)) => {
                let messages: Vec<MessageId> = self.conversation_state[&conversation_id]
                    .0
                    .as_ref()
                    .unwrap()
                    .messages
                    .keys()
                    .copied()
                    .collect();
                let message_id = messages[step.word % messages.len()];
                if kind == 3 {
                    ConversationCommand::MarkRead(MarkRead {
                        conversation_id,
                        message_id,
                    })
                } else {
                    ConversationCommand::SetStar(SetStar {
                        conversation_id,
                        message_id,
                        starred: step.word.is_multiple_of(2),
                    })
                }
            }
            (_, Some(conversation_id)) => ConversationCommand::SetArchived(SetArchived {
                conversation_id,
                archived: !step.word.is_multiple_of(3),
            }),
        };
        let conversation = self
            .conversation_state
            .get(&command.conversation_id())
            .cloned()
            .unwrap_or_default();
        let patient_id = match &command {
            ConversationCommand::StartConversation(c) => c.patient_id,
            _ => conversation.0.as_ref().unwrap().patient_id,
        };
        let patient = self
            .patient_state
            .get(&patient_id)
            .cloned()
            .unwrap_or_default();
        let scope = ConversationScope {
            patient: &patient,
            conversation: &conversation,
            template: None,
        };
        if let Ok(events) = scope.decide(
            &command,
            &Context {
                principal: &principal,
                now: Utc::now(),
            },
        ) {
            if events.is_empty() {
                return;
            }
            if let ConversationCommand::StartConversation(c) = &command {
                self.conversations.push(c.conversation_id);
            }
            self.commit(store, principal.actor, events).await;
        }
    }
}

#[derive(Debug, Clone)]
struct Step {
    actor: usize,
    kind: usize,
    target: usize,
    channel: usize,
    word: usize,
}

fn step() -> impl Strategy<Value = Step> {
    (0..8usize, 0..6usize, any::<usize>(), 0..3usize, 0..25usize).prop_map(
        |(actor, kind, target, channel, word)| Step {
            actor,
            kind,
            target,
            channel,
            word,
        },
    )
}

/// What the reference knows of one message.
#[derive(Debug, Clone)]
struct RefMessage {
    id: MessageId,
    conversation: ConversationId,
    patient: PatientId,
    position: u64,
    channel: Channel,
    direction: Direction,
    words: BTreeSet<String>,
}

/// The reference: messages from the event log, conversation states from the domain.
struct Reference {
    messages: Vec<RefMessage>,
    conversations: HashMap<ConversationId, Conversation>,
    last_position: HashMap<ConversationId, u64>,
}

async fn reference(store: &dyn EventStore) -> Reference {
    let mut reference = Reference {
        messages: Vec::new(),
        conversations: HashMap::new(),
        last_position: HashMap::new(),
    };
    let mut after = 0;
    loop {
        let batch = store.read_all(after, 1000, None).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = last.position;
        for record in &batch {
            let envelope = codec::decode(record, store.keyring()).unwrap();
            let words = |subject: Option<&str>, body: &str| -> BTreeSet<String> {
                format!("{} {}", subject.unwrap_or(""), body)
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(str::to_lowercase)
                    .collect()
            };
            match &envelope.event {
                Event::MessageSent(e) => {
                    let patient = reference.conversations[&e.conversation_id]
                        .0
                        .as_ref()
                        .unwrap()
                        .patient_id;
                    reference.messages.push(RefMessage {
                        id: e.message_id,
                        conversation: e.conversation_id,
                        patient,
                        position: record.position,
                        channel: e.channel,
                        direction: e.direction,
                        words: words(e.subject.as_deref(), &e.body),
                    });
                    reference
                        .last_position
                        .insert(e.conversation_id, record.position);
                }
                Event::CallLogged(e) => {
                    let patient = reference.conversations[&e.conversation_id]
                        .0
                        .as_ref()
                        .unwrap()
                        .patient_id;
                    reference.messages.push(RefMessage {
                        id: e.message_id,
                        conversation: e.conversation_id,
                        patient,
                        position: record.position,
                        channel: Channel::Call,
                        direction: e.direction,
                        words: words(None, &e.summary),
                    });
                    reference
                        .last_position
                        .insert(e.conversation_id, record.position);
                }
                _ => {}
            }
            if let Some(id) = record.stream.strip_prefix("conversation-") {
                reference
                    .conversations
                    .entry(ConversationId(id.parse().unwrap()))
                    .or_default()
                    .apply(&envelope.event);
            }
        }
    }
    reference
}

impl Reference {
    fn message_matches(
        &self,
        m: &RefMessage,
        viewer: &Actor,
        channel: Option<Channel>,
        direction: Option<Direction>,
        starred: Option<bool>,
        q: Option<&str>,
    ) -> bool {
        let state = &self.conversations[&m.conversation]
            .0
            .as_ref()
            .unwrap()
            .messages[&m.id];
        channel.is_none_or(|c| c == m.channel)
            && direction.is_none_or(|d| d == m.direction)
            && starred.is_none_or(|s| s == state.starred_by.contains(&domain::StaffId(viewer.id)))
            && q.is_none_or(|q| {
                // Every word of the search starts some word of the message.
                q.split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .all(|w| {
                        let w = w.to_lowercase();
                        m.words.iter().any(|word| word.starts_with(&w))
                    })
            })
    }

    fn visible(&self, viewer: &Actor, conversation: ConversationId) -> bool {
        can_see(
            viewer,
            self.conversations[&conversation].0.as_ref().unwrap(),
        )
    }

    fn messages(&self, viewer: &Actor, f: &MessageFilter) -> Vec<MessageId> {
        let mut found: Vec<&RefMessage> = self
            .messages
            .iter()
            .filter(|m| self.visible(viewer, m.conversation))
            .filter(|m| f.patient_id.is_none_or(|p| p == m.patient))
            .filter(|m| {
                let record = self.conversations[&m.conversation].0.as_ref().unwrap();
                match f.status {
                    Some(ConversationStatus::Archived) => record.archived,
                    Some(status) => record.messages[&m.id].status.as_str() == status.as_str(),
                    None => true,
                }
            })
            .filter(|m| {
                self.message_matches(m, viewer, f.channel, f.direction, f.starred, f.q.as_deref())
            })
            .collect();
        found.sort_by_key(|m| std::cmp::Reverse(m.position));
        found.into_iter().map(|m| m.id).collect()
    }

    fn conversations(&self, viewer: &Actor, f: &ConversationFilter) -> Vec<ConversationId> {
        let message_level =
            f.channel.is_some() || f.direction.is_some() || f.starred.is_some() || f.q.is_some();
        let mut found: Vec<(u64, ConversationId)> = self
            .conversations
            .iter()
            .filter(|(id, _)| self.visible(viewer, **id))
            .filter(|(_, c)| {
                f.patient_id
                    .is_none_or(|p| p == c.0.as_ref().unwrap().patient_id)
            })
            .filter(|(_, c)| f.status.is_none_or(|s| s == c.0.as_ref().unwrap().status()))
            .filter(|(id, _)| {
                !message_level
                    || self.messages.iter().any(|m| {
                        m.conversation == **id
                            && self.message_matches(
                                m,
                                viewer,
                                f.channel,
                                f.direction,
                                f.starred,
                                f.q.as_deref(),
                            )
                    })
            })
            .map(|(id, _)| (self.last_position[id], *id))
            .collect();
        found.sort_by_key(|(position, _)| std::cmp::Reverse(*position));
        found.into_iter().map(|(_, id)| id).collect()
    }
}

/// Every page of a list, collected.
async fn all_conversations(
    model: &SqlReadModel,
    viewer: &Actor,
    filter: &ConversationFilter,
) -> Vec<ConversationId> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = model
            .list_conversations(viewer, filter, &PageRequest { limit: 3, cursor })
            .await
            .unwrap();
        ids.extend(page.items.iter().map(|c| c.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
}

async fn all_messages(
    model: &SqlReadModel,
    viewer: &Actor,
    filter: &MessageFilter,
) -> Vec<MessageId> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = model
            .search_messages(viewer, filter, &PageRequest { limit: 4, cursor })
            .await
            .unwrap();
        ids.extend(page.items.iter().map(|m| m.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
}

fn message_filters(patients: &[PatientId]) -> Vec<MessageFilter> {
    let mut filters = vec![MessageFilter::default()];
    for status in [
        ConversationStatus::Unread,
        ConversationStatus::Read,
        ConversationStatus::Replied,
        ConversationStatus::Archived,
    ] {
        filters.push(MessageFilter {
            status: Some(status),
            ..Default::default()
        });
    }
    for channel in [Channel::Sms, Channel::Email, Channel::Portal, Channel::Call] {
        filters.push(MessageFilter {
            channel: Some(channel),
            ..Default::default()
        });
    }
    for direction in [Direction::Inbound, Direction::Outbound] {
        filters.push(MessageFilter {
            direction: Some(direction),
            ..Default::default()
        });
    }
    filters.push(MessageFilter {
        starred: Some(true),
        ..Default::default()
    });
    filters.push(MessageFilter {
        starred: Some(false),
        ..Default::default()
    });
    filters.push(MessageFilter {
        patient_id: Some(patients[0]),
        ..Default::default()
    });
    for word in WORDS {
        filters.push(MessageFilter {
            q: Some(word.into()),
            ..Default::default()
        });
    }
    // Prefixes: of one term, of several, and two words at once.
    for q in ["appoint", "p", "Pres phys", "res about"] {
        filters.push(MessageFilter {
            q: Some(q.into()),
            ..Default::default()
        });
    }
    filters.push(MessageFilter {
        channel: Some(Channel::Email),
        direction: Some(Direction::Outbound),
        q: Some("results".into()),
        ..Default::default()
    });
    filters.push(MessageFilter {
        patient_id: Some(patients[1]),
        status: Some(ConversationStatus::Unread),
        starred: Some(false),
        ..Default::default()
    });
    filters
}

fn conversation_filter(f: &MessageFilter) -> ConversationFilter {
    ConversationFilter {
        patient_id: f.patient_id,
        status: f.status,
        awaiting: None,
        channel: f.channel,
        direction: f.direction,
        starred: f.starred,
        q: f.q.clone(),
    }
}

/// Snapshot of every list for every viewer, to compare read models with each other.
async fn snapshot(model: &SqlReadModel, clinic: &Clinic) -> Vec<String> {
    let mut out = Vec::new();
    for principal in &clinic.principals {
        let viewer = principal.actor;
        let conversations = model
            .list_conversations(
                &viewer,
                &ConversationFilter::default(),
                &PageRequest {
                    limit: 200,
                    cursor: None,
                },
            )
            .await
            .unwrap();
        out.push(serde_json::to_string(&conversations.items).unwrap());
        let messages = model
            .search_messages(
                &viewer,
                &MessageFilter::default(),
                &PageRequest {
                    limit: 200,
                    cursor: None,
                },
            )
            .await
            .unwrap();
        out.push(serde_json::to_string(&messages.items).unwrap());
    }
    out
}

async fn scenario(postgres: bool, steps: Vec<Step>) {
    let mut bench = Bench::new(postgres).await;
    let mut clinic = Clinic::new(&*bench.store).await;
    for (i, step) in steps.iter().enumerate() {
        clinic.step(&*bench.store, step).await;
        // Kill the projector part-way and start another: nothing lost, nothing twice.
        if i == steps.len() / 2 {
            bench.kill_projectors().await;
            bench.start_projectors().await;
        }
    }
    bench.caught_up().await;
    let reference = reference(&*bench.store).await;
    for principal in &clinic.principals {
        let viewer = principal.actor;
        for filter in message_filters(&clinic.patients) {
            assert_eq!(
                all_messages(&bench.model, &viewer, &filter).await,
                reference.messages(&viewer, &filter),
                "messages of {:?} with {filter:?}",
                viewer.role
            );
            let filter = conversation_filter(&filter);
            assert_eq!(
                all_conversations(&bench.model, &viewer, &filter).await,
                reference.conversations(&viewer, &filter),
                "conversations of {:?} with {filter:?}",
                viewer.role
            );
        }
    }
    // Incremental equals rebuilt from scratch (blue/green replay swaps in the rebuilt models).
    let incremental = snapshot(&bench.model, &clinic).await;
    let head = bench.store.head_position().await.unwrap();
    let outcome = projections::replay(&*bench.store, &bench.model, None, None, |_| {})
        .await
        .unwrap();
    assert_eq!(outcome.position, head);
    bench.caught_up().await;
    assert_eq!(snapshot(&bench.model, &clinic).await, incremental);
    bench.finish().await;
}

fn run_scenarios(postgres: bool, cases: u32) {
    run_cases(cases, prop::collection::vec(step(), 1..50), |steps| {
        scenario(postgres, steps)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queries_match_the_reference() {
    run_scenarios(false, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queries_match_the_reference() {
    run_scenarios(true, 8);
}

/// Paging newest-first through a growing inbox never skips or repeats a message.
async fn growing_inbox(postgres: bool) {
    let bench = Bench::new(postgres).await;
    let mut clinic = Clinic::new(&*bench.store).await;
    let receptionist = clinic.principals[2].actor;
    for i in 0..30 {
        clinic
            .step(
                &*bench.store,
                &Step {
                    actor: 2,
                    kind: if i == 0 { 0 } else { 1 },
                    target: i,
                    channel: 0,
                    word: i,
                },
            )
            .await;
    }
    bench.caught_up().await;
    let before = all_messages(&bench.model, &receptionist, &MessageFilter::default()).await;
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut i = 100;
    loop {
        let page = bench
            .model
            .search_messages(
                &receptionist,
                &MessageFilter::default(),
                &PageRequest { limit: 4, cursor },
            )
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|m| m.id));
        clinic
            .step(
                &*bench.store,
                &Step {
                    actor: 2,
                    kind: 1,
                    target: i,
                    channel: 0,
                    word: i,
                },
            )
            .await;
        i += 1;
        bench.caught_up().await;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen, before,
        "every message present at the start, once, in order"
    );
    bench.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_growing_inbox() {
    growing_inbox(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_growing_inbox() {
    growing_inbox(true).await;
}

/// A point-in-time copy holds exactly the events up to its limit and leaves the live models alone.
async fn point_in_time(postgres: bool) {
    let bench = Bench::new(postgres).await;
    let mut clinic = Clinic::new(&*bench.store).await;
    for i in 0..20 {
        clinic
            .step(
                &*bench.store,
                &Step {
                    actor: 2,
                    kind: if i == 0 { 0 } else { 1 },
                    target: i,
                    channel: 0,
                    word: i,
                },
            )
            .await;
    }
    bench.caught_up().await;
    let head = bench.store.head_position().await.unwrap();
    let live_before = snapshot(&bench.model, &clinic).await;
    let until = head / 2;
    let outcome = projections::replay(
        &*bench.store,
        &bench.model,
        Some(projections::ReplayLimit::Position(until)),
        Some("audit_copy".into()),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(outcome.position, until);
    let expected = reference(&*bench.store)
        .await
        .messages
        .iter()
        .filter(|m| m.position <= until)
        .count() as i64;
    let (count, copy_indexes, live_indexes) = if postgres {
        let pool = bench.postgres_pool().await;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_copy.messages")
            .fetch_one(&pool)
            .await
            .unwrap();
        let live: String = sqlx::query_scalar(LIVE_GENERATION)
            .fetch_one(&pool)
            .await
            .unwrap();
        let indexes = |schema: String| {
            sqlx::query_scalar::<_, String>(
                "SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 ORDER BY 1",
            )
            .bind(schema)
            .fetch_all(&pool)
        };
        let copy = indexes("audit_copy".into()).await.unwrap();
        (count, copy, indexes(live).await.unwrap())
    } else {
        let copy = bench.sqlite_file("audit_copy.db").await;
        let live = bench.sqlite_file("readmodel.db").await;
        let prefix: String = sqlx::query_scalar(LIVE_GENERATION)
            .fetch_one(&live)
            .await
            .unwrap();
        let indexes = |pool| {
            sqlx::query_scalar::<_, String>(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND substr(name, 1, 7) <> 'sqlite_' ORDER BY 1",
            )
            .fetch_all(pool)
        };
        let live_indexes: Vec<String> = indexes(&live)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|name| {
                let name = name.strip_prefix(&prefix)?.to_owned();
                (!name.starts_with("message_search")).then_some(name)
            })
            .collect();
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
            .fetch_one(&copy)
            .await
            .unwrap();
        let copy_indexes: Vec<String> = indexes(&copy)
            .await
            .unwrap()
            .into_iter()
            .filter(|name| !name.starts_with("message_search"))
            .collect();
        (count, copy_indexes, live_indexes)
    };
    assert_eq!(count, expected);
    // A replay creates the query indexes after filling the tables: the copy has every one.
    assert!(copy_indexes.contains(&"messages_channel".to_owned()));
    assert_eq!(copy_indexes, live_indexes);
    assert_eq!(
        snapshot(&bench.model, &clinic).await,
        live_before,
        "live models untouched"
    );
    assert_eq!(bench.model.checkpoint().await.unwrap(), head);
    let again = projections::replay(
        &*bench.store,
        &bench.model,
        None,
        Some("audit_copy".into()),
        |_| {},
    )
    .await;
    assert!(matches!(again, Err(projections::QueryError::Exists(_))));
    bench.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_point_in_time() {
    point_in_time(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_point_in_time() {
    point_in_time(true).await;
}

/// Two projections side by side, each with its own checkpoint: stopping one leaves the other
/// current, and the stopped one catches up from its own checkpoint.
async fn projections_side_by_side(postgres: bool) {
    let mut bench = Bench::new(postgres).await;
    let mut clinic = Clinic::new(&*bench.store).await;
    clinic
        .step(
            &*bench.store,
            &Step {
                actor: 2,
                kind: 0,
                target: 0,
                channel: 0,
                word: 0,
            },
        )
        .await;
    bench.caught_up().await;
    let (model, store) = (bench.model.clone(), bench.store.clone());
    let wait_for = move |projection| {
        let (model, store) = (model.clone(), store.clone());
        async move {
            let head = store.head_position().await.unwrap();
            for _ in 0..500 {
                if model.projection_checkpoint(projection).await.unwrap() == head {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("{projection:?} did not reach {head}");
        }
    };
    wait_for(Projection::PatientDirectory).await;
    // Only the inbox keeps running while two more patients register.
    bench.kill_projectors().await;
    let own_model = projections::open_read_model(
        bench.database.as_ref().map(|d| d.url.as_str()),
        &bench.dir.path().join("readmodel.db"),
    )
    .await
    .unwrap();
    let inbox = Projector::new(bench.store.clone(), own_model, Projection::Inbox);
    let inbox = tokio::spawn(async move {
        let _ = inbox.run(std::future::pending()).await;
    });
    let directory_before = bench
        .model
        .projection_checkpoint(Projection::PatientDirectory)
        .await
        .unwrap();
    let second = Clinic::new(&*bench.store).await;
    wait_for(Projection::Inbox).await;
    assert_eq!(
        bench
            .model
            .projection_checkpoint(Projection::PatientDirectory)
            .await
            .unwrap(),
        directory_before
    );
    inbox.abort();
    let _ = inbox.await;
    bench.start_projectors().await;
    wait_for(Projection::PatientDirectory).await;
    let count: i64 = if postgres {
        let pool = bench.postgres_pool().await;
        let live: String = sqlx::query_scalar(LIVE_GENERATION)
            .fetch_one(&pool)
            .await
            .unwrap();
        sqlx::query_scalar(&format!("SELECT count(*) FROM {live}.patients"))
            .fetch_one(&pool)
            .await
            .unwrap()
    } else {
        let pool = bench.sqlite_file("readmodel.db").await;
        let live: String = sqlx::query_scalar(LIVE_GENERATION)
            .fetch_one(&pool)
            .await
            .unwrap();
        sqlx::query_scalar(&format!("SELECT count(*) FROM {live}patients"))
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(
        count as usize,
        clinic.patients.len() + second.patients.len()
    );
    bench.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_projections_side_by_side() {
    projections_side_by_side(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_projections_side_by_side() {
    projections_side_by_side(true).await;
}

/// Read models built by another version of the DDL are replaced, at start-up, by a fresh
/// generation that the projectors fill from position 0; the data comes back the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_ddl_version_rebuilds_the_read_models() {
    let mut bench = Bench::new(false).await;
    let clinic = Clinic::new(&*bench.store).await;
    bench.caught_up().await;
    let before = snapshot(&bench.model, &clinic).await;
    bench.kill_projectors().await;
    let path = bench.dir.path().join("readmodel.db");
    let pool = bench.sqlite_file("readmodel.db").await;
    sqlx::query("UPDATE readmodel_meta SET value = 'older' WHERE key = 'ddl_version'")
        .execute(&pool)
        .await
        .unwrap();
    bench.model = projections::open_read_model(None, &path).await.unwrap();
    let live: String = sqlx::query_scalar(LIVE_GENERATION)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(live, "inbox_2_", "a fresh generation is live");
    bench.start_projectors().await;
    bench.caught_up().await;
    assert_eq!(snapshot(&bench.model, &clinic).await, before);
    bench.finish().await;
}
