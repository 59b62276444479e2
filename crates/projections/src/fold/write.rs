//! Writes what a folded batch changed: multi-row upserts and inserts, and one update per
//! message that existed before the batch and changed in it.

use sqlx::AnyConnection;

use super::state::{InboxState, StarChange};
use crate::sql::{write_rows, Arg, Dialect, Sql, Tables};

fn text(value: &str) -> Arg {
    Arg::Text(value.to_owned())
}

/// Writes every change of `state` to the inbox tables of `tables`.
pub(crate) async fn write(
    conn: &mut AnyConnection,
    tables: &Tables,
    state: &InboxState,
) -> Result<(), sqlx::Error> {
    let d = tables.dialect();
    conversations(conn, tables, state).await?;
    messages(conn, tables, state).await?;
    let participants: Vec<Vec<Arg>> = state
        .participants
        .iter()
        .map(|((conversation, actor), (role, position))| {
            vec![
                text(conversation),
                text(actor),
                text(role),
                Arg::Int(*position),
            ]
        })
        .collect();
    let head = format!(
        "INSERT INTO {} (conversation_id, actor_id, role, joined_position) VALUES ",
        tables.name("participants")
    );
    write_rows(conn, d, &head, &participants, " ON CONFLICT DO NOTHING").await?;
    let attachments: Vec<Vec<Arg>> = state
        .attachments
        .iter()
        .map(|(attachment, message, conversation)| {
            vec![text(attachment), text(message), text(conversation)]
        })
        .collect();
    let head = format!(
        "INSERT INTO {} (attachment_id, message_id, conversation_id) VALUES ",
        tables.name("message_attachments")
    );
    write_rows(conn, d, &head, &attachments, " ON CONFLICT DO NOTHING").await?;
    stars(conn, tables, state).await
}

async fn conversations(
    conn: &mut AnyConnection,
    tables: &Tables,
    state: &InboxState,
) -> Result<(), sqlx::Error> {
    let rows: Vec<Vec<Arg>> = state
        .changed_conversations
        .iter()
        .filter_map(|id| state.conversations.get(id))
        .map(|c| {
            vec![
                text(&c.id),
                text(&c.patient_id),
                text(&c.counterpart),
                text(&c.initiator_id),
                text(&c.initiator_role),
                Arg::Int(i64::from(c.archived)),
                text(&c.status),
                text(&c.awaiting),
                Arg::OptText(c.latest_message_id.clone()),
                Arg::OptText(c.last_message_at.clone()),
                Arg::Int(c.last_position),
                Arg::Int(c.unread_inbound),
                Arg::Int(c.unread_outbound),
                text(&c.started_at),
            ]
        })
        .collect();
    let head = format!(
        "INSERT INTO {} (id, patient_id, counterpart, initiator_id, initiator_role, archived, status, awaiting, latest_message_id, last_message_at, last_position, unread_inbound, unread_outbound, started_at) VALUES ",
        tables.name("conversations")
    );
    let tail = " ON CONFLICT (id) DO UPDATE SET archived = excluded.archived, status = excluded.status, awaiting = excluded.awaiting, latest_message_id = excluded.latest_message_id, last_message_at = excluded.last_message_at, last_position = excluded.last_position, unread_inbound = excluded.unread_inbound, unread_outbound = excluded.unread_outbound";
    write_rows(conn, tables.dialect(), &head, &rows, tail).await
}

async fn messages(
    conn: &mut AnyConnection,
    tables: &Tables,
    state: &InboxState,
) -> Result<(), sqlx::Error> {
    let d = tables.dialect();
    let mut created = Vec::new();
    let mut search = Vec::new();
    for (id, m) in &state.messages {
        let Some(body) = &m.created else {
            continue;
        };
        created.push(vec![
            text(id),
            text(&m.conversation_id),
            text(&body.patient_id),
            Arg::Int(body.position),
            text(&body.channel),
            text(&m.direction),
            text(&body.author_id),
            text(&body.author_role),
            Arg::OptText(body.author_name.clone()),
            Arg::OptText(body.subject.clone()),
            text(&body.body),
            text(&body.attachments),
            text(&m.status),
            Arg::OptText(m.delivery_status.clone()),
            Arg::OptText(m.delivery_error.clone()),
            text(&body.sent_at),
            Arg::OptText(body.call_occurred_at.clone()),
            Arg::OptInt(body.call_duration_seconds),
            Arg::OptText(body.template_id.clone()),
            Arg::OptInt(body.template_version),
            Arg::OptText(body.scheduled_for.clone()),
        ]);
        if d == Dialect::Sqlite {
            search.push(vec![
                Arg::Int(body.position),
                Arg::OptText(body.subject.clone()),
                text(&body.body),
            ]);
        }
    }
    let head = format!(
        "INSERT INTO {} (id, conversation_id, patient_id, position, channel, direction, author_id, author_role, author_name, subject, body, attachments, status, delivery_status, delivery_error, sent_at, call_occurred_at, call_duration_seconds, template_id, template_version, scheduled_for) VALUES ",
        tables.name("messages")
    );
    write_rows(conn, d, &head, &created, "").await?;
    let head = format!(
        "INSERT INTO {} (rowid, subject, body) VALUES ",
        tables.name("message_search")
    );
    write_rows(conn, d, &head, &search, "").await?;
    for (id, m) in state.messages.iter().filter(|(_, m)| m.changed) {
        let mut sql = Sql::new(
            d,
            format!("UPDATE {} SET status = ", tables.name("messages")),
        );
        sql.text(m.status.clone())
            .push(", delivery_status = ")
            .bind(Arg::OptText(m.delivery_status.clone()))
            .push(", delivery_error = ")
            .bind(Arg::OptText(m.delivery_error.clone()))
            .push(" WHERE id = ")
            .text(id.clone());
        sql.query().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn stars(
    conn: &mut AnyConnection,
    tables: &Tables,
    state: &InboxState,
) -> Result<(), sqlx::Error> {
    let d = tables.dialect();
    let mut added = Vec::new();
    for ((message, staff), (conversation, change)) in &state.stars {
        let position = match change {
            StarChange::Keep(position) => Some(*position),
            StarChange::Replace(_) | StarChange::Remove => {
                let mut sql = Sql::new(
                    d,
                    format!("DELETE FROM {} WHERE message_id = ", tables.name("stars")),
                );
                sql.text(message.clone())
                    .push(" AND staff_id = ")
                    .text(staff.clone());
                sql.query().execute(&mut *conn).await?;
                match change {
                    StarChange::Replace(position) => Some(*position),
                    _ => None,
                }
            }
        };
        if let Some(position) = position {
            added.push(vec![
                text(message),
                text(staff),
                text(conversation),
                Arg::Int(position),
            ]);
        }
    }
    let head = format!(
        "INSERT INTO {} (message_id, staff_id, conversation_id, position) VALUES ",
        tables.name("stars")
    );
    write_rows(conn, d, &head, &added, " ON CONFLICT DO NOTHING").await
}
