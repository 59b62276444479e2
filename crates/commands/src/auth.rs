//! Authentication from the aggregate caches: a bearer token names its holder, and the holder's
//! cached state says whether the token is active and what the holder may do.
//!
//! No request reads the store for this once the holder is cached. The caches stay current
//! because every write on this node folds its own events into them as it appends (a
//! revocation takes effect here at once), and [`crate::follow::follow_log`] folds in what other
//! nodes append, as the event log's subscription delivers it (within a second on PostgreSQL).

use std::sync::Arc;

use domain::patient::Patient;
use domain::staff::Staff;
use domain::{PatientId, Principal, StaffId, StreamName};

use crate::cache::Loaded;
use crate::error::CommandError;
use crate::executor::Executor;
use crate::token::{self, Holder};

/// Resolves bearer tokens to principals.
pub struct Authenticator {
    executor: Arc<Executor>,
    bootstrap_token_sha256: Option<String>,
}

impl Authenticator {
    /// An authenticator over the executor's caches; `bootstrap_admin_token` authenticates the
    /// bootstrap admin.
    pub fn new(executor: Arc<Executor>, bootstrap_admin_token: Option<&str>) -> Self {
        Authenticator {
            executor,
            bootstrap_token_sha256: bootstrap_admin_token
                .filter(|t| !t.is_empty())
                .map(token::digest),
        }
    }

    /// The principal a bearer token authenticates.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, CommandError> {
        self.authenticate_digest(token::holder_of(bearer), &token::digest(bearer))
            .await
    }

    /// The principal of the token with this digest, which names `holder` (`None`: only the
    /// bootstrap admin's token can match). The web sessions keep no token, only this pair.
    pub async fn authenticate_digest(
        &self,
        holder: Option<Holder>,
        digest: &str,
    ) -> Result<Principal, CommandError> {
        if self.bootstrap_token_sha256.as_deref() == Some(digest) {
            return Ok(Principal::bootstrap_admin());
        }
        let rejected = || CommandError::Unauthenticated;
        match holder.ok_or_else(rejected)? {
            Holder::Staff(id) => {
                let staff = self.current::<Staff>(&StaffId(id).stream()).await?;
                let record = staff.0.as_ref().ok_or_else(rejected)?;
                if !record.tokens.is_active(digest) {
                    return Err(rejected());
                }
                staff.principal().ok_or_else(rejected)
            }
            Holder::Patient(id) => {
                let patient = self.current::<Patient>(&PatientId(id).stream()).await?;
                let record = patient.0.as_ref().ok_or_else(rejected)?;
                if !record.tokens.is_active(digest) {
                    return Err(rejected());
                }
                Ok(Principal::new(record.actor(), []).named(record.contact.name.clone()))
            }
        }
    }

    /// The cached state of a holder's stream, read from the store only when not cached.
    async fn current<A: crate::cache::Cached>(&self, stream: &str) -> Result<Arc<A>, CommandError> {
        let cache = A::cache(self.executor.caches());
        let loaded: Loaded<A> = match cache.cached(stream) {
            Some(cached) => cached,
            None => cache.load(self.executor.store().as_ref(), stream).await?,
        };
        Ok(loaded.state)
    }
}

/// A principal this process has already authenticated (the web pages' signed-in session),
/// carried as a request extension when the pages call the API in-process. Only code in the
/// process can attach an extension: a request from the network never carries one.
#[derive(Debug, Clone)]
pub struct Verified(pub Principal);
