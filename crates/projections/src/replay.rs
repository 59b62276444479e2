//! Replay: rebuild the read models from position 0 into a fresh generation and swap it in
//! (blue/green), rebuild one projection of the live generation in place, or build a
//! point-in-time copy that never touches the live models.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::{Connection, Executor, Row};
use store::EventStore;

use crate::model::SqlReadModel;
use crate::projector::{apply_batch, BatchOutcome, DecodedBatch};
use crate::sql::{valid_namespace, Dialect, Sql, Tables};
use crate::{Projection, QueryError};

/// Events read and applied per transaction during replay.
const REPLAY_BATCH: usize = 2_000;

/// Where a point-in-time replay stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayLimit {
    /// Include events up to this global position.
    Position(u64),
    /// Include events recorded up to this time.
    Time(DateTime<Utc>),
}

/// Progress of a replay, reported after every batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayProgress {
    /// The last position applied.
    pub position: u64,
    /// The event log's head when last read.
    pub head: u64,
    /// Applied events per second so far.
    pub events_per_sec: f64,
    /// Estimated time left.
    pub eta: Duration,
}

/// What a replay built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayOutcome {
    /// The last position included.
    pub position: u64,
    /// The generation or copy built: a PostgreSQL schema, or a SQLite table prefix or file name.
    pub name: String,
    /// How long it took until the copy was complete or the new generation was live (the
    /// replaced generation is dropped a few seconds later, when no process reads it any more).
    pub took: Duration,
}

/// Rebuilds the read models from the event log. Without `into`, builds the next generation
/// and swaps it in as the live one; with `into`, builds a point-in-time copy named `into`
/// (a PostgreSQL schema, or a SQLite file `<into>.db` beside the live one) up to `until`.
pub async fn replay(
    store: &dyn EventStore,
    model: &SqlReadModel,
    until: Option<ReplayLimit>,
    into: Option<String>,
    mut progress: impl FnMut(ReplayProgress),
) -> Result<ReplayOutcome, QueryError> {
    match into {
        Some(name) => {
            if !valid_namespace(&name) {
                return Err(QueryError::InvalidName(name));
            }
            match model.dialect() {
                Dialect::Postgres => {
                    let tables = Tables::new(Dialect::Postgres, &name);
                    let exists: Option<String> = sqlx::query_scalar(
                        "SELECT nspname::text FROM pg_namespace WHERE nspname = $1",
                    )
                    .bind(name.as_str())
                    .fetch_optional(model.pool())
                    .await?;
                    if exists.is_some() {
                        return Err(QueryError::Exists(name));
                    }
                    build(store, model, &tables, until, &mut progress).await
                }
                Dialect::Sqlite => {
                    let path = model
                        .sqlite_copy_path(&name)
                        .ok_or_else(|| QueryError::InvalidName(name.clone()))?;
                    if path.exists() {
                        return Err(QueryError::Exists(name));
                    }
                    let copy = SqlReadModel::open_sqlite_copy(&path).await?;
                    let outcome = build(
                        store,
                        &copy,
                        &Tables::new(Dialect::Sqlite, ""),
                        until,
                        &mut progress,
                    )
                    .await?;
                    Ok(ReplayOutcome {
                        name: format!("{name}.db"),
                        ..outcome
                    })
                }
            }
        }
        None => {
            let started = Instant::now();
            let old = model.read_live().await?;
            let new = model.generation(SqlReadModel::generation_number(&old) + 1);
            let mut conn = model.pool().acquire().await?;
            for statement in new.drop_statements() {
                conn.execute(statement.as_str()).await?;
            }
            drop(conn);
            let outcome = build(store, model, &new, until, &mut progress).await?;
            let mut tx = model.pool().begin().await?;
            let mut swap = Sql::new(model.dialect(), "UPDATE readmodel_meta SET value = ");
            swap.text(new.namespace()).push(" WHERE key = 'live'");
            swap.query().execute(&mut *tx).await?;
            tx.commit().await?;
            tracing::info!(
                generation = new.namespace(),
                position = outcome.position,
                "swapped in the rebuilt read models"
            );
            model.read_live().await?;
            let outcome = ReplayOutcome {
                took: started.elapsed(),
                ..outcome
            };
            // Other processes may still query the old generation until their cached name of
            // the live one expires.
            tokio::time::sleep(crate::model::OLD_GENERATION_GRACE).await;
            let mut conn = model.pool().acquire().await?;
            for statement in old.drop_statements() {
                conn.execute(statement.as_str()).await?;
            }
            Ok(outcome)
        }
    }
}

