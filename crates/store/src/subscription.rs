//! Catch-up-then-follow subscriptions shared by both backends.
//!
//! A process's followers (its projector, its dispatchers, the command side's cache follower)
//! each used to read every new event back from the database, one query per follower per
//! commit, although most of those events were appended by this very process a moment before.
//! [`RecentEvents`] keeps the last few thousand events this process appended, as the append
//! recorded them (the same fields a read answers, occurred_at cut to microseconds), and a
//! follower takes the next run of consecutive positions from it when it is there. Whatever it
//! does not hold (an event another node appended, or one older than the window) is read from
//! the database as before, so the order and the contents a follower sees do not change.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};

use crate::{EventStore, RecordedEvent, StoreError, READ_BATCH};

/// How long a follower waits for a commit signal before it looks again anyway.
const RECHECK: Duration = Duration::from_secs(1);

/// How many of its own recent events a process keeps for its followers.
const RECENT_EVENTS: usize = 8_192;

/// The events this process appended most recently, by position.
#[derive(Default)]
pub(crate) struct RecentEvents {
    events: Mutex<BTreeMap<u64, RecordedEvent>>,
}

impl RecentEvents {
    /// Keeps freshly committed events (call before announcing the new head).
    pub(crate) fn keep(&self, appended: &[RecordedEvent]) {
        let mut events = self
            .events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for event in appended {
            events.insert(event.position, event.clone());
        }
        while events.len() > RECENT_EVENTS {
            events.pop_first();
        }
    }

    /// The events at `after + 1`, `after + 2`, … for as long as positions follow one another,
    /// at most `limit`; empty when `after + 1` is not held.
    fn run_after(&self, after: u64, limit: usize) -> Vec<RecordedEvent> {
        let events = self
            .events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        events
            .range(after + 1..)
            .take(limit)
            .enumerate()
            .take_while(|(offset, (position, _))| **position == after + 1 + *offset as u64)
            .map(|(_, (_, event))| event.clone())
            .collect()
    }
}

struct Follower<S> {
    store: S,
    recent: Arc<RecentEvents>,
    after: u64,
    buffer: VecDeque<RecordedEvent>,
    head: tokio::sync::watch::Receiver<u64>,
    /// Whether the next look must ask the database (at the start, and at each re-check).
    read_due: bool,
    failed: bool,
}

/// Every event after `after`, reading batches while there are any and waiting for the head
/// to move (or the re-check timer) when there are none.
pub(crate) fn follow<S>(
    store: S,
    recent: Arc<RecentEvents>,
    after: u64,
) -> BoxStream<'static, Result<RecordedEvent, StoreError>>
where
    S: EventStore + Clone,
{
    let head = store.head_watch();
    let follower = Follower {
        store,
        recent,
        after,
        buffer: VecDeque::new(),
        head,
        read_due: true,
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
            let head = *f.head.borrow_and_update();
            let own = f.recent.run_after(f.after, READ_BATCH);
            if !own.is_empty() {
                f.buffer.extend(own);
                continue;
            }
            // Nothing new as far as this process knows: wait for a signal instead of asking the
            // database, which is still asked at the re-check in case a signal was lost.
            if head <= f.after && !f.read_due {
                match tokio::time::timeout(RECHECK, f.head.changed()).await {
                    Ok(Ok(())) => {}
                    // The re-check timer.
                    Err(_) => f.read_due = true,
                    // The store's signal is gone (cannot happen while `f.store` lives): fall
                    // back to the timer alone.
                    Ok(Err(_)) => {
                        tokio::time::sleep(RECHECK).await;
                        f.read_due = true;
                    }
                }
                continue;
            }
            f.read_due = false;
            match f.store.read_all(f.after, READ_BATCH, None).await {
                Ok(batch) if !batch.is_empty() => f.buffer.extend(batch),
                Ok(_) => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(position: u64) -> RecordedEvent {
        RecordedEvent {
            position,
            event_id: uuid::Uuid::new_v4(),
            stream: "s".into(),
            version: position,
            event_type: "T".into(),
            schema_version: 1,
            occurred_at: chrono::Utc::now(),
            actor_id: uuid::Uuid::nil(),
            actor_role: "admin".into(),
            data: serde_json::json!({}),
            metadata: serde_json::json!({}),
            hash: String::new(),
        }
    }

    fn positions(events: &[RecordedEvent]) -> Vec<u64> {
        events.iter().map(|e| e.position).collect()
    }

    #[test]
    fn a_run_stops_at_the_first_gap_and_needs_its_first_position() {
        let recent = RecentEvents::default();
        recent.keep(&[event(3), event(4), event(6)]);
        recent.keep(&[event(5)]);
        recent.keep(&[event(9)]);
        assert_eq!(positions(&recent.run_after(2, 100)), vec![3, 4, 5, 6]);
        assert_eq!(positions(&recent.run_after(4, 2)), vec![5, 6]);
        assert!(
            recent.run_after(1, 100).is_empty(),
            "position 2 is not held"
        );
        assert!(
            recent.run_after(6, 100).is_empty(),
            "position 7 is not held"
        );
        assert_eq!(positions(&recent.run_after(8, 100)), vec![9]);
    }

    #[test]
    fn only_the_newest_events_are_kept() {
        let recent = RecentEvents::default();
        let events: Vec<RecordedEvent> = (1..=RECENT_EVENTS as u64 + 10).map(event).collect();
        recent.keep(&events);
        assert!(recent.run_after(0, 10).is_empty());
        assert_eq!(recent.run_after(10, 1).len(), 1);
    }
}
