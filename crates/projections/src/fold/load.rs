//! Loads the rows a batch will change: its conversations, and the earlier messages whose
//! status or delivery it moves (or whose status a reopened conversation takes back).

use std::collections::BTreeSet;

use domain::Event;
use sqlx::{AnyConnection, Row};

use super::state::{ConversationRow, InboxState, MessageRow};
use super::Change;
use crate::sql::{Sql, Tables, MAX_ROWS};

/// The conversation an inbox event changes, if any.
fn conversation_of(event: &Event) -> Option<String> {
    let id = match event {
        Event::ConversationStarted(e) => e.conversation_id,
        Event::MessageSent(e) => e.conversation_id,
        Event::MessageReceived(e) => e.conversation_id,
        Event::CallLogged(e) => e.conversation_id,
        Event::StatusChanged(e) => e.conversation_id,
        Event::ConversationArchived(e) => e.conversation_id,
        Event::ConversationReopened(e) => e.conversation_id,
        _ => return None,
    };
    Some(id.to_string())
}

/// The state before the batch, for the rows the batch touches.
pub(crate) async fn load(
    conn: &mut AnyConnection,
    tables: &Tables,
    changes: &[Change<'_>],
) -> Result<InboxState, sqlx::Error> {
    let mut state = InboxState::default();
    let mut conversations = BTreeSet::new();
    let mut reopened = BTreeSet::new();
    let mut messages = BTreeSet::new();
    for change in changes {
        if let Some(id) = conversation_of(change.event) {
            conversations.insert(id);
        }
        match change.event {
            Event::StatusChanged(e) => {
                messages.insert(e.message_id.to_string());
            }
            Event::DeliveryStatusChanged(e) => {
                messages.insert(e.message_id.to_string());
            }
            Event::ConversationReopened(e) => {
                reopened.insert(e.conversation_id.to_string());
            }
            _ => {}
        }
    }
    let conversations: Vec<String> = conversations.into_iter().collect();
    for chunk in conversations.chunks(MAX_ROWS) {
        let mut sql = Sql::new(
            tables.dialect(),
            format!(
                "SELECT id, patient_id, counterpart, initiator_id, initiator_role, archived, status, latest_message_id, last_message_at, last_position, unread_inbound, unread_outbound, started_at, awaiting FROM {} WHERE id IN ",
                tables.name("conversations")
            ),
        );
        sql.in_list(chunk);
        for row in sql.query().fetch_all(&mut *conn).await? {
            let c = ConversationRow {
                id: row.try_get(0)?,
                patient_id: row.try_get(1)?,
                counterpart: row.try_get(2)?,
                initiator_id: row.try_get(3)?,
                initiator_role: row.try_get(4)?,
                archived: row.try_get::<i64, _>(5)? == 1,
                status: row.try_get(6)?,
                latest_message_id: row.try_get(7)?,
                last_message_at: row.try_get(8)?,
                last_position: row.try_get(9)?,
                unread_inbound: row.try_get(10)?,
                unread_outbound: row.try_get(11)?,
                started_at: row.try_get(12)?,
                awaiting: row.try_get(13)?,
            };
            if reopened.contains(&c.id) {
                messages.extend(c.latest_message_id.clone());
            }
            state.conversations.insert(c.id.clone(), c);
        }
    }
    let messages: Vec<String> = messages.into_iter().collect();
    for chunk in messages.chunks(MAX_ROWS) {
        let mut sql = Sql::new(
            tables.dialect(),
            format!(
                "SELECT id, conversation_id, direction, status, delivery_status, delivery_error FROM {} WHERE id IN ",
                tables.name("messages")
            ),
        );
        sql.in_list(chunk);
        for row in sql.query().fetch_all(&mut *conn).await? {
            state.messages.insert(
                row.try_get(0)?,
                MessageRow {
                    conversation_id: row.try_get(1)?,
                    direction: row.try_get(2)?,
                    status: row.try_get(3)?,
                    delivery_status: row.try_get(4)?,
                    delivery_error: row.try_get(5)?,
                    created: None,
                    changed: false,
                },
            );
        }
    }
    Ok(state)
}
