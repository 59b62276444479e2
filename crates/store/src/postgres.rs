//! The PostgreSQL backend: an append is one call of the `append_events` function (migration
//! `0002`), which assigns positions under a transaction-scoped advisory lock; `LISTEN/NOTIFY`
//! tells subscribers of commits in any process.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use sqlx::postgres::{PgListener, PgPoolOptions, PgRow};
use sqlx::{PgExecutor, PgPool, Row};
use tokio::sync::watch;
use tokio::task::AbortHandle;
use uuid::Uuid;

use crate::error::{signed, unsigned};
use crate::group::{commit_failed, Committer, Pending};
use crate::sessions::{self, SessionStore, StoredSession};
use crate::subscription::{self, advance, RecentEvents};
use crate::{
    resolve_unique_violation, validate, AppendOutcome, AppendRequest, EventStore, ExpectedVersion,
    IdempotencyKey, RecordedEvent, StoreError,
};

/// The notification channel carrying the last committed position (`append_events` notifies it).
const CHANNEL: &str = "hub_events";
/// Connections per pool unless configured otherwise.
pub const DEFAULT_POOL_SIZE: u32 = 10;
/// How long the listener waits before reconnecting after an error.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

const COLUMNS: &str = "position, event_id, stream, version, event_type, schema_version, occurred_at, actor_id, actor_role, data, metadata";

const APPEND: &str =
    "SELECT result, conflict_stream, conflict_actual, first_pos, last_pos, first_versions \
     FROM append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

/// What the committer answers for one append: the row of `append_events`.
/// What the committer answers an append: `append_events`' row, with the recorded events when
/// it appended.
type Answer = Result<(PgRow, Option<Vec<RecordedEvent>>), sqlx::Error>;

/// The PostgreSQL event store. Cheap to clone: clones share the pool, the head signal, the
/// committer and the listener, which stop when the last clone is dropped.
#[derive(Clone)]
pub struct PgEventStore {
    pool: PgPool,
    head: Arc<watch::Sender<u64>>,
    /// This process's latest appends, for its followers.
    recent: Arc<RecentEvents>,
    committer: Committer<Answer>,
    _listener: Arc<Listener>,
}

/// Stops the `LISTEN` task when dropped.
struct Listener(AbortHandle);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl PgEventStore {
    /// Connects with at most [`DEFAULT_POOL_SIZE`] connections, runs migrations and starts
    /// listening for commits.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_pool_size(url, DEFAULT_POOL_SIZE).await
    }

    /// Like [`Self::connect`], with at most `pool_size` connections (plus one for `LISTEN`).
    pub async fn connect_with_pool_size(url: &str, pool_size: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            // A write fails fast (503) when the database is unreachable, instead of hanging.
            .acquire_timeout(Duration::from_secs(2))
            .connect(url)
            .await?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool: runs migrations and starts the listener (on one connection of
    /// its own with the pool's options).
    pub async fn from_pool(pool: PgPool) -> Result<Self, StoreError> {
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let position: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&pool)
            .await?;
        let head = Arc::new(watch::Sender::new(unsigned(position)));
        let listener_pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with((*pool.connect_options()).clone());
        let task = tokio::spawn(listen(listener_pool, pool.clone(), head.clone()));
        let recent = Arc::<RecentEvents>::default();
        let committer = {
            let (pool, recent, head) = (pool.clone(), recent.clone(), head.clone());
            Committer::spawn(move |group| {
                commit_group(pool.clone(), recent.clone(), head.clone(), group)
            })
        };
        Ok(PgEventStore {
            pool,
            head,
            recent,
            committer,
            _listener: Arc::new(Listener(task.abort_handle())),
        })
    }

    /// The connection pool (for tests and tools).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn read_positions(
        &self,
        first: i64,
        last: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE position BETWEEN $1 AND $2 ORDER BY position"
        );
        let rows = sqlx::query(&sql)
            .bind(first)
            .bind(last)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record).collect()
    }
}

/// Calls `append_events` (as its own transaction unless `executor` is in one).
async fn call_append<'c>(
    executor: impl PgExecutor<'c>,
    request: &AppendRequest,
) -> Result<PgRow, sqlx::Error> {
    let mut streams = Vec::new();
    let mut expected = Vec::new();
    let mut write_of = Vec::new();
    let mut offsets = Vec::new();
    let mut event_ids = Vec::new();
    let mut types = Vec::new();
    let mut schema_versions = Vec::new();
    let mut occurred = Vec::new();
    let mut actor_ids = Vec::new();
    let mut actor_roles = Vec::new();
    let mut data = Vec::new();
    let mut metadata = Vec::new();
    for (index, write) in request.writes.iter().enumerate() {
        streams.push(write.stream.as_str());
        expected.push(match write.expected {
            ExpectedVersion::Any => -1,
            ExpectedVersion::NoStream => -2,
            ExpectedVersion::StreamExists => -3,
            ExpectedVersion::Exact(version) => signed(version),
        });
        for (offset, event) in write.events.iter().enumerate() {
            write_of.push(i32::try_from(index + 1).unwrap_or(i32::MAX));
            offsets.push(offset as i64);
            event_ids.push(event.event_id);
            types.push(event.event_type.as_str());
            schema_versions.push(i32::try_from(event.schema_version).unwrap_or(i32::MAX));
            occurred.push(event.occurred_at);
            actor_ids.push(event.actor_id);
            actor_roles.push(event.actor_role.as_str());
            data.push(&event.data);
            metadata.push(&event.metadata);
        }
    }
    let key = request.idempotency.as_ref();
    sqlx::query(APPEND)
        .bind(&streams)
        .bind(&expected)
        .bind(&write_of)
        .bind(&offsets)
        .bind(&event_ids)
        .bind(&types)
        .bind(&schema_versions)
        .bind(&occurred)
        .bind(&actor_ids)
        .bind(&actor_roles)
        .bind(&data)
        .bind(&metadata)
        .bind(key.map(|k| k.actor_id))
        .bind(key.map(|k| k.key.as_str()))
        .fetch_one(executor)
        .await
}

