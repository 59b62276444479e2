//! Strict parsing of the setting's wire values (`HH:MM`, IANA zone names) and their serde
//! forms, so an event carries exactly what the API shows.

use chrono::NaiveTime;
use chrono_tz::Tz;

use crate::error::DomainError;

/// Parses `HH:MM` (two digits each, 00:00 to 23:59); anything else is refused naming `field`.
pub fn parse_clock(field: &str, text: &str) -> Result<NaiveTime, DomainError> {
    let refuse = || {
        DomainError::invalid(format!(
            "{field} must be a time of day as HH:MM (00:00 to 23:59), not `{}`",
            text.chars().take(20).collect::<String>()
        ))
    };
    let bytes = text.as_bytes();
    let digits = [0, 1, 3, 4];
    if bytes.len() != 5 || bytes[2] != b':' || digits.iter().any(|&i| !bytes[i].is_ascii_digit()) {
        return Err(refuse());
    }
    let number = |i: usize| u32::from(bytes[i] - b'0') * 10 + u32::from(bytes[i + 1] - b'0');
    NaiveTime::from_hms_opt(number(0), number(3), 0).ok_or_else(refuse)
}

/// Parses an IANA time zone name (as the tz database spells it, e.g. `Europe/Berlin`).
pub fn parse_time_zone(field: &str, name: &str) -> Result<Tz, DomainError> {
    name.parse::<Tz>().map_err(|_| {
        DomainError::invalid(format!(
            "{field} must be an IANA time zone name such as `Europe/Berlin`, not `{}`",
            name.chars().take(64).collect::<String>()
        ))
    })
}

/// Serde form of a time of day as `HH:MM`.
pub(crate) mod hhmm {
    use chrono::NaiveTime;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Writes `HH:MM`.
    pub fn serialize<S: Serializer>(time: &NaiveTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&time.format("%H:%M"))
    }

    /// Reads `HH:MM` strictly.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_clock("time", &text).map_err(D::Error::custom)
    }
}

/// Serde form of a time zone as its IANA name.
pub(crate) mod iana {
    use chrono_tz::Tz;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Writes the zone's name.
    pub fn serialize<S: Serializer>(zone: &Tz, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(zone.name())
    }

    /// Reads a zone name.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(deserializer)?;
        super::parse_time_zone("time_zone", &name).map_err(D::Error::custom)
    }
}

/// Serde form of an optional time zone as its IANA name or `null` (absent reads as `null`).
pub(crate) mod iana_opt {
    use chrono_tz::Tz;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Writes the zone's name, or `null`.
    pub fn serialize<S: Serializer>(zone: &Option<Tz>, serializer: S) -> Result<S::Ok, S::Error> {
        match zone {
            Some(zone) => serializer.serialize_str(zone.name()),
            None => serializer.serialize_none(),
        }
    }

    /// Reads a zone name or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Tz>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|name| super::parse_time_zone("time_zone", &name).map_err(D::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_are_parsed_strictly() {
        assert_eq!(
            parse_clock("start", "07:05").unwrap(),
            NaiveTime::from_hms_opt(7, 5, 0).unwrap()
        );
        assert_eq!(
            parse_clock("end", "23:59").unwrap(),
            NaiveTime::from_hms_opt(23, 59, 0).unwrap()
        );
        for bad in [
            "", "7:05", "07:5", "24:00", "12:60", "07:05:00", "07-05", "0a:00", " 07:05", "０7:05",
            "07:05 ",
        ] {
            let error = parse_clock("start", bad).unwrap_err();
            assert!(error.to_string().starts_with("start "), "{bad}: {error}");
        }
    }

    #[test]
    fn zones_are_iana_names() {
        assert_eq!(
            parse_time_zone("time_zone", "Europe/Berlin").unwrap(),
            Tz::Europe__Berlin
        );
        for bad in ["", "Mars/Olympus", "europe/berlin", "CEST"] {
            assert!(parse_time_zone("time_zone", bad).is_err(), "{bad}");
        }
    }
}
