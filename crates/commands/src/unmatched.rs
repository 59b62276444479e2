//! Inbound messages from senders the hub does not know, kept for reception once per provider
//! message.

use domain::event::InboundUnmatched;
use domain::{Event, StreamName};
use store::ExpectedVersion;

use crate::error::CommandError;
use crate::executor::{Decided, Decision};
use crate::workspace::Workspace;

/// Keeps an unmatched inbound message; answers `false` when it was kept before.
pub struct KeepUnmatched {
    /// The message as it arrived.
    pub message: InboundUnmatched,
}

#[async_trait::async_trait]
impl Decision for KeepUnmatched {
    type Answer = bool;

    fn lane(&self) -> String {
        self.message.unmatched_id.stream()
    }

    fn kind(&self) -> &'static str {
        "keep_unmatched"
    }

    async fn decide(&mut self, ws: &mut Workspace<'_>) -> Result<Decided<bool>, CommandError> {
        let stream = self.message.unmatched_id.stream();
        if ws.exists(&stream).await? {
            return Ok(Decided::new(Vec::new(), false));
        }
        ws.expect(stream, ExpectedVersion::NoStream);
        let event = Event::InboundUnmatched(self.message.clone());
        Ok(Decided::new(vec![event], true))
    }
}
