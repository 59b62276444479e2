//! Projection rebuild speed and query latency per query shape, on each backend.
//!
//! `HUB_BENCH_MESSAGES=100000 cargo bench -p projections --bench readmodel` (default 100,000
//! messages in conversations of 10; the full scale is 1,000,000). Data is generated
//! deterministically (seeded) and shows progress on stderr.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use domain::event::{ConversationStarted, Counterpart, MessageSent, MessageStarred, StatusChanged};
use domain::status::{ConversationStatus, MessageStatus};
use domain::{
    Actor, Channel, ConversationId, Direction, Event, EventMetadata, MessageId, PatientId, Role,
    StaffId,
};
use projections::{codec, ConversationFilter, MessageFilter, PageRequest, ReadModel, SqlReadModel};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use store::testing::TestDatabase;
use store::{AppendRequest, EventStore, ExpectedVersion, StreamWrite};
use uuid::Uuid;

const WORDS: [&str; 12] = [
    "appointment",
    "results",
    "invoice",
    "prescription",
    "physio",
    "referral",
    "vaccine",
    "allergy",
    "xray",
    "blood",
    "dental",
    "followup",
];
const PER_CONVERSATION: usize = 10;
const QUERIES: usize = 200;

fn uuid(rng: &mut StdRng) -> Uuid {
    Uuid::from_u128(rng.gen())
}

