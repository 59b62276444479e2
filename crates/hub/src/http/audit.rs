//! The head of the log's hash chain, for auditors to record and compare later.

use axum::extract::State;
use axum::Json;
use domain::Role;

use super::answers::AuditHead;
use super::extract::{Caller, Params};
use super::openapi::Verb::Get;
use super::openapi::{ApiBuilder, Operation as Op};
use super::AppState;
use crate::error::ApiError;

/// The audit route.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(HEAD, head)
}

/// The operation [`head`] serves.
const HEAD: Op = Op::new(
    Get,
    "/audit/head",
    "The last event's position and hash (admin, auditor)",
    200,
)
.answers::<AuditHead>();

/// `GET /v1/audit/head`: the newest event's position and `hash` (position 0 and 64 zeros for
/// an empty log). A `min_position` must be a position, like every read's (the log itself
/// answers, so there is nothing to wait for).
pub async fn head(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Params,
) -> Result<Json<AuditHead>, ApiError> {
    if !matches!(principal.role(), Role::Admin | Role::Auditor) {
        return Err(ApiError::forbidden(
            "only admins and auditors read the audit head",
        ));
    }
    params.parse::<u64>("min_position")?;
    let store = state.commands.store();
    let position = store.head_position().await?;
    let last = store
        .read_all(position.saturating_sub(1), 1, None)
        .await?
        .pop();
    Ok(Json(match last {
        Some(event) => AuditHead {
            position: event.position,
            hash: event.hash,
        },
        None => AuditHead {
            position: 0,
            hash: store::chain::GENESIS.to_owned(),
        },
    }))
}
