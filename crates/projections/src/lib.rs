//! The read models: tables built from the event log for the queries of the contract and for
//! reporting, the projectors that keep them current, and replay that rebuilds them.
//!
//! One body of SQL logic serves PostgreSQL and SQLite through sqlx's `Any` driver; only the
//! DDL (`projections/*.sql`) and the full-text clause differ. The read models live in a
//! *generation*: a PostgreSQL schema (`inbox_<n>`) or a SQLite table prefix (`inbox_<n>_`).
//! `readmodel_meta` names the live generation; replay builds the next one from position 0
//! and swaps it in with one update, so queries keep being served throughout.

mod directory;
mod erasure;
mod fold;
pub mod metrics;
mod model;
mod projector;
mod query;
mod replay;
mod reporting;
mod scheduled;
mod sql;
mod templates;
mod unmatched;
mod values;
mod views;

use std::time::Duration;

use domain::{
    Actor, AttachmentId, Channel, ConversationId, MessageId, PatientId, Role, TemplateId,
    UnmatchedId,
};
use thiserror::Error;

pub use model::{open_read_model, SqlReadModel};
pub use projector::Projector;
pub use replay::{replay, replay_projection, ReplayLimit, ReplayOutcome, ReplayProgress};
pub use reporting::{Backlog, ChannelTotals, DailyCounts, FirstResponse, ReportSummary};
pub use scheduled::PendingReleases;
pub use unmatched::UnmatchedView;
pub use views::{
    AttachmentView, Awaiting, CallView, ConversationFilter, ConversationView, MessageFilter,
    MessageView, Page, PageRequest, Participant, PatientMatch, ScheduledFilter, ScheduledView,
    StaffEntry, TemplateView,
};

/// A read model the projector keeps, each with its own checkpoint and its own worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// Conversations, participants, messages, stars: what the API queries.
    Inbox,
    /// One row per patient and per staff member, for reporting jobs and pickers, and the
    /// template catalogue.
    PatientDirectory,
    /// Daily message counts, first-response times and conversation lifecycles, for reports.
    Reporting,
}

impl Projection {
    /// Every projection.
    pub const ALL: [Projection; 3] = [
        Projection::Inbox,
        Projection::PatientDirectory,
        Projection::Reporting,
    ];

    /// Its name in the `checkpoint` table (and for `hub replay --projection`).
    pub fn name(self) -> &'static str {
        match self {
            Projection::Inbox => "inbox",
            Projection::PatientDirectory => "patients",
            Projection::Reporting => "reporting",
        }
    }

    /// The projection with this [`Projection::name`].
    pub fn named(name: &str) -> Option<Projection> {
        Projection::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The PostgreSQL advisory lock that keeps one worker of this projection active.
    pub(crate) fn lock_key(self) -> i64 {
        match self {
            Projection::Inbox => 0x6875_625f_7072_6f6a,
            Projection::PatientDirectory => 0x6875_625f_7072_6f70,
            Projection::Reporting => 0x6875_625f_7072_6f72,
        }
    }

    /// The tables it writes (a SQLite generation also has the inbox's full-text table).
    pub(crate) fn tables(self, dialect: sql::Dialect) -> Vec<&'static str> {
        match self {
            Projection::Inbox => {
                let mut tables = vec![
                    "conversations",
                    "participants",
                    "messages",
                    "stars",
                    "message_attachments",
                    "unmatched",
                ];
                if dialect == sql::Dialect::Sqlite {
                    tables.push("message_search");
                }
                tables
            }
            Projection::PatientDirectory => {
                vec![
                    "patients",
                    "patient_contacts",
                    "staff",
                    "templates",
                    "scheduled",
                ]
            }
            Projection::Reporting => reporting::TABLES.to_vec(),
        }
    }

    /// Applies a batch of events, in log order.
    pub(crate) async fn apply(
        self,
        conn: &mut sqlx::AnyConnection,
        tables: &sql::Tables,
        envelopes: &[domain::EventEnvelope],
    ) -> Result<(), sqlx::Error> {
        match self {
            Projection::Inbox => fold::apply(conn, tables, envelopes).await,
            Projection::PatientDirectory => {
                for envelope in envelopes {
                    directory::apply(conn, tables, envelope).await?;
                }
                Ok(())
            }
            Projection::Reporting => reporting::apply(conn, tables, envelopes).await,
        }
    }
}

/// A sender's address on an external channel, as inbound messages carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactAddress {
    /// An E.164 phone number (SMS, WhatsApp).
    Phone(String),
    /// An e-mail address (matched in any case).
    Email(String),
}

/// Why a read-model operation failed.
#[derive(Debug, Error)]
pub enum QueryError {
    /// The cursor was not issued by this list.
    #[error("the cursor is not valid")]
    InvalidCursor,
    /// A name that cannot name a read-model generation.
    #[error("`{0}` is not a valid name: use lower-case letters, digits and `_`")]
    InvalidName(String),
    /// The target of a point-in-time copy already exists.
    #[error("read models named `{0}` already exist")]
    Exists(String),
    /// A stored row does not decode.
    #[error("stored read-model data does not decode: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The event store failed.
    #[error("event store: {0}")]
    Store(#[from] store::StoreError),
}

/// What the API reads: the inbox queries of contract section 4, each restricted to what the
/// viewer may see, and the projection's progress.
#[async_trait::async_trait]
pub trait ReadModel: Send + Sync + 'static {
    /// Conversations the viewer can see, newest activity first.
    async fn list_conversations(
        &self,
        viewer: &Actor,
        filter: &ConversationFilter,
        page: &PageRequest,
    ) -> Result<Page<ConversationView>, QueryError>;

