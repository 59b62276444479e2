//! The executor: every write of the hub goes through [`Executor::execute`].
//!
//! # One writer per stream
//!
//! Each decision names a *lane*: the stream it contends on (a conversation for a reply, the
//! patient for a first message, the dispatch stream for a claim). Decisions aimed at one lane
//! queue up and one task drains the queue: it takes everything that queued while the previous
//! append ran, decides each in turn on the evolving states (a later reply sees the earlier
//! one), and appends them all in one atomic append. Each caller still gets its own answer: its
//! own refusal, or its own events and position.
//!
//! So writers of one hot conversation on one node never clash on its version: they are decided
//! in order, and they share commits, so sixteen of them cost a few appends rather than sixteen
//! commits that all but one would lose. The alternative, letting every caller decide on the same
//! cached state and retry the losers, is what failed under contention: with N writers each
//! round has one winner and N-1 retries.
//!
//! # Across nodes
//!
//! Another node may have written a stream since this node cached it. A batch is first decided
//! on the cached states; the append checks every stream's version, and a clash re-decides the
//! whole batch on states read afresh, a bounded number of times with a random back-off. A
//! refusal or a no-op decided on cached states is never answered as such: it is decided again
//! on fresh states after the batch (a stale state can refuse what the current one allows).
//!
//! # Idempotency keys
//!
//! The store records one idempotency key per append, so a decision that carries a key is
//! appended in a batch of its own; a repeated key is answered with the first time's events
//! before the decision runs at all.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use domain::{Actor, Event, EventMetadata};
use eventlog::codec;
use futures::FutureExt;
use rand::Rng;
use store::{AppendRequest, EventStore, IdempotencyKey, RecordedEvent, StoreError, StreamWrite};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::cache::{Cached, Caches};
use crate::error::CommandError;
use crate::sealing;
use crate::workspace::Workspace;

/// How often a batch is decided before its commands answer [`CommandError::Conflict`].
const MAX_ATTEMPTS: u32 = 12;
/// The most commands one append carries.
const MAX_BATCH: usize = 64;
/// Streams kept per aggregate type in the caches.
const CACHE_CAPACITY: usize = 50_000;

/// One command's decision: what it reads and what it writes.
#[async_trait::async_trait]
pub trait Decision: Send + 'static {
    /// What the caller learns besides the events (for example, why nothing was written).
    type Answer: Send + 'static;

    /// The stream this decision contends on; decisions on one lane are decided one at a time.
    fn lane(&self) -> String;

    /// What kind of command this is, for metrics: a name from a fixed set (never an id or any
    /// other value of the command), such as `send_message`. By default the type's name.
    fn kind(&self) -> &'static str {
        crate::metrics::type_kind::<Self>()
    }

    /// Reads the states it needs from `ws` and decides: the events to append (none when there
    /// is nothing to do) and the answer. A domain refusal is an error.
    async fn decide(
        &mut self,
        ws: &mut Workspace<'_>,
    ) -> Result<Decided<Self::Answer>, CommandError>;
}

/// What a decision decided.
#[derive(Debug)]
pub struct Decided<T> {
    /// The events to append, in order.
    pub events: Vec<Event>,
    /// The answer for the caller.
    pub answer: T,
}

impl<T> Decided<T> {
    /// A decision to append `events` with `answer`.
    pub fn new(events: Vec<Event>, answer: T) -> Self {
        Decided { events, answer }
    }
}

impl Decided<()> {
    /// A decision that appends `events` and answers nothing else.
    pub fn events(events: Vec<Event>) -> Self {
        Decided { events, answer: () }
    }
}

/// Who issues a command, recorded in the envelope of every event it appends.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The actor.
    pub actor: Actor,
    /// Correlation, causation and idempotency key.
    pub metadata: EventMetadata,
}

impl Origin {
    /// A command by `actor` with a fresh correlation id and no idempotency key.
    pub fn new(actor: Actor) -> Self {
        Origin {
            actor,
            metadata: EventMetadata {
                correlation_id: Some(Uuid::new_v4()),
                ..EventMetadata::default()
            },
        }
    }

    /// The hub itself (dispatchers, provider webhooks).
    pub fn system() -> Self {
        Origin::new(Actor::system())
    }

