//! The scheduler: releases scheduled messages when they are due.
//!
//! It keeps the pending scheduled messages in memory (message id → `release_at`) and follows
//! the event log: `MessageScheduled` adds one, `ScheduledMessageReleased`,
//! `ScheduledMessageCancelled` and `ScheduledMessageFailed` remove it. It sleeps until the
//! soonest `release_at` or the next event, and runs the release command for every message
//! that is due. It keeps no checkpoint of its own: it starts from the read model's list of
//! pending messages and follows the log after the position that list reflects ([`Start`]),
//! or, where there is no read model, reads the log from position 0. Either way a hub that was
//! down at a message's time releases it when it is back. (Reading a log of a million messages
//! from position 0 delayed every release after a start by about 20 s.)
//!
//! Correctness never rests on the scheduler: the release command writes the message's own
//! stream with its expected version, so several nodes (or a restart racing its predecessor's
//! last release) release each message exactly once; the others find it no longer pending.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use commands::release::{ReleaseOutcome, ReleaseScheduledDecision};
use commands::{CommandError, Executor, Origin};
use domain::{Event, MessageId};
use eventlog::codec;
use futures::StreamExt;
use store::{RecordedEvent, StoreError};

use crate::retry::RetryPolicy;

/// How long the scheduler sleeps when nothing is pending (a new event wakes it sooner).
const IDLE: Duration = Duration::from_secs(3600);
/// The shortest sleep before looking at a message again that was not due yet (clock skew
/// between this process and the release's own check).
const NOT_DUE_PAUSE: Duration = Duration::from_millis(20);

/// The pending scheduled messages, soonest first.
#[derive(Debug, Default)]
struct Pending {
    by_id: BTreeMap<MessageId, DateTime<Utc>>,
    by_time: BTreeSet<(DateTime<Utc>, MessageId)>,
}

impl Pending {
    /// Follows one scheduled-message event.
    fn apply(&mut self, event: &Event) {
        match event {
            Event::MessageScheduled(e) => self.add(e.message_id, e.release_at),
            Event::ScheduledMessageReleased(e) => self.remove(e.message_id),
            Event::ScheduledMessageCancelled(e) => self.remove(e.message_id),
            Event::ScheduledMessageFailed(e) => self.remove(e.message_id),
            _ => {}
        }
    }

    fn add(&mut self, message_id: MessageId, release_at: DateTime<Utc>) {
        if let std::collections::btree_map::Entry::Vacant(entry) = self.by_id.entry(message_id) {
            entry.insert(release_at);
            self.by_time.insert((release_at, message_id));
        }
    }

    fn remove(&mut self, message_id: MessageId) {
        if let Some(release_at) = self.by_id.remove(&message_id) {
            self.by_time.remove(&(release_at, message_id));
        }
    }

    /// The soonest release time.
    fn next(&self) -> Option<DateTime<Utc>> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// The messages due at `now`, soonest first.
    fn due(&self, now: DateTime<Utc>) -> Vec<MessageId> {
        self.by_time
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| *id)
            .collect()
    }
}

/// Whether a stored event is one the scheduler follows (decided without decoding the rest).
fn is_scheduled_event(record: &RecordedEvent) -> bool {
    matches!(
        record.event_type.as_str(),
        "MessageScheduled"
            | "ScheduledMessageReleased"
            | "ScheduledMessageCancelled"
            | "ScheduledMessageFailed"
    )
}

