//! Signed-in web sessions, kept beside the event log rather than in it.
//!
//! A session is a credential, not a fact of the clinic: it starts at sign-in, ends at sign-out
//! or expiry, and nothing an auditor replays depends on it. Writing each sign-in to the
//! immutable log would keep every session's digest forever and make each page view depend on
//! the log's subscription to learn of a sign-out on another node. A table shared by every node
//! (PostgreSQL) or owned by the one process (SQLite) ends a session everywhere at once.
//!
//! The store keeps only the SHA-256 of a session id, so a copy of the table signs no one in.

use chrono::{DateTime, Utc};

use crate::StoreError;

/// A web session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// Hex SHA-256 of the access token the session was started with: revoking that token ends
    /// the session.
    pub token_sha256: String,
    /// Whom the token names, as the command side writes it (`None` for the bootstrap admin).
    pub holder: Option<String>,
    /// When the session stops signing anyone in.
    pub expires_at: DateTime<Utc>,
}

/// Where web sessions live.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session under the digest of its id.
    async fn insert_session(
        &self,
        id_sha256: &str,
        session: &StoredSession,
    ) -> Result<(), StoreError>;

    /// The session with this id digest, if it was started and not ended (expired ones included:
    /// the caller judges the expiry).
    async fn find_session(&self, id_sha256: &str) -> Result<Option<StoredSession>, StoreError>;

    /// Ends a session, and every session that expired before `now`.
    async fn delete_session(&self, id_sha256: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
}

/// A stored row's expiry (Unix seconds) as a time; out-of-range values read as already expired.
pub(crate) fn expiry(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}
