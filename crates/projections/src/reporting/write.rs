//! Writes what a folded batch changed: the daily counts as increments, and the delivery,
//! first-response and lifecycle rows it created or changed as multi-row upserts.

use sqlx::AnyConnection;

use super::state::ReportState;
use crate::sql::{write_rows, Arg, Tables};

fn text(value: &str) -> Arg {
    Arg::Text(value.to_owned())
}

/// Writes every change of `state` to the reporting tables of `tables`.
pub(crate) async fn write(
    conn: &mut AnyConnection,
    tables: &Tables,
    state: &ReportState,
) -> Result<(), sqlx::Error> {
    daily(conn, tables, state).await?;
    deliveries(conn, tables, state).await?;
    responses(conn, tables, state).await?;
    conversations(conn, tables, state).await
}

async fn daily(
    conn: &mut AnyConnection,
    tables: &Tables,
    state: &ReportState,
) -> Result<(), sqlx::Error> {
    let rows: Vec<Vec<Arg>> = state
        .daily
        .iter()
        .filter(|(_, counts)| !counts.is_zero())
        .map(|((day, channel, direction), c)| {
            vec![
                text(day),
                text(channel),
                text(direction),
                Arg::Int(c.messages),
                Arg::Int(c.queued),
                Arg::Int(c.sent),
                Arg::Int(c.delivered),
                Arg::Int(c.failed),
            ]
        })
        .collect();
    let head = format!(
        "INSERT INTO {} AS t (day, channel, direction, messages, queued, sent, delivered, failed) VALUES ",
        tables.name("report_daily")
    );
    let tail = " ON CONFLICT (day, channel, direction) DO UPDATE SET messages = t.messages + excluded.messages, queued = t.queued + excluded.queued, sent = t.sent + excluded.sent, delivered = t.delivered + excluded.delivered, failed = t.failed + excluded.failed";
    write_rows(conn, tables.dialect(), &head, &rows, tail).await
}

async fn deliveries(
    conn: &mut AnyConnection,
    tables: &Tables,
    state: &ReportState,
) -> Result<(), sqlx::Error> {
    let rows: Vec<Vec<Arg>> = state
        .deliveries
        .iter()
        .filter(|(_, row)| row.changed)
        .map(|(id, row)| {
            let (day, channel, direction) = &row.key;
            vec![
                text(id),
                text(day),
                text(channel),
                text(direction),
                text(&row.status),
            ]
        })
        .collect();
    let head = format!(
        "INSERT INTO {} (message_id, day, channel, direction, delivery_status) VALUES ",
        tables.name("report_deliveries")
    );
    let tail = " ON CONFLICT (message_id) DO UPDATE SET delivery_status = excluded.delivery_status";
    write_rows(conn, tables.dialect(), &head, &rows, tail).await
}

async fn responses(
    conn: &mut AnyConnection,
    tables: &Tables,
    state: &ReportState,
) -> Result<(), sqlx::Error> {
    let rows: Vec<Vec<Arg>> = state
        .responses
        .iter()
        .filter(|(_, row)| row.changed)
        .map(|(id, row)| {
            let answer = row.answer.as_ref();
            vec![
                text(id),
                text(&row.conversation_id),
                text(&row.channel),
                text(&row.received_at),
                Arg::Int(row.position),
                Arg::OptText(answer.map(|a| a.message_id.clone())),
                Arg::OptText(answer.map(|a| a.channel.clone())),
                Arg::OptText(answer.map(|a| a.answered_at.clone())),
                Arg::OptInt(answer.and_then(|a| a.response_seconds)),
            ]
        })
        .collect();
    let head = format!(
        "INSERT INTO {} (message_id, conversation_id, channel, received_at, position, answer_message_id, answer_channel, answered_at, response_seconds) VALUES ",
        tables.name("report_first_responses")
    );
    let tail = " ON CONFLICT (message_id) DO UPDATE SET answer_message_id = excluded.answer_message_id, answer_channel = excluded.answer_channel, answered_at = excluded.answered_at, response_seconds = excluded.response_seconds";
    write_rows(conn, tables.dialect(), &head, &rows, tail).await
}

async fn conversations(
    conn: &mut AnyConnection,
    tables: &Tables,
    state: &ReportState,
) -> Result<(), sqlx::Error> {
    let rows: Vec<Vec<Arg>> = state
        .changed_conversations
        .iter()
        .filter_map(|id| state.conversations.get(id).map(|row| (id, row)))
        .map(|(id, c)| {
            vec![
                text(id),
                text(&c.counterpart),
                text(&c.started_at),
                Arg::Int(i64::from(c.archived)),
                Arg::Int(c.archive_count),
                Arg::OptText(c.last_archived_at.clone()),
                Arg::Int(c.reopen_count),
                Arg::OptText(c.last_reopened_at.clone()),
            ]
        })
        .collect();
    let head = format!(
        "INSERT INTO {} (conversation_id, counterpart, started_at, archived, archive_count, last_archived_at, reopen_count, last_reopened_at) VALUES ",
        tables.name("report_conversations")
    );
    let tail = " ON CONFLICT (conversation_id) DO UPDATE SET archived = excluded.archived, archive_count = excluded.archive_count, last_archived_at = excluded.last_archived_at, reopen_count = excluded.reopen_count, last_reopened_at = excluded.last_reopened_at";
    write_rows(conn, tables.dialect(), &head, &rows, tail).await
}
