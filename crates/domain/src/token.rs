//! Access-token bookkeeping shared by staff and patient records: only digests are kept.

use std::collections::BTreeSet;

use crate::actor::{Actor, Principal, Role};
use crate::command::validate_token_digest;
use crate::error::DomainError;
use crate::event::{Event, TokenIssued, TokenRevoked};

/// Token digests that currently authenticate one holder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens(BTreeSet<String>);

impl Tokens {
    /// Whether a token with this digest is active.
    pub fn is_active(&self, token_sha256: &str) -> bool {
        self.0.contains(token_sha256)
    }

    /// Applies a token event of this holder.
    pub(crate) fn apply(&mut self, event: &Event) {
        match event {
            Event::TokenIssued(e) => {
                self.0.insert(e.token_sha256.clone());
            }
            Event::TokenRevoked(e) => {
                self.0.remove(&e.token_sha256);
            }
            _ => {}
        }
    }

    /// Revokes every active token of `holder`; with `replacement`, issues that one instead.
    pub(crate) fn rotate(
        &self,
        principal: &Principal,
        holder: Actor,
        replacement: Option<&str>,
    ) -> Result<Vec<Event>, DomainError> {
        ensure_admin(principal, "manage tokens")?;
        let mut events: Vec<Event> = self
            .0
            .iter()
            .map(|digest| {
                Event::TokenRevoked(TokenRevoked {
                    holder,
                    token_sha256: digest.clone(),
                })
            })
            .collect();
        if let Some(digest) = replacement {
            validate_token_digest(digest)?;
            events.push(issued(holder, digest));
        }
        Ok(events)
    }
}

/// The event that issues a token.
pub(crate) fn issued(holder: Actor, digest: &str) -> Event {
    Event::TokenIssued(TokenIssued {
        holder,
        token_sha256: digest.to_owned(),
    })
}

/// Fails with `forbidden` unless the principal is an admin allowed to use the hub.
pub(crate) fn ensure_admin(principal: &Principal, what: &str) -> Result<(), DomainError> {
    principal.ensure_may_use_hub()?;
    if principal.role() == Role::Admin {
        Ok(())
    } else {
        Err(DomainError::forbidden(format!("only admins may {what}")))
    }
}
