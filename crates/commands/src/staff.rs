//! Commands on a staff member's stream: registration, permissions, tokens.

use chrono::Utc;
use domain::command::{Context, StaffCommand};
use domain::staff::Staff;
use domain::{Principal, StaffId, StreamName};

use crate::error::CommandError;
use crate::executor::{Decided, Decision};
use crate::workspace::Workspace;

/// A staff command, decided on the staff member's own stream.
pub struct StaffDecision {
    /// Who asks.
    pub principal: Principal,
    /// The staff member.
    pub staff_id: StaffId,
    /// What they ask.
    pub command: StaffCommand,
}

#[async_trait::async_trait]
impl Decision for StaffDecision {
    type Answer = ();

    fn lane(&self) -> String {
        self.staff_id.stream()
    }

    fn kind(&self) -> &'static str {
        match self.command {
            StaffCommand::RegisterStaff(_) => "register_staff",
            StaffCommand::ChangePermissions(_) => "change_permissions",
            StaffCommand::RotateToken(_) => "rotate_staff_token",
            StaffCommand::RevokeTokens(_) => "revoke_staff_tokens",
        }
    }

    async fn decide(&mut self, ws: &mut Workspace<'_>) -> Result<Decided<()>, CommandError> {
        let staff = ws.get::<Staff>(&self.staff_id.stream()).await?;
        let context = Context {
            principal: &self.principal,
            now: Utc::now(),
        };
        Ok(Decided::events(staff.decide(&self.command, &context)?))
    }
}
