//! How each event changes the read models. Runs inside the projector's batch transaction.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::event::{CallLogged, ConversationStarted, MessageReceived, MessageSent};
use domain::{Actor, Direction, Event, EventEnvelope};
use sqlx::{AnyConnection, Row};

use crate::sql::{Arg, Dialect, Sql, Tables};

/// The text form of a time in the read models: RFC 3339 UTC with microseconds (sortable).
pub(crate) fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn status_rank(status: &str) -> u8 {
    match status {
        "unread" => 0,
        "read" => 1,
        _ => 2,
    }
}

/// Applies one event to the read models of `tables`. Events without a read-model effect are skipped.
pub(crate) async fn apply(
    conn: &mut AnyConnection,
    tables: &Tables,
    envelope: &EventEnvelope,
) -> Result<(), sqlx::Error> {
    let position = i64::try_from(envelope.position).unwrap_or(i64::MAX);
    let at = time_text(envelope.occurred_at);
    match &envelope.event {
        Event::ConversationStarted(e) => started(conn, tables, e, position, &at).await,
        Event::MessageSent(e) => sent(conn, tables, e, position, &at).await,
        Event::MessageReceived(e) => sent(conn, tables, &as_sent(e), position, &at).await,
        Event::DeliveryStatusChanged(e) => {
            let mut sql = Sql::new(
                tables.dialect(),
                format!("UPDATE {} SET delivery_status = ", tables.name("messages")),
            );
            sql.text(e.status.as_str())
                .push(", delivery_error = ")
                .bind(Arg::OptText(e.reason.clone()))
                .push(" WHERE id = ")
                .text(e.message_id.to_string());
            sql.query().execute(&mut *conn).await.map(drop)
        }
        Event::InboundUnmatched(e) => crate::unmatched::add(conn, tables, e, position, &at).await,
        Event::UnmatchedAssigned(e) => crate::unmatched::assign(conn, tables, e).await,
        Event::CallLogged(e) => called(conn, tables, e, position, &at).await,
        Event::StatusChanged(e) => {
            status_changed(
                conn,
                tables,
                &e.conversation_id.to_string(),
                &e.message_id.to_string(),
                e.status.as_str(),
            )
            .await
        }
        Event::MessageStarred(e) => {
            let d = tables.dialect();
            let mut sql = Sql::new(
                d,
                format!(
                    "INSERT INTO {} (message_id, staff_id, conversation_id, position) VALUES (",
                    tables.name("stars")
                ),
            );
            sql.text(e.message_id.to_string())
                .push(", ")
                .text(e.staff_id.to_string())
                .push(", ");
            sql.text(e.conversation_id.to_string())
                .push(", ")
                .int(position)
                .push(") ON CONFLICT DO NOTHING");
            sql.query().execute(&mut *conn).await.map(drop)
        }
        Event::MessageUnstarred(e) => {
            let mut sql = Sql::new(
                tables.dialect(),
                format!("DELETE FROM {} WHERE message_id = ", tables.name("stars")),
            );
            sql.text(e.message_id.to_string())
                .push(" AND staff_id = ")
                .text(e.staff_id.to_string());
            sql.query().execute(&mut *conn).await.map(drop)
        }
        Event::ConversationArchived(e) => {
            let mut sql = Sql::new(
                tables.dialect(),
                format!(
                    "UPDATE {} SET archived = 1, status = 'archived' WHERE id = ",
                    tables.name("conversations")
                ),
            );
            sql.text(e.conversation_id.to_string());
            sql.query().execute(&mut *conn).await.map(drop)
        }
        Event::ConversationReopened(e) => {
            let c = tables.name("conversations");
            let m = tables.name("messages");
            let mut sql = Sql::new(
                tables.dialect(),
                format!("UPDATE {c} SET archived = 0, status = COALESCE((SELECT m.status FROM {m} m WHERE m.id = {c}.latest_message_id), 'unread') WHERE id = "),
            );
            sql.text(e.conversation_id.to_string());
            sql.query().execute(&mut *conn).await.map(drop)
        }
        _ => Ok(()),
    }
}

async fn add_participant(
    conn: &mut AnyConnection,
    tables: &Tables,
    conversation: &str,
    actor: &Actor,
    position: i64,
) -> Result<(), sqlx::Error> {
    let mut sql = Sql::new(
        tables.dialect(),
        format!(
            "INSERT INTO {} (conversation_id, actor_id, role, joined_position) VALUES (",
            tables.name("participants")
        ),
    );
    sql.text(conversation)
        .push(", ")
        .text(actor.id.to_string())
        .push(", ")
        .text(actor.role.as_str())
        .push(", ")
        .int(position);
    sql.push(") ON CONFLICT DO NOTHING");
    sql.query().execute(&mut *conn).await.map(drop)
}

