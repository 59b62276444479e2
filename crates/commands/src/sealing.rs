//! Which key seals each decided event's personal fields (its patient's; an upload's own, as the
//! patient is not known yet), with the keys made ready before the events are encoded (see
//! `eventlog::seal` and `store::keys`).

use domain::conversation::Conversation;
use domain::{Event, StreamName};
use uuid::Uuid;

use crate::error::CommandError;
use crate::workspace::Workspace;

/// The subject whose key seals `event`'s personal data, if any: the patient, read from the
/// event or from its conversation (as this batch leaves it) for messages and call logs; for an
/// upload, the attachment itself.
async fn subject_of(ws: &mut Workspace<'_>, event: &Event) -> Result<Option<Uuid>, CommandError> {
    let conversation = match event {
        Event::PatientRegistered(e) => return Ok(Some(e.patient_id.0)),
        Event::PatientContactChanged(e) => return Ok(Some(e.patient_id.0)),
        Event::MessageScheduled(e) => return Ok(Some(e.patient_id.0)),
        Event::AttachmentStored(e) => return Ok(Some(e.attachment.id.0)),
        Event::MessageSent(e) => e.conversation_id,
        Event::MessageReceived(e) => e.conversation_id,
        Event::CallLogged(e) => e.conversation_id,
        _ => return Ok(None),
    };
    let state = ws.get::<Conversation>(&conversation.stream()).await?;
    Ok(state.0.as_ref().map(|record| record.patient_id.0))
}

/// The sealing subject of each of `events` (in order), their keys loaded or made (the missing
/// ones together).
pub(crate) async fn subjects(
    ws: &mut Workspace<'_>,
    events: &[Event],
) -> Result<Vec<Option<Uuid>>, CommandError> {
    let mut subjects = Vec::with_capacity(events.len());
    for event in events {
        subjects.push(subject_of(ws, event).await?);
    }
    let keyed: Vec<Uuid> = subjects.iter().flatten().copied().collect();
    ws.store().keyring().ensure_all(&keyed).await?;
    Ok(subjects)
}
