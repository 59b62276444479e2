//! The fields of the quiet-hours setting as an admin writes it (start, end, time zone and the
//! channels held), filled from the current setting or from what was typed, the API body they
//! become, and the API's refusal shown beside the field it names.

use chrono_tz::{Tz, TZ_VARIANTS};
use maud::{html, Markup};
use serde_json::{json, Value};

use crate::api::{Failure, QuietHours};
use crate::clock;
use crate::page;
use crate::session::FormData;

/// The channels whose scheduled messages quiet hours can hold (a call log is never sent).
pub const HELD_CHANNELS: [&str; 4] = ["sms", "email", "portal", "whatsapp"];
/// The start of each channel checkbox's field name (`channel-sms`).
const CHANNEL_PREFIX: &str = "channel-";
/// The fields the API's refusals name, as the form calls them.
const FIELDS: [&str; 4] = ["time_zone", "start", "end", "channels"];

/// The setting as the form holds it.
#[derive(Debug, Default, Clone)]
pub struct QuietHoursDraft {
    start: String,
    end: String,
    time_zone: String,
    channels: Vec<String>,
}

impl QuietHoursDraft {
    /// The current setting; while none is set (or it is off) the times are empty and the zone
    /// is the clinic's.
    pub fn of(setting: &QuietHours, clinic_zone: Tz) -> Self {
        let on = is_on(setting);
        QuietHoursDraft {
            start: on
                .then(|| setting.start.clone())
                .flatten()
                .unwrap_or_default(),
            end: on
                .then(|| setting.end.clone())
                .flatten()
                .unwrap_or_default(),
            time_zone: setting
                .time_zone
                .clone()
                .unwrap_or_else(|| clinic_zone.name().to_owned()),
            channels: setting.channels.clone(),
        }
    }

    /// What a submitted form typed.
    pub fn from_form(form: &FormData) -> Self {
        QuietHoursDraft {
            start: form.text("start").to_owned(),
            end: form.text("end").to_owned(),
            time_zone: form.text("time_zone").to_owned(),
            channels: HELD_CHANNELS
                .into_iter()
                .filter(|channel| {
                    form.optional(&format!("{CHANNEL_PREFIX}{channel}"))
                        .is_some()
                })
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The body of `PUT /v1/settings/quiet-hours`: a time the browser sent with seconds is
    /// sent as `HH:MM`; anything else as typed, for the API to judge.
    pub fn body(&self) -> Value {
        json!({
            "start": hh_mm(&self.start),
            "end": hh_mm(&self.end),
            "time_zone": self.time_zone.trim(),
            "channels": self.channels,
        })
    }

    /// The form's fields, the API's `failure` (if any) beside the field it names.
    pub fn fields(&self, failure: Option<&Failure>) -> Markup {
        let named = failure.and_then(field_of);
        let error = |field: &str| failure.filter(|_| named == Some(field));
        html! {
            @if let (Some(failure), None) = (failure, named) { (page::alert(failure)) }
            div.row-fields.pair {
                (time_field("start", "Start", &self.start, error("start")))
                (time_field("end", "End", &self.end, error("end")))
            }
            div.field {
                label for="qh-time_zone" { "Time zone" }
                input id="qh-time_zone" type="text" name="time_zone" list="qh-zones" required
                    value=(self.time_zone) autocomplete="off" spellcheck="false"
                    aria-invalid=[error("time_zone").map(|_| "true")]
                    aria-describedby={ "qh-time_zone-hint" @if error("time_zone").is_some() { " qh-time_zone-error" } };
                datalist id="qh-zones" {
                    @for zone in TZ_VARIANTS { option value=(zone.name()) {} }
                }
                small.hint id="qh-time_zone-hint" {
                    "An IANA name such as Europe/Berlin. Quiet hours are judged in a patient's own "
                    "time zone when their record has one, else in this one."
                }
                (field_error("time_zone", error("time_zone")))
            }
            fieldset.held-channels aria-describedby=[error("channels").map(|_| "qh-channels-error")] {
                legend { "Channels held" }
                div.channel-list {
                    @for channel in HELD_CHANNELS {
                        @let id = format!("qh-channel-{channel}");
                        div.field.check {
                            input id=(id) type="checkbox" name={ (CHANNEL_PREFIX) (channel) } value="1"
                                checked[self.channels.iter().any(|c| c == channel)];
                            label for=(id) { (page::channel_label(channel)) }
                        }
                    }
                }
                (field_error("channels", error("channels")))
            }
        }
    }
}

/// Whether a setting holds anything: set, with a window (a start equal to the end is none).
pub fn is_on(setting: &QuietHours) -> bool {
    matches!((&setting.start, &setting.end), (Some(start), Some(end)) if start != end)
}

/// `raw` as `HH:MM` when it is a time of day, else as typed.
fn hh_mm(raw: &str) -> String {
    clock::parse_time(raw).map_or_else(
        || raw.trim().to_owned(),
        |time| time.format("%H:%M").to_string(),
    )
}

/// The form field an API refusal names: its message starts with the field's name.
fn field_of(failure: &Failure) -> Option<&'static str> {
    if failure.code != "invalid_request" {
        return None;
    }
    FIELDS.into_iter().find(|field| {
        failure
            .message
            .strip_prefix(field)
            .is_some_and(|rest| rest.starts_with([' ', ':']))
    })
}

/// A required `HH:MM` input with its refusal, if any.
fn time_field(name: &str, label: &str, value: &str, failure: Option<&Failure>) -> Markup {
    let id = format!("qh-{name}");
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) type="time" name=(name) value=(value) required
                aria-invalid=[failure.map(|_| "true")]
                aria-describedby=[failure.map(|_| format!("{id}-error"))];
            (field_error(name, failure))
        }
    }
}

