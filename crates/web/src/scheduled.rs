//! A conversation's scheduled messages on its page: those still pending (with a Cancel
//! button for staff who write) and those that failed when due, read through
//! `GET /v1/scheduled?conversation_id=` and cancelled through `DELETE /v1/scheduled/{id}`.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};

use super::api::{Api, Failure, Page, Scheduled, Written};
use super::clock::Clock;
use super::conversation::{self, FormError, Shown};
use super::page;
use super::query_string;
use super::session::{Session, Submitted};
use crate::WebState;

/// The most pending messages one page lists.
const PENDING_SHOWN: &str = "50";
/// The most failed ones one page lists.
const FAILED_SHOWN: &str = "20";
/// The characters of a message's text its preview keeps.
const PREVIEW_CHARS: usize = 140;

/// A conversation's scheduled messages that a page lists, soonest first.
#[derive(Debug, Default)]
pub struct Queue {
    /// Still waiting for their time.
    pub pending: Vec<Scheduled>,
    /// Refused by a rule when they fell due: nothing was sent.
    pub failed: Vec<Scheduled>,
    /// Whether there are more than those listed.
    pub more: bool,
}

impl Queue {
    /// The pending and failed scheduled messages of conversation `id` (waiting for position
    /// `after`, when given).
    pub async fn load(api: &Api<'_>, id: &str, after: &str) -> Result<Queue, Failure> {
        let pending = listed(api, id, "pending", PENDING_SHOWN, after).await?;
        let failed = listed(api, id, "failed", FAILED_SHOWN, after).await?;
        Ok(Queue {
            more: pending.next_cursor.is_some() || failed.next_cursor.is_some(),
            pending: pending.items,
            failed: failed.items,
        })
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.failed.is_empty()
    }
}

async fn listed(
    api: &Api<'_>,
    id: &str,
    status: &str,
    limit: &str,
    after: &str,
) -> Result<Page<Scheduled>, Failure> {
    let query = query_string([
        ("conversation_id", id),
        ("status", status),
        ("limit", limit),
        ("min_position", after),
    ]);
    api.get(&format!("/scheduled?{query}")).await
}

/// Any one message ever scheduled in conversation `id`, whatever became of it: what a
/// conversation that has not started yet is known by.
pub async fn any(api: &Api<'_>, id: &str, after: &str) -> Option<Scheduled> {
    let query = query_string([
        ("conversation_id", id),
        ("limit", "1"),
        ("min_position", after),
    ]);
    let page: Page<Scheduled> = api.get(&format!("/scheduled?{query}")).await.ok()?;
    page.items.into_iter().next()
}

