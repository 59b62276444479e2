//! Loading aggregates from their streams, with a version-checked cache so a command's cost
//! does not grow with the length of the conversation it targets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::Aggregate;
use projections::codec;
use store::{EventStore, ExpectedVersion, StoreError};

/// How many events one read of a stream fetches.
const READ_BATCH: usize = 1_000;
/// Cached streams per aggregate type before the cache starts over.
const CACHE_CAPACITY: usize = 20_000;

/// An aggregate's state and the stream version it reflects.
#[derive(Debug, Clone)]
pub struct Loaded<A> {
    /// The folded state.
    pub state: A,
    /// The stream's version (`None` for a stream with no events).
    pub version: Option<u64>,
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

    /// The aggregate's current state: the cached fold plus any events appended since.
    pub async fn load(&self, stream: &str) -> Result<Loaded<A>, StoreError> {
        let cached = self.lock().get(stream).cloned();
        let mut loaded = cached.unwrap_or(Loaded {
            state: A::default(),
            version: None,
        });
        let before = loaded.version;
        loop {
            let from = loaded.version.map_or(0, |v| v + 1);
            let records = self.store.read_stream(stream, from, READ_BATCH).await?;
            for record in &records {
                let envelope = codec::decode(record)
                    .map_err(|error| StoreError::InvalidRequest(error.to_string()))?;
                loaded.state.apply(&envelope.event);
                loaded.version = Some(record.version);
            }
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Loaded<A>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
