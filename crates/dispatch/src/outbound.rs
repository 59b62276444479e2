//! Sending one outbound message: claim it in the event log, hand it to its provider with
//! bounded retries, and record the outcome as a delivery status event.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use domain::attachment::AttachmentRef;
use domain::dispatch::{ClaimDecision, Dispatch, OUTCOME_UNKNOWN};
use domain::event::{DispatchClaimed, MessageSent, ProviderMessageLinked};
use domain::ids::dispatch_stream;
use domain::patient::Patient;
use domain::status::DeliveryStatus;
use domain::{Channel, Direction, Event, EventEnvelope, MessageId, PatientId, StreamName};
use store::{EventStore, ExpectedVersion, StoreError};

use crate::log::{append_events, load};
use crate::provider::{OutboundAttachment, OutboundMessage, Provider, SendError};
use crate::retry::RetryPolicy;

/// Where a dispatcher reads the contents of attached files.
#[async_trait::async_trait]
pub trait AttachmentSource: Send + Sync + 'static {
    /// The whole content of a stored attachment.
    async fn load(&self, attachment: &AttachmentRef) -> Result<bytes::Bytes, String>;
}

/// How a dispatcher behaves.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// This dispatcher instance's name, recorded in its claims.
    pub instance: String,
    /// How long a claim holds before another dispatcher may declare it abandoned.
    pub lease: Duration,
    /// Retries of transient provider errors.
    pub retry: RetryPolicy,
    /// Whether this is the only dispatcher of the event log, so that any claim without an
    /// outcome that it finds belongs to a process that is gone.
    pub exclusive: bool,
}

/// What became of one event handed to the dispatcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Not an outbound message for a configured provider: nothing to do.
    Skipped,
    /// The message's dispatch has its outcome (now or earlier).
    Settled(DeliveryStatus),
    /// Another dispatcher holds the claim until this time.
    HeldElsewhere(chrono::DateTime<Utc>),
}

/// Why handling an event failed (the event log was not reachable); the event is handled again.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The event store failed.
    #[error("event store: {0}")]
    Store(#[from] StoreError),
}

/// Sends outbound messages through the configured providers.
pub struct Dispatcher {
    store: Arc<dyn EventStore>,
    providers: HashMap<Channel, Arc<dyn Provider>>,
    attachments: Arc<dyn AttachmentSource>,
    config: DispatchConfig,
}

impl Dispatcher {
    /// A dispatcher over `store` with one provider per channel it serves.
    pub fn new(
        store: Arc<dyn EventStore>,
        providers: Vec<Arc<dyn Provider>>,
        attachments: Arc<dyn AttachmentSource>,
        config: DispatchConfig,
    ) -> Self {
        Dispatcher {
            store,
            providers: providers.into_iter().map(|p| (p.channel(), p)).collect(),
            attachments,
            config,
        }
    }

    /// The channels this dispatcher sends on.
    pub fn channels(&self) -> Vec<Channel> {
        let mut channels: Vec<_> = self.providers.keys().copied().collect();
        channels.sort_by_key(|c| c.as_str());
        channels
    }