/// Creates `tables` and applies every event (up to `until`) in batches.
async fn build(
    store: &dyn EventStore,
    model: &SqlReadModel,
    tables: &Tables,
    until: Option<ReplayLimit>,
    progress: &mut impl FnMut(ReplayProgress),
) -> Result<ReplayOutcome, QueryError> {
    let ddl = tables.ddl();
    {
        let mut conn = model.pool().acquire().await?;
        for statement in &ddl.tables {
            conn.execute(statement.as_str()).await?;
        }
    }
    let started = Instant::now();
    let mut position = 0;
    let mut next = store.read_all(0, REPLAY_BATCH, None).await?;
    loop {
        let head = store.head_position().await?;
        let mut batch = std::mem::take(&mut next);
        let full = batch.len() == REPLAY_BATCH;
        let read_to = batch.last().map_or(position, |event| event.position);
        let before = batch.len();
        batch.retain(|event| match until {
            Some(ReplayLimit::Position(last)) => event.position <= last,
            Some(ReplayLimit::Time(last)) => event.occurred_at <= last,
            None => true,
        });
        let reached_limit = batch.len() < before;
        let more = full && !reached_limit;
        // Read the next batch while this one is applied.
        let apply = async {
            let mut applied = position;
            let mut conn = model.pool().acquire().await?;
            // Decoded once for every projection.
            let decoded = DecodedBatch::decode(&batch, store.keyring());
            for projection in Projection::ALL {
                if let BatchOutcome::Applied(last) = apply_batch(
                    model, &mut conn, tables, projection, position, &decoded, false,
                )
                .await?
                {
                    applied = last;
                }
            }
            Ok::<_, QueryError>(applied)
        };
        let read_ahead = async {
            if more {
                Ok(store.read_all(read_to, REPLAY_BATCH, None).await?)
            } else {
                Ok::<_, QueryError>(Vec::new())
            }
        };
        (position, next) = futures::try_join!(apply, read_ahead)?;
        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        let events_per_sec = position as f64 / elapsed;
        let left = head.saturating_sub(position) as f64;
        progress(ReplayProgress {
            position,
            head,
            events_per_sec,
            eta: Duration::from_secs_f64(if events_per_sec > 0.0 {
                left / events_per_sec
            } else {
                0.0
            }),
        });
        if !more {
            break;
        }
    }
    tracing::info!(position, "replayed; creating the query indexes");
    create_query_indexes(model, &ddl.query_indexes).await?;
    if model.dialect() == Dialect::Sqlite {
        // The bulk load left FTS5 with a segment per flush; a search probing it row by row
        // seeks in each. Merge them into one, as the query indexes are built once.
        let search = tables.name("message_search");
        let mut conn = model.pool().acquire().await?;
        conn.execute(format!("INSERT INTO {search} ({search}) VALUES ('optimize')").as_str())
            .await?;
    }
    // Fresh tables have no planner statistics yet: gather them before anyone queries.
    let mut conn = model.pool().acquire().await?;
    let inbox = [
        "conversations",
        "participants",
        "messages",
        "stars",
        "message_attachments",
    ];
    for table in inbox.into_iter().chain(crate::reporting::TABLES) {
        conn.execute(format!("ANALYZE {}", tables.name(table)).as_str())
            .await?;
    }
    Ok(ReplayOutcome {
        position,
        name: tables.namespace().to_owned(),
        took: started.elapsed(),
    })
}

