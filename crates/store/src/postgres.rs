//! The PostgreSQL backend: an append is one call of the `append_events` function (migration
//! `0002`), which assigns positions under a transaction-scoped advisory lock; `LISTEN/NOTIFY`
//! tells subscribers of commits in any process.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use sqlx::postgres::{PgListener, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};
use tokio::sync::watch;
use tokio::task::AbortHandle;
use uuid::Uuid;

use crate::chain::CanonicalParts;
use crate::error::{signed, unsigned};
use crate::group::{commit_failed, Committer, Pending};
use crate::keys::{KeyTable, Keyring, MasterKey};
use crate::rehash::{self, UnhashedLog};
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

const COLUMNS: &str = "position, event_id, stream, version, event_type, schema_version, occurred_at, actor_id, actor_role, data, metadata, hash";

const APPEND: &str =
    "SELECT result, conflict_stream, conflict_actual, first_pos, last_pos, first_versions, hashes \
     FROM append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

const APPEND_GROUP: &str =
    "SELECT result, conflict_stream, conflict_actual, first_pos, last_pos, first_versions, hashes \
     FROM append_event_groups($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
     $15, $16, $17, $18) ORDER BY append_no";

/// The key of the advisory lock that `append_events` hands out positions under.
const APPEND_LOCK: i64 = 7_527_030_514_083_329_139;

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
    keys: Arc<Keyring>,
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
        Self::connect_with(url, pool_size, &MasterKey::InDatabase).await
    }

    /// Like [`Self::connect_with_pool_size`], with the key-encryption key from `master`.
    pub async fn connect_with(
        url: &str,
        pool_size: u32,
        master: &MasterKey,
    ) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            // A write fails fast (503) when the database is unreachable, instead of hanging.
            .acquire_timeout(Duration::from_secs(2))
            .connect(url)
            .await?;
        Self::from_pool_with(pool, master).await
    }

    /// Uses an existing pool: runs migrations and starts the listener (on one connection of
    /// its own with the pool's options). The key-encryption key is kept in the database.
    pub async fn from_pool(pool: PgPool) -> Result<Self, StoreError> {
        Self::from_pool_with(pool, &MasterKey::InDatabase).await
    }

    /// Like [`Self::from_pool`], with the key-encryption key from `master`.
    pub async fn from_pool_with(pool: PgPool, master: &MasterKey) -> Result<Self, StoreError> {
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        hash_unhashed(&pool).await?;
        let keys = Arc::new(Keyring::open(KeyTable::Postgres(pool.clone()), master).await?);
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
            Committer::spawn("postgres", move |group| {
                commit_group(pool.clone(), recent.clone(), head.clone(), group)
            })
        };
        Ok(PgEventStore {
            pool,
            head,
            recent,
            committer,
            keys,
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
        self.records(&rows).await
    }

    /// The records of `rows`, with the data keys of the sealed ones loaded.
    async fn records(&self, rows: &[PgRow]) -> Result<Vec<RecordedEvent>, StoreError> {
        let records = rows.iter().map(record).collect::<Result<Vec<_>, _>>()?;
        self.keys.load_for(&records).await?;
        Ok(records)
    }
}

/// The parallel arrays `append_events` and `append_event_groups` take, for one or more appends.
#[derive(Default)]
struct AppendArrays<'a> {
    writes: Vec<i32>,
    events: Vec<i32>,
    streams: Vec<&'a str>,
    expected: Vec<i64>,
    write_of: Vec<i32>,
    offsets: Vec<i64>,
    event_ids: Vec<Uuid>,
    types: Vec<&'a str>,
    schema_versions: Vec<i32>,
    occurred: Vec<DateTime<Utc>>,
    actor_ids: Vec<Uuid>,
    actor_roles: Vec<&'a str>,
    data: Vec<&'a serde_json::Value>,
    metadata: Vec<&'a serde_json::Value>,
    before_position: Vec<String>,
    before_version: Vec<String>,
    key_actors: Vec<Option<Uuid>>,
    keys: Vec<Option<&'a str>>,
}

