//! Erasing a patient (admins): the patient's data key is destroyed first, so every sealed
//! personal field of the patient and its conversations becomes unreadable for good, then
//! `PatientErased` is appended with the count of the patient's events whose personal data the
//! log holds in plain text (written before sealing existed, or never sealed), which no key can
//! take back: the erasure is complete only when there are none.

use chrono::Utc;
use domain::command::Context;
use domain::ids::provider_message_key;
use domain::patient::Patient;
use domain::{AttachmentId, Channel, PatientId, Principal, StreamName, UnmatchedId};
use eventlog::seal::personal_fields;
use store::{EventStore, RecordedEvent};

use crate::error::CommandError;
use crate::executor::{Decided, Decision};
use crate::workspace::Workspace;

/// Events read per page while counting plain-text events.
const PAGE: usize = 1_000;

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// The patient's events with plain-text personal data, which stay readable in the log.
    pub plain_events: u64,
    /// The position of `PatientErased`.
    pub position: u64,
    /// The files of the patient's messages, `(attachment id, blob sha256)`, for the caller to
    /// delete.
    pub attachments: Vec<(AttachmentId, String)>,
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
/// stored without its `sealed` member (a shape from before sealing; for an upload, only when it
/// named its file), or an unmatched inbound message (never sealed: its sender was not known).
pub fn is_plain(record: &RecordedEvent) -> bool {
    match record.event_type.as_str() {
        "InboundUnmatched" => true,
        _ if record.data.get("sealed").is_some() => false,
        "AttachmentStored" => record
            .data
            .get("filename")
            .is_some_and(|filename| !filename.is_null()),
        other => personal_fields(other).is_some(),
    }
}

/// What the log holds of a patient, read before it is erased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Survey {
    /// Events with plain-text personal data (see [`is_plain`]), and the unmatched inbound
    /// messages filed into the patient's conversations.
    pub plain_events: u64,
    /// The files its messages and scheduled messages carry: `(attachment id, blob sha256)`.
    pub attachments: Vec<(AttachmentId, String)>,
}

/// Reads the log of `patient`: its own stream, its conversations' streams,
/// `extra_streams` (its scheduled messages' streams, which the caller knows) and the uploads of
/// the files they carry.
pub async fn survey(
    store: &dyn EventStore,
    patient: &Patient,
    extra_streams: &[String],
) -> Result<Survey, CommandError> {
    let mut survey = Survey::default();
    let Some(record) = &patient.0 else {
        return Ok(survey);
    };
    let mut streams = vec![record.id.stream()];
    streams.extend(record.conversations.keys().map(|id| id.stream()));
    streams.extend(extra_streams.iter().cloned());
    for stream in &streams {
        let mut from = 0;
        loop {
            let page = store.read_stream(stream, from, PAGE).await?;
            for event in &page {
                survey.plain_events += u64::from(is_plain(event));
                if let Some(unmatched) = filed_from(event) {
                    if store.stream_version(&unmatched.stream()).await?.is_some() {
                        survey.plain_events += 1;
                    }
                }
                for attachment in attachments_of(event) {
                    if !survey.attachments.contains(&attachment) {
                        survey.attachments.push(attachment);
                    }
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE => from = last.version + 1,
                _ => break,
            }
        }
    }
    for (attachment, _) in &survey.attachments {
        let uploads = store.read_stream(&attachment.stream(), 0, PAGE).await?;
        survey.plain_events += uploads.iter().filter(|e| is_plain(e)).count() as u64;
    }
    Ok(survey)
}

/// The attachments a stored message or scheduled message carries (their ids and addresses
/// are never sealed).
fn attachments_of(record: &RecordedEvent) -> Vec<(AttachmentId, String)> {
    let list = match record.event_type.as_str() {
        "MessageSent" | "MessageReceived" => record.data.get("attachments"),
        "MessageScheduled" => record
            .data
            .get("draft")
            .and_then(|draft| draft.get("attachments")),
        _ => None,
    };
    let Some(items) = list.and_then(|list| list.as_array()) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let id = item.get("id")?.as_str()?.parse().ok()?;
            let sha256 = item.get("sha256")?.as_str()?.to_owned();
            Some((AttachmentId(id), sha256))
        })
        .collect()
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
