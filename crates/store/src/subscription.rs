//! Catch-up-then-follow subscriptions shared by both backends.

use std::collections::VecDeque;
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};

use crate::{EventStore, RecordedEvent, StoreError, READ_BATCH};

/// How long a follower waits for a commit signal before it looks again anyway.
const RECHECK: Duration = Duration::from_secs(1);

struct Follower<S> {
    store: S,
    after: u64,
    buffer: VecDeque<RecordedEvent>,
    head: tokio::sync::watch::Receiver<u64>,
    failed: bool,
}

/// Every event after `after`, reading batches while there are any and waiting for the head
/// to move (or the re-check timer) when there are none.
pub(crate) fn follow<S>(
    store: S,
    after: u64,
) -> BoxStream<'static, Result<RecordedEvent, StoreError>>
where
    S: EventStore + Clone,
{
    let head = store.head_watch();
    let follower = Follower {
        store,
        after,
        buffer: VecDeque::new(),
        head,
        failed: false,
    };
    stream::unfold(follower, |mut f| async move {
        if f.failed {
            return None;
        }
        loop {
            if let Some(event) = f.buffer.pop_front() {
                f.after = event.position;
                return Some((Ok(event), f));
            }
            // Mark the head as seen before reading: a commit signalled after this point wakes
            // the wait below, one signalled before it is visible to the read.
            f.head.borrow_and_update();
            match f.store.read_all(f.after, READ_BATCH, None).await {
                Ok(batch) if !batch.is_empty() => f.buffer.extend(batch),
                Ok(_) => {
                    // A commit signal or the re-check timer, whichever comes first: read again.
                    if let Ok(Err(_)) = tokio::time::timeout(RECHECK, f.head.changed()).await {
                        // The store's signal is gone (cannot happen while `f.store` lives):
                        // fall back to the timer alone.
                        tokio::time::sleep(RECHECK).await;
                    }
                }
                Err(error) => {
                    f.failed = true;
                    return Some((Err(error), f));
                }
            }
        }
    })
    .boxed()
}

/// Moves a known head forward, never back; `true` when it moved.
pub(crate) fn advance(current: &mut u64, position: u64) -> bool {
    if position > *current {
        *current = position;
        true
    } else {
        false
    }
}
