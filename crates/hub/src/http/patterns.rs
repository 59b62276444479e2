//! JSON Schema (ECMA-262) patterns of the text rules the domain's validators enforce, for the
//! request schemas of the OpenAPI document. A test runs each pattern and its validator over the
//! same tricky inputs, so the two cannot drift apart.

/// White space as `char::is_whitespace` (and so `str::trim`) knows it, as a class body.
macro_rules! white_space {
    () => {
        r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}

/// Control characters (`char::is_control`), as a class body.
macro_rules! control {
    () => {
        r"\u0000-\u001f\u007f-\u009f"
    };
}

/// Characters that are white space or control characters, as a class body.
macro_rules! invisible {
    () => {
        r"\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}

/// A character that is neither white space nor a control character.
macro_rules! visible {
    () => {
        concat!("[^", invisible!(), "]")
    };
}

/// An E.164 phone number (`domain::contact::PhoneNumber::parse`): `+` then 8 to 15 digits.
pub const PHONE: &str = r"^\+[0-9]{8,15}$";

/// A person's name (`domain::contact::validate_name`): 1 to 200 characters once the white space
/// around it is trimmed, none of them a control character.
pub const NAME: &str = concat!(
    "^[",
    white_space!(),
    "]*",
    visible!(),
    "(?:[^",
    control!(),
    "]{0,198}",
    visible!(),
    ")?[",
    white_space!(),
    "]*$"
);

/// Text that is not blank (`domain::conversation::validate_body`): at least one character that
/// is not white space.
pub const NOT_BLANK: &str = concat!("[^", white_space!(), "]");

/// One line: no line break (an e-mail subject).
pub const ONE_LINE: &str = r"^[^\r\n]*$";

/// No control character (`domain::command::validate_idempotency_key`).
pub const NO_CONTROL: &str = concat!("^[^", control!(), "]*$");

/// An upload's `filename` (`attachments::filename`): a path is cut to its last segment, which
/// must keep 1 to 255 characters after trimming and no control character; empty means none.
pub const FILENAME: &str = concat!(
    r"^(?:(?:[\s\S]*[/\\])?[",
    white_space!(),
    r"]*[^/\\",
    invisible!(),
    r"](?:[^/\\",
    control!(),
    r"]{0,253}[^/\\",
    invisible!(),
    "])?[",
    white_space!(),
    "]*)?$"
);

/// The IANA time zone names the hub knows (the tz database of `chrono-tz`), as an enumeration.
pub fn time_zone_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|zone| zone.name())
        .collect();
    schemars::json_schema!({ "type": "string", "enum": names })
}

/// [`time_zone_schema`], or `null`.
pub fn time_zone_or_null_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names = time_zone_schema(generator);
    schemars::json_schema!({ "anyOf": [names, { "type": "null" }] })
}

#[cfg(test)]
mod tests {
    use domain::contact::{validate_name, PhoneNumber};
    use regex::Regex;

    use super::*;

    /// Inputs near every edge the validators draw: white space of each kind, control
    /// characters, lengths, separators.
    fn samples() -> Vec<String> {
        let mut samples: Vec<String> = [
            "",
            " ",
            "a",
            " a ",
            "\u{a0}a\u{3000}",
            "\ta\n",
            "a\tb",
            "a b",
            "a\u{85}b",
            "\u{85}",
            "\u{1c}",
            "a\u{1c}",
            "\u{feff}",
            "\u{200b}",
            "Zoë",
            "李",
            "🙂",
            "+4915112345678",
            "+1234567",
            "+12345678",
            "+123456789012345",
            "+1234567890123456",
            "4915112345678",
            "+49 151",
            "+49151123x5678",
            "a/b",
            "dir/",
            "dir/ ",
            "C:\\fake\\x.pdf",
            "\u{1}/x.pdf",
            "x\u{1}.pdf",
            "line\r\nbreak",
            "x\n",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for length in [198, 199, 200, 201, 253, 254, 255, 256] {
            samples.push("x".repeat(length));
            samples.push(format!(" {} ", "x".repeat(length)));
            samples.push(format!("dir/{}", "x".repeat(length)));
        }
        samples
    }

    fn check(pattern: &str, validator: impl Fn(&str) -> bool) {
        let regex = Regex::new(pattern).expect("the pattern compiles");
        for sample in samples() {
            assert_eq!(
                regex.is_match(&sample),
                validator(&sample),
                "pattern {pattern} and its validator disagree on {sample:?}"
            );
        }
    }

    #[test]
    fn phone_pattern_is_the_phone_rule() {
        check(PHONE, |s| PhoneNumber::parse(s).is_ok());
    }

    #[test]
    fn name_pattern_is_the_name_rule() {
        check(NAME, |s| validate_name(s).is_ok());
    }

    #[test]
    fn not_blank_is_the_body_rule() {
        check(NOT_BLANK, |s| {
            domain::conversation::validate_body(domain::Channel::Portal, s).is_ok()
        });
    }

    #[test]
    fn no_control_and_1_to_200_characters_is_the_idempotency_key_rule() {
        let regex = Regex::new(NO_CONTROL).expect("the pattern compiles");
        for sample in samples() {
            let schema = regex.is_match(&sample) && (1..=200).contains(&sample.chars().count());
            assert_eq!(
                schema,
                domain::command::validate_idempotency_key(&sample).is_ok(),
                "{sample:?}"
            );
        }
    }

    #[test]
    fn one_line_has_no_line_break() {
        check(ONE_LINE, |s| !s.contains(['\r', '\n']));
    }

    #[test]
    fn filename_pattern_is_the_upload_rule() {
        check(FILENAME, |s| {
            s.is_empty() || crate::http::attachments::valid_filename(s).is_some()
        });
    }
}
