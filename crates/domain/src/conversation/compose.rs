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
use crate::template::{render, Rendered, Template, TemplateRef, WhatsappTemplateMessage};

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
///
/// `released_as` is the approved WhatsApp template message recorded with a scheduled message
/// (its draft rendered already, so without `using`): it is sent in place of the text when the
/// 24-hour window is closed at release, as a template message written now would be.
pub(crate) fn compose(
    principal: &Principal,
    patient: &PatientRecord,
    template: Option<&Template>,
    draft: &Draft,
    using: Option<&TemplateUse>,
    released_as: Option<&WhatsappTemplateMessage>,
    now: DateTime<Utc>,
) -> Result<Composed, DomainError> {
    let window_closed = draft.channel == Channel::Whatsapp && !patient.whatsapp_window_open(now);
    let Some(using) = using else {
        let whatsapp_template = released_as.filter(|_| window_closed).cloned();
        ensure_no_attachments_with(&whatsapp_template, draft)?;
        return Ok(Composed {
            draft: draft.clone(),
            template: None,
            whatsapp_template,
        });
    };
    if principal.role() == Role::Patient {
        return Err(DomainError::forbidden("templates are used by staff"));
    }
    let (rendered, approved) = render_named(patient, template, draft, using)?;
    let whatsapp_template = approved.filter(|_| window_closed);
    ensure_no_attachments_with(&whatsapp_template, draft)?;
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

/// Renders `using` from `template` (which must be the one named, usable) for `patient`, with
/// the approved WhatsApp template message a draft on WhatsApp would be sent as outside the
/// window (`None` on other channels, or when the template has none).
fn render_named(
    patient: &PatientRecord,
    template: Option<&Template>,
    draft: &Draft,
    using: &TemplateUse,
) -> Result<(Rendered, Option<WhatsappTemplateMessage>), DomainError> {
    let template = template
        .filter(|t| t.0.as_ref().is_some_and(|record| record.id == using.id))
        .ok_or(DomainError::NotFound("template"))?;
    let rendered = render(template, &using.variables, &patient.contact.name)?;
    let approved = template
        .usable()?
        .content
        .whatsapp
        .as_ref()
        .filter(|_| draft.channel == Channel::Whatsapp)
        .map(|approved| WhatsappTemplateMessage {
            name: approved.name.clone(),
            language: approved.language.clone(),
            parameters: rendered.whatsapp_parameters.clone(),
        });
    Ok((rendered, approved))
}

/// The approved WhatsApp template message a send on WhatsApp rendered from a template goes out
/// as when the 24-hour window is closed, whether it is open now or not (kept with a scheduled
/// message, so its release can judge the window at its own time). `None` without a template,
/// on other channels, or when the template has no approved counterpart.
pub(crate) fn approved_message(
    patient: &PatientRecord,
    template: Option<&Template>,
    draft: &Draft,
    using: Option<&TemplateUse>,
) -> Result<Option<WhatsappTemplateMessage>, DomainError> {
    match using {
        Some(using) => Ok(render_named(patient, template, draft, using)?.1),
        None => Ok(None),
    }
}

/// Outside the window only the approved template message is sent: attachments need the window.
fn ensure_no_attachments_with(
    whatsapp_template: &Option<WhatsappTemplateMessage>,
    draft: &Draft,
) -> Result<(), DomainError> {
    if whatsapp_template.is_some() && !draft.attachments.is_empty() {
        return Err(DomainError::channel_unavailable(
            Channel::Whatsapp,
            "outside the 24-hour WhatsApp window only the approved template message is sent: attachments need the window",
        ));
    }
    Ok(())
}
