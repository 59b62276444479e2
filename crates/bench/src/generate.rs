//! Phase: seeded sample data appended to the event log, with progress.

use std::sync::Arc;

use commands::Executor;
use store::EventStore;

use crate::progress;
use crate::sample::{self, SampleData};

/// Appends `messages` messages (see [`sample::generate`]).
pub async fn run(store: &Arc<dyn EventStore>, messages: usize) -> anyhow::Result<SampleData> {
    let executor = Executor::new(store.clone());
    let bar = progress::bar(
        "generating",
        (messages / sample::PER_CONVERSATION).max(1) as u64,
        "conversations",
    );
    let data =
        sample::generate(&executor, messages, |done, _| bar.set_position(done as u64)).await?;
    bar.finish_and_clear();
    Ok(data)
}
