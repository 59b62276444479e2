//! The clinic's quiet-hours setting: set by admins on its own stream `settings-quiet-hours`.

use chrono::Utc;
use domain::command::{Context, SetQuietHours};
use domain::ids::QUIET_HOURS_STREAM;
use domain::quiet_hours::QuietHoursSetting;
use domain::Principal;

use crate::error::CommandError;
use crate::executor::{Decided, Decision};
use crate::workspace::Workspace;

/// `SetQuietHours`, decided on the setting's stream (a setting equal to the current one appends
/// nothing).
pub struct QuietHoursDecision {
    /// Who asks.
    pub principal: Principal,
    /// The new setting as the API received it.
    pub command: SetQuietHours,
}

#[async_trait::async_trait]
impl Decision for QuietHoursDecision {
    type Answer = ();

    fn lane(&self) -> String {
        QUIET_HOURS_STREAM.to_owned()
    }

    fn kind(&self) -> &'static str {
        "set_quiet_hours"
    }

    async fn decide(&mut self, ws: &mut Workspace<'_>) -> Result<Decided<()>, CommandError> {
        let setting = ws.get::<QuietHoursSetting>(QUIET_HOURS_STREAM).await?;
        let context = Context {
            principal: &self.principal,
            now: Utc::now(),
        };
        Ok(Decided::events(setting.decide(&self.command, &context)?))
    }
}
