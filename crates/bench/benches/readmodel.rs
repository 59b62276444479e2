//! Projection rebuild speed and query latency per query shape, on each backend.
//!
//! `HUB_BENCH_MESSAGES=100000 cargo bench -p projections --bench readmodel` (default 100,000
//! messages in conversations of 10; the full scale is 1,000,000). Data is generated
//! deterministically (seeded, `bench::sample`) and shows progress on stderr. `hub bench`
//! measures the same shapes on the same data, beside the whole hub's other figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::sample::{self, percentile_ms, QueryShape};
use projections::SqlReadModel;
use store::testing::TestDatabase;
use store::EventStore;

const QUERIES: usize = 200;

async fn run(backend: &str, store: Arc<dyn EventStore>, model: Arc<SqlReadModel>, messages: usize) {
    eprintln!("{backend}: generating {messages} messages…");
    let started = Instant::now();
    let executor = commands::Executor::new(store.clone());
    let data = sample::generate(&executor, messages, |done, all| {
        if done % 2_000 == 0 || done == all {
            eprintln!(
                "  generated {done} conversations ({:.0}/s)",
                done as f64 / started.elapsed().as_secs_f64()
            );
        }
    })
    .await
    .unwrap();
    let head = store.head_position().await.unwrap();
    eprintln!("{backend}: rebuilding from {head} events…");
    let started = Instant::now();
    let mut last_report = Instant::now();
    projections::replay(&*store, &model, None, None, |p| {
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "  replay at {}/{} ({:.0} events/s, ETA {}s)",
                p.position,
                p.head,
                p.events_per_sec,
                p.eta.as_secs()
            );
            last_report = Instant::now();
        }
    })
    .await
    .unwrap();
    let rate = head as f64 / started.elapsed().as_secs_f64();
    println!("| {backend:<10} | rebuild of {head} events             | {rate:>8.0} events/s |");
    for shape in QueryShape::ALL {
        let mut times = Vec::with_capacity(QUERIES);
        for i in 0..QUERIES {
            let started = Instant::now();
            shape.run(&*model, &data.patients, i).await.unwrap();
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "| {backend:<10} | {:<34} | {:>8.2} | {:>8.2} |",
            shape.name(),
            percentile_ms(&times, 0.5),
            percentile_ms(&times, 0.99)
        );
    }
}

#[tokio::main]
async fn main() {
    let messages: usize = std::env::var("HUB_BENCH_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    println!("| backend    | query shape                        | p50 ms   | p99 ms   |");
    println!("|------------|------------------------------------|----------|----------|");
    let dir = tempfile::tempdir().unwrap();
    let store = store::open_store(None, &dir.path().join("events.db"), None)
        .await
        .unwrap();
    let model = projections::open_read_model(None, &dir.path().join("readmodel.db"))
        .await
        .unwrap();
    run("SQLite", store, model, messages).await;
    let database = TestDatabase::create().await.unwrap();
    let store = store::open_store(Some(&database.url), &dir.path().join("unused.db"), None)
        .await
        .unwrap();
    let model = projections::open_read_model(Some(&database.url), &dir.path().join("unused-rm.db"))
        .await
        .unwrap();
    run("PostgreSQL", store, model, messages).await;
    let _ = database.drop_database().await;
}
