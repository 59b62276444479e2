//! Seeded sample data and the inbox query shapes, shared by the read-model benchmark and
//! `hub bench`: the same data and the same queries wherever the figures come from.

use domain::event::{ConversationStarted, Counterpart, MessageSent, MessageStarred, StatusChanged};
use domain::status::{ConversationStatus, MessageStatus};
use domain::{
    Actor, Author, Channel, ConversationId, Direction, Event, MessageId, PatientId, Role, StaffId,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

use commands::import::ImportStreams;
use commands::{CommandError, Executor, Origin};
use projections::{ConversationFilter, MessageFilter, PageRequest, QueryError, ReadModel};
use uuid::Uuid;

/// The words message bodies and subjects are made of (full-text queries pick from them).
pub const WORDS: [&str; 12] = [
    "appointment",
    "results",
    "invoice",
    "prescription",
    "physio",
    "referral",
    "vaccine",
    "allergy",
    "xray",
    "blood",
    "dental",
    "followup",
];

/// Messages per generated conversation.
pub const PER_CONVERSATION: usize = 10;
/// Conversations per append transaction while generating.
const CONVERSATIONS_PER_APPEND: usize = 100;

/// The receptionist every generated outbound message comes from, and who queries.
pub fn receptionist() -> Actor {
    Actor {
        id: Uuid::from_u128(1),
        role: Role::Receptionist,
    }
}

/// What was generated.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SampleData {
    /// The patients, in generation order.
    pub patients: Vec<PatientId>,
    /// Conversations generated.
    pub conversations: usize,
    /// Events appended.
    pub events: u64,
}

fn uuid(rng: &mut StdRng) -> Uuid {
    Uuid::from_u128(rng.gen())
}