    fn idempotency(&self) -> Option<IdempotencyKey> {
        self.metadata
            .idempotency_key
            .as_ref()
            .map(|key| IdempotencyKey {
                actor_id: self.actor.id,
                key: key.clone(),
            })
    }
}

/// What a command committed.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The events it appended (or, for a repeated idempotency key, the first time's events).
    pub events: Vec<RecordedEvent>,
    /// The global position to wait for to read this write.
    pub position: u64,
}

/// A command's answer and what it committed.
#[derive(Debug)]
pub struct Executed<T> {
    /// The decision's answer; `None` when a repeated idempotency key answered without deciding.
    pub answer: Option<T>,
    /// The events.
    pub committed: Committed,
}

/// A decision waiting in its lane, with its caller's answer channel.
#[async_trait::async_trait]
trait Job: Send {
    fn origin(&self) -> &Origin;
    fn kind(&self) -> &'static str;
    fn keyed(&self) -> bool;
    async fn decide(&mut self, ws: &mut Workspace<'_>) -> Result<Vec<Event>, CommandError>;
    fn finish(self: Box<Self>, result: Result<Committed, CommandError>);
}

struct Pending<D: Decision> {
    decision: D,
    origin: Origin,
    answer: Option<D::Answer>,
    reply: oneshot::Sender<Result<Executed<D::Answer>, CommandError>>,
}

#[async_trait::async_trait]
impl<D: Decision> Job for Pending<D> {
    fn origin(&self) -> &Origin {
        &self.origin
    }

    fn kind(&self) -> &'static str {
        self.decision.kind()
    }

    fn keyed(&self) -> bool {
        self.origin.metadata.idempotency_key.is_some()
    }

    async fn decide(&mut self, ws: &mut Workspace<'_>) -> Result<Vec<Event>, CommandError> {
        let decided = self.decision.decide(ws).await?;
        self.answer = Some(decided.answer);
        Ok(decided.events)
    }

    fn finish(self: Box<Self>, result: Result<Committed, CommandError>) {
        let answer = self.answer;
        // The caller may have gone away; its command stands either way.
        let _ = self
            .reply
            .send(result.map(|committed| Executed { answer, committed }));
    }
}

/// The one write path: decides commands on cached aggregates and appends their events.
pub struct Executor {
    store: Arc<dyn EventStore>,
    caches: Caches,
    lanes: Mutex<HashMap<String, VecDeque<Box<dyn Job>>>>,
}

impl Executor {
    /// An executor over `store` with empty caches.
    pub fn new(store: Arc<dyn EventStore>) -> Arc<Self> {
        Arc::new(Executor {
            store,
            caches: Caches::new(CACHE_CAPACITY),
            lanes: Mutex::new(HashMap::new()),
        })
    }

    /// The event store commands append to.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The aggregate caches, for reads that need no command (authentication, lookups).
    pub fn caches(&self) -> &Caches {
        &self.caches
    }

    /// The current state of `stream`: the cached fold plus anything appended since.
    pub async fn load<A: Cached>(&self, stream: &str) -> Result<Arc<A>, CommandError> {
        let cache = A::cache(&self.caches);
        Ok(cache.load(self.store.as_ref(), stream).await?.state)
    }

    /// Decides `decision` in its lane and appends its events; answers its own outcome (and
    /// counts it by the decision's kind).
    pub async fn execute<D: Decision>(
        self: &Arc<Self>,
        origin: Origin,
        decision: D,
    ) -> Result<Executed<D::Answer>, CommandError> {
        let kind = decision.kind();
        let result = self.execute_uncounted(origin, decision).await;
        crate::metrics::answered(kind, &result);
        result
    }

    async fn execute_uncounted<D: Decision>(
        self: &Arc<Self>,
        origin: Origin,
        decision: D,
    ) -> Result<Executed<D::Answer>, CommandError> {
        if let Some(key) = origin.idempotency() {
            if let Some(events) = self.store.find_idempotent(&key).await? {
                let committed = self.committed(events).await?;
                return Ok(Executed {
                    answer: None,
                    committed,
                });
            }
        }
        let (reply, answer) = oneshot::channel();
        let lane = decision.lane();
        let job = Box::new(Pending {
            decision,
            origin,
            answer: None,
            reply,
        });
        self.enqueue(lane, job);
        answer.await.unwrap_or_else(|_| {
            Err(CommandError::Store(Arc::new(StoreError::InvalidRequest(
                "the command's writer stopped".into(),
            ))))
        })
    }

