//! The navigation's unread total ("Inbox (3)"): the unread messages addressed to the caller.

use maud::{html, Markup};

use super::api::{Api, Message, Page};
use super::session::Session;

/// The most unread messages counted; beyond it the total shows as "100+".
const COUNTED: usize = 100;

/// How many unread messages wait for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unread {
    /// Counted messages.
    count: usize,
    /// Whether there are more than [`COUNTED`].
    more: bool,
}

/// The caller's unread total through `GET /v1/messages?status=unread`: inbound messages for
/// staff, the clinic's messages for a patient; `None` for auditors (nothing is addressed to
/// them) or when the API cannot answer.
pub async fn unread(api: &Api<'_>, session: &Session) -> Option<Unread> {
    let direction = match session.role() {
        domain::Role::Patient => "outbound",
        domain::Role::Auditor => return None,
        _ => "inbound",
    };
    let page: Page<Message> = api
        .get(&format!(
            "/messages?status=unread&direction={direction}&limit={COUNTED}"
        ))
        .await
        .ok()?;
    Some(Unread {
        count: page.items.len(),
        more: page.next_cursor.is_some(),
    })
}

/// The total beside the inbox entry (empty when nothing is unread); `oob` marks it for an
/// htmx answer to replace the page's own by its id.
pub fn badge(unread: Option<&Unread>, oob: bool) -> Markup {
    html! {
        span id="nav-unread" hx-swap-oob=[oob.then_some("true")] {
            @if let Some(unread) = unread.filter(|u| u.count > 0) {
                " (" (unread.count) @if unread.more { "+" } ")"
                span.visually-hidden { " unread" }
            }
        }
    }
}