/// Commits a group of appends in one transaction; one by one when the group fails before its
/// commit (a unique violation aborts the whole transaction) or holds one append. The appended
/// events are kept for this process's followers and the head moves before anyone is answered,
/// so a follower woken by the commit (here or by its notification) finds them in memory.
async fn commit_group(
    pool: PgPool,
    recent: Arc<RecentEvents>,
    head: Arc<watch::Sender<u64>>,
    group: Vec<Pending<Answer>>,
) {
    let committed = |request: &AppendRequest, row: PgRow| -> Answer {
        let events = appended(request, &row)?;
        if let Some(events) = &events {
            recent.keep(events);
            let last = events.last().map_or(0, |e| e.position);
            head.send_if_modified(|current| advance(current, last));
        }
        Ok((row, events))
    };
    if group.len() > 1 {
        match append_together(&pool, &group).await {
            Ok(rows) => {
                for (pending, row) in group.into_iter().zip(rows) {
                    let answer = committed(&pending.request, row);
                    pending.answer(answer);
                }
                return;
            }
            Err(Together::Commit(error)) => {
                for pending in group {
                    pending.answer(Err(commit_failed(&error)));
                }
                return;
            }
            Err(Together::Before(error)) => {
                tracing::debug!(%error, "group of appends failed; appending one by one");
            }
        }
    }
    for pending in group {
        let answer = call_append(&pool, &pending.request)
            .await
            .and_then(|row| committed(&pending.request, row));
        pending.answer(answer);
    }
}

/// The recorded events of an append that `append_events` answered `appended`, else `None`.
fn appended(
    request: &AppendRequest,
    row: &PgRow,
) -> Result<Option<Vec<RecordedEvent>>, sqlx::Error> {
    let result: String = row.try_get("result")?;
    if result != "appended" {
        return Ok(None);
    }
    let mut position = unsigned(row.try_get("first_pos")?);
    let first_versions: Vec<i64> = row.try_get("first_versions")?;
    let mut events = Vec::new();
    for (write, first_version) in request.writes.iter().zip(first_versions) {
        for (offset, event) in write.events.iter().enumerate() {
            let version = unsigned(first_version) + offset as u64;
            events.push(crate::recorded(event, &write.stream, version, position));
            position += 1;
        }
    }
    Ok(Some(events))
}

/// Why a group transaction failed.
enum Together {
    /// Before the commit: nothing was written.
    Before(sqlx::Error),
    /// At the commit: the outcome is unknown.
    Commit(sqlx::Error),
}

async fn append_together(pool: &PgPool, group: &[Pending<Answer>]) -> Result<Vec<PgRow>, Together> {
    let mut tx = pool.begin().await.map_err(Together::Before)?;
    let mut rows = Vec::with_capacity(group.len());
    for pending in group {
        rows.push(
            call_append(&mut *tx, &pending.request)
                .await
                .map_err(Together::Before)?,
        );
    }
    tx.commit().await.map_err(Together::Commit)?;
    Ok(rows)
}

/// Follows commits of every process through `LISTEN` until the store is dropped,
/// reconnecting after errors and re-reading the head whenever notifications may have been lost.
async fn listen(listener_pool: PgPool, pool: PgPool, head: Arc<watch::Sender<u64>>) {
    loop {
        if let Err(error) = follow_notifications(&listener_pool, &pool, &head).await {
            tracing::warn!(%error, "event notification listener failed; reconnecting");
            tokio::time::sleep(RECONNECT_DELAY).await;
        }
    }
}

async fn follow_notifications(
    listener_pool: &PgPool,
    pool: &PgPool,
    head: &watch::Sender<u64>,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(listener_pool).await?;
    listener.listen(CHANNEL).await?;
    refresh_head(pool, head).await?;
    loop {
        match listener.try_recv().await? {
            Some(notification) => {
                if let Ok(position) = notification.payload().parse::<u64>() {
                    head.send_if_modified(|current| advance(current, position));
                }
            }
            // The connection was lost and is listening again: commits meanwhile went unannounced.
            None => refresh_head(pool, head).await?,
        }
    }
}

