//! The SQLite backend (embedded default): one file, WAL mode, a single writer connection
//! whose `BEGIN IMMEDIATE` transactions serialize appends, a pool of read-only readers, an
//! in-process signal for subscribers.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::stream::BoxStream;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::{signed, unsigned};
use crate::subscription::{self, advance};
use crate::{
    resolve_unique_violation, validate, AppendOutcome, AppendRequest, EventStore, IdempotencyKey,
    RecordedEvent, StoreError,
};

const COLUMNS: &str = "position, event_id, stream, version, event_type, schema_version, occurred_at, actor_id, actor_role, data, metadata";
/// Reader connections; writes go through one connection.
const READERS: u32 = 4;

/// The SQLite event store. Cheap to clone: clones share the pools and the head signal.
/// Appends go through one writer connection and open with `BEGIN IMMEDIATE`, so they are
/// serialized within a process and across processes sharing the file. The head signal knows
/// only this process's commits; subscribers here see other processes' within the re-check.
#[derive(Clone)]
pub struct SqliteEventStore {
    writer: SqlitePool,
    reader: SqlitePool,
    head: Arc<watch::Sender<u64>>,
}

/// Connection options of the event log file: WAL, a busy timeout, and `synchronous = FULL`
/// so that an acknowledged append survives a power loss too (it is the audit record).
pub fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
}

impl SqliteEventStore {
    /// Opens (creating if missing) the event log at `path` and runs migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = connect_options(path);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.read_only(true))
            .await?;
        Self::from_pools(writer, reader).await
    }

    /// A private in-memory event log (gone when the store is dropped), for tests and tools.
    /// Reads and writes share its one connection.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(SqliteConnectOptions::from_str("sqlite::memory:")?)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Self::from_pools(pool.clone(), pool).await
    }

    async fn from_pools(writer: SqlitePool, reader: SqlitePool) -> Result<Self, StoreError> {
        let position: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&reader)
            .await?;
        Ok(SqliteEventStore {
            writer,
            reader,
            head: Arc::new(watch::Sender::new(unsigned(position))),
        })
    }

    async fn read_positions(
        &self,
        first: i64,
        last: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE position BETWEEN ?1 AND ?2 ORDER BY position"
        );
        let rows = sqlx::query(&sql)
            .bind(first)
            .bind(last)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(record).collect()
    }

    async fn idempotent_range(
        executor: impl sqlx::SqliteExecutor<'_>,
        key: &IdempotencyKey,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        let row = sqlx::query("SELECT first_position, last_position FROM idempotency_keys WHERE actor_id = ?1 AND key = ?2")
            .bind(key.actor_id.to_string())
            .bind(&key.key)
            .fetch_optional(executor)
            .await?;
        Ok(match row {
            Some(row) => Some((row.try_get(0)?, row.try_get(1)?)),
            None => None,
        })
    }

    /// Appends in `tx`: the recorded events, or `Err(range)` of a repeated idempotency key.
    async fn try_append(
        tx: &mut Transaction<'static, Sqlite>,
        request: &AppendRequest,
    ) -> Result<Result<Vec<RecordedEvent>, (i64, i64)>, StoreError> {
        if let Some(key) = &request.idempotency {
            if let Some(range) = Self::idempotent_range(&mut **tx, key).await? {
                return Ok(Err(range));
            }
        }
        let mut recorded = Vec::new();
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&mut **tx)
            .await?;
        let mut position = head;
        for write in &request.writes {
            let actual: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM events WHERE stream = ?1")
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
                position += 1;
                recorded.push(crate::recorded(
                    event,
                    &write.stream,
                    first_version + offset as u64,
                    unsigned(position),
                ));
                sqlx::query(
                    "INSERT INTO events (position, event_id, stream, version, event_type, schema_version, occurred_at, actor_id, actor_role, data, metadata) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .bind(position)
                .bind(event.event_id.to_string())
                .bind(&write.stream)
                .bind(signed(first_version + offset as u64))
                .bind(&event.event_type)
                .bind(i64::from(event.schema_version))
                .bind(event.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true))
                .bind(event.actor_id.to_string())
                .bind(&event.actor_role)
                .bind(event.data.to_string())
                .bind(event.metadata.to_string())
                .execute(&mut **tx)
                .await?;
            }
        }
        if let Some(key) = &request.idempotency {
            sqlx::query("INSERT INTO idempotency_keys (actor_id, key, first_position, last_position) VALUES (?1, ?2, ?3, ?4)")
                .bind(key.actor_id.to_string())
                .bind(&key.key)
                .bind(head + 1)
                .bind(position)
                .execute(&mut **tx)
                .await?;
        }
        Ok(Ok(recorded))
    }
}

