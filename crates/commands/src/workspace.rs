//! What one batch of decisions sees: the states of the streams its commands read, each
//! advanced by the events decided earlier in the batch, and the version each stream was read
//! at (the append's expected versions).

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use domain::Event;
use store::{EventStore, ExpectedVersion, RecordedEvent};

use crate::cache::{Cached, Caches, Loaded};
use crate::error::CommandError;

/// A loaded state of any cached aggregate type.
trait Slot: Send + Sync {
    fn apply(&mut self, event: &Event);
    fn as_any(&self) -> &dyn Any;
    /// Hands the state to its cache after an append; `recorded` is the stream's last
    /// version as the store recorded it.
    fn keep(&self, caches: &Caches, stream: &str, recorded: u64);
}

impl<A: Cached> Slot for Loaded<A> {
    fn apply(&mut self, event: &Event) {
        Arc::make_mut(&mut self.state).apply(event);
        self.version = Some(self.version.map_or(0, |v| v + 1));
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn keep(&self, caches: &Caches, stream: &str, recorded: u64) {
        let cache = A::cache(caches);
        if self.version == Some(recorded) {
            cache.put(stream, self.clone());
        } else {
            cache.forget(stream);
        }
    }
}

/// The states one batch of commands decides on.
pub struct Workspace<'a> {
    store: &'a dyn EventStore,
    caches: &'a Caches,
    fresh: bool,
    slots: HashMap<String, Box<dyn Slot>>,
    expected: HashMap<String, ExpectedVersion>,
    pending: Vec<Event>,
}

impl<'a> Workspace<'a> {
    /// A workspace that takes cached states as they are (`fresh == false`; the append's version
    /// check catches a stale one) or brings every state up to date from the store first.
    pub(crate) fn new(store: &'a dyn EventStore, caches: &'a Caches, fresh: bool) -> Self {
        Workspace {
            store,
            caches,
            fresh,
            slots: HashMap::new(),
            expected: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// Whether every state was read from the store in this batch, so that a refusal made on
    /// it is final.
    pub(crate) fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// The event store, for reads that are not aggregate states.
    pub fn store(&self) -> &'a dyn EventStore {
        self.store
    }

    /// The state of `stream` as an aggregate of type `A`, with the events decided earlier in
    /// this batch applied. The first read of a stream fixes the version the append expects.
    pub async fn get<A: Cached>(&mut self, stream: &str) -> Result<Arc<A>, CommandError> {
        if let Some(slot) = self.slots.get(stream) {
            return slot
                .as_any()
                .downcast_ref::<Loaded<A>>()
                .map(|loaded| loaded.state.clone())
                .ok_or_else(|| {
                    CommandError::invalid(format!("`{stream}` is another kind of stream"))
                });
        }
        let cache = A::cache(self.caches);
        let mut loaded = match cache.cached(stream) {
            Some(cached) if !self.fresh => cached,
            _ => cache.load(self.store, stream).await?,
        };
        self.expected
            .entry(stream.to_owned())
            .or_insert_with(|| loaded.expected());
        for event in self.pending.iter().filter(|e| e.stream() == stream) {
            Slot::apply(&mut loaded, event);
        }
        let state = loaded.state.clone();
        self.slots.insert(stream.to_owned(), Box::new(loaded));
        Ok(state)
    }

    /// Whether `stream` has any event, counting those decided earlier in this batch.
    pub async fn exists(&mut self, stream: &str) -> Result<bool, CommandError> {
        if self.pending.iter().any(|e| e.stream() == stream) {
            return Ok(true);
        }
        Ok(self.store.stream_version(stream).await?.is_some())
    }

    /// Requires `stream` to be at `expected` when the batch appends (for streams a command
    /// writes without reading their state; the first expectation named for a stream holds).
    pub fn expect(&mut self, stream: impl Into<String>, expected: ExpectedVersion) {
        self.expected.entry(stream.into()).or_insert(expected);
    }

    /// Records a decision's events: later decisions in the batch see them.
    pub(crate) fn apply(&mut self, events: &[Event]) {
        for event in events {
            if let Some(slot) = self.slots.get_mut(&event.stream()) {
                slot.apply(event);
            }
            self.pending.push(event.clone());
        }
    }

    /// The version `stream` must be at for the batch's events to append.
    pub(crate) fn expected(&self, stream: &str) -> ExpectedVersion {
        self.expected
            .get(stream)
            .copied()
            .unwrap_or(ExpectedVersion::Any)
    }

    /// Hands the states that the appended events moved to the caches.
    pub(crate) fn keep(&self, recorded: &[RecordedEvent]) {
        let mut last: HashMap<&str, u64> = HashMap::new();
        for record in recorded {
            let version = last.entry(record.stream.as_str()).or_insert(record.version);
            *version = (*version).max(record.version);
        }
        for (stream, version) in last {
            if let Some(slot) = self.slots.get(stream) {
                slot.keep(self.caches, stream, version);
            }
        }
    }
}
