//! Conversation queries and commands: list, show, timeline, reply, log call, archive.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use domain::command::{ConversationCommand, LogCall, SendMessage, SetArchived};
use domain::conversation::MAX_CALL_SECONDS;
use domain::{Channel, ConversationId, Direction};
use projections::{Awaiting, ConversationFilter, ConversationView, MessageView, Page};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use super::answers::{ArchiveAnswer, MessageAnswer};

use super::extract::{
    Caller, ClinicStaff, JsonBody, Params, PathId, Permitted, Writers, CURSOR, LIMIT,
};
use super::messages::{
    message_filter, page_request, ReplyBody, CHANNEL, DIRECTION, PATIENT_ID, Q, STARRED, STATUS,
};
use super::openapi::Verb::{Get, Post};
use super::openapi::{ApiBuilder, Operation as Op, ParamSchema, QueryParam};
use super::{patterns, AppState};
use crate::error::ApiError;
use commands::{CommandService, RequestMeta};

/// The conversation routes.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(LIST, list)
        .route(SHOW, show)
        .route(TIMELINE, timeline)
        .route(REPLY, reply)
        .route(LOG_CALL, log_call)
        .route(ARCHIVE, archive)
        .route(UNARCHIVE, unarchive)
}

/// `POST /v1/conversations/{id}/calls` body.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallBody {
    /// When the call took place (RFC 3339 with its zone, e.g. `2026-01-05T09:30:00Z`).
    #[schemars(with = "DateTime<Utc>")]
    occurred_at: String,
    /// Length of the call in seconds, 0 to 86,400.
    #[serde(deserialize_with = "whole_number")]
    #[schemars(range(min = 0, max = MAX_CALL_SECONDS))]
    duration_seconds: i64,
    /// `inbound` (the patient called) or `outbound`.
    #[schemars(with = "domain::Direction")]
    direction: String,
    /// What was said: not blank, at most 10,000 characters.
    #[schemars(regex(pattern = patterns::NOT_BLANK), length(max = Channel::Call.max_body_chars()))]
    summary: String,
    /// The same key from the same caller answers the first answer and appends nothing new.
    #[serde(default)]
    #[schemars(length(min = 1, max = 200), regex(pattern = patterns::NO_CONTROL))]
    idempotency_key: Option<String>,
}

/// A JSON number with no fraction, as JSON Schema's `integer` is: `60` and `60.0` alike. One
/// beyond `i64` saturates, so that the range check refuses it.
fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    number
        .as_i64()
        .or_else(|| {
            number
                .as_f64()
                .filter(|value| value.fract() == 0.0)
                .map(|value| value as i64)
        })
        .ok_or_else(|| serde::de::Error::custom("expected a whole number"))
}

/// `awaiting`: whose turn it is.
const AWAITING: QueryParam = QueryParam::new(
    "awaiting",
    ParamSchema::of::<Awaiting>(),
    "`clinic`: the latest entry is the patient's message; `patient`: it is the clinic's",
);

/// The inbox's query: the message search's, and whose turn it is.
const INBOX_PARAMS: &[QueryParam] = &[
    PATIENT_ID, STATUS, AWAITING, CHANNEL, DIRECTION, STARRED, Q, LIMIT, CURSOR,
];

/// The operation [`list`] serves.
const LIST: Op = Op::new(
    Get,
    "/conversations",
    "The inbox, newest activity first",
    200,
)
.query(INBOX_PARAMS)
.answers::<Page<ConversationView>>();

/// The inbox: conversations the caller can see, newest activity first.
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Params,
) -> Result<Json<Page<ConversationView>>, ApiError> {
    let message_level = message_filter(&params)?;
    let filter = ConversationFilter {
        patient_id: message_level.patient_id,
        status: message_level.status,
        awaiting: params.parse("awaiting")?,
        channel: message_level.channel,
        direction: message_level.direction,
        starred: message_level.starred,
        q: message_level.q,
    };
    let page = page_request(&params)?;
    params.await_min_position(&state).await?;
    let result = state
        .read_model
        .list_conversations(&principal.actor, &filter, &page)
        .await?;
    Ok(Json(result))
}

/// The operation [`show`] serves.
const SHOW: Op = Op::new(
    Get,
    "/conversations/{id}",
    "One conversation with participants and status",
    200,
)
.answers::<ConversationView>();

