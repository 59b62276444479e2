//! The event log: an append-only store with optimistic concurrency per stream and a
//! gap-free global order, with a PostgreSQL backend (production) and a SQLite backend
//! (the embedded default). Events are carried as JSON; the store knows nothing of the domain.
//!
//! # Global order
//!
//! Every event gets a `position` that is gap-free and in commit order: a reader that has seen
//! position N never later finds a newly committed event below N. A PostgreSQL sequence cannot
//! give that: its values are taken at INSERT but become visible at COMMIT, so a transaction
//! that commits late makes a reader that polls "position > last" skip its events for good, and
//! a rollback leaves a hole forever.
//!
//! This store serializes position assignment inside the commit instead. On PostgreSQL an
//! append is one statement, the `append_events` function (migration `0002`), run as its own
//! transaction. It first answers what no later commit can change (a repeated idempotency key, a
//! stream that already exists or is already past the expected version) without any lock; then
//! it takes a transaction-scoped advisory lock, checks the idempotency key and every expected
//! version again (READ COMMITTED gives each statement a fresh snapshot, so every earlier
//! append's commit is visible), reads the current maximum position, inserts the events at the
//! following positions with the key, calls `pg_notify` and commits. PostgreSQL releases the
//! lock only after the commit is visible, so positions are handed out in commit order, and an
//! append that rolls back or conflicts hands its positions to the next one: no holes. A unique
//! violation that a writer bypassing the lock could still cause is answered as a concurrency
//! conflict (`UNIQUE (stream, version)`, the position key) or, for the idempotency key, with
//! the first append's events.
//!
//! The price is that appends commit one at a time per database, with the lock held for one
//! statement and its commit. A committer task per store (`group`) therefore commits every
//! append that queued meanwhile together, and on PostgreSQL as one statement
//! (`append_event_groups`, migration `0005`, which runs `append_events` for each append in
//! turn): one round trip and one flush for the group, each append still checked and answered
//! on its own. One transaction with one `append_events` call per append was tried first; its
//! round trips, one per append while the lock was held, were most of the group's time. The alternative, storing `pg_current_xact_id()` with each event and
//! reading only below `pg_snapshot_xmin(pg_current_snapshot())`, keeps commits concurrent but
//! leaves holes after rollbacks that every reader would have to tolerate, and a timeout-based
//! "skip the hole" reader loses late events. On SQLite one writer connection that opens every
//! append with `BEGIN IMMEDIATE` gives the same order without a lock.
//!
//! Subscribers catch up in batches and then wait for a commit signal (PostgreSQL
//! `LISTEN/NOTIFY`, an in-process watch channel on SQLite), with a one-second re-check so a
//! lost signal can never stall them.

#![warn(missing_docs)]

pub mod chain;
mod error;
mod event;
mod group;
pub mod keys;
pub mod metrics;
pub mod postgres;
mod rehash;
mod sessions;
pub mod sqlite;
mod subscription;
#[cfg(feature = "testing")]
pub mod testing;

use std::path::Path;
use std::sync::Arc;

use futures::stream::BoxStream;

pub use error::StoreError;
pub use event::{
    AppendOutcome, AppendRequest, ExpectedVersion, IdempotencyKey, NewEvent, RecordedEvent,
    StreamWrite,
};
pub use postgres::PgEventStore;
pub use sessions::{SessionStore, StoredSession};
pub use sqlite::SqliteEventStore;

/// How many events a catch-up read fetches at once.
pub const READ_BATCH: usize = 500;

