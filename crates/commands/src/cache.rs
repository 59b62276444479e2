//! Folded aggregates kept between commands, so that a command's cost does not grow with the
//! length of the stream it targets.
//!
//! A cached state is never trusted blindly: a decision made on it is appended with the version
//! it reflects, so a state that another node has moved past fails the append and is read
//! afresh. States are shared by `Arc`: handing one out copies nothing, and it is copied only
//! when events are folded into it while someone still holds the old one.
//!
//! Each cache is a bounded `quick_cache` (an S3-FIFO cache: a stream read once does not push
//! out the streams in use). Replacing an entry goes through a short lock so that a slow load
//! can never put an older version over a newer one: authentication trusts these states, and a
//! revoked token must stay revoked.

use std::sync::{Arc, Mutex};

use domain::conversation::Conversation;
use domain::dispatch::Dispatch;
use domain::patient::Patient;
use domain::quiet_hours::QuietHoursSetting;
use domain::scheduled::Scheduled;
use domain::staff::Staff;
use domain::template::Template;
use domain::upload::StoredAttachment;
use domain::Aggregate;
use eventlog::codec;
use store::keys::Keyring;
use store::{EventStore, ExpectedVersion, RecordedEvent};

use crate::error::CommandError;

/// How many events one read of a stream fetches.
const READ_BATCH: usize = 1_000;

/// An aggregate's state and the stream version it reflects.
#[derive(Debug)]
pub struct Loaded<A> {
    /// The folded state.
    pub state: Arc<A>,
    /// The stream's last version (`None` for a stream with no events).
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

impl<A: Aggregate + Clone> Loaded<A> {
    /// Applies recorded events in order (opening sealed fields with `keys`), copying the state
    /// first only if it is shared.
    pub(crate) fn fold(
        &mut self,
        records: &[RecordedEvent],
        keys: &Keyring,
    ) -> Result<(), CommandError> {
        if records.is_empty() {
            return Ok(());
        }
        let state = Arc::make_mut(&mut self.state);
        for record in records {
            state.apply(&codec::decode(record, keys)?.event);
            self.version = Some(record.version);
        }
        Ok(())
    }
}

/// A bounded cache of folded aggregates of one type.
pub struct StreamCache<A> {
    entries: quick_cache::sync::Cache<String, Loaded<A>>,
    replacing: Mutex<()>,
}

impl<A: Aggregate + Clone + Send + Sync + 'static> StreamCache<A> {
    /// An empty cache holding up to `capacity` streams.
    pub fn new(capacity: usize) -> Self {
        StreamCache {
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
            replacing: Mutex::new(()),
        }
    }

    /// The cached state, without asking the store.
    pub fn cached(&self, stream: &str) -> Option<Loaded<A>> {
        self.entries.get(stream)
    }

    /// The current state: the cached fold plus any events appended since.
    pub async fn load(
        &self,
        store: &dyn EventStore,
        stream: &str,
    ) -> Result<Loaded<A>, CommandError> {
        let mut loaded = self.cached(stream).unwrap_or_else(Loaded::empty);
        let before = loaded.version;
        loop {
            let from = loaded.version.map_or(0, |v| v + 1);
            let records = store.read_stream(stream, from, READ_BATCH).await?;
            loaded.fold(&records, store.keyring())?;
            if records.len() < READ_BATCH {
                break;
            }
        }
        if loaded.version != before {
            self.put(stream, loaded.clone());
        }
        Ok(loaded)
    }

    /// Keeps `loaded` unless the cache already holds the same or a later version.
    pub fn put(&self, stream: &str, loaded: Loaded<A>) {
        let _guard = self.lock();
        let newer = self
            .entries
            .get(stream)
            .is_none_or(|current| current.version < loaded.version);
        if newer {
            self.entries.insert(stream.to_owned(), loaded);
        }
    }

    /// Forgets every stream.
    pub fn clear(&self) {
        let _guard = self.lock();
        self.entries.clear();
    }

    /// Forgets a stream (its next load reads it whole).
    pub fn forget(&self, stream: &str) {
        let _guard = self.lock();
        self.entries.remove(stream);
    }

