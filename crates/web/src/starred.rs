//! The starred view: the messages the caller starred (`GET /v1/messages?starred=true`), each
//! linking to its place in its conversation.

use axum::http::StatusCode;
use maud::{html, Markup};

use super::api::{Api, Message, Page};
use super::clock::Clock;
use super::page;
use super::{inbox_url, query_string, Directory};

/// Starred messages per page.
const PAGE_SIZE: &str = "25";

/// The list of the caller's starred messages matching `filters` (the inbox's, `starred`
/// among them), newest first, one page from `cursor`; `after` is a position to wait for; times
/// are relative to `clock`.
pub async fn section(
    api: &Api<'_>,
    clock: &Clock,
    filters: &[(&'static str, &str)],
    cursor: &str,
    after: &str,
) -> (StatusCode, Markup) {
    let mut api_query: Vec<(&str, &str)> = vec![("limit", PAGE_SIZE)];
    api_query.extend(filters.iter().copied());
    api_query.push(("cursor", cursor));
    api_query.push(("min_position", after));
    let listed = api
        .get::<Page<Message>>(&format!("/messages?{}", query_string(api_query)))
        .await;
    let page = match listed {
        Ok(page) => page,
        Err(failure) => {
            let markup = html! {
                section id="conversation-list" aria-label="Starred messages" { (page::alert(&failure)) }
            };
            return (failure.status, markup);
        }
    };
    let mut directory = Directory::default();
    let mut names = Vec::with_capacity(page.items.len());
    for message in &page.items {
        names.push(directory.name(api, &message.patient_id).await);
    }
    let markup = html! {
        section id="conversation-list" aria-label="Starred messages" {
            @if page.items.is_empty() {
                p.empty { "No starred messages match." }
            } @else {
                ul.conversations.starred {
                    @for (message, name) in page.items.iter().zip(&names) { (row(clock, message, name)) }
                }
            }
            nav.pager aria-label="Pages" {
                @if !cursor.is_empty() {
                    a href=(inbox_url(filters, "", "")) { "First page" }
                }
                @if let Some(next) = &page.next_cursor {
                    a rel="next" href=(inbox_url(filters, "cursor", next)) { "Next page" }
                }
            }
        }
    };
    (StatusCode::OK, markup)
}

/// One starred message: who, where, what, linking to the message in its conversation (shown
/// from that message on, so an old one is on the page too).
fn row(clock: &Clock, message: &Message, patient: &str) -> Markup {
    let snippet: String = message.body.chars().take(140).collect();
    html! {
        li.row {
            a.row-link href={ "/conversations/" (message.conversation_id) "?from=" (message.position) "#m-" (message.id) } {
                span.row-top {
                    span.patient { (patient) }
                    span.when { (clock.relative(&message.sent_at)) }
                }
                span.row-bottom {
                    span.channels { (page::channel_pill(&message.channel)) }
                    span.snippet {
                        @if let Some(subject) = &message.subject { strong { (subject) } " — " }
                        (snippet)
                    }
                    span.row-status { span.star-mark aria-label="Starred" { "★" } }
                }
            }
        }
    }
}
