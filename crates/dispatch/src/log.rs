//! Reading whole streams of the event log, decoded (for reads that are not aggregate states).

use domain::Event;
use eventlog::codec;
use store::{EventStore, StoreError};

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
            let envelope = codec::decode(record, store.keyring())
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
            codec::decode(record, store.keyring())
                .map(|envelope| envelope.event)
                .map_err(|error| StoreError::InvalidRequest(error.to_string()))
        })
        .transpose()
}