async fn started(
    conn: &mut AnyConnection,
    tables: &Tables,
    e: &ConversationStarted,
    position: i64,
    at: &str,
) -> Result<(), sqlx::Error> {
    let id = e.conversation_id.to_string();
    let mut sql = Sql::new(
        tables.dialect(),
        format!(
            "INSERT INTO {} (id, patient_id, counterpart, initiator_id, initiator_role, status, last_position, started_at) VALUES (",
            tables.name("conversations")
        ),
    );
    sql.text(id.clone())
        .push(", ")
        .text(e.patient_id.to_string())
        .push(", ")
        .text(e.counterpart.as_str())
        .push(", ");
    sql.text(e.initiator.id.to_string())
        .push(", ")
        .text(e.initiator.role.as_str())
        .push(", 'unread', ")
        .int(position);
    sql.push(", ").text(at).push(")");
    sql.query().execute(&mut *conn).await?;
    let patient = Actor {
        id: e.patient_id.0,
        role: domain::Role::Patient,
    };
    add_participant(conn, tables, &id, &patient, position).await?;
    add_participant(conn, tables, &id, &e.initiator, position).await
}

/// A new entry in the timeline, message or call log.
struct Entry<'a> {
    conversation: String,
    message: String,
    channel: &'a str,
    direction: Direction,
    author: &'a Actor,
    subject: Option<String>,
    body: &'a str,
    attachments: String,
    status: &'a str,
    delivery_status: Option<String>,
    call: Option<(String, i64)>,
}

async fn insert_entry(
    conn: &mut AnyConnection,
    tables: &Tables,
    entry: Entry<'_>,
    position: i64,
    at: &str,
) -> Result<(), sqlx::Error> {
    let d = tables.dialect();
    let c = tables.name("conversations");
    let patient: String = {
        let mut sql = Sql::new(
            d,
            format!("SELECT patient_id, archived FROM {c} WHERE id = "),
        );
        sql.text(entry.conversation.clone());
        sql.query().fetch_one(&mut *conn).await?.try_get(0)?
    };
    let mut sql = Sql::new(
        d,
        format!(
            "INSERT INTO {} (id, conversation_id, patient_id, position, channel, direction, author_id, author_role, subject, body, attachments, status, delivery_status, sent_at, call_occurred_at, call_duration_seconds) VALUES (",
            tables.name("messages")
        ),
    );
    sql.text(entry.message.clone())
        .push(", ")
        .text(entry.conversation.clone())
        .push(", ")
        .text(patient)
        .push(", ")
        .int(position);
    sql.push(", ")
        .text(entry.channel)
        .push(", ")
        .text(entry.direction.as_str())
        .push(", ");
    sql.text(entry.author.id.to_string())
        .push(", ")
        .text(entry.author.role.as_str())
        .push(", ");
    sql.bind(Arg::OptText(entry.subject.clone()))
        .push(", ")
        .text(entry.body)
        .push(", ")
        .text(entry.attachments)
        .push(", ");
    sql.text(entry.status)
        .push(", ")
        .bind(Arg::OptText(entry.delivery_status))
        .push(", ")
        .text(at)
        .push(", ");
    sql.bind(Arg::OptText(entry.call.as_ref().map(|c| c.0.clone())))
        .push(", ");
    sql.bind(Arg::OptInt(entry.call.as_ref().map(|c| c.1)))
        .push(")");
    sql.query().execute(&mut *conn).await?;
    if d == Dialect::Sqlite {
        let mut sql = Sql::new(
            d,
            format!(
                "INSERT INTO {} (rowid, subject, body) VALUES (",
                tables.name("message_search")
            ),
        );
        sql.int(position)
            .push(", ")
            .bind(Arg::OptText(entry.subject))
            .push(", ")
            .text(entry.body)
            .push(")");
        sql.query().execute(&mut *conn).await?;
    }
    add_participant(conn, tables, &entry.conversation, entry.author, position).await?;
    let unread_column = match entry.direction {
        Direction::Inbound => "unread_inbound",
        Direction::Outbound => "unread_outbound",
    };
    let unread_increment = i64::from(entry.status == "unread");
    let mut sql = Sql::new(d, format!("UPDATE {c} SET latest_message_id = "));
    sql.text(entry.message)
        .push(", last_message_at = ")
        .text(at)
        .push(", last_position = ")
        .int(position);
    sql.push(", status = CASE WHEN archived = 1 THEN 'archived' ELSE ")
        .text(entry.status)
        .push(" END, ");
    sql.push(&format!("{unread_column} = {unread_column} + "))
        .int(unread_increment)
        .push(" WHERE id = ")
        .text(entry.conversation);
    sql.query().execute(&mut *conn).await.map(drop)
}

