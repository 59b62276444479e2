//! Conversion between the store's JSON records and the domain's typed events.

use chrono::{DateTime, Utc};
use domain::{Actor, Event, EventEnvelope, EventMetadata};
use store::{NewEvent, RecordedEvent};
use thiserror::Error;
use uuid::Uuid;

use crate::seal;
use crate::upcast::upcast;
use store::keys::{KeyError, Keyring};

/// A stored record that does not decode into a known event.
#[derive(Debug, Error)]
#[error("event {event_id} at position {position} does not decode: {reason}")]
pub struct DecodeError {
    /// The undecodable event.
    pub event_id: Uuid,
    /// Its global position.
    pub position: u64,
    /// What was wrong with it.
    pub reason: String,
}

/// Decodes a stored record into the domain's typed envelope: opens its sealed personal fields
/// with `keys` (an erased patient's show the erased view), then upcasts data of older schema
/// versions (the envelope carries the version of the shape it holds). Decoding a
/// `PatientErased` makes `keys` forget the patient's key.
pub fn decode(record: &RecordedEvent, keys: &Keyring) -> Result<EventEnvelope, DecodeError> {
    let fail = |reason: String| DecodeError {
        event_id: record.event_id,
        position: record.position,
        reason,
    };
    let mut data = record.data.clone();
    seal::open(keys, &record.event_type, record.event_id, &mut data)
        .map_err(|e| fail(e.to_string()))?;
    let (schema_version, data) = upcast(&record.event_type, record.schema_version, data);
    let event = Event::from_parts(&record.event_type, data).map_err(|e| fail(e.to_string()))?;
    if let Event::PatientErased(erased) = &event {
        // Every process that follows the log drops the erased patient's key from its cache.
        keys.forget(erased.patient_id.0);
    }
    if schema_version != event.schema_version() {
        return Err(fail(format!(
            "schema version {} of {} is not one this hub reads (it writes {})",
            record.schema_version,
            record.event_type,
            event.schema_version()
        )));
    }
    let role = record
        .actor_role
        .parse()
        .map_err(|e: domain::UnknownName| fail(e.to_string()))?;
    let metadata: EventMetadata =
        serde_json::from_value(record.metadata.clone()).map_err(|e| fail(e.to_string()))?;
    Ok(EventEnvelope {
        event_id: record.event_id,
        stream: record.stream.clone(),
        version: record.version,
        position: record.position,
        event,
        schema_version,
        occurred_at: record.occurred_at,
        actor: Actor {
            id: record.actor_id,
            role,
        },
        metadata,
    })
}

/// Encodes a typed event for appending.
pub fn encode(
    event: &Event,
    event_id: Uuid,
    actor: Actor,
    occurred_at: DateTime<Utc>,
    metadata: &EventMetadata,
) -> NewEvent {
    NewEvent {
        event_id,
        event_type: event.event_type().to_owned(),
        schema_version: event.schema_version(),
        occurred_at,
        actor_id: actor.id,
        actor_role: actor.role.as_str().to_owned(),
        data: event.data(),
        metadata: serde_json::to_value(metadata).unwrap_or(serde_json::Value::Null),
    }
}

/// Seals the personal fields of an encoded event with `subject`'s key (loaded by
/// `Keyring::ensure`), moving it to the sealed shape's schema version; events without personal
/// data are left as they are.
pub fn seal(event: &mut NewEvent, subject: Uuid, keys: &Keyring) -> Result<(), KeyError> {
    if let Some(version) = seal::seal(
        keys,
        subject,
        &event.event_type,
        event.event_id,
        &mut event.data,
    )? {
        event.schema_version = version;
    }
    Ok(())
}
