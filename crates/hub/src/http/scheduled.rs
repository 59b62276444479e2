//! Scheduled messages (contract section 8): cancelling one that is still pending.

use axum::extract::State;
use axum::Json;
use domain::MessageId;

use super::answers::MessageAnswer;
use super::extract::{ClinicStaff, PathId, Permitted};
use super::openapi::Verb::Delete;
use super::openapi::{ApiBuilder, Operation as Op};
use super::AppState;
use crate::error::ApiError;
use commands::RequestMeta;

/// The scheduled-message routes.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(CANCEL, cancel)
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