/// Creates the indexes only queries use, once the tables are full: each is built from one sorted
/// pass over its table (PostgreSQL with more sort memory and its parallel index build).
async fn create_query_indexes(
    model: &SqlReadModel,
    statements: &[String],
) -> Result<(), QueryError> {
    let mut tx = model.pool().begin().await?;
    if model.dialect() == Dialect::Postgres {
        tx.execute("SET LOCAL maintenance_work_mem = '256MB'")
            .await?;
    }
    for statement in statements {
        tx.execute(statement.as_str()).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Rebuilds one projection of the live generation from position 0, in one transaction: its
/// checkpoint row is taken first (its worker, in whatever process, cannot commit a batch
/// until this commits, and afterwards finds its checkpoint moved and resumes from the new
/// one), its tables are emptied and refilled from the whole log, and its checkpoint set to
/// the last position applied, never below where it stood. Readers see the previous rows until
/// the commit (PostgreSQL's snapshots, SQLite's write-ahead log); on SQLite the other
/// projectors wait for the commit too, as SQLite has one writer at a time.
pub async fn replay_projection(
    store: &dyn EventStore,
    model: &SqlReadModel,
    projection: Projection,
    mut progress: impl FnMut(ReplayProgress),
) -> Result<ReplayOutcome, QueryError> {
    let started = Instant::now();
    let tables = model.read_live().await?;
    let checkpoint = tables.name("checkpoint");
    let mut conn = model.pool().acquire().await?;
    let mut tx = conn.begin().await?;
    let mut take = Sql::new(
        model.dialect(),
        format!("UPDATE {checkpoint} SET position = position WHERE projection = "),
    );
    take.text(projection.name());
    take.query().execute(&mut *tx).await?;
    let mut held = Sql::new(
        model.dialect(),
        format!("SELECT position FROM {checkpoint} WHERE projection = "),
    );
    held.text(projection.name());
    let held: i64 = held.query().fetch_one(&mut *tx).await?.try_get(0)?;
    for table in projection.tables(model.dialect()) {
        tx.execute(format!("DELETE FROM {}", tables.name(table)).as_str())
            .await?;
    }
    let mut position = 0;
    loop {
        let head = store.head_position().await?;
        let batch = store.read_all(position, REPLAY_BATCH, None).await?;
        let Some(last) = batch.last().map(|event| event.position) else {
            break;
        };
        let decoded = DecodedBatch::decode(&batch, store.keyring());
        projection
            .apply(&mut tx, &tables, decoded.envelopes())
            .await?;
        position = last;
        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        let events_per_sec = position as f64 / elapsed;
        let left = head.saturating_sub(position) as f64;
        progress(ReplayProgress {
            position,
            head,
            events_per_sec,
            eta: Duration::from_secs_f64(if events_per_sec > 0.0 {
                left / events_per_sec
            } else {
                0.0
            }),
        });
    }
    // The log held every event up to `held` when the row was taken, and the loop above read
    // to its end: the checkpoint moves back only when it was ahead of the log itself.
    if i64::try_from(position).unwrap_or(i64::MAX) < held {
        tracing::warn!(
            held,
            position,
            "the checkpoint was ahead of the event log; rebuilt to the log's end"
        );
    }
    let mut set = Sql::new(
        model.dialect(),
        format!("UPDATE {checkpoint} SET position = "),
    );
    set.int(i64::try_from(position).unwrap_or(i64::MAX))
        .push(" WHERE projection = ")
        .text(projection.name());
    set.query().execute(&mut *tx).await?;
    tx.commit().await?;
    tracing::info!(
        projection = projection.name(),
        position,
        "rebuilt one projection of the live read models"
    );
    model.signal_applied(projection, position);
    Ok(ReplayOutcome {
        position,
        name: tables.namespace().to_owned(),
        took: started.elapsed(),
    })
}
