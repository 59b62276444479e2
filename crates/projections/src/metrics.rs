//! What the projectors report to the `metrics` facade (a no-op until a process installs a
//! recorder): each projection's position and how far it is behind the event log, in events
//! and in seconds. Labelled by projection name only.

use chrono::Utc;
use store::EventStore;

use crate::model::SqlReadModel;
use crate::{Projection, QueryError};

/// Gauge: the position of the last event the projection applied, label `projection`.
pub const POSITION: &str = "hub_projection_position";
/// Gauge: events committed to the log that the projection has not applied yet (head −
/// position), label `projection`.
pub const LAG_EVENTS: &str = "hub_projection_lag_events";
/// Gauge: how long the oldest event the projection has not applied has been in the log, in
/// seconds (0 when it is caught up), label `projection`.
pub const LAG_SECONDS: &str = "hub_projection_lag_seconds";

/// Describes the projections' metrics to the installed recorder.
pub fn describe() {
    metrics::describe_gauge!(
        POSITION,
        metrics::Unit::Count,
        "Position of the last event the projection applied"
    );
    metrics::describe_gauge!(
        LAG_EVENTS,
        metrics::Unit::Count,
        "Events in the log the projection has not applied yet (head - position)"
    );
    metrics::describe_gauge!(
        LAG_SECONDS,
        metrics::Unit::Seconds,
        "Age of the oldest event the projection has not applied yet (0 when caught up)"
    );
}

/// Records that `projection` reached `position` while the log's head is `head`.
pub(crate) fn applied(projection: Projection, position: u64, head: u64) {
    let name = projection.name();
    metrics::gauge!(POSITION, "projection" => name).set(position as f64);
    metrics::gauge!(LAG_EVENTS, "projection" => name).set(head.saturating_sub(position) as f64);
}

/// Reads every projection's checkpoint, the log's head and the time of the oldest event each
/// projection has not applied, and sets the gauges from them. A scrape calls this, so the
/// gauges are current on any node (an API node without projectors too) and show a projector
/// that stopped.
pub async fn observe(store: &dyn EventStore, model: &SqlReadModel) -> Result<(), QueryError> {
    let head = store.head_position().await?;
    for projection in Projection::ALL {
        let position = model.projection_checkpoint(projection).await?;
        applied(projection, position, head);
        let lag_seconds = if position < head {
            match store.read_all(position, 1, None).await?.first() {
                Some(next) => (Utc::now() - next.occurred_at)
                    .to_std()
                    .unwrap_or_default()
                    .as_secs_f64(),
                None => 0.0,
            }
        } else {
            0.0
        };
        metrics::gauge!(LAG_SECONDS, "projection" => projection.name()).set(lag_seconds);
    }
    Ok(())
}
