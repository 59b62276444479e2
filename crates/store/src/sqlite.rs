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
use sqlx::{Row, SqliteConnection, SqlitePool};
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::{signed, unsigned};
use crate::group::{commit_failed, Committer, Pending};
use crate::keys::{KeyTable, Keyring, MasterKey};
use crate::rehash::{self, UnhashedLog};
use crate::sessions::{self, SessionStore, StoredSession};
use crate::subscription::{self, advance, RecentEvents};
use crate::{
    chain, resolve_unique_violation, validate, AppendOutcome, AppendRequest, EventStore,
    IdempotencyKey, RecordedEvent, StoreError,
};

/// The key-encryption key's file beside the event log, when `HUB_MASTER_KEY` is not set.
pub const MASTER_KEY_FILE: &str = "master.key";

const COLUMNS: &str = "position, event_id, stream, version, event_type, schema_version, occurred_at, actor_id, actor_role, data, metadata, hash";
/// Reader connections; writes go through one connection.
const READERS: u32 = 4;

/// The SQLite event store. Cheap to clone: clones share the pools, the head signal and the
/// committer. Appends go through the committer's one writer connection, grouped into
/// `BEGIN IMMEDIATE` transactions, so they are serialized within a process and across
/// processes sharing the file. The head signal knows
/// only this process's commits; subscribers here see other processes' within the re-check.
#[derive(Clone)]
pub struct SqliteEventStore {
    reader: SqlitePool,
    /// The writer pool the committer appends through (also for consumer checkpoints).
    writer: SqlitePool,
    head: Arc<watch::Sender<u64>>,
    /// This process's latest appends, for its followers.
    recent: Arc<RecentEvents>,
    committer: Committer<Answer>,
    keys: Arc<Keyring>,
}

/// Connection options of the event log file: WAL, a busy timeout, and `synchronous = FULL`
/// so that an acknowledged append survives a power loss too (it is the audit record).
pub fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        // Deleted content (a destroyed data key) is overwritten, not left in free pages.
        .pragma("secure_delete", "ON")
        .busy_timeout(Duration::from_secs(10))
}

impl SqliteEventStore {
    /// Opens (creating if missing) the event log at `path` and runs migrations; the
    /// key-encryption key is `master.key` beside it (made when missing).
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let beside = path
            .parent()
            .unwrap_or(Path::new("."))
            .join(MASTER_KEY_FILE);
        Self::open_with(path, &MasterKey::File(beside)).await
    }

    /// Like [`Self::open`], with the key-encryption key from `master`.
    pub async fn open_with(path: &Path, master: &MasterKey) -> Result<Self, StoreError> {
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
        Self::from_pools(writer, reader, master).await
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
        Self::from_pools(pool.clone(), pool, &MasterKey::Ephemeral).await
    }

    async fn from_pools(
        writer: SqlitePool,
        reader: SqlitePool,
        master: &MasterKey,
    ) -> Result<Self, StoreError> {
        hash_unhashed(&writer).await?;
        let table = KeyTable::Sqlite {
            writer: writer.clone(),
            reader: reader.clone(),
        };
        let keys = Arc::new(Keyring::open(table, master).await?);
        let position: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&reader)
            .await?;
        let committer_pool = writer.clone();
        let committer = Committer::spawn("sqlite", move |group| {
            commit_group(committer_pool.clone(), group)
        });
        Ok(SqliteEventStore {
            reader,
            writer,
            head: Arc::new(watch::Sender::new(unsigned(position))),
            recent: Arc::default(),
            committer,
            keys,
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
        self.records(&rows).await
    }
}

impl SqliteEventStore {
    /// The records of `rows`, with the data keys of the sealed ones loaded.
    async fn records(&self, rows: &[SqliteRow]) -> Result<Vec<RecordedEvent>, StoreError> {
        let records = rows.iter().map(record).collect::<Result<Vec<_>, _>>()?;
        self.keys.load_for(&records).await?;
        Ok(records)
    }
}

/// What the committer answers for one append: the recorded events, or the positions of the
/// first append with the same idempotency key.
type Answer = Result<Result<Vec<RecordedEvent>, (i64, i64)>, StoreError>;

