//! Streams decided elsewhere, appended whole: the benchmark's seeded sample data. The events
//! skip the domain's rules (they were made to a recipe, not asked for), but still take the one
//! write path: each stream must be new, and the append checks it.

use domain::Event;
use store::ExpectedVersion;

use crate::error::CommandError;
use crate::executor::{Decided, Decision};
use crate::workspace::Workspace;

/// Appends new streams, each with its events in order, in one atomic append.
pub struct ImportStreams {
    /// The streams' events; every event names its own stream, and no stream may exist yet.
    pub events: Vec<Event>,
}

#[async_trait::async_trait]
impl Decision for ImportStreams {
    type Answer = ();

    fn lane(&self) -> String {
        self.events
            .first()
            .map_or_else(|| "import".to_owned(), Event::stream)
    }

    fn kind(&self) -> &'static str {
        "import_streams"
    }

    async fn decide(&mut self, ws: &mut Workspace<'_>) -> Result<Decided<()>, CommandError> {
        for event in &self.events {
            ws.expect(event.stream(), ExpectedVersion::NoStream);
        }
        Ok(Decided::events(std::mem::take(&mut self.events)))
    }
}