    /// Queues a job; the first job of an idle lane starts the lane's writer.
    fn enqueue(self: &Arc<Self>, lane: String, job: Box<dyn Job>) {
        let mut lanes = self.lock_lanes();
        if let Some(queue) = lanes.get_mut(&lane) {
            queue.push_back(job);
            return;
        }
        lanes.insert(lane.clone(), VecDeque::from([job]));
        drop(lanes);
        let executor = self.clone();
        tokio::spawn(async move { executor.drain(lane).await });
    }

    /// The lane's writer: decides and appends batches until the lane's queue is empty. A batch
    /// whose decision panicked is dropped (its callers hear that the writer stopped) and the
    /// lane goes on with the next one.
    async fn drain(self: Arc<Self>, lane: String) {
        loop {
            let batch = self.next_batch(&lane);
            if batch.is_empty() {
                return;
            }
            if AssertUnwindSafe(self.run(batch))
                .catch_unwind()
                .await
                .is_err()
            {
                tracing::error!("a command's decision panicked; its batch was dropped");
            }
        }
    }

    /// Takes what queued: up to [`MAX_BATCH`] jobs without idempotency keys, or one job with a
    /// key. An empty answer retires the lane (the next job starts a new writer).
    fn next_batch(&self, lane: &str) -> Vec<Box<dyn Job>> {
        let mut lanes = self.lock_lanes();
        let Some(queue) = lanes.get_mut(lane) else {
            return Vec::new();
        };
        let mut batch = Vec::new();
        while let Some(job) = queue.front() {
            if batch.len() >= MAX_BATCH || (job.keyed() && !batch.is_empty()) {
                break;
            }
            let keyed = job.keyed();
            batch.extend(queue.pop_front());
            if keyed {
                break;
            }
        }
        if batch.is_empty() {
            lanes.remove(lane);
        }
        batch
    }

