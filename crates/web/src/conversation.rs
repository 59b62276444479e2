//! One conversation: its timeline (updated without a reload), reply, call log, stars,
//! archive and reopen, and attachment downloads.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{Api, Conversation, Failure, Message, Page, Patient, Written};
use super::compose::{self, channel_options, message_fields, Draft};
use super::inbox::counterpart_label;
use super::page::{self, Nav};
use super::session::{FormData, Session, Submitted};
use super::Directory;
use crate::WebState;

/// The most timeline entries one page shows.
const TIMELINE_MAX: usize = 2_000;

/// `?after=` (a position to wait for) and `?known=` (polling).
#[derive(Debug, Default, Deserialize)]
pub struct ViewQuery {
    #[serde(default)]
    after: String,
    #[serde(default)]
    known: String,
}

/// Everything the conversation page shows.
struct View {
    conversation: Conversation,
    timeline: Vec<Message>,
    patient: Option<Patient>,
    patient_name: String,
    unconfigured: Vec<String>,
    /// Whether the timeline carries the form that marks its unread messages read once shown
    /// (not in the answer to that form itself, so a failure cannot loop).
    offer_read: bool,
}

/// Which form a refusal belongs to, with what was typed.
enum FormError {
    Reply(Failure, Draft),
    Call(Failure, CallDraft),
    Page(Failure),
}

/// A call log as typed.
#[derive(Debug, Clone, Default)]
struct CallDraft {
    date: String,
    time: String,
    minutes: String,
    seconds: String,
    direction: String,
    summary: String,
}

fn checked_id(raw: &str) -> Result<String, Failure> {
    uuid::Uuid::try_parse(raw)
        .map(|id| id.to_string())
        .map_err(|_| Failure::local(StatusCode::NOT_FOUND, "not_found", "conversation not found"))
}

/// Whether the caller is the recipient who marks this message read on opening it.
fn addressed_to_caller(session: &Session, message: &Message) -> bool {
    match session.role() {
        domain::Role::Patient => message.direction == "outbound",
        domain::Role::Receptionist | domain::Role::Doctor | domain::Role::Admin => {
            message.direction == "inbound"
        }
        _ => false,
    }
}

async fn load(api: &Api<'_>, id: &str, after: &str) -> Result<View, Failure> {
    let wait = if after.parse::<u64>().is_ok() {
        format!("?min_position={after}")
    } else {
        String::new()
    };
    let conversation: Conversation = api.get(&format!("/conversations/{id}{wait}")).await?;
    let mut timeline: Vec<Message> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = super::query_string([
            ("limit", "200"),
            ("cursor", cursor.as_deref().unwrap_or("")),
            ("min_position", after),
        ]);
        let page: Page<Message> = api
            .get(&format!("/conversations/{id}/messages?{query}"))
            .await?;
        timeline.extend(page.items);
        match page.next_cursor {
            Some(next) if timeline.len() < TIMELINE_MAX => cursor = Some(next),
            _ => break,
        }
    }
    let mut directory = Directory::default();
    let patient = directory
        .patient(api, &conversation.patient_id)
        .await
        .cloned();
    let patient_name = patient
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_else(|| "Unknown patient".to_owned());
    Ok(View {
        conversation,
        timeline,
        patient,
        patient_name,
        unconfigured: compose::unconfigured_channels(api).await,
        offer_read: true,
    })
}

/// `GET /conversations/{id}`.
pub async fn show(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<ViewQuery>,
) -> Response {
    page_for(&state, &session, &id, &query.after, None).await
}

async fn page_for(
    state: &WebState,
    session: &Session,
    id: &str,
    after: &str,
    error: Option<FormError>,
) -> Response {
    let api = Api::new(state, session);
    let view = match checked_id(id) {
        Ok(id) => load(&api, &id, after).await,
        Err(failure) => Err(failure),
    };
    let view = match view {
        Ok(view) => view,
        Err(failure) => return page::failure_page(Some(session), &failure),
    };
    let status = match &error {
        Some(FormError::Reply(f, _) | FormError::Call(f, _) | FormError::Page(f)) => f.status,
        None => StatusCode::OK,
    };
    let title = if session.is_patient() {
        counterpart_label(session, &view.conversation)
    } else {
        view.patient_name.clone()
    };
    let content = render(session, &view, &title, error.as_ref());
    page::respond(
        status,
        page::shell(&title, Some(session), Nav::None, content),
    )
}

