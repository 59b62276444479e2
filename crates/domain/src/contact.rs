//! A patient's contact record: validated phone number and e-mail address.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// A phone number in E.164 form: `+` followed by 8 to 15 digits.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Validates an E.164 phone number.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let digits = raw.strip_prefix('+').ok_or_else(|| {
            DomainError::invalid("phone number must be E.164: `+` then 8 to 15 digits")
        })?;
        let valid = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        if !valid {
            return Err(DomainError::invalid(
                "phone number must be E.164: `+` then 8 to 15 digits",
            ));
        }
        Ok(PhoneNumber(raw.to_owned()))
    }

    /// The number as text, e.g. `+4915112345678`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        PhoneNumber::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A syntactically valid e-mail address (`local@domain.tld`), kept as written.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Validates the address: one `@`, a non-empty local part, a dotted domain of
    /// letters, digits and hyphens, no white space, at most 254 characters.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let invalid = || DomainError::invalid("e-mail address is not valid");
        if raw.len() > 254 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = raw.split_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(EmailAddress(raw.to_owned()))
        } else {
            Err(invalid())
        }
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        EmailAddress::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the clinic knows about reaching a patient; it decides which channels are available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PatientContact {
    /// The patient's name as shown to staff.
    pub name: String,
    /// Phone number for SMS and WhatsApp.
    pub phone: Option<PhoneNumber>,
    /// E-mail address.
    pub email: Option<EmailAddress>,
    /// Whether the patient has a portal account.
    pub portal_enabled: bool,
    /// Whether the patient agreed to be contacted on WhatsApp.
    pub whatsapp_opt_in: bool,
    /// The patient's IANA time zone, in which quiet hours are judged (schema version 2 of
    /// `PatientRegistered` and `PatientContactChanged`; `null` before and when not known).
    #[serde(default, with = "crate::quiet_hours::clock::iana_opt")]
    #[schemars(with = "Option<String>")]
    pub time_zone: Option<crate::quiet_hours::Tz>,
}

impl PatientContact {
    /// What the record shows once its patient is erased: name `"erased"`, no phone, e-mail
    /// or time zone (the flags stay, they say nothing about the person).
    pub fn erased(&self) -> PatientContact {
        PatientContact {
            name: "erased".into(),
            phone: None,
            email: None,
            time_zone: None,
            ..self.clone()
        }
    }
}

/// Validates a person's display name: 1 to 200 characters after trimming.
pub fn validate_name(name: &str) -> Result<String, DomainError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(DomainError::invalid("name must not be empty"));
    }
    if trimmed.chars().count() > 200 || trimmed.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "name must be at most 200 printable characters",
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_follow_e164() {
        for ok in ["+4915112345678", "+12025550123", "+33123456"] {
            assert!(PhoneNumber::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "4915112345678",
            "+49 151 1234",
            "+1234567",
            "+1234567890123456",
            "+",
            "",
            "+49151123x5678",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn email_addresses_are_checked_for_syntax() {
        for ok in ["a@b.de", "first.last+tag@clinic.example.org", "ü@müller.de"] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "plain",
            "@b.de",
            "a@b",
            "a@@b.de",
            "a b@c.de",
            "a@-b.de",
            "a..b@c.de",
            "a@b..de",
            "",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_name("  Ada  ").unwrap(), "Ada");
        assert!(validate_name("   ").is_err());
        assert!(validate_name(&"x".repeat(201)).is_err());
    }
}
