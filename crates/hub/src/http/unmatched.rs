//! The unmatched queue: inbound messages from unknown senders, for reception to file.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::command::ReceiveMessage;
use domain::{ConversationId, MessageId, PatientId, Role, UnmatchedId};
use projections::{Page, UnmatchedView};
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::answers::MessageAnswer;
use super::extract::{Caller, FrontDesk, JsonBody, Params, PathId, Permitted, CURSOR, LIMIT};
use super::messages::page_request;
use super::openapi::Verb::{Get, Post};
use super::openapi::{ApiBuilder, Operation as Op};
use super::AppState;
use crate::error::ApiError;

/// The unmatched-queue routes.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(LIST, list).route(ASSIGN, assign)
}

/// `POST /v1/unmatched/{id}/assign` body.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The patient the message came from.
    patient_id: Uuid,
}

/// Fails unless the caller works the front desk (reception, admin).
fn ensure_front_desk(principal: &domain::Principal) -> Result<(), ApiError> {
    principal.ensure_may_use_hub()?;
    match principal.role() {
        Role::Receptionist | Role::Admin => Ok(()),
        _ => Err(ApiError::forbidden(
            "the unmatched queue belongs to reception",
        )),
    }
}

/// The operation [`list`] serves.
const LIST: Op = Op::new(
    Get,
    "/unmatched",
    "Inbound messages from unknown senders, newest first (reception, admin)",
    200,
)
.query(&[LIMIT, CURSOR])
.answers::<Page<UnmatchedView>>();

/// `GET /v1/unmatched`: messages from unknown senders not yet filed, newest first.
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Params,
) -> Result<Json<Page<UnmatchedView>>, ApiError> {
    ensure_front_desk(&principal)?;
    let page = page_request(&params)?;
    params.await_min_position(&state).await?;
    Ok(Json(state.read_model.unmatched(&page).await?))
}

/// The operation [`assign`] serves.
const ASSIGN: Op = Op::new(
    Post,
    "/unmatched/{id}/assign",
    "File an unmatched message into the patient's reception conversation",
    201,
)
.json_body::<AssignBody>()
.errors(&[422])
.answers::<MessageAnswer>();

/// `POST /v1/unmatched/{id}/assign`: files the message into the patient's reception
/// conversation (a new one when none is open).
pub async fn assign(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<FrontDesk>,
    PathId(id): PathId,
    JsonBody(body): JsonBody<AssignBody>,
) -> Result<(StatusCode, Json<MessageAnswer>), ApiError> {
    ensure_front_desk(&principal)?;
    let unmatched_id = UnmatchedId(id);
    let (entry, filed) = state
        .read_model
        .unmatched_entry(unmatched_id)
        .await?
        .ok_or_else(|| ApiError::not_found("unmatched message"))?;
    if filed {
        return Err(ApiError::conflict("the message was filed already"));
    }
    let patient_id = PatientId(body.patient_id);
    if state.commands.patient(patient_id).await?.0.is_none() {
        return Err(ApiError::not_found("patient"));
    }
    let conversation_id = state
        .read_model
        .inbound_conversation(patient_id, None)
        .await?
        .unwrap_or_else(|| ConversationId(Uuid::new_v4()));
    let command = ReceiveMessage {
        conversation_id,
        message_id: MessageId(Uuid::new_v4()),
        patient_id,
        channel: entry.channel,
        subject: entry.subject,
        body: entry.body,
        attachments: entry.attachments,
        provider_message_id: entry.provider_message_id,
        unmatched_id: Some(unmatched_id),
        received_at: Some(entry.received_at),
    };
    let committed = state.commands.receive_message(&principal, &command).await?;
    if committed.events.is_empty() {
        return Err(ApiError::conflict("the message was filed already"));
    }
    Ok((
        StatusCode::CREATED,
        Json(MessageAnswer::from_committed(&committed)),
    ))
}