fn render(session: &Session, view: &View, title: &str, error: Option<&FormError>) -> Markup {
    let c = &view.conversation;
    let staff_writer = matches!(
        session.role(),
        domain::Role::Receptionist | domain::Role::Doctor | domain::Role::Admin
    );
    let (reply_error, reply_draft) = match error {
        Some(FormError::Reply(failure, draft)) => (Some(failure), draft.clone()),
        _ => (
            None,
            Draft {
                channel: c.latest_message.channel.clone(),
                subject: if c.latest_message.channel == "email" {
                    reply_subject(&view.timeline)
                } else {
                    String::new()
                },
                ..Draft::default()
            },
        ),
    };
    let (call_error, call_draft) = match error {
        Some(FormError::Call(failure, draft)) => (Some(failure), draft.clone()),
        _ => (None, CallDraft::default()),
    };
    let options = view
        .patient
        .as_ref()
        .map(|patient| channel_options(patient, &view.unconfigured));
    html! {
        div.page-head {
            div {
                h1 { (title) }
                p.muted {
                    @if !session.is_patient() { (counterpart_label(session, c)) " · " }
                    "Status " span id="conv-status" { (page::status_badge(&c.status)) }
                }
            }
            @if staff_writer {
                div.head-actions {
                    a.button.secondary href={ "/new?patient_id=" (c.patient_id) } { "New message to patient" }
                    form method="post" action={ "/conversations/" (c.id) "/archive" } {
                        (page::csrf(session))
                        input type="hidden" name="archived" value=(if c.archived { "false" } else { "true" });
                        button.secondary type="submit" {
                            @if c.archived { "Reopen" } @else { "Archive" }
                        }
                    }
                }
            }
        }
        @if let Some(FormError::Page(failure)) = error { (page::alert(failure)) }
        (timeline(session, view))
        div.forms {
            @if session.is_patient() || staff_writer {
                section.card aria-labelledby="reply-title" {
                    h2 id="reply-title" { "Reply" }
                    form.compose method="post" action={ "/conversations/" (c.id) "/reply" }
                        enctype="multipart/form-data" data-compose {
                        (page::csrf(session))
                        (compose::idempotency_field())
                        @if let Some(failure) = reply_error { (page::alert(failure)) }
                        @if session.is_patient() {
                            (message_fields("reply", None, &reply_draft))
                        } @else {
                            (message_fields("reply", Some(options.as_deref().unwrap_or(&[])), &reply_draft))
                        }
                        div.actions { button type="submit" { "Send reply" } }
                    }
                }
            }
            @if staff_writer {
                (call_form(session, c, call_error, &call_draft))
            }
        }
    }
}

fn call_form(
    session: &Session,
    c: &Conversation,
    failure: Option<&Failure>,
    draft: &CallDraft,
) -> Markup {
    let now = Utc::now();
    let date = if draft.date.is_empty() {
        now.format("%Y-%m-%d").to_string()
    } else {
        draft.date.clone()
    };
    let time = if draft.time.is_empty() {
        now.format("%H:%M").to_string()
    } else {
        draft.time.clone()
    };
    html! {
        section.card aria-labelledby="call-title" {
            h2 id="call-title" { "Log call" }
            form.call method="post" action={ "/conversations/" (c.id) "/call" } {
                (page::csrf(session))
                (compose::idempotency_field())
                @if let Some(failure) = failure { (page::alert(failure)) }
                div.row-fields {
                    div.field {
                        label for="call-date" { "Date" }
                        input id="call-date" type="date" name="date" value=(date) required;
                    }
                    div.field {
                        label for="call-time" { "Time (UTC)" }
                        input id="call-time" type="time" name="time" value=(time) required;
                    }
                    div.field {
                        label for="call-minutes" { "Minutes" }
                        input id="call-minutes" type="number" name="minutes" min="0" max="1440"
                            value=(draft.minutes) inputmode="numeric";
                    }
                    div.field {
                        label for="call-seconds" { "Seconds" }
                        input id="call-seconds" type="number" name="seconds" min="0" max="59"
                            value=(draft.seconds) inputmode="numeric";
                    }
                }
                div.field {
                    label for="call-direction" { "Direction" }
                    select id="call-direction" name="direction" {
                        option value="inbound" selected[draft.direction != "outbound"] { "The patient called" }
                        option value="outbound" selected[draft.direction == "outbound"] { "We called the patient" }
                    }
                }
                div.field {
                    label for="call-summary" { "Summary" }
                    textarea id="call-summary" name="summary" rows="3" required { (draft.summary) }
                }
                div.actions { button type="submit" { "Log call" } }
            }
        }
    }
}

