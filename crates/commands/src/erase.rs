//! Erasing a patient (admins): the patient's data key is destroyed first, so every sealed
//! personal field of the patient and its conversations becomes unreadable for good, then
//! `PatientErased` is appended with the count of the patient's events whose personal data the
//! log holds in plain text (written before sealing existed, or never sealed), which no key can
//! take back: the erasure is complete only when there are none.

use chrono::Utc;
use domain::command::Context;
use domain::ids::provider_message_key;
use domain::patient::Patient;
use domain::{Channel, PatientId, Principal, StreamName, UnmatchedId};
use eventlog::seal::personal_fields;
use store::{EventStore, RecordedEvent};

use crate::error::CommandError;
use crate::executor::{Decided, Decision};
use crate::workspace::Workspace;

/// Events read per page while counting plain-text events.
const PAGE: usize = 1_000;

/// What an erasure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erasure {
    /// The patient's events with plain-text personal data, which stay readable in the log.
    pub plain_events: u64,
    /// The position of `PatientErased`.
    pub position: u64,
}

impl Erasure {
    /// Whether nothing personal of the patient remains readable in the log.
    pub fn complete(&self) -> bool {
        self.plain_events == 0
    }
}

/// Appends `PatientErased` (the key is destroyed before this runs).
pub struct EraseDecision {
    /// Who asks.
    pub principal: Principal,
    /// The patient.
    pub patient_id: PatientId,
    /// The patient's events with plain-text personal data.
    pub plain_events: u64,
}

#[async_trait::async_trait]
impl Decision for EraseDecision {
    type Answer = ();

    fn lane(&self) -> String {
        self.patient_id.stream()
    }

    async fn decide(&mut self, ws: &mut Workspace<'_>) -> Result<Decided<()>, CommandError> {
        let patient = ws.get::<Patient>(&self.patient_id.stream()).await?;
        let context = Context {
            principal: &self.principal,
            now: Utc::now(),
        };
        Ok(Decided::events(patient.erase(&context, self.plain_events)?))
    }
}

/// Whether a stored record holds personal data in plain text: a type with personal fields
/// stored without its `sealed` member (a shape from before sealing), or an unmatched inbound
/// message (never sealed: its sender was not known).
pub fn is_plain(record: &RecordedEvent) -> bool {
    if record.event_type == "InboundUnmatched" {
        return true;
    }
    personal_fields(&record.event_type).is_some() && record.data.get("sealed").is_none()
}

/// Counts the plain-text events of `patient`: those of its own stream, of its conversations'
/// streams, of `extra_streams` (its scheduled messages' streams, which the caller knows), and
/// the unmatched inbound messages filed into its conversations.
pub async fn count_plain(
    store: &dyn EventStore,
    patient: &Patient,
    extra_streams: &[String],
) -> Result<u64, CommandError> {
    let Some(record) = &patient.0 else {
        return Ok(0);
    };
    let mut streams = vec![record.id.stream()];
    streams.extend(record.conversations.keys().map(|id| id.stream()));
    streams.extend(extra_streams.iter().cloned());
    let mut plain = 0;
    for stream in &streams {
        let mut from = 0;
        loop {
            let page = store.read_stream(stream, from, PAGE).await?;
            for event in &page {
                plain += u64::from(is_plain(event));
                if let Some(unmatched) = filed_from(event) {
                    if store.stream_version(&unmatched.stream()).await?.is_some() {
                        plain += 1;
                    }
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE => from = last.version + 1,
                _ => break,
            }
        }
    }
    Ok(plain)
}

/// The unmatched queue entry a received message would have been filed from (its id is a
/// name-based key of the channel and the provider's message id, which are never sealed).
fn filed_from(record: &RecordedEvent) -> Option<UnmatchedId> {
    if record.event_type != "MessageReceived" {
        return None;
    }
    let channel: Channel = record.data.get("channel")?.as_str()?.parse().ok()?;
    let provider_message_id = record.data.get("provider_message_id")?.as_str()?;
    Some(UnmatchedId(provider_message_key(
        channel,
        provider_message_id,
    )))
}
