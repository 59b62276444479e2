//! The reporting rows a batch touches, held in memory while the batch's events fold into them:
//! daily counts as deltas (added to the stored counts when written), and the delivery,
//! first-response and lifecycle rows loaded before the batch or created by it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use domain::{Channel, Direction, Event};

use crate::fold::Change;

/// Whether the reporting projection reads the event (every other event is skipped).
pub(crate) fn reports(event: &Event) -> bool {
    matches!(
        event,
        Event::ConversationStarted(_)
            | Event::MessageSent(_)
            | Event::MessageReceived(_)
            | Event::CallLogged(_)
            | Event::DeliveryStatusChanged(_)
            | Event::ConversationArchived(_)
            | Event::ConversationReopened(_)
    )
}

/// The message counts of one day, channel and direction: every entry, and those in each
/// delivery outcome now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub messages: i64,
    pub queued: i64,
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
}

impl Counts {
    /// The count of a delivery outcome (`None` for a name that is none).
    fn outcome(&mut self, status: &str) -> Option<&mut i64> {
        match status {
            "queued" => Some(&mut self.queued),
            "sent" => Some(&mut self.sent),
            "delivered" => Some(&mut self.delivered),
            "failed" => Some(&mut self.failed),
            _ => None,
        }
    }

    /// Whether adding these deltas changes nothing.
    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

/// The key of a `report_daily` row: UTC day (`YYYY-MM-DD`), channel, direction.
pub(crate) type DayKey = (String, String, String);

/// A `report_deliveries` row: where a message with a delivery status is counted, and its
/// outcome now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeliveryRow {
    pub key: DayKey,
    pub status: String,
    /// Created or changed by the batch: written.
    pub changed: bool,
}

/// The clinic's first answer to an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub message_id: String,
    pub channel: String,
    pub answered_at: String,
    pub response_seconds: Option<i64>,
}

/// A `report_first_responses` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResponseRow {
    pub conversation_id: String,
    pub channel: String,
    pub received_at: String,
    pub position: i64,
    pub answer: Option<Answer>,
    /// Created or answered by the batch: written.
    pub changed: bool,
}

/// A `report_conversations` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LifecycleRow {
    pub counterpart: String,
    pub started_at: String,
    pub archived: bool,
    pub archive_count: i64,
    pub last_archived_at: Option<String>,
    pub reopen_count: i64,
    pub last_reopened_at: Option<String>,
}

/// Everything a batch changes in the reporting tables.
#[derive(Debug, Default)]
pub(crate) struct ReportState {
    /// What the batch adds to each day's counts.
    pub daily: BTreeMap<DayKey, Counts>,
    /// Delivery rows loaded or created, by message id.
    pub deliveries: BTreeMap<String, DeliveryRow>,
    /// First-response rows loaded (unanswered) or created, by message id.
    pub responses: BTreeMap<String, ResponseRow>,
    /// Each conversation's unanswered inbound messages, oldest first.
    pub pending: BTreeMap<String, Vec<String>>,
    /// Lifecycle rows loaded or created, by conversation id.
    pub conversations: BTreeMap<String, LifecycleRow>,
    /// Conversations the batch changed.
    pub changed_conversations: BTreeSet<String>,
}

/// A new timeline entry, as reporting sees it.
struct Entry<'a> {
    conversation: String,
    message: String,
    channel: Channel,
    direction: Direction,
    delivery_status: Option<&'a str>,
}

/// The UTC day of a read-model time (`YYYY-MM-DD`, the first ten characters of its text).
fn day_of(at: &str) -> String {
    at.get(..10).unwrap_or(at).to_owned()
}

/// Whole seconds from `from` to `to` (never negative), if both are read-model times.
pub(crate) fn seconds_between(from: &str, to: &str) -> Option<i64> {
    let parse = |t: &str| DateTime::parse_from_rfc3339(t).map(|t| t.with_timezone(&Utc));
    let (from, to) = (parse(from).ok()?, parse(to).ok()?);
    Some((to - from).num_seconds().max(0))
}

