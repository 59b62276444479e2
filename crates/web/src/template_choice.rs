//! Writing from a template on the message forms: the template picker, one input per variable
//! (the hub fills `patient_name` itself) and the preview of the rendered subject and text.
//!
//! Every offered template's inputs are on the page, each set in a fieldset that is disabled
//! (so not sent) unless its template is the one chosen; the page's script switches them as the
//! choice changes and renders the preview while one types. Without scripts the server renders
//! the chosen template's inputs and preview on "Preview", and a send uses the chosen template.

use std::collections::BTreeMap;

use domain::template::placeholder::{scan, Segment};
use domain::template::PATIENT_NAME;
use maud::{html, Markup};
use serde_json::{json, Map, Value};

use super::api::{Api, Page, Template};
use super::session::FormData;

/// The form field that names the chosen template.
pub const TEMPLATE_FIELD: &str = "template_id";
/// The start of each variable's form field name (`var-time`).
const VARIABLE_PREFIX: &str = "var-";
/// The most catalogue pages read for one form.
const MAX_PAGES: usize = 10;

/// Whether the form offers a channel that takes only templates approved on WhatsApp (WhatsApp
/// outside the 24-hour window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovedOnly {
    /// No such channel is offered.
    No,
    /// One is offered but not selected.
    Offered,
    /// The selected channel is one: the other templates are not offered.
    Selected,
}

/// The templates a staff member may write from, and the patient they would be sent to.
pub struct Offer {
    /// Usable (not retired) templates, in the catalogue's order.
    pub templates: Vec<Template>,
    /// The patient's name, which fills `{{patient_name}}` in the preview.
    pub patient_name: String,
}

impl Offer {
    /// The catalogue's usable templates for a message to `patient_name` (none when it cannot
    /// be read).
    pub async fn load(api: &Api<'_>, patient_name: &str) -> Offer {
        let mut templates = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let query = super::query_string([
                ("limit", "200"),
                ("cursor", cursor.as_deref().unwrap_or("")),
            ]);
            let Ok(page) = api
                .get::<Page<Template>>(&format!("/templates?{query}"))
                .await
            else {
                break;
            };
            templates.extend(page.items.into_iter().filter(|t| !t.retired));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Offer {
            templates,
            patient_name: patient_name.to_owned(),
        }
    }

    /// Whether a template approved on WhatsApp is offered (so WhatsApp outside the 24-hour
    /// window can be written on).
    pub fn has_whatsapp(&self) -> bool {
        self.templates.iter().any(|t| t.whatsapp.is_some())
    }

    /// The offered template with this id.
    pub fn find(&self, id: &str) -> Option<&Template> {
        self.templates.iter().find(|t| t.id == id)
    }
}

/// The chosen template's values as typed, by variable name.
pub fn variables_of(form: &FormData) -> BTreeMap<String, String> {
    form.prefixed(VARIABLE_PREFIX)
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// `{id, variables}` of a send from the chosen template, or `None` when none is chosen; blank
/// values are left out, so the hub names them as missing.
pub fn template_of(form: &FormData) -> Option<Value> {
    let id = form.optional(TEMPLATE_FIELD)?;
    let variables: Map<String, Value> = variables_of(form)
        .into_iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(name, value)| (name, Value::String(value)))
        .collect();
    Some(json!({ "id": id, "variables": variables }))
}

