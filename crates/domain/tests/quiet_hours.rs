//! Quiet hours of contract section 8, as plain values: when a scheduled message falls due
//! inside them it is released when they end, judged in the patient's time zone, across
//! midnight and daylight-saving changes; and the admin's `SetQuietHours` decision.

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use common::*;
use domain::command::{Context, SetQuietHours};
use domain::event::QuietHoursSet;
use domain::quiet_hours::{QuietHours, QuietHoursSetting};
use domain::{Aggregate, Channel, DomainError, Event, PatientId, Principal, Role};
use proptest::prelude::*;
use uuid::Uuid;

const BERLIN: Tz = Tz::Europe__Berlin;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn clock(text: &str) -> NaiveTime {
    NaiveTime::parse_from_str(text, "%H:%M").unwrap()
}

/// Quiet hours from `start` to `end` in `zone`, holding SMS and WhatsApp.
fn window(start: &str, end: &str, zone: Tz) -> QuietHours {
    QuietHours {
        start: clock(start),
        end: clock(end),
        time_zone: zone,
        channels: BTreeSet::from([Channel::Sms, Channel::Whatsapp]),
    }
}

/// `(due, expected release)` pairs for an SMS to a patient without a time zone.
fn assert_releases(quiet: &QuietHours, cases: &[(DateTime<Utc>, DateTime<Utc>)]) {
    for &(due, expected) in cases {
        assert_eq!(
            quiet.release_at(due, Channel::Sms, None),
            expected,
            "due {due} ({} local)",
            due.with_timezone(&quiet.time_zone)
        );
    }
}

#[test]
fn a_window_spanning_midnight_holds_until_the_morning() {
    // Given 22:00–07:00 in Berlin (CEST, UTC+2, in June)
    let quiet = window("22:00", "07:00", BERLIN);
    assert_releases(
        &quiet,
        &[
            // 23:30 local: held until 07:00 the next morning.
            (utc(2026, 6, 1, 21, 30), utc(2026, 6, 2, 5, 0)),
            // 03:00 local: held until 07:00 the same morning.
            (utc(2026, 6, 2, 1, 0), utc(2026, 6, 2, 5, 0)),
            // The start is inside, the end is not.
            (utc(2026, 6, 1, 20, 0), utc(2026, 6, 2, 5, 0)),
            (utc(2026, 6, 2, 5, 0), utc(2026, 6, 2, 5, 0)),
            // Daytime: not held.
            (utc(2026, 6, 1, 19, 59), utc(2026, 6, 1, 19, 59)),
            (utc(2026, 6, 1, 10, 0), utc(2026, 6, 1, 10, 0)),
        ],
    );
}

#[test]
fn a_window_within_one_day() {
    let quiet = window("12:00", "14:00", BERLIN);
    assert_releases(
        &quiet,
        &[
            (utc(2026, 6, 1, 10, 30), utc(2026, 6, 1, 12, 0)),
            (utc(2026, 6, 1, 9, 59), utc(2026, 6, 1, 9, 59)),
            (utc(2026, 6, 1, 12, 0), utc(2026, 6, 1, 12, 0)),
        ],
    );
}

#[test]
fn start_equal_to_end_is_no_window() {
    let quiet = window("07:00", "07:00", BERLIN);
    for hour in 0..24 {
        let due = utc(2026, 6, 1, hour, 0);
        assert_eq!(quiet.release_at(due, Channel::Sms, None), due);
    }
}

#[test]
fn unlisted_channels_are_never_held() {
    let quiet = window("22:00", "07:00", BERLIN);
    let night = utc(2026, 6, 1, 23, 0);
    for channel in [Channel::Email, Channel::Portal] {
        assert_eq!(quiet.release_at(night, channel, None), night, "{channel}");
    }
    assert_eq!(
        quiet.release_at(night, Channel::Whatsapp, None),
        utc(2026, 6, 2, 5, 0)
    );
}

#[test]
fn a_patient_in_another_zone_is_judged_in_its_own_zone() {
    // Given the clinic's 22:00–07:00 in Berlin and a patient in New York (EDT, UTC−4)
    let quiet = window("22:00", "07:00", BERLIN);
    let new_york = Some(Tz::America__New_York);
    // 22:30 in Berlin is 16:30 in New York: not held for that patient.
    let due = utc(2026, 6, 1, 20, 30);
    assert_eq!(
        quiet.release_at(due, Channel::Sms, None),
        utc(2026, 6, 2, 5, 0)
    );
    assert_eq!(quiet.release_at(due, Channel::Sms, new_york), due);
    // 06:00 in Berlin is midnight in New York: held until 07:00 there.
    let due = utc(2026, 6, 2, 4, 0);
    assert_eq!(
        quiet.release_at(due, Channel::Sms, None),
        utc(2026, 6, 2, 5, 0)
    );
    assert_eq!(
        quiet.release_at(due, Channel::Sms, new_york),
        utc(2026, 6, 2, 11, 0)
    );
    // Tokyo (UTC+9): 23:00 there is held until 07:00 there, 22:00 UTC the same day.
    assert_eq!(
        quiet.release_at(utc(2026, 6, 1, 14, 0), Channel::Sms, Some(Tz::Asia__Tokyo)),
        utc(2026, 6, 1, 22, 0)
    );
}

