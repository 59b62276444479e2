//! The reporting tables against a plain in-memory reference built from the same events, on
//! both backends: random sends, receipts, call logs, delivery reports, archives and reopenings
//! spread over several days; a projector killed mid-way; incremental versus rebuilt (the whole
//! read models, and the reporting projection alone); the summary the report page shows; and
//! `replay_projection` while the projectors run and events keep coming.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use domain::command::{
    Context, ConversationCommand, Draft, LogCall, ReceiveMessage, Recipient, SendMessage,
    SetArchived, StartConversation,
};
use domain::contact::{EmailAddress, PatientContact, PhoneNumber};
use domain::conversation::{Conversation, ConversationScope};
use domain::event::{DeliveryStatusChanged, PatientRegistered};
use domain::patient::Patient;
use domain::status::DeliveryStatus;
use domain::{
    Actor, Aggregate, Channel, ConversationId, Direction, Event, EventMetadata, MessageId,
    PatientId, Permission, Principal, Role,
};
use eventlog::codec;
use projections::{MessageFilter, PageRequest, Projection, ReadModel, ReportSummary, SqlReadModel};
use proptest::prelude::*;
use sqlx::Row;
use store::{AppendRequest, EventStore, ExpectedVersion, StreamWrite};
use uuid::Uuid;

use crate::bench::{run_cases, Bench};

/// Words every body carries: none may reach a reporting table.
const BODY_MARK: &str = "confidential";

/// The patients' name: it may not reach a reporting table either.
const PATIENT_NAME: &str = "Pamela Private";

/// How many days the summary covers in these tests.
const WINDOW_DAYS: u32 = 3;

/// The actors of a scenario, the aggregates their commands are decided on, and the clock.
struct Clinic {
    patients: Vec<PatientId>,
    /// Two patients, a receptionist, a doctor, an admin, and the hub itself.
    principals: Vec<Principal>,
    patient_state: HashMap<PatientId, Patient>,
    conversations: Vec<ConversationId>,
    conversation_state: HashMap<ConversationId, Conversation>,
    /// Outbound messages on external channels and their delivery status now.
    deliveries: Vec<(ConversationId, MessageId, DeliveryStatus)>,
    now: DateTime<Utc>,
}

impl Clinic {
    async fn new(store: &dyn EventStore) -> Clinic {
        let patients = vec![PatientId(Uuid::new_v4()), PatientId(Uuid::new_v4())];
        let staff = |role| {
            Principal::new(
                Actor {
                    id: Uuid::new_v4(),
                    role,
                },
                [Permission::SendMessages],
            )
        };
        let patient = |id: PatientId| {
            Principal::new(
                Actor {
                    id: id.0,
                    role: Role::Patient,
                },
                [],
            )
        };
        let mut clinic = Clinic {
            principals: vec![
                patient(patients[0]),
                patient(patients[1]),
                staff(Role::Receptionist),
                staff(Role::Doctor),
                staff(Role::Admin),
                Principal::new(Actor::system(), []),
            ],
            patients: patients.clone(),
            patient_state: HashMap::new(),
            conversations: Vec::new(),
            conversation_state: HashMap::new(),
            deliveries: Vec::new(),
            now: Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap(),
        };
        for patient in patients {
            let contact = PatientContact {
                name: PATIENT_NAME.into(),
                phone: Some(PhoneNumber::parse("+4915112345678").unwrap()),
                email: Some(EmailAddress::parse("pamela@example.org").unwrap()),
                portal_enabled: true,
                whatsapp_opt_in: false,
                time_zone: None,
            };
            let admin = clinic.principals[4].actor;
            clinic
                .commit(
                    store,
                    admin,
                    vec![Event::PatientRegistered(PatientRegistered {
                        patient_id: patient,
                        contact,
                    })],
                )
                .await;
        }
        clinic
    }

