//! Channel dispatch: outbound messages to their providers, and what providers tell the hub.
//!
//! - [`outbound::Dispatcher`] claims an outbound message in the event log before it calls the
//!   provider, retries transient errors with backoff, and records `sent` or `failed`;
//! - [`from_log`] runs it from the event log's subscription (embedded default), [`nats`] from
//!   JetStream durable consumers fed by a relay (production);
//! - [`provider`] holds the adapters (Twilio SMS, WhatsApp Cloud API, SMTP e-mail);
//! - [`scheduler`] releases scheduled messages when they are due (the release command makes
//!   each exactly once);
//! - [`inbound`] parses and authenticates provider webhooks; [`status`] records delivery reports.

pub mod from_log;
pub mod inbound;
mod log;
pub mod metrics;
pub mod nats;
pub mod outbound;
pub mod provider;
mod queue;
pub mod retry;
pub mod scheduler;
pub mod status;
