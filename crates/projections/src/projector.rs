//! The projector: catches up from its checkpoint, then follows new commits, applying each
//! batch and its checkpoint in one transaction with compare-and-set on the checkpoint.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use domain::EventEnvelope;
use futures::{FutureExt, StreamExt};
use sqlx::{AnyConnection, Connection, Executor, Row};
use store::{EventStore, RecordedEvent};

use crate::model::SqlReadModel;
use crate::sql::{Dialect, Sql, Tables};
use crate::{Projection, QueryError};
use eventlog::codec;
use store::keys::Keyring;

/// The most events one transaction applies.
const BATCH: usize = 500;

/// Keeps the live read models up to date with the event log.
pub struct Projector {
    store: Arc<dyn EventStore>,
    model: Arc<SqlReadModel>,
    projection: Projection,
}

/// How a batch ended.
pub(crate) enum BatchOutcome {
    /// Applied; the checkpoint is now this position.
    Applied(u64),
    /// The checkpoint or the live generation changed under us: reload and resubscribe.
    Moved,
}

impl Projector {
    /// A projector of `projection` from `store` into `model`.
    pub fn new(
        store: Arc<dyn EventStore>,
        model: Arc<SqlReadModel>,
        projection: Projection,
    ) -> Self {
        Projector {
            store,
            model,
            projection,
        }
    }

    /// Runs until `shutdown` completes, restarting after errors.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), QueryError> {
        tokio::select! {
            _ = shutdown => Ok(()),
            result = self.run_forever() => result,
        }
    }

    async fn run_forever(&self) -> Result<(), QueryError> {
        loop {
            match self.run_once().await {
                Ok(()) => {}
                Err(error) => {
                    tracing::warn!(%error, "projector failed; restarting");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Holds the single-worker lock, then projects until the generation or checkpoint moves.
    /// The lock lives on a connection of its own, detached from the pool, so that however this
    /// worker ends (error, abort, crash) the connection closes and the lock is released.
    async fn run_once(&self) -> Result<(), QueryError> {
        let mut lock = self.model.pool().acquire().await?.detach();
        if self.model.dialect() == Dialect::Postgres {
            // The read models need not wait for their commits to reach the disk: rows and
            // checkpoint commit together, so a crash can only lose whole batches, which the
            // projector applies again from the log (the log's own appends stay synchronous).
            // Readers see a batch as soon as it commits either way; not waiting for the WAL
            // flush shortens the time until they do.
            lock.execute("SET synchronous_commit = off").await?;
            loop {
                let acquired: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
                    .bind(self.projection.lock_key())
                    .fetch_one(&mut lock)
                    .await?
                    .try_get(0)?;
                if acquired {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        // The lock's connection also writes the batches: the projector never queues for a
        // connection behind the queries.
        let result = self.follow(&mut lock).await;
        drop(lock);
        result
    }

    /// Wakes in-process readers waiting for the read models to reach `position`.
    fn signal(&self, position: u64) {
        self.model.signal_applied(self.projection, position);
    }

    async fn follow(&self, conn: &mut AnyConnection) -> Result<(), QueryError> {
        let tables = self.model.read_live().await?;
        let mut checkpoint = self.model.checkpoint_of(&tables, self.projection).await?;
        self.signal(checkpoint);
        let head = *self.store.head_watch().borrow();
        crate::metrics::applied(self.projection, checkpoint, head.max(checkpoint));
        tracing::info!(
            checkpoint,
            generation = tables.namespace(),
            "projector following the event log"
        );
        let mut events = self.store.subscribe(checkpoint);
        loop {
            let Some(first) = events.next().await else {
                return Ok(());
            };
            let mut batch = vec![first?];
            while batch.len() < BATCH {
                match events.next().now_or_never() {
                    Some(Some(event)) => batch.push(event?),
                    _ => break,
                }
            }
            match apply_batch(
                &self.model,
                conn,
                &tables,
                self.projection,
                checkpoint,
                &DecodedBatch::decode(&batch, self.store.keyring()),
                true,
            )
            .await?
            {
                BatchOutcome::Applied(position) => {
                    checkpoint = position;
                    self.signal(position);
                    let head = *self.store.head_watch().borrow();
                    crate::metrics::applied(self.projection, position, head.max(position));
                }
                BatchOutcome::Moved => return Ok(()),
            }
        }
    }
}

/// Decodes a record; events this version does not know are skipped (their position still counts).
fn decode(record: &RecordedEvent, keys: &Keyring) -> Option<EventEnvelope> {
    match codec::decode(record, keys) {
        Ok(envelope) => Some(envelope),
        Err(error) => {
            tracing::warn!(%error, "skipping an event the read models do not know");
            None
        }
    }
}

/// A batch of the log, decoded once for every projection that applies it.
pub(crate) struct DecodedBatch {
    /// The position of the batch's last event (`None` for an empty batch).
    last: Option<u64>,
    /// The events this version knows, in order.
    envelopes: Vec<EventEnvelope>,
}

impl DecodedBatch {
    /// Decodes `batch`, opening sealed fields with `keys`; events this version does not know
    /// are skipped.
    pub(crate) fn decode(batch: &[RecordedEvent], keys: &Keyring) -> Self {
        DecodedBatch {
            last: batch.last().map(|e| e.position),
            envelopes: batch
                .iter()
                .filter_map(|record| decode(record, keys))
                .collect(),
        }
    }

    /// The events this version knows, in order.
    pub(crate) fn envelopes(&self) -> &[EventEnvelope] {
        &self.envelopes
    }
}

impl DecodedBatch {
    /// Whether the batch erases a patient.
    fn erases(&self) -> bool {
        self.envelopes
            .iter()
            .any(|envelope| matches!(envelope.event, domain::Event::PatientErased(_)))
    }
}

/// Applies `batch` to `tables` and moves the checkpoint from `from` to the batch's last
/// position, all in one transaction; nothing is applied when the checkpoint is not at `from`
/// or, with `require_live`, `tables` is no longer the live generation. After a batch with an
/// erasure the database is scrubbed (`crate::erasure::scrub`).
pub(crate) async fn apply_batch(
    model: &SqlReadModel,
    conn: &mut AnyConnection,
    tables: &Tables,
    projection: Projection,
    from: u64,
    batch: &DecodedBatch,
    require_live: bool,
) -> Result<BatchOutcome, QueryError> {
    let Some(last) = batch.last else {
        return Ok(BatchOutcome::Applied(from));
    };
    let mut tx = conn.begin().await?;
    let mut cas = Sql::new(
        model.dialect(),
        format!("UPDATE {} SET position = ", tables.name("checkpoint")),
    );
    cas.int(signed(last))
        .push(" WHERE projection = ")
        .text(projection.name())
        .push(" AND position = ")
        .int(signed(from));
    if cas.query().execute(&mut *tx).await?.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(BatchOutcome::Moved);
    }
    if require_live {
        let live: Option<String> =
            sqlx::query_scalar("SELECT value FROM readmodel_meta WHERE key = 'live'")
                .fetch_optional(&mut *tx)
                .await?;
        if live.as_deref() != Some(tables.namespace()) {
            tx.rollback().await?;
            return Ok(BatchOutcome::Moved);
        }
    }
    projection.apply(&mut tx, tables, &batch.envelopes).await?;
    tx.commit().await?;
    if batch.erases() {
        crate::erasure::scrub(conn, tables, projection).await?;
    }
    Ok(BatchOutcome::Applied(last))
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
