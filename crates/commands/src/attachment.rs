//! Attachment metadata: a stored file is recorded once per attachment id.

use domain::attachment::AttachmentRef;
use domain::event::AttachmentStored;
use domain::{Actor, Event, StreamName};
use store::ExpectedVersion;

use crate::error::CommandError;
use crate::executor::{Decided, Decision};
use crate::workspace::Workspace;

/// Records a stored file's metadata, once per attachment id.
pub struct StoreAttachment {
    /// The file.
    pub attachment: AttachmentRef,
    /// Who uploaded it.
    pub uploaded_by: Actor,
}

#[async_trait::async_trait]
impl Decision for StoreAttachment {
    type Answer = ();

    fn lane(&self) -> String {
        self.attachment.id.stream()
    }

    fn kind(&self) -> &'static str {
        "store_attachment"
    }

    async fn decide(&mut self, ws: &mut Workspace<'_>) -> Result<Decided<()>, CommandError> {
        let event = Event::AttachmentStored(AttachmentStored {
            attachment: self.attachment.clone(),
            uploaded_by: self.uploaded_by,
        });
        ws.expect(event.stream(), ExpectedVersion::NoStream);
        Ok(Decided::events(vec![event]))
    }
}