/// The picker, every offered template's inputs and preview, and the "Preview" button.
/// `chosen` is the template chosen, `values` what was typed for it.
pub fn picker(
    prefix: &str,
    offer: &Offer,
    chosen: &str,
    values: &BTreeMap<String, String>,
    approved_only: ApprovedOnly,
) -> Markup {
    let id = |name: &str| format!("{prefix}-{name}");
    let untyped = BTreeMap::new();
    html! {
        div.field.template-pick {
            label for=(id("template")) { "Template" }
            @let hint = approved_only != ApprovedOnly::No;
            select id=(id("template")) name=(TEMPLATE_FIELD) data-template-select
                aria-describedby=[hint.then(|| id("template-hint"))] {
                option value="" { "No template: write the text" }
                @for template in &offer.templates {
                    @let approved = template.whatsapp.is_some();
                    option value=(template.id) selected[template.id == chosen]
                        disabled[approved_only == ApprovedOnly::Selected && !approved]
                        data-whatsapp=[approved.then_some("")] {
                        (template.name)
                    }
                }
            }
            @if hint {
                small.hint id=(id("template-hint")) {
                    "WhatsApp outside the 24-hour window takes only templates approved on WhatsApp."
                }
            }
        }
        @for (index, template) in offer.templates.iter().enumerate() {
            @let on = template.id == chosen;
            @let typed = if on { values } else { &untyped };
            (variable_set(&format!("{prefix}-t{index}"), template, on, typed, &offer.patient_name))
        }
        div.actions.preview-action {
            button.secondary type="submit" name="preview" value="1" formnovalidate
                formenctype="application/x-www-form-urlencoded" { "Preview" }
        }
    }
}

/// One template's inputs and preview, sent only when `on`.
fn variable_set(
    prefix: &str,
    template: &Template,
    on: bool,
    values: &BTreeMap<String, String>,
    patient_name: &str,
) -> Markup {
    let typed: Vec<&String> = template
        .variables
        .iter()
        .filter(|v| *v != PATIENT_NAME)
        .collect();
    html! {
        fieldset.template-vars data-template=(template.id) data-patient-name=(patient_name)
            hidden[!on] disabled[!on] {
            legend { (template.name) }
            @if typed.is_empty() { p.hint { "Nothing to fill in." } }
            @for variable in typed {
                div.field {
                    label for={ (prefix) "-" (variable) } { (label_of(variable)) }
                    input id={ (prefix) "-" (variable) } type="text"
                        name={ (VARIABLE_PREFIX) (variable) } data-var=(variable)
                        value=[values.get(variable.as_str())] autocomplete="off";
                }
            }
            @if template.variables.iter().any(|v| v == PATIENT_NAME) {
                p.hint { code { "patient_name" } " is filled with the patient's name." }
            }
            (preview(template, values, patient_name))
        }
    }
}

/// A variable's name as a label: `appointment_time` → "Appointment time".
fn label_of(variable: &str) -> String {
    let spaced = variable.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

/// The rendered subject and text, a variable without a value shown as `[name]`.
fn preview(template: &Template, values: &BTreeMap<String, String>, patient_name: &str) -> Markup {
    html! {
        div.preview aria-live="polite" {
            p.preview-title { "Preview" }
            @if let Some(subject) = &template.subject {
                p.preview-subject data-text=(subject) { strong { (filled(subject, values, patient_name)) } }
            }
            p.preview-body data-text=(template.body) { (filled(&template.body, values, patient_name)) }
        }
    }
}

/// `text` with the values pasted in.
fn filled(text: &str, values: &BTreeMap<String, String>, patient_name: &str) -> Markup {
    let Ok(segments) = scan(text) else {
        return html! { (text) };
    };
    html! {
        @for segment in segments {
            @match segment {
                Segment::Text(literal) => { (literal) }
                Segment::Placeholder(PATIENT_NAME) => { (patient_name) }
                Segment::Placeholder(name) => {
                    @match values.get(name).filter(|v| !v.trim().is_empty()) {
                        Some(value) => { (value) }
                        None => { mark.slot { "[" (name) "]" } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_fills_values_and_marks_the_missing() {
        let values = BTreeMap::from([("time".to_owned(), "09:30".to_owned())]);
        let text = "Dear {{patient_name}}, {{date}} at {{time}} <b>";
        assert_eq!(
            filled(text, &values, "Paula").into_string(),
            "Dear Paula, <mark class=\"slot\">[date]</mark> at 09:30 &lt;b&gt;"
        );
    }

    #[test]
    fn labels_read_as_words() {
        assert_eq!(label_of("appointment_time"), "Appointment time");
    }
}
