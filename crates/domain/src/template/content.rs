//! What an admin writes into a template, and its validation: name, subject and body with
//! well-formed placeholders, and a WhatsApp template whose parameters are template variables.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::placeholder::{collect_names, MalformedPlaceholder};
use crate::contact::validate_name;
use crate::error::DomainError;

/// The longest template body, in characters (the longest text any channel carries).
pub const MAX_BODY_CHARS: usize = 50_000;
/// The longest template subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 1_000;
/// The longest WhatsApp template name the provider accepts.
const MAX_WHATSAPP_NAME_CHARS: usize = 512;

/// The template as approved on WhatsApp: sent outside the 24-hour window as a Cloud API
/// template message whose body parameters `{{1}}`, `{{2}}`, … are filled from `parameters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WhatsappTemplate {
    /// The approved template's name on the provider (`[a-z0-9_]+`).
    pub name: String,
    /// Its language code, e.g. `en_US` or `de`.
    pub language: String,
    /// The template variables that fill `{{1}}`, `{{2}}`, … in order.
    pub parameters: Vec<String>,
}

/// A template's content as an admin writes it (`POST` / `PUT /v1/templates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TemplateContent {
    /// Display name, for staff choosing a template.
    pub name: String,
    /// Subject line with placeholders (for e-mail).
    pub subject: Option<String>,
    /// Body text with `{{name}}` placeholders.
    pub body: String,
    /// The matching approved WhatsApp template, if there is one.
    pub whatsapp: Option<WhatsappTemplate>,
}

/// Validated content and its variables: the placeholders of the subject, then the body, in
/// order of first use, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidContent {
    /// The content, trimmed (a blank subject is no subject).
    pub content: TemplateContent,
    /// The placeholder names in order of first use.
    pub variables: Vec<String>,
}

/// A placeholder error of `field`, as an `invalid_request` naming the piece.
fn malformed(field: &str, error: MalformedPlaceholder) -> DomainError {
    DomainError::invalid(format!("{field}: {error}"))
}

/// Whether `name` is a WhatsApp template name (`[a-z0-9_]`, 1 to 512 characters).
fn is_whatsapp_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_WHATSAPP_NAME_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `code` is a language code as WhatsApp spells them: `en`, `fil`, `en_US`.
fn is_language_code(code: &str) -> bool {
    let (language, region) = match code.split_once('_') {
        Some((language, region)) => (language, Some(region)),
        None => (code, None),
    };
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()))
}

fn validate_whatsapp(
    whatsapp: &WhatsappTemplate,
    variables: &[String],
) -> Result<WhatsappTemplate, DomainError> {
    if !is_whatsapp_name(&whatsapp.name) {
        return Err(DomainError::invalid(
            "whatsapp.name must be the approved template's name: 1 to 512 of a-z, 0-9 and _",
        ));
    }
    if !is_language_code(&whatsapp.language) {
        return Err(DomainError::invalid(
            "whatsapp.language must be a language code such as `en` or `en_US`",
        ));
    }
    if let Some(unknown) = whatsapp.parameters.iter().find(|p| !variables.contains(p)) {
        return Err(DomainError::invalid(format!(
            "whatsapp.parameters: `{unknown}` is not a variable of the template (variables: {})",
            variables.join(", ")
        )));
    }
    Ok(whatsapp.clone())
}

/// Validates a template's content and lists its variables.
pub fn validate(content: &TemplateContent) -> Result<ValidContent, DomainError> {
    let name = validate_name(&content.name)?;
    let subject = content
        .subject
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if subject.is_some_and(|s| s.chars().count() > MAX_SUBJECT_CHARS) {
        return Err(DomainError::invalid(format!(
            "subject must be at most {MAX_SUBJECT_CHARS} characters"
        )));
    }
    if content.body.trim().is_empty() {
        return Err(DomainError::invalid("body must not be empty"));
    }
    if content.body.chars().count() > MAX_BODY_CHARS {
        return Err(DomainError::invalid(format!(
            "body must be at most {MAX_BODY_CHARS} characters"
        )));
    }
    let mut variables = Vec::new();
    if let Some(subject) = subject {
        collect_names(subject, &mut variables).map_err(|e| malformed("subject", e))?;
    }
    collect_names(&content.body, &mut variables).map_err(|e| malformed("body", e))?;
    let whatsapp = content
        .whatsapp
        .as_ref()
        .map(|w| validate_whatsapp(w, &variables))
        .transpose()?;
    Ok(ValidContent {
        content: TemplateContent {
            name,
            subject: subject.map(str::to_owned),
            body: content.body.clone(),
            whatsapp,
        },
        variables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes() {
        for ok in ["en", "en_US", "fil", "pt_BR"] {
            assert!(is_language_code(ok), "{ok}");
        }
        for bad in ["", "e", "EN", "en_us", "en-US", "en_USA", "english"] {
            assert!(!is_language_code(bad), "{bad}");
        }
    }

    #[test]
    fn whatsapp_names() {
        assert!(is_whatsapp_name("appointment_reminder_2"));
        for bad in ["", "Appointment", "a b", "a-b"] {
            assert!(!is_whatsapp_name(bad), "{bad}");
        }
    }
}
