//! What a conversation knows of itself: its messages with their statuses and stars, its
//! participants and archive state, folded from its events.
//!
//! The per-message maps are persistent (`imbl`): the command path copies a conversation's
//! state before applying the events of each decision (the cache keeps the version it had),
//! and a persistent map makes that copy cost the same for a thread of ten messages and one of
//! ten thousand; an insert then copies only the nodes on its path. With `BTreeMap` the copy
//! was the largest item of the hub's own CPU profile under load, and it grew with the thread.

use std::collections::{BTreeMap, BTreeSet};

use imbl::{OrdMap, OrdSet};

use crate::actor::{Actor, Role};
use crate::channel::{Channel, Direction};
use crate::error::DomainError;
use crate::event::{Counterpart, Event};
use crate::ids::{ConversationId, MessageId, PatientId, StaffId};
use crate::status::{DeliveryStatus, MessageStatus};
use crate::Aggregate;

/// What the conversation knows about one of its messages or call logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageState {
    /// The channel (`call` for call logs).
    pub channel: Channel,
    /// From the patient (`inbound`) or from the clinic (`outbound`).
    pub direction: Direction,
    /// Who wrote or logged it.
    pub author: Actor,
    /// Status from the recipient's side.
    pub status: MessageStatus,
    /// Delivery status on external channels and portal messages to the patient.
    pub delivery_status: Option<DeliveryStatus>,
    /// Staff members who starred it.
    pub starred_by: BTreeSet<StaffId>,
}

/// A started conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRecord {
    /// The conversation's id.
    pub id: ConversationId,
    /// The patient it is with.
    pub patient_id: PatientId,
    /// Reception or a named staff member.
    pub counterpart: Counterpart,
    /// Who wrote the first message.
    pub initiator: Actor,
    /// The patient, the initiator and everyone who has written in it, in order of joining.
    pub participants: Vec<Actor>,
    /// Whether it is archived.
    pub archived: bool,
    /// Every message and call log.
    pub messages: OrdMap<MessageId, MessageState>,
    /// The most recently recorded entry.
    pub latest_message: Option<MessageId>,
    /// Messages of each direction that have not been replied to yet.
    pub(super) unanswered: BTreeMap<Direction, OrdSet<MessageId>>,
}

impl ConversationRecord {
    /// Whether `actor` takes part in the conversation.
    pub fn has_participant(&self, actor: &Actor) -> bool {
        self.participants.iter().any(|p| p.id == actor.id)
    }

    /// The conversation status: `archived`, or the status of its latest entry.
    pub fn status(&self) -> crate::status::ConversationStatus {
        let latest = self
            .latest_message
            .and_then(|id| self.messages.get(&id))
            .map(|m| m.status);
        crate::status::ConversationStatus::of(self.archived, latest)
    }

    /// The doctor whose one-open-conversation rule this conversation counts for.
    pub(super) fn doctor(&self) -> Option<StaffId> {
        (self.counterpart == Counterpart::Staff && self.initiator.role == Role::Doctor)
            .then_some(StaffId(self.initiator.id))
    }

    /// Records a new unread message as the latest entry.
    fn add_message(
        &mut self,
        id: MessageId,
        channel: Channel,
        direction: Direction,
        author: Actor,
        delivery_status: Option<DeliveryStatus>,
    ) {
        if !self.has_participant(&author) {
            self.participants.push(author);
        }
        self.messages.insert(
            id,
            MessageState {
                channel,
                direction,
                author,
                status: MessageStatus::Unread,
                delivery_status,
                starred_by: BTreeSet::new(),
            },
        );
        self.unanswered.entry(direction).or_default().insert(id);
        self.latest_message = Some(id);
    }

    pub(super) fn message(&self, id: MessageId) -> Result<&MessageState, DomainError> {
        self.messages
            .get(&id)
            .ok_or(DomainError::NotFound("message"))
    }
}

/// One conversation's state, folded from its stream; `None` before its first message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conversation(pub Option<ConversationRecord>);

impl Aggregate for Conversation {
    fn apply(&mut self, event: &Event) {
        let Some(record) = &mut self.0 else {
            if let Event::ConversationStarted(e) = event {
                let patient = Actor {
                    id: e.patient_id.0,
                    role: Role::Patient,
                };
                let mut participants = vec![patient];
                if e.initiator.role != Role::Patient {
                    participants.push(e.initiator);
                }
                self.0 = Some(ConversationRecord {
                    id: e.conversation_id,
                    patient_id: e.patient_id,
                    counterpart: e.counterpart,
                    initiator: e.initiator,
                    participants,
                    archived: false,
                    messages: OrdMap::new(),
                    latest_message: None,
                    unanswered: BTreeMap::new(),
                });
            }
            return;
        };
        match event {
            Event::MessageSent(e) => record.add_message(
                e.message_id,
                e.channel,
                e.direction,
                e.author.actor(),
                e.delivery_status,
            ),
            Event::MessageReceived(e) => record.add_message(
                e.message_id,
                e.channel,
                Direction::Inbound,
                e.author.actor(),
                None,
            ),
            Event::CallLogged(e) => {
                record.messages.insert(
                    e.message_id,
                    MessageState {
                        channel: Channel::Call,
                        direction: e.direction,
                        author: e.author.actor(),
                        status: MessageStatus::Read,
                        delivery_status: None,
                        starred_by: BTreeSet::new(),
                    },
                );
                record.latest_message = Some(e.message_id);
            }
            Event::StatusChanged(e) => {
                if let Some(message) = record.messages.get_mut(&e.message_id) {
                    message.status = message.status.max(e.status);
                    if message.status == MessageStatus::Replied {
                        if let Some(set) = record.unanswered.get_mut(&message.direction) {
                            set.remove(&e.message_id);
                        }
                    }
                }
            }
            Event::MessageStarred(e) => {
                if let Some(message) = record.messages.get_mut(&e.message_id) {
                    message.starred_by.insert(e.staff_id);
                }
            }
            Event::MessageUnstarred(e) => {
                if let Some(message) = record.messages.get_mut(&e.message_id) {
                    message.starred_by.remove(&e.staff_id);
                }
            }
            Event::ConversationArchived(_) => record.archived = true,
            Event::ConversationReopened(_) => record.archived = false,
            _ => {}
        }
    }
}