async fn refresh_head(pool: &PgPool, head: &watch::Sender<u64>) -> Result<(), sqlx::Error> {
    let position: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
        .fetch_one(pool)
        .await?;
    head.send_if_modified(|current| advance(current, unsigned(position)));
    Ok(())
}

fn record(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    Ok(RecordedEvent {
        position: unsigned(row.try_get("position")?),
        event_id: row.try_get::<Uuid, _>("event_id")?,
        stream: row.try_get("stream")?,
        version: unsigned(row.try_get("version")?),
        event_type: row.try_get("event_type")?,
        schema_version: u32::try_from(row.try_get::<i32, _>("schema_version")?).unwrap_or_default(),
        occurred_at: row.try_get::<DateTime<Utc>, _>("occurred_at")?,
        actor_id: row.try_get("actor_id")?,
        actor_role: row.try_get("actor_role")?,
        data: row.try_get("data")?,
        metadata: row.try_get("metadata")?,
    })
}

#[async_trait::async_trait]
impl EventStore for PgEventStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        validate(&request)?;
        let (request, answer) = self.committer.submit(request).await?;
        let row = match answer {
            Ok((_, Some(events))) => {
                return Ok(AppendOutcome {
                    events,
                    duplicate: false,
                })
            }
            Ok((row, None)) => row,
            Err(error) => return resolve_unique_violation(self, error, &request).await,
        };
        let result: String = row.try_get("result")?;
        match result.as_str() {
            "duplicate" => Ok(AppendOutcome {
                events: self
                    .read_positions(row.try_get("first_pos")?, row.try_get("last_pos")?)
                    .await?,
                duplicate: true,
            }),
            "conflict" => {
                let stream: String = row.try_get("conflict_stream")?;
                let actual: Option<i64> = row.try_get("conflict_actual")?;
                let expected = request
                    .writes
                    .iter()
                    .find(|w| w.stream == stream)
                    .map_or(ExpectedVersion::Any, |w| w.expected);
                Err(StoreError::ConcurrencyConflict {
                    stream,
                    expected,
                    actual: actual.map(unsigned),
                })
            }
            other => Err(StoreError::InvalidRequest(format!(
                "append_events answered `{other}`"
            ))),
        }
    }

    async fn find_idempotent(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        let row = sqlx::query("SELECT first_position, last_position FROM idempotency_keys WHERE actor_id = $1 AND key = $2")
            .bind(key.actor_id)
            .bind(&key.key)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(
                self.read_positions(row.try_get(0)?, row.try_get(1)?)
                    .await?,
            )),
            None => Ok(None),
        }
    }

    async fn consumer_checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        let position: Option<i64> =
            sqlx::query_scalar("SELECT position FROM consumer_checkpoints WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(position.map_or(0, unsigned))
    }

    async fn save_consumer_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO consumer_checkpoints (name, position) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET position = excluded.position \
             WHERE consumer_checkpoints.position < excluded.position",
        )
        .bind(name)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM events WHERE stream = $1")
                .bind(stream)
                .fetch_one(&self.pool)
                .await?;
        Ok(version.map(unsigned))
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM events WHERE stream = $1 AND version >= $2 ORDER BY version LIMIT $3");
        let rows = sqlx::query(&sql)
            .bind(stream)
            .bind(signed(from_version))
            .bind(signed(limit as u64))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record).collect()
    }

    async fn read_all(
        &self,
        after: u64,
        limit: usize,
        stream: Option<&str>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = match stream {
            Some(stream) => {
                let sql = format!("SELECT {COLUMNS} FROM events WHERE stream = $1 AND position > $2 ORDER BY position LIMIT $3");
                sqlx::query(&sql)
                    .bind(stream)
                    .bind(signed(after))
                    .bind(signed(limit as u64))
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2"
                );
                sqlx::query(&sql)
                    .bind(signed(after))
                    .bind(signed(limit as u64))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(record).collect()
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(unsigned(head))
    }

    fn subscribe(&self, after: u64) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        subscription::follow(self.clone(), self.recent.clone(), after)
    }

    fn head_watch(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }
}

#[async_trait::async_trait]
impl SessionStore for PgEventStore {
    async fn insert_session(
        &self,
        id_sha256: &str,
        session: &StoredSession,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO web_sessions (id_sha256, token_sha256, holder, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id_sha256)
        .bind(&session.token_sha256)
        .bind(&session.holder)
        .bind(session.expires_at.timestamp())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_session(&self, id_sha256: &str) -> Result<Option<StoredSession>, StoreError> {
        let row: Option<(String, Option<String>, i64)> = sqlx::query_as(
            "SELECT token_sha256, holder, expires_at FROM web_sessions WHERE id_sha256 = $1",
        )
        .bind(id_sha256)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(token_sha256, holder, expires_at)| StoredSession {
            token_sha256,
            holder,
            expires_at: sessions::expiry(expires_at),
        }))
    }

    async fn delete_session(&self, id_sha256: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM web_sessions WHERE id_sha256 = $1 OR expires_at < $2")
            .bind(id_sha256)
            .bind(now.timestamp())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
