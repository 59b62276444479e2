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
