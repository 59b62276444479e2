//! The staff aggregate: registration, permissions and tokens of one staff member.

use std::collections::BTreeSet;

use crate::actor::{Actor, Permission, Principal, Role};
use crate::command::{validate_token_digest, Context, StaffCommand};
use crate::contact::validate_name;
use crate::error::DomainError;
use crate::event::{Event, PermissionsChanged, StaffRegistered};
use crate::ids::StaffId;
use crate::token::{ensure_admin, issued, Tokens};
use crate::Aggregate;

/// A registered staff member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRecord {
    /// The staff member's id.
    pub id: StaffId,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Current permissions.
    pub permissions: BTreeSet<Permission>,
    /// Active access tokens.
    pub tokens: Tokens,
}

impl StaffRecord {
    /// The identity this staff member acts as.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.id.0,
            role: self.role,
        }
    }
}

/// One staff member's state, folded from its stream; `None` before registration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Staff(pub Option<StaffRecord>);

impl Aggregate for Staff {
    fn apply(&mut self, event: &Event) {
        match (event, &mut self.0) {
            (Event::StaffRegistered(e), None) => {
                self.0 = Some(StaffRecord {
                    id: e.staff_id,
                    name: e.name.clone(),
                    role: e.role,
                    permissions: e.permissions.iter().copied().collect(),
                    tokens: Tokens::default(),
                });
            }
            (Event::PermissionsChanged(e), Some(record)) => {
                record.permissions.extend(e.granted.iter().copied());
                for permission in &e.revoked {
                    record.permissions.remove(permission);
                }
            }
            (Event::TokenIssued(_) | Event::TokenRevoked(_), Some(record)) => {
                record.tokens.apply(event);
            }
            _ => {}
        }
    }
}

impl Staff {
    /// The principal this staff member acts as.
    pub fn principal(&self) -> Option<Principal> {
        self.0.as_ref().map(|record| {
            Principal::new(record.actor(), record.permissions.iter().copied())
                .named(record.name.clone())
        })
    }

    /// Decides a staff command.
    pub fn decide(
        &self,
        command: &StaffCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<Event>, DomainError> {
        match command {
            StaffCommand::RegisterStaff(cmd) => {
                ensure_admin(ctx.principal, "register staff")?;
                if self.0.is_some() {
                    return Err(DomainError::invalid("staff id already registered"));
                }
                if !cmd.role.is_registrable_staff() {
                    return Err(DomainError::invalid(format!(
                        "role must be receptionist, doctor, admin or auditor, not {}",
                        cmd.role
                    )));
                }
                let name = validate_name(&cmd.name)?;
                validate_token_digest(&cmd.token_sha256)?;
                let permissions: BTreeSet<Permission> = cmd.permissions.iter().copied().collect();
                let holder = Actor {
                    id: cmd.staff_id.0,
                    role: cmd.role,
                };
                Ok(vec![
                    Event::StaffRegistered(StaffRegistered {
                        staff_id: cmd.staff_id,
                        name,
                        role: cmd.role,
                        permissions: permissions.into_iter().collect(),
                    }),
                    issued(holder, &cmd.token_sha256),
                ])
            }
            StaffCommand::ChangePermissions(cmd) => {
                ensure_admin(ctx.principal, "change permissions")?;
                let record = self
                    .0
                    .as_ref()
                    .ok_or(DomainError::NotFound("staff member"))?;
                if cmd.grant.iter().any(|p| cmd.revoke.contains(p)) {
                    return Err(DomainError::invalid(
                        "a permission cannot be granted and revoked at once",
                    ));
                }
                let granted: BTreeSet<Permission> = cmd
                    .grant
                    .iter()
                    .filter(|p| !record.permissions.contains(p))
                    .copied()
                    .collect();
                let revoked: BTreeSet<Permission> = cmd
                    .revoke
                    .iter()
                    .filter(|p| record.permissions.contains(p))
                    .copied()
                    .collect();
                if granted.is_empty() && revoked.is_empty() {
                    return Ok(Vec::new());
                }
                Ok(vec![Event::PermissionsChanged(PermissionsChanged {
                    staff_id: record.id,
                    granted: granted.into_iter().collect(),
                    revoked: revoked.into_iter().collect(),
                })])
            }
            StaffCommand::RotateToken(cmd) => {
                let record = self
                    .0
                    .as_ref()
                    .ok_or(DomainError::NotFound("staff member"))?;
                record
                    .tokens
                    .rotate(ctx.principal, record.actor(), Some(&cmd.token_sha256))
            }
            StaffCommand::RevokeTokens(_) => {
                let record = self
                    .0
                    .as_ref()
                    .ok_or(DomainError::NotFound("staff member"))?;
                record.tokens.rotate(ctx.principal, record.actor(), None)
            }
        }
    }
}
