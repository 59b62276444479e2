//! One conversation: its timeline (updated without a reload), its scheduled messages, reply
//! (now or later), call log, stars, archive and reopen, and attachment downloads. A
//! conversation whose first message is scheduled shows that message until it starts.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono_tz::Tz;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{Api, Conversation, Failure, Message, Patient, Written};
use super::clock::{self, Clock};
use super::compose::{self, channel_options, message_fields, Draft};
use super::entry::{entry, star_form};
use super::inbox::counterpart_label;
use super::nav;
use super::page::{self, Nav};
use super::scheduled::{self, Note, Queue};
use super::send_later;
use super::session::{FormData, Session, Submitted};
use super::template_choice::Offer;
use super::window::{self, Window};
use super::Directory;
use crate::WebState;

/// `?after=` (a position to wait for), `?known=` (polling), `?done=` (what was just changed),
/// and which entries to show: the newest page, `?from=<position>` every entry from there on,
/// or `?older=<cursor>` one more page before the newest (the "Load older messages" link
/// without scripts).
#[derive(Debug, Default, Deserialize)]
pub struct ViewQuery {
    #[serde(default)]
    after: String,
    #[serde(default)]
    done: String,
    #[serde(default)]
    known: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    older: String,
}

/// Everything the conversation page shows.
struct View {
    conversation: Conversation,
    /// The entries shown, oldest first.
    timeline: Window,
    patient: Option<Patient>,
    patient_name: String,
    unconfigured: Vec<String>,
    /// The templates the reply form offers (staff writers only; loaded for the whole page).
    offer: Option<Offer>,
    /// Whether the timeline carries the form that marks its unread messages read once shown
    /// (not in the answer to that form itself, so a failure cannot loop).
    offer_read: bool,
    /// The clinic's clock the page is rendered by.
    clock: Clock,
    /// The scheduled messages waiting (staff and auditors; `None` when not loaded).
    scheduled: Option<Result<Queue, Failure>>,
}

/// Which form comes back with what was typed, and why: refused, or (a reply) for its preview.
pub enum FormError {
    /// The reply form, refused or for its preview.
    Reply(Option<Failure>, Draft),
    /// The call form, refused.
    Call(Failure, CallDraft),
    /// A cancel of a scheduled message, refused.
    Scheduled(Failure),
    /// Anything else on the page, refused.
    Page(Failure),
}

/// A call log as typed.
#[derive(Debug, Clone, Default)]
pub struct CallDraft {
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

/// The conversation with its newest entries, or those from position `from` on, to be shown by
/// `clock`.
async fn load(
    api: &Api<'_>,
    clock: Clock,
    id: &str,
    after: &str,
    from: Option<u64>,
) -> Result<View, Failure> {
    let wait = if after.parse::<u64>().is_ok() {
        format!("?min_position={after}")
    } else {
        String::new()
    };
    let conversation: Conversation = api.get(&format!("/conversations/{id}{wait}")).await?;
    let timeline = window::newest(api, id, from, after).await?;
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
        offer: None,
        offer_read: true,
        clock,
        scheduled: None,
    })
}

/// `GET /conversations/{id}`.
pub async fn show(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<ViewQuery>,
) -> Response {
    let api = Api::new(&state, &session);
    let from = match (checked_id(&id), query.older.as_str()) {
        (Ok(id), older) if !older.is_empty() => match window::older(&api, &id, older).await {
            Ok(earlier) => Some(earlier.from()),
            Err(failure) => return page::failure_page(Some(&session), &failure),
        },
        _ => query.from.parse().ok(),
    };
    let shown = Shown {
        after: &query.after,
        done: &query.done,
        from,
    };
    page_for(&state, &session, &id, shown, None).await
}

/// What a conversation page is asked to show: the position to wait for, what was just changed
/// (`?done=`), and from which timeline position on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shown<'a> {
    /// A position to wait for (empty: none).
    pub after: &'a str,
    /// What was just changed: `scheduled`, `cancelled` (empty: nothing).
    pub done: &'a str,
    /// The oldest timeline position shown (`None`: the newest page).
    pub from: Option<u64>,
}

/// The conversation page, with a form back when `error` says so.
pub async fn page_for(
    state: &WebState,
    session: &Session,
    id: &str,
    shown: Shown<'_>,
    error: Option<FormError>,
) -> Response {
    let api = Api::new(state, session);
    let view = match checked_id(id) {
        Ok(id) => load(&api, state.clock(), &id, shown.after, shown.from).await,
        Err(failure) => Err(failure),
    };
    let mut view = match view {
        Ok(view) => view,
        Err(failure) if failure.code == "not_found" && !session.is_patient() => {
            return not_started(state, session, id, shown, error, failure).await;
        }
        Err(failure) => return page::failure_page(Some(session), &failure),
    };
    if staff_writer(session) {
        view.offer = Some(Offer::load(&api, &view.patient_name).await);
    }
    if !session.is_patient() {
        let id = &view.conversation.id;
        view.scheduled = Some(Queue::load(&api, id, shown.after).await);
    }
    let status = error_status(error.as_ref());
    let title = if session.is_patient() {
        counterpart_label(session, &view.conversation)
    } else {
        view.patient_name.clone()
    };
    let content = render(session, &view, &title, shown.done, error.as_ref());
    let unread = nav::unread(&api, session).await;
    page::respond(
        status,
        page::shell(&title, Some(session), Nav::None, unread.as_ref(), content),
    )
}

