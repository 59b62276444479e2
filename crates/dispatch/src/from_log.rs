//! The embedded dispatcher: follows the event log's own subscription, with its checkpoint
//! in the event store, when no NATS server is configured.

use std::sync::Arc;
use std::time::Duration;

use eventlog::codec;
use futures::StreamExt;
use store::{EventStore, StoreError};

use crate::outbound::{Dispatcher, Handled};

/// The name of this dispatcher's checkpoint in the event store.
pub const CHECKPOINT: &str = "dispatch";
/// How often a message another dispatcher holds is looked at again.
const HELD_POLL: Duration = Duration::from_millis(500);
/// The longest wait before an event whose handling failed is tried again.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// Hands every event after the checkpoint to the dispatcher, in order, and moves the
/// checkpoint past each event once it is handled. Runs until `shutdown` or a store error.
pub async fn run(
    dispatcher: Arc<Dispatcher>,
    store: Arc<dyn EventStore>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), StoreError> {
    tokio::pin!(shutdown);
    let start = store.consumer_checkpoint(CHECKPOINT).await?;
    tracing::info!(position = start, channels = ?dispatcher.channels(), "dispatching from the event log");
    let mut events = store.subscribe(start);
    loop {
        let record = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            record = events.next() => record,
        };
        let Some(record) = record else {
            return Ok(());
        };
        let record = record?;
        let envelope = codec::decode(&record, store.keyring())
            .map_err(|e| StoreError::InvalidRequest(e.to_string()))?;
        let mut wait = Duration::from_millis(100);
        loop {
            match dispatcher.handle(&envelope).await {
                Ok(Handled::Skipped) => break,
                Ok(Handled::Settled(_)) => {
                    store
                        .save_consumer_checkpoint(CHECKPOINT, record.position)
                        .await?;
                    break;
                }
                Ok(Handled::HeldElsewhere(until)) => {
                    // Another dispatcher is sending it: look again shortly (it usually settles
                    // within a provider call); past its lease the claim is abandoned.
                    let left = (until - chrono::Utc::now()).to_std().unwrap_or_default();
                    tokio::time::sleep(left.min(HELD_POLL) + Duration::from_millis(10)).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "dispatch failed; trying the event again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_WAIT);
                }
            }
        }
    }
}