impl ReportState {
    /// Folds the batch's changes in order, after the rows they touch were loaded.
    pub fn fold(&mut self, changes: &[Change<'_>]) {
        for change in changes {
            self.event(change.event, change.position, &change.at);
        }
    }

    fn event(&mut self, event: &Event, position: i64, at: &str) {
        match event {
            Event::ConversationStarted(e) => {
                let id = e.conversation_id.to_string();
                if self.conversations.contains_key(&id) {
                    tracing::warn!(conversation = id, "conversation started twice; skipped");
                    return;
                }
                self.conversations.insert(
                    id.clone(),
                    LifecycleRow {
                        counterpart: e.counterpart.as_str().to_owned(),
                        started_at: at.to_owned(),
                        archived: false,
                        archive_count: 0,
                        last_archived_at: None,
                        reopen_count: 0,
                        last_reopened_at: None,
                    },
                );
                self.changed_conversations.insert(id);
            }
            Event::MessageSent(e) => self.entry(
                Entry {
                    conversation: e.conversation_id.to_string(),
                    message: e.message_id.to_string(),
                    channel: e.channel,
                    direction: e.direction,
                    delivery_status: e.delivery_status.map(|s| s.as_str()),
                },
                position,
                at,
            ),
            Event::MessageReceived(e) => self.entry(
                Entry {
                    conversation: e.conversation_id.to_string(),
                    message: e.message_id.to_string(),
                    channel: e.channel,
                    direction: Direction::Inbound,
                    delivery_status: None,
                },
                position,
                at,
            ),
            Event::CallLogged(e) => self.entry(
                Entry {
                    conversation: e.conversation_id.to_string(),
                    message: e.message_id.to_string(),
                    channel: Channel::Call,
                    direction: e.direction,
                    delivery_status: None,
                },
                position,
                at,
            ),
            Event::DeliveryStatusChanged(e) => {
                self.delivery(&e.message_id.to_string(), e.status.as_str())
            }
            Event::ConversationArchived(e) => {
                if let Some(c) = self.conversation(&e.conversation_id.to_string()) {
                    c.archived = true;
                    c.archive_count += 1;
                    c.last_archived_at = Some(at.to_owned());
                }
            }
            Event::ConversationReopened(e) => {
                if let Some(c) = self.conversation(&e.conversation_id.to_string()) {
                    c.archived = false;
                    c.reopen_count += 1;
                    c.last_reopened_at = Some(at.to_owned());
                }
            }
            _ => {}
        }
    }

    /// A lifecycle row to change, marked as changed; `None` (with a warning) if it is unknown.
    fn conversation(&mut self, id: &str) -> Option<&mut LifecycleRow> {
        match self.conversations.get_mut(id) {
            Some(row) => {
                self.changed_conversations.insert(id.to_owned());
                Some(row)
            }
            None => {
                tracing::warn!(
                    conversation = id,
                    "lifecycle event for an unknown conversation skipped"
                );
                None
            }
        }
    }

    /// Counts a new entry; an inbound message waits for an answer, and anything the clinic
    /// records (an outbound message, a call log of either direction) answers every inbound
    /// message of the conversation still waiting.
    fn entry(&mut self, entry: Entry<'_>, position: i64, at: &str) {
        let key = (
            day_of(at),
            entry.channel.as_str().to_owned(),
            entry.direction.as_str().to_owned(),
        );
        let counts = self.daily.entry(key.clone()).or_default();
        counts.messages += 1;
        if let Some(status) = entry.delivery_status {
            if let Some(count) = counts.outcome(status) {
                *count += 1;
            }
            self.deliveries.insert(
                entry.message.clone(),
                DeliveryRow {
                    key,
                    status: status.to_owned(),
                    changed: true,
                },
            );
        }
        if entry.direction == Direction::Inbound && entry.channel != Channel::Call {
            self.pending
                .entry(entry.conversation.clone())
                .or_default()
                .push(entry.message.clone());
            self.responses.insert(
                entry.message,
                ResponseRow {
                    conversation_id: entry.conversation,
                    channel: entry.channel.as_str().to_owned(),
                    received_at: at.to_owned(),
                    position,
                    answer: None,
                    changed: true,
                },
            );
        } else {
            let waiting = self.pending.remove(&entry.conversation).unwrap_or_default();
            for id in waiting {
                if let Some(row) = self.responses.get_mut(&id) {
                    row.answer = Some(Answer {
                        message_id: entry.message.clone(),
                        channel: entry.channel.as_str().to_owned(),
                        answered_at: at.to_owned(),
                        response_seconds: seconds_between(&row.received_at, at),
                    });
                    row.changed = true;
                }
            }
        }
    }

    /// A delivery report moves the message from its outcome's count to the new one, on the
    /// day it was sent (as reported: the dispatchers only record forward moves).
    fn delivery(&mut self, message: &str, status: &str) {
        let Some(row) = self.deliveries.get_mut(message) else {
            return;
        };
        if row.status == status {
            return;
        }
        let counts = self.daily.entry(row.key.clone()).or_default();
        if let Some(count) = counts.outcome(&row.status) {
            *count -= 1;
        }
        if let Some(count) = counts.outcome(status) {
            *count += 1;
        }
        row.status = status.to_owned();
        row.changed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_times_are_whole_seconds_and_never_negative() {
        let at = "2026-03-02T09:00:00.900000Z";
        assert_eq!(seconds_between(at, "2026-03-02T09:01:00.800000Z"), Some(59));
        assert_eq!(seconds_between(at, "2026-03-02T08:00:00.000000Z"), Some(0));
        assert_eq!(seconds_between(at, "not a time"), None);
        assert_eq!(day_of(at), "2026-03-02");
    }
}
