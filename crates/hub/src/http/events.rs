//! The event log in global order, for admins and auditors.

use axum::extract::State;
use axum::Json;
use domain::Role;
use serde_json::Value;
use store::RecordedEvent;

use super::answers::EventPage;
use super::extract::{Caller, Params, LIMIT};
use super::openapi::Verb::Get;
use super::openapi::{ApiBuilder, Operation as Op, ParamSchema, QueryParam};
use super::AppState;
use crate::error::ApiError;

/// The event log route.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(LIST, list)
}

/// An event in the contract's envelope shape, with its `hash` (the envelope without `hash` is
/// what the hash covers).
pub fn event_json(record: &RecordedEvent) -> Value {
    let mut envelope = store::chain::envelope(record);
    envelope["hash"] = Value::String(record.hash.clone());
    envelope
}

/// The operation [`list`] serves.
const LIST: Op = Op::new(
    Get,
    "/events",
    "The event log in global order (admin, auditor)",
    200,
)
.query(&[AFTER, LIMIT, STREAM])
.answers::<EventPage>();

/// `after`: positions greater than this.
const AFTER: QueryParam = QueryParam::new(
    "after",
    ParamSchema::Integer {
        min: 0,
        max: u64::MAX,
    },
    "Only events at positions greater than this (default 0); the previous page's `next_cursor`",
);

/// `stream`: one stream's events.
const STREAM: QueryParam = QueryParam::new(
    "stream",
    ParamSchema::Text,
    "Only this stream's events, e.g. `conversation-<uuid>`",
);

/// `GET /v1/events?after=&limit=&stream=`: positions greater than `after`, oldest first.
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Params,
) -> Result<Json<EventPage>, ApiError> {
    if !matches!(principal.role(), Role::Admin | Role::Auditor) {
        return Err(ApiError::forbidden(
            "only admins and auditors read the event log",
        ));
    }
    let after = params.parse::<u64>("after")?.unwrap_or(0);
    params.await_min_position(&state).await?;
    let limit = params.limit()?;
    let stream = params.text("stream");
    let records = state
        .commands
        .store()
        .read_all(after, limit as usize, stream)
        .await?;
    let next_cursor = (records.len() == limit as usize)
        .then(|| records.last().map(|r| r.position.to_string()))
        .flatten();
    let items: Vec<Value> = records.iter().map(event_json).collect();
    Ok(Json(EventPage { items, next_cursor }))
}
