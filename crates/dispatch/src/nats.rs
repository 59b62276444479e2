//! Production fan-out through NATS JetStream: a relay publishes every committed event to the
//! `HUB_EVENTS` stream (the log is the outbox), and each channel's dispatchers share one
//! durable pull consumer with explicit acks, so a message goes to one dispatcher at a time and
//! is redelivered when that dispatcher dies.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, PullConsumer};
use async_nats::jetstream::context::Publish;
use async_nats::jetstream::stream::{self, StorageType};
use async_nats::jetstream::{self, AckKind};
use domain::Channel;
use eventlog::codec;
use futures::StreamExt;
use store::EventStore;

use crate::outbound::{Dispatcher, Handled};

/// Where on NATS the hub's events go: the JetStream stream and its subject prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The stream every event is published to (`HUB_EVENTS`).
    pub stream: String,
    /// Events are published on `<prefix>.<stream category>.<event type>` (`hub.events`).
    pub subject_prefix: String,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            stream: "HUB_EVENTS".to_owned(),
            subject_prefix: "hub.events".to_owned(),
        }
    }
}

impl Names {
    /// The subject of an event: `<prefix>.<category>.<type>`, the category being the stream
    /// name up to its first `-` (`conversation`, `patient`, `dispatch`, …).
    pub fn subject(&self, stream_name: &str, event_type: &str) -> String {
        let category = stream_name.split('-').next().unwrap_or("other");
        format!("{}.{category}.{event_type}", self.subject_prefix)
    }

    /// The durable consumer of a channel's dispatchers.
    pub fn consumer(&self, channel: Channel) -> String {
        format!("dispatch-{}", channel.as_str())
    }

    /// The relay's checkpoint name in the event store.
    pub fn relay_checkpoint(&self) -> String {
        format!("nats-relay-{}", self.stream)
    }
}
/// How many publishes the relay keeps in flight before it waits for their acks.
const RELAY_WINDOW: usize = 256;
/// How many messages a dispatcher pulls at once.
const PULL_BATCH: usize = 4;
/// Header carrying the event's global position.
pub const POSITION_HEADER: &str = "Hub-Position";

/// Why the NATS side stopped.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// Connecting, creating the stream or a consumer, or publishing failed.
    #[error("NATS: {0}")]
    Nats(String),
    /// The event store failed.
    #[error("event store: {0}")]
    Store(#[from] store::StoreError),
}

fn nats_error(error: impl std::fmt::Display) -> NatsError {
    NatsError::Nats(error.to_string())
}

/// Connects to NATS and makes sure the events stream exists.
pub async fn connect(url: &str, names: &Names) -> Result<jetstream::Context, NatsError> {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(url)
        .await
        .map_err(nats_error)?;
    let context = jetstream::new(client);
    context
        .get_or_create_stream(stream::Config {
            name: names.stream.clone(),
            subjects: vec![format!("{}.>", names.subject_prefix)],
            storage: StorageType::File,
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(30 * 24 * 3600),
            ..Default::default()
        })
        .await
        .map_err(nats_error)?;
    Ok(context)
}

/// Publishes every committed event to JetStream in order, with `Nats-Msg-Id` = event id so a
/// republish after a crash is dropped as a duplicate, and keeps its checkpoint in the event
/// store. Runs until `shutdown` or an error.
pub async fn relay(
    store: Arc<dyn EventStore>,
    context: jetstream::Context,
    names: &Names,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), NatsError> {
    tokio::pin!(shutdown);
    let checkpoint = names.relay_checkpoint();
    let start = store.consumer_checkpoint(&checkpoint).await?;
    tracing::info!(position = start, "relaying events to NATS JetStream");
    let mut events = store.subscribe(start).ready_chunks(RELAY_WINDOW);
    loop {
        let batch = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            batch = events.next() => batch,
        };
        let Some(batch) = batch else {
            return Ok(());
        };
        let mut acks = Vec::with_capacity(batch.len());
        let mut last = None;
        for record in batch {
            let record = record?;
            // The record as stored: personal fields stay sealed on the wire and in JetStream.
            let payload = serde_json::to_vec(&record).map_err(nats_error)?;
            let publish = Publish::build()
                .payload(payload.into())
                .message_id(record.event_id.to_string())
                .header(POSITION_HEADER, record.position.to_string().as_str());
            let subject = names.subject(&record.stream, &record.event_type);
            acks.push(
                context
                    .send_publish(subject, publish)
                    .await
                    .map_err(nats_error)?,
            );
            last = Some(record.position);
        }
        for ack in acks {
            ack.await.map_err(nats_error)?;
        }
        if let Some(position) = last {
            store
                .save_consumer_checkpoint(&checkpoint, position)
                .await?;
        }
    }
}

