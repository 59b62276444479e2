//! The hash chain that makes the log tamper-evident.
//!
//! Every event's `hash` is the lowercase hex SHA-256 of the previous event's `hash` (64 ASCII
//! zeros before position 1) followed by the event's canonical content: its envelope as
//! `GET /v1/events` shows it, without `hash`, serialized as RFC 8785 JSON (JCS: keys sorted,
//! no whitespace). `docs/audit.md` spells this out with a worked example.
//!
//! The hash is computed under the same serialization that hands out positions, since it needs
//! the event's position, version and predecessor: in Rust by the SQLite writer, and on
//! PostgreSQL inside `append_events` (migration `0006`). PostgreSQL cannot write JCS itself,
//! so the writer hands it each event's canonical content cut at the two numbers only the
//! database knows ([`CanonicalParts`]); the database puts them back together and hashes.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{EventStore, NewEvent, RecordedEvent, StoreError};

/// The `hash` the first event chains from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event's envelope, the shape `GET /v1/events` answers, without `hash`.
pub fn envelope(event: &RecordedEvent) -> Value {
    json!({
        "event_id": event.event_id,
        "stream": event.stream,
        "version": event.version,
        "position": event.position,
        "type": event.event_type,
        "schema_version": event.schema_version,
        "occurred_at": event.occurred_at,
        "actor": { "id": event.actor_id, "role": event.actor_role },
        "data": event.data,
        "metadata": event.metadata,
    })
}

/// The canonical content the hash covers: the envelope as RFC 8785 JSON.
pub fn canonical(event: &RecordedEvent) -> Vec<u8> {
    jcs(&envelope(event))
}

/// The hash of an event whose predecessor's hash is `previous`.
pub fn link(previous: &str, event: &RecordedEvent) -> String {
    digest(previous, &canonical(event))
}

fn digest(previous: &str, content: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(previous.as_bytes());
    hasher.update(content);
    hex::encode(hasher.finalize())
}

fn jcs(value: &Value) -> Vec<u8> {
    // A `Value` always serializes: its map keys are strings and its numbers are finite.
    serde_json_canonicalizer::to_vec(value).unwrap_or_default()
}

/// An event's canonical content before it has a position and a version: the text before the
/// position, between position and version, and after the version. Keys sort as
/// `…, occurred_at, position, schema_version, stream, type, version`, so the two numbers cut
/// the content in three.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalParts {
    /// Everything up to and including `"position":`.
    pub before_position: String,
    /// From the comma after the position up to and including `"version":`.
    pub before_version: String,
}

impl CanonicalParts {
    /// The parts of `event`'s content, to be written to `stream`.
    pub fn of(event: &NewEvent, stream: &str) -> CanonicalParts {
        let head = json!({
            "event_id": event.event_id,
            "occurred_at": crate::stored_time(event.occurred_at),
            "actor": { "id": event.actor_id, "role": event.actor_role },
            "data": event.data,
            "metadata": event.metadata,
        });
        let middle = json!({
            "stream": stream,
            "type": event.event_type,
            "schema_version": event.schema_version,
        });
        let head = text(&head);
        let middle = text(&middle);
        CanonicalParts {
            before_position: format!("{},\"position\":", &head[..head.len() - 1]),
            before_version: format!(",{},\"version\":", &middle[1..middle.len() - 1]),
        }
    }

    /// The whole content once the position and version are known.
    pub fn join(&self, position: u64, version: u64) -> String {
        format!(
            "{}{position}{}{version}}}",
            self.before_position, self.before_version
        )
    }
}

fn text(value: &Value) -> String {
    String::from_utf8(jcs(value)).unwrap_or_default()
}

/// Where a chain stops holding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Break {
    /// The position holds no event (deleted), or holds it out of order.
    #[error("no event stored here (the next one is at {found})")]
    Missing {
        /// The position that should come next.
        expected: u64,
        /// The position found instead.
        found: u64,
    },
    /// The stored hash is not the hash of the stored content after its predecessor.
    #[error("the stored hash does not match the event's content")]
    Mismatch {
        /// The event's position.
        position: u64,
    },
}

impl Break {
    /// The first position that does not hold.
    pub fn position(&self) -> u64 {
        match self {
            Break::Missing { expected, .. } => *expected,
            Break::Mismatch { position } => *position,
        }
    }
}

/// Checks events one after the other against the chain.
#[derive(Debug, Clone)]
pub struct Verifier {
    next_position: u64,
    previous: String,
    checked: u64,
}

impl Verifier {
    /// A verifier from position 1.
    pub fn from_start() -> Verifier {
        Verifier::after(0, GENESIS.to_owned())
    }

    /// A verifier that takes `hash` as the stored hash at `position` and checks what follows.
    pub fn after(position: u64, hash: String) -> Verifier {
        Verifier {
            next_position: position + 1,
            previous: hash,
            checked: 0,
        }
    }

