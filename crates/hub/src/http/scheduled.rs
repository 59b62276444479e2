//! Scheduled messages (contract section 8): listing them, and cancelling one that is still
//! pending.

use axum::extract::State;
use axum::Json;
use domain::scheduled::ScheduledStatus;
use domain::{ConversationId, MessageId, PatientId};
use projections::{Page, ScheduledFilter, ScheduledView};

use super::answers::MessageAnswer;
use super::extract::{Caller, ClinicStaff, Params, PathId, Permitted, CURSOR, LIMIT};
use super::messages::{page_request, PATIENT_ID};
use super::openapi::Verb::{Delete, Get};
use super::openapi::{ApiBuilder, Operation as Op, ParamSchema, QueryParam};
use super::staff::ensure_may_read_directory;
use super::AppState;
use crate::error::ApiError;
use commands::RequestMeta;

/// The scheduled-message routes.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(LIST, list).route(CANCEL, cancel)
}

/// `conversation_id`: only this conversation's.
const CONVERSATION_ID: QueryParam = QueryParam::new(
    "conversation_id",
    ParamSchema::Uuid,
    "Only this conversation's (for a first message: the conversation it starts)",
);

/// `status`: where the scheduled message stands.
const STATUS: QueryParam = QueryParam::new(
    "status",
    ParamSchema::of::<ScheduledStatus>(),
    "Only with this status",
);

/// The operation [`list`] serves.
const LIST: Op = Op::new(
    Get,
    "/scheduled",
    "Scheduled messages the caller may see, soonest first (staff, auditor; the visibility of their conversation)",
    200,
)
.query(&[PATIENT_ID, CONVERSATION_ID, STATUS, LIMIT, CURSOR])
.answers::<Page<ScheduledView>>();

/// `GET /v1/scheduled`: scheduled messages by release time, soonest first; patients 403.
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Params,
) -> Result<Json<Page<ScheduledView>>, ApiError> {
    ensure_may_read_directory(&principal)?;
    let filter = ScheduledFilter {
        patient_id: params.uuid("patient_id")?.map(PatientId),
        conversation_id: params.uuid("conversation_id")?.map(ConversationId),
        status: params.parse("status")?,
    };
    let page = page_request(&params)?;
    params.await_min_position(&state).await?;
    let result = state
        .read_model
        .scheduled(&principal.actor, &filter, &page)
        .await?;
    Ok(Json(result))
}

/// The operation [`cancel`] serves.
const CANCEL: Op = Op::new(
    Delete,
    "/scheduled/{id}",
    "Cancel a pending scheduled message (staff who may write in its conversation); one no longer pending answers 409 not_pending",
    200,
)
.errors(&[404])
.answers::<MessageAnswer>();

/// Cancels a pending scheduled message; answers `{conversation_id, message_id, position}`.
pub async fn cancel(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<ClinicStaff>,
    PathId(id): PathId,
) -> Result<Json<MessageAnswer>, ApiError> {
    let message_id = MessageId(id);
    let committed = state
        .commands
        .cancel_scheduled(&principal, &RequestMeta::new(), message_id)
        .await?;
    let mut answer = MessageAnswer::from_committed(&committed);
    answer.message_id = Some(message_id);
    Ok(Json(answer))
}