/// Decodes a published event: a stored record (sealed fields opened with the store's keys), or
/// the plain envelope relays before sealing published.
async fn open_payload(
    store: &dyn EventStore,
    payload: &[u8],
) -> Result<domain::EventEnvelope, String> {
    match serde_json::from_slice::<store::RecordedEvent>(payload) {
        Ok(record) => {
            let records = std::slice::from_ref(&record);
            store
                .keyring()
                .load_for(records)
                .await
                .map_err(|e| e.to_string())?;
            codec::decode(&record, store.keyring()).map_err(|e| e.to_string())
        }
        Err(_) => serde_json::from_slice(payload).map_err(|e| e.to_string()),
    }
}

/// Runs one channel's share of the durable consumer: each outbound message of that channel
/// is handled by [`Dispatcher::handle`] and acknowledged once its outcome is recorded.
/// While a message is being handled, progress acks keep JetStream from redelivering it.
pub async fn consume(
    dispatcher: Arc<Dispatcher>,
    context: jetstream::Context,
    names: &Names,
    channel: Channel,
    ack_wait: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), NatsError> {
    tokio::pin!(shutdown);
    let stream = context
        .get_stream(&names.stream)
        .await
        .map_err(nats_error)?;
    let name = names.consumer(channel);
    let consumer: PullConsumer = stream
        .get_or_create_consumer(
            &name,
            pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: names.subject("conversation", "MessageSent"),
                ack_policy: AckPolicy::Explicit,
                ack_wait,
                ..Default::default()
            },
        )
        .await
        .map_err(nats_error)?;
    // Small pulls: what a dispatcher holds unacknowledged is what another one waits for.
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(PULL_BATCH)
        .messages()
        .await
        .map_err(nats_error)?;
    tracing::info!(consumer = %name, "dispatching from NATS JetStream");
    loop {
        let message = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            message = messages.next() => message,
        };
        let Some(message) = message else {
            return Ok(());
        };
        let message = message.map_err(nats_error)?;
        let envelope = match open_payload(dispatcher.store(), &message.payload).await {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!(%error, "undecodable event on the events stream; dropped");
                message.ack_with(AckKind::Term).await.map_err(nats_error)?;
                continue;
            }
        };
        let is_ours =
            matches!(&envelope.event, domain::Event::MessageSent(m) if m.channel == channel);
        if !is_ours {
            message.ack().await.map_err(nats_error)?;
            continue;
        }
        let progress = {
            let message = message.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ack_wait / 3).await;
                    if message.ack_with(AckKind::Progress).await.is_err() {
                        return;
                    }
                }
            })
        };
        let handled = dispatcher.handle(&envelope).await;
        progress.abort();
        let ack = match handled {
            Ok(Handled::HeldElsewhere(until)) => {
                let wait = (until - chrono::Utc::now()).to_std().unwrap_or_default();
                AckKind::Nak(Some(wait + Duration::from_millis(100)))
            }
            Ok(_) => AckKind::Ack,
            Err(error) => {
                tracing::warn!(%error, "dispatch failed; the message will be redelivered");
                AckKind::Nak(Some(Duration::from_secs(1)))
            }
        };
        message.ack_with(ack).await.map_err(nats_error)?;
    }
}
