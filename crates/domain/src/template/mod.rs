//! Message templates: admins write them, staff send messages rendered from them.
//!
//! # Why a template is its own stream
//!
//! Each template lives in its own stream `template-<uuid>`: `TemplateCreated` (version 1),
//! then one `TemplateRevised` per `PUT` (version 2, 3, …), then at most one `TemplateRetired`.
//! Every content event carries the whole content of its version with the variables already
//! listed, so the stream *is* the template's history: the text of any version a message was
//! rendered from can be read back from the log, while the message itself records only
//! `template: {id, version}` beside the text it rendered. Sends read the template but never
//! write to its stream, so a template used by every reminder of the day never becomes a hot
//! stream that sends clash on; only an admin's revision moves it, and a send decided on the
//! previous version is still a correct send of that version.
//!
//! The template version (1, 2, …) is not the stream version (0, 1, …): retiring appends an
//! event but makes no new version. A revision with content identical to the current version
//! is a no-op (the answer carries the current version), so a repeated `PUT` does not count
//! versions up. Template names are not unique: uniqueness across streams would need a stream
//! that every creation writes, and staff pick templates by id from a list.
//!
//! A retired template stays readable but can no longer be used or revised: rendering it
//! answers `not_found` (as for an unknown id) and revising it `invalid_request`.

mod content;
mod decide;
pub mod placeholder;
mod render;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use content::{
    validate, TemplateContent, ValidContent, WhatsappTemplate, MAX_BODY_CHARS, MAX_SUBJECT_CHARS,
};
pub use render::{render, Rendered, PATIENT_NAME};

use crate::event::Event;
use crate::ids::TemplateId;
use crate::Aggregate;

/// Which version of which template a message was rendered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct TemplateRef {
    /// The template.
    pub id: TemplateId,
    /// Its version (1 for the content it was created with).
    pub version: u32,
}

/// A WhatsApp template message as the dispatcher sends it outside the 24-hour window: the
/// approved template's name and language, and the values of its body parameters in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WhatsappTemplateMessage {
    /// The approved template's name on the provider.
    pub name: String,
    /// Its language code, e.g. `en_US`.
    pub language: String,
    /// The values of `{{1}}`, `{{2}}`, … in order.
    pub parameters: Vec<String>,
}

/// A template's current version, folded from its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRecord {
    /// The template's id.
    pub id: TemplateId,
    /// The current version's content.
    pub content: TemplateContent,
    /// Its placeholders in order of first use (subject, then body).
    pub variables: Vec<String>,
    /// The current version, from 1.
    pub version: u32,
    /// Whether it was retired.
    pub retired: bool,
}

impl TemplateRecord {
    /// The reference a message rendered from this version records.
    pub fn reference(&self) -> TemplateRef {
        TemplateRef {
            id: self.id,
            version: self.version,
        }
    }
}

/// One template's state; `None` before it is created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template(pub Option<TemplateRecord>);

impl Aggregate for Template {
    fn apply(&mut self, event: &Event) {
        match (event, &mut self.0) {
            (Event::TemplateCreated(e), None) => {
                self.0 = Some(TemplateRecord {
                    id: e.template_id,
                    content: e.content.clone(),
                    variables: e.variables.clone(),
                    version: e.version,
                    retired: false,
                });
            }
            (Event::TemplateRevised(e), Some(record)) => {
                record.content = e.content.clone();
                record.variables = e.variables.clone();
                record.version = e.version;
            }
            (Event::TemplateRetired(_), Some(record)) => record.retired = true,
            _ => {}
        }
    }
}