/// The page's status for a form that came back: the refusal's, else 200.
fn error_status(error: Option<&FormError>) -> StatusCode {
    match error {
        Some(
            FormError::Reply(Some(f), _)
            | FormError::Call(f, _)
            | FormError::Scheduled(f)
            | FormError::Page(f),
        ) => f.status,
        _ => StatusCode::OK,
    }
}

/// What the Scheduled list says above its entries: a refused cancel, else what was `done`.
fn scheduled_note<'a>(error: Option<&'a FormError>, done: &'a str) -> Note<'a> {
    match error {
        Some(FormError::Scheduled(failure)) => Note::Refused(failure),
        _ => Note::Done(done),
    }
}

/// The page of a conversation that has not started: its first message is scheduled (or was,
/// and was cancelled). It lists the scheduled messages and reloads once the conversation
/// starts; anything else not found is the not-found page, `failure`.
async fn not_started(
    state: &WebState,
    session: &Session,
    id: &str,
    shown: Shown<'_>,
    error: Option<FormError>,
    failure: Failure,
) -> Response {
    let api = Api::new(state, session);
    let Ok(id) = checked_id(id) else {
        return page::failure_page(Some(session), &failure);
    };
    let Some(first) = scheduled::any(&api, &id, shown.after).await else {
        return page::failure_page(Some(session), &failure);
    };
    let queue = Queue::load(&api, &id, shown.after).await;
    let patient_name = Directory::default().name(&api, &first.patient_id).await;
    let waiting = queue.as_ref().is_ok_and(|queue| !queue.pending.is_empty());
    let note = scheduled_note(error.as_ref(), shown.done);
    let content = html! {
        div.page-head {
            div {
                h1 { (patient_name) }
                p.muted { "Not started yet: the conversation begins when its first message is sent." }
            }
        }
        @if let Some(FormError::Page(failure)) = &error { (page::alert(failure)) }
        (scheduled::section(session, &state.clock(), &id, &queue, note, false))
        @if waiting {
            div hx-get={ "/conversations/" (id) "/updates?known=" (NOT_STARTED) }
                hx-trigger="every 2s" hx-swap="none" {}
        }
        p { a href="/" { "Back to the inbox" } }
    };
    let unread = nav::unread(&api, session).await;
    page::respond(
        error_status(error.as_ref()),
        page::shell(
            &patient_name,
            Some(session),
            Nav::None,
            unread.as_ref(),
            content,
        ),
    )
}

/// `?known=` of a page whose conversation has not started: the first answer that finds it
/// reloads the page.
const NOT_STARTED: &str = "not-started";

/// Whether the caller writes as staff (replies, call logs, archive, cancelling scheduled
/// messages).
pub fn staff_writer(session: &Session) -> bool {
    matches!(
        session.role(),
        domain::Role::Receptionist | domain::Role::Doctor | domain::Role::Admin
    )
}

fn render(
    session: &Session,
    view: &View,
    title: &str,
    done: &str,
    error: Option<&FormError>,
) -> Markup {
    let c = &view.conversation;
    let staff_writer = staff_writer(session);
    let (reply_error, reply_draft) = match error {
        Some(FormError::Reply(failure, draft)) => (failure.as_ref(), draft.clone()),
        _ => (
            None,
            Draft {
                channel: c.latest_message.channel.clone(),
                subject: if c.latest_message.channel == "email" {
                    reply_subject(&view.timeline.entries)
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
    let whatsapp_templates = view.offer.as_ref().is_some_and(Offer::has_whatsapp);
    let options = view
        .patient
        .as_ref()
        .map(|patient| channel_options(patient, &view.unconfigured, whatsapp_templates));
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
        (messages(session, view))
        @if let Some(queue) = &view.scheduled {
            (scheduled::section(session, &view.clock, &c.id, queue, scheduled_note(error, done), false))
        }
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
                            (message_fields("reply", None, &reply_draft, None))
                        } @else {
                            (message_fields("reply", Some(options.as_deref().unwrap_or(&[])), &reply_draft, view.offer.as_ref()))
                            (send_later::fields("reply", view.clock.zone(), &reply_draft.send_date, &reply_draft.send_time))
                        }
                        div.actions { button type="submit" { "Send reply" } }
                    }
                }
            }
            @if staff_writer {
                (call_form(session, &view.clock, c, call_error, &call_draft))
            }
        }
    }
}

