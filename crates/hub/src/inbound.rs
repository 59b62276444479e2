//! Filing what patients send through providers: each inbound message is matched to its
//! patient by phone number or e-mail address and filed in the right conversation (a new
//! reception conversation when none is open), exactly once per provider message id. Messages
//! from unknown senders go to the unmatched queue.

use bytes::Bytes;
use dispatch::inbound::{InboundAttachment, InboundMessage};
use dispatch::provider::email::parse_hub_message_id;
use domain::attachment::{AttachmentRef, MediaType};
use domain::command::ReceiveMessage;
use domain::event::InboundUnmatched;
use domain::ids::{provider_message_key, provider_message_stream};
use domain::{
    Actor, AttachmentId, Channel, ConversationId, DomainError, MessageId, PatientId, Principal,
    StreamName, UnmatchedId,
};
use projections::{ContactAddress, ReadModel};
use uuid::Uuid;

use crate::blobs::BlobStore;
use crate::error::ApiError;
use commands::{CommandError, CommandService, RequestMeta};

/// What became of an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filed {
    /// The provider delivered it before: nothing was added.
    Duplicate,
    /// Filed in a patient's conversation.
    Message {
        /// The conversation.
        conversation_id: ConversationId,
        /// The new message.
        message_id: MessageId,
    },
    /// Kept in the unmatched queue.
    Unmatched(UnmatchedId),
}

/// What filing reads and writes: the command path, the read models that find the patient and
/// the conversation, and the attachment store.
pub struct Filing<'a> {
    /// The command path.
    pub commands: &'a CommandService,
    /// Patient lookup by address, and the conversation a message belongs to.
    pub read_model: &'a dyn ReadModel,
    /// Where inbound files are kept.
    pub blobs: &'a BlobStore,
}

/// The hub itself, acting for provider webhooks.
pub fn system() -> Principal {
    Principal::new(Actor::system(), [])
}

/// Files one inbound message.
pub async fn file(state: &Filing<'_>, message: InboundMessage) -> Result<Filed, ApiError> {
    let store = state.commands.store();
    let channel = message.channel;
    let unmatched_id = UnmatchedId(provider_message_key(channel, &message.provider_message_id));
    let link = provider_message_stream(channel, &message.provider_message_id);
    if store.stream_version(&link).await?.is_some()
        || store
            .stream_version(&unmatched_id.stream())
            .await?
            .is_some()
    {
        return Ok(Filed::Duplicate);
    }
    let (attachments, notes) = store_attachments(state, &message.attachments).await?;
    let body = with_notes(&message.body, &notes);
    let address = match channel {
        Channel::Email => ContactAddress::Email(message.from.clone()),
        _ => ContactAddress::Phone(message.from.clone()),
    };
    let patients = state.read_model.patients_with_contact(&address).await?;
    let [patient] = patients.as_slice() else {
        return keep_unmatched(state, unmatched_id, &message, body, attachments).await;
    };
    let mut command = ReceiveMessage {
        conversation_id: conversation_for(state, *patient, &message).await?,
        message_id: MessageId(Uuid::new_v4()),
        patient_id: *patient,
        channel,
        subject: message.subject.clone(),
        body,
        attachments,
        provider_message_id: message.provider_message_id.clone(),
        unmatched_id: None,
        received_at: None,
    };
    let committed = match state.commands.receive_message(&system(), &command).await {
        // The chosen conversation may not take it (a doctor's archived thread that cannot
        // reopen): file it in a new reception conversation instead.
        Err(error) if refused_conversation(&error) => {
            command.conversation_id = ConversationId(Uuid::new_v4());
            state.commands.receive_message(&system(), &command).await?
        }
        other => other?,
    };
    if committed.events.is_empty() {
        return Ok(Filed::Duplicate);
    }
    tracing::info!(%channel, message_id = %command.message_id, "inbound message filed");
    Ok(Filed::Message {
        conversation_id: command.conversation_id,
        message_id: command.message_id,
    })
}

/// Whether filing into the chosen conversation was refused because it cannot reopen (a
/// doctor's archived thread while that doctor has another open one).
fn refused_conversation(error: &CommandError) -> bool {
    matches!(
        error.refusal(),
        Some(DomainError::ConversationExists { .. })
    )
}

/// The conversation an inbound message belongs to: the one its e-mail thread names (when it
/// is the patient's), else the open one the read model suggests, else a new one.
async fn conversation_for(
    state: &Filing<'_>,
    patient: PatientId,
    message: &InboundMessage,
) -> Result<ConversationId, ApiError> {
    for reference in &message.thread_references {
        if let Some((_, conversation)) = parse_hub_message_id(reference) {
            if let Some(view) = state
                .read_model
                .conversation(&Actor::system(), conversation)
                .await?
            {
                if view.patient_id == patient {
                    return Ok(conversation);
                }
            }
        }
    }
    let suggested = state
        .read_model
        .inbound_conversation(patient, Some(message.channel))
        .await?;
    Ok(suggested.unwrap_or_else(|| ConversationId(Uuid::new_v4())))
}

/// Keeps a message from an unknown (or ambiguous) sender for reception.
async fn keep_unmatched(
    state: &Filing<'_>,
    unmatched_id: UnmatchedId,
    message: &InboundMessage,
    body: String,
    attachments: Vec<AttachmentRef>,
) -> Result<Filed, ApiError> {
    let unmatched = InboundUnmatched {
        unmatched_id,
        channel: message.channel,
        sender: message.from.clone(),
        subject: message.subject.clone(),
        body,
        attachments,
        provider_message_id: message.provider_message_id.clone(),
    };
    if !state.commands.keep_unmatched(unmatched).await? {
        return Ok(Filed::Duplicate);
    }
    tracing::info!(channel = %message.channel, %unmatched_id, "inbound message from an unknown sender kept for reception");
    Ok(Filed::Unmatched(unmatched_id))
}

/// Stores the files that came with a message. Files of a type the hub does not keep are
/// left out, each with a note for the body.
async fn store_attachments(
    state: &Filing<'_>,
    files: &[InboundAttachment],
) -> Result<(Vec<AttachmentRef>, Vec<String>), ApiError> {
    let mut stored = Vec::new();
    let mut notes = Vec::new();
    for file in files {
        let media_type = match MediaType::from_content_type(&file.media_type) {
            Ok(media_type) if !file.content.is_empty() => media_type,
            _ => {
                notes.push(format!(
                    "[attachment not kept: {} ({})]",
                    file.filename, file.media_type
                ));
                continue;
            }
        };
        let content: Result<Bytes, std::io::Error> = Ok(file.content.clone());
        let blob = match state
            .blobs
            .put(media_type, futures::stream::iter([content]))
            .await
        {
            Ok(blob) => blob,
            Err(error @ crate::blobs::BlobError::Store(_)) => return Err(error.into()),
            Err(error) => {
                notes.push(format!(
                    "[attachment not kept: {} ({error})]",
                    file.filename
                ));
                continue;
            }
        };
        let attachment = AttachmentRef {
            id: AttachmentId(Uuid::new_v4()),
            media_type,
            size: blob.size,
            sha256: blob.sha256,
            filename: Some(file.filename.clone()),
        };
        state
            .commands
            .store_attachment(&system(), &RequestMeta::new(), attachment.clone())
            .await?;
        stored.push(attachment);
    }
    Ok((stored, notes))
}

/// The body with notes about left-out files appended.
fn with_notes(body: &str, notes: &[String]) -> String {
    if notes.is_empty() {
        return body.to_owned();
    }
    let mut text = body.trim_end().to_owned();
    for note in notes {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(note);
    }
    text
}