/// What the list says above its entries: a change just made, or why one was refused.
pub enum Note<'a> {
    /// Nothing.
    None,
    /// A confirmation (`scheduled` or `cancelled`).
    Done(&'a str),
    /// A refused cancel.
    Refused(&'a Failure),
}

/// The "Scheduled" section of conversation `conversation` (empty while nothing is listed and
/// there is nothing to say); `oob` marks it for an htmx answer to replace the page's own.
pub fn section(
    session: &Session,
    clock: &Clock,
    conversation: &str,
    queue: &Result<Queue, Failure>,
    note: Note<'_>,
    oob: bool,
) -> Markup {
    let notice = match note {
        Note::Done("scheduled") => {
            Some("Message scheduled: it is sent at its time, and can be cancelled here until then.")
        }
        Note::Done("cancelled") => Some("Scheduled message cancelled: it will not be sent."),
        _ => None,
    };
    let shown = match queue {
        Ok(queue) => !queue.is_empty() || notice.is_some() || matches!(note, Note::Refused(_)),
        Err(_) => true,
    };
    html! {
        div id="scheduled" hx-swap-oob=[oob.then_some("true")] {
            @if shown {
                section.card.scheduled aria-labelledby="scheduled-title" {
                    h2 id="scheduled-title" { "Scheduled" }
                    @if let Some(notice) = notice { div.notice role="status" { p { (notice) } } }
                    @if let Note::Refused(failure) = note { (page::alert(failure)) }
                    @match queue {
                        Err(failure) => { (page::alert(failure)) }
                        Ok(queue) => {
                            @if queue.is_empty() { p.muted { "Nothing is waiting to be sent." } }
                            @if !queue.pending.is_empty() {
                                ol.scheduled-list aria-label="Waiting to be sent" {
                                    @for item in &queue.pending { (entry(session, clock, conversation, item)) }
                                }
                            }
                            @if !queue.failed.is_empty() {
                                h3.scheduled-failed { "Not sent" }
                                ol.scheduled-list aria-label="Not sent" {
                                    @for item in &queue.failed { (entry(session, clock, conversation, item)) }
                                }
                            }
                            @if queue.more { p.hint { "Only the soonest are listed." } }
                        }
                    }
                }
            }
        }
    }
}

/// One scheduled message: channel, when it is due (and when quiet hours release it), who wrote
/// it, a preview of its text, and for a pending one the Cancel button.
fn entry(session: &Session, clock: &Clock, conversation: &str, item: &Scheduled) -> Markup {
    let author = item
        .author
        .name
        .clone()
        .unwrap_or_else(|| page::role_label(&item.author.role).to_owned());
    let cancel = format!(
        "/conversations/{conversation}/scheduled/{}/cancel",
        item.message_id
    );
    html! {
        li.scheduled-item id={ "s-" (item.message_id) } {
            div.meta {
                (page::channel_pill(&item.channel))
                span.due { "Due " (clock.absolute(&item.send_at)) }
                span.author { "by " (author) }
            }
            @if item.release_at != item.send_at {
                p.held { "Quiet hours: sent at " (clock.absolute(&item.release_at)) }
            }
            @if let Some(subject) = &item.subject { p.subject { strong { (subject) } } }
            p.preview-text { (preview(&item.body)) }
            @if !item.attachments.is_empty() {
                p.hint { (item.attachments.len()) " attachment(s)" }
            }
            @if item.status == "failed" {
                p.failed {
                    span.badge.dl-failed { "not sent" } " "
                    (failure_text(item.failure_reason.as_deref()))
                }
            }
            @if item.status == "pending" && conversation::staff_writer(session) {
                form.cancel-scheduled method="post" action=(cancel) {
                    (page::csrf(session))
                    button.secondary type="submit" {
                        "Cancel" span.visually-hidden { " the message due " (clock.zoned(&item.send_at)) }
                    }
                }
            }
        }
    }
}

/// The first [`PREVIEW_CHARS`] characters of `text`, with an ellipsis when cut.
fn preview(text: &str) -> String {
    let mut chars = text.chars();
    let kept: String = chars.by_ref().take(PREVIEW_CHARS).collect();
    if chars.next().is_some() {
        format!("{}…", kept.trim_end())
    } else {
        kept
    }
}

/// Why a scheduled message was not sent, in words, with the API's code.
fn failure_text(reason: Option<&str>) -> String {
    let words = match reason {
        Some("channel_unavailable") => "the channel could not be used for the patient at its time",
        Some("conversation_exists") => "the doctor had another open conversation with the patient",
        Some("missing_permission") => "its author could no longer send messages",
        Some("patient_erased") => "the patient's record was erased",
        _ => "a rule refused it at its time",
    };
    match reason {
        Some(code) => format!("{words} ({code})."),
        None => format!("{words}."),
    }
}

/// `POST /conversations/{id}/scheduled/{message_id}/cancel`: cancels a pending scheduled
/// message; a refusal (such as one sent or cancelled meanwhile) shows on the page's list.
pub async fn cancel(
    State(state): State<WebState>,
    Path((id, message_id)): Path<(String, String)>,
    Submitted(session, _): Submitted,
) -> Response {
    let api = Api::new(&state, &session);
    let cancelled = match uuid::Uuid::try_parse(&message_id) {
        Ok(message_id) => {
            api.call::<Written>(
                Method::DELETE,
                &format!("/scheduled/{message_id}"),
                &serde_json::json!({}),
            )
            .await
        }
        Err(_) => Err(Failure::local(
            StatusCode::NOT_FOUND,
            "not_found",
            "scheduled message not found",
        )),
    };
    match cancelled {
        Ok(written) => page::see_other(&format!(
            "/conversations/{id}?after={}&done=cancelled#scheduled",
            written.position
        )),
        Err(failure) => {
            let error = FormError::Scheduled(failure);
            conversation::page_for(&state, &session, &id, Shown::default(), Some(error)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_cut_long_texts_at_a_character() {
        assert_eq!(preview("Short."), "Short.");
        let long = "é".repeat(PREVIEW_CHARS + 5);
        let cut = preview(&long);
        assert_eq!(cut.chars().count(), PREVIEW_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn failures_say_why_with_the_code() {
        assert_eq!(
            failure_text(Some("channel_unavailable")),
            "the channel could not be used for the patient at its time (channel_unavailable)."
        );
        assert_eq!(failure_text(None), "a rule refused it at its time.");
    }
}
