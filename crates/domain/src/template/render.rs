//! Rendering a template into a message's subject and body.
//!
//! Values are pasted in one pass: a value that itself looks like `{{name}}` is text, never
//! rendered again, so a patient's name can not pull other variables into a message.

use std::collections::BTreeMap;

use super::placeholder::{scan, Segment};
use super::{Template, TemplateRef};
use crate::error::DomainError;

/// The variable the hub fills from the patient's record; a caller may not pass it.
pub const PATIENT_NAME: &str = "patient_name";

/// A rendered template: what a message written from it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The rendered subject, if the template has one.
    pub subject: Option<String>,
    /// The rendered body.
    pub body: String,
    /// The template version it was rendered from.
    pub template: TemplateRef,
    /// The values of the WhatsApp template's body parameters, in order (empty without one).
    pub whatsapp_parameters: Vec<String>,
}

/// Pastes `values` into the placeholders of `text`.
fn fill(text: &str, values: &BTreeMap<&str, &str>) -> Result<String, DomainError> {
    let segments = scan(text).map_err(|e| DomainError::invalid(e.to_string()))?;
    let mut out = String::with_capacity(text.len());
    for segment in segments {
        match segment {
            Segment::Text(literal) => out.push_str(literal),
            Segment::Placeholder(name) => match values.get(name) {
                Some(value) => out.push_str(value),
                None => return Err(DomainError::invalid(format!("missing variable `{name}`"))),
            },
        }
    }
    Ok(out)
}

/// `invalid_request` naming every missing and unknown variable, or `Ok` when there are none.
fn check_names(variables: &[String], given: &BTreeMap<String, String>) -> Result<(), DomainError> {
    let mut problems = Vec::new();
    if given.contains_key(PATIENT_NAME) {
        problems.push(format!(
            "`{PATIENT_NAME}` is filled from the patient's record and may not be passed"
        ));
    }
    let unknown: Vec<&str> = given
        .keys()
        .map(String::as_str)
        .filter(|name| *name != PATIENT_NAME && !variables.iter().any(|v| v == name))
        .collect();
    if !unknown.is_empty() {
        problems.push(format!("unknown variables: {}", unknown.join(", ")));
    }
    let missing: Vec<&str> = variables
        .iter()
        .map(String::as_str)
        .filter(|name| *name != PATIENT_NAME && !given.contains_key(*name))
        .collect();
    if !missing.is_empty() {
        problems.push(format!("missing variables: {}", missing.join(", ")));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DomainError::invalid(format!(
            "template.variables: {}",
            problems.join("; ")
        )))
    }
}

/// Renders `template` with the caller's `variables` and the patient's name.
///
/// Refusals: `not_found` for an unknown or retired template; `invalid_request` naming every
/// missing or unknown variable, and `patient_name` when the caller passes it.
pub fn render(
    template: &Template,
    variables: &BTreeMap<String, String>,
    patient_name: &str,
) -> Result<Rendered, DomainError> {
    let record = template.usable()?;
    check_names(&record.variables, variables)?;
    let mut values: BTreeMap<&str, &str> = variables
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    values.insert(PATIENT_NAME, patient_name);
    let content = &record.content;
    let subject = content
        .subject
        .as_deref()
        .map(|s| fill(s, &values))
        .transpose()?;
    let body = fill(&content.body, &values)?;
    let whatsapp_parameters = content
        .whatsapp
        .iter()
        .flat_map(|w| &w.parameters)
        .map(|name| {
            values
                .get(name.as_str())
                .map(|v| (*v).to_owned())
                .ok_or_else(|| DomainError::invalid(format!("missing variable `{name}`")))
        })
        .collect::<Result<_, _>>()?;
    Ok(Rendered {
        subject,
        body,
        template: record.reference(),
        whatsapp_parameters,
    })
}
