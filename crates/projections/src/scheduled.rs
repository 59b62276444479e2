//! Scheduled messages and where they stand, for `GET /v1/scheduled`.
//!
//! Like the template catalogue, the list is kept by the directory projection (one statement
//! per event, its own checkpoint): a scheduled message is written once and changes status at
//! most once, and `hub replay` rebuilds it with the directories. A row's visibility is its
//! conversation's: read from the inbox's `conversations` and `participants` once the
//! conversation exists, and, for a first message whose conversation does not exist yet, who
//! could write in the conversation it will start (its author, receptionists when a
//! receptionist wrote it, admins and auditors).

use domain::attachment::AttachmentRef;
use domain::scheduled::ScheduledStatus;
use domain::template::TemplateRef;
use domain::{Actor, Author, Event, EventEnvelope, Role};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::sql::{Arg, Sql, Tables};
use crate::values::time_text;
use crate::views::{AttachmentView, ScheduledFilter, ScheduledView};
use crate::QueryError;

/// Scheduled-message columns, in the order [`scheduled_row`] reads them.
const COLUMNS: &str = "s.message_id, s.conversation_id, s.patient_id, s.author_id, s.author_role, s.author_name, s.channel, s.subject, s.body, s.template_id, s.template_version, s.attachments, s.send_at, s.release_at, s.status, s.failure_reason, s.position";

/// Applies one scheduled-message event to the list of `tables`; other events are skipped.
pub(crate) async fn apply(
    conn: &mut AnyConnection,
    tables: &Tables,
    envelope: &EventEnvelope,
) -> Result<(), sqlx::Error> {
    let position = i64::try_from(envelope.position).unwrap_or(i64::MAX);
    let table = tables.name("scheduled");
    let d = tables.dialect();
    let settle = |id: String, status: ScheduledStatus, reason: Option<String>| {
        let mut sql = Sql::new(d, format!("UPDATE {table} SET status = "));
        sql.text(status.as_str().to_owned())
            .push(", failure_reason = ")
            .bind(Arg::OptText(reason))
            .push(" WHERE status = 'pending' AND message_id = ")
            .text(id);
        sql
    };
    let sql = match &envelope.event {
        Event::MessageScheduled(e) => {
            let mut sql = Sql::new(
                d,
                format!("INSERT INTO {table} (message_id, conversation_id, patient_id, author_id, author_role, author_name, channel, subject, body, template_id, template_version, attachments, send_at, release_at, status, failure_reason, position) VALUES ("),
            );
            sql.text(e.message_id.to_string())
                .push(", ")
                .text(e.conversation_id.to_string())
                .push(", ")
                .text(e.patient_id.to_string())
                .push(", ")
                .text(e.author.id.to_string())
                .push(", ")
                .text(e.author.role.as_str().to_owned())
                .push(", ")
                .bind(Arg::OptText(e.author.name.clone()))
                .push(", ")
                .text(e.draft.channel.as_str().to_owned())
                .push(", ")
                .bind(Arg::OptText(e.draft.subject.clone()))
                .push(", ")
                .text(e.draft.body.clone());
            sql.push(", ")
                .bind(Arg::OptText(e.template.map(|t| t.id.to_string())))
                .push(", ")
                .bind(Arg::OptInt(e.template.map(|t| i64::from(t.version))))
                .push(", ")
                .text(serde_json::to_string(&e.draft.attachments).unwrap_or_else(|_| "[]".into()))
                .push(", ")
                .text(time_text(e.send_at))
                .push(", ")
                .text(time_text(e.release_at))
                .push(", 'pending', NULL, ")
                .int(position)
                .push(") ON CONFLICT (message_id) DO NOTHING");
            sql
        }
        Event::ScheduledMessageReleased(e) => {
            settle(e.message_id.to_string(), ScheduledStatus::Sent, None)
        }
        Event::ScheduledMessageCancelled(e) => {
            settle(e.message_id.to_string(), ScheduledStatus::Cancelled, None)
        }
        Event::ScheduledMessageFailed(e) => settle(
            e.message_id.to_string(),
            ScheduledStatus::Failed,
            Some(e.failure_reason.clone()),
        ),
        _ => return Ok(()),
    };
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

fn corrupt(what: &str) -> QueryError {
    QueryError::Corrupt(format!("scheduled: {what}"))
}

fn parsed<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, QueryError> {
    text.parse().map_err(|_| corrupt(what))
}

fn time(what: &str, text: &str) -> Result<chrono::DateTime<chrono::Utc>, QueryError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| corrupt(what))
}

