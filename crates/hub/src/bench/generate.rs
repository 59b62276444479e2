//! Phase: seeded sample data appended to the event log, with progress.

use projections::sample::{self, SampleData};
use store::EventStore;

use super::progress;

/// Appends `messages` messages (see [`sample::generate`]).
pub async fn run(store: &dyn EventStore, messages: usize) -> anyhow::Result<SampleData> {
    let bar = progress::bar(
        "generating",
        (messages / sample::PER_CONVERSATION).max(1) as u64,
        "conversations",
    );
    let data = sample::generate(store, messages, |done, _| bar.set_position(done as u64)).await?;
    bar.finish_and_clear();
    Ok(data)
}