/// Appends in the caller's transaction. Checks every write before inserting anything, so an
/// append that conflicts or repeats a key writes nothing (and leaves the transaction usable).
async fn try_append(connection: &mut SqliteConnection, request: &AppendRequest) -> Answer {
    if let Some(key) = &request.idempotency {
        if let Some(range) = idempotent_range(&mut *connection, key).await? {
            return Ok(Err(range));
        }
    }
    let mut first_versions = Vec::with_capacity(request.writes.len());
    for write in &request.writes {
        let actual: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM events WHERE stream = ?1")
                .bind(&write.stream)
                .fetch_one(&mut *connection)
                .await?;
        let actual = actual.map(unsigned);
        if !write.expected.accepts(actual) {
            return Err(StoreError::ConcurrencyConflict {
                stream: write.stream.clone(),
                expected: write.expected,
                actual,
            });
        }
        first_versions.push(actual.map_or(0, |v| v + 1));
    }
    let (head, mut previous) = chain_head(&mut *connection).await?;
    let mut recorded = Vec::new();
    let mut position = head;
    for (write, first_version) in request.writes.iter().zip(first_versions) {
        for (offset, event) in write.events.iter().enumerate() {
            position += 1;
            let version = first_version + offset as u64;
            let mut record = crate::recorded(event, &write.stream, version, unsigned(position));
            record.hash = chain::link(&previous, &record);
            previous.clone_from(&record.hash);
            sqlx::query(
                "INSERT INTO events (position, event_id, stream, version, event_type, schema_version, occurred_at, actor_id, actor_role, data, metadata, hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .bind(position)
            .bind(event.event_id.to_string())
            .bind(&write.stream)
            .bind(signed(version))
            .bind(&event.event_type)
            .bind(i64::from(event.schema_version))
            .bind(event.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true))
            .bind(event.actor_id.to_string())
            .bind(&event.actor_role)
            .bind(event.data.to_string())
            .bind(event.metadata.to_string())
            .bind(&record.hash)
            .execute(&mut *connection)
            .await?;
            recorded.push(record);
        }
    }
    if let Some(key) = &request.idempotency {
        sqlx::query("INSERT INTO idempotency_keys (actor_id, key, first_position, last_position) VALUES (?1, ?2, ?3, ?4)")
            .bind(key.actor_id.to_string())
            .bind(&key.key)
            .bind(head + 1)
            .bind(position)
            .execute(&mut *connection)
            .await?;
    }
    Ok(Ok(recorded))
}

/// Commits a group of appends in one `BEGIN IMMEDIATE` transaction; one by one when the group
/// fails before its commit (a database error may have left part of an append behind) or holds
/// one append.
async fn commit_group(writer: SqlitePool, group: Vec<Pending<Answer>>) {
    if group.len() > 1 {
        match append_together(&writer, &group).await {
            Ok(answers) => {
                for (pending, answer) in group.into_iter().zip(answers) {
                    pending.answer(answer);
                }
                return;
            }
            Err(Together::Commit(error)) => {
                for pending in group {
                    pending.answer(Err(StoreError::Database(commit_failed(&error))));
                }
                return;
            }
            Err(Together::Before(error)) => {
                tracing::debug!(%error, "group of appends failed; appending one by one");
            }
        }
    }
    for pending in group {
        let answer = append_alone(&writer, &pending.request).await;
        pending.answer(answer);
    }
}

/// Why a group transaction failed.
enum Together {
    /// Before the commit: rolled back, nothing was written.
    Before(StoreError),
    /// At the commit: the outcome is unknown.
    Commit(sqlx::Error),
}

async fn append_together(
    writer: &SqlitePool,
    group: &[Pending<Answer>],
) -> Result<Vec<Answer>, Together> {
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| Together::Before(e.into()))?;
    let mut answers = Vec::with_capacity(group.len());
    for pending in group {
        match try_append(&mut tx, &pending.request).await {
            Err(conflict @ StoreError::ConcurrencyConflict { .. }) => answers.push(Err(conflict)),
            Err(error) => return Err(Together::Before(error)),
            answer => answers.push(answer),
        }
    }
    tx.commit().await.map_err(Together::Commit)?;
    Ok(answers)
}

/// One append in its own `BEGIN IMMEDIATE` transaction: the write lock from the start, so no
/// other process can slip a commit in between the reads of the head and versions and the inserts.
async fn append_alone(writer: &SqlitePool, request: &AppendRequest) -> Answer {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let answer = try_append(&mut tx, request).await;
    if matches!(answer, Ok(Ok(_))) {
        tx.commit().await?;
    } else if let Err(error) = tx.rollback().await {
        tracing::debug!(%error, "rollback of a failed append failed");
    }
    answer
}

/// The last position and its hash ([`chain::GENESIS`] for an empty log).
async fn chain_head(connection: &mut SqliteConnection) -> Result<(i64, String), StoreError> {
    let row = sqlx::query("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1")
        .fetch_optional(&mut *connection)
        .await?;
    let Some(row) = row else {
        return Ok((0, chain::GENESIS.to_owned()));
    };
    let position: i64 = row.try_get(0)?;
    let hash: Option<String> = row.try_get(1)?;
    let hash = hash.ok_or_else(|| {
        StoreError::InvalidRequest(format!(
            "the event at position {position} has no hash: the log was not upgraded"
        ))
    })?;
    Ok((position, hash))
}

/// Hashes the events recorded before the log had a hash chain (see [`crate::rehash`]), in one
/// `BEGIN IMMEDIATE` transaction, so no append slips in.
async fn hash_unhashed(writer: &SqlitePool) -> Result<(), StoreError> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    rehash::hash_unhashed(&mut SqliteUnhashed(&mut tx)).await?;
    tx.commit().await?;
    Ok(())
}

