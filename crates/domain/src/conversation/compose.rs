//! A message's content as it will be sent: the draft as written, or its subject and body
//! rendered from a template with the patient's name from the record.
//!
//! Rendering happens inside the conversation's decision, on the template's state as the
//! command layer read it (like the patient's record), so the decision stays a pure function of
//! its states and the command. On WhatsApp a template with an approved `whatsapp` counterpart
//! goes out as a Cloud API template message only when the 24-hour window is closed; inside the
//! window the rendered body is sent as ordinary text, so the patient reads exactly what the
//! timeline shows.

use chrono::{DateTime, Utc};

use crate::actor::{Principal, Role};
use crate::channel::Channel;
use crate::command::{Draft, TemplateUse};
use crate::error::DomainError;
use crate::patient::PatientRecord;
use crate::template::{render, Template, TemplateRef, WhatsappTemplateMessage};

/// A draft ready to be validated and recorded, with what it was rendered from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Composed {
    /// The content as it will be sent.
    pub draft: Draft,
    /// The template version it was rendered from.
    pub template: Option<TemplateRef>,
    /// The WhatsApp template message sent in place of the text outside the window.
    pub whatsapp_template: Option<WhatsappTemplateMessage>,
}

/// Composes the message a command writes: `draft` as it is without `using`; with it, the
/// subject and body rendered from `template` (which must be the one named; `not_found` when it
/// is unknown or retired, `invalid_request` naming missing or unknown variables).
pub(crate) fn compose(
    principal: &Principal,
    patient: &PatientRecord,
    template: Option<&Template>,
    draft: &Draft,
    using: Option<&TemplateUse>,
    now: DateTime<Utc>,
) -> Result<Composed, DomainError> {
    let Some(using) = using else {
        return Ok(Composed {
            draft: draft.clone(),
            template: None,
            whatsapp_template: None,
        });
    };
    if principal.role() == Role::Patient {
        return Err(DomainError::forbidden("templates are used by staff"));
    }
    let template = template
        .filter(|t| t.0.as_ref().is_some_and(|record| record.id == using.id))
        .ok_or(DomainError::NotFound("template"))?;
    let rendered = render(template, &using.variables, &patient.contact.name)?;
    let approved = template.usable()?.content.whatsapp.as_ref();
    let whatsapp_template = match approved {
        Some(approved)
            if draft.channel == Channel::Whatsapp && !patient.whatsapp_window_open(now) =>
        {
            Some(WhatsappTemplateMessage {
                name: approved.name.clone(),
                language: approved.language.clone(),
                parameters: rendered.whatsapp_parameters,
            })
        }
        _ => None,
    };
    if whatsapp_template.is_some() && !draft.attachments.is_empty() {
        return Err(DomainError::channel_unavailable(
            Channel::Whatsapp,
            "outside the 24-hour WhatsApp window only the approved template message is sent: attachments need the window",
        ));
    }
    Ok(Composed {
        draft: Draft {
            channel: draft.channel,
            subject: rendered.subject,
            body: rendered.body,
            attachments: draft.attachments.clone(),
        },
        template: Some(rendered.template),
        whatsapp_template,
    })
}
