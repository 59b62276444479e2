//! The fields of a template as an admin writes it (name, subject, text, and the optional
//! approved WhatsApp template), filled from the current version or from what was typed, and
//! the API body they become.

use maud::{html, Markup};
use serde_json::{json, Value};

use crate::api::Template;
use crate::session::FormData;

/// A template's content as the form holds it.
#[derive(Debug, Default, Clone)]
pub struct TemplateDraft {
    name: String,
    subject: String,
    body: String,
    whatsapp_name: String,
    whatsapp_language: String,
    /// The WhatsApp parameters' variable names, in order, separated by commas or spaces.
    whatsapp_parameters: String,
}

impl TemplateDraft {
    /// The current version of a template.
    pub fn of(template: &Template) -> Self {
        let whatsapp = template.whatsapp.as_ref();
        TemplateDraft {
            name: template.name.clone(),
            subject: template.subject.clone().unwrap_or_default(),
            body: template.body.clone(),
            whatsapp_name: whatsapp.map(|w| w.name.clone()).unwrap_or_default(),
            whatsapp_language: whatsapp.map(|w| w.language.clone()).unwrap_or_default(),
            whatsapp_parameters: whatsapp
                .map(|w| w.parameters.join(", "))
                .unwrap_or_default(),
        }
    }

    /// What a submitted form typed.
    pub fn from_form(form: &FormData) -> Self {
        TemplateDraft {
            name: form.text("name").to_owned(),
            subject: form.text("subject").to_owned(),
            body: form.text("body").to_owned(),
            whatsapp_name: form.text("whatsapp_name").to_owned(),
            whatsapp_language: form.text("whatsapp_language").to_owned(),
            whatsapp_parameters: form.text("whatsapp_parameters").to_owned(),
        }
    }

    /// The body of `POST` and `PUT /v1/templates`: a blank subject is none, and `whatsapp` is
    /// sent when its name or language is filled in.
    pub fn body(&self) -> Value {
        let subject = Some(self.subject.trim()).filter(|s| !s.is_empty());
        let name = self.whatsapp_name.trim();
        let language = self.whatsapp_language.trim();
        let whatsapp = (!name.is_empty() || !language.is_empty()).then(|| {
            let parameters: Vec<&str> = self
                .whatsapp_parameters
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|p| !p.is_empty())
                .collect();
            json!({ "name": name, "language": language, "parameters": parameters })
        });
        json!({
            "name": self.name.trim(),
            "subject": subject,
            "body": self.body,
            "whatsapp": whatsapp,
        })
    }

    /// The form's fields, their ids starting with `prefix`.
    pub fn fields(&self, prefix: &str) -> Markup {
        let id = |name: &str| format!("{prefix}-{name}");
        html! {
            div.field {
                label for=(id("name")) { "Name" }
                input id=(id("name")) type="text" name="name" required maxlength="200"
                    value=(self.name);
            }
            div.field {
                label for=(id("subject")) { "Subject" span.hint.inline { " (for e-mail; optional)" } }
                input id=(id("subject")) type="text" name="subject" maxlength="1000"
                    value=(self.subject);
            }
            div.field {
                label for=(id("body")) { "Text" }
                textarea id=(id("body")) name="body" rows="5" required
                    aria-describedby=(id("body-hint")) { (self.body) }
                small.hint id=(id("body-hint")) {
                    "Placeholders are written " code { "{{name}}" } " in lower case, e.g. "
                    code { "{{time}}" } "; " code { "{{patient_name}}" }
                    " is filled with the patient's name."
                }
            }
            fieldset.whatsapp {
                legend { "WhatsApp (optional)" }
                p.hint {
                    "The template as approved on WhatsApp, sent when the patient has not "
                    "written on WhatsApp in the last 24 hours."
                }
                div.field {
                    label for=(id("wa-name")) { "Approved name" }
                    input id=(id("wa-name")) type="text" name="whatsapp_name" maxlength="512"
                        value=(self.whatsapp_name) autocomplete="off";
                }
                div.field {
                    label for=(id("wa-language")) { "Language" span.hint.inline { " (e.g. en_US)" } }
                    input id=(id("wa-language")) type="text" name="whatsapp_language"
                        value=(self.whatsapp_language) autocomplete="off";
                }
                div.field {
                    label for=(id("wa-parameters")) {
                        "Parameters in order" span.hint.inline { " (variables for {{1}}, {{2}}, …)" }
                    }
                    input id=(id("wa-parameters")) type="text" name="whatsapp_parameters"
                        value=(self.whatsapp_parameters) autocomplete="off"
                        placeholder="patient_name, date, time";
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(whatsapp: (&str, &str, &str)) -> TemplateDraft {
        TemplateDraft {
            name: " Reminder ".to_owned(),
            subject: "  ".to_owned(),
            body: "Dear {{patient_name}}, at {{time}}.".to_owned(),
            whatsapp_name: whatsapp.0.to_owned(),
            whatsapp_language: whatsapp.1.to_owned(),
            whatsapp_parameters: whatsapp.2.to_owned(),
        }
    }

    #[test]
    fn blank_subject_and_whatsapp_are_none() {
        let body = draft(("", "", "")).body();
        assert_eq!(
            body,
            json!({
                "name": "Reminder",
                "subject": null,
                "body": "Dear {{patient_name}}, at {{time}}.",
                "whatsapp": null,
            })
        );
    }

    #[test]
    fn whatsapp_parameters_keep_their_order() {
        let body = draft(("reminder", "en_US", "time, patient_name  date")).body();
        assert_eq!(
            body["whatsapp"],
            json!({
                "name": "reminder",
                "language": "en_US",
                "parameters": ["time", "patient_name", "date"],
            })
        );
    }
}