/// The events of one conversation of ten messages: about half read, 5% starred.
fn conversation(rng: &mut StdRng, patients: &[PatientId]) -> (ConversationId, Vec<Event>) {
    let receptionist = receptionist();
    let conversation_id = ConversationId(uuid(rng));
    let patient_id = patients[rng.gen_range(0..patients.len())];
    let patient = Actor {
        id: patient_id.0,
        role: Role::Patient,
    };
    let mut events = vec![Event::ConversationStarted(ConversationStarted {
        conversation_id,
        patient_id,
        counterpart: Counterpart::Reception,
        initiator: patient,
    })];
    for m in 0..PER_CONVERSATION {
        let message_id = MessageId(uuid(rng));
        let inbound = m % 2 == 0;
        let body = (0..8)
            .map(|_| WORDS[rng.gen_range(0..WORDS.len())])
            .collect::<Vec<_>>()
            .join(" ");
        events.push(Event::MessageSent(MessageSent {
            conversation_id,
            message_id,
            channel: [Channel::Portal, Channel::Sms, Channel::Email][rng.gen_range(0..3)],
            direction: if inbound {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            author: Author::new(if inbound { patient } else { receptionist }, None),
            subject: Some(format!("About {}", WORDS[rng.gen_range(0..WORDS.len())])),
            body,
            attachments: vec![],
            delivery_status: None,
            template: None,
            whatsapp_template: None,
            scheduled_for: None,
        }));
        if rng.gen_bool(0.5) {
            events.push(Event::StatusChanged(StatusChanged {
                conversation_id,
                message_id,
                status: MessageStatus::Read,
            }));
        }
        if rng.gen_bool(0.05) {
            events.push(Event::MessageStarred(MessageStarred {
                conversation_id,
                message_id,
                staff_id: StaffId(receptionist.id),
            }));
        }
    }
    (conversation_id, events)
}

/// Appends `messages` messages in conversations of [`PER_CONVERSATION`], one patient per 20
/// messages, all from seed 7: the same input gives the same conversations, messages and
/// patients (times are when they were generated). They go through the command path as
/// [`ImportStreams`], a hundred conversations per append. `progress` gets (conversations done,
/// conversations in all).
pub async fn generate(
    executor: &Arc<Executor>,
    messages: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<SampleData, CommandError> {
    let mut rng = StdRng::seed_from_u64(7);
    let patients: Vec<PatientId> = (0..(messages / 20).max(1))
        .map(|_| PatientId(uuid(&mut rng)))
        .collect();
    let conversations = (messages / PER_CONVERSATION).max(1);
    let mut events_appended = 0;
    let mut batch: Vec<Event> = Vec::new();
    for c in 0..conversations {
        let (_, events) = conversation(&mut rng, &patients);
        events_appended += events.len() as u64;
        batch.extend(events);
        if (c + 1) % CONVERSATIONS_PER_APPEND == 0 || c + 1 == conversations {
            let import = ImportStreams {
                events: std::mem::take(&mut batch),
            };
            executor
                .execute(Origin::new(receptionist()), import)
                .await?;
            progress(c + 1, conversations);
        }
    }
    Ok(SampleData {
        patients,
        conversations,
        events: events_appended,
    })
}

/// One inbox query shape of the benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryShape {
    /// The receptionist's inbox, newest first.
    Inbox,
    /// A patient's own inbox.
    InboxOfPatient,
    /// Inbox filtered by status.
    InboxUnread,
    /// Inbox filtered by channel.
    InboxChannel,
    /// Inbox of starred conversations.
    InboxStarred,
    /// Inbox full-text search for one word.
    InboxText,
    /// Message search, newest first.
    Messages,
    /// Message search by channel, direction and status together.
    MessagesCombined,
    /// Message full-text search for two words.
    MessagesText,
    /// Messages of one patient.
    MessagesOfPatient,
    /// Five pages of 200 messages, following the cursor.
    MessagesDeepPage,
}

impl QueryShape {
    /// Every shape, in report order.
    pub const ALL: [QueryShape; 11] = [
        QueryShape::Inbox,
        QueryShape::InboxOfPatient,
        QueryShape::InboxUnread,
        QueryShape::InboxChannel,
        QueryShape::InboxStarred,
        QueryShape::InboxText,
        QueryShape::Messages,
        QueryShape::MessagesCombined,
        QueryShape::MessagesText,
        QueryShape::MessagesOfPatient,
        QueryShape::MessagesDeepPage,
    ];

    /// The shape's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            QueryShape::Inbox => "inbox, newest first",
            QueryShape::InboxOfPatient => "inbox of one patient (patient)",
            QueryShape::InboxUnread => "inbox status=unread",
            QueryShape::InboxChannel => "inbox channel=sms",
            QueryShape::InboxStarred => "inbox starred",
            QueryShape::InboxText => "inbox q=<word>",
            QueryShape::Messages => "messages, newest first",
            QueryShape::MessagesCombined => "messages channel+direction+status",
            QueryShape::MessagesText => "messages q=<two words>",
            QueryShape::MessagesOfPatient => "messages patient_id",
            QueryShape::MessagesDeepPage => "messages deep page (cursor)",
        }
    }

    /// Runs the shape's `i`-th variant (which patient, which words) against `model`.
    pub async fn run(
        self,
        model: &dyn ReadModel,
        patients: &[PatientId],
        i: usize,
    ) -> Result<(), QueryError> {
        let viewer = receptionist();
        let patient = patients.get(i % patients.len().max(1)).copied();
        let page = PageRequest {
            limit: 50,
            cursor: None,
        };
        let conversations = match self {
            QueryShape::Inbox => Some(ConversationFilter::default()),
            QueryShape::InboxUnread => Some(ConversationFilter {
                status: Some(ConversationStatus::Unread),
                ..Default::default()
            }),
            QueryShape::InboxChannel => Some(ConversationFilter {
                channel: Some(Channel::Sms),
                ..Default::default()
            }),
            QueryShape::InboxStarred => Some(ConversationFilter {
                starred: Some(true),
                ..Default::default()
            }),
            QueryShape::InboxText => Some(ConversationFilter {
                q: Some(WORDS[i % WORDS.len()].into()),
                ..Default::default()
            }),
            _ => None,
        };
        if let Some(filter) = conversations {
            model.list_conversations(&viewer, &filter, &page).await?;
            return Ok(());
        }
        match self {
            QueryShape::InboxOfPatient => {
                let Some(patient) = patient else {
                    return Ok(());
                };
                let viewer = Actor {
                    id: patient.0,
                    role: Role::Patient,
                };
                model
                    .list_conversations(&viewer, &ConversationFilter::default(), &page)
                    .await?;
            }
            QueryShape::MessagesDeepPage => {
                let mut cursor = None;
                for _ in 0..5 {
                    cursor = model
                        .search_messages(
                            &viewer,
                            &MessageFilter::default(),
                            &PageRequest { limit: 200, cursor },
                        )
                        .await?
                        .next_cursor;
                }
            }
            _ => {
                let filter = match self {
                    QueryShape::MessagesCombined => MessageFilter {
                        channel: Some(Channel::Email),
                        direction: Some(Direction::Inbound),
                        status: Some(ConversationStatus::Read),
                        ..Default::default()
                    },
                    QueryShape::MessagesText => MessageFilter {
                        q: Some(format!(
                            "{} {}",
                            WORDS[i % WORDS.len()],
                            WORDS[(i + 5) % WORDS.len()]
                        )),
                        ..Default::default()
                    },
                    QueryShape::MessagesOfPatient => MessageFilter {
                        patient_id: patient,
                        ..Default::default()
                    },
                    _ => MessageFilter::default(),
                };
                model.search_messages(&viewer, &filter, &page).await?;
            }
        }
        Ok(())
    }
}

/// The `p` quantile (0 to 1) of sorted durations, in milliseconds; 0 when there are none.
pub fn percentile_ms(sorted: &[std::time::Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p.clamp(0.0, 1.0)).round() as usize;
    sorted[index].as_secs_f64() * 1_000.0
}