    /// Appends events at the clinic's clock and applies them to the states.
    async fn commit(&mut self, store: &dyn EventStore, actor: Actor, events: Vec<Event>) {
        let mut writes: Vec<StreamWrite> = Vec::new();
        for event in &events {
            let encoded = codec::encode(
                event,
                Uuid::new_v4(),
                actor,
                self.now,
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
            match event {
                Event::MessageSent(e) if e.delivery_status == Some(DeliveryStatus::Queued) => {
                    self.deliveries
                        .push((e.conversation_id, e.message_id, DeliveryStatus::Queued));
                }
                Event::DeliveryStatusChanged(e) => {
                    if let Some(d) = self.deliveries.iter_mut().find(|d| d.1 == e.message_id) {
                        d.2 = e.status;
                    }
                }
                _ => {}
            }
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

    /// Moves the clock, then decides and commits one random step; rejected commands are skipped.
    async fn step(&mut self, store: &dyn EventStore, step: &Step) {
        self.now += chrono::Duration::seconds(step.advance);
        if step.kind >= 7 {
            return self.delivery_report(store, step).await;
        }
        let principal = self.principals[step.actor % 5].clone();
        let channel = [Channel::Portal, Channel::Sms, Channel::Email][step.channel % 3];
        let draft = Draft {
            channel,
            subject: Some(format!("About {BODY_MARK} things")),
            body: format!("A {BODY_MARK} note {}", step.target % 97),
            attachments: vec![],
        };
        let existing = (!self.conversations.is_empty())
            .then(|| self.conversations[step.target % self.conversations.len()]);
        let (principal, command) = match (step.kind, existing) {
            (0, _) | (_, None) => {
                let patient = match principal.role() {
                    Role::Patient => PatientId(principal.actor.id),
                    _ => self.patients[step.target % self.patients.len()],
                };
                let command = ConversationCommand::StartConversation(StartConversation {
                    conversation_id: ConversationId(Uuid::new_v4()),
                    message_id: MessageId(Uuid::new_v4()),
                    patient_id: patient,
                    to: Some(Recipient::Reception),
                    draft,
                    template: None,
                });
                (principal, command)
            }
            (1 | 2, Some(conversation_id)) => (
                principal,
                ConversationCommand::SendMessage(SendMessage {
                    conversation_id,
                    message_id: MessageId(Uuid::new_v4()),
                    draft,
                    template: None,
                }),
            ),
            (3, Some(conversation_id)) => {
                let record = self.conversation_state[&conversation_id].0.clone().unwrap();
                let command = ConversationCommand::ReceiveMessage(ReceiveMessage {
                    conversation_id,
                    message_id: MessageId(Uuid::new_v4()),
                    patient_id: record.patient_id,
                    channel: [Channel::Sms, Channel::Email][step.channel % 2],
                    subject: draft.subject,
                    body: draft.body,
                    attachments: vec![],
                    provider_message_id: Uuid::new_v4().to_string(),
                    unmatched_id: None,
                    received_at: None,
                });
                (self.principals[5].clone(), command)
            }
            (4, Some(conversation_id)) => (
                principal,
                ConversationCommand::LogCall(LogCall {
                    conversation_id,
                    message_id: MessageId(Uuid::new_v4()),
                    occurred_at: self.now,
                    duration_seconds: 60,
                    direction: [Direction::Inbound, Direction::Outbound][step.channel % 2],
                    summary: format!("A {BODY_MARK} call"),
                }),
            ),
            (_, Some(conversation_id)) => (
                principal,
                ConversationCommand::SetArchived(SetArchived {
                    conversation_id,
                    archived: !step.target.is_multiple_of(3),
                }),
            ),
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
        let context = Context {
            principal: &principal,
            now: self.now,
        };
        if let Ok(events) = scope.decide(&command, &context) {
            if events.is_empty() {
                return;
            }
            if let ConversationCommand::StartConversation(c) = &command {
                self.conversations.push(c.conversation_id);
            }
            self.commit(store, principal.actor, events).await;
        }
    }

    /// A provider's report moving one outbound message's delivery status forward.
    async fn delivery_report(&mut self, store: &dyn EventStore, step: &Step) {
        if self.deliveries.is_empty() {
            return;
        }
        let (conversation_id, message_id, status) =
            self.deliveries[step.target % self.deliveries.len()];
        let next = [
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ][step.channel % 3];
        if !status.advances_to(next) {
            return;
        }
        let report = Event::DeliveryStatusChanged(DeliveryStatusChanged {
            conversation_id,
            message_id,
            status: next,
            reason: (next == DeliveryStatus::Failed).then(|| "30007".to_owned()),
            provider_message_ids: vec![format!("SM{}", step.target)],
        });
        self.commit(store, Actor::system(), vec![report]).await;
    }
}

#[derive(Debug, Clone)]
struct Step {
    actor: usize,
    kind: usize,
    target: usize,
    channel: usize,
    /// Seconds the clock moves first (up to 20 hours: a scenario spans several days).
    advance: i64,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0..5usize,
        0..9usize,
        any::<usize>(),
        0..6usize,
        prop_oneof![0..120i64, 0..72_000i64],
    )
        .prop_map(|(actor, kind, target, channel, advance)| Step {
            actor,
            kind,
            target,
            channel,
            advance,
        })
}

/// A `report_daily` row's counts: messages, queued, sent, delivered, failed.
type Counts = [i64; 5];

/// A `report_first_responses` row: conversation, channel, received_at, position, answer
/// message, answer channel, answered_at, response seconds.
type ResponseRow = (
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// A `report_conversations` row: counterpart, started_at, archived, archive count, last
/// archived, reopen count, last reopened.
type LifecycleRow = (
    String,
    String,
    i64,
    i64,
    Option<String>,
    i64,
    Option<String>,
);

/// What the reporting tables hold (or should).
#[derive(Debug, Default, PartialEq, Eq)]
struct Tables {
    daily: BTreeMap<(String, String, String), Counts>,
    responses: BTreeMap<String, ResponseRow>,
    conversations: BTreeMap<String, LifecycleRow>,
}

/// Read-model time text (RFC 3339 UTC, microseconds).
fn text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// An entry of the reference's timelines.
struct Entry {
    id: MessageId,
    position: u64,
    at: DateTime<Utc>,
    channel: Channel,
    direction: Direction,
}

/// The reference, from the event log in plain terms: each day's counts from each message's
/// final delivery status, each inbound message's answer found by scanning its conversation's
/// later entries, each conversation's archive history.
async fn reference(store: &dyn EventStore) -> Tables {
    let mut entries: BTreeMap<ConversationId, Vec<Entry>> = BTreeMap::new();
    let mut delivery: HashMap<MessageId, ((String, String, String), DeliveryStatus)> =
        HashMap::new();
    let mut tables = Tables::default();
    let mut after = 0;
    loop {
        let batch = store.read_all(after, 1000, None).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = last.position;
        for record in &batch {
            let envelope = codec::decode(record, store.keyring()).unwrap();
            let at = envelope.occurred_at;
            let entry = match &envelope.event {
                Event::MessageSent(e) => {
                    Some((e.conversation_id, e.message_id, e.channel, e.direction))
                }
                Event::MessageReceived(e) => Some((
                    e.conversation_id,
                    e.message_id,
                    e.channel,
                    Direction::Inbound,
                )),
                Event::CallLogged(e) => {
                    Some((e.conversation_id, e.message_id, Channel::Call, e.direction))
                }
                _ => None,
            };
            if let Some((conversation, id, channel, direction)) = entry {
                let key = (
                    at.date_naive().to_string(),
                    channel.as_str().to_owned(),
                    direction.as_str().to_owned(),
                );
                tables.daily.entry(key.clone()).or_default()[0] += 1;
                if let Event::MessageSent(e) = &envelope.event {
                    if let Some(status) = e.delivery_status {
                        delivery.insert(id, (key, status));
                    }
                }
                entries.entry(conversation).or_default().push(Entry {
                    id,
                    position: record.position,
                    at,
                    channel,
                    direction,
                });
            }
            match &envelope.event {
                Event::DeliveryStatusChanged(e) => {
                    if let Some(d) = delivery.get_mut(&e.message_id) {
                        d.1 = e.status;
                    }
                }
                Event::ConversationStarted(e) => {
                    tables.conversations.insert(
                        e.conversation_id.to_string(),
                        (
                            e.counterpart.as_str().to_owned(),
                            text(at),
                            0,
                            0,
                            None,
                            0,
                            None,
                        ),
                    );
                }
                Event::ConversationArchived(e) => {
                    let c = tables
                        .conversations
                        .get_mut(&e.conversation_id.to_string())
                        .unwrap();
                    (c.2, c.3, c.4) = (1, c.3 + 1, Some(text(at)));
                }
                Event::ConversationReopened(e) => {
                    let c = tables
                        .conversations
                        .get_mut(&e.conversation_id.to_string())
                        .unwrap();
                    (c.2, c.5, c.6) = (0, c.5 + 1, Some(text(at)));
                }
                _ => {}
            }
        }
    }
    for (key, status) in delivery.into_values() {
        let slot = match status {
            DeliveryStatus::Queued => 1,
            DeliveryStatus::Sent => 2,
            DeliveryStatus::Delivered => 3,
            DeliveryStatus::Failed => 4,
        };
        tables.daily.get_mut(&key).unwrap()[slot] += 1;
    }
    for (conversation, timeline) in &entries {
        for (i, m) in timeline.iter().enumerate() {
            if m.direction != Direction::Inbound || m.channel == Channel::Call {
                continue;
            }
            let answer = timeline[i + 1..]
                .iter()
                .find(|a| a.direction == Direction::Outbound || a.channel == Channel::Call);
            tables.responses.insert(
                m.id.to_string(),
                (
                    conversation.to_string(),
                    m.channel.as_str().to_owned(),
                    text(m.at),
                    m.position as i64,
                    answer.map(|a| a.id.to_string()),
                    answer.map(|a| a.channel.as_str().to_owned()),
                    answer.map(|a| text(a.at)),
                    answer.map(|a| (a.at - m.at).num_seconds().max(0)),
                ),
            );
        }
    }
    tables
}

/// What the live reporting tables hold; also checks that no cell carries a name or a body.
async fn stored(bench: &Bench) -> Tables {
    let pool = bench.pool().await;
    let mut tables = Tables::default();
    let daily = bench.table(&pool, "report_daily").await;
    for row in sqlx::query(&format!(
        "SELECT day, channel, direction, messages, queued, sent, delivered, failed FROM {daily}"
    ))
    .fetch_all(&pool)
    .await
    .unwrap()
    {
        let counts: Counts = std::array::from_fn(|i| row.get::<i64, _>(i + 3));
        tables
            .daily
            .insert((row.get(0), row.get(1), row.get(2)), counts);
    }
    let responses = bench.table(&pool, "report_first_responses").await;
    for row in sqlx::query(&format!(
        "SELECT message_id, conversation_id, channel, received_at, position, answer_message_id, answer_channel, answered_at, response_seconds FROM {responses}"
    ))
    .fetch_all(&pool)
    .await
    .unwrap()
    {
        tables.responses.insert(
            row.get(0),
            (
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                row.get(5),
                row.get(6),
                row.get(7),
                row.get(8),
            ),
        );
    }
    let conversations = bench.table(&pool, "report_conversations").await;
    for row in sqlx::query(&format!(
        "SELECT conversation_id, counterpart, started_at, archived, archive_count, last_archived_at, reopen_count, last_reopened_at FROM {conversations}"
    ))
    .fetch_all(&pool)
    .await
    .unwrap()
    {
        tables.conversations.insert(
            row.get(0),
            (
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                row.get(5),
                row.get(6),
                row.get(7),
            ),
        );
    }
    let deliveries = bench.table(&pool, "report_deliveries").await;
    let delivery_cells: Vec<String> = sqlx::query(&format!(
        "SELECT message_id || day || channel || direction || delivery_status FROM {deliveries}"
    ))
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get(0))
    .collect();
    let cells = format!("{tables:?}{delivery_cells:?}");
    for personal in [BODY_MARK, "Pamela", "example.org", "+49151"] {
        assert!(!cells.contains(personal), "{personal} in a reporting table");
    }
    pool.close().await;
    tables
}

/// The summary the report page would show, computed from the reference's rows.
fn expected_summary(reference: &Tables, now: DateTime<Utc>) -> serde_json::Value {
    let to = now.date_naive();
    let from = to
        .checked_sub_days(Days::new(u64::from(WINDOW_DAYS - 1)))
        .unwrap();
    let in_window = |day: &str| {
        let day: NaiveDate = day.parse().unwrap();
        from <= day && day <= to
    };
    let mut answered: Vec<i64> = Vec::new();
    let mut unanswered = 0;
    for r in reference.responses.values() {
        if in_window(&r.2[..10]) {
            match r.7 {
                Some(seconds) => answered.push(seconds),
                None => unanswered += 1,
            }
        }
    }
    answered.sort();
    let rank = |p: f64| {
        (!answered.is_empty()).then(|| answered[(p * answered.len() as f64).ceil() as usize - 1])
    };
    let channels: Vec<serde_json::Value> = Channel::ALL
        .iter()
        .map(|channel| {
            let mut totals = [0i64; 6];
            for ((day, c, direction), counts) in &reference.daily {
                if c == channel.as_str() && in_window(day) {
                    totals[usize::from(direction == "outbound")] += counts[0];
                    for i in 1..5 {
                        totals[i + 1] += counts[i];
                    }
                }
            }
            serde_json::json!({
                "channel": channel.as_str(), "inbound": totals[0], "outbound": totals[1],
                "queued": totals[2], "sent": totals[3], "delivered": totals[4], "failed": totals[5],
            })
        })
        .collect();
    let daily: Vec<serde_json::Value> = reference
        .daily
        .iter()
        .filter(|((day, ..), _)| in_window(day))
        .map(|((day, channel, direction), c)| {
            serde_json::json!({
                "day": day, "channel": channel, "direction": direction, "messages": c[0],
                "queued": c[1], "sent": c[2], "delivered": c[3], "failed": c[4],
            })
        })
        .collect();
    let waiting: Vec<&ResponseRow> = reference
        .responses
        .values()
        .filter(|r| r.4.is_none() && reference.conversations[&r.0].2 == 0)
        .collect();
    let oldest = waiting
        .iter()
        .map(|r| {
            DateTime::parse_from_rfc3339(&r.2)
                .unwrap()
                .with_timezone(&Utc)
        })
        .min();
    let conversations: BTreeSet<&String> = waiting.iter().map(|r| &r.0).collect();
    serde_json::json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "days": WINDOW_DAYS,
        "first_response": {
            "answered": answered.len(),
            "unanswered": unanswered,
            "median_seconds": rank(0.5),
            "p90_seconds": rank(0.9),
        },
        "channels": channels,
        "daily": daily,
        "backlog": {
            "conversations": conversations.len(),
            "messages": waiting.len(),
            "oldest_received_at": oldest,
            "oldest_age_seconds": oldest.map(|t| (now - t).num_seconds()),
        },
    })
}

/// The stored tables and the summary match the reference.
async fn check(bench: &Bench, clinic: &Clinic, what: &str) {
    bench.caught_up().await;
    let reference = reference(&*bench.store).await;
    assert_eq!(stored(bench).await, reference, "{what}: tables");
    let summary: ReportSummary = bench
        .model
        .report_summary(WINDOW_DAYS, clinic.now)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&summary).unwrap(),
        expected_summary(&reference, clinic.now),
        "{what}: summary"
    );
}