/// The call log form; its date and time are the clinic's (now, unless typed).
fn call_form(
    session: &Session,
    clock: &Clock,
    c: &Conversation,
    failure: Option<&Failure>,
    draft: &CallDraft,
) -> Markup {
    let (today, now) = clock.local_now();
    let date = if draft.date.is_empty() {
        today.format("%Y-%m-%d").to_string()
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
                        label for="call-time" { "Time (" (clock.zone().name()) ")" }
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

/// The "Load older messages" control above the timeline, and the timeline itself.
fn messages(session: &Session, view: &View) -> Markup {
    html! {
        div id="older" {
            @if let Some(cursor) = &view.timeline.older {
                (older_control(&view.conversation.id, cursor))
            }
        }
        (timeline(session, view))
    }
}

/// A link to the page before `cursor`: without scripts it opens the conversation from there
/// on; htmx puts that page above the ones shown instead.
fn older_control(conversation: &str, cursor: &str) -> Markup {
    let query = super::query_string([("older", cursor)]);
    let fragment = super::query_string([("cursor", cursor)]);
    html! {
        p.load-older {
            a href={ "/conversations/" (conversation) "?" (query) "#timeline" }
                hx-get={ "/conversations/" (conversation) "/older?" (fragment) }
                hx-target="closest .load-older" hx-swap="outerHTML" {
                "Load older messages"
            }
        }
    }
}

/// The timeline from the oldest entry shown on, polling for changes every few seconds.
fn timeline(session: &Session, view: &View) -> Markup {
    let c = &view.conversation;
    html! {
        section id="timeline" aria-label="Messages" aria-live="polite"
            hx-get={ "/conversations/" (c.id) "/updates?known=" (c.position) "&from=" (view.timeline.from()) }
            hx-trigger="every 2s" hx-swap="outerHTML" {
            ol.timeline {
                @for message in &view.timeline.entries { (entry(session, &view.clock, &view.patient_name, message)) }
            }
            @if view.offer_read {
                (read_form(session, &c.id, &view.timeline.entries, Some(view.timeline.from())))
            }
        }
    }
}

/// The messages among `entries` that are unread and addressed to the caller.
fn unread_for_caller<'a>(session: &Session, entries: &'a [Message]) -> Vec<&'a str> {
    entries
        .iter()
        .filter(|message| message.status == "unread" && addressed_to_caller(session, message))
        .map(|message| message.id.as_str())
        .collect()
}

/// Marks the shown unread messages read: posted by the page as soon as they are shown (a GET
/// changes nothing), or by hand without scripts. With `from` (the timeline's oldest position)
/// the answer is the timeline as it now is; without, the form is an older page's and goes away.
fn read_form(
    session: &Session,
    conversation: &str,
    entries: &[Message],
    from: Option<u64>,
) -> Markup {
    let unread = unread_for_caller(session, entries);
    let path = format!("/conversations/{conversation}/read");
    let (target, swap) = match from {
        Some(_) => ("#timeline", "outerHTML"),
        None => ("this", "delete"),
    };
    html! {
        @if !unread.is_empty() {
            form.mark-read method="post" action=(path) hx-post=(path) hx-trigger="load"
                hx-target=(target) hx-swap=(swap) {
                (page::csrf(session))
                input type="hidden" name="messages" value=(unread.join(","));
                @if let Some(from) = from { input type="hidden" name="from" value=(from); }
                button.secondary type="submit" { "Mark as read" }
            }
        }
    }
}

/// `GET /conversations/{id}/older?cursor=`: the page before `cursor` for htmx to put above
/// the shown ones, with the control for the page before it.
pub async fn older(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<OlderQuery>,
) -> Response {
    let api = Api::new(&state, &session);
    let loaded = match checked_id(&id) {
        Ok(id) => window::older(&api, &id, &query.cursor)
            .await
            .map(|earlier| (id, earlier)),
        Err(failure) => Err(failure),
    };
    let (id, earlier) = match loaded {
        Ok(loaded) => loaded,
        Err(failure) => return page::respond(failure.status, page::alert(&failure)),
    };
    let clock = state.clock();
    let mut directory = Directory::default();
    let patient_name = match earlier.entries.first() {
        Some(first) => directory.name(&api, &first.patient_id).await,
        None => String::new(),
    };
    let markup = html! {
        @if let Some(cursor) = &earlier.older { (older_control(&id, cursor)) }
        ol.timeline.earlier aria-label="Older messages" {
            @for message in &earlier.entries { (entry(&session, &clock, &patient_name, message)) }
        }
        (read_form(&session, &id, &earlier.entries, None))
    };
    page::respond(StatusCode::OK, markup)
}

