//! The inbox rows a batch touches, held in memory while the batch's events fold into them.
//! Folding is plain computation: what the rows were before the batch is loaded first, what
//! they are after it is written in a few multi-row statements.

use std::collections::{BTreeMap, BTreeSet};

use domain::event::{CallLogged, ConversationStarted, DeliveryStatusChanged, MessageSent};
use domain::status::MessageStatus;
use domain::{Actor, Direction, Event, Role};

use super::Change;
use crate::values::{as_sent, status_rank, time_text};
use crate::views::Awaiting;

/// A row of `conversations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConversationRow {
    pub id: String,
    pub patient_id: String,
    pub counterpart: String,
    pub initiator_id: String,
    pub initiator_role: String,
    pub archived: bool,
    pub status: String,
    pub awaiting: String,
    pub latest_message_id: Option<String>,
    pub last_message_at: Option<String>,
    pub last_position: i64,
    pub unread_inbound: i64,
    pub unread_outbound: i64,
    pub started_at: String,
}

/// The columns of a `messages` row that never change after it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageBody {
    pub patient_id: String,
    pub position: i64,
    pub channel: String,
    pub author_id: String,
    pub author_role: String,
    pub author_name: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    pub attachments: String,
    pub sent_at: String,
    pub call_occurred_at: Option<String>,
    pub call_duration_seconds: Option<i64>,
    pub template_id: Option<String>,
    pub template_version: Option<i64>,
    pub scheduled_for: Option<String>,
}

/// A message's changing columns, and its fixed ones when the batch created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageRow {
    pub conversation_id: String,
    pub direction: String,
    pub status: String,
    pub delivery_status: Option<String>,
    pub delivery_error: Option<String>,
    /// `Some` when the batch created the message (it is inserted, not updated).
    pub created: Option<MessageBody>,
    /// Whether the batch changed status or delivery of a message that existed before it.
    pub changed: bool,
}

/// What the batch does to one staff member's star on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StarChange {
    /// Starred; a star already there before the batch is kept as it is.
    Keep(i64),
    /// Starred anew after an unstar in the batch: replaces any earlier star.
    Replace(i64),
    /// Not starred.
    Remove,
}

/// Everything a batch changes in the inbox tables.
#[derive(Debug, Default)]
pub(crate) struct InboxState {
    /// Conversations loaded or created, by id.
    pub conversations: BTreeMap<String, ConversationRow>,
    /// Conversations the batch changed.
    pub changed_conversations: BTreeSet<String>,
    /// Messages loaded or created, by id.
    pub messages: BTreeMap<String, MessageRow>,
    /// New participants: (conversation, actor) → (role, joined position).
    pub participants: BTreeMap<(String, String), (String, i64)>,
    /// New (attachment, message, conversation) links.
    pub attachments: BTreeSet<(String, String, String)>,
    /// Star changes: (message, staff) → (conversation, change).
    pub stars: BTreeMap<(String, String), (String, StarChange)>,
}

/// A new entry of a timeline: a message or a call log.
struct Entry {
    conversation: String,
    message: String,
    direction: Direction,
    status: MessageStatus,
    delivery_status: Option<String>,
    body: MessageBody,
}

