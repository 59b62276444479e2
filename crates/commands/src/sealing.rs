//! Which patient's key seals each decided event's personal fields, with the keys made ready
//! before the events are encoded (see `eventlog::seal` and `store::keys`).

use domain::conversation::Conversation;
use domain::{Event, PatientId, StreamName};

use crate::error::CommandError;
use crate::workspace::Workspace;

/// The patient whose personal data `event` carries, if any: read from the event, or from its
/// conversation (as this batch leaves it) for messages and call logs.
async fn subject_of(
    ws: &mut Workspace<'_>,
    event: &Event,
) -> Result<Option<PatientId>, CommandError> {
    let conversation = match event {
        Event::PatientRegistered(e) => return Ok(Some(e.patient_id)),
        Event::PatientContactChanged(e) => return Ok(Some(e.patient_id)),
        Event::MessageScheduled(e) => return Ok(Some(e.patient_id)),
        Event::MessageSent(e) => e.conversation_id,
        Event::MessageReceived(e) => e.conversation_id,
        Event::CallLogged(e) => e.conversation_id,
        _ => return Ok(None),
    };
    let state = ws.get::<Conversation>(&conversation.stream()).await?;
    Ok(state.0.as_ref().map(|record| record.patient_id))
}

/// The sealing subject of each of `events` (in order), each one's key loaded or made.
pub(crate) async fn subjects(
    ws: &mut Workspace<'_>,
    events: &[Event],
) -> Result<Vec<Option<PatientId>>, CommandError> {
    let mut subjects = Vec::with_capacity(events.len());
    for event in events {
        let subject = subject_of(ws, event).await?;
        if let Some(patient) = subject {
            ws.store().keyring().ensure(patient.0).await?;
        }
        subjects.push(subject);
    }
    Ok(subjects)
}
