//! How long ago something happened, in words for lists: "just now", "5 min ago", "3 h ago",
//! "yesterday 14:05", then the date, all on the clinic's calendar.

use chrono::{DateTime, Days, Utc};
use chrono_tz::Tz;

/// `at` as a list shows it at `now`, on the calendar of `zone`. Minutes and hours count real
/// elapsed time (a day when the clocks change is no different); "yesterday" and dates follow
/// the clinic's calendar. A time more than a minute ahead of `now` (another node's clock) is
/// shown as its date and time.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>, zone: Tz) -> String {
    let elapsed = now.signed_duration_since(at);
    let local = at.with_timezone(&zone);
    let today = now.with_timezone(&zone).date_naive();
    if elapsed.num_seconds() < -60 {
        return local.format("%Y-%m-%d %H:%M").to_string();
    }
    if elapsed.num_seconds() < 60 {
        return "just now".to_owned();
    }
    if elapsed.num_minutes() < 60 {
        return format!("{} min ago", elapsed.num_minutes());
    }
    if local.date_naive() == today {
        return format!("{} h ago", elapsed.num_hours());
    }
    if today.checked_sub_days(Days::new(1)) == Some(local.date_naive()) {
        return local.format("yesterday %H:%M").to_string();
    }
    local.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Europe::Berlin, UTC};

    fn utc(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn seconds_are_just_now_and_minutes_count() {
        let now = utc("2026-12-05T10:30:00Z");
        assert_eq!(relative(utc("2026-12-05T10:30:00Z"), now, UTC), "just now");
        assert_eq!(relative(utc("2026-12-05T10:29:01Z"), now, UTC), "just now");
        assert_eq!(relative(utc("2026-12-05T10:29:00Z"), now, UTC), "1 min ago");
        assert_eq!(relative(utc("2026-12-05T10:25:00Z"), now, UTC), "5 min ago");
        assert_eq!(
            relative(utc("2026-12-05T09:30:01Z"), now, UTC),
            "59 min ago"
        );
    }

    #[test]
    fn hours_count_on_the_same_day_then_yesterday_then_a_date() {
        let now = utc("2026-12-05T10:30:00Z");
        assert_eq!(relative(utc("2026-12-05T07:29:00Z"), now, UTC), "3 h ago");
        assert_eq!(relative(utc("2026-12-05T00:10:00Z"), now, UTC), "10 h ago");
        assert_eq!(
            relative(utc("2026-12-04T14:05:00Z"), now, UTC),
            "yesterday 14:05"
        );
        assert_eq!(
            relative(utc("2026-12-03T23:59:00Z"), now, UTC),
            "2026-12-03"
        );
        assert_eq!(
            relative(utc("2025-12-05T10:30:00Z"), now, UTC),
            "2025-12-05"
        );
    }

    #[test]
    fn days_are_the_clinic_calendars() {
        // 02:00 UTC is 21:00 the evening before in New York.
        let now = utc("2026-12-05T15:00:00Z");
        assert_eq!(
            relative(utc("2026-12-05T02:00:00Z"), now, New_York),
            "yesterday 21:00"
        );
        assert_eq!(relative(utc("2026-12-05T02:00:00Z"), now, UTC), "13 h ago");
        // Just after midnight in Berlin, 23:50 is already yesterday, but only 20 minutes ago.
        let now = utc("2026-12-04T23:10:00Z");
        assert_eq!(
            relative(utc("2026-12-04T22:50:00Z"), now, Berlin),
            "20 min ago"
        );
        assert_eq!(
            relative(utc("2026-12-04T21:50:00Z"), now, Berlin),
            "yesterday 22:50"
        );
    }

    #[test]
    fn a_day_when_berlin_puts_its_clocks_forward() {
        // 2026-03-29: 02:00 CET becomes 03:00 CEST. 01:30 CET (00:30 UTC) to 03:30 CEST
        // (01:30 UTC) is one hour, though the clock moved two.
        let now = utc("2026-03-29T01:30:00Z");
        assert_eq!(
            relative(utc("2026-03-29T00:30:00Z"), now, Berlin),
            "1 h ago"
        );
        assert_eq!(
            relative(utc("2026-03-29T00:45:00Z"), now, Berlin),
            "45 min ago"
        );
        // The evening before, in winter time, is yesterday on the clinic's calendar.
        let noon = utc("2026-03-29T10:00:00Z");
        assert_eq!(
            relative(utc("2026-03-28T22:00:00Z"), noon, Berlin),
            "yesterday 23:00"
        );
        assert_eq!(
            relative(utc("2026-03-28T23:00:00Z"), noon, Berlin),
            "11 h ago"
        );
    }

    #[test]
    fn a_day_when_berlin_puts_its_clocks_back() {
        // 2026-10-25: 03:00 CEST becomes 02:00 CET. From 02:30 CEST (00:30 UTC) to 02:15 CET
        // (01:15 UTC) the clock went back, yet 45 minutes passed.
        let now = utc("2026-10-25T01:15:00Z");
        assert_eq!(
            relative(utc("2026-10-25T00:30:00Z"), now, Berlin),
            "45 min ago"
        );
        assert_eq!(
            relative(utc("2026-10-24T23:00:00Z"), now, Berlin),
            "2 h ago"
        );
    }

    #[test]
    fn a_time_ahead_of_the_clock_is_just_now_or_its_date_and_time() {
        let now = utc("2026-12-05T10:30:00Z");
        assert_eq!(relative(utc("2026-12-05T10:30:30Z"), now, UTC), "just now");
        assert_eq!(
            relative(utc("2026-12-05T10:35:00Z"), now, Berlin),
            "2026-12-05 11:35"
        );
    }
}
