//! Clinic settings (contract section 8): quiet hours, written by admins and read by staff.

use axum::extract::State;
use axum::Json;
use domain::command::SetQuietHours;
use domain::quiet_hours::QuietHours;
use domain::Channel;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::extract::{Admins, Caller, JsonBody, Params, Permitted};
use super::openapi::Verb::{Get, Put};
use super::openapi::{ApiBuilder, Operation as Op};
use super::patterns;
use super::staff::ensure_may_read_directory;
use super::AppState;
use crate::error::ApiError;
use commands::RequestMeta;

/// The settings routes.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(SHOW_QUIET_HOURS, show_quiet_hours)
        .route(SET_QUIET_HOURS, set_quiet_hours)
}

/// A time of day as `HH:MM`.
const CLOCK: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]$";

/// `PUT /v1/settings/quiet-hours` body.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursBody {
    /// When quiet hours begin, local time `HH:MM`.
    #[schemars(regex(pattern = CLOCK))]
    start: String,
    /// When they end, local time `HH:MM`; before `start` they span midnight, equal to `start`
    /// there are none.
    #[schemars(regex(pattern = CLOCK))]
    end: String,
    /// IANA time zone for patients without their own, e.g. `Europe/Berlin`.
    #[schemars(schema_with = "patterns::time_zone_schema")]
    time_zone: String,
    /// The channels whose scheduled messages are held: at least one, never `call`.
    #[schemars(schema_with = "held_channels_schema")]
    channels: Vec<String>,
}

/// The quiet-hours setting; every field is null (and `channels` empty) while none is set.
#[derive(Debug, Serialize, JsonSchema)]
pub struct QuietHoursAnswer {
    /// When quiet hours begin, local time `HH:MM`.
    pub start: Option<String>,
    /// When they end, local time `HH:MM`.
    pub end: Option<String>,
    /// IANA time zone for patients without their own.
    pub time_zone: Option<String>,
    /// The channels whose scheduled messages are held.
    pub channels: Vec<Channel>,
    /// Global position of the change, on a `PUT`.
    pub position: Option<u64>,
}

impl QuietHoursAnswer {
    fn new(setting: Option<&QuietHours>, position: Option<u64>) -> Self {
        QuietHoursAnswer {
            start: setting.map(|s| s.start.format("%H:%M").to_string()),
            end: setting.map(|s| s.end.format("%H:%M").to_string()),
            time_zone: setting.map(|s| s.time_zone.name().to_owned()),
            channels: setting.map_or_else(Vec::new, |s| s.channels.iter().copied().collect()),
            position,
        }
    }
}

/// The operation [`set_quiet_hours`] serves.
const SET_QUIET_HOURS: Op = Op::new(
    Put,
    "/settings/quiet-hours",
    "Set the clinic's quiet hours (admin); messages already scheduled keep their release time",
    200,
)
.json_body::<QuietHoursBody>()
.answers::<QuietHoursAnswer>();

/// Replaces the quiet-hours setting; answers it with the position of the change.
pub async fn set_quiet_hours(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<Admins>,
    JsonBody(body): JsonBody<QuietHoursBody>,
) -> Result<Json<QuietHoursAnswer>, ApiError> {
    let channels = body
        .channels
        .iter()
        .map(|name| name.parse::<Channel>())
        .collect::<Result<Vec<_>, _>>()?;
    let command = SetQuietHours {
        start: body.start,
        end: body.end,
        time_zone: body.time_zone,
        channels,
    };
    let committed = state
        .commands
        .set_quiet_hours(&principal, &RequestMeta::new(), command)
        .await?;
    let setting = state.commands.quiet_hours().await?;
    Ok(Json(QuietHoursAnswer::new(
        setting.as_ref(),
        Some(committed.position),
    )))
}

/// The operation [`show_quiet_hours`] serves.
const SHOW_QUIET_HOURS: Op = Op::new(
    Get,
    "/settings/quiet-hours",
    "The clinic's quiet hours; nulls while none are set (staff, auditor)",
    200,
)
.answers::<QuietHoursAnswer>();

/// `GET /v1/settings/quiet-hours`: the setting, from the cached aggregate.
pub async fn show_quiet_hours(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Params,
) -> Result<Json<QuietHoursAnswer>, ApiError> {
    ensure_may_read_directory(&principal)?;
    params.await_min_position(&state).await?;
    let setting = state.commands.quiet_hours().await?;
    Ok(Json(QuietHoursAnswer::new(setting.as_ref(), None)))
}

/// `channels`: one or more of the channels a message is sent on (`call` is never sent).
fn held_channels_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = Channel::ALL
        .into_iter()
        .filter(|channel| *channel != Channel::Call)
        .map(Channel::as_str)
        .collect();
    schemars::json_schema!({
        "type": "array",
        "minItems": 1,
        "items": { "type": "string", "enum": names }
    })
}