/// The timeline, polling for new entries every few seconds.
fn timeline(session: &Session, view: &View) -> Markup {
    let c = &view.conversation;
    html! {
        section id="timeline" aria-label="Messages" aria-live="polite"
            hx-get={ "/conversations/" (c.id) "/updates?known=" (c.position) }
            hx-trigger="every 2s" hx-swap="outerHTML" {
            ol.timeline {
                @for message in &view.timeline { (entry(session, view, message)) }
            }
            @if view.offer_read { (read_form(session, view)) }
        }
    }
}

/// The messages of the timeline that are unread and addressed to the caller.
fn unread_for_caller<'a>(session: &Session, view: &'a View) -> Vec<&'a str> {
    view.timeline
        .iter()
        .filter(|message| message.status == "unread" && addressed_to_caller(session, message))
        .map(|message| message.id.as_str())
        .collect()
}

/// Marks the shown unread messages read: posted by the page as soon as the timeline is shown
/// (a GET changes nothing), or by hand without scripts.
fn read_form(session: &Session, view: &View) -> Markup {
    let unread = unread_for_caller(session, view);
    let path = format!("/conversations/{}/read", view.conversation.id);
    html! {
        @if !unread.is_empty() {
            form.mark-read method="post" action=(path) hx-post=(path) hx-trigger="load"
                hx-target="#timeline" hx-swap="outerHTML" {
                (page::csrf(session))
                input type="hidden" name="messages" value=(unread.join(","));
                button.secondary type="submit" { "Mark as read" }
            }
        }
    }
}

/// The subject an e-mail reply starts with: "Re: " and the latest subject in the thread, or
/// nothing.
fn reply_subject(timeline: &[Message]) -> String {
    let Some(subject) = timeline
        .iter()
        .rev()
        .find_map(|m| m.subject.as_deref().filter(|s| !s.trim().is_empty()))
    else {
        return String::new();
    };
    if subject.to_ascii_lowercase().starts_with("re:") {
        subject.to_owned()
    } else {
        format!("Re: {subject}")
    }
}

fn author_label(session: &Session, view: &View, message: &Message) -> String {
    if message.author.id == session.id() {
        "you".to_owned()
    } else if let Some(name) = &message.author.name {
        name.clone()
    } else if message.author.role == "patient" {
        view.patient_name.clone()
    } else {
        page::role_label(&message.author.role).to_owned()
    }
}

fn entry(session: &Session, view: &View, message: &Message) -> Markup {
    let from_clinic = message.direction == "outbound";
    let direction = match (session.is_patient(), from_clinic) {
        (false, false) => "From the patient",
        (false, true) => "To the patient",
        (true, false) => "To the clinic",
        (true, true) => "From the clinic",
    };
    html! {
        li class={ "msg " (message.direction) } id={ "m-" (message.id) } {
            div.meta {
                (page::channel_pill(&message.channel))
                span.direction { (direction) }
                span.author { "by " (author_label(session, view, message)) }
                span.when { (page::time(&message.sent_at)) }
            }
            @if let Some(call) = &message.call {
                p.call-facts {
                    "Phone call · "
                    (if message.direction == "inbound" { "the patient called" } else { "we called" })
                    " · " (call.duration_seconds / 60) " min " (call.duration_seconds % 60) " s · "
                    (page::time(&call.occurred_at))
                }
            }
            @if let Some(subject) = &message.subject { h3.subject { (subject) } }
            div.body { (message.body) }
            @if !message.attachments.is_empty() {
                ul.files aria-label="Attachments" {
                    @for file in &message.attachments {
                        @let name = file.filename.clone().unwrap_or_else(|| "attachment".to_owned());
                        li {
                            @if file.media_type.starts_with("image/") {
                                a href={ "/files/" (file.id) } {
                                    img.thumb src={ "/files/" (file.id) } alt={ "Image: " (name) } loading="lazy";
                                }
                            }
                            a.file href={ "/files/" (file.id) } download=(name) {
                                "Download " (name)
                            }
                            span.muted { " (" (file.media_type) ", " (page::size(file.size)) ")" }
                        }
                    }
                }
            }
            div.msg-foot {
                span { "Status: " (page::status_badge(&message.status)) }
                @if let Some(delivery) = &message.delivery_status {
                    span { "Delivery: " span class={ "badge dl-" (delivery) } { (delivery) } }
                    @if let Some(reason) = &message.delivery_error { span.reason { (reason) } }
                }
                @if !session.is_patient() && session.role() != domain::Role::Auditor {
                    (star_form(session, message))
                }
            }
        }
    }
}

