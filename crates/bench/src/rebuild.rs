//! Phase: a full replay of the event log into fresh read models (blue/green), with progress.

use std::time::Duration;

use projections::SqlReadModel;
use store::EventStore;

use super::progress;

/// Rebuilds the live read models from position 0; the events replayed and the time it took.
pub async fn run(store: &dyn EventStore, model: &SqlReadModel) -> anyhow::Result<(u64, Duration)> {
    let head = store.head_position().await?;
    let bar = progress::bar("rebuilding read models", head, "events");
    let outcome = projections::replay(store, model, None, None, |p| {
        bar.set_length(p.head);
        bar.set_position(p.position);
    })
    .await?;
    bar.finish_and_clear();
    Ok((outcome.position, outcome.took))
}
