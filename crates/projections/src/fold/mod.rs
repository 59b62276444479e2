//! The inbox projection of a whole batch at once: the rows the batch touches are loaded, its
//! events fold into them in memory, and the result is written with a few multi-row
//! statements, instead of several statements per event. Events the fold does not cover (the
//! unmatched queue, erasures) are applied one by one between folded runs, keeping the log's
//! order.

mod load;
mod state;
mod write;

use domain::{Event, EventEnvelope};
use sqlx::AnyConnection;

use crate::sql::Tables;
use crate::values::time_text;

/// One event of a folded run, with its position and time as read-model values.
pub(crate) struct Change<'a> {
    /// The global position.
    pub position: i64,
    /// When it was recorded, as read-model text.
    pub at: String,
    /// The event.
    pub event: &'a Event,
}

/// Whether the fold covers the event (events without an inbox effect are covered: skipped).
fn folds(event: &Event) -> bool {
    !matches!(
        event,
        Event::InboundUnmatched(_) | Event::UnmatchedAssigned(_) | Event::PatientErased(_)
    )
}

/// Applies `envelopes` (in log order) to the inbox tables of `tables`.
pub(crate) async fn apply(
    conn: &mut AnyConnection,
    tables: &Tables,
    envelopes: &[EventEnvelope],
) -> Result<(), sqlx::Error> {
    let mut run: Vec<Change<'_>> = Vec::new();
    for envelope in envelopes {
        if folds(&envelope.event) {
            run.push(Change {
                position: i64::try_from(envelope.position).unwrap_or(i64::MAX),
                at: time_text(envelope.occurred_at),
                event: &envelope.event,
            });
            continue;
        }
        fold_run(conn, tables, std::mem::take(&mut run)).await?;
        let position = i64::try_from(envelope.position).unwrap_or(i64::MAX);
        let at = time_text(envelope.occurred_at);
        match &envelope.event {
            Event::InboundUnmatched(e) => {
                crate::unmatched::add(conn, tables, e, position, &at).await?
            }
            Event::UnmatchedAssigned(e) => crate::unmatched::assign(conn, tables, e).await?,
            Event::PatientErased(e) => crate::erasure::inbox(conn, tables, e.patient_id).await?,
            _ => {}
        }
    }
    fold_run(conn, tables, run).await
}

async fn fold_run(
    conn: &mut AnyConnection,
    tables: &Tables,
    run: Vec<Change<'_>>,
) -> Result<(), sqlx::Error> {
    if run.is_empty() {
        return Ok(());
    }
    let mut state = load::load(conn, tables, &run).await?;
    state.fold(&run);
    write::write(conn, tables, &state).await
}
