//! Reports (contract section 10): the figures of the reporting read models over the last
//! days, for admins and auditors. They carry counts and times only, never patient data.

use axum::extract::State;
use axum::Json;
use domain::Role;
use projections::ReportSummary;

use super::extract::{Caller, Params};
use super::openapi::Verb::Get;
use super::openapi::{ApiBuilder, Operation as Op, ParamSchema, QueryParam};
use super::AppState;
use crate::error::ApiError;

/// The reports route.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(SUMMARY, summary)
}

/// The most days one summary covers.
const MAX_DAYS: u32 = 366;

/// `days`: the window, in UTC days up to today.
const DAYS: QueryParam = QueryParam::new(
    "days",
    ParamSchema::Integer {
        min: 1,
        max: MAX_DAYS as u64,
    },
    "How many UTC days the figures cover, today included: 1 to 366 (default 30)",
);

/// The operation [`summary`] serves.
const SUMMARY: Op = Op::new(
    Get,
    "/reports/summary",
    "Reporting figures of the last days: first-response times, messages and delivery outcomes per channel and day, and the backlog (admin, auditor)",
    200,
)
.query(&[DAYS])
.answers::<ReportSummary>();

/// `GET /v1/reports/summary?days=`: the figures of the last `days` UTC days (30 by default).
/// `min_position` waits for the reporting projection.
pub async fn summary(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Params,
) -> Result<Json<ReportSummary>, ApiError> {
    if !matches!(principal.role(), Role::Admin | Role::Auditor) {
        return Err(ApiError::forbidden("only admins and auditors read reports"));
    }
    let days = params.parse::<u32>("days")?.unwrap_or(30);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::invalid(format!(
            "`days` must be between 1 and {MAX_DAYS}"
        )));
    }
    params.await_min_position_of_reports(&state).await?;
    let summary = state
        .read_model
        .report_summary(days, chrono::Utc::now())
        .await?;
    Ok(Json(summary))
}
