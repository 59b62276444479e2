//! Quiet hours: automated (scheduled) messages are not released to patients at night.
//!
//! # The window
//!
//! A window is judged by the wall clock in the patient's time zone, else in the setting's:
//! a due instant whose local time `t` has `start <= t < end` is held (start included, end
//! not). With `start > end` the window spans midnight (`22:00`–`07:00` holds 23:30 until 07:00
//! the next morning and 03:00 until 07:00 the same morning). With `start == end` there is **no
//! window**: an empty window is the only reading that does not silently hold every message for
//! 24 hours, and it gives admins a way to switch quiet hours off, which the contract's `PUT`
//! otherwise lacks ("Default: none").
//!
//! # Daylight saving
//!
//! The release is the first instant, at or after the due instant, at which the local clock
//! shows `end`. On a spring-forward day an `end` inside the gap (`02:30` in Berlin on
//! 2026-03-29, when clocks jump from 02:00 to 03:00) never shows; the release is then the first
//! valid instant after the gap (03:00 local). On a fall-back day an `end` that shows twice is
//! the earlier showing, unless that is before the due instant (a message due in the repeated
//! hour waits for the second showing). Whole local minutes are stepped over the gap: every
//! transition in the tz database since 1970 falls on a whole minute, and no gap is longer than
//! a day, so the search is bounded.
//!
//! # The setting
//!
//! The clinic has one setting, decided on its own stream `settings-quiet-hours`
//! ([`QuietHoursSetting`]): each `QuietHoursSet` replaces the previous one whole, so the
//! setting is the last event of a short stream and its history is the audit of who changed it.

pub(crate) mod clock;
mod setting;

use std::collections::BTreeSet;

use chrono::{DateTime, LocalResult, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::channel::Channel;

/// The time zone type of quiet hours and patients' records (from `chrono-tz`).
pub use chrono_tz::Tz;
pub use clock::{parse_clock, parse_time_zone};
pub use setting::QuietHoursSetting;

/// How far past a nonexistent local time the search for a valid one goes (a day and an hour:
/// longer than any gap in the tz database).
const MAX_GAP_MINUTES: u32 = 25 * 60;

/// The clinic's quiet hours: when, in which zone by default, and on which channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuietHours {
    /// When the window begins, local time (`HH:MM`).
    #[serde(with = "clock::hhmm")]
    #[schemars(with = "String", pattern(r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub start: NaiveTime,
    /// When it ends, local time (`HH:MM`); before `start` it spans midnight, equal to `start`
    /// there is no window.
    #[serde(with = "clock::hhmm")]
    #[schemars(with = "String", pattern(r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub end: NaiveTime,
    /// The IANA time zone for patients without their own.
    #[serde(with = "clock::iana")]
    #[schemars(with = "String")]
    pub time_zone: Tz,
    /// The channels whose scheduled messages are held.
    pub channels: BTreeSet<Channel>,
}

impl QuietHours {
    /// Whether the local time of day `time` falls inside the window.
    pub fn contains(&self, time: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }

    /// When a scheduled message on `channel` due at `due` may be released: the end of the
    /// window when `channel` is held and `due` falls inside it (judged in
    /// `patient_time_zone`, else in the setting's zone), otherwise `due`. Never before `due`.
    pub fn release_at(
        &self,
        due: DateTime<Utc>,
        channel: Channel,
        patient_time_zone: Option<Tz>,
    ) -> DateTime<Utc> {
        if !self.channels.contains(&channel) {
            return due;
        }
        let zone = patient_time_zone.unwrap_or(self.time_zone);
        let local = due.with_timezone(&zone);
        if !self.contains(local.time()) {
            return due;
        }
        let today = local.date_naive();
        // Spanning midnight, a time at or after `start` ends tomorrow; otherwise today.
        let end_date = if self.start > self.end && local.time() >= self.start {
            match today.succ_opt() {
                Some(date) => date,
                None => return due,
            }
        } else {
            today
        };
        first_showing(zone, end_date.and_time(self.end), due)
            .map_or(due, |release| release.max(due))
    }
}

/// The first instant at or after `not_before` at which the clock of `zone` shows `local`, or
/// the first valid local minute after it when `local` falls in a gap.
fn first_showing(
    zone: Tz,
    local: NaiveDateTime,
    not_before: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut candidate = local;
    for _ in 0..=MAX_GAP_MINUTES {
        match zone.from_local_datetime(&candidate) {
            LocalResult::Single(instant) => return Some(instant.with_timezone(&Utc)),
            LocalResult::Ambiguous(earlier, later) => {
                let earlier = earlier.with_timezone(&Utc);
                return Some(if earlier >= not_before {
                    earlier
                } else {
                    later.with_timezone(&Utc)
                });
            }
            LocalResult::None => candidate = candidate.checked_add_signed(TimeDelta::minutes(1))?,
        }
    }
    None
}