/// Runs the release command for `message_id`, retrying store errors and conflicts with
/// backoff up to `retry.max_attempts` calls in all.
async fn release(
    executor: &Arc<Executor>,
    message_id: MessageId,
    retry: &RetryPolicy,
) -> Result<ReleaseOutcome, CommandError> {
    let mut attempt = 1;
    loop {
        let decision = ReleaseScheduledDecision { message_id };
        match executor.execute(Origin::system(), decision).await {
            // No answer: an idempotent repeat, which a release never is; treat as done.
            Ok(executed) => return Ok(executed.answer.unwrap_or(ReleaseOutcome::NotPending)),
            Err(error @ (CommandError::Store(_) | CommandError::Conflict { .. }))
                if attempt < retry.max_attempts =>
            {
                tracing::warn!(%error, %message_id, attempt, "releasing a scheduled message failed; retrying");
                tokio::time::sleep(retry.backoff(attempt)).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Where a scheduler starts: the messages pending as of the log position `after` (a read
/// model's list, say), and the log followed from there. The default is the log's start with
/// nothing pending.
#[derive(Debug, Clone, Default)]
pub struct Start {
    /// The log position `pending` reflects.
    pub after: u64,
    /// The pending messages and when each is due.
    pub pending: Vec<(MessageId, DateTime<Utc>)>,
}

/// Follows the log from `start` and releases every scheduled message when it is due, until
/// `shutdown`. A release that still fails after `retry`'s attempts ends the run with the
/// error (the worker's supervisor starts it again from a fresh [`Start`]); a
/// release the domain refuses is logged and dropped.
pub async fn run(
    executor: Arc<Executor>,
    start: Start,
    retry: RetryPolicy,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), CommandError> {
    tokio::pin!(shutdown);
    let mut events = executor.store().subscribe(start.after);
    let mut pending = Pending::default();
    for (message_id, release_at) in start.pending {
        pending.add(message_id, release_at);
    }
    tracing::info!(
        after = start.after,
        pending = pending.by_id.len(),
        "scheduler following the event log"
    );
    loop {
        let wait = pending
            .next()
            .map_or(IDLE, |at| (at - Utc::now()).to_std().unwrap_or_default());
        tokio::select! {
            biased;
            _ = &mut shutdown => return Ok(()),
            record = events.next() => {
                let Some(record) = record else {
                    return Ok(());
                };
                let record = record?;
                if is_scheduled_event(&record) {
                    let envelope = codec::decode(&record, executor.store().keyring())
                        .map_err(|e| StoreError::InvalidRequest(e.to_string()))?;
                    pending.apply(&envelope.event);
                }
            }
            _ = tokio::time::sleep(wait) => {
                for message_id in pending.due(Utc::now()) {
                    let outcome = match release(&executor, message_id, &retry).await {
                        // A refusal is final (decided on fresh state): trying it again would
                        // be refused again, so it leaves the pending set instead of stopping
                        // the scheduler.
                        Err(CommandError::Refused(error)) => {
                            tracing::warn!(%error, %message_id, "the release of a scheduled message was refused");
                            pending.remove(message_id);
                            continue;
                        }
                        outcome => outcome?,
                    };
                    match outcome {
                        ReleaseOutcome::Released => {
                            tracing::info!(%message_id, "scheduled message released");
                            pending.remove(message_id);
                        }
                        ReleaseOutcome::Failed => {
                            tracing::info!(%message_id, "scheduled message failed a rule when due");
                            pending.remove(message_id);
                        }
                        ReleaseOutcome::NotPending => pending.remove(message_id),
                        ReleaseOutcome::NotDue => tokio::time::sleep(NOT_DUE_PAUSE).await,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use domain::event::{MessageScheduled, ScheduledMessageCancelled};
    use domain::{Author, Channel, ConversationId, PatientId, Role};
    use uuid::Uuid;

    fn scheduled(release_at: DateTime<Utc>) -> MessageScheduled {
        MessageScheduled {
            message_id: MessageId(Uuid::new_v4()),
            conversation_id: ConversationId(Uuid::new_v4()),
            starts_conversation: true,
            to: None,
            patient_id: PatientId(Uuid::new_v4()),
            author: Author {
                id: Uuid::new_v4(),
                role: Role::Receptionist,
                name: None,
            },
            draft: domain::command::Draft {
                channel: Channel::Portal,
                subject: None,
                body: "Hello".into(),
                attachments: Vec::new(),
            },
            template: None,
            whatsapp_template: None,
            send_at: release_at,
            release_at,
        }
    }

    #[test]
    fn pending_messages_come_due_soonest_first_until_settled() {
        // Given two scheduled messages, the later one written first
        let now = Utc::now();
        let (soon, later) = (scheduled(now), scheduled(now + TimeDelta::hours(1)));
        let mut pending = Pending::default();
        pending.apply(&Event::MessageScheduled(later.clone()));
        pending.apply(&Event::MessageScheduled(soon.clone()));
        // Then the sooner is next, and only it is due now
        assert_eq!(pending.next(), Some(now));
        assert_eq!(pending.due(now), [soon.message_id]);
        // When it is cancelled, the later one is next and nothing is due
        pending.apply(&Event::ScheduledMessageCancelled(
            ScheduledMessageCancelled {
                message_id: soon.message_id,
                conversation_id: soon.conversation_id,
            },
        ));
        assert_eq!(pending.next(), Some(later.release_at));
        assert!(pending.due(now).is_empty());
    }
}
