//! Times as the pages show them: in the clinic's time zone with its abbreviation on timelines
//! and detail views, relative to now in lists, and a time typed in the clinic's zone read back
//! as the instant it names. The machine-readable RFC 3339 stays in `<time datetime>`.

mod local;
mod relative;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use maud::{html, Markup};

pub use local::{parse_date, parse_time, skipped, to_utc};
pub use relative::relative;

/// The clinic's time zone and the moment a page is rendered.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    zone: Tz,
    now: DateTime<Utc>,
}

impl Clock {
    /// The clock of a page rendered now in `zone`.
    pub fn now(zone: Tz) -> Self {
        Clock {
            zone,
            now: Utc::now(),
        }
    }

    /// The clinic's time zone.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The clinic's date and time now (what a form about "now" starts with).
    pub fn local_now(&self) -> (NaiveDate, NaiveTime) {
        let local = self.now.with_timezone(&self.zone).naive_local();
        (local.date(), local.time())
    }

    /// An RFC 3339 time as `<time>`, shown in the clinic's zone: `2026-12-05 10:30 CET`.
    pub fn absolute(&self, raw: &str) -> Markup {
        html! { time datetime=(raw) { (self.zoned(raw)) } }
    }

    /// An RFC 3339 time as `<time>` for a list: how long ago, with the zoned time as its title.
    pub fn relative(&self, raw: &str) -> Markup {
        let shown =
            parse(raw).map_or_else(|| raw.to_owned(), |at| relative(at, self.now, self.zone));
        html! { time datetime=(raw) title=(self.zoned(raw)) { (shown) } }
    }

    /// An RFC 3339 time in the clinic's zone with the zone's abbreviation, as text.
    pub fn zoned(&self, raw: &str) -> String {
        parse(raw).map_or_else(
            || raw.to_owned(),
            |at| {
                at.with_timezone(&self.zone)
                    .format("%Y-%m-%d %H:%M %Z")
                    .to_string()
            },
        )
    }
}

fn parse(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Europe::Berlin};

    fn clock(zone: Tz, now: &str) -> Clock {
        Clock {
            zone,
            now: parse(now).unwrap(),
        }
    }

    #[test]
    fn timelines_show_the_zones_time_and_abbreviation() {
        let berlin = clock(Berlin, "2026-12-05T12:00:00Z");
        assert_eq!(
            berlin.absolute("2026-12-05T09:30:00Z").into_string(),
            r#"<time datetime="2026-12-05T09:30:00Z">2026-12-05 10:30 CET</time>"#
        );
        assert_eq!(
            berlin.zoned("2026-07-05T09:30:00+00:00"),
            "2026-07-05 11:30 CEST"
        );
        let new_york = clock(New_York, "2026-12-05T12:00:00Z");
        assert_eq!(
            new_york.zoned("2026-12-05T09:30:00Z"),
            "2026-12-05 04:30 EST"
        );
        assert_eq!(new_york.zoned("not a time"), "not a time");
    }

    #[test]
    fn lists_say_how_long_ago_with_the_zoned_time_as_title() {
        let berlin = clock(Berlin, "2026-12-05T12:00:00Z");
        assert_eq!(
            berlin.relative("2026-12-05T11:55:00Z").into_string(),
            r#"<time datetime="2026-12-05T11:55:00Z" title="2026-12-05 12:55 CET">5 min ago</time>"#
        );
    }

    #[test]
    fn now_is_read_on_the_clinics_clock() {
        let (date, time) = clock(New_York, "2026-12-05T02:30:00Z").local_now();
        assert_eq!(date.to_string(), "2026-12-04");
        assert_eq!(time.format("%H:%M").to_string(), "21:30");
    }
}
