//! The inbox: conversations with filters, search and paging; the patient's own messages.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::api::{Api, Conversation, Failure, Message, Page};
use super::clock::Clock;
use super::nav;
use super::page::{self, Nav};
use super::session::Session;
use super::{inbox_url, query_string, starred, Directory};
use crate::WebState;

/// Conversations per page.
const PAGE_SIZE: &str = "25";

/// The inbox's query string.
#[derive(Debug, Default, Deserialize)]
pub struct InboxQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    patient_id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    starred: String,
    /// `clinic`: the "Needs reply" view.
    #[serde(default)]
    awaiting: String,
    #[serde(default)]
    cursor: String,
    /// A position the read models must include (after a write).
    #[serde(default)]
    after: String,
    /// Polling: the newest position the page shows; unchanged answers 204.
    #[serde(default)]
    poll: String,
}

impl InboxQuery {
    fn filters(&self) -> [(&'static str, &str); 7] {
        [
            ("q", self.q.as_str()),
            ("patient_id", self.patient_id.as_str()),
            ("status", self.status.as_str()),
            ("channel", self.channel.as_str()),
            ("direction", self.direction.as_str()),
            ("starred", self.starred.as_str()),
            ("awaiting", self.awaiting.as_str()),
        ]
    }

    fn is_filtered(&self) -> bool {
        self.filters().iter().any(|(_, value)| !value.is_empty())
    }
}

/// A conversation row, with the patient's name.
struct Row {
    conversation: Conversation,
    patient: String,
    /// The channels its entries use, in order of first use.
    channels: Vec<String>,
}

/// The channels a conversation's entries use (its first 200 entries and the latest).
async fn channels_of(api: &Api<'_>, conversation: &Conversation) -> Vec<String> {
    let mut channels: Vec<String> = api
        .get::<Page<Message>>(&format!(
            "/conversations/{}/messages?limit=200",
            conversation.id
        ))
        .await
        .map(|page| page.items.into_iter().map(|m| m.channel).collect())
        .unwrap_or_default();
    channels.push(conversation.latest_message.channel.clone());
    let mut distinct: Vec<String> = Vec::new();
    for channel in channels {
        if !distinct.contains(&channel) {
            distinct.push(channel);
        }
    }
    distinct
}

/// `GET /`: the inbox, or the caller's starred messages.
pub async fn index(
    State(state): State<WebState>,
    session: Session,
    Query(query): Query<InboxQuery>,
) -> Response {
    let api = Api::new(&state, &session);
    let starred_view = query.starred == "true" && !session.is_patient();
    let mut directory = Directory::default();
    let clock = state.clock();
    let (status, section) = if starred_view {
        let filters: Vec<(&str, &str)> = query
            .filters()
            .into_iter()
            .filter(|(name, _)| *name != "awaiting")
            .collect();
        starred::section(&api, &clock, &filters, &query.cursor, &query.after).await
    } else {
        match conversations(&api, &session, &clock, &query, &mut directory).await {
            Some(listed) => listed,
            None => return StatusCode::NO_CONTENT.into_response(),
        }
    };
    let patients = if session.is_patient() {
        Vec::new()
    } else {
        directory.recent(&api).await
    };
    let current = if starred_view {
        Nav::Starred
    } else {
        Nav::Inbox
    };
    let title = if session.is_patient() {
        "My messages"
    } else if starred_view {
        "Starred"
    } else {
        "Communication"
    };
    let unread = nav::unread(&api, &session).await;
    let content = html! {
        div.page-head {
            h1 { (title) }
            @if session.is_patient() {
                a.button href="/new" { "Write to reception" }
            } @else if session.role() != domain::Role::Auditor {
                a.button href="/new" { "New message" }
            }
        }
        @if !session.is_patient() && !starred_view { (views(&query)) }
        div.inbox {
            (filters(&session, &query, &patients))
            (section)
        }
    };
    page::respond(
        status,
        page::shell(title, Some(&session), current, unread.as_ref(), content),
    )
}

/// The conversation list; `None` when polling finds it unchanged.
async fn conversations(
    api: &Api<'_>,
    session: &Session,
    clock: &Clock,
    query: &InboxQuery,
    directory: &mut Directory,
) -> Option<(StatusCode, Markup)> {
    let mut api_query: Vec<(&str, &str)> = vec![("limit", PAGE_SIZE)];
    api_query.extend(query.filters());
    api_query.push(("cursor", &query.cursor));
    api_query.push(("min_position", &query.after));
    let listed = api
        .get::<Page<Conversation>>(&format!("/conversations?{}", query_string(api_query)))
        .await;
    let newest = listed
        .as_ref()
        .map(|page| {
            page.items
                .iter()
                .map(|c| c.position)
                .max()
                .unwrap_or(0)
                .to_string()
        })
        .unwrap_or_default();
    if !query.poll.is_empty() && query.poll == newest {
        return None;
    }
    let listed = match listed {
        Ok(page) => {
            let channels =
                futures::future::join_all(page.items.iter().map(|c| channels_of(api, c))).await;
            let mut rows = Vec::with_capacity(page.items.len());
            for (conversation, channels) in page.items.into_iter().zip(channels) {
                let patient = directory.name(api, &conversation.patient_id).await;
                rows.push(Row {
                    conversation,
                    patient,
                    channels,
                });
            }
            Ok((rows, page.next_cursor))
        }
        Err(failure) => Err(failure),
    };
    let status = match &listed {
        Err(failure) => failure.status,
        Ok(_) => StatusCode::OK,
    };
    Some((status, list(session, clock, query, &listed, &newest)))
}

/// The inbox's views: every conversation, or those whose latest entry is the patient's
/// (`awaiting=clinic`: the clinic owes a reply).
fn views(query: &InboxQuery) -> Markup {
    let needs_reply = query.awaiting == "clinic";
    html! {
        nav.tabs aria-label="Views" {
            a href="/" aria-current=[(!needs_reply).then_some("page")] { "All conversations" }
            a href="/?awaiting=clinic" aria-current=[needs_reply.then_some("page")] { "Needs reply" }
        }
    }
}

fn option(value: &str, label: &str, current: &str) -> Markup {
    html! { option value=(value) selected[value == current] { (label) } }
}

/// The filters, collapsed under "Filters" unless some are set (the script opens them on wide
/// screens).
fn filters(session: &Session, query: &InboxQuery, patients: &[(String, String)]) -> Markup {
    let open = query
        .filters()
        .iter()
        .any(|(name, value)| *name != "awaiting" && !value.is_empty());
    html! {
        details.filter-box open[open] data-open-wide {
        summary { "Filters" }
        form.filters method="get" action="/" role="search" aria-label="Filter conversations" {
            @if !query.awaiting.is_empty() {
                input type="hidden" name="awaiting" value=(query.awaiting);
            }
            div.field {
                label for="f-q" { "Search" }
                input id="f-q" type="search" name="q" value=(query.q)
                    placeholder="Words to find";
                @if !session.is_patient() { small { "Archived conversations included." } }
            }
            @if !session.is_patient() {
                div.field {
                    label for="f-patient" { "Patient" }
                    select id="f-patient" name="patient_id" {
                        (option("", "All patients", &query.patient_id))
                        @if !query.patient_id.is_empty()
                            && !patients.iter().any(|(id, _)| *id == query.patient_id) {
                            (option(&query.patient_id, "Selected patient", &query.patient_id))
                        }
                        @for (id, name) in patients { (option(id, name, &query.patient_id)) }
                    }
                }
                div.field {
                    label for="f-status" { "Status" }
                    select id="f-status" name="status" {
                        (option("", "Any status", &query.status))
                        @for status in ["unread", "read", "replied", "archived"] {
                            (option(status, status, &query.status))
                        }
                    }
                }
                div.field {
                    label for="f-channel" { "Channel" }
                    select id="f-channel" name="channel" {
                        (option("", "Any channel", &query.channel))
                        @for channel in ["sms", "email", "portal", "whatsapp", "call"] {
                            (option(channel, page::channel_label(channel), &query.channel))
                        }
                    }
                }
                div.field {
                    label for="f-direction" { "Direction" }
                    select id="f-direction" name="direction" {
                        (option("", "Both directions", &query.direction))
                        (option("inbound", "From patients", &query.direction))
                        (option("outbound", "From the clinic", &query.direction))
                    }
                }
                div.field.check {
                    input id="f-starred" type="checkbox" name="starred" value="true"
                        checked[query.starred == "true"];
                    label for="f-starred" { "Starred by me" }
                }
            }
            div.actions {
                button type="submit" { "Apply" }
                @if query.is_filtered() { a href="/" { "Clear filters" } }
            }
        }
        }
    }
}

fn list(
    session: &Session,
    clock: &Clock,
    query: &InboxQuery,
    listed: &Result<(Vec<Row>, Option<String>), Failure>,
    newest: &str,
) -> Markup {
    let filters = query.filters();
    // Only the first page follows new activity; later pages stay as they were.
    let poll_url = query
        .cursor
        .is_empty()
        .then(|| inbox_url(&filters, "poll", newest));
    html! {
        section id="conversation-list" aria-label="Conversations"
            hx-get=[poll_url.as_deref()] hx-trigger=[poll_url.as_ref().map(|_| "every 4s")]
            hx-select="#conversation-list" hx-swap="outerHTML" {
            @match listed {
                Err(failure) => { (page::alert(failure)) }
                Ok((rows, next_cursor)) => {
                    @if rows.is_empty() {
                        p.empty { "No conversations match." }
                    } @else {
                        ul.conversations {
                            @for row in rows { (conversation_row(session, clock, row)) }
                        }
                    }
                    nav.pager aria-label="Pages" {
                        @if !query.cursor.is_empty() {
                            a href=(inbox_url(&filters, "", "")) { "First page" }
                        }
                        @if let Some(cursor) = next_cursor {
                            a rel="next" href=(inbox_url(&filters, "cursor", cursor)) { "Next page" }
                        }
                    }
                }
            }
        }
    }
}

/// Who the conversation is with, from the viewer's side.
pub fn counterpart_label(session: &Session, conversation: &Conversation) -> String {
    if conversation.counterpart == "reception" {
        return "Reception".to_owned();
    }
    let staff = conversation
        .participants
        .iter()
        .find(|p| p.role != "patient");
    let role = staff.map(|p| p.role.as_str()).unwrap_or("doctor");
    match (staff.and_then(|p| p.name.as_deref()), session.is_patient()) {
        (Some(name), true) => name.to_owned(),
        (Some(name), false) => format!("{name}'s thread"),
        (None, true) => format!("Your {}", page::role_label(role).to_lowercase()),
        (None, false) => format!("{} thread", page::role_label(role)),
    }
}

fn conversation_row(session: &Session, clock: &Clock, row: &Row) -> Markup {
    let c = &row.conversation;
    let latest = &c.latest_message;
    let title = if session.is_patient() {
        counterpart_label(session, c)
    } else {
        row.patient.clone()
    };
    let snippet: String = latest.body.chars().take(140).collect();
    html! {
        li class={ "row" @if c.unread_count > 0 { " has-unread" } } {
            a.row-link href={ "/conversations/" (c.id) } {
                span.row-top {
                    span.patient { (title) }
                    @if !session.is_patient() { span.counterpart { (counterpart_label(session, c)) } }
                    span.when { (clock.relative(&c.last_message_at)) }
                }
                span.row-bottom {
                    span.channels aria-label="Channels" {
                        @for channel in &row.channels { (page::channel_pill(channel)) }
                    }
                    span.snippet {
                        @if let Some(subject) = &latest.subject { strong { (subject) } " — " }
                        (snippet)
                    }
                    span.row-status {
                        (page::status_badge(&c.status))
                        @if c.unread_count > 0 {
                            span.unread { (c.unread_count) span.visually-hidden { " unread" } }
                        }
                    }
                }
            }
        }
    }
}