/// An append-only event log (and, beside it, the web sessions: see [`SessionStore`]).
#[async_trait::async_trait]
pub trait EventStore: SessionStore + Send + Sync + 'static {
    /// Appends atomically to one or more streams: all writes or none, each checked against
    /// its expected version. With an idempotency key that was used before by the same actor,
    /// appends nothing and answers the first append's events with `duplicate = true`.
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError>;

    /// The events a repeated idempotency key would answer, if the key was used.
    async fn find_idempotent(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<Vec<RecordedEvent>>, StoreError>;

    /// The stream's last version, `None` when it has no events.
    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError>;

    /// Up to `limit` events of one stream from `from_version` on.
    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events with position greater than `after`, in order, optionally of one stream.
    async fn read_all(
        &self,
        after: u64,
        limit: usize,
        stream: Option<&str>,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The last committed position (0 when empty).
    async fn head_position(&self) -> Result<u64, StoreError>;

    /// Every event with position greater than `after`: first the backlog, then new commits as
    /// they happen. Each event once, strictly increasing, no gaps. Ends after an error.
    fn subscribe(&self, after: u64) -> BoxStream<'static, Result<RecordedEvent, StoreError>>;

    /// The latest committed position this process knows of, updated on every commit.
    fn head_watch(&self) -> tokio::sync::watch::Receiver<u64>;

    /// The subjects' data keys that seal personal data in the log (see [`keys`]). Every read
    /// loads the keys of the sealed records it answers.
    fn keyring(&self) -> &keys::Keyring;

    /// The last position the consumer `name` finished (0 when it never saved one).
    async fn consumer_checkpoint(&self, name: &str) -> Result<u64, StoreError>;

    /// Records that the consumer `name` finished everything up to `position`; a checkpoint
    /// never moves back.
    async fn save_consumer_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError>;
}

/// Appends events to one stream.
pub async fn append_to_stream(
    store: &dyn EventStore,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<AppendOutcome, StoreError> {
    store
        .append(AppendRequest {
            writes: vec![StreamWrite {
                stream: stream.to_owned(),
                expected,
                events,
            }],
            idempotency: None,
        })
        .await
}

/// Opens PostgreSQL for a `postgres://` or `postgresql://` URL, SQLite at `sqlite_path` when
/// there is no URL (or an empty one); any other URL is refused. `master_key`
/// (`HUB_MASTER_KEY`) wraps the data keys; without it SQLite keeps a generated one beside the
/// log and PostgreSQL in the database.
pub async fn open_store(
    database_url: Option<&str>,
    sqlite_path: &Path,
    master_key: Option<&str>,
) -> Result<Arc<dyn EventStore>, StoreError> {
    let given = master_key
        .filter(|key| !key.trim().is_empty())
        .map(|key| keys::MasterKey::Given(key.to_owned()));
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let master = given.unwrap_or(keys::MasterKey::InDatabase);
            Ok(Arc::new(
                PgEventStore::connect_with(url, postgres::DEFAULT_POOL_SIZE, &master).await?,
            ))
        }
        Some(other) if !other.trim().is_empty() => Err(StoreError::InvalidRequest(format!(
            "unsupported database URL scheme in `{}`",
            other.split(':').next().unwrap_or("")
        ))),
        _ => Ok(Arc::new(match given {
            Some(master) => SqliteEventStore::open_with(sqlite_path, &master).await?,
            None => SqliteEventStore::open(sqlite_path).await?,
        })),
    }
}

/// The time as both databases keep it: microseconds.
fn stored_time(time: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::SubsecRound::trunc_subsecs(time, 6)
}

/// The recorded form of an appended event, built from what the append wrote (its hash still
/// to be filled in).
fn recorded(event: &NewEvent, stream: &str, version: u64, position: u64) -> RecordedEvent {
    RecordedEvent {
        event_id: event.event_id,
        stream: stream.to_owned(),
        version,
        position,
        event_type: event.event_type.clone(),
        schema_version: event.schema_version,
        // Both databases keep microseconds: answer what a later read answers.
        occurred_at: stored_time(event.occurred_at),
        actor_id: event.actor_id,
        actor_role: event.actor_role.clone(),
        data: event.data.clone(),
        metadata: event.metadata.clone(),
        hash: String::new(),
    }
}

/// Checks the shape of an append: at least one write, each with events, no stream twice.
fn validate(request: &AppendRequest) -> Result<(), StoreError> {
    if request.writes.is_empty() {
        return Err(StoreError::InvalidRequest(
            "an append needs at least one write".into(),
        ));
    }
    for (index, write) in request.writes.iter().enumerate() {
        if write.events.is_empty() {
            return Err(StoreError::InvalidRequest(format!(
                "the write to `{}` has no events",
                write.stream
            )));
        }
        if request.writes[..index]
            .iter()
            .any(|w| w.stream == write.stream)
        {
            return Err(StoreError::InvalidRequest(format!(
                "stream `{}` is written twice in one append",
                write.stream
            )));
        }
    }
    Ok(())
}

/// Answers an append whose insert hit a unique constraint (only a writer that bypasses the
/// append path can cause one): the idempotency key's first append, a concurrency conflict on
/// the stream whose version no longer matches, or a refusal of an event id recorded before.
async fn resolve_unique_violation(
    store: &dyn EventStore,
    error: sqlx::Error,
    request: &AppendRequest,
) -> Result<AppendOutcome, StoreError> {
    let constraint = match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => db
            .constraint()
            .map_or_else(|| db.message().to_owned(), str::to_owned),
        _ => return Err(error.into()),
    };
    if constraint.contains("idempotency_keys") {
        if let Some(key) = &request.idempotency {
            if let Some(events) = store.find_idempotent(key).await? {
                return Ok(AppendOutcome {
                    events,
                    duplicate: true,
                });
            }
        }
        return Err(error.into());
    }
    if constraint.contains("event_id") {
        return Err(StoreError::InvalidRequest(
            "an event id of this append is already recorded".into(),
        ));
    }
    let mut first = None;
    for write in &request.writes {
        let actual = store.stream_version(&write.stream).await?;
        let conflict = StoreError::ConcurrencyConflict {
            stream: write.stream.clone(),
            expected: write.expected,
            actual,
        };
        if !write.expected.accepts(actual) {
            return Err(conflict);
        }
        first.get_or_insert(conflict);
    }
    // Every stream now accepts its write: the racing writer took the positions; retrying works.
    Err(first.unwrap_or_else(|| error.into()))
}
