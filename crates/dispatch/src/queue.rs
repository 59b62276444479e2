//! Queue depth per channel: how many outbound messages of each channel the event log holds
//! after a dispatcher's position, sampled every few seconds while the dispatcher runs. The
//! scan stops after [`MAX_SCAN`] events, so a very long backlog reads as at least that deep.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use domain::{Channel, Direction};
use store::{EventStore, StoreError, READ_BATCH};
use tokio::task::JoinHandle;

/// How often the depth is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// The most events one sample reads.
const MAX_SCAN: u64 = 10_000;

/// Where a dispatcher has got to in the log: every event up to this position is finished.
#[derive(Debug, Default)]
pub(crate) struct Progress(AtomicU64);

impl Progress {
    /// Progress starting at `position`.
    pub(crate) fn at(position: u64) -> Arc<Self> {
        Arc::new(Progress(AtomicU64::new(position)))
    }

    /// Notes that everything up to `position` is finished (it never moves back).
    pub(crate) fn finished(&self, position: u64) {
        self.0.fetch_max(position, Ordering::Relaxed);
    }

    fn position(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Samples the queue depth of `channels` after `progress` until dropped.
pub(crate) struct Sampler(JoinHandle<()>);

impl Sampler {
    /// Starts sampling (the gauges read 0 until the first sample).
    pub(crate) fn start(
        store: Arc<dyn EventStore>,
        channels: Vec<Channel>,
        progress: Arc<Progress>,
    ) -> Self {
        for channel in &channels {
            crate::metrics::queue_depth(*channel, 0);
        }
        Sampler(tokio::spawn(async move {
            loop {
                match depth(store.as_ref(), &channels, progress.position()).await {
                    Ok(depths) => {
                        for channel in &channels {
                            let depth = depths.get(channel).copied().unwrap_or(0);
                            crate::metrics::queue_depth(*channel, depth);
                        }
                    }
                    Err(error) => tracing::debug!(%error, "sampling the dispatch queue failed"),
                }
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
        }))
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The outbound messages of `channels` in the log after `after`, per channel.
async fn depth(
    store: &dyn EventStore,
    channels: &[Channel],
    mut after: u64,
) -> Result<HashMap<Channel, u64>, StoreError> {
    let mut depths = HashMap::new();
    let mut scanned = 0;
    while scanned < MAX_SCAN {
        let batch = store.read_all(after, READ_BATCH, None).await?;
        let Some(last) = batch.last() else { break };
        after = last.position;
        scanned += batch.len() as u64;
        // Channel and direction are never sealed: read them without opening the message.
        for record in batch.iter().filter(|r| r.event_type == "MessageSent") {
            let field = |name: &str| record.data.get(name).cloned().unwrap_or_default();
            let channel = serde_json::from_value::<Channel>(field("channel"));
            let direction = serde_json::from_value::<Direction>(field("direction"));
            if let (Ok(channel), Ok(Direction::Outbound)) = (channel, direction) {
                if channels.contains(&channel) {
                    *depths.entry(channel).or_default() += 1;
                }
            }
        }
    }
    Ok(depths)
}