/// The event table inside the upgrade's transaction.
struct SqliteUnhashed<'t, 'c>(&'t mut sqlx::Transaction<'c, sqlx::Sqlite>);

#[async_trait::async_trait]
impl UnhashedLog for SqliteUnhashed<'_, '_> {
    async fn first_unhashed(&mut self) -> Result<Option<u64>, StoreError> {
        let first: Option<i64> =
            sqlx::query_scalar("SELECT MIN(position) FROM events WHERE hash IS NULL")
                .fetch_one(&mut **self.0)
                .await?;
        Ok(first.map(unsigned))
    }

    async fn count_from(&mut self, first: u64) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE position >= ?1")
            .bind(signed(first))
            .fetch_one(&mut **self.0)
            .await?;
        Ok(unsigned(count))
    }

    async fn hash_at(&mut self, position: u64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT hash FROM events WHERE position = ?1")
                .bind(signed(position))
                .fetch_one(&mut **self.0)
                .await?,
        )
    }

    async fn read_from(
        &mut self,
        first: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM events WHERE position >= ?1 ORDER BY position LIMIT ?2");
        let rows = sqlx::query(&sql)
            .bind(signed(first))
            .bind(signed(limit as u64))
            .fetch_all(&mut **self.0)
            .await?;
        rows.iter().map(record).collect()
    }

    async fn store_hashes(&mut self, hashes: &[(u64, String)]) -> Result<(), StoreError> {
        for (position, hash) in hashes {
            sqlx::query("UPDATE events SET hash = ?1 WHERE position = ?2")
                .bind(hash)
                .bind(signed(*position))
                .execute(&mut **self.0)
                .await?;
        }
        Ok(())
    }
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
        hash: row
            .try_get::<Option<String>, _>("hash")?
            .unwrap_or_default(),
    })
}

#[async_trait::async_trait]
impl EventStore for SqliteEventStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        validate(&request)?;
        let (request, answer) = self.committer.submit(request).await?;
        match answer {
            Ok(Ok(events)) => {
                let last = events.last().map_or(0, |e| e.position);
                self.recent.keep(&events);
                self.head.send_if_modified(|current| advance(current, last));
                Ok(AppendOutcome {
                    events,
                    duplicate: false,
                })
            }
            Ok(Err((first, last))) => Ok(AppendOutcome {
                events: self.read_positions(first, last).await?,
                duplicate: true,
            }),
            Err(StoreError::Database(error))
                if error
                    .as_database_error()
                    .is_some_and(|db| db.is_unique_violation()) =>
            {
                resolve_unique_violation(self, error, &request).await
            }
            Err(error) => Err(error),
        }
    }

    async fn find_idempotent(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        match idempotent_range(&self.reader, key).await? {
            Some((first, last)) => Ok(Some(self.read_positions(first, last).await?)),
            None => Ok(None),
        }
    }

    async fn consumer_checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        let position: Option<i64> =
            sqlx::query_scalar("SELECT position FROM consumer_checkpoints WHERE name = ?1")
                .bind(name)
                .fetch_optional(&self.reader)
                .await?;
        Ok(position.map_or(0, unsigned))
    }

    async fn save_consumer_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO consumer_checkpoints (name, position) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET position = excluded.position \
             WHERE consumer_checkpoints.position < excluded.position",
        )
        .bind(name)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .execute(&self.writer)
        .await?;
        Ok(())
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
        self.records(&rows).await
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
        self.records(&rows).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&self.reader)
            .await?;
        Ok(unsigned(head))
    }

    fn subscribe(&self, after: u64) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        subscription::follow(self.clone(), self.recent.clone(), after)
    }

    fn head_watch(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    fn keyring(&self) -> &Keyring {
        &self.keys
    }
}

#[async_trait::async_trait]
impl SessionStore for SqliteEventStore {
    async fn insert_session(
        &self,
        id_sha256: &str,
        session: &StoredSession,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO web_sessions (id_sha256, token_sha256, holder, expires_at) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(id_sha256)
        .bind(&session.token_sha256)
        .bind(&session.holder)
        .bind(session.expires_at.timestamp())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn find_session(&self, id_sha256: &str) -> Result<Option<StoredSession>, StoreError> {
        let row: Option<(String, Option<String>, i64)> = sqlx::query_as(
            "SELECT token_sha256, holder, expires_at FROM web_sessions WHERE id_sha256 = ?1",
        )
        .bind(id_sha256)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|(token_sha256, holder, expires_at)| StoredSession {
            token_sha256,
            holder,
            expires_at: sessions::expiry(expires_at),
        }))
    }

    async fn delete_session(&self, id_sha256: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM web_sessions WHERE id_sha256 = ?1 OR expires_at < ?2")
            .bind(id_sha256)
            .bind(now.timestamp())
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
