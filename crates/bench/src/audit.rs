//! `hub audit verify`'s speed: the hash chain recomputed over the whole log, beside the rate
//! of merely reading the same log in the same batches (the machine's limit for it).

use std::time::Instant;

use store::chain::{self, Verdict};
use store::EventStore;

use crate::progress;
use crate::report::{ratio, AuditFigures};

/// Events read at once when only reading (as `chain::verify` reads them).
const READ_BATCH: usize = 5_000;

/// Verifies the chain, then reads the log without verifying.
pub async fn run(store: &dyn EventStore) -> anyhow::Result<AuditFigures> {
    let spinner = progress::timed("audit verify");
    let started = Instant::now();
    let verdict = chain::verify(store, 1, |_| {}).await?;
    let verify_took = started.elapsed();
    let Verdict::Holds { count, .. } = verdict else {
        anyhow::bail!("the generated log's chain does not hold: {verdict:?}");
    };
    spinner.set_message("reading the log without verifying");
    let started = Instant::now();
    let mut after = 0;
    let mut read = 0u64;
    loop {
        let batch = store.read_all(after, READ_BATCH, None).await?;
        let Some(last) = batch.last() else { break };
        after = last.position;
        read += batch.len() as u64;
    }
    let read_took = started.elapsed();
    spinner.finish_and_clear();
    let verify_events_per_sec = count as f64 / verify_took.as_secs_f64();
    let read_events_per_sec = read as f64 / read_took.as_secs_f64();
    Ok(AuditFigures {
        events: count,
        verify_events_per_sec,
        read_events_per_sec,
        ratio: ratio(verify_events_per_sec, read_events_per_sec),
    })
}
