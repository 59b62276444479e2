//! Typed identifiers. The domain never generates ids itself (that would be a side effect):
//! callers pass fresh UUIDs in with each command.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A registered patient.
    PatientId
);
id_type!(
    /// A registered staff member (receptionist, doctor, admin or auditor).
    StaffId
);
id_type!(
    /// A conversation between a patient and the clinic.
    ConversationId
);
id_type!(
    /// A message or call log inside a conversation.
    MessageId
);
id_type!(
    /// A stored attachment file.
    AttachmentId
);
id_type!(
    /// An inbound message from a sender the hub could not match to a patient.
    UnmatchedId
);
id_type!(
    /// A message template (all its versions live in one `template-<uuid>` stream).
    TemplateId
);

/// The namespace of [`provider_message_key`]'s name-based UUIDs.
const PROVIDER_MESSAGE_NAMESPACE: Uuid = Uuid::from_u128(0x6875_6270_726f_7669_6465_722d_6d73_6700);

/// A fixed-size key for a provider's message id on a channel (a name-based UUID, so provider
/// ids of any length and alphabet make valid stream names).
pub fn provider_message_key(channel: crate::Channel, provider_message_id: &str) -> Uuid {
    let name = format!("{}:{provider_message_id}", channel.as_str());
    Uuid::new_v5(&PROVIDER_MESSAGE_NAMESPACE, name.as_bytes())
}

/// The stream that records a provider's message once: `provider-message-<key>`.
pub fn provider_message_stream(channel: crate::Channel, provider_message_id: &str) -> String {
    format!(
        "provider-message-{}",
        provider_message_key(channel, provider_message_id)
    )
}

/// The stream of one outbound message's dispatch: its claim and delivery reports.
pub fn dispatch_stream(message_id: MessageId) -> String {
    format!("dispatch-{}", message_id.0)
}

/// The stream of one scheduled message, named by the message id it will be sent under:
/// `scheduled-<message id>`. Its release is decided on it, so it happens once.
pub fn scheduled_stream(message_id: MessageId) -> String {
    format!("scheduled-{}", message_id.0)
}

/// The one stream of the clinic's quiet-hours setting.
pub const QUIET_HOURS_STREAM: &str = "settings-quiet-hours";

/// Name of the event stream that holds one aggregate's events.
pub trait StreamName {
    /// The stream name, e.g. `conversation-<uuid>`.
    fn stream(&self) -> String;
}

impl StreamName for PatientId {
    fn stream(&self) -> String {
        format!("patient-{}", self.0)
    }
}

impl StreamName for StaffId {
    fn stream(&self) -> String {
        format!("staff-{}", self.0)
    }
}

impl StreamName for ConversationId {
    fn stream(&self) -> String {
        format!("conversation-{}", self.0)
    }
}

impl StreamName for AttachmentId {
    fn stream(&self) -> String {
        format!("attachment-{}", self.0)
    }
}

impl StreamName for UnmatchedId {
    fn stream(&self) -> String {
        format!("unmatched-{}", self.0)
    }
}

impl StreamName for TemplateId {
    fn stream(&self) -> String {
        format!("template-{}", self.0)
    }
}