impl InboxState {
    /// Folds the batch's changes in order, after the rows they touch were loaded.
    pub fn fold(&mut self, changes: &[Change<'_>]) {
        for change in changes {
            self.event(change.event, change.position, &change.at);
        }
    }

    fn event(&mut self, event: &Event, position: i64, at: &str) {
        match event {
            Event::ConversationStarted(e) => self.started(e, position, at),
            Event::MessageSent(e) => self.sent(e, position, at),
            Event::MessageReceived(e) => self.sent(&as_sent(e), position, at),
            Event::DeliveryStatusChanged(e) => self.delivery(e),
            Event::CallLogged(e) => self.called(e, position, at),
            Event::StatusChanged(e) => self.status_changed(
                &e.conversation_id.to_string(),
                &e.message_id.to_string(),
                e.status,
            ),
            Event::MessageStarred(e) => self.star(
                e.conversation_id.to_string(),
                e.message_id.to_string(),
                e.staff_id.to_string(),
                Some(position),
            ),
            Event::MessageUnstarred(e) => self.star(
                e.conversation_id.to_string(),
                e.message_id.to_string(),
                e.staff_id.to_string(),
                None,
            ),
            Event::ConversationArchived(e) => {
                let id = e.conversation_id.to_string();
                if let Some(c) = self.conversation(&id) {
                    c.archived = true;
                    c.status = "archived".into();
                }
            }
            Event::ConversationReopened(e) => {
                let id = e.conversation_id.to_string();
                let latest_status = self
                    .conversations
                    .get(&id)
                    .and_then(|c| c.latest_message_id.as_ref())
                    .and_then(|m| self.messages.get(m))
                    .map_or_else(|| "unread".to_owned(), |m| m.status.clone());
                if let Some(c) = self.conversation(&id) {
                    c.archived = false;
                    c.status = latest_status;
                }
            }
            _ => {}
        }
    }

    /// A conversation to change, marked as changed; `None` (with a warning) if it is unknown.
    fn conversation(&mut self, id: &str) -> Option<&mut ConversationRow> {
        match self.conversations.get_mut(id) {
            Some(row) => {
                self.changed_conversations.insert(id.to_owned());
                Some(row)
            }
            None => {
                tracing::warn!(
                    conversation = id,
                    "event for an unknown conversation skipped"
                );
                None
            }
        }
    }

    fn participant(&mut self, conversation: &str, actor: &Actor, position: i64) {
        self.participants
            .entry((conversation.to_owned(), actor.id.to_string()))
            .or_insert_with(|| (actor.role.as_str().to_owned(), position));
    }

    fn started(&mut self, e: &ConversationStarted, position: i64, at: &str) {
        let id = e.conversation_id.to_string();
        if self.conversations.contains_key(&id) {
            tracing::warn!(conversation = id, "conversation started twice; skipped");
            return;
        }
        self.conversations.insert(
            id.clone(),
            ConversationRow {
                id: id.clone(),
                patient_id: e.patient_id.to_string(),
                counterpart: e.counterpart.as_str().into(),
                initiator_id: e.initiator.id.to_string(),
                initiator_role: e.initiator.role.as_str().into(),
                archived: false,
                status: "unread".into(),
                awaiting: Awaiting::Clinic.as_str().into(),
                latest_message_id: None,
                last_message_at: None,
                last_position: position,
                unread_inbound: 0,
                unread_outbound: 0,
                started_at: at.to_owned(),
            },
        );
        self.changed_conversations.insert(id.clone());
        let patient = Actor {
            id: e.patient_id.0,
            role: Role::Patient,
        };
        self.participant(&id, &patient, position);
        self.participant(&id, &e.initiator, position);
    }

    fn entry_body(&self, conversation: &str, position: i64, at: &str) -> Option<MessageBody> {
        let patient_id = self.conversations.get(conversation)?.patient_id.clone();
        Some(MessageBody {
            patient_id,
            position,
            channel: String::new(),
            author_id: String::new(),
            author_role: String::new(),
            author_name: None,
            subject: None,
            body: String::new(),
            attachments: "[]".into(),
            sent_at: at.to_owned(),
            call_occurred_at: None,
            call_duration_seconds: None,
            template_id: None,
            template_version: None,
            scheduled_for: None,
        })
    }

    fn sent(&mut self, e: &MessageSent, position: i64, at: &str) {
        let conversation = e.conversation_id.to_string();
        let message = e.message_id.to_string();
        let Some(body) = self.entry_body(&conversation, position, at) else {
            tracing::warn!(conversation, "message in an unknown conversation skipped");
            return;
        };
        for attachment in &e.attachments {
            self.attachments.insert((
                attachment.id.to_string(),
                message.clone(),
                conversation.clone(),
            ));
        }
        self.participant(&conversation, &e.author.actor(), position);
        let body = MessageBody {
            channel: e.channel.as_str().into(),
            author_id: e.author.id.to_string(),
            author_role: e.author.role.as_str().into(),
            author_name: e.author.name.clone(),
            subject: e.subject.clone(),
            body: e.body.clone(),
            attachments: serde_json::to_string(&e.attachments).unwrap_or_else(|_| "[]".into()),
            template_id: e.template.map(|t| t.id.to_string()),
            template_version: e.template.map(|t| i64::from(t.version)),
            scheduled_for: e.scheduled_for.map(time_text),
            ..body
        };
        self.entry(Entry {
            conversation,
            message,
            direction: e.direction,
            status: MessageStatus::Unread,
            delivery_status: e.delivery_status.map(|s| s.as_str().to_owned()),
            body,
        });
    }

    fn called(&mut self, e: &CallLogged, position: i64, at: &str) {
        let conversation = e.conversation_id.to_string();
        let Some(body) = self.entry_body(&conversation, position, at) else {
            tracing::warn!(conversation, "call log in an unknown conversation skipped");
            return;
        };
        let body = MessageBody {
            channel: "call".into(),
            author_id: e.author.id.to_string(),
            author_role: e.author.role.as_str().into(),
            author_name: e.author.name.clone(),
            body: e.summary.clone(),
            call_occurred_at: Some(time_text(e.occurred_at)),
            call_duration_seconds: Some(i64::from(e.duration_seconds)),
            ..body
        };
        self.entry(Entry {
            conversation,
            message: e.message_id.to_string(),
            direction: e.direction,
            status: MessageStatus::Read,
            delivery_status: None,
            body,
        });
    }

    fn entry(&mut self, entry: Entry) {
        if self.messages.contains_key(&entry.message) {
            tracing::warn!(message = entry.message, "message recorded twice; skipped");
            return;
        }
        let Some(c) = self.conversation(&entry.conversation) else {
            return;
        };
        c.latest_message_id = Some(entry.message.clone());
        c.awaiting = Awaiting::after(entry.direction, entry.body.channel == "call")
            .as_str()
            .into();
        c.last_message_at = Some(entry.body.sent_at.clone());
        c.last_position = entry.body.position;
        c.status = if c.archived {
            "archived".into()
        } else {
            entry.status.as_str().into()
        };
        if entry.status == MessageStatus::Unread {
            match entry.direction {
                Direction::Inbound => c.unread_inbound += 1,
                Direction::Outbound => c.unread_outbound += 1,
            }
        }
        self.messages.insert(
            entry.message,
            MessageRow {
                conversation_id: entry.conversation,
                direction: entry.direction.as_str().into(),
                status: entry.status.as_str().into(),
                delivery_status: entry.delivery_status,
                delivery_error: None,
                created: Some(entry.body),
                changed: false,
            },
        );
    }

    fn status_changed(&mut self, conversation: &str, message: &str, status: MessageStatus) {
        let Some(row) = self.messages.get_mut(message) else {
            tracing::warn!(message, "status of an unknown message skipped");
            return;
        };
        if status_rank(status.as_str()) <= status_rank(&row.status) {
            return;
        }
        let was_unread = row.status == MessageStatus::Unread.as_str();
        row.status = status.as_str().into();
        row.changed = row.created.is_none();
        let inbound = row.direction == Direction::Inbound.as_str();
        if let Some(c) = self.conversation(conversation) {
            if was_unread {
                if inbound {
                    c.unread_inbound -= 1;
                } else {
                    c.unread_outbound -= 1;
                }
            }
            if c.archived {
                c.status = "archived".into();
            } else if c.latest_message_id.as_deref() == Some(message) {
                c.status = status.as_str().into();
            }
        }
    }

    /// A delivery report sets the message's delivery status and reason as reported (the
    /// dispatchers only ever record forward moves).
    fn delivery(&mut self, report: &DeliveryStatusChanged) {
        let message = report.message_id.to_string();
        let Some(row) = self.messages.get_mut(&message) else {
            return;
        };
        row.delivery_status = Some(report.status.as_str().into());
        row.delivery_error = report.reason.clone();
        row.changed = row.created.is_none();
    }

    /// A star (`at` its position) or an unstar (`None`), composed with earlier ones of the batch.
    fn star(&mut self, conversation: String, message: String, staff: String, at: Option<i64>) {
        let earlier = self
            .stars
            .get(&(message.clone(), staff.clone()))
            .map(|s| s.1);
        let next = match (at, earlier) {
            (None, _) => StarChange::Remove,
            (Some(position), None) => StarChange::Keep(position),
            (Some(position), Some(StarChange::Remove)) => StarChange::Replace(position),
            (Some(_), Some(starred)) => starred,
        };
        self.stars.insert((message, staff), (conversation, next));
    }
}