    /// One conversation, `None` if absent or not visible.
    async fn conversation(
        &self,
        viewer: &Actor,
        id: ConversationId,
    ) -> Result<Option<ConversationView>, QueryError>;

    /// A conversation's timeline, oldest first; `None` if the conversation is not visible.
    async fn timeline(
        &self,
        viewer: &Actor,
        id: ConversationId,
        page: &PageRequest,
    ) -> Result<Option<Page<MessageView>>, QueryError>;

    /// Messages across the viewer's conversations, newest first.
    async fn search_messages(
        &self,
        viewer: &Actor,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Page<MessageView>, QueryError>;

    /// One message, `None` if absent or not visible.
    async fn message(
        &self,
        viewer: &Actor,
        id: MessageId,
    ) -> Result<Option<MessageView>, QueryError>;

    /// The conversation a message belongs to, without a visibility check (for routing commands).
    async fn message_conversation(
        &self,
        id: MessageId,
    ) -> Result<Option<ConversationId>, QueryError>;

    /// Whether the attachment belongs to a message of an erased patient (it is gone for
    /// everyone, its uploader included).
    async fn attachment_erased(&self, id: AttachmentId) -> Result<bool, QueryError>;

    /// Whether the viewer can see a message carrying the attachment.
    async fn attachment_visible(
        &self,
        viewer: &Actor,
        id: AttachmentId,
    ) -> Result<bool, QueryError>;

    /// Whether a file with this content (`sha256`) is carried by a message, a scheduled
    /// message or an unmatched entry of anyone but `patient`: files are stored by content, so
    /// erasing `patient` must not delete one that someone else's message still needs.
    async fn file_used_beyond(&self, sha256: &str, patient: PatientId) -> Result<bool, QueryError>;

    /// Patients whose record carries this phone number or e-mail address.
    async fn patients_with_contact(
        &self,
        address: &ContactAddress,
    ) -> Result<Vec<PatientId>, QueryError>;

    /// Where an inbound message from `patient` belongs: with `channel`, the conversation of the
    /// patient's latest message on that channel if it is not archived; else (and always without
    /// `channel`) the patient's most recently active open reception conversation; `None` when
    /// neither exists.
    async fn inbound_conversation(
        &self,
        patient: PatientId,
        channel: Option<Channel>,
    ) -> Result<Option<ConversationId>, QueryError>;

    /// The staff directory in registration order, optionally of one role.
    async fn staff_directory(
        &self,
        role: Option<Role>,
        page: &PageRequest,
    ) -> Result<Page<StaffEntry>, QueryError>;

    /// The patient directory in registration order: with `q`, the patients whose name has a word
    /// starting with each word of `q` (any case, accents folded), or whose record carries `q` as
    /// its whole phone number or e-mail address.
    async fn patient_directory(
        &self,
        q: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<PatientMatch>, QueryError>;

    /// The template catalogue in creation order, retired templates included.
    async fn templates(&self, page: &PageRequest) -> Result<Page<TemplateView>, QueryError>;

    /// The scheduled messages `viewer` may see that match `filter`, soonest first (by
    /// release time, then position).
    async fn scheduled(
        &self,
        viewer: &Actor,
        filter: &ScheduledFilter,
        page: &PageRequest,
    ) -> Result<Page<ScheduledView>, QueryError>;

    /// One template, retired or not; `None` if it does not exist.
    async fn template(&self, id: TemplateId) -> Result<Option<TemplateView>, QueryError>;

    /// The unmatched queue: inbound messages not yet filed, newest first.
    async fn unmatched(&self, page: &PageRequest) -> Result<Page<UnmatchedView>, QueryError>;

    /// One entry of the unmatched queue, filed or not (`true` when filed).
    async fn unmatched_entry(
        &self,
        id: UnmatchedId,
    ) -> Result<Option<(UnmatchedView, bool)>, QueryError>;

    /// The reporting figures of the last `days` UTC days up to `now`'s (today included), and
    /// the backlog as it stands.
    async fn report_summary(
        &self,
        days: u32,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<ReportSummary, QueryError>;

    /// The last global position applied to the live read models.
    async fn checkpoint(&self) -> Result<u64, QueryError>;

    /// Waits until the inbox and directory read models include `position`; `false` after
    /// `timeout`.
    async fn wait_for(&self, position: u64, timeout: Duration) -> Result<bool, QueryError>;

    /// Waits until the reporting read models include `position`; `false` after `timeout`.
    /// Kept apart from [`ReadModel::wait_for`] so that a reporting projector catching up (or
    /// rebuilt by `hub replay --projection reporting`) never holds the inbox's reads back.
    async fn wait_for_reports(&self, position: u64, timeout: Duration) -> Result<bool, QueryError>;
}
