//! Phase: latency of each inbox query shape against the read models, one query at a time.

use std::time::{Duration, Instant};

use crate::sample::{percentile_ms, QueryShape};
use domain::PatientId;
use projections::ReadModel;

use super::progress;
use super::report::QueryFigures;

/// Runs every shape `repeats` times; p50 and p99 per shape.
pub async fn run(
    model: &dyn ReadModel,
    patients: &[PatientId],
    repeats: usize,
) -> anyhow::Result<Vec<QueryFigures>> {
    let bar = progress::bar(
        "querying",
        (QueryShape::ALL.len() * repeats) as u64,
        "queries",
    );
    let mut figures = Vec::new();
    for shape in QueryShape::ALL {
        let mut times: Vec<Duration> = Vec::with_capacity(repeats);
        for i in 0..repeats {
            let started = Instant::now();
            shape.run(model, patients, i).await?;
            times.push(started.elapsed());
            bar.inc(1);
        }
        times.sort();
        figures.push(QueryFigures {
            shape: shape.name().to_owned(),
            p50_ms: percentile_ms(&times, 0.5),
            p99_ms: percentile_ms(&times, 0.99),
        });
    }
    bar.finish_and_clear();
    Ok(figures)
}
