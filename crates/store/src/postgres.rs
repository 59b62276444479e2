//! The PostgreSQL backend: position assignment serialized by a transaction-scoped advisory
//! lock, `LISTEN/NOTIFY` for subscribers.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use sqlx::postgres::{PgListener, PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres, Row, Transaction};
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::{signed, unsigned};
use crate::subscription::advance;
use crate::{
    subscription, validate, AppendOutcome, AppendRequest, EventStore, IdempotencyKey,
    RecordedEvent, StoreError,
};

/// The advisory lock key that serializes appends ("hub events").
const APPEND_LOCK: i64 = 0x6875_625f_6576_7473;
/// The notification channel carrying the last committed position.
const CHANNEL: &str = "hub_events";
/// Connections per pool unless configured otherwise.
const DEFAULT_POOL_SIZE: u32 = 8;

const COLUMNS: &str = "position, event_id, stream, version, event_type, schema_version, occurred_at, actor_id, actor_role, data, metadata";

/// The PostgreSQL event store. Cheap to clone: clones share the pool and the head signal.
#[derive(Clone)]
pub struct PgEventStore {
    pool: PgPool,
    head: Arc<watch::Sender<u64>>,
}

impl PgEventStore {
    /// Connects, runs migrations and starts listening for commits of other processes.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_pool_size(url, DEFAULT_POOL_SIZE).await
    }

    /// Like [`Self::connect`], with at most `pool_size` connections.
    pub async fn connect_with_pool_size(url: &str, pool_size: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool: runs migrations and starts the listener.
    pub async fn from_pool(pool: PgPool) -> Result<Self, StoreError> {
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let head = Arc::new(watch::Sender::new(0));
        let store = PgEventStore { pool, head };
        let position = store.head_position().await?;
        store
            .head
            .send_if_modified(|current| advance(current, position));
        // The listener has a pool of its own, so the store's pool closes when the store goes.
        let listener_pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with((*store.pool.connect_options()).clone());
        tokio::spawn(listen(listener_pool, Arc::downgrade(&store.head)));
        Ok(store)
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

    async fn try_append(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        request: &AppendRequest,
    ) -> Result<Appended, StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPEND_LOCK)
            .execute(&mut **tx)
            .await?;
        if let Some(key) = &request.idempotency {
            let existing = sqlx::query("SELECT first_position, last_position FROM idempotency_keys WHERE actor_id = $1 AND key = $2")
                .bind(key.actor_id)
                .bind(&key.key)
                .fetch_optional(&mut **tx)
                .await?;
            if let Some(row) = existing {
                return Ok(Appended::Duplicate(row.try_get(0)?, row.try_get(1)?));
            }
        }
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&mut **tx)
            .await?;
        let mut positions = Vec::new();
        let mut event_ids = Vec::new();
        let mut streams = Vec::new();
        let mut versions = Vec::new();
        let mut types = Vec::new();
        let mut schema_versions = Vec::new();
        let mut occurred = Vec::new();
        let mut actor_ids = Vec::new();
        let mut actor_roles = Vec::new();
        let mut data = Vec::new();
        let mut metadata = Vec::new();
        let mut recorded = Vec::new();
        for write in &request.writes {
            let actual: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM events WHERE stream = $1")
                    .bind(&write.stream)
                    .fetch_one(&mut **tx)
                    .await?;
            let actual = actual.map(unsigned);
            if !write.expected.accepts(actual) {
                return Err(StoreError::ConcurrencyConflict {
                    stream: write.stream.clone(),
                    expected: write.expected,
                    actual,
                });
            }
            let first_version = actual.map_or(0, |v| v + 1);
            for (offset, event) in write.events.iter().enumerate() {
                let position = head + 1 + positions.len() as i64;
                recorded.push(crate::recorded(
                    event,
                    &write.stream,
                    first_version + offset as u64,
                    unsigned(position),
                ));
                positions.push(position);
                event_ids.push(event.event_id);
                streams.push(write.stream.clone());
                versions.push(signed(first_version + offset as u64));
                types.push(event.event_type.clone());
                schema_versions.push(event.schema_version as i32);
                occurred.push(event.occurred_at);
                actor_ids.push(event.actor_id);
                actor_roles.push(event.actor_role.clone());
                data.push(event.data.clone());
                metadata.push(event.metadata.clone());
            }
        }
        sqlx::query(
            "INSERT INTO events (position, event_id, stream, version, event_type, schema_version, occurred_at, actor_id, actor_role, data, metadata) \
             SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::int[], $7::timestamptz[], $8::uuid[], $9::text[], $10::jsonb[], $11::jsonb[])",
        )
        .bind(&positions)
        .bind(&event_ids)
        .bind(&streams)
        .bind(&versions)
        .bind(&types)
        .bind(&schema_versions)
        .bind(&occurred)
        .bind(&actor_ids)
        .bind(&actor_roles)
        .bind(&data)
        .bind(&metadata)
        .execute(&mut **tx)
        .await?;
        let last = head + positions.len() as i64;
        if let Some(key) = &request.idempotency {
            sqlx::query("INSERT INTO idempotency_keys (actor_id, key, first_position, last_position) VALUES ($1, $2, $3, $4)")
                .bind(key.actor_id)
                .bind(&key.key)
                .bind(head + 1)
                .bind(last)
                .execute(&mut **tx)
                .await?;
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(last.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(Appended::New(recorded))
    }
}

/// The positions an append took, or those of the first append with the same key.
enum Appended {
    /// Appended now: the recorded events.
    New(Vec<RecordedEvent>),
    /// Appended before at these positions; nothing was written.
    Duplicate(i64, i64),
}

/// Follows commits of every process through `LISTEN`, reconnecting after errors, until the
/// store is dropped.
async fn listen(pool: PgPool, head: std::sync::Weak<watch::Sender<u64>>) {
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            loop {
                let notification = listener.recv().await?;
                let Some(head) = head.upgrade() else {
                    return Ok::<(), sqlx::Error>(());
                };
                if let Ok(position) = notification.payload().parse::<u64>() {
                    head.send_if_modified(|current| advance(current, position));
                }
            }
        };
        match listener.await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, "event notification listener failed; reconnecting");
                if head.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
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
        let mut tx = self.pool.begin().await?;
        match self.try_append(&mut tx, &request).await? {
            Appended::Duplicate(first, last) => {
                tx.rollback().await?;
                let events = self.read_positions(first, last).await?;
                Ok(AppendOutcome {
                    events,
                    duplicate: true,
                })
            }
            Appended::New(events) => {
                tx.commit().await?;
                let last = events.last().map_or(0, |e| e.position);
                self.head.send_if_modified(|current| advance(current, last));
                Ok(AppendOutcome {
                    events,
                    duplicate: false,
                })
            }
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
        subscription::follow(self.clone(), after)
    }

    fn head_watch(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }
}