fn decode_error(column: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::InvalidRequest(format!("stored `{column}` does not decode: {error}"))
}

fn record(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let text = |column: &str| row.try_get::<String, _>(column);
    let uuid = |column: &str| -> Result<Uuid, StoreError> {
        Uuid::from_str(&text(column)?).map_err(|e| decode_error(column, e))
    };
    let json = |column: &str| -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(&text(column)?).map_err(|e| decode_error(column, e))
    };
    let occurred_at = DateTime::parse_from_rfc3339(&text("occurred_at")?)
        .map_err(|e| decode_error("occurred_at", e))?
        .with_timezone(&Utc);
    Ok(RecordedEvent {
        position: unsigned(row.try_get("position")?),
        event_id: uuid("event_id")?,
        stream: text("stream")?,
        version: unsigned(row.try_get("version")?),
        event_type: text("event_type")?,
        schema_version: u32::try_from(row.try_get::<i64, _>("schema_version")?).unwrap_or_default(),
        occurred_at,
        actor_id: uuid("actor_id")?,
        actor_role: text("actor_role")?,
        data: json("data")?,
        metadata: json("metadata")?,
    })
}

#[async_trait::async_trait]
impl EventStore for SqliteEventStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        validate(&request)?;
        // The write lock from the start: no other process can slip a commit in between the
        // reads of the head and versions and the inserts.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        match Self::try_append(&mut tx, &request).await {
            Ok(Ok(events)) => {
                tx.commit().await?;
                let last = events.last().map_or(0, |e| e.position);
                self.head.send_if_modified(|current| advance(current, last));
                Ok(AppendOutcome {
                    events,
                    duplicate: false,
                })
            }
            Ok(Err((first, last))) => {
                tx.rollback().await?;
                Ok(AppendOutcome {
                    events: self.read_positions(first, last).await?,
                    duplicate: true,
                })
            }
            Err(StoreError::Database(error))
                if error
                    .as_database_error()
                    .is_some_and(|db| db.is_unique_violation()) =>
            {
                tx.rollback().await?;
                resolve_unique_violation(self, error, &request).await
            }
            Err(error) => Err(error),
        }
    }

    async fn find_idempotent(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        match Self::idempotent_range(&self.reader, key).await? {
            Some((first, last)) => Ok(Some(self.read_positions(first, last).await?)),
            None => Ok(None),
        }
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM events WHERE stream = ?1")
                .bind(stream)
                .fetch_one(&self.reader)
                .await?;
        Ok(version.map(unsigned))
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM events WHERE stream = ?1 AND version >= ?2 ORDER BY version LIMIT ?3");
        let rows = sqlx::query(&sql)
            .bind(stream)
            .bind(signed(from_version))
            .bind(signed(limit as u64))
            .fetch_all(&self.reader)
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
                let sql = format!("SELECT {COLUMNS} FROM events WHERE stream = ?1 AND position > ?2 ORDER BY position LIMIT ?3");
                sqlx::query(&sql)
                    .bind(stream)
                    .bind(signed(after))
                    .bind(signed(limit as u64))
                    .fetch_all(&self.reader)
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2"
                );
                sqlx::query(&sql)
                    .bind(signed(after))
                    .bind(signed(limit as u64))
                    .fetch_all(&self.reader)
                    .await?
            }
        };
        rows.iter().map(record).collect()
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&self.reader)
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
