//! Attachment metadata: a stored file is recorded once, and a message may name only files its
//! author uploaded.

use domain::attachment::AttachmentRef;
use domain::event::AttachmentStored;
use domain::{Actor, Aggregate, Event, StreamName};
use store::ExpectedVersion;

use crate::error::CommandError;
use crate::executor::{Decided, Decision};
use crate::workspace::Workspace;

/// What an attachment stream folds into.
#[derive(Debug, Clone, Default)]
pub struct StoredAttachment(pub Option<AttachmentStored>);

impl Aggregate for StoredAttachment {
    fn apply(&mut self, event: &Event) {
        if let Event::AttachmentStored(stored) = event {
            self.0 = Some(stored.clone());
        }
    }
}

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

    async fn decide(&mut self, ws: &mut Workspace<'_>) -> Result<Decided<()>, CommandError> {
        let event = Event::AttachmentStored(AttachmentStored {
            attachment: self.attachment.clone(),
            uploaded_by: self.uploaded_by,
        });
        ws.expect(event.stream(), ExpectedVersion::NoStream);
        Ok(Decided::events(vec![event]))
    }
}
