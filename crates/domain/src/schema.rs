//! JSON Schemas of every command and event, generated from the Rust types.
//!
//! The checked-in copies under `schemas/` are compared with these by a test; regenerate
//! them with `UPDATE_SCHEMAS=1 cargo test -p domain --test schemas`.

use schemars::{schema_for, JsonSchema, Schema};

use crate::command;
use crate::event;

/// One generated schema: its relative path under `schemas/` and its JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaFile {
    /// Path relative to `schemas/`, e.g. `events/MessageSent.json`.
    pub path: String,
    /// Pretty-printed JSON with a trailing newline.
    pub contents: String,
}

fn file<T: JsonSchema>(folder: &str, name: &str) -> SchemaFile {
    let schema: Schema = schema_for!(T);
    let mut contents = serde_json::to_string_pretty(&schema).unwrap_or_default();
    contents.push('\n');
    SchemaFile {
        path: format!("{folder}/{name}.json"),
        contents,
    }
}

/// Every command and event schema, plus the event envelope and the tagged unions.
pub fn all() -> Vec<SchemaFile> {
    vec![
        file::<event::EventEnvelope>("events", "EventEnvelope"),
        file::<event::Event>("events", "Event"),
        file::<event::StaffRegistered>("events", "StaffRegistered"),
        file::<event::PermissionsChanged>("events", "PermissionsChanged"),
        file::<event::TokenIssued>("events", "TokenIssued"),
        file::<event::TokenRevoked>("events", "TokenRevoked"),
        file::<event::PatientRegistered>("events", "PatientRegistered"),
        file::<event::PatientContactChanged>("events", "PatientContactChanged"),
        file::<event::SmsConsentChanged>("events", "SmsConsentChanged"),
        file::<event::PatientErased>("events", "PatientErased"),
        file::<event::WhatsappWindowOpened>("events", "WhatsappWindowOpened"),
        file::<event::PatientConversationOpened>("events", "PatientConversationOpened"),
        file::<event::PatientConversationArchived>("events", "PatientConversationArchived"),
        file::<event::PatientConversationReopened>("events", "PatientConversationReopened"),
        file::<event::ConversationStarted>("events", "ConversationStarted"),
        file::<event::MessageSent>("events", "MessageSent"),
        file::<event::CallLogged>("events", "CallLogged"),
        file::<event::StatusChanged>("events", "StatusChanged"),
        file::<event::MessageStarred>("events", "MessageStarred"),
        file::<event::MessageUnstarred>("events", "MessageUnstarred"),
        file::<event::ConversationArchived>("events", "ConversationArchived"),
        file::<event::ConversationReopened>("events", "ConversationReopened"),
        file::<event::AttachmentStored>("events", "AttachmentStored"),
        file::<event::MessageReceived>("events", "MessageReceived"),
        file::<event::ProviderMessageLinked>("events", "ProviderMessageLinked"),
        file::<event::DispatchClaimed>("events", "DispatchClaimed"),
        file::<event::DeliveryStatusChanged>("events", "DeliveryStatusChanged"),
        file::<event::InboundUnmatched>("events", "InboundUnmatched"),
        file::<event::UnmatchedAssigned>("events", "UnmatchedAssigned"),
        file::<event::TemplateCreated>("events", "TemplateCreated"),
        file::<event::TemplateRevised>("events", "TemplateRevised"),
        file::<event::TemplateRetired>("events", "TemplateRetired"),
        file::<event::QuietHoursSet>("events", "QuietHoursSet"),
        file::<event::MessageScheduled>("events", "MessageScheduled"),
        file::<event::ScheduledMessageReleased>("events", "ScheduledMessageReleased"),
        file::<event::ScheduledMessageCancelled>("events", "ScheduledMessageCancelled"),
        file::<event::ScheduledMessageFailed>("events", "ScheduledMessageFailed"),
        file::<command::StaffCommand>("commands", "StaffCommand"),
        file::<command::PatientCommand>("commands", "PatientCommand"),
        file::<command::ConversationCommand>("commands", "ConversationCommand"),
        file::<command::TemplateCommand>("commands", "TemplateCommand"),
        file::<command::ScheduledCommand>("commands", "ScheduledCommand"),
        file::<command::RegisterStaff>("commands", "RegisterStaff"),
        file::<command::ChangePermissions>("commands", "ChangePermissions"),
        file::<command::RotateToken>("commands", "RotateToken"),
        file::<command::RevokeTokens>("commands", "RevokeTokens"),
        file::<command::RegisterPatient>("commands", "RegisterPatient"),
        file::<command::ChangePatientContact>("commands", "ChangePatientContact"),
        file::<command::StartConversation>("commands", "StartConversation"),
        file::<command::SendMessage>("commands", "SendMessage"),
        file::<command::LogCall>("commands", "LogCall"),
        file::<command::MarkRead>("commands", "MarkRead"),
        file::<command::SetStar>("commands", "SetStar"),
        file::<command::SetArchived>("commands", "SetArchived"),
        file::<command::ReceiveMessage>("commands", "ReceiveMessage"),
        file::<command::CreateTemplate>("commands", "CreateTemplate"),
        file::<command::ReviseTemplate>("commands", "ReviseTemplate"),
        file::<command::RetireTemplate>("commands", "RetireTemplate"),
        file::<command::SetQuietHours>("commands", "SetQuietHours"),
        file::<command::CancelScheduled>("commands", "CancelScheduled"),
        file::<command::MarkScheduledReleased>("commands", "MarkScheduledReleased"),
        file::<command::MarkScheduledFailed>("commands", "MarkScheduledFailed"),
    ]
}
