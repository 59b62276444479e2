//! A wall-clock time typed in the clinic's time zone, as the instant it names.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

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
