//! First messages, message search, and per-message commands (read, star).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use domain::command::{ConversationCommand, MarkRead, SetStar};
use domain::{AttachmentId, Channel, ConversationId, MessageId, PatientId, StaffId};
use projections::{MessageFilter, PageRequest};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::extract::{path_uuid, Caller, JsonBody, Params, MIN_POSITION_WAIT};
use super::AppState;
use crate::commands::{Addressee, Committed, MessageInput, RequestMeta};
use crate::error::ApiError;

/// The body of `POST /v1/messages` and `POST /v1/conversations/{id}/messages`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    #[serde(default)]
    pub(super) patient_id: Option<Uuid>,
    #[serde(default)]
    pub(super) to: Option<String>,
    pub(super) channel: String,
    #[serde(default)]
    pub(super) subject: Option<String>,
    pub(super) body: String,
    #[serde(default)]
    pub(super) attachment_ids: Vec<Uuid>,
    #[serde(default)]
    pub(super) idempotency_key: Option<String>,
}

impl MessageBody {
    /// The message content with a parsed channel.
    pub(super) fn input(&self) -> Result<MessageInput, ApiError> {
        Ok(MessageInput {
            channel: self.channel.parse::<Channel>()?,
            subject: self.subject.clone(),
            body: self.body.clone(),
            attachment_ids: self.attachment_ids.iter().copied().map(AttachmentId).collect(),
        })
    }
}

/// The answer to a message-writing command.
pub(super) fn message_answer(committed: &Committed) -> Value {
    match committed.message() {
        Some((conversation_id, message_id)) => json!({
            "conversation_id": conversation_id,
            "message_id": message_id,
            "position": committed.position,
        }),
        None => json!({ "position": committed.position }),
    }
}

/// Writes the first message of a new conversation.
pub async fn start(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(body): JsonBody<MessageBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let meta = RequestMeta::with_idempotency_key(body.idempotency_key.clone())?;
    let input = body.input()?;
    let addressee = match (principal.role(), &body.patient_id, body.to.as_deref()) {
        (domain::Role::Patient, _, Some("reception")) => Addressee::Reception,
        (domain::Role::Patient, _, Some(to)) => Addressee::Staff(StaffId(
            Uuid::try_parse(to)
                .map_err(|_| ApiError::invalid("`to` must be \"reception\" or a staff id"))?,
        )),
        (domain::Role::Patient, _, None) => {
            return Err(ApiError::invalid("`to` is required: \"reception\" or a staff id"))
        }
        (_, Some(patient_id), _) => Addressee::Patient(PatientId(*patient_id)),
        (_, None, _) => return Err(ApiError::invalid("`patient_id` is required")),
    };
    let committed = state
        .commands
        .start_conversation(&principal, &meta, addressee, &input)
        .await?;
    Ok((StatusCode::CREATED, Json(message_answer(&committed))))
}

/// The conversation a message belongs to, waiting for the read models when the message is
/// newer than they are (a command right after a send must find it).
pub(super) async fn conversation_of(state: &AppState, message_id: MessageId) -> Result<ConversationId, ApiError> {
    if let Some(id) = state.read_model.message_conversation(message_id).await? {
        return Ok(id);
    }
    let head = state.commands.store().head_position().await?;
    state.read_model.wait_for(head, MIN_POSITION_WAIT).await?;
    state
        .read_model
        .message_conversation(message_id)
        .await?
        .ok_or_else(|| ApiError::not_found("message"))
}

/// The recipient marks a message read.
pub async fn mark_read(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let message_id = MessageId(path_uuid(&id)?);
    let conversation_id = conversation_of(&state, message_id).await?;
    let command = ConversationCommand::MarkRead(MarkRead {
        conversation_id,
        message_id,
    });
    let committed = state
        .commands
        .conversation_command(&principal, &RequestMeta::new(), None, &command)
        .await?;
    Ok(Json(json!({
        "conversation_id": conversation_id,
        "message_id": message_id,
        "position": committed.position,
    })))
}

async fn set_star(state: AppState, caller: Caller, id: String, starred: bool) -> Result<Json<Value>, ApiError> {
    let Caller(principal) = caller;
    let message_id = MessageId(path_uuid(&id)?);
    let conversation_id = conversation_of(&state, message_id).await?;
    let command = ConversationCommand::SetStar(SetStar {
        conversation_id,
        message_id,
        starred,
    });
    let committed = state
        .commands
        .conversation_command(&principal, &RequestMeta::new(), None, &command)
        .await?;
    Ok(Json(json!({
        "conversation_id": conversation_id,
        "message_id": message_id,
        "starred": starred,
        "position": committed.position,
    })))
}

/// Stars a message for the caller.
pub async fn star(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    set_star(state, caller, id, true).await
}

/// Removes the caller's star.
pub async fn unstar(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    set_star(state, caller, id, false).await
}

/// One message, if the caller can see it.
pub async fn show(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let message_id = MessageId(path_uuid(&id)?);
    params.await_min_position(&state).await?;
    let message = state
        .read_model
        .message(&principal.actor, message_id)
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    Ok(Json(json!(message)))
}

/// The message-level filters shared by both list endpoints.
pub(super) fn message_filter(params: &Params) -> Result<MessageFilter, ApiError> {
    Ok(MessageFilter {
        patient_id: params.uuid("patient_id")?.map(PatientId),
        status: params.parse("status")?,
        channel: params.parse("channel")?,
        direction: params.parse("direction")?,
        starred: params.flag("starred")?,
        q: params.text("q").map(str::to_owned),
    })
}

/// The page a list request asks for.
pub(super) fn page_request(params: &Params) -> Result<PageRequest, ApiError> {
    Ok(PageRequest {
        limit: params.limit()?,
        cursor: params.text("cursor").map(str::to_owned),
    })
}

/// Message search across conversations, newest first.
pub async fn search(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let filter = message_filter(&params)?;
    let page = page_request(&params)?;
    params.await_min_position(&state).await?;
    let result = state
        .read_model
        .search_messages(&principal.actor, &filter, &page)
        .await?;
    Ok(Json(json!(result)))
}
