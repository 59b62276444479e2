//! Appends per second for 1, 8 and 64 concurrent writers on each backend, beside the same
//! database's own rate for a plain single-row INSERT transaction at the same concurrency.
//!
//! `cargo bench -p store --bench append`. PostgreSQL: the database `HUB_BENCH_PG_URL` names
//! (its `events` table grows; the raw table is created and dropped), else a fresh database per
//! cell on the test server (`HUB_TEST_PG_URL` or the local one). `HUB_BENCH_SECONDS` per cell,
//! default 3. Both sides of a row use the same pool size: the writers, at most [`MAX_POOL`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;
use store::testing::TestDatabase;
use store::{
    append_to_stream, EventStore, ExpectedVersion, NewEvent, PgEventStore, SqliteEventStore,
};
use uuid::Uuid;

const CONCURRENCY: [usize; 3] = [1, 8, 64];
/// Connections per pool: the test server allows 100 and other suites may be running.
const MAX_POOL: usize = 16;

fn event() -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: "MessageSent".into(),
        schema_version: 1,
        occurred_at: Utc::now(),
        actor_id: Uuid::new_v4(),
        actor_role: "receptionist".into(),
        data: json!({ "body": "Your appointment is confirmed for Tuesday 10:00.", "channel": "sms" }),
        metadata: json!({}),
    }
}

/// Connections per pool at most: `HUB_BENCH_POOL`, default [`MAX_POOL`].
fn max_pool() -> usize {
    std::env::var("HUB_BENCH_POOL")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(MAX_POOL)
}

fn seconds() -> Duration {
    Duration::from_secs_f64(
        std::env::var("HUB_BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3.0),
    )
}

/// Runs `writers` tasks calling `op` until the time is up; answers operations per second.
async fn measure<F, Fut>(writers: usize, op: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + seconds();
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let (op, done) = (op.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    op(writer).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn store_rate(store: Arc<dyn EventStore>, writers: usize) -> f64 {
    measure(writers, move |writer| {
        let store = store.clone();
        async move {
            append_to_stream(
                &*store,
                &format!("bench-{writer}-{}", Uuid::new_v4()),
                ExpectedVersion::NoStream,
                vec![event()],
            )
            .await
            .unwrap();
        }
    })
    .await
}

fn row(backend: &str, writers: usize, hub: f64, raw: f64) {
    println!(
        "| {backend:<10} | {writers:>7} | {hub:>12.0} | {raw:>12.0} | {:>5.0}% |",
        100.0 * hub / raw
    );
}

#[tokio::main]
async fn main() {
    println!("| backend    | writers | appends/s    | raw INSERT/s | ratio |");
    println!("|------------|---------|--------------|--------------|-------|");
    let dir = tempfile::tempdir().unwrap();
    let backends = std::env::var("HUB_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    for writers in CONCURRENCY
        .into_iter()
        .filter(|_| backends.contains("sqlite"))
    {
        eprintln!("SQLite, {writers} writers…");
        let store: Arc<dyn EventStore> = Arc::new(
            SqliteEventStore::open(&dir.path().join(format!("events-{writers}.db")))
                .await
                .unwrap(),
        );
        let hub = store_rate(store, writers).await;
        let options = store::sqlite::connect_options(&dir.path().join(format!("raw-{writers}.db")));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE raw (id INTEGER PRIMARY KEY, data TEXT NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        let raw = measure(writers, move |_| {
            let pool = pool.clone();
            async move {
                sqlx::query("INSERT INTO raw (data) VALUES (?1)")
                    .bind(event().data.to_string())
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        })
        .await;
        row("SQLite", writers, hub, raw);
    }
    let target = std::env::var("HUB_BENCH_PG_URL").ok();
    for writers in CONCURRENCY
        .into_iter()
        .filter(|_| backends.contains("postgres"))
    {
        eprintln!("postgres, {writers} writers…");
        let database = match &target {
            Some(_) => None,
            None => Some(TestDatabase::create().await.unwrap()),
        };
        let url = target
            .clone()
            .or_else(|| database.as_ref().map(|d| d.url.clone()))
            .unwrap();
        let pool_size = writers.min(max_pool()) as u32;
        let pg = PgEventStore::connect_with_pool_size(&url, pool_size)
            .await
            .unwrap();
        let hub = store_rate(Arc::new(pg.clone()), writers).await;
        pg.pool().close().await;
        drop(pg);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .connect(&url)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE store_bench_raw (id BIGSERIAL PRIMARY KEY, data JSONB NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        let raw_pool = pool.clone();
        let raw = measure(writers, move |_| {
            let pool = raw_pool.clone();
            async move {
                sqlx::query("INSERT INTO store_bench_raw (data) VALUES ($1)")
                    .bind(event().data)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        })
        .await;
        sqlx::query("DROP TABLE store_bench_raw")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        row("PostgreSQL", writers, hub, raw);
        if let Some(database) = database {
            let _ = database.drop_database().await;
        }
    }
}