/// Appends `messages` messages in conversations of ten, deterministically.
async fn generate(store: &dyn EventStore, messages: usize, receptionist: Actor) -> Vec<PatientId> {
    let mut rng = StdRng::seed_from_u64(7);
    let patients: Vec<PatientId> = (0..(messages / 20).max(1))
        .map(|_| PatientId(uuid(&mut rng)))
        .collect();
    let conversations = messages / PER_CONVERSATION;
    let started = Instant::now();
    let mut batch: Vec<StreamWrite> = Vec::new();
    for c in 0..conversations {
        let conversation_id = ConversationId(uuid(&mut rng));
        let patient_id = patients[rng.gen_range(0..patients.len())];
        let patient = Actor {
            id: patient_id.0,
            role: Role::Patient,
        };
        let mut events = vec![Event::ConversationStarted(ConversationStarted {
            conversation_id,
            patient_id,
            counterpart: Counterpart::Reception,
            initiator: patient,
        })];
        for m in 0..PER_CONVERSATION {
            let message_id = MessageId(uuid(&mut rng));
            let inbound = m % 2 == 0;
            let body = (0..8)
                .map(|_| WORDS[rng.gen_range(0..WORDS.len())])
                .collect::<Vec<_>>()
                .join(" ");
            events.push(Event::MessageSent(MessageSent {
                conversation_id,
                message_id,
                channel: [Channel::Portal, Channel::Sms, Channel::Email][rng.gen_range(0..3)],
                direction: if inbound {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                },
                author: if inbound { patient } else { receptionist },
                subject: Some(format!("About {}", WORDS[rng.gen_range(0..WORDS.len())])),
                body,
                attachments: vec![],
                delivery_status: None,
            }));
            if rng.gen_bool(0.5) {
                events.push(Event::StatusChanged(StatusChanged {
                    conversation_id,
                    message_id,
                    status: MessageStatus::Read,
                }));
            }
            if rng.gen_bool(0.05) {
                events.push(Event::MessageStarred(MessageStarred {
                    conversation_id,
                    message_id,
                    staff_id: StaffId(receptionist.id),
                }));
            }
        }
        let actor = receptionist;
        let encoded = events
            .iter()
            .map(|e| {
                codec::encode(
                    e,
                    Uuid::new_v4(),
                    actor,
                    Utc::now(),
                    &EventMetadata::default(),
                )
            })
            .collect();
        batch.push(StreamWrite {
            stream: format!("conversation-{}", conversation_id),
            expected: ExpectedVersion::NoStream,
            events: encoded,
        });
        if batch.len() == 100 || c + 1 == conversations {
            store
                .append(AppendRequest {
                    writes: std::mem::take(&mut batch),
                    idempotency: None,
                })
                .await
                .unwrap();
            if (c + 1) % 2_000 == 0 || c + 1 == conversations {
                eprintln!(
                    "  generated {} conversations ({:.0}/s)",
                    c + 1,
                    (c + 1) as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
    }
    patients
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1_000.0
}

async fn latency<F, Fut>(name: &str, backend: &str, mut query: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(QUERIES);
    for i in 0..QUERIES {
        let started = Instant::now();
        query(i).await;
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "| {backend:<10} | {name:<34} | {:>8.2} | {:>8.2} |",
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );
}

async fn run(backend: &str, store: Arc<dyn EventStore>, model: Arc<SqlReadModel>, messages: usize) {
    let receptionist = Actor {
        id: Uuid::from_u128(1),
        role: Role::Receptionist,
    };
    eprintln!("{backend}: generating {messages} messages…");
    let patients = generate(&*store, messages, receptionist).await;
    let head = store.head_position().await.unwrap();
    eprintln!("{backend}: rebuilding from {head} events…");
    let started = Instant::now();
    let mut last_report = Instant::now();
    projections::replay(&*store, &model, None, None, |p| {
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "  replay at {}/{} ({:.0} events/s, ETA {}s)",
                p.position,
                p.head,
                p.events_per_sec,
                p.eta.as_secs()
            );
            last_report = Instant::now();
        }
    })
    .await
    .unwrap();
    let rate = head as f64 / started.elapsed().as_secs_f64();
    println!("| {backend:<10} | rebuild of {head} events             | {rate:>8.0} events/s |");
    let page = |limit| PageRequest {
        limit,
        cursor: None,
    };
    let patient_viewer = |i: usize| Actor {
        id: patients[i % patients.len()].0,
        role: Role::Patient,
    };
    let m = &model;
    let patients = &patients;
    latency("inbox, newest first", backend, |_| async move {
        m.list_conversations(&receptionist, &ConversationFilter::default(), &page(50))
            .await
            .unwrap();
    })
    .await;
    latency("inbox of one patient (patient)", backend, |i| async move {
        m.list_conversations(
            &patient_viewer(i),
            &ConversationFilter::default(),
            &page(50),
        )
        .await
        .unwrap();
    })
    .await;
    latency("inbox status=unread", backend, |_| async move {
        m.list_conversations(
            &receptionist,
            &ConversationFilter {
                status: Some(ConversationStatus::Unread),
                ..Default::default()
            },
            &page(50),
        )
        .await
        .unwrap();
    })
    .await;
    latency("inbox channel=sms", backend, |_| async move {
        m.list_conversations(
            &receptionist,
            &ConversationFilter {
                channel: Some(Channel::Sms),
                ..Default::default()
            },
            &page(50),
        )
        .await
        .unwrap();
    })
    .await;
    latency("inbox starred", backend, |_| async move {
        m.list_conversations(
            &receptionist,
            &ConversationFilter {
                starred: Some(true),
                ..Default::default()
            },
            &page(50),
        )
        .await
        .unwrap();
    })
    .await;
    latency("inbox q=<word>", backend, |i| async move {
        m.list_conversations(
            &receptionist,
            &ConversationFilter {
                q: Some(WORDS[i % WORDS.len()].into()),
                ..Default::default()
            },
            &page(50),
        )
        .await
        .unwrap();
    })
    .await;
    latency("messages, newest first", backend, |_| async move {
        m.search_messages(&receptionist, &MessageFilter::default(), &page(50))
            .await
            .unwrap();
    })
    .await;
    latency(
        "messages channel+direction+status",
        backend,
        |_| async move {
            m.search_messages(
                &receptionist,
                &MessageFilter {
                    channel: Some(Channel::Email),
                    direction: Some(Direction::Inbound),
                    status: Some(ConversationStatus::Read),
                    ..Default::default()
                },
                &page(50),
            )
            .await
            .unwrap();
        },
    )
    .await;
    latency("messages q=<two words>", backend, |i| async move {
        m.search_messages(
            &receptionist,
            &MessageFilter {
                q: Some(format!("{} {}", WORDS[i % 12], WORDS[(i + 5) % 12])),
                ..Default::default()
            },
            &page(50),
        )
        .await
        .unwrap();
    })
    .await;
    latency("messages patient_id", backend, |i| async move {
        m.search_messages(
            &receptionist,
            &MessageFilter {
                patient_id: Some(patients[i % patients.len()]),
                ..Default::default()
            },
            &page(50),
        )
        .await
        .unwrap();
    })
    .await;
    latency("messages deep page (cursor)", backend, |_| async move {
        let mut cursor = None;
        for _ in 0..5 {
            cursor = m
                .search_messages(
                    &receptionist,
                    &MessageFilter::default(),
                    &PageRequest { limit: 200, cursor },
                )
                .await
                .unwrap()
                .next_cursor;
        }
    })
    .await;
}

#[tokio::main]
async fn main() {
    let messages: usize = std::env::var("HUB_BENCH_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    println!("| backend    | query shape                        | p50 ms   | p99 ms   |");
    println!("|------------|------------------------------------|----------|----------|");
    let dir = tempfile::tempdir().unwrap();
    let store = store::open_store(None, &dir.path().join("events.db"))
        .await
        .unwrap();
    let model = projections::open_read_model(None, &dir.path().join("readmodel.db"))
        .await
        .unwrap();
    run("SQLite", store, model, messages).await;
    let database = TestDatabase::create().await.unwrap();
    let store = store::open_store(Some(&database.url), &dir.path().join("unused.db"))
        .await
        .unwrap();
    let model = projections::open_read_model(Some(&database.url), &dir.path().join("unused-rm.db"))
        .await
        .unwrap();
    run("PostgreSQL", store, model, messages).await;
    let _ = database.drop_database().await;
}
