//! Writing messages: "New message" with a patient picker, and the message fields that the
//! reply form shares (channels the patient's record allows, a template or the subject and
//! text, SMS segment counter, attachments).

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use chrono_tz::Tz;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{Api, Failure, Patient, Written};
use super::nav;
use super::page::{self, Nav};
use super::session::{FormData, Session, Submitted};
use super::template_choice::{self, ApprovedOnly, Offer};
use super::{conversation, picker, send_later, Directory};
use crate::WebState;

/// A channel the form offers, and why it is disabled when it is.
pub struct ChannelOption {
    /// Wire name.
    pub channel: &'static str,
    /// Why it cannot be used for this patient; `None` when it can.
    pub reason: Option<&'static str>,
    /// Whether this hub has no provider for it (its messages wait, `queued`).
    pub unconfigured: bool,
    /// Whether it takes only a template approved on WhatsApp (outside the 24-hour window).
    pub template_only: bool,
}

/// The external channels this hub has no provider for, as `/v1/health` reports them (none
/// when health cannot be read).
pub async fn unconfigured_channels(api: &Api<'_>) -> Vec<String> {
    let Ok(health) = api.get::<Value>("/health").await else {
        return Vec::new();
    };
    health["channels"]
        .as_object()
        .map(|channels| {
            channels
                .iter()
                .filter(|(_, state)| {
                    state
                        .as_str()
                        .is_some_and(|s| s.starts_with("not_configured"))
                })
                .map(|(channel, _)| channel.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The channels a staff member may write on to this patient, each with its availability, and
/// whether the hub can send on it (`unconfigured` from [`unconfigured_channels`]);
/// `whatsapp_templates` says whether a template approved on WhatsApp is offered, which opens
/// WhatsApp outside the 24-hour window to templates.
pub fn channel_options(
    patient: &Patient,
    unconfigured: &[String],
    whatsapp_templates: bool,
) -> Vec<ChannelOption> {
    let sms = if patient.phone.is_none() {
        Some("No phone number on the patient's record.")
    } else if patient.sms_opted_out {
        Some("The patient opted out of SMS.")
    } else {
        None
    };
    let email = patient
        .email
        .is_none()
        .then_some("No e-mail address on the patient's record.");
    let portal = (!patient.portal_enabled).then_some("The patient has no portal account.");
    let outside_window = patient
        .whatsapp_window_closes_at
        .is_none_or(|closes| closes <= chrono::Utc::now());
    let whatsapp = if patient.phone.is_none() {
        Some("No phone number on the patient's record.")
    } else if !patient.whatsapp_opt_in {
        Some("The patient has not opted in to WhatsApp.")
    } else if outside_window && !whatsapp_templates {
        Some("No WhatsApp message from the patient in the last 24 hours: an approved template is needed.")
    } else {
        None
    };
    [
        ("sms", sms),
        ("email", email),
        ("portal", portal),
        ("whatsapp", whatsapp),
    ]
    .into_iter()
    .map(|(channel, reason)| ChannelOption {
        channel,
        reason,
        unconfigured: unconfigured.iter().any(|c| c == channel),
        template_only: channel == "whatsapp" && outside_window,
    })
    .collect()
}

/// What the writer typed, kept when the hub refuses the message.
#[derive(Debug, Default, Clone)]
pub struct Draft {
    /// Chosen channel.
    pub channel: String,
    /// Subject.
    pub subject: String,
    /// Text.
    pub body: String,
    /// The chosen template's id (empty for free text).
    pub template_id: String,
    /// The chosen template's values as typed.
    pub variables: BTreeMap<String, String>,
    /// "Send later": the date as typed (empty to send now).
    pub send_date: String,
    /// "Send later": the time as typed (empty to send now).
    pub send_time: String,
}

impl Draft {
    /// The draft of a submitted form.
    pub fn from_form(form: &FormData) -> Self {
        Draft {
            channel: form.text("channel").to_owned(),
            subject: form.text("subject").to_owned(),
            body: form.text("body").to_owned(),
            template_id: form.text(template_choice::TEMPLATE_FIELD).to_owned(),
            variables: template_choice::variables_of(form),
            send_date: form.text(send_later::DATE_FIELD).to_owned(),
            send_time: form.text(send_later::TIME_FIELD).to_owned(),
        }
    }
}

/// Whether a submitted message form asks for its preview rather than to be sent.
pub fn wants_preview(form: &FormData) -> bool {
    form.optional("preview").is_some()
}

/// The channel, template, subject, text and attachment fields of a message form. `options`
/// is `None` for a patient, who writes on the portal only; `offer` the templates staff may
/// write from.
pub fn message_fields(
    prefix: &str,
    options: Option<&[ChannelOption]>,
    draft: &Draft,
    offer: Option<&Offer>,
) -> Markup {
    let selected = match options {
        None => "portal",
        Some(options) => options
            .iter()
            .filter(|o| o.reason.is_none())
            .find(|o| o.channel == draft.channel)
            .or_else(|| options.iter().find(|o| o.reason.is_none()))
            .map(|o| o.channel)
            .unwrap_or(""),
    };
    let id = |name: &str| format!("{prefix}-{name}");
    let offer = offer.filter(|offer| !offer.templates.is_empty());
    let chosen = offer
        .and_then(|offer| offer.find(&draft.template_id))
        .map_or("", |template| template.id.as_str());
    let approved_only = match options
        .into_iter()
        .flatten()
        .find(|o| o.template_only && o.reason.is_none())
    {
        None => ApprovedOnly::No,
        Some(o) if o.channel == selected => ApprovedOnly::Selected,
        Some(_) => ApprovedOnly::Offered,
    };
    html! {
        @match options {
            None => { input type="hidden" name="channel" value="portal"; }
            Some(options) => {
                fieldset.channels {
                    legend { "Channel" }
                    div.channel-list {
                    @for option in options {
                        @let option_id = id(&format!("ch-{}", option.channel));
                        @let why_id = format!("{option_id}-why");
                        div class={ "channel-option" @if option.reason.is_some() { " disabled" } } {
                            input type="radio" name="channel" id=(option_id) value=(option.channel)
                                checked[option.channel == selected] disabled[option.reason.is_some()]
                                data-template-only=[option.template_only.then_some("")]
                                aria-describedby=[option.reason.map(|_| why_id.as_str())];
                            label for=(option_id) { (page::channel_pill(option.channel)) }
                            @if let Some(reason) = option.reason {
                                small.reason id=(why_id) { (reason) }
                            } @else {
                                @if option.template_only {
                                    small.warning { "No WhatsApp message from the patient in the last 24 hours: only a template approved on WhatsApp can be sent." }
                                }
                                @if option.unconfigured {
                                    small.warning { "Not set up on this hub: the message will wait, queued, until it is." }
                                }
                            }
                        }
                    }
                    }
                    @if options.iter().any(|o| o.channel == "whatsapp" && o.reason.is_none() && !o.template_only) {
                        small.hint { "WhatsApp: free text only within 24 h of the patient's last WhatsApp message." }
                    }
                    @if selected.is_empty() {
                        p.alert role="alert" { "No channel is available for this patient." }
                    }
                }
            }
        }
        @if let Some(offer) = offer {
            (template_choice::picker(prefix, offer, chosen, &draft.variables, approved_only))
        }
        @let free_text = chosen.is_empty();
        div.field data-channel-only="email portal" data-free-text hidden[!free_text] {
            label for=(id("subject")) {
                "Subject"
                span.hint.inline { @if options.is_some() { " (required for e-mail)" } @else { " (optional)" } }
            }
            input id=(id("subject")) type="text" name="subject" value=(draft.subject)
                maxlength="998" required[free_text && selected == "email"] disabled[!free_text];
        }
        div.field data-free-text hidden[!free_text] {
            label for=(id("body")) { "Message" }
            textarea id=(id("body")) name="body" rows="5" required[offer.is_none()] disabled[!free_text]
                data-segments=(id("segments")) aria-describedby=(id("segments")) { (draft.body) }
            p.segments id=(id("segments")) aria-live="polite" {}
        }
        div.field data-channel-not="sms" {
            label for=(id("files")) { "Attachments" }
            input id=(id("files")) type="file" name="files" multiple
                accept="image/jpeg,image/png,image/webp,image/gif,application/pdf,text/plain,.doc,.docx,.xlsx,.odt"
                disabled[selected == "sms"] aria-describedby=(id("files-hint"));
            small.hint id=(id("files-hint")) {
                "Images, PDF and documents."
                @if options.is_some() { " Not available on SMS." }
            }
        }
    }
}

/// Writes the message to `path` with the form's stored attachments and the extra fields: from
/// the chosen template, or the typed subject and text; scheduled for the "Send later" date and
/// time, read in the clinic's `zone`, when they are filled in.
pub async fn send_message(
    api: &Api<'_>,
    form: &FormData,
    zone: Tz,
    path: &str,
    extra: Value,
) -> Result<Written, Failure> {
    if let Some(failure) = &form.upload_failure {
        return Err(failure.clone());
    }
    let send_at = send_later::send_at(form, zone)?;
    let mut body = json!({
        "channel": form.text("channel"),
        "attachment_ids": form.attachment_ids,
    });
    if let Some(template) = template_choice::template_of(form) {
        body["template"] = template;
    } else {
        body["body"] = json!(form.text("body"));
        if let Some(subject) = form.optional("subject") {
            body["subject"] = json!(subject);
        }
    }
    if let Some(key) = form.optional("idempotency_key") {
        body["idempotency_key"] = json!(key);
    }
    for extra in [extra, send_later::api_field(send_at)] {
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
    }
    api.call(Method::POST, path, &body).await
}

/// A fresh idempotency key for a form, so that a double submit sends once.
pub fn idempotency_field() -> Markup {
    html! { input type="hidden" name="idempotency_key" value=(uuid::Uuid::new_v4()); }
}

/// The compose page's query.
#[derive(Debug, Default, Deserialize)]
pub struct ComposeQuery {
    #[serde(default)]
    patient_id: String,
    #[serde(default)]
    find: String,
}

/// `GET /new`.
pub async fn form(
    State(state): State<WebState>,
    session: Session,
    Query(query): Query<ComposeQuery>,
) -> Response {
    render(&state, &session, &query, &Draft::default(), None).await
}

/// `POST /new`: writes the first message of a new conversation.
pub async fn send(State(state): State<WebState>, Submitted(session, form): Submitted) -> Response {
    if wants_preview(&form) {
        let query = ComposeQuery {
            patient_id: form.text("patient_id").to_owned(),
            find: String::new(),
        };
        return render(&state, &session, &query, &Draft::from_form(&form), None).await;
    }
    let api = Api::new(&state, &session);
    let extra = if session.is_patient() {
        json!({ "to": "reception" })
    } else {
        json!({ "patient_id": form.text("patient_id") })
    };
    match send_message(&api, &form, state.time_zone, "/messages", extra).await {
        Ok(written) => conversation::written_redirect(
            written.conversation_id.as_deref().unwrap_or(""),
            &written,
        ),
        Err(failure) => {
            let query = ComposeQuery {
                patient_id: form.text("patient_id").to_owned(),
                find: String::new(),
            };
            render(
                &state,
                &session,
                &query,
                &Draft::from_form(&form),
                Some(failure),
            )
            .await
        }
    }
}

async fn render(
    state: &WebState,
    session: &Session,
    query: &ComposeQuery,
    draft: &Draft,
    failure: Option<Failure>,
) -> Response {
    let status = failure.as_ref().map(|f| f.status).unwrap_or(StatusCode::OK);
    let api = Api::new(state, session);
    let unread = nav::unread(&api, session).await;
    if session.is_patient() {
        let content = html! {
            h1 { "Write to reception" }
            form.compose method="post" action="/new" enctype="multipart/form-data" data-compose {
                (page::csrf(session))
                (idempotency_field())
                @if let Some(failure) = &failure { (page::alert(failure)) }
                (message_fields("new", None, draft, None))
                div.actions { button type="submit" { "Send" } }
            }
        };
        return page::respond(
            status,
            page::shell(
                "Write to reception",
                Some(session),
                Nav::Compose,
                unread.as_ref(),
                content,
            ),
        );
    }
    let mut directory = Directory::default();
    let selected = if query.patient_id.is_empty() {
        None
    } else {
        directory.patient(&api, &query.patient_id).await.cloned()
    };
    let found = if query.find.trim().is_empty() {
        None
    } else {
        Some(picker::find_patients(&api, &mut directory, &query.find).await)
    };
    let recent = if selected.is_none() {
        directory.recent(&api).await
    } else {
        Vec::new()
    };
    let unconfigured = unconfigured_channels(&api).await;
    let offer = match &selected {
        Some(patient) => Some(Offer::load(&api, &patient.name).await),
        None => None,
    };
    let content = html! {
        h1 { "New message" }
        section.card aria-labelledby="patient-title" {
            h2 id="patient-title" { "Patient" }
            @if let Some(patient) = &selected {
                p.selected-patient {
                    strong { (patient.name) } " "
                    span.muted { (picker::contact_line(patient)) }
                    " " a href="/new" { "Choose another patient" }
                }
            } @else {
                @if !query.patient_id.is_empty() {
                    div.alert role="alert" { p { "This patient was not found." } }
                }
                (picker::search_form(&query.find))
                div id="found" aria-live="polite" { (picker::found_list(found.as_ref())) }
                @if !recent.is_empty() {
                    form.inline method="get" action="/new" {
                        div.field {
                            label for="recent" { "Or pick a recent patient" }
                            select id="recent" name="patient_id" {
                                @for (id, name) in &recent { option value=(id) { (name) } }
                            }
                        }
                        button type="submit" { "Choose" }
                    }
                }
            }
        }
        @if let Some(patient) = &selected {
            section.card aria-labelledby="message-title" {
                h2 id="message-title" { "Message" }
                form.compose method="post" action="/new" enctype="multipart/form-data" data-compose {
                    (page::csrf(session))
                    (idempotency_field())
                    input type="hidden" name="patient_id" value=(patient.id);
                    @if let Some(failure) = &failure { (page::alert(failure)) }
                    @let whatsapp_templates = offer.as_ref().is_some_and(Offer::has_whatsapp);
                    (message_fields("new", Some(&channel_options(patient, &unconfigured, whatsapp_templates)), draft, offer.as_ref()))
                    (send_later::fields("new", state.time_zone, &draft.send_date, &draft.send_time))
                    div.actions { button type="submit" { "Send" } }
                }
            }
        } @else if let Some(failure) = &failure {
            (page::alert(failure))
        }
    };
    page::respond(
        status,
        page::shell(
            "New message",
            Some(session),
            Nav::Compose,
            unread.as_ref(),
            content,
        ),
    )
}