fn star_form(session: &Session, message: &Message) -> Markup {
    let label = if message.starred { "Starred" } else { "Star" };
    html! {
        form.star method="post" action={ "/messages/" (message.id) "/star" }
            hx-post={ "/messages/" (message.id) "/star" } hx-swap="outerHTML" {
            (page::csrf(session))
            input type="hidden" name="starred" value=(if message.starred { "false" } else { "true" });
            input type="hidden" name="conversation_id" value=(message.conversation_id);
            button.star-toggle type="submit" aria-pressed=(message.starred)
                title=(if message.starred { "Remove the star" } else { "Star for follow-up" }) {
                span aria-hidden="true" { (if message.starred { "★ " } else { "☆ " }) }
                (label)
            }
        }
    }
}

/// `GET /conversations/{id}/updates?known=`: 204 while nothing changed, else the timeline.
pub async fn updates(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<ViewQuery>,
) -> Response {
    let api = Api::new(&state, &session);
    let Ok(id) = checked_id(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match api
        .get::<Conversation>(&format!("/conversations/{id}"))
        .await
    {
        Ok(c) if c.position.to_string() == query.known => StatusCode::NO_CONTENT.into_response(),
        Ok(_) => match load(&api, &id, "").await {
            Ok(view) => page::respond(StatusCode::OK, timeline_update(&session, &view)),
            Err(failure) => StatusCode::from_u16(failure.status.as_u16())
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
                .into_response(),
        },
        Err(failure) => failure.status.into_response(),
    }
}

/// The timeline with the header's status beside it (an htmx out-of-band swap).
fn timeline_update(session: &Session, view: &View) -> Markup {
    html! {
        (timeline(session, view))
        span id="conv-status" hx-swap-oob="true" { (page::status_badge(&view.conversation.status)) }
    }
}

/// `POST /conversations/{id}/read` with `messages=<id>,<id>…`: marks those messages read for
/// the caller; htmx swaps in the timeline as it now is, without scripts the browser returns to
/// the conversation.
pub async fn read(
    State(state): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Submitted(session, form): Submitted,
) -> Response {
    let api = Api::new(&state, &session);
    let id = match checked_id(&id) {
        Ok(id) => id,
        Err(failure) => return page::failure_page(Some(&session), &failure),
    };
    let mut position: Option<u64> = None;
    for message in form.text("messages").split(',') {
        let Ok(message) = uuid::Uuid::try_parse(message.trim()) else {
            continue;
        };
        let marked: Result<Written, Failure> = api
            .call(
                Method::POST,
                &format!("/messages/{message}/read"),
                &json!({}),
            )
            .await;
        if let Ok(written) = marked {
            position = position.max(Some(written.position));
        }
    }
    let after = position.map(|p| p.to_string()).unwrap_or_default();
    if !headers.contains_key("hx-request") {
        return page::see_other(&format!("/conversations/{id}?after={after}#timeline"));
    }
    match load(&api, &id, &after).await {
        Ok(mut view) => {
            view.offer_read = false;
            page::respond(StatusCode::OK, timeline_update(&session, &view))
        }
        Err(failure) => page::respond(failure.status, page::alert(&failure)),
    }
}

/// `POST /conversations/{id}/reply`.
pub async fn reply(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Submitted(session, form): Submitted,
) -> Response {
    let api = Api::new(&state, &session);
    let sent = match checked_id(&id) {
        Ok(id) => {
            compose::send_message(
                &api,
                &form,
                &format!("/conversations/{id}/messages"),
                json!({}),
            )
            .await
        }
        Err(failure) => Err(failure),
    };
    match sent {
        Ok(written) => written_redirect(&id, &written),
        Err(failure) => {
            let error = FormError::Reply(failure, Draft::from_form(&form));
            page_for(&state, &session, &id, "", Some(error)).await
        }
    }
}

fn written_redirect(id: &str, written: &Written) -> Response {
    page::see_other(&format!(
        "/conversations/{id}?after={}#timeline",
        written.position
    ))
}

fn call_body(form: &FormData) -> Result<Value, Failure> {
    let invalid =
        |message: &str| Failure::local(StatusCode::BAD_REQUEST, "invalid_request", message);
    let date = NaiveDate::parse_from_str(form.text("date"), "%Y-%m-%d")
        .map_err(|_| invalid("Enter the call's date."))?;
    let time = NaiveTime::parse_from_str(form.text("time"), "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(form.text("time"), "%H:%M:%S"))
        .map_err(|_| invalid("Enter the call's time."))?;
    let number = |name: &str| -> Result<i64, Failure> {
        match form.optional(name) {
            None => Ok(0),
            Some(raw) => raw
                .trim()
                .parse::<i64>()
                .map_err(|_| invalid("The duration must be whole minutes and seconds.")),
        }
    };
    let duration = number("minutes")? * 60 + number("seconds")?;
    let occurred_at = Utc.from_utc_datetime(&date.and_time(time));
    let mut body = json!({
        "occurred_at": occurred_at.to_rfc3339(),
        "duration_seconds": duration,
        "direction": form.text("direction"),
        "summary": form.text("summary"),
    });
    if let Some(key) = form.optional("idempotency_key") {
        body["idempotency_key"] = json!(key);
    }
    Ok(body)
}

/// `POST /conversations/{id}/call`.
pub async fn log_call(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Submitted(session, form): Submitted,
) -> Response {
    let api = Api::new(&state, &session);
    let logged = match (checked_id(&id), call_body(&form)) {
        (Ok(id), Ok(body)) => {
            api.call::<Written>(Method::POST, &format!("/conversations/{id}/calls"), &body)
                .await
        }
        (Err(failure), _) | (_, Err(failure)) => Err(failure),
    };
    match logged {
        Ok(written) => written_redirect(&id, &written),
        Err(failure) => {
            let draft = CallDraft {
                date: form.text("date").to_owned(),
                time: form.text("time").to_owned(),
                minutes: form.text("minutes").to_owned(),
                seconds: form.text("seconds").to_owned(),
                direction: form.text("direction").to_owned(),
                summary: form.text("summary").to_owned(),
            };
            page_for(
                &state,
                &session,
                &id,
                "",
                Some(FormError::Call(failure, draft)),
            )
            .await
        }
    }
}

/// `POST /conversations/{id}/archive` with `archived=true|false`.
pub async fn archive(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Submitted(session, form): Submitted,
) -> Response {
    let api = Api::new(&state, &session);
    let action = if form.text("archived") == "false" {
        "unarchive"
    } else {
        "archive"
    };
    let done = match checked_id(&id) {
        Ok(id) => {
            api.call::<Written>(
                Method::POST,
                &format!("/conversations/{id}/{action}"),
                &json!({}),
            )
            .await
        }
        Err(failure) => Err(failure),
    };
    match done {
        Ok(written) => written_redirect(&id, &written),
        Err(failure) => page_for(&state, &session, &id, "", Some(FormError::Page(failure))).await,
    }
}

/// `POST /messages/{id}/star` with `starred=true|false`: htmx swaps the toggle in place;
/// without scripts the browser returns to the conversation.
pub async fn star(
    State(state): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Submitted(session, form): Submitted,
) -> Response {
    let api = Api::new(&state, &session);
    let starred = form.text("starred") != "false";
    let method = if starred { Method::PUT } else { Method::DELETE };
    let done = match uuid::Uuid::try_parse(&id) {
        Ok(id) => {
            api.call::<Value>(method, &format!("/messages/{id}/star"), &json!({}))
                .await
        }
        Err(_) => Err(Failure::local(
            StatusCode::NOT_FOUND,
            "not_found",
            "message not found",
        )),
    };
    let conversation_id = form.text("conversation_id").to_owned();
    match done {
        Ok(_) if headers.contains_key("hx-request") => {
            let message: Result<Message, Failure> = api.get(&format!("/messages/{id}")).await;
            match message {
                Ok(mut message) => {
                    message.starred = starred;
                    page::respond(StatusCode::OK, star_form(&session, &message))
                }
                Err(failure) => page::respond(failure.status, page::alert(&failure)),
            }
        }
        Ok(answer) => page::see_other(&format!(
            "/conversations/{conversation_id}?after={}#m-{id}",
            answer["position"].as_u64().unwrap_or(0)
        )),
        Err(failure) if headers.contains_key("hx-request") => {
            page::respond(StatusCode::OK, page::alert(&failure))
        }
        Err(failure) => {
            page_for(
                &state,
                &session,
                &conversation_id,
                "",
                Some(FormError::Page(failure)),
            )
            .await
        }
    }
}

/// `GET /files/{id}`: the attachment, if the caller may see it.
pub async fn download(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = uuid::Uuid::try_parse(&id) else {
        return page::failure_page(
            Some(&session),
            &Failure::local(StatusCode::NOT_FOUND, "not_found", "attachment not found"),
        );
    };
    let api = Api::new(&state, &session);
    let response = api
        .send(
            Method::GET,
            &format!("/attachments/{id}"),
            None,
            Body::empty(),
        )
        .await;
    if response.status().is_success() {
        let mut response = response;
        page::secure(response.headers_mut());
        response.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("private, no-store"),
        );
        return response;
    }
    page::failure_page(
        Some(&session),
        &Failure::local(response.status(), "not_found", "attachment not found"),
    )
}
