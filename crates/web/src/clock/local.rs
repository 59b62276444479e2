//! A wall-clock time typed in the clinic's time zone, as the instant it names.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A date as a form's `<input type=date>` sends it (`YYYY-MM-DD`).
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok()
}

/// A time of day as a form's `<input type=time>` sends it (`HH:MM`, or `HH:MM:SS`).
pub fn parse_time(raw: &str) -> Option<NaiveTime> {
    let raw = raw.trim();
    NaiveTime::parse_from_str(raw, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(raw, "%H:%M:%S"))
        .ok()
}

/// Why `date` at `time` cannot be read in `zone` (the clocks skipped it), naming the form's
/// field by its `label`.
pub fn skipped(label: &str, date: NaiveDate, time: NaiveTime, zone: Tz) -> String {
    format!(
        "{label} ({zone}): {} on {date} does not exist: the clocks skipped it when they were \
         put forward.",
        time.format("%H:%M"),
        zone = zone.name()
    )
}

/// The instant `date` at `time` names in `zone`; the earlier one when the clocks went back and
/// the time happened twice; `None` when the clocks went forward over it (it never happened).
pub fn to_utc(date: NaiveDate, time: NaiveTime, zone: Tz) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&date.and_time(time)) {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(earlier, _) => Some(earlier.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Europe::Berlin, UTC};

    fn at(date: &str, time: &str, zone: Tz) -> Option<String> {
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
        let time = NaiveTime::parse_from_str(time, "%H:%M").unwrap();
        to_utc(date, time, zone).map(|t| t.to_rfc3339())
    }

    #[test]
    fn an_ordinary_time_moves_by_the_zones_offset() {
        assert_eq!(
            at("2026-12-05", "10:30", Berlin).as_deref(),
            Some("2026-12-05T09:30:00+00:00")
        );
        assert_eq!(
            at("2026-07-05", "10:30", Berlin).as_deref(),
            Some("2026-07-05T08:30:00+00:00")
        );
        assert_eq!(
            at("2026-12-05", "10:30", New_York).as_deref(),
            Some("2026-12-05T15:30:00+00:00")
        );
        assert_eq!(
            at("2026-12-05", "10:30", UTC).as_deref(),
            Some("2026-12-05T10:30:00+00:00")
        );
    }

    #[test]
    fn a_time_the_clocks_jumped_over_does_not_exist() {
        // Berlin, 2026-03-29: 02:00 CET became 03:00 CEST.
        assert_eq!(at("2026-03-29", "02:30", Berlin), None);
        assert_eq!(at("2026-03-29", "02:00", Berlin), None);
        assert_eq!(
            at("2026-03-29", "01:59", Berlin).as_deref(),
            Some("2026-03-29T00:59:00+00:00")
        );
        assert_eq!(
            at("2026-03-29", "03:00", Berlin).as_deref(),
            Some("2026-03-29T01:00:00+00:00")
        );
        // New York, 2026-03-08: 02:00 EST became 03:00 EDT.
        assert_eq!(at("2026-03-08", "02:15", New_York), None);
    }

    #[test]
    fn forms_send_dates_and_times_that_parse_and_nothing_else_does() {
        assert_eq!(
            parse_date(" 2026-12-05 ").map(|d| d.to_string()).as_deref(),
            Some("2026-12-05")
        );
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("05.12.2026"), None);
        assert_eq!(
            parse_time("09:30").map(|t| t.to_string()).as_deref(),
            Some("09:30:00")
        );
        assert_eq!(
            parse_time("09:30:15").map(|t| t.to_string()).as_deref(),
            Some("09:30:15")
        );
        assert_eq!(parse_time("24:00"), None);
        assert_eq!(parse_time("9.30 pm"), None);
        assert_eq!(parse_time(""), None);
    }

    #[test]
    fn a_skipped_time_is_named_with_its_field_and_zone() {
        let date = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        let time = NaiveTime::from_hms_opt(2, 15, 0).unwrap();
        assert_eq!(
            skipped("Time", date, time, New_York),
            "Time (America/New_York): 02:15 on 2026-03-08 does not exist: the clocks skipped \
             it when they were put forward."
        );
    }

    #[test]
    fn a_time_that_happened_twice_is_the_earlier() {
        // Berlin, 2026-10-25: 02:30 happened in summer time (00:30 UTC), then in winter time.
        assert_eq!(
            at("2026-10-25", "02:30", Berlin).as_deref(),
            Some("2026-10-25T00:30:00+00:00")
        );
        // New York, 2026-11-01: 01:30 EDT (05:30 UTC), then 01:30 EST.
        assert_eq!(
            at("2026-11-01", "01:30", New_York).as_deref(),
            Some("2026-11-01T05:30:00+00:00")
        );
    }
}