/// One conversation with participants and status.
pub async fn show(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathId(id): PathId,
    params: Params,
) -> Result<Json<ConversationView>, ApiError> {
    let id = ConversationId(id);
    params.await_min_position(&state).await?;
    let conversation = state
        .read_model
        .conversation(&principal.actor, id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    Ok(Json(conversation))
}

/// The operation [`timeline`] serves.
const TIMELINE: Op = Op::new(
    Get,
    "/conversations/{id}/messages",
    "The timeline, oldest first",
    200,
)
.query(&[LIMIT, CURSOR])
.answers::<Page<MessageView>>();

/// The timeline of messages and call logs, oldest first.
pub async fn timeline(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathId(id): PathId,
    params: Params,
) -> Result<Json<Page<MessageView>>, ApiError> {
    let id = ConversationId(id);
    let page = page_request(&params)?;
    params.await_min_position(&state).await?;
    let result = state
        .read_model
        .timeline(&principal.actor, id, &page)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    Ok(Json(result))
}

/// The operation [`reply`] serves.
const REPLY: Op = Op::new(
    Post,
    "/conversations/{id}/messages",
    "Reply in a conversation (participants)",
    201,
)
.json_body::<ReplyBody>()
.errors(&[413, 422])
.answers::<MessageAnswer>();

/// A reply in an existing conversation.
pub async fn reply(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<Writers>,
    PathId(id): PathId,
    JsonBody(body): JsonBody<ReplyBody>,
) -> Result<(StatusCode, Json<MessageAnswer>), ApiError> {
    let conversation_id = ConversationId(id);
    let meta = body.meta()?;
    let input = body.input()?;
    let send_at = body.send_at()?;
    let draft = state.commands.reply_draft(&principal, &input).await?;
    let send = SendMessage {
        conversation_id,
        message_id: CommandService::new_message_id(),
        draft,
        template: input.template,
    };
    if let Some(send_at) = send_at {
        let committed = state
            .commands
            .schedule_reply(&principal, &meta, send, send_at)
            .await?;
        return Ok((
            StatusCode::CREATED,
            Json(MessageAnswer::scheduled(&committed, send_at)),
        ));
    }
    let command = ConversationCommand::SendMessage(send);
    let committed = state
        .commands
        .conversation_command(&principal, &meta, None, &command)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(MessageAnswer::from_committed(&committed)),
    ))
}

/// The operation [`log_call`] serves.
const LOG_CALL: Op = Op::new(
    Post,
    "/conversations/{id}/calls",
    "Log a phone call (staff)",
    201,
)
.json_body::<CallBody>()
.errors(&[422])
.answers::<MessageAnswer>();

/// Logs a phone call.
pub async fn log_call(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<ClinicStaff>,
    PathId(id): PathId,
    JsonBody(body): JsonBody<CallBody>,
) -> Result<(StatusCode, Json<MessageAnswer>), ApiError> {
    let conversation_id = ConversationId(id);
    let meta = RequestMeta::with_idempotency_key(body.idempotency_key.clone())?;
    let direction: Direction = body.direction.parse()?;
    let occurred_at = DateTime::parse_from_rfc3339(&body.occurred_at)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::invalid(
                "`occurred_at` must be an RFC 3339 time with its zone, e.g. 2026-01-05T09:30:00Z",
            )
        })?;
    let call = LogCall {
        conversation_id,
        message_id: CommandService::new_message_id(),
        occurred_at,
        duration_seconds: body.duration_seconds,
        direction,
        summary: body.summary,
    };
    // An invalid call is refused whatever its idempotency key.
    domain::conversation::validate_call(&call, Utc::now())?;
    let command = ConversationCommand::LogCall(call);
    let committed = state
        .commands
        .conversation_command(&principal, &meta, None, &command)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(MessageAnswer::from_committed(&committed)),
    ))
}

async fn set_archived(
    state: AppState,
    caller: Caller,
    id: uuid::Uuid,
    archived: bool,
) -> Result<Json<ArchiveAnswer>, ApiError> {
    let Caller(principal) = caller;
    let conversation_id = ConversationId(id);
    let command = ConversationCommand::SetArchived(SetArchived {
        conversation_id,
        archived,
    });
    let committed = state
        .commands
        .conversation_command(&principal, &RequestMeta::new(), None, &command)
        .await?;
    Ok(Json(ArchiveAnswer {
        conversation_id,
        archived,
        position: committed.position,
    }))
}

/// The operation [`archive`] serves.
const ARCHIVE: Op = Op::new(
    Post,
    "/conversations/{id}/archive",
    "Archive a conversation (staff)",
    200,
)
.errors(&[422])
.answers::<ArchiveAnswer>();

/// Archives a conversation.
pub async fn archive(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<ArchiveAnswer>, ApiError> {
    set_archived(state, caller, id, true).await
}

/// The operation [`unarchive`] serves.
const UNARCHIVE: Op = Op::new(
    Post,
    "/conversations/{id}/unarchive",
    "Reopen a conversation (staff)",
    200,
)
.errors(&[422])
.answers::<ArchiveAnswer>();

/// Reopens an archived conversation.
pub async fn unarchive(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<ArchiveAnswer>, ApiError> {
    set_archived(state, caller, id, false).await
}
