//! Loads the reporting rows a batch will change: the lifecycle rows of conversations it
//! archives or reopens, the delivery rows of messages whose delivery it reports, and the
//! unanswered inbound messages of conversations the clinic writes in.

use std::collections::BTreeSet;

use domain::{Direction, Event};
use sqlx::{AnyConnection, Row};

use super::state::{DeliveryRow, LifecycleRow, ReportState, ResponseRow};
use crate::fold::Change;
use crate::sql::{Sql, Tables, MAX_ROWS};

/// The ids the batch's changes need loaded.
#[derive(Default)]
struct Wanted {
    conversations: BTreeSet<String>,
    deliveries: BTreeSet<String>,
    answered: BTreeSet<String>,
}

fn wanted(changes: &[Change<'_>]) -> Wanted {
    let mut wanted = Wanted::default();
    for change in changes {
        match change.event {
            Event::ConversationArchived(e) => {
                wanted.conversations.insert(e.conversation_id.to_string());
            }
            Event::ConversationReopened(e) => {
                wanted.conversations.insert(e.conversation_id.to_string());
            }
            Event::DeliveryStatusChanged(e) => {
                wanted.deliveries.insert(e.message_id.to_string());
            }
            Event::MessageSent(e) if e.direction == Direction::Outbound => {
                wanted.answered.insert(e.conversation_id.to_string());
            }
            Event::CallLogged(e) => {
                wanted.answered.insert(e.conversation_id.to_string());
            }
            _ => {}
        }
    }
    wanted
}

/// `SELECT {columns} FROM {table} WHERE {key} IN (…) {tail}` over `ids`, a chunk at a time.
async fn select_in(
    conn: &mut AnyConnection,
    tables: &Tables,
    select: &str,
    ids: &BTreeSet<String>,
    tail: &str,
) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error> {
    let ids: Vec<String> = ids.iter().cloned().collect();
    let mut rows = Vec::new();
    for chunk in ids.chunks(MAX_ROWS) {
        let mut sql = Sql::new(tables.dialect(), select);
        sql.in_list(chunk).push(tail);
        rows.extend(sql.query().fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

/// The state before the batch, for the rows the batch touches.
pub(crate) async fn load(
    conn: &mut AnyConnection,
    tables: &Tables,
    changes: &[Change<'_>],
) -> Result<ReportState, sqlx::Error> {
    let wanted = wanted(changes);
    let mut state = ReportState::default();
    let select = format!(
        "SELECT conversation_id, counterpart, started_at, archived, archive_count, last_archived_at, reopen_count, last_reopened_at FROM {} WHERE conversation_id IN ",
        tables.name("report_conversations")
    );
    for row in select_in(conn, tables, &select, &wanted.conversations, "").await? {
        state.conversations.insert(
            row.try_get(0)?,
            LifecycleRow {
                counterpart: row.try_get(1)?,
                started_at: row.try_get(2)?,
                archived: row.try_get::<i64, _>(3)? == 1,
                archive_count: row.try_get(4)?,
                last_archived_at: row.try_get(5)?,
                reopen_count: row.try_get(6)?,
                last_reopened_at: row.try_get(7)?,
            },
        );
    }
    let select = format!(
        "SELECT message_id, day, channel, direction, delivery_status FROM {} WHERE message_id IN ",
        tables.name("report_deliveries")
    );
    for row in select_in(conn, tables, &select, &wanted.deliveries, "").await? {
        state.deliveries.insert(
            row.try_get(0)?,
            DeliveryRow {
                key: (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?),
                status: row.try_get(4)?,
                changed: false,
            },
        );
    }
    let select = format!(
        "SELECT message_id, conversation_id, channel, received_at, position FROM {} WHERE answered_at IS NULL AND conversation_id IN ",
        tables.name("report_first_responses")
    );
    let mut waiting = Vec::new();
    for row in select_in(conn, tables, &select, &wanted.answered, "").await? {
        let id: String = row.try_get(0)?;
        let response = ResponseRow {
            conversation_id: row.try_get(1)?,
            channel: row.try_get(2)?,
            received_at: row.try_get(3)?,
            position: row.try_get(4)?,
            answer: None,
            changed: false,
        };
        waiting.push((
            response.position,
            id.clone(),
            response.conversation_id.clone(),
        ));
        state.responses.insert(id, response);
    }
    waiting.sort();
    for (_, id, conversation) in waiting {
        state.pending.entry(conversation).or_default().push(id);
    }
    Ok(state)
}