#[test]
fn spring_forward_day_in_berlin() {
    // On 2026-03-29 Berlin's clocks jump from 02:00 CET to 03:00 CEST (01:00 UTC): 07:00
    // that morning is 05:00 UTC, not 06:00.
    let quiet = window("22:00", "07:00", BERLIN);
    assert_releases(
        &quiet,
        &[
            (utc(2026, 3, 28, 22, 0), utc(2026, 3, 29, 5, 0)),
            (utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 5, 0)),
            (utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 5, 0)),
        ],
    );
}

#[test]
fn an_end_in_the_spring_forward_gap_releases_at_the_first_valid_instant_after_it() {
    // 02:30 does not exist in Berlin on 2026-03-29: the release is 03:00 CEST (01:00 UTC).
    let quiet = window("22:00", "02:30", BERLIN);
    assert_releases(
        &quiet,
        &[
            // 23:00 CET the evening before.
            (utc(2026, 3, 28, 22, 0), utc(2026, 3, 29, 1, 0)),
            // 01:59 CET, a minute before the jump.
            (utc(2026, 3, 29, 0, 59), utc(2026, 3, 29, 1, 0)),
            // 03:00 CEST is after the window.
            (utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 0)),
        ],
    );
}

#[test]
fn fall_back_day_in_berlin() {
    // On 2026-10-25 the clocks go back from 03:00 CEST to 02:00 CET (01:00 UTC): 07:00 that
    // morning is 06:00 UTC.
    let quiet = window("22:00", "07:00", BERLIN);
    assert_releases(
        &quiet,
        &[
            (utc(2026, 10, 24, 20, 30), utc(2026, 10, 25, 6, 0)),
            (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 6, 0)),
            (utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 6, 0)),
        ],
    );
}

#[test]
fn an_end_that_shows_twice_releases_at_its_first_showing_after_due() {
    // 02:30 shows twice in Berlin on 2026-10-25: 02:30 CEST (00:30 UTC) and 02:30 CET (01:30 UTC).
    let quiet = window("22:00", "02:30", BERLIN);
    assert_releases(
        &quiet,
        &[
            // 23:00 CEST the evening before: the first showing.
            (utc(2026, 10, 24, 21, 0), utc(2026, 10, 25, 0, 30)),
            // 02:10 CEST: the first showing.
            (utc(2026, 10, 25, 0, 10), utc(2026, 10, 25, 0, 30)),
            // 02:45 CEST: after the window.
            (utc(2026, 10, 25, 0, 45), utc(2026, 10, 25, 0, 45)),
            // 02:10 CET, in the repeated hour: the second showing.
            (utc(2026, 10, 25, 1, 10), utc(2026, 10, 25, 1, 30)),
        ],
    );
}

fn zone() -> impl Strategy<Value = Tz> {
    prop_oneof![
        Just(Tz::Europe__Berlin),
        Just(Tz::America__New_York),
        Just(Tz::Asia__Kolkata),
        Just(Tz::Australia__Lord_Howe),
        Just(Tz::Pacific__Apia),
        Just(Tz::UTC),
    ]
}

proptest! {
    #[test]
    fn a_release_is_never_before_due_and_ends_the_window(
        start in 0u32..1440,
        end in 0u32..1440,
        setting_zone in zone(),
        patient_zone in prop::option::of(zone()),
        // Any instant of 2025 and 2026.
        offset in 0i64..(2 * 365 * 86_400),
        held in any::<bool>(),
    ) {
        let time = |m: u32| NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap();
        let quiet = QuietHours {
            start: time(start),
            end: time(end),
            time_zone: setting_zone,
            channels: BTreeSet::from([Channel::Sms]),
        };
        let due = utc(2025, 1, 1, 0, 0) + chrono::Duration::seconds(offset);
        let channel = if held { Channel::Sms } else { Channel::Email };
        let release = quiet.release_at(due, channel, patient_zone);
        let judged = patient_zone.unwrap_or(setting_zone);
        let inside = held && quiet.contains(due.with_timezone(&judged).time());
        prop_assert!(release >= due);
        prop_assert!(release - due <= chrono::Duration::hours(25));
        prop_assert_eq!(release > due, inside);
        if inside {
            let local = release.with_timezone(&judged);
            let end_exists = judged
                .from_local_datetime(&local.date_naive().and_time(quiet.end))
                .earliest()
                .is_some();
            prop_assert!(local.time() == quiet.end || !end_exists, "released at {}", local);
        }
    }
}

