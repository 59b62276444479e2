//! Reading aggregates from the event log and appending events as the hub's system actor.

use chrono::Utc;
use domain::{Actor, Aggregate, Event, EventMetadata};
use projections::codec;
use store::{AppendOutcome, AppendRequest, EventStore, ExpectedVersion, StoreError, StreamWrite};
use uuid::Uuid;

/// How many events one read of a stream fetches.
const READ_BATCH: usize = 500;

/// Every event of one stream, decoded.
pub(crate) async fn read_all_of(
    store: &dyn EventStore,
    stream: &str,
) -> Result<Vec<Event>, StoreError> {
    let mut events = Vec::new();
    loop {
        let batch = store
            .read_stream(stream, events.len() as u64, READ_BATCH)
            .await?;
        for record in &batch {
            let envelope = codec::decode(record)
                .map_err(|error| StoreError::InvalidRequest(error.to_string()))?;
            events.push(envelope.event);
        }
        if batch.len() < READ_BATCH {
            return Ok(events);
        }
    }
}

/// The first event of a stream, decoded; `None` for an empty stream.
pub(crate) async fn first_event(
    store: &dyn EventStore,
    stream: &str,
) -> Result<Option<Event>, StoreError> {
    let first = store.read_stream(stream, 0, 1).await?;
    first
        .first()
        .map(|record| {
            codec::decode(record)
                .map(|envelope| envelope.event)
                .map_err(|error| StoreError::InvalidRequest(error.to_string()))
        })
        .transpose()
}

/// An aggregate folded from its stream, with the stream's version (`None` when empty).
pub(crate) async fn load<A: Aggregate>(
    store: &dyn EventStore,
    stream: &str,
) -> Result<(A, Option<u64>), StoreError> {
    let events = read_all_of(store, stream).await?;
    let version = (events.len() as u64).checked_sub(1);
    Ok((A::fold(&events), version))
}

/// Appends events as the system actor in one atomic append: each group goes to the stream
/// its events name, checked against its expected version.
pub(crate) async fn append_events(
    store: &dyn EventStore,
    groups: Vec<(ExpectedVersion, Vec<Event>)>,
) -> Result<AppendOutcome, StoreError> {
    let now = Utc::now();
    let metadata = EventMetadata {
        correlation_id: Some(Uuid::new_v4()),
        ..EventMetadata::default()
    };
    let writes = groups
        .into_iter()
        .filter_map(|(expected, events)| {
            let stream = events.first()?.stream();
            let events = events
                .iter()
                .map(|event| codec::encode(event, Uuid::new_v4(), Actor::system(), now, &metadata))
                .collect();
            Some(StreamWrite {
                stream,
                expected,
                events,
            })
        })
        .collect();
    store
        .append(AppendRequest {
            writes,
            idempotency: None,
        })
        .await
}
