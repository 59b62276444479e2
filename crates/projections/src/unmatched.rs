//! The unmatched queue: inbound messages from senders that match no patient, kept for
//! reception until it files them into a patient's conversation.

use domain::event::{InboundUnmatched, UnmatchedAssigned};
use schemars::JsonSchema;
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::sql::{Sql, Tables};
use crate::QueryError;

/// One queued inbound message, as `GET /v1/unmatched` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct UnmatchedView {
    /// The queue entry.
    pub id: domain::UnmatchedId,
    /// The channel it came on.
    pub channel: domain::Channel,
    /// The sender's phone number or e-mail address.
    pub sender: String,
    /// Subject line (e-mail).
    pub subject: Option<String>,
    /// The text.
    pub body: String,
    /// Files that came with it.
    pub attachments: Vec<domain::attachment::AttachmentRef>,
    /// The provider's id of the message.
    pub provider_message_id: String,
    /// When the hub received it.
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// The global position of its event (the list's order, newest first).
    #[serde(skip)]
    pub position: u64,
}

/// Queues an unmatched message.
pub(crate) async fn add(
    conn: &mut AnyConnection,
    tables: &Tables,
    e: &InboundUnmatched,
    position: i64,
    at: &str,
) -> Result<(), sqlx::Error> {
    let attachments = serde_json::to_string(&e.attachments).unwrap_or_else(|_| "[]".into());
    let mut sql = Sql::new(
        tables.dialect(),
        format!(
            "INSERT INTO {} (id, channel, sender, subject, body, attachments, provider_message_id, received_at, position) VALUES (",
            tables.name("unmatched")
        ),
    );
    sql.text(e.unmatched_id.to_string())
        .push(", ")
        .text(e.channel.as_str())
        .push(", ")
        .text(e.sender.clone())
        .push(", ");
    sql.bind(crate::sql::Arg::OptText(e.subject.clone()))
        .push(", ")
        .text(e.body.clone())
        .push(", ")
        .text(attachments)
        .push(", ")
        .text(e.provider_message_id.clone())
        .push(", ");
    sql.text(at)
        .push(", ")
        .int(position)
        .push(") ON CONFLICT DO NOTHING");
    sql.query().execute(&mut *conn).await.map(drop)
}

/// Marks a queued message as filed.
pub(crate) async fn assign(
    conn: &mut AnyConnection,
    tables: &Tables,
    e: &UnmatchedAssigned,
) -> Result<(), sqlx::Error> {
    let mut sql = Sql::new(
        tables.dialect(),
        format!(
            "UPDATE {} SET assigned_patient_id = ",
            tables.name("unmatched")
        ),
    );
    sql.text(e.patient_id.to_string())
        .push(", assigned_message_id = ")
        .text(e.message_id.to_string())
        .push(" WHERE id = ")
        .text(e.unmatched_id.to_string());
    sql.query().execute(&mut *conn).await.map(drop)
}

/// The columns [`row`] reads.
pub(crate) const COLUMNS: &str =
    "id, channel, sender, subject, body, attachments, provider_message_id, received_at, position";

/// Decodes one row of [`COLUMNS`].
pub(crate) fn row(row: &sqlx::any::AnyRow) -> Result<UnmatchedView, QueryError> {
    let corrupt = |field: &str, error: &dyn std::fmt::Display| {
        QueryError::Corrupt(format!("unmatched.{field}: {error}"))
    };
    let id: String = row.try_get(0)?;
    let channel: String = row.try_get(1)?;
    let attachments: String = row.try_get(5)?;
    let received_at: String = row.try_get(7)?;
    let position: i64 = row.try_get(8)?;
    Ok(UnmatchedView {
        id: id.parse().map_err(|e| corrupt("id", &e))?,
        channel: serde_json::from_value(serde_json::Value::String(channel))
            .map_err(|e| corrupt("channel", &e))?,
        sender: row.try_get(2)?,
        subject: row.try_get(3)?,
        body: row.try_get(4)?,
        attachments: serde_json::from_str(&attachments).map_err(|e| corrupt("attachments", &e))?,
        provider_message_id: row.try_get(6)?,
        received_at: chrono::DateTime::parse_from_rfc3339(&received_at)
            .map_err(|e| corrupt("received_at", &e))?
            .with_timezone(&chrono::Utc),
        position: u64::try_from(position).unwrap_or_default(),
    })
}
