//! An uploaded file's record: what its attachment stream folds into.

use crate::event::{AttachmentStored, Event};
use crate::Aggregate;

/// A stored attachment's metadata and uploader, once recorded.
#[derive(Debug, Clone, Default)]
pub struct StoredAttachment(pub Option<AttachmentStored>);

impl Aggregate for StoredAttachment {
    fn apply(&mut self, event: &Event) {
        if let Event::AttachmentStored(stored) = event {
            self.0 = Some(stored.clone());
        }
    }
}