/// The refusal of field `name`, beside it.
fn field_error(name: &str, failure: Option<&Failure>) -> Markup {
    html! {
        @if let Some(failure) = failure {
            p.field-error id={ "qh-" (name) "-error" } role="alert" { (failure.message) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn refused(message: &str) -> Failure {
        Failure::local(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    #[test]
    fn refusals_go_beside_the_field_they_name() {
        let named = |message: &str| field_of(&refused(message));
        assert_eq!(
            named("time_zone must be an IANA time zone name such as `Europe/Berlin`, not `x`"),
            Some("time_zone")
        );
        assert_eq!(named("start must be a time of day as HH:MM"), Some("start"));
        assert_eq!(named("end must be a time of day as HH:MM"), Some("end"));
        assert_eq!(
            named("channels: `call` cannot be held, call logs are never sent"),
            Some("channels")
        );
        assert_eq!(named("unknown field `colour`"), None);
        assert_eq!(named("ending soon"), None);
    }

    #[test]
    fn the_body_sends_times_as_hh_mm_and_the_ticked_channels() {
        let form = FormData::with_fields([
            ("start", "22:00:00"),
            ("end", "07:00"),
            ("time_zone", " Europe/Berlin "),
            ("channel-sms", "1"),
            ("channel-whatsapp", "1"),
            ("channel-call", "1"),
        ]);
        assert_eq!(
            QuietHoursDraft::from_form(&form).body(),
            json!({
                "start": "22:00",
                "end": "07:00",
                "time_zone": "Europe/Berlin",
                "channels": ["sms", "whatsapp"],
            })
        );
        let bad = FormData::with_fields([("start", "late"), ("end", "")]);
        let body = QuietHoursDraft::from_form(&bad).body();
        assert_eq!(body["start"], "late");
        assert_eq!(body["channels"], json!([]));
    }

    #[test]
    fn a_window_of_no_length_is_off() {
        let setting = |start: Option<&str>, end: Option<&str>| QuietHours {
            start: start.map(str::to_owned),
            end: end.map(str::to_owned),
            ..QuietHours::default()
        };
        assert!(is_on(&setting(Some("22:00"), Some("07:00"))));
        assert!(!is_on(&setting(Some("22:00"), Some("22:00"))));
        assert!(!is_on(&setting(None, None)));
    }
}
