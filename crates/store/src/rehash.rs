//! The one-time hashing of a log written before it had a hash chain.
//!
//! On the first open after the upgrade, every event without a `hash` gets one, in position
//! order, inside one transaction that holds the append lock, so no append of any process slips
//! in between (appends refuse to chain onto an event without a hash). The walk is the same on
//! both backends; each says only how to read and write its own table ([`UnhashedLog`]).

use async_trait::async_trait;

use crate::{chain, RecordedEvent, StoreError, READ_BATCH};

/// A backend's event table, seen from inside the upgrade's transaction.
#[async_trait]
pub(crate) trait UnhashedLog: Send {
    /// The position of the first event without a hash, if any.
    async fn first_unhashed(&mut self) -> Result<Option<u64>, StoreError>;
    /// How many events there are from `first` on.
    async fn count_from(&mut self, first: u64) -> Result<u64, StoreError>;
    /// The stored hash of the event at `position`.
    async fn hash_at(&mut self, position: u64) -> Result<Option<String>, StoreError>;
    /// Up to `limit` events from `first` on, in position order.
    async fn read_from(
        &mut self,
        first: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;
    /// Stores each `(position, hash)`.
    async fn store_hashes(&mut self, hashes: &[(u64, String)]) -> Result<(), StoreError>;
}

/// Gives every event without a hash its hash, chained from the last hashed one; logs progress.
pub(crate) async fn hash_unhashed(log: &mut impl UnhashedLog) -> Result<(), StoreError> {
    let Some(first) = log.first_unhashed().await? else {
        return Ok(());
    };
    let total = log.count_from(first).await?;
    tracing::info!(
        from = first,
        events = total,
        "computing the hash chain of the existing log once"
    );
    let mut previous = if first == 1 {
        chain::GENESIS.to_owned()
    } else {
        log.hash_at(first - 1).await?.unwrap_or_default()
    };
    let mut next = first;
    let mut done = 0u64;
    loop {
        let events = log.read_from(next, READ_BATCH).await?;
        let Some(last) = events.last() else { break };
        next = last.position + 1;
        let mut hashes = Vec::with_capacity(events.len());
        for event in &events {
            previous = chain::link(&previous, event);
            hashes.push((event.position, previous.clone()));
        }
        log.store_hashes(&hashes).await?;
        done += events.len() as u64;
        tracing::info!(done, total, "hash chain");
    }
    Ok(())
}