    /// Checks the next event.
    pub fn check(&mut self, event: &RecordedEvent) -> Result<(), Break> {
        if event.position != self.next_position {
            return Err(Break::Missing {
                expected: self.next_position,
                found: event.position,
            });
        }
        if link(&self.previous, event) != event.hash {
            return Err(Break::Mismatch {
                position: event.position,
            });
        }
        self.previous.clone_from(&event.hash);
        self.next_position += 1;
        self.checked += 1;
        Ok(())
    }

    /// How many events were checked.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The last checked position and its hash (the starting point before any check).
    pub fn head(&self) -> (u64, &str) {
        (self.next_position - 1, &self.previous)
    }
}

/// What verifying the log found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Every event checked holds.
    Holds {
        /// How many events were checked.
        count: u64,
        /// The last position.
        position: u64,
        /// Its hash.
        hash: String,
    },
    /// The first place where the chain does not hold.
    Broken(Break),
}

/// How many events [`verify`] reads at once.
const VERIFY_BATCH: usize = 5_000;

/// Recomputes the chain over the stored log from position `from` on (1 for the whole log),
/// taking the stored hash before `from` as given. Calls `progress` with the last position
/// checked after each batch.
pub async fn verify(
    store: &dyn EventStore,
    from: u64,
    mut progress: impl FnMut(u64),
) -> Result<Verdict, StoreError> {
    let from = from.max(1);
    let mut verifier = if from == 1 {
        Verifier::from_start()
    } else {
        match store.read_all(from - 2, 1, None).await?.pop() {
            Some(before) if before.position == from - 1 => {
                Verifier::after(before.position, before.hash)
            }
            Some(found) => {
                return Ok(Verdict::Broken(Break::Missing {
                    expected: from - 1,
                    found: found.position,
                }))
            }
            None => {
                return Err(StoreError::InvalidRequest(format!(
                    "position {from} is past the log's head"
                )))
            }
        }
    };
    let mut after = from - 1;
    loop {
        let batch = store.read_all(after, VERIFY_BATCH, None).await?;
        let Some(last) = batch.last() else { break };
        after = last.position;
        for event in &batch {
            if let Err(broken) = verifier.check(event) {
                return Ok(Verdict::Broken(broken));
            }
        }
        progress(after);
    }
    let (position, hash) = verifier.head();
    Ok(Verdict::Holds {
        count: verifier.checked(),
        position,
        hash: hash.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    /// The worked example of docs/audit.md.
    fn example() -> (NewEvent, RecordedEvent) {
        let occurred_at: DateTime<Utc> = "2026-12-05T09:30:00.123456789Z".parse().unwrap();
        let new = NewEvent {
            event_id: Uuid::parse_str("0193a3b2-7c4e-7a10-8000-000000000001").unwrap(),
            event_type: "StaffRegistered".into(),
            schema_version: 1,
            occurred_at,
            actor_id: Uuid::nil(),
            actor_role: "system".into(),
            data: json!({ "staff_id": "0193a3b2-7c4e-7a10-8000-0000000000aa", "name": "Dr. Émile Zola", "role": "doctor" }),
            metadata: json!({ "correlation_id": null, "causation_id": null }),
        };
        let mut recorded =
            crate::recorded(&new, "staff-0193a3b2-7c4e-7a10-8000-0000000000aa", 0, 1);
        recorded.hash = link(GENESIS, &recorded);
        (new, recorded)
    }

    #[test]
    fn the_parts_join_into_the_canonical_content() {
        let (new, recorded) = example();
        let parts = CanonicalParts::of(&new, &recorded.stream);
        assert_eq!(
            parts.join(recorded.position, recorded.version).into_bytes(),
            canonical(&recorded)
        );
    }

    #[test]
    fn the_worked_example_hashes_as_documented() {
        let (_, recorded) = example();
        let content = String::from_utf8(canonical(&recorded)).unwrap();
        assert_eq!(content, EXAMPLE_CONTENT);
        assert_eq!(recorded.hash, EXAMPLE_HASH);
    }

    const EXAMPLE_CONTENT: &str = r#"{"actor":{"id":"00000000-0000-0000-0000-000000000000","role":"system"},"data":{"name":"Dr. Émile Zola","role":"doctor","staff_id":"0193a3b2-7c4e-7a10-8000-0000000000aa"},"event_id":"0193a3b2-7c4e-7a10-8000-000000000001","metadata":{"causation_id":null,"correlation_id":null},"occurred_at":"2026-12-05T09:30:00.123456Z","position":1,"schema_version":1,"stream":"staff-0193a3b2-7c4e-7a10-8000-0000000000aa","type":"StaffRegistered","version":0}"#;
    const EXAMPLE_HASH: &str = "bdc645c3a2efb3b4bce3321bc8d9fdd2f93d9d25d04a62fca04e6c9240667d17";

    #[test]
    fn a_changed_field_or_predecessor_changes_the_hash() {
        let (_, recorded) = example();
        let mut changed = recorded.clone();
        changed.data["name"] = json!("Dr. Emile Zola");
        assert_ne!(link(GENESIS, &changed), recorded.hash);
        assert_ne!(link(&recorded.hash, &recorded), recorded.hash);
    }
}