    /// Decides a batch and appends it, re-deciding on fresh states after a version clash.
    async fn run(&self, mut jobs: Vec<Box<dyn Job>>) {
        let mut fresh = false;
        let mut attempt = 1;
        while !jobs.is_empty() {
            let mut ws = Workspace::new(self.store.as_ref(), &self.caches, fresh);
            let mut decided: Vec<(Box<dyn Job>, Vec<Uuid>)> = Vec::new();
            let mut answered_later: Vec<(Box<dyn Job>, Result<Committed, CommandError>)> =
                Vec::new();
            let mut undecided: Vec<Box<dyn Job>> = Vec::new();
            let mut writes: Vec<StreamWrite> = Vec::new();
            for mut job in jobs.drain(..) {
                match job.decide(&mut ws).await {
                    Ok(events) if !events.is_empty() => {
                        ws.apply(&events);
                        match sealing::subjects(&mut ws, &events)
                            .await
                            .and_then(|subjects| {
                                encode_into(&mut writes, &ws, job.origin(), &events, &subjects)
                            }) {
                            Ok(ids) => decided.push((job, ids)),
                            Err(error) => job.finish(Err(error)),
                        }
                    }
                    Ok(_) if ws.is_fresh() => {
                        let nothing = self.committed(Vec::new()).await;
                        answered_later.push((job, nothing));
                    }
                    Err(CommandError::Refused(refusal)) if ws.is_fresh() => {
                        answered_later.push((job, Err(CommandError::Refused(refusal))))
                    }
                    // Decided on cached states: only fresh ones may refuse or do nothing.
                    Ok(_) | Err(CommandError::Refused(_)) => undecided.push(job),
                    Err(error) => job.finish(Err(error)),
                }
            }
            if decided.is_empty() {
                finish_all(answered_later);
                jobs = undecided;
                fresh = true;
                continue;
            }
            for write in &mut writes {
                write.expected = ws.expected(&write.stream);
            }
            let idempotency = decided
                .iter()
                .find_map(|(job, _)| job.origin().idempotency());
            let request = AppendRequest {
                writes,
                idempotency,
            };
            match self.store.append(request).await {
                Ok(outcome) => {
                    if !outcome.duplicate {
                        ws.keep(&outcome.events);
                    }
                    for (job, ids) in decided {
                        let events: Vec<RecordedEvent> = if outcome.duplicate {
                            outcome.events.clone()
                        } else {
                            outcome
                                .events
                                .iter()
                                .filter(|e| ids.contains(&e.event_id))
                                .cloned()
                                .collect()
                        };
                        let position = events.iter().map(|e| e.position).max().unwrap_or(0);
                        job.finish(Ok(Committed { events, position }));
                    }
                    finish_all(answered_later);
                    jobs = undecided;
                    fresh = true;
                }
                Err(StoreError::ConcurrencyConflict { .. }) if attempt < MAX_ATTEMPTS => {
                    tracing::debug!(attempt, "version clash; deciding the batch again");
                    jobs = decided.into_iter().map(|(job, _)| job).collect();
                    jobs.extend(answered_later.into_iter().map(|(job, _)| job));
                    // These are decided again because of the clash (the undecided ones would
                    // have been anyway).
                    for job in &jobs {
                        crate::metrics::conflict_retry(job.kind());
                    }
                    jobs.extend(undecided);
                    fresh = true;
                    let backoff = rand::thread_rng().gen_range(1..=(2u64 << attempt.min(6)));
                    tokio::time::sleep(Duration::from_millis(backoff)).await;
                    attempt += 1;
                }
                Err(error) => {
                    let failure = match error {
                        StoreError::ConcurrencyConflict { .. } => {
                            CommandError::Conflict { attempts: attempt }
                        }
                        other => CommandError::Store(Arc::new(other)),
                    };
                    let failed = decided.into_iter().map(|(job, _)| job);
                    for job in failed.chain(answered_later.into_iter().map(|(job, _)| job)) {
                        job.finish(Err(failure.clone()));
                    }
                    jobs = undecided;
                    fresh = true;
                }
            }
        }
    }

    /// The answer for `events`: the position to wait for is their last one, or the store's
    /// head when nothing was written (so a read after it sees at least what the caller saw).
    async fn committed(&self, events: Vec<RecordedEvent>) -> Result<Committed, CommandError> {
        let position = match events.iter().map(|e| e.position).max() {
            Some(position) => position,
            None => self.store.head_position().await?,
        };
        Ok(Committed { events, position })
    }

    fn lock_lanes(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Box<dyn Job>>>> {
        self.lanes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Answers jobs whose outcome waited for the batch's append.
fn finish_all(jobs: Vec<(Box<dyn Job>, Result<Committed, CommandError>)>) {
    for (job, result) in jobs {
        job.finish(result);
    }
}

/// Encodes a decision's events into the batch's writes (one write per stream, in the order the
/// streams first appear), each event's personal fields sealed with its subject's key (one per
/// event, from [`sealing::subjects`]), and answers the new events' ids.
fn encode_into(
    writes: &mut Vec<StreamWrite>,
    ws: &Workspace<'_>,
    origin: &Origin,
    events: &[Event],
    subjects: &[Option<Uuid>],
) -> Result<Vec<Uuid>, CommandError> {
    let now = Utc::now();
    let mut ids = Vec::with_capacity(events.len());
    for (event, subject) in events.iter().zip(subjects) {
        let stream = event.stream();
        let id = Uuid::new_v4();
        let mut encoded = codec::encode(event, id, origin.actor, now, &origin.metadata);
        if let Some(subject) = subject {
            codec::seal(&mut encoded, *subject, ws.store().keyring())
                .map_err(|error| CommandError::from(StoreError::from(error)))?;
        }
        ids.push(id);
        match writes.iter_mut().find(|write| write.stream == stream) {
            Some(write) => write.events.push(encoded),
            None => writes.push(StreamWrite {
                expected: ws.expected(&stream),
                stream,
                events: vec![encoded],
            }),
        }
    }
    Ok(ids)
}