impl<'a> AppendArrays<'a> {
    /// Adds one append; its events number their writes from 1 within it.
    fn push(&mut self, request: &'a AppendRequest) {
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        self.writes.push(count(request.writes.len()));
        self.events.push(count(
            request.writes.iter().map(|write| write.events.len()).sum(),
        ));
        for (index, write) in request.writes.iter().enumerate() {
            self.streams.push(write.stream.as_str());
            self.expected.push(match write.expected {
                ExpectedVersion::Any => -1,
                ExpectedVersion::NoStream => -2,
                ExpectedVersion::StreamExists => -3,
                ExpectedVersion::Exact(version) => signed(version),
            });
            for (offset, event) in write.events.iter().enumerate() {
                self.write_of.push(count(index + 1));
                self.offsets.push(offset as i64);
                self.event_ids.push(event.event_id);
                self.types.push(event.event_type.as_str());
                self.schema_versions
                    .push(i32::try_from(event.schema_version).unwrap_or(i32::MAX));
                self.occurred.push(event.occurred_at);
                self.actor_ids.push(event.actor_id);
                self.actor_roles.push(event.actor_role.as_str());
                self.data.push(&event.data);
                self.metadata.push(&event.metadata);
                let parts = CanonicalParts::of(event, &write.stream);
                self.before_position.push(parts.before_position);
                self.before_version.push(parts.before_version);
            }
        }
        let key = request.idempotency.as_ref();
        self.key_actors.push(key.map(|k| k.actor_id));
        self.keys.push(key.map(|k| k.key.as_str()));
    }

    /// Binds the event arrays shared by both functions, from `p_streams` to `p_before_version`.
    fn bind_events<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.streams)
            .bind(&self.expected)
            .bind(&self.write_of)
            .bind(&self.offsets)
            .bind(&self.event_ids)
            .bind(&self.types)
            .bind(&self.schema_versions)
            .bind(&self.occurred)
            .bind(&self.actor_ids)
            .bind(&self.actor_roles)
            .bind(&self.data)
            .bind(&self.metadata)
            .bind(&self.before_position)
            .bind(&self.before_version)
    }
}

/// Calls `append_events` for one append, as its own transaction.
async fn call_append(pool: &PgPool, request: &AppendRequest) -> Result<PgRow, sqlx::Error> {
    let mut arrays = AppendArrays::default();
    arrays.push(request);
    let key = request.idempotency.as_ref();
    arrays
        .bind_events(sqlx::query(APPEND))
        .bind(key.map(|k| k.actor_id))
        .bind(key.map(|k| k.key.as_str()))
        .fetch_one(pool)
        .await
}

/// Calls `append_event_groups` for a whole group: one statement, so one transaction and one
/// round trip. Answers one row per append, in the group's order.
async fn call_append_group(
    pool: &PgPool,
    group: &[Pending<Answer>],
) -> Result<Vec<PgRow>, sqlx::Error> {
    let mut arrays = AppendArrays::default();
    for pending in group {
        arrays.push(&pending.request);
    }
    let rows = sqlx::query(APPEND_GROUP)
        .bind(&arrays.writes)
        .bind(&arrays.events);
    let rows = arrays
        .bind_events(rows)
        .bind(&arrays.key_actors)
        .bind(&arrays.keys)
        .fetch_all(pool)
        .await?;
    if rows.len() != group.len() {
        return Err(sqlx::Error::Protocol(format!(
            "append_event_groups answered {} rows for {} appends",
            rows.len(),
            group.len()
        )));
    }
    Ok(rows)
}

