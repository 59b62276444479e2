//! Liveness, projection lag and channel configuration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::extract::Params;
use super::openapi::Verb::Get;
use super::openapi::{ApiBuilder, Operation as Op, ParamSchema, QueryParam};
use super::AppState;
use crate::error::ApiError;

/// The health route.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(HEALTH, health)
}

/// How long health waits for each dependency.
const HEALTH_WAIT: std::time::Duration = std::time::Duration::from_millis(800);

/// `min_position` on health: read like every read's, never waited for (health answers within a
/// second, and takes no token).
const MIN_POSITION: QueryParam = QueryParam::new(
    "min_position",
    ParamSchema::Integer {
        min: 0,
        max: u64::MAX,
    },
    "Accepted like every read's, but health does not wait for it: compare it with `projection.checkpoint`",
);

/// The operation [`health`] serves.
const HEALTH: Op = Op::new(Get, "/health", "Liveness and projection lag", 200)
    .query(&[MIN_POSITION])
    .public();

/// `GET /v1/health`: no token needed. A `min_position` must be a position (400 otherwise) but
/// is not waited for.
pub async fn health(
    State(state): State<AppState>,
    params: Params,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    params.parse::<u64>("min_position")?;
    // Both dependencies are asked at once, each for at most HEALTH_WAIT: health answers within
    // a second even when a database does not answer at all.
    let (head, checkpoint) = tokio::join!(
        tokio::time::timeout(HEALTH_WAIT, state.commands.store().head_position()),
        tokio::time::timeout(HEALTH_WAIT, state.read_model.checkpoint()),
    );
    let head = head
        .map_err(|_| "timed out")
        .and_then(|r| r.map_err(|_| "failed"));
    let checkpoint = checkpoint
        .map_err(|_| "timed out")
        .and_then(|r| r.map_err(|_| "failed"));
    Ok(match (head, checkpoint) {
        (Ok(head), Ok(checkpoint)) => (
            StatusCode::OK,
            Json(json!({
                "status": "ok",
                "head_position": head,
                "projection": {
                    "checkpoint": checkpoint,
                    "lag": head.saturating_sub(checkpoint),
                },
                "channels": state.channels.0,
            })),
        ),
        (head, checkpoint) => {
            fn state_of(result: &Result<u64, &'static str>) -> &'static str {
                match result {
                    Ok(_) => "ok",
                    Err(why) => why,
                }
            }
            let (event_log, read_models) = (state_of(&head), state_of(&checkpoint));
            tracing::error!(event_log, read_models, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unavailable",
                    "dependencies": { "event_log": event_log, "read_models": read_models },
                    "error": { "code": "unavailable", "message": "a dependency is not reachable" },
                })),
            )
        }
    })
}
