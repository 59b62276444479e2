//! First messages, message search, and per-message commands (read, star).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::command::{ConversationCommand, MarkRead, SetStar};
use domain::{AttachmentId, Channel, ConversationId, MessageId, PatientId, StaffId};
use projections::{MessageFilter, PageRequest};
use projections::{MessageView, Page};
use schemars::JsonSchema;
use serde::Deserialize;

use super::answers::{MessageAnswer, StarAnswer};
use uuid::Uuid;

use super::extract::{Caller, Initiators, JsonBody, Params, PathId, Permitted, MIN_POSITION_WAIT};
use super::openapi::Verb::{Delete, Get, Post, Put};
use super::openapi::{ApiBuilder, Operation as Op};
use super::AppState;
use crate::error::ApiError;
use commands::{Addressee, MessageInput, RequestMeta};

/// The message routes.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(START, start)
        .route(SEARCH, search)
        .route(SHOW, show)
        .route(MARK_READ, mark_read)
        .route(STAR, star)
        .route(UNSTAR, unstar)
}

/// The body of `POST /v1/messages` and `POST /v1/conversations/{id}/messages`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// Staff: the patient to write to (first message only).
    #[serde(default)]
    pub(super) patient_id: Option<Uuid>,
    /// A patient: `"reception"` or a staff id (first message only).
    #[serde(default)]
    pub(super) to: Option<String>,
    /// `sms`, `email`, `portal` or `whatsapp`.
    #[schemars(with = "domain::Channel")]
    pub(super) channel: String,
    /// Subject line (required on e-mail).
    #[serde(default)]
    pub(super) subject: Option<String>,
    /// The text.
    pub(super) body: String,
    /// Attachments uploaded by the caller.
    #[serde(default)]
    pub(super) attachment_ids: Vec<Uuid>,
    /// The same key from the same caller answers the first answer and appends nothing new.
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
            attachment_ids: self
                .attachment_ids
                .iter()
                .copied()
                .map(AttachmentId)
                .collect(),
        })
    }
}

/// The operation [`start`] serves.
const START: Op = Op::new(
    Post,
    "/messages",
    "Write the first message of a new conversation",
    201,
)
.json_body::<MessageBody>()
.answers::<MessageAnswer>();

/// Writes the first message of a new conversation.
pub async fn start(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<Initiators>,
    JsonBody(body): JsonBody<MessageBody>,
) -> Result<(StatusCode, Json<MessageAnswer>), ApiError> {
    let meta = RequestMeta::with_idempotency_key(body.idempotency_key.clone())?;
    let input = body.input()?;
    let addressee = match (principal.role(), &body.patient_id, body.to.as_deref()) {
        (domain::Role::Patient, _, Some("reception")) => Addressee::Reception,
        (domain::Role::Patient, _, Some(to)) => {
            Addressee::Staff(StaffId(Uuid::try_parse(to).map_err(|_| {
                ApiError::invalid("`to` must be \"reception\" or a staff id")
            })?))
        }
        (domain::Role::Patient, _, None) => {
            return Err(ApiError::invalid(
                "`to` is required: \"reception\" or a staff id",
            ))
        }
        (_, Some(patient_id), _) => Addressee::Patient(PatientId(*patient_id)),
        (_, None, _) => return Err(ApiError::invalid("`patient_id` is required")),
    };
    let committed = state
        .commands
        .start_conversation(&principal, &meta, addressee, &input)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(MessageAnswer::from_committed(&committed)),
    ))
}

/// The conversation a message belongs to, waiting for the read models when the message is
/// newer than they are (a command right after a send must find it).
pub(super) async fn conversation_of(
    state: &AppState,
    message_id: MessageId,
) -> Result<ConversationId, ApiError> {
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

/// The operation [`mark_read`] serves.
const MARK_READ: Op = Op::new(
    Post,
    "/messages/{id}/read",
    "Mark a message read (its recipient)",
    200,
)
.answers::<MessageAnswer>();

/// The recipient marks a message read.
pub async fn mark_read(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathId(id): PathId,
) -> Result<Json<MessageAnswer>, ApiError> {
    let message_id = MessageId(id);
    let conversation_id = conversation_of(&state, message_id).await?;
    let command = ConversationCommand::MarkRead(MarkRead {
        conversation_id,
        message_id,
    });
    let committed = state
        .commands
        .conversation_command(&principal, &RequestMeta::new(), None, &command)
        .await?;
    Ok(Json(MessageAnswer {
        conversation_id: Some(conversation_id),
        message_id: Some(message_id),
        position: committed.position,
    }))
}

async fn set_star(
    state: AppState,
    caller: Caller,
    id: uuid::Uuid,
    starred: bool,
) -> Result<Json<StarAnswer>, ApiError> {
    let Caller(principal) = caller;
    let message_id = MessageId(id);
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
    Ok(Json(StarAnswer {
        conversation_id,
        message_id,
        starred,
        position: committed.position,
    }))
}

/// The operation [`star`] serves.
const STAR: Op = Op::new(
    Put,
    "/messages/{id}/star",
    "Star a message for the caller (staff)",
    200,
)
.answers::<StarAnswer>();

/// Stars a message for the caller.
pub async fn star(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<StarAnswer>, ApiError> {
    set_star(state, caller, id, true).await
}

/// The operation [`unstar`] serves.
const UNSTAR: Op = Op::new(
    Delete,
    "/messages/{id}/star",
    "Remove the caller's star (staff)",
    200,
)
.answers::<StarAnswer>();

/// Removes the caller's star.
pub async fn unstar(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<StarAnswer>, ApiError> {
    set_star(state, caller, id, false).await
}

/// The operation [`show`] serves.
const SHOW: Op = Op::new(Get, "/messages/{id}", "One message", 200)
    .query(&["min_position"])
    .answers::<MessageView>();

/// One message, if the caller can see it.
pub async fn show(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathId(id): PathId,
    params: Params,
) -> Result<Json<MessageView>, ApiError> {
    let message_id = MessageId(id);
    params.await_min_position(&state).await?;
    let message = state
        .read_model
        .message(&principal.actor, message_id)
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    Ok(Json(message))
}

/// The message-level filters shared by both list endpoints.
pub(super) fn message_filter(params: &Params) -> Result<MessageFilter, ApiError> {
    Ok(MessageFilter {
        conversation_id: None,
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

/// The operation [`search`] serves.
const SEARCH: Op = Op::new(
    Get,
    "/messages",
    "Message search across conversations, newest first",
    200,
)
.query(SEARCH_PARAMS)
.answers::<Page<MessageView>>();

/// The message search's query: the inbox's message-level filters and one conversation.
const SEARCH_PARAMS: &[&str] = &[
    "conversation_id",
    "patient_id",
    "status",
    "channel",
    "direction",
    "starred",
    "q",
    "limit",
    "cursor",
    "min_position",
];

/// Message search across conversations (or within one: `conversation_id`, a timeline read
/// newest first), newest first.
pub async fn search(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Params,
) -> Result<Json<Page<MessageView>>, ApiError> {
    let mut filter = message_filter(&params)?;
    filter.conversation_id = params.uuid("conversation_id")?.map(ConversationId);
    let page = page_request(&params)?;
    params.await_min_position(&state).await?;
    let result = state
        .read_model
        .search_messages(&principal.actor, &filter, &page)
        .await?;
    Ok(Json(result))
}