async fn scenario(postgres: bool, steps: Vec<Step>) {
    let mut bench = Bench::new(postgres).await;
    let mut clinic = Clinic::new(&*bench.store).await;
    for (i, step) in steps.iter().enumerate() {
        clinic.step(&*bench.store, step).await;
        // Kill the projectors part-way and start others: nothing lost, nothing twice.
        if i == steps.len() / 2 {
            bench.kill_projectors().await;
            bench.start_projectors().await;
        }
    }
    check(&bench, &clinic, "incremental").await;
    // The reporting projection rebuilt alone, in place, while the projectors run.
    let head = bench.store.head_position().await.unwrap();
    let outcome =
        projections::replay_projection(&*bench.store, &bench.model, Projection::Reporting, |_| {})
            .await
            .unwrap();
    assert_eq!(outcome.position, head);
    check(&bench, &clinic, "reporting rebuilt").await;
    // Everything rebuilt into a new generation.
    projections::replay(&*bench.store, &bench.model, None, None, |_| {})
        .await
        .unwrap();
    check(&bench, &clinic, "replayed").await;
    bench.finish().await;
}

fn run_scenarios(postgres: bool, cases: u32) {
    run_cases(cases, prop::collection::vec(step(), 1..60), |steps| {
        scenario(postgres, steps)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reporting_matches_the_reference() {
    run_scenarios(false, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reporting_matches_the_reference() {
    run_scenarios(true, 6);
}

/// Every message, as an admin's search lists it.
async fn all_messages(model: &SqlReadModel, admin: &Actor) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = model
            .search_messages(
                admin,
                &MessageFilter::default(),
                &PageRequest { limit: 200, cursor },
            )
            .await
            .unwrap();
        ids.extend(page.items.iter().map(|m| serde_json::to_string(m).unwrap()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
}

/// A scripted run of steps, varied enough to touch every table.
fn script(n: usize) -> Vec<Step> {
    (0..n)
        .map(|i| Step {
            actor: i % 5,
            kind: i % 9,
            target: i * 7,
            channel: (i + i / 9) % 6,
            advance: (i as i64 % 4) * 5_000,
        })
        .collect()
}

/// `replay_projection` rebuilds one projection in place while the projectors run and new
/// events arrive: the others are left as they are, the rebuilt one matches the reference, and
/// its worker carries on from the rebuilt checkpoint. The inbox and the directories rebuild
/// in place the same way.
async fn one_projection_in_place(postgres: bool) {
    let bench = Bench::new(postgres).await;
    let mut clinic = Clinic::new(&*bench.store).await;
    for step in script(80) {
        clinic.step(&*bench.store, &step).await;
    }
    bench.caught_up().await;
    let admin = clinic.principals[4].actor;
    let inbox_before = all_messages(&bench.model, &admin).await;
    let more = script(40);
    let (rebuilt, ()) = tokio::join!(
        projections::replay_projection(&*bench.store, &bench.model, Projection::Reporting, |_| {}),
        async {
            for step in &more {
                clinic.step(&*bench.store, step).await;
                tokio::task::yield_now().await;
            }
        }
    );
    let rebuilt = rebuilt.unwrap();
    assert!(rebuilt.position > 0);
    check(&bench, &clinic, "rebuilt while events arrived").await;
    // The script touches every kind of row.
    let reference = reference(&*bench.store).await;
    let responses = reference.responses.values();
    assert!(
        responses.clone().any(|r| r.4.is_none()),
        "an unanswered message"
    );
    assert!(
        responses.clone().any(|r| r.5.as_deref() == Some("call")),
        "a call answers"
    );
    assert!(
        responses.clone().any(|r| r.7 > Some(0)),
        "a response takes time"
    );
    assert!(reference.daily.len() > 6, "several days and channels");
    for (slot, outcome) in ["queued", "sent", "delivered", "failed"].iter().enumerate() {
        assert!(
            reference.daily.values().any(|c| c[slot + 1] > 0),
            "a message {outcome}"
        );
    }
    let lifecycles = reference.conversations.values();
    assert!(
        lifecycles.clone().any(|c| c.3 > 0 && c.5 > 0),
        "archived and reopened"
    );
    let inbox_after = all_messages(&bench.model, &admin).await;
    assert!(inbox_after.len() >= inbox_before.len());
    for projection in [Projection::Inbox, Projection::PatientDirectory] {
        let head = bench.store.head_position().await.unwrap();
        let outcome =
            projections::replay_projection(&*bench.store, &bench.model, projection, |_| {})
                .await
                .unwrap();
        assert_eq!(outcome.position, head);
        assert_eq!(
            bench.model.projection_checkpoint(projection).await.unwrap(),
            head
        );
    }
    bench.caught_up().await;
    assert_eq!(all_messages(&bench.model, &admin).await, inbox_after);
    check(&bench, &clinic, "after rebuilding the others").await;
    bench.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_one_projection_rebuilds_in_place() {
    one_projection_in_place(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_one_projection_rebuilds_in_place() {
    one_projection_in_place(true).await;
}

/// The example queries of `projections/README.md`, each ` ```sql ` block of its section.
fn readme_queries() -> Vec<String> {
    let readme = include_str!("../../../../projections/README.md");
    let section = readme
        .split("### Example reporting queries")
        .nth(1)
        .and_then(|rest| rest.split("\n### ").next())
        .expect("the README's example queries");
    section
        .split("```sql\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .map(str::to_owned)
        .collect()
}

/// The README's reporting queries run on PostgreSQL against real rows, and find them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_readme_queries_run() {
    let bench = Bench::new(true).await;
    let mut clinic = Clinic::new(&*bench.store).await;
    for step in script(80) {
        clinic.step(&*bench.store, &step).await;
    }
    // Something recent for the 30-day window, and a message left waiting.
    clinic.now = Utc::now();
    for kind in [0, 3] {
        let step = Step {
            actor: 0,
            kind,
            target: 1,
            channel: 1,
            advance: 0,
        };
        clinic.step(&*bench.store, &step).await;
    }
    bench.caught_up().await;
    let any = bench.pool().await;
    let schema = bench.table(&any, "").await;
    let pool = sqlx::PgPool::connect(&bench.url().unwrap()).await.unwrap();
    let queries = readme_queries();
    assert_eq!(queries.len(), 3);
    for query in queries {
        let query = query.replace("inbox_3.", &schema);
        let rows = sqlx::query(&query)
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|e| panic!("{query}\n{e}"));
        assert!(!rows.is_empty(), "{query} found nothing");
    }
    pool.close().await;
    any.close().await;
    bench.finish().await;
}