/// Commits a group of appends as one statement, `append_event_groups` (one transaction, one
/// round trip); one by one when the group holds one append or the statement was refused (a
/// unique violation aborts it whole). The appended
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
        match call_append_group(&pool, &group).await {
            Ok(rows) => {
                for (pending, row) in group.into_iter().zip(rows) {
                    let answer = committed(&pending.request, row);
                    pending.answer(answer);
                }
                return;
            }
            Err(error) if nothing_written(&error) => {
                tracing::debug!(%error, "group of appends failed; appending one by one");
            }
            Err(error) => {
                for pending in group {
                    pending.answer(Err(commit_failed(&error)));
                }
                return;
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
    let mut hashes = row.try_get::<Vec<String>, _>("hashes")?.into_iter();
    let mut events = Vec::new();
    for (write, first_version) in request.writes.iter().zip(first_versions) {
        for (offset, event) in write.events.iter().enumerate() {
            let version = unsigned(first_version) + offset as u64;
            let mut record = crate::recorded(event, &write.stream, version, position);
            record.hash = hashes.next().unwrap_or_default();
            events.push(record);
            position += 1;
        }
    }
    Ok(Some(events))
}

/// Whether a failed group statement certainly wrote nothing: the database refused it (a
/// statement that raises is rolled back whole) or it never reached the database. Anything
/// else, such as a connection lost while it ran, leaves the outcome unknown.
fn nothing_written(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Database(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
    )
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

/// Hashes the events recorded before the log had a hash chain (see [`crate::rehash`]), in one
/// transaction holding the append lock; a quick look first, since nearly every open has
/// nothing to do.
async fn hash_unhashed(pool: &PgPool) -> Result<(), StoreError> {
    let unhashed: Option<bool> =
        sqlx::query_scalar("SELECT hash IS NULL FROM events ORDER BY position DESC LIMIT 1")
            .fetch_optional(pool)
            .await?;
    if unhashed != Some(true) {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(APPEND_LOCK)
        .execute(&mut *tx)
        .await?;
    rehash::hash_unhashed(&mut PgUnhashed(&mut tx)).await?;
    tx.commit().await?;
    Ok(())
}

/// The event table inside the upgrade's transaction.
struct PgUnhashed<'t, 'c>(&'t mut sqlx::Transaction<'c, sqlx::Postgres>);

#[async_trait::async_trait]
impl UnhashedLog for PgUnhashed<'_, '_> {
    async fn first_unhashed(&mut self) -> Result<Option<u64>, StoreError> {
        let first: Option<i64> =
            sqlx::query_scalar("SELECT MIN(position) FROM events WHERE hash IS NULL")
                .fetch_one(&mut **self.0)
                .await?;
        Ok(first.map(unsigned))
    }

    async fn count_from(&mut self, first: u64) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE position >= $1")
            .bind(signed(first))
            .fetch_one(&mut **self.0)
            .await?;
        Ok(unsigned(count))
    }

    async fn hash_at(&mut self, position: u64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT hash FROM events WHERE position = $1")
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
            format!("SELECT {COLUMNS} FROM events WHERE position >= $1 ORDER BY position LIMIT $2");
        let rows = sqlx::query(&sql)
            .bind(signed(first))
            .bind(signed(limit as u64))
            .fetch_all(&mut **self.0)
            .await?;
        rows.iter().map(record).collect()
    }

    async fn store_hashes(&mut self, hashes: &[(u64, String)]) -> Result<(), StoreError> {
        let (positions, hashes): (Vec<i64>, Vec<&str>) = hashes
            .iter()
            .map(|(position, hash)| (signed(*position), hash.as_str()))
            .unzip();
        sqlx::query(
            "UPDATE events SET hash = u.hash FROM unnest($1::BIGINT[], $2::TEXT[]) AS u(position, hash) \
             WHERE events.position = u.position",
        )
        .bind(&positions)
        .bind(&hashes)
        .execute(&mut **self.0)
        .await?;
        Ok(())
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
        hash: row
            .try_get::<Option<String>, _>("hash")?
            .unwrap_or_default(),
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
        self.records(&rows).await
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

    fn keyring(&self) -> &Keyring {
        &self.keys
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
