//! Who acts: roles, permissions and the acting identity of a command.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::names::UnknownName;

/// The role an actor holds. Every actor has exactly one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A patient of the clinic; acts only for itself.
    Patient,
    /// Front-desk staff; the reception team.
    Receptionist,
    /// A doctor.
    Doctor,
    /// A clinic administrator.
    Admin,
    /// Read-only access to everything.
    Auditor,
    /// The hub itself (dispatchers, provider webhooks); never a person.
    System,
}

impl Role {
    /// All roles, in declaration order.
    pub const ALL: [Role; 6] = [
        Role::Patient,
        Role::Receptionist,
        Role::Doctor,
        Role::Admin,
        Role::Auditor,
        Role::System,
    ];

    /// The wire name of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Receptionist => "receptionist",
            Role::Doctor => "doctor",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::System => "system",
        }
    }

    /// Staff who work in the inbox and need `send_messages` to use the hub.
    pub fn is_clinic_staff(self) -> bool {
        matches!(self, Role::Receptionist | Role::Doctor | Role::Admin)
    }

    /// Roles that an admin may register through the staff endpoint.
    pub fn is_registrable_staff(self) -> bool {
        matches!(
            self,
            Role::Receptionist | Role::Doctor | Role::Admin | Role::Auditor
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownName::new("role", s))
    }
}

/// A permission that an admin grants to or revokes from staff.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Needed by receptionists, doctors and admins to use the hub at all.
    SendMessages,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 1] = [Permission::SendMessages];

    /// The wire name, as the API spells it (`send_messages`).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::SendMessages => "send_messages",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity behind a command or an event: id and role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Actor {
    /// The actor's id (a patient id, a staff id, or the system id).
    pub id: Uuid,
    /// The actor's role.
    pub role: Role,
}

impl Actor {
    /// The fixed id of the hub's own system actor.
    pub const SYSTEM_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0001);
    /// The fixed id of the bootstrap admin (authenticated by `HUB_BOOTSTRAP_ADMIN_TOKEN`).
    pub const BOOTSTRAP_ADMIN_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0002);
    /// The bootstrap admin's display name.
    pub const BOOTSTRAP_ADMIN_NAME: &'static str = "Administrator";

    /// The hub itself, used for provider callbacks and dispatch outcomes.
    pub fn system() -> Self {
        Actor {
            id: Self::SYSTEM_ID,
            role: Role::System,
        }
    }
}

/// Who wrote a message or logged a call, with the name they had when they wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Author {
    /// The author's id.
    pub id: Uuid,
    /// The author's role.
    pub role: Role,
    /// The author's display name (`null` in events recorded before names were, and for the
    /// hub itself).
    pub name: Option<String>,
}

impl Author {
    /// The author's identity without the name.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.id,
            role: self.role,
        }
    }

    /// An author with this identity and name.
    pub fn new(actor: Actor, name: Option<String>) -> Self {
        Author {
            id: actor.id,
            role: actor.role,
            name,
        }
    }
}

/// An authenticated actor together with what it may do; the input of every authorization rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who acts.
    pub actor: Actor,
    /// The permissions it holds (empty for patients, auditors and the system).
    pub permissions: BTreeSet<Permission>,
    /// The display name, recorded on what it writes.
    pub name: Option<String>,
}

impl Principal {
    /// A principal holding the given permissions.
    pub fn new(actor: Actor, permissions: impl IntoIterator<Item = Permission>) -> Self {
        Principal {
            actor,
            permissions: permissions.into_iter().collect(),
            name: None,
        }
    }

    /// The same principal with its display name.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The principal as the author of what it writes.
    pub fn author(&self) -> Author {
        Author::new(self.actor, self.name.clone())
    }

    /// The bootstrap admin, which holds every permission.
    pub fn bootstrap_admin() -> Self {
        Principal::new(
            Actor {
                id: Actor::BOOTSTRAP_ADMIN_ID,
                role: Role::Admin,
            },
            [Permission::SendMessages],
        )
        .named(Actor::BOOTSTRAP_ADMIN_NAME)
    }

    /// The role of the acting identity.
    pub fn role(&self) -> Role {
        self.actor.role
    }
}
