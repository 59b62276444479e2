//! Sending one outbound message: claim it in the event log, hand it to its provider with
//! bounded retries, and record the outcome as a delivery status event.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use commands::{CommandError, Decided, Decision, Executor, Origin, Workspace};
use domain::attachment::AttachmentRef;
use domain::dispatch::{ClaimDecision, Dispatch, OUTCOME_UNKNOWN};
use domain::event::{DispatchClaimed, MessageSent, ProviderMessageLinked};
use domain::ids::dispatch_stream;
use domain::patient::Patient;
use domain::status::DeliveryStatus;
use domain::{Channel, Direction, Event, EventEnvelope, MessageId, PatientId, StreamName};
use store::EventStore;

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
    Store(#[from] store::StoreError),
    /// Recording the claim or the outcome failed.
    #[error("command: {0}")]
    Command(#[from] CommandError),
}

/// Sends outbound messages through the configured providers.
pub struct Dispatcher {
    executor: Arc<Executor>,
    providers: HashMap<Channel, Arc<dyn Provider>>,
    attachments: Arc<dyn AttachmentSource>,
    config: DispatchConfig,
}

impl Dispatcher {
    /// A dispatcher writing through `executor`, with one provider per channel it serves.
    pub fn new(
        executor: Arc<Executor>,
        providers: Vec<Arc<dyn Provider>>,
        attachments: Arc<dyn AttachmentSource>,
        config: DispatchConfig,
    ) -> Self {
        Dispatcher {
            executor,
            providers: providers.into_iter().map(|p| (p.channel(), p)).collect(),
            attachments,
            config,
        }
    }

    pub(crate) fn store(&self) -> &dyn EventStore {
        self.executor.store().as_ref()
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
        let lease = chrono::Duration::from_std(self.config.lease)
            .unwrap_or_else(|_| chrono::Duration::minutes(5));
        let claim = ClaimMessage {
            message: message.clone(),
            instance: self.config.instance.clone(),
            lease,
            exclusive: self.config.exclusive,
        };
        let executed = self.executor.execute(Origin::system(), claim).await?;
        let claim = match executed.answer {
            Some(Claimed::Claim(claim)) => claim,
            Some(Claimed::Settled(status)) => return Ok(Handled::Settled(status)),
            Some(Claimed::HeldElsewhere(until)) => return Ok(Handled::HeldElsewhere(until)),
            Some(Claimed::Abandoned) | None => {
                tracing::warn!(message_id = %message.message_id, "claim without outcome found: failed as outcome_unknown");
                return Ok(Handled::Settled(DeliveryStatus::Failed));
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
        let started = crate::log::first_event(self.store(), &conversation_stream)
            .await
            .map_err(|e| format!("reading the conversation: {e}"))?;
        let patient_id = match started {
            Some(Event::ConversationStarted(started)) => Some(started.patient_id),
            _ => None,
        };
        let patient_id: PatientId = patient_id.ok_or("the conversation has no patient")?;
        let patient = self
            .executor
            .load::<Patient>(&patient_id.stream())
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
            whatsapp_template: message.whatsapp_template.clone(),
        })
    }

    /// The hub's latest earlier e-mail in the conversation, which an e-mail answers (threading).
    async fn thread_parent(&self, message: &MessageSent) -> Result<Option<MessageId>, String> {
        let timeline = crate::log::read_all_of(self.store(), &message.conversation_id.stream())
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
    /// or `failed` with the reason. A failing event store is tried again with back-off: the
    /// provider has the message already, and the outcome must not be lost.
    async fn record_outcome(
        &self,
        claim: &DispatchClaimed,
        outcome: Result<Vec<String>, String>,
    ) -> Result<Handled, DispatchError> {
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
        let mut attempt = 1;
        loop {
            let record = RecordOutcome {
                claim: claim.clone(),
                status,
                reason: reason.clone(),
                provider_message_ids: ids.clone(),
            };
            match self.executor.execute(Origin::system(), record).await {
                Ok(executed) => return Ok(Handled::Settled(executed.answer.unwrap_or(status))),
                Err(CommandError::Store(error)) if attempt < OUTCOME_ATTEMPTS => {
                    tracing::warn!(%error, attempt, "recording a dispatch outcome failed; retrying");
                    tokio::time::sleep(self.config.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
}

/// How often recording an outcome is tried before the event is handed back for redelivery.
const OUTCOME_ATTEMPTS: u32 = 10;

/// What claiming a message found.
enum Claimed {
    /// This dispatcher holds the claim now: send.
    Claim(DispatchClaimed),
    /// The message has its outcome already.
    Settled(DeliveryStatus),
    /// Another live dispatcher holds the claim until this time.
    HeldElsewhere(chrono::DateTime<Utc>),
    /// A claim without outcome was found and failed as `outcome_unknown`.
    Abandoned,
}

/// Claims an outbound message on its dispatch stream before anything is sent.
struct ClaimMessage {
    message: MessageSent,
    instance: String,
    lease: chrono::Duration,
    exclusive: bool,
}

#[async_trait::async_trait]
impl Decision for ClaimMessage {
    type Answer = Claimed;

    fn lane(&self) -> String {
        dispatch_stream(self.message.message_id)
    }

    async fn decide(&mut self, ws: &mut Workspace<'_>) -> Result<Decided<Claimed>, CommandError> {
        let dispatch = ws.get::<Dispatch>(&self.lane()).await?;
        let decision = dispatch.claim(
            &self.message,
            &self.instance,
            Utc::now(),
            self.lease,
            self.exclusive,
        );
        Ok(match decision {
            ClaimDecision::Settled => {
                let status = dispatch.status.unwrap_or(DeliveryStatus::Queued);
                Decided::new(Vec::new(), Claimed::Settled(status))
            }
            ClaimDecision::HeldElsewhere(until) => {
                Decided::new(Vec::new(), Claimed::HeldElsewhere(until))
            }
            ClaimDecision::Claim(event) => match &event {
                Event::DispatchClaimed(claim) => {
                    let claim = claim.clone();
                    Decided::new(vec![event], Claimed::Claim(claim))
                }
                _ => Decided::new(vec![event], Claimed::Abandoned),
            },
            ClaimDecision::Abandoned(event) => Decided::new(vec![event], Claimed::Abandoned),
        })
    }
}

/// Records a send's outcome after its claim, with the links from the provider's ids.
struct RecordOutcome {
    claim: DispatchClaimed,
    status: DeliveryStatus,
    reason: Option<String>,
    provider_message_ids: Vec<String>,
}

#[async_trait::async_trait]
impl Decision for RecordOutcome {
    type Answer = DeliveryStatus;

    fn lane(&self) -> String {
        dispatch_stream(self.claim.message_id)
    }

    async fn decide(
        &mut self,
        ws: &mut Workspace<'_>,
    ) -> Result<Decided<DeliveryStatus>, CommandError> {
        let dispatch = ws.get::<Dispatch>(&self.lane()).await?;
        let ids = self.provider_message_ids.clone();
        let Some(report) = dispatch.report(&self.claim, self.status, self.reason.clone(), ids)
        else {
            let status = dispatch.status.unwrap_or(self.status);
            return Ok(Decided::new(Vec::new(), status));
        };
        let links = self.provider_message_ids.iter().map(|id| {
            Event::ProviderMessageLinked(ProviderMessageLinked {
                channel: self.claim.channel,
                provider_message_id: id.clone(),
                direction: Direction::Outbound,
                conversation_id: self.claim.conversation_id,
                message_id: self.claim.message_id,
            })
        });
        let events = std::iter::once(report).chain(links).collect();
        Ok(Decided::new(events, self.status))
    }
}
