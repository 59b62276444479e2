//! The part of a conversation's timeline a page shows: its newest entries, read newest first
//! through `GET /v1/messages?conversation_id=` (a keyset cursor, so pages stay put while new
//! messages arrive) and shown oldest first, and the older pages one at a time.

use super::api::{Api, Failure, Message, Page};
use super::query_string;

/// Entries per page.
const PAGE: &str = "50";
/// The most entries one window holds.
const MAX: usize = 2_000;

/// Timeline entries, oldest first, and where the older ones start.
pub struct Window {
    /// The entries, oldest first.
    pub entries: Vec<Message>,
    /// The cursor of the entries before these, when there are any.
    pub older: Option<String>,
}

impl Window {
    /// Only the entries from position `from` on, for an answer that replaces the polled
    /// timeline alone (the older pages above it stay as they are, so nothing older may repeat
    /// them); the older entries' cursor goes with the dropped ones.
    pub fn since(mut self, from: Option<u64>) -> Window {
        if let Some(from) = from {
            self.entries.retain(|m| m.position >= from);
            self.older = None;
        }
        self
    }

    /// The position of the oldest entry shown (0 when none is).
    pub fn from(&self) -> u64 {
        self.entries.first().map_or(0, |m| m.position)
    }
}

/// One page of the conversation's entries, newest first, from `cursor`.
async fn page(
    api: &Api<'_>,
    conversation: &str,
    cursor: &str,
    after: &str,
) -> Result<Page<Message>, Failure> {
    let query = query_string([
        ("conversation_id", conversation),
        ("limit", PAGE),
        ("cursor", cursor),
        ("min_position", after),
    ]);
    api.get(&format!("/messages?{query}")).await
}

/// The newest page of the conversation, or with `from` every entry from that position on
/// (whole pages, at most [`MAX`] entries); `after` is a position the answer must include.
pub async fn newest(
    api: &Api<'_>,
    conversation: &str,
    from: Option<u64>,
    after: &str,
) -> Result<Window, Failure> {
    let mut entries: Vec<Message> = Vec::new();
    let mut cursor = String::new();
    let older = loop {
        let page = page(api, conversation, &cursor, after).await?;
        let reached = match (from, page.items.last()) {
            (Some(from), Some(oldest)) => oldest.position <= from,
            _ => true,
        };
        entries.extend(page.items);
        match page.next_cursor {
            Some(next) if !reached && entries.len() < MAX => cursor = next,
            next => break next,
        }
    };
    entries.reverse();
    Ok(Window { entries, older })
}

/// The page of entries before `cursor` (a [`Window::older`]).
pub async fn older(api: &Api<'_>, conversation: &str, cursor: &str) -> Result<Window, Failure> {
    let page = page(api, conversation, cursor, "").await?;
    let mut entries = page.items;
    entries.reverse();
    Ok(Window {
        entries,
        older: page.next_cursor,
    })
}
