//! Web sessions: a sign-in with an access token starts one; its random id is the pages' cookie.
//!
//! The id is 256 random bits and the store keeps only its SHA-256 (see
//! [`store::SessionStore`]), with the digest of the token it was started from and an expiry. A
//! page request resolves the id to that token digest and authenticates it exactly as a bearer
//! token ([`crate::auth::Authenticator::authenticate_digest`]), so revoking or replacing the
//! token ends every session started from it, on every node, at the next request. Sign-out
//! deletes the row; an expired row signs no one in and is cleared at the next sign-out.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use domain::Principal;
use rand::RngCore;
use store::{EventStore, StoredSession};
use uuid::Uuid;

use crate::auth::Authenticator;
use crate::error::CommandError;
use crate::token::{self, Holder};

/// How long a web session lasts after sign-in.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);

/// A session just started: its id goes to the browser once, and is never stored.
#[derive(Debug, Clone)]
pub struct StartedSession {
    /// The random session id (the cookie's value).
    pub id: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Starts, resolves and ends web sessions.
pub(crate) struct Sessions<'a> {
    pub(crate) store: &'a Arc<dyn EventStore>,
    pub(crate) authenticator: &'a Authenticator,
}

impl Sessions<'_> {
    /// Signs in with an access token: a new session for its holder.
    pub(crate) async fn start(&self, bearer: &str) -> Result<StartedSession, CommandError> {
        self.authenticator.authenticate(bearer).await?;
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        let started = StartedSession {
            id: URL_SAFE_NO_PAD.encode(secret),
            expires_at: Utc::now() + SESSION_LIFETIME,
        };
        let stored = StoredSession {
            token_sha256: token::digest(bearer),
            holder: token::holder_of(bearer).map(write_holder),
            expires_at: started.expires_at,
        };
        self.store
            .insert_session(&token::digest(&started.id), &stored)
            .await?;
        Ok(started)
    }

    /// The principal of a live session; `Unauthenticated` when it is unknown, ended, expired,
    /// or its token was revoked.
    pub(crate) async fn resolve(&self, id: &str) -> Result<Principal, CommandError> {
        let stored = self
            .store
            .find_session(&token::digest(id))
            .await?
            .filter(|session| session.expires_at > Utc::now())
            .ok_or(CommandError::Unauthenticated)?;
        let holder = match stored.holder.as_deref() {
            Some(written) => Some(read_holder(written).ok_or(CommandError::Unauthenticated)?),
            None => None,
        };
        self.authenticator
            .authenticate_digest(holder, &stored.token_sha256)
            .await
    }

    /// Ends a session (a no-op when it is already gone).
    pub(crate) async fn end(&self, id: &str) -> Result<(), CommandError> {
        self.store
            .delete_session(&token::digest(id), Utc::now())
            .await?;
        Ok(())
    }
}

fn write_holder(holder: Holder) -> String {
    match holder {
        Holder::Staff(id) => format!("staff:{id}"),
        Holder::Patient(id) => format!("patient:{id}"),
    }
}

fn read_holder(written: &str) -> Option<Holder> {
    let (kind, id) = written.split_once(':')?;
    let id = Uuid::try_parse(id).ok()?;
    match kind {
        "staff" => Some(Holder::Staff(id)),
        "patient" => Some(Holder::Patient(id)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_read_back_as_written() {
        let id = Uuid::new_v4();
        for holder in [Holder::Staff(id), Holder::Patient(id)] {
            assert_eq!(read_holder(&write_holder(holder)), Some(holder));
        }
        assert_eq!(read_holder("robot:1"), None);
        assert_eq!(read_holder("staff:not-a-uuid"), None);
    }
}
