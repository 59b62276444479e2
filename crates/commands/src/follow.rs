//! Keeping the aggregate caches current with what other nodes append.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::executor::Executor;

/// Keeps the executor's caches current with what other nodes append: every event the log
/// delivers is folded into the cached state of its stream. Runs until the task is dropped; when
/// the subscription fails the caches are cleared (nothing stale is trusted) and it resubscribes.
pub async fn follow_log(executor: Arc<Executor>) {
    loop {
        let head = match executor.store().head_position().await {
            Ok(head) => head,
            Err(error) => {
                tracing::warn!(%error, "cache follower cannot read the log head; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut events = executor.store().subscribe(head);
        while let Some(next) = events.next().await {
            match next {
                Ok(record) => executor
                    .caches()
                    .follow(&record, executor.store().keyring()),
                Err(error) => {
                    tracing::warn!(%error, "cache follower lost the log; clearing the caches");
                    break;
                }
            }
        }
        executor.caches().clear();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