    /// The outbound message in `envelope` and its provider, if this dispatcher sends it.
    fn outbound<'a>(
        &self,
        envelope: &'a EventEnvelope,
    ) -> Option<(&'a MessageSent, Arc<dyn Provider>)> {
        match &envelope.event {
            Event::MessageSent(sent) if sent.direction == Direction::Outbound => self
                .providers
                .get(&sent.channel)
                .map(|provider| (sent, provider.clone())),
            _ => None,
        }
    }

    /// Handles one event: claims, sends and records the outcome of an outbound message.
    pub async fn handle(&self, envelope: &EventEnvelope) -> Result<Handled, DispatchError> {
        let Some((message, provider)) = self.outbound(envelope) else {
            return Ok(Handled::Skipped);
        };
        let stream = dispatch_stream(message.message_id);
        let lease = chrono::Duration::from_std(self.config.lease)
            .unwrap_or_else(|_| chrono::Duration::minutes(5));
        let claim = loop {
            let (dispatch, version) = load::<Dispatch>(self.store.as_ref(), &stream).await?;
            let decision = dispatch.claim(
                message,
                &self.config.instance,
                Utc::now(),
                lease,
                self.config.exclusive,
            );
            let event = match decision {
                ClaimDecision::Settled => {
                    return Ok(Handled::Settled(
                        dispatch.status.unwrap_or(DeliveryStatus::Queued),
                    ))
                }
                ClaimDecision::HeldElsewhere(until) => return Ok(Handled::HeldElsewhere(until)),
                ClaimDecision::Claim(event) | ClaimDecision::Abandoned(event) => event,
            };
            let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
            match append_events(self.store.as_ref(), vec![(expected, vec![event.clone()])]).await {
                Ok(_) => match event {
                    Event::DispatchClaimed(claim) => break claim,
                    _ => {
                        tracing::warn!(message_id = %message.message_id, "claim without outcome found: failed as outcome_unknown");
                        return Ok(Handled::Settled(DeliveryStatus::Failed));
                    }
                },
                Err(StoreError::ConcurrencyConflict { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        };
        let outcome = match self.prepare(message).await {
            Ok(outbound) => self.send_with_retries(provider.as_ref(), &outbound).await,
            Err(reason) => Err(reason),
        };
        self.record_outcome(&claim, outcome).await
    }

    /// Builds the provider's message: the patient's address, the files, the thread.
    async fn prepare(&self, message: &MessageSent) -> Result<OutboundMessage, String> {
        let conversation_stream = message.conversation_id.stream();
        let started = crate::log::first_event(self.store.as_ref(), &conversation_stream)
            .await
            .map_err(|e| format!("reading the conversation: {e}"))?;
        let patient_id = match started {
            Some(Event::ConversationStarted(started)) => Some(started.patient_id),
            _ => None,
        };
        let patient_id: PatientId = patient_id.ok_or("the conversation has no patient")?;
        let (patient, _) = load::<Patient>(self.store.as_ref(), &patient_id.stream())
            .await
            .map_err(|e| format!("reading the patient: {e}"))?;
        let record = patient.record().map_err(|e| e.to_string())?;
        let to = match message.channel {
            Channel::Email => record.contact.email.as_ref().map(|e| e.as_str().to_owned()),
            _ => record.contact.phone.as_ref().map(|p| p.as_str().to_owned()),
        };
        let to = to.ok_or_else(|| format!("the patient has no address for {}", message.channel))?;
        if message.channel == Channel::Sms && !record.sms_consent {
            return Err("the patient opted out of SMS".into());
        }
        let mut attachments = Vec::with_capacity(message.attachments.len());
        for attachment in &message.attachments {
            let content = self.attachments.load(attachment).await?;
            attachments.push(OutboundAttachment {
                filename: attachment
                    .filename
                    .clone()
                    .unwrap_or_else(|| format!("attachment-{}", attachment.id)),
                media_type: attachment.media_type.as_str().to_owned(),
                content,
            });
        }
        let in_reply_to = match message.channel {
            Channel::Email => self.thread_parent(message).await?,
            _ => None,
        };
        Ok(OutboundMessage {
            message_id: message.message_id,
            conversation_id: message.conversation_id,
            channel: message.channel,
            to,
            subject: message.subject.clone(),
            body: message.body.clone(),
            attachments,
            in_reply_to,
        })
    }

    /// The hub's latest earlier e-mail in the conversation, which an e-mail answers (threading).
    async fn thread_parent(&self, message: &MessageSent) -> Result<Option<MessageId>, String> {
        let timeline =
            crate::log::read_all_of(self.store.as_ref(), &message.conversation_id.stream())
                .await
                .map_err(|e| format!("reading the conversation: {e}"))?;
        Ok(timeline
            .iter()
            .take_while(|event| {
                !matches!(event, Event::MessageSent(m) if m.message_id == message.message_id)
            })
            .filter_map(|event| match event {
                Event::MessageSent(m) if m.channel == message.channel => Some(m.message_id),
                _ => None,
            })
            .last())
    }

    /// Calls the provider, retrying transient errors with backoff up to the policy's limit.
    async fn send_with_retries(
        &self,
        provider: &dyn Provider,
        message: &OutboundMessage,
    ) -> Result<Vec<String>, String> {
        let mut attempt = 1;
        loop {
            match provider.send(message).await {
                Ok(accepted) => return Ok(accepted.provider_message_ids),
                Err(SendError::Transient(error)) if attempt < self.config.retry.max_attempts => {
                    let wait = self.config.retry.backoff(attempt);
                    tracing::info!(message_id = %message.message_id, attempt, ?wait, "provider unavailable; retrying");
                    tracing::debug!(%error, "transient provider error");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(SendError::Transient(error)) => {
                    return Err(format!("gave up after {attempt} attempts: {error}"))
                }
                Err(SendError::Rejected(reason)) => return Err(reason),
                Err(SendError::OutcomeUnknown(error)) => {
                    return Err(format!("{OUTCOME_UNKNOWN}: {error}"))
                }
            }
        }
    }

    /// Appends the outcome after the claim: `sent` with the provider's ids (and their links),
    /// or `failed` with the reason. Store errors are retried: the outcome must not be lost.
    async fn record_outcome(
        &self,
        claim: &DispatchClaimed,
        outcome: Result<Vec<String>, String>,
    ) -> Result<Handled, DispatchError> {
        let stream = dispatch_stream(claim.message_id);
        let (status, reason, ids) = match outcome {
            Ok(ids) => (DeliveryStatus::Sent, None, ids),
            Err(reason) => (DeliveryStatus::Failed, Some(reason), Vec::new()),
        };
        match &reason {
            Some(_) => {
                tracing::warn!(message_id = %claim.message_id, channel = %claim.channel, "dispatch failed")
            }
            None => {
                tracing::info!(message_id = %claim.message_id, channel = %claim.channel, "dispatched")
            }
        }
        let mut last_error = None;
        for attempt in 1..=OUTCOME_ATTEMPTS {
            let (dispatch, version) = load::<Dispatch>(self.store.as_ref(), &stream).await?;
            let Some(report) = dispatch.report(claim, status, reason.clone(), ids.clone()) else {
                return Ok(Handled::Settled(dispatch.status.unwrap_or(status)));
            };
            let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
            let links = ids.iter().map(|id| {
                Event::ProviderMessageLinked(ProviderMessageLinked {
                    channel: claim.channel,
                    provider_message_id: id.clone(),
                    direction: Direction::Outbound,
                    conversation_id: claim.conversation_id,
                    message_id: claim.message_id,
                })
            });
            let mut writes = vec![(expected, vec![report])];
            writes.extend(links.map(|link| (ExpectedVersion::Any, vec![link])));
            match append_events(self.store.as_ref(), writes).await {
                Ok(_) => return Ok(Handled::Settled(status)),
                Err(StoreError::ConcurrencyConflict { .. }) => continue,
                Err(error) => {
                    tracing::warn!(%error, attempt, "recording a dispatch outcome failed; retrying");
                    last_error = Some(error);
                    tokio::time::sleep(self.config.retry.backoff(attempt)).await;
                }
            }
        }
        Err(last_error
            .unwrap_or_else(|| {
                StoreError::InvalidRequest("dispatch outcome kept conflicting".into())
            })
            .into())
    }
}

/// How often recording an outcome is tried before the event is handed back for redelivery.
const OUTCOME_ATTEMPTS: u32 = 10;