/// Reads a row selected with [`COLUMNS`].
fn scheduled_row(row: &AnyRow) -> Result<ScheduledView, QueryError> {
    let text = |i: usize| row.try_get::<String, _>(i);
    let attachments: Vec<AttachmentRef> =
        serde_json::from_str(&text(11)?).map_err(|_| corrupt("attachments"))?;
    let template = match (
        row.try_get::<Option<String>, _>(9)?,
        row.try_get::<Option<i64>, _>(10)?,
    ) {
        (Some(id), Some(version)) => Some(TemplateRef {
            id: domain::TemplateId(parsed("template_id", &id)?),
            version: u32::try_from(version).map_err(|_| corrupt("template_version"))?,
        }),
        _ => None,
    };
    Ok(ScheduledView {
        message_id: domain::MessageId(parsed("message_id", &text(0)?)?),
        conversation_id: domain::ConversationId(parsed("conversation_id", &text(1)?)?),
        patient_id: domain::PatientId(parsed("patient_id", &text(2)?)?),
        author: Author {
            id: parsed("author_id", &text(3)?)?,
            role: parsed("author_role", &text(4)?)?,
            name: row.try_get(5)?,
        },
        channel: parsed("channel", &text(6)?)?,
        subject: row.try_get(7)?,
        body: text(8)?,
        template,
        attachments: attachments
            .into_iter()
            .map(|a| AttachmentView {
                id: a.id,
                media_type: a.media_type,
                size: a.size,
                filename: a.filename,
            })
            .collect(),
        send_at: time("send_at", &text(12)?)?,
        release_at: time("release_at", &text(13)?)?,
        status: parsed("status", &text(14)?)?,
        failure_reason: row.try_get(15)?,
        position: u64::try_from(row.try_get::<i64, _>(16)?).unwrap_or_default(),
    })
}

/// Appends " AND <the viewer may see scheduled message s>": its conversation's visibility once
/// the conversation exists, else who could write in the conversation it will start.
fn push_visible(sql: &mut Sql, tables: &Tables, viewer: &Actor) {
    if matches!(viewer.role, Role::Admin | Role::Auditor | Role::System) {
        return;
    }
    let conversations = tables.name("conversations");
    sql.push(&format!(
        " AND (EXISTS (SELECT 1 FROM {conversations} c WHERE c.id = s.conversation_id AND "
    ));
    crate::query::push_visible(sql, tables, viewer);
    sql.push(&format!(
        ") OR (NOT EXISTS (SELECT 1 FROM {conversations} c WHERE c.id = s.conversation_id) AND ("
    ));
    match viewer.role {
        Role::Receptionist => {
            sql.push("s.author_role = 'receptionist' OR s.author_id = ")
                .text(viewer.id.to_string());
        }
        Role::Doctor => {
            sql.push("s.author_id = ").text(viewer.id.to_string());
        }
        _ => {
            sql.push("1 = 0");
        }
    }
    sql.push(")))");
}

/// The scheduled messages `viewer` may see that match `filter`, soonest first (by release
/// time, then position), `limit + 1` rows after the one at position `after`.
pub(crate) async fn scheduled_rows(
    pool: &sqlx::AnyPool,
    tables: &Tables,
    viewer: &Actor,
    filter: &ScheduledFilter,
    after: Option<u64>,
    limit: u32,
) -> Result<Vec<ScheduledView>, QueryError> {
    let table = tables.name("scheduled");
    let mut sql = Sql::new(
        tables.dialect(),
        format!("SELECT {COLUMNS} FROM {table} s WHERE 1 = 1"),
    );
    if let Some(patient) = filter.patient_id {
        sql.push(" AND s.patient_id = ").text(patient.to_string());
    }
    if let Some(conversation) = filter.conversation_id {
        sql.push(" AND s.conversation_id = ")
            .text(conversation.to_string());
    }
    if let Some(status) = filter.status {
        sql.push(" AND s.status = ")
            .text(status.as_str().to_owned());
    }
    if let Some(after) = after {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let at = format!("(SELECT a.release_at FROM {table} a WHERE a.position = ");
        sql.push(&format!(" AND (s.release_at > {at}"))
            .int(after)
            .push(&format!(") OR (s.release_at = {at}"))
            .int(after)
            .push(") AND s.position > ")
            .int(after)
            .push("))");
    }
    push_visible(&mut sql, tables, viewer);
    sql.push(" ORDER BY s.release_at, s.position LIMIT ")
        .int(i64::from(limit) + 1);
    sql.query()
        .fetch_all(pool)
        .await?
        .iter()
        .map(scheduled_row)
        .collect()
}

/// The scheduled messages still pending, with when each is due, as of `position`: the
/// directory projection's checkpoint, read in the same statement so the two agree. A
/// scheduler starts from this and follows the log after `position`, instead of reading the
/// whole log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingReleases {
    /// The log position the list reflects.
    pub position: u64,
    /// Each pending message and its `release_at`.
    pub pending: Vec<(domain::MessageId, chrono::DateTime<chrono::Utc>)>,
}

/// Reads [`PendingReleases`] from `tables`.
pub(crate) async fn pending_releases(
    pool: &sqlx::AnyPool,
    tables: &Tables,
) -> Result<PendingReleases, QueryError> {
    let mut sql = Sql::new(
        tables.dialect(),
        format!(
            "SELECT c.position, s.message_id, s.release_at FROM {} c LEFT JOIN {} s ON s.status = 'pending' WHERE c.projection = ",
            tables.name("checkpoint"),
            tables.name("scheduled"),
        ),
    );
    sql.text(crate::Projection::PatientDirectory.name().to_owned());
    let mut releases = PendingReleases::default();
    for row in sql.query().fetch_all(pool).await? {
        releases.position = u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or_default();
        let (Some(id), Some(at)) = (
            row.try_get::<Option<String>, _>(1)?,
            row.try_get::<Option<String>, _>(2)?,
        ) else {
            continue;
        };
        let id = uuid::Uuid::parse_str(&id).map_err(|_| corrupt("message_id"))?;
        releases
            .pending
            .push((domain::MessageId(id), time("release_at", &at)?));
    }
    Ok(releases)
}
