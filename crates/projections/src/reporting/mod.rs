//! The reporting projection: per UTC day, channel and direction the count of messages and of
//! each delivery outcome; per inbound message the time until the clinic's first answer; per
//! conversation when it started, was archived and reopened (contract section 10).
//!
//! Like the inbox, a batch folds in memory over the rows it touches and is written with a few
//! multi-row statements. The tables hold ids, channels, directions, times and counts only: no
//! name, body, subject or address ever reaches them, so erasing a patient leaves nothing to
//! erase here.

mod load;
mod state;
mod summary;
mod write;

use domain::EventEnvelope;
use sqlx::AnyConnection;

use crate::fold::Change;
use crate::sql::Tables;
use crate::values::time_text;

pub(crate) use summary::summary;
pub use summary::{Backlog, ChannelTotals, DailyCounts, FirstResponse, ReportSummary};

/// The tables of the reporting projection.
pub(crate) const TABLES: [&str; 4] = [
    "report_daily",
    "report_deliveries",
    "report_first_responses",
    "report_conversations",
];

/// Applies `envelopes` (in log order) to the reporting tables of `tables`.
pub(crate) async fn apply(
    conn: &mut AnyConnection,
    tables: &Tables,
    envelopes: &[EventEnvelope],
) -> Result<(), sqlx::Error> {
    let changes: Vec<Change<'_>> = envelopes
        .iter()
        .filter(|envelope| state::reports(&envelope.event))
        .map(|envelope| Change {
            position: i64::try_from(envelope.position).unwrap_or(i64::MAX),
            at: time_text(envelope.occurred_at),
            event: &envelope.event,
        })
        .collect();
    if changes.is_empty() {
        return Ok(());
    }
    let mut state = load::load(conn, tables, &changes).await?;
    state.fold(&changes);
    write::write(conn, tables, &state).await
}
