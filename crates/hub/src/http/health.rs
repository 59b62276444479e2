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

/// The operation [`health`] serves.
const HEALTH: Op = Op::new(Get, "/health", "Liveness and projection lag", 200).public();

/// `GET /v1/health`: no token needed.
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let head = state.commands.store().head_position().await;
    let checkpoint = state.read_model.checkpoint().await;
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
            let store_ok = head.is_ok();
            let read_model_ok = checkpoint.is_ok();
            tracing::error!(store_ok, read_model_ok, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unavailable",
                    "error": { "code": "unavailable", "message": "a dependency is not reachable" },
                })),
            )
        }
    }
}