async fn sent(
    conn: &mut AnyConnection,
    tables: &Tables,
    e: &MessageSent,
    position: i64,
    at: &str,
) -> Result<(), sqlx::Error> {
    for attachment in &e.attachments {
        let mut sql = Sql::new(
            tables.dialect(),
            format!(
                "INSERT INTO {} (attachment_id, message_id, conversation_id) VALUES (",
                tables.name("message_attachments")
            ),
        );
        sql.text(attachment.id.to_string())
            .push(", ")
            .text(e.message_id.to_string())
            .push(", ")
            .text(e.conversation_id.to_string());
        sql.push(") ON CONFLICT DO NOTHING");
        sql.query().execute(&mut *conn).await?;
    }
    let attachments = serde_json::to_string(&e.attachments).unwrap_or_else(|_| "[]".into());
    let entry = Entry {
        conversation: e.conversation_id.to_string(),
        message: e.message_id.to_string(),
        channel: e.channel.as_str(),
        direction: e.direction,
        author: &e.author,
        subject: e.subject.clone(),
        body: &e.body,
        attachments,
        status: "unread",
        delivery_status: e.delivery_status.map(|s| s.as_str().to_owned()),
        call: None,
    };
    insert_entry(conn, tables, entry, position, at).await
}

/// A received message is projected as an inbound message without delivery status.
pub(crate) fn as_sent(e: &MessageReceived) -> MessageSent {
    MessageSent {
        conversation_id: e.conversation_id,
        message_id: e.message_id,
        channel: e.channel,
        direction: Direction::Inbound,
        author: e.author,
        subject: e.subject.clone(),
        body: e.body.clone(),
        attachments: e.attachments.clone(),
        delivery_status: None,
    }
}

async fn called(
    conn: &mut AnyConnection,
    tables: &Tables,
    e: &CallLogged,
    position: i64,
    at: &str,
) -> Result<(), sqlx::Error> {
    let entry = Entry {
        conversation: e.conversation_id.to_string(),
        message: e.message_id.to_string(),
        channel: "call",
        direction: e.direction,
        author: &e.author,
        subject: None,
        body: &e.summary,
        attachments: "[]".into(),
        status: "read",
        delivery_status: None,
        call: Some((time_text(e.occurred_at), i64::from(e.duration_seconds))),
    };
    insert_entry(conn, tables, entry, position, at).await
}

async fn status_changed(
    conn: &mut AnyConnection,
    tables: &Tables,
    conversation: &str,
    message: &str,
    status: &str,
) -> Result<(), sqlx::Error> {
    let d = tables.dialect();
    let m = tables.name("messages");
    let c = tables.name("conversations");
    let current = {
        let mut sql = Sql::new(d, format!("SELECT status, direction FROM {m} WHERE id = "));
        sql.text(message);
        sql.query().fetch_optional(&mut *conn).await?
    };
    let Some(current) = current else {
        return Ok(());
    };
    let (old, direction): (String, String) = (current.try_get(0)?, current.try_get(1)?);
    if status_rank(status) <= status_rank(&old) {
        return Ok(());
    }
    let mut sql = Sql::new(d, format!("UPDATE {m} SET status = "));
    sql.text(status).push(" WHERE id = ").text(message);
    sql.query().execute(&mut *conn).await?;
    let unread_column = if direction == "inbound" {
        "unread_inbound"
    } else {
        "unread_outbound"
    };
    let decrement = i64::from(old == "unread");
    let mut sql = Sql::new(
        d,
        format!("UPDATE {c} SET {unread_column} = {unread_column} - "),
    );
    sql.int(decrement)
        .push(", status = CASE WHEN archived = 1 THEN 'archived' WHEN latest_message_id = ")
        .text(message);
    sql.push(" THEN ")
        .text(status)
        .push(" ELSE status END WHERE id = ")
        .text(conversation);
    sql.query().execute(&mut *conn).await.map(drop)
}
