//! "Send later" on the staff message forms: an optional date and time typed in the clinic's
//! time zone, read as the instant the message is scheduled for (the API's `send_at`), with the
//! call form's rules for the days the clocks change.

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use maud::{html, Markup};
use serde_json::{json, Value};

use super::api::Failure;
use super::clock;
use super::session::FormData;

/// The form field of the date.
pub const DATE_FIELD: &str = "send_date";
/// The form field of the time of day.
pub const TIME_FIELD: &str = "send_time";

/// The "Send later" date and time, their ids starting with `prefix`, the time labelled with the
/// clinic's `zone`; `date` and `time` are what was typed.
pub fn fields(prefix: &str, zone: Tz, date: &str, time: &str) -> Markup {
    let id = |name: &str| format!("{prefix}-{name}");
    html! {
        fieldset.send-later {
            legend { "Send later" span.hint.inline { " (optional)" } }
            div.row-fields.pair {
                div.field {
                    label for=(id("send-date")) { "Date" }
                    input id=(id("send-date")) type="date" name=(DATE_FIELD) value=(date)
                        aria-describedby=(id("send-later-hint"));
                }
                div.field {
                    label for=(id("send-time")) { "Time (" (zone.name()) ")" }
                    input id=(id("send-time")) type="time" name=(TIME_FIELD) value=(time)
                        aria-describedby=(id("send-later-hint"));
                }
            }
            small.hint id=(id("send-later-hint")) {
                "Leave both empty to send now. A message sent later waits in the conversation's "
                "Scheduled list, where it can be cancelled until its time."
            }
        }
    }
}

/// When the form asks for the message to be sent: `None` for now (both fields empty), else the
/// instant the date and time name in `zone` (the earlier one when the clocks went back). A
/// half-filled pair, a malformed value or a time the clocks skipped is refused naming the field.
pub fn send_at(form: &FormData, zone: Tz) -> Result<Option<DateTime<Utc>>, Failure> {
    let invalid =
        |message: String| Failure::local(StatusCode::BAD_REQUEST, "invalid_request", message);
    let (date, time) = match (form.optional(DATE_FIELD), form.optional(TIME_FIELD)) {
        (None, None) => return Ok(None),
        (Some(date), Some(time)) => (date, time),
        (None, Some(_)) => {
            return Err(invalid(
                "Send later: enter the date too, or clear the time to send now.".to_owned(),
            ))
        }
        (Some(_), None) => {
            return Err(invalid(
                "Send later: enter the time too, or clear the date to send now.".to_owned(),
            ))
        }
    };
    let date = clock::parse_date(date)
        .ok_or_else(|| invalid("Send later: the date must be a day such as 2026-12-05.".into()))?;
    let time = clock::parse_time(time).ok_or_else(|| {
        invalid("Send later: the time must be a time of day such as 09:30.".into())
    })?;
    clock::to_utc(date, time, zone).map(Some).ok_or_else(|| {
        invalid(format!(
            "{} Pick another time.",
            clock::skipped("Send later time", date, time, zone)
        ))
    })
}

/// `{send_at}` for the API when the message is scheduled, else an empty object.
pub fn api_field(send_at: Option<DateTime<Utc>>) -> Value {
    match send_at {
        Some(at) => json!({ "send_at": at.to_rfc3339_opts(SecondsFormat::Secs, true) }),
        None => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;

    fn form(date: &str, time: &str) -> FormData {
        FormData::with_fields([(DATE_FIELD, date), (TIME_FIELD, time)])
    }

    fn read(date: &str, time: &str) -> Result<Option<String>, String> {
        send_at(&form(date, time), New_York)
            .map(|at| at.map(|at| at.to_rfc3339()))
            .map_err(|failure| failure.message)
    }

    #[test]
    fn both_empty_is_now() {
        assert_eq!(read("", " "), Ok(None));
    }

    #[test]
    fn a_local_time_becomes_the_instant_in_the_clinics_zone() {
        assert_eq!(
            read("2026-12-05", "09:30"),
            Ok(Some("2026-12-05T14:30:00+00:00".to_owned()))
        );
        // Fall back: 01:30 happened twice; the earlier (EDT) is meant.
        assert_eq!(
            read("2026-11-01", "01:30"),
            Ok(Some("2026-11-01T05:30:00+00:00".to_owned()))
        );
    }

    #[test]
    fn half_filled_malformed_and_skipped_times_are_refused_naming_the_field() {
        for (date, time, says) in [
            ("2026-12-05", "", "enter the time too"),
            ("", "09:30", "enter the date too"),
            ("5/12/2026", "09:30", "the date must be"),
            ("2026-12-05", "9.30pm", "the time must be"),
            (
                "2026-03-08",
                "02:30",
                "Send later time (America/New_York): 02:30 on 2026-03-08 does not exist",
            ),
        ] {
            let refused = read(date, time).unwrap_err();
            assert!(refused.contains(says), "{date} {time}: {refused}");
        }
    }

    #[test]
    fn the_api_gets_utc_with_a_z() {
        let at = DateTime::parse_from_rfc3339("2026-12-05T14:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            api_field(Some(at)),
            json!({ "send_at": "2026-12-05T14:30:00Z" })
        );
        assert_eq!(api_field(None), json!({}));
    }
}