/// `?cursor=` of [`older`].
#[derive(Debug, Default, Deserialize)]
pub struct OlderQuery {
    #[serde(default)]
    cursor: String,
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
        Ok(_) if query.known == NOT_STARTED => {
            ([("hx-refresh", "true")], StatusCode::OK).into_response()
        }
        Ok(c) if c.position.to_string() == query.known => StatusCode::NO_CONTENT.into_response(),
        Ok(_) => match load(&api, state.clock(), &id, "", query.from.parse().ok()).await {
            Ok(mut view) => {
                view.timeline = view.timeline.since(query.from.parse().ok());
                if !session.is_patient() {
                    view.scheduled = Some(Queue::load(&api, &id, "").await);
                }
                page::respond(StatusCode::OK, timeline_update(&api, &session, &view).await)
            }
            Err(failure) => StatusCode::from_u16(failure.status.as_u16())
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
                .into_response(),
        },
        Err(failure) => failure.status.into_response(),
    }
}

/// The timeline with the header's status, the navigation's unread total and, when loaded, the
/// scheduled messages beside it (htmx out-of-band swaps).
async fn timeline_update(api: &Api<'_>, session: &Session, view: &View) -> Markup {
    let unread = nav::unread(api, session).await;
    html! {
        (timeline(session, view))
        span id="conv-status" hx-swap-oob="true" { (page::status_badge(&view.conversation.status)) }
        (nav::badge(unread.as_ref(), true))
        @if let Some(queue) = &view.scheduled {
            (scheduled::section(session, &view.clock, &view.conversation.id, queue, Note::None, true))
        }
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
    let from = form.text("from");
    if !headers.contains_key("hx-request") {
        let query = super::query_string([("after", after.as_str()), ("from", from)]);
        return page::see_other(&format!("/conversations/{id}?{query}#timeline"));
    }
    match load(&api, state.clock(), &id, &after, from.parse().ok()).await {
        Ok(mut view) => {
            view.offer_read = false;
            view.timeline = view.timeline.since(from.parse().ok());
            page::respond(StatusCode::OK, timeline_update(&api, &session, &view).await)
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
    if compose::wants_preview(&form) {
        let preview = FormError::Reply(None, Draft::from_form(&form));
        return page_for(&state, &session, &id, Shown::default(), Some(preview)).await;
    }
    let api = Api::new(&state, &session);
    let sent = match checked_id(&id) {
        Ok(id) => {
            compose::send_message(
                &api,
                &form,
                state.time_zone,
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
            let error = FormError::Reply(Some(failure), Draft::from_form(&form));
            page_for(&state, &session, &id, Shown::default(), Some(error)).await
        }
    }
}

/// Back to conversation `id` once `written` is in: at its timeline, or at its scheduled
/// messages when the message was scheduled.
pub fn written_redirect(id: &str, written: &Written) -> Response {
    let position = written.position;
    if written.send_at.is_some() {
        page::see_other(&format!(
            "/conversations/{id}?after={position}&done=scheduled#scheduled"
        ))
    } else {
        page::see_other(&format!("/conversations/{id}?after={position}#timeline"))
    }
}

/// The API's call log from the form, its date and time read in the clinic's `zone`.
fn call_body(form: &FormData, zone: Tz) -> Result<Value, Failure> {
    let invalid =
        |message: &str| Failure::local(StatusCode::BAD_REQUEST, "invalid_request", message);
    let date =
        clock::parse_date(form.text("date")).ok_or_else(|| invalid("Enter the call's date."))?;
    let time =
        clock::parse_time(form.text("time")).ok_or_else(|| invalid("Enter the call's time."))?;
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
    let occurred_at = clock::to_utc(date, time, zone).ok_or_else(|| {
        invalid(&format!(
            "{} Enter the time the clock showed.",
            clock::skipped("Time", date, time, zone)
        ))
    })?;
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
    let logged = match (checked_id(&id), call_body(&form, state.time_zone)) {
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
            let error = FormError::Call(failure, draft);
            page_for(&state, &session, &id, Shown::default(), Some(error)).await
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
        Err(failure) => {
            let error = FormError::Page(failure);
            page_for(&state, &session, &id, Shown::default(), Some(error)).await
        }
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
            "/conversations/{conversation_id}?after={}&from={}#m-{id}",
            answer["position"].as_u64().unwrap_or(0),
            form.text("position").parse::<u64>().unwrap_or(0)
        )),
        Err(failure) if headers.contains_key("hx-request") => {
            page::respond(StatusCode::OK, page::alert(&failure))
        }
        Err(failure) => {
            let error = FormError::Page(failure);
            page_for(
                &state,
                &session,
                &conversation_id,
                Shown::default(),
                Some(error),
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
