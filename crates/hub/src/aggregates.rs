//! Loading aggregates from their streams, with a version-checked cache so a command's cost
//! does not grow with the length of the conversation it targets.
//!
//! States are shared (`Arc`): a load that finds no new events hands out the cached state
//! without copying it, and a command's own events are folded into the cached state after its
//! append ([`StreamCache::advance`]), so the next command on the same stream finds it current.
//! A state is copied only when another node's events arrive while someone still holds it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::Aggregate;
use projections::codec;
use store::{EventStore, ExpectedVersion, RecordedEvent, StoreError};

/// How many events one read of a stream fetches.
const READ_BATCH: usize = 1_000;
/// Cached streams per aggregate type before the cache starts over.
const CACHE_CAPACITY: usize = 20_000;

/// An aggregate's state and the stream version it reflects.
#[derive(Debug)]
pub struct Loaded<A> {
    /// The folded state.
    pub state: Arc<A>,
    /// The stream's version (`None` for a stream with no events).
    pub version: Option<u64>,
}

impl<A> Clone for Loaded<A> {
    fn clone(&self) -> Self {
        Loaded {
            state: self.state.clone(),
            version: self.version,
        }
    }
}

impl<A: Default> Loaded<A> {
    /// The state of a stream with no events.
    pub fn empty() -> Self {
        Loaded {
            state: Arc::new(A::default()),
            version: None,
        }
    }
}

impl<A> Loaded<A> {
    /// The expected version that makes an append fail if anyone wrote in between.
    pub fn expected(&self) -> ExpectedVersion {
        match self.version {
            Some(version) => ExpectedVersion::Exact(version),
            None => ExpectedVersion::NoStream,
        }
    }
}

/// Whether a command may decide on the cached state of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The cached state, if any, without asking the store (the append checks the version).
    Cached,
    /// The state with every event appended so far.
    Fresh,
}

/// A cache of folded aggregates of one type, always brought up to date from the store before use.
pub struct StreamCache<A> {
    store: Arc<dyn EventStore>,
    entries: Mutex<HashMap<String, Loaded<A>>>,
}

impl<A: Aggregate + Clone + Send + 'static> StreamCache<A> {
    /// An empty cache over `store`.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        StreamCache {
            store,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached state when `freshness` allows and there is one, else [`Self::load`].
    pub async fn get(&self, stream: &str, freshness: Freshness) -> Result<Loaded<A>, StoreError> {
        if freshness == Freshness::Cached {
            if let Some(cached) = self.lock().get(stream).cloned() {
                return Ok(cached);
            }
        }
        self.load(stream).await
    }

    /// The aggregate's current state: the cached fold plus any events appended since.
    pub async fn load(&self, stream: &str) -> Result<Loaded<A>, StoreError> {
        let cached = self.lock().get(stream).cloned();
        let mut loaded = cached.unwrap_or_else(Loaded::empty);
        let before = loaded.version;
        loop {
            let from = loaded.version.map_or(0, |v| v + 1);
            let records = self.store.read_stream(stream, from, READ_BATCH).await?;
            fold(&mut loaded, &records)?;
            if records.len() < READ_BATCH {
                break;
            }
        }
        if loaded.version != before {
            let mut entries = self.lock();
            if entries.len() >= CACHE_CAPACITY {
                entries.clear();
            }
            let newer = entries
                .get(stream)
                .is_none_or(|current| current.version < loaded.version);
            if newer {
                entries.insert(stream.to_owned(), loaded.clone());
            }
        }
        Ok(loaded)
    }

    /// Folds a command's own appended events into the cached states of their streams, when the
    /// cache holds the version just before them (else the next load reads them).
    pub fn advance(&self, prefix: &str, records: &[RecordedEvent]) {
        let mut entries = self.lock();
        for record in records.iter().filter(|r| r.stream.starts_with(prefix)) {
            let Some(entry) = entries.get_mut(&record.stream) else {
                continue;
            };
            let follows = entry
                .version
                .map_or(record.version == 0, |v| v + 1 == record.version);
            if !follows || fold(entry, std::slice::from_ref(record)).is_err() {
                entries.remove(&record.stream);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Loaded<A>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Applies records in order to a loaded state, copying the state first only if it is shared.
fn fold<A: Aggregate + Clone>(
    loaded: &mut Loaded<A>,
    records: &[RecordedEvent],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let state = Arc::make_mut(&mut loaded.state);
    for record in records {
        let envelope =
            codec::decode(record).map_err(|error| StoreError::InvalidRequest(error.to_string()))?;
        state.apply(&envelope.event);
        loaded.version = Some(record.version);
    }
    Ok(())
}