    /// Folds one event read from the log into the cached state of its stream: applied when it
    /// is the next one, ignored when the cache is already past it, and the entry dropped when
    /// events are missing in between.
    pub fn follow(&self, record: &RecordedEvent, keys: &Keyring) {
        let _guard = self.lock();
        let Some(mut entry) = self.entries.get(&record.stream) else {
            return;
        };
        let next = entry.version.map_or(0, |v| v + 1);
        if record.version < next {
            return;
        }
        if record.version > next || entry.fold(std::slice::from_ref(record), keys).is_err() {
            self.entries.remove(&record.stream);
            return;
        }
        self.entries.insert(record.stream.clone(), entry);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.replacing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The caches of every aggregate type that commands decide on.
pub struct Caches {
    pub(crate) staff: StreamCache<Staff>,
    pub(crate) patients: StreamCache<Patient>,
    pub(crate) conversations: StreamCache<Conversation>,
    pub(crate) attachments: StreamCache<StoredAttachment>,
    pub(crate) dispatches: StreamCache<Dispatch>,
    pub(crate) templates: StreamCache<Template>,
    pub(crate) settings: StreamCache<QuietHoursSetting>,
    pub(crate) scheduled: StreamCache<Scheduled>,
}

impl Caches {
    /// Caches of `capacity` streams per aggregate type.
    pub fn new(capacity: usize) -> Self {
        Caches {
            staff: StreamCache::new(capacity),
            patients: StreamCache::new(capacity),
            conversations: StreamCache::new(capacity),
            attachments: StreamCache::new(capacity),
            dispatches: StreamCache::new(capacity),
            templates: StreamCache::new(capacity),
            settings: StreamCache::new(capacity),
            scheduled: StreamCache::new(capacity),
        }
    }

    /// Forgets every cached state.
    pub fn clear(&self) {
        self.staff.clear();
        self.patients.clear();
        self.conversations.clear();
        self.attachments.clear();
        self.dispatches.clear();
        self.templates.clear();
        self.settings.clear();
        self.scheduled.clear();
    }

    /// Folds one event read from the log into whichever cache holds its stream.
    pub fn follow(&self, record: &RecordedEvent, keys: &Keyring) {
        let stream = record.stream.as_str();
        if stream.starts_with("conversation-") {
            self.conversations.follow(record, keys);
        } else if stream.starts_with("patient-") {
            self.patients.follow(record, keys);
        } else if stream.starts_with("staff-") {
            self.staff.follow(record, keys);
        } else if stream.starts_with("dispatch-") {
            self.dispatches.follow(record, keys);
        } else if stream.starts_with("attachment-") {
            self.attachments.follow(record, keys);
        } else if stream.starts_with("template-") {
            self.templates.follow(record, keys);
        } else if stream.starts_with("settings-") {
            self.settings.follow(record, keys);
        } else if stream.starts_with("scheduled-") {
            self.scheduled.follow(record, keys);
        }
    }
}

/// An aggregate type with a cache of its own, so a workspace can load it by type.
pub trait Cached: Aggregate + Clone + Send + Sync + 'static {
    /// This type's cache.
    fn cache(caches: &Caches) -> &StreamCache<Self>;
}

impl Cached for Staff {
    fn cache(caches: &Caches) -> &StreamCache<Self> {
        &caches.staff
    }
}

impl Cached for Patient {
    fn cache(caches: &Caches) -> &StreamCache<Self> {
        &caches.patients
    }
}

impl Cached for Conversation {
    fn cache(caches: &Caches) -> &StreamCache<Self> {
        &caches.conversations
    }
}

impl Cached for StoredAttachment {
    fn cache(caches: &Caches) -> &StreamCache<Self> {
        &caches.attachments
    }
}

impl Cached for Dispatch {
    fn cache(caches: &Caches) -> &StreamCache<Self> {
        &caches.dispatches
    }
}

impl Cached for Template {
    fn cache(caches: &Caches) -> &StreamCache<Self> {
        &caches.templates
    }
}

impl Cached for QuietHoursSetting {
    fn cache(caches: &Caches) -> &StreamCache<Self> {
        &caches.settings
    }
}

impl Cached for Scheduled {
    fn cache(caches: &Caches) -> &StreamCache<Self> {
        &caches.scheduled
    }
}
