//! The application layer of the hub: the one write path between the edges (HTTP API, web
//! pages, provider webhooks, dispatchers) and the domain with its event store.
//!
//! Every write is a [`Decision`] run by the [`Executor`]: load the aggregates it needs from
//! version-checked caches, let the domain decide, append the events with the versions they
//! were decided on, and retry a clash with another node a bounded number of times. Inside one
//! process each stream has one writer, so a hot conversation never clashes with itself (see
//! [`executor`] for why and how).
//!
//! Errors are typed ([`CommandError`]): domain refusals, conflicts and store failures stay
//! apart, and nothing here knows HTTP; the edges map them to their own codes.

#![warn(missing_docs)]

pub mod attachment;
pub mod auth;
pub mod cache;
pub mod conversations;
pub mod erase;
pub mod error;
pub mod executor;
pub mod follow;
pub mod import;
pub mod metrics;
pub mod patients;
pub mod quiet_hours;
pub mod release;
pub mod schedule;
pub mod scheduled;
mod sealing;
mod service;
pub mod session;
pub mod staff;
pub mod templates;
pub mod token;
pub mod unmatched;
pub mod workspace;

pub use erase::Erasure;
pub use error::CommandError;
pub use executor::{Committed, Decided, Decision, Executed, Executor, Origin};
pub use patients::ContactPatch;
pub use service::{
    Addressee, CommandService, MessageInput, Registered, RequestMeta, TemplateWritten,
    MAX_ATTACHMENTS,
};
pub use workspace::Workspace;
