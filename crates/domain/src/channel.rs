//! Channels, directions, and the per-channel limits on message text.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::names::UnknownName;

/// How a message travels between the clinic and the patient.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Text message through the SMS gateway.
    Sms,
    /// E-mail through SMTP.
    Email,
    /// Inside the platform's patient portal.
    Portal,
    /// WhatsApp Cloud API.
    Whatsapp,
    /// A phone call, recorded as a log entry; never sent.
    Call,
}

impl Channel {
    /// All channels, in declaration order.
    pub const ALL: [Channel; 5] = [
        Channel::Sms,
        Channel::Email,
        Channel::Portal,
        Channel::Whatsapp,
        Channel::Call,
    ];

    /// The wire name of the channel.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Portal => "portal",
            Channel::Whatsapp => "whatsapp",
            Channel::Call => "call",
        }
    }

    /// Whether messages on this channel leave the platform through a provider.
    pub fn is_external(self) -> bool {
        matches!(self, Channel::Sms | Channel::Email | Channel::Whatsapp)
    }

    /// The longest message text the channel carries, in characters.
    pub fn max_body_chars(self) -> usize {
        match self {
            Channel::Sms => 1_600,
            Channel::Whatsapp => 4_096,
            Channel::Email | Channel::Portal => 50_000,
            Channel::Call => 10_000,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|channel| channel.as_str() == s)
            .ok_or_else(|| UnknownName::new("channel", s))
    }
}

/// Which way a message went: `inbound` from the patient, `outbound` from the clinic.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the patient to the clinic.
    Inbound,
    /// From the clinic to the patient.
    Outbound,
}

impl Direction {
    /// The wire name of the direction.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

impl FromStr for Direction {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "inbound" => Ok(Direction::Inbound),
            "outbound" => Ok(Direction::Outbound),
            other => Err(UnknownName::new("direction", other)),
        }
    }
}

/// The encoding an SMS body needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SmsEncoding {
    /// The GSM 03.38 7-bit alphabet: 160 septets in one part, 153 per part when split.
    Gsm7,
    /// UCS-2 for anything else: 70 code units in one part, 67 per part when split.
    Ucs2,
}

/// How an SMS body is encoded and how many parts it is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SmsSegments {
    /// The encoding the body needs.
    pub encoding: SmsEncoding,
    /// Number of parts (1 for an empty body).
    pub segments: u32,
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENDED: &str = "^{}\\[~]|€\u{000C}";

/// Septets a character takes in GSM-7, or `None` when it needs UCS-2.
fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENDED.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Counts the parts of an SMS body, packing units into parts without splitting
/// an escaped GSM-7 character or a UTF-16 surrogate pair across two parts.
pub fn sms_segments(body: &str) -> SmsSegments {
    let gsm_units: Option<Vec<usize>> = body.chars().map(gsm7_septets).collect();
    let (encoding, units, single, multi) = match gsm_units {
        Some(units) => (SmsEncoding::Gsm7, units, 160, 153),
        None => (
            SmsEncoding::Ucs2,
            body.chars().map(char::len_utf16).collect(),
            70,
            67,
        ),
    };
    let total: usize = units.iter().sum();
    let segments = if total <= single {
        1
    } else {
        let mut parts = 1;
        let mut used = 0;
        for unit in units {
            if used + unit > multi {
                parts += 1;
                used = 0;
            }
            used += unit;
        }
        parts
    };
    SmsSegments { encoding, segments }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_bodies_use_160_then_153() {
        assert_eq!(sms_segments("").segments, 1);
        assert_eq!(sms_segments(&"a".repeat(160)).segments, 1);
        assert_eq!(sms_segments(&"a".repeat(161)).segments, 2);
        assert_eq!(sms_segments(&"a".repeat(306)).segments, 2);
        assert_eq!(sms_segments(&"a".repeat(307)).segments, 3);
        assert_eq!(sms_segments("hello").encoding, SmsEncoding::Gsm7);
    }

    #[test]
    fn extended_characters_take_two_septets() {
        assert_eq!(sms_segments(&"€".repeat(80)).segments, 1);
        assert_eq!(sms_segments(&"€".repeat(81)).segments, 2);
        // 152 plain septets then an escaped one does not fit into the first part of 153.
        let body = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(sms_segments(&body).segments, 2);
    }

    #[test]
    fn ucs2_bodies_use_70_then_67() {
        assert_eq!(sms_segments(&"ж".repeat(70)).encoding, SmsEncoding::Ucs2);
        assert_eq!(sms_segments(&"ж".repeat(70)).segments, 1);
        assert_eq!(sms_segments(&"ж".repeat(71)).segments, 2);
        assert_eq!(sms_segments(&"ж".repeat(134)).segments, 2);
        assert_eq!(sms_segments(&"ж".repeat(135)).segments, 3);
        // An emoji is a surrogate pair: 35 fit in one part.
        assert_eq!(sms_segments(&"😀".repeat(35)).segments, 1);
        assert_eq!(sms_segments(&"😀".repeat(36)).segments, 2);
    }
}