// ---------------------------------------------------------------- the setting

fn set(start: &str, end: &str, zone: &str, channels: &[Channel]) -> SetQuietHours {
    SetQuietHours {
        start: start.into(),
        end: end.into(),
        time_zone: zone.into(),
        channels: channels.to_vec(),
    }
}

fn decide(
    state: &QuietHoursSetting,
    principal: &Principal,
    command: &SetQuietHours,
) -> Result<Vec<Event>, DomainError> {
    state.decide(
        command,
        &Context {
            principal,
            now: now(),
        },
    )
}

#[test]
fn admins_set_quiet_hours_on_their_own_stream() {
    // Given no quiet hours (the default); when an admin sets them
    let command = set(
        "22:00",
        "07:00",
        "Europe/Berlin",
        &[Channel::Whatsapp, Channel::Sms, Channel::Sms],
    );
    let events = decide(&QuietHoursSetting::default(), &staff(Role::Admin), &command).unwrap();
    // Then one QuietHoursSet holds them, parsed, with the channels as a set.
    let expected = window("22:00", "07:00", BERLIN);
    assert_eq!(
        events,
        vec![Event::QuietHoursSet(QuietHoursSet {
            quiet_hours: expected.clone()
        })]
    );
    assert_eq!(events[0].stream(), "settings-quiet-hours");
    assert_eq!(
        events[0].data(),
        serde_json::json!({
            "start": "22:00",
            "end": "07:00",
            "time_zone": "Europe/Berlin",
            "channels": ["sms", "whatsapp"],
        })
    );
    assert_eq!(
        Event::from_parts("QuietHoursSet", events[0].data()).unwrap(),
        events[0]
    );
    let setting = QuietHoursSetting::fold(&events);
    assert_eq!(setting.0, Some(expected));
    // The same setting again changes nothing; another replaces it.
    assert_eq!(decide(&setting, &staff(Role::Admin), &command), Ok(vec![]));
    let later = set("21:00", "07:00", "Europe/Berlin", &[Channel::Sms]);
    assert_eq!(
        decide(&setting, &staff(Role::Admin), &later).unwrap().len(),
        1
    );
}

#[test]
fn only_admins_set_quiet_hours() {
    let command = set("22:00", "07:00", "Europe/Berlin", &[Channel::Sms]);
    for principal in [
        staff(Role::Receptionist),
        staff(Role::Doctor),
        staff(Role::Auditor),
        patient_principal(PatientId(Uuid::new_v4())),
    ] {
        assert_eq!(
            decide(&QuietHoursSetting::default(), &principal, &command).map_err(|e| e.code()),
            Err("forbidden"),
            "{}",
            principal.role()
        );
    }
    assert_eq!(
        decide(
            &QuietHoursSetting::default(),
            &staff_without_permission(Role::Admin),
            &command
        )
        .map_err(|e| e.code()),
        Err("missing_permission")
    );
}

#[test]
fn settings_are_parsed_strictly_and_refusals_name_the_field() {
    for (command, field) in [
        (
            set("7:00", "07:00", "Europe/Berlin", &[Channel::Sms]),
            "start ",
        ),
        (
            set("22:00", "24:00", "Europe/Berlin", &[Channel::Sms]),
            "end ",
        ),
        (
            set("22:00", "07:00:00", "Europe/Berlin", &[Channel::Sms]),
            "end ",
        ),
        (
            set("22:00", "07:00", "Berlin", &[Channel::Sms]),
            "time_zone ",
        ),
        (
            set("22:00", "07:00", "europe/berlin", &[Channel::Sms]),
            "time_zone ",
        ),
        (set("22:00", "07:00", "Europe/Berlin", &[]), "channels "),
        (
            set(
                "22:00",
                "07:00",
                "Europe/Berlin",
                &[Channel::Sms, Channel::Call],
            ),
            "channels: ",
        ),
    ] {
        match decide(&QuietHoursSetting::default(), &staff(Role::Admin), &command) {
            Err(DomainError::InvalidRequest(message)) => {
                assert!(message.starts_with(field), "{command:?}: {message}")
            }
            other => panic!("{command:?}: {other:?}"),
        }
    }
    // A recorded setting reads back only in the same strict form.
    let data = serde_json::json!({
        "start": "25:00", "end": "07:00", "time_zone": "Europe/Berlin", "channels": ["sms"],
    });
    assert!(Event::from_parts("QuietHoursSet", data).is_err());
}
