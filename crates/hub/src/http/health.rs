//! Liveness, projection lag and channel configuration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::openapi::Verb::Get;
use super::openapi::{ApiBuilder, Operation as Op};
use super::AppState;

/// The health route.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(HEALTH, health)
}

/// How long health waits for each dependency.
const HEALTH_WAIT: std::time::Duration = std::time::Duration::from_millis(800);

/// The operation [`health`] serves.
const HEALTH: Op = Op::new(Get, "/health", "Liveness and projection lag", 200).public();

/// `GET /v1/health`: no token needed.
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
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
    match (head, checkpoint) {
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
    }
}
