//! The quiet-hours setting's aggregate and its one decision, `SetQuietHours` (admin only).

use std::collections::BTreeSet;

use super::{parse_clock, parse_time_zone, QuietHours};
use crate::channel::Channel;
use crate::command::{Context, SetQuietHours};
use crate::error::DomainError;
use crate::event::{Event, QuietHoursSet};
use crate::token::ensure_admin;
use crate::Aggregate;

/// The clinic's quiet hours, folded from `settings-quiet-hours`; `None` until first set
/// (the contract's default: no quiet hours).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuietHoursSetting(pub Option<QuietHours>);

impl Aggregate for QuietHoursSetting {
    fn apply(&mut self, event: &Event) {
        if let Event::QuietHoursSet(e) = event {
            self.0 = Some(e.quiet_hours.clone());
        }
    }
}

/// The held channels: at least one, and never `call` (call logs are never sent). An empty list
/// is refused rather than read as "hold nothing": `start == end` already switches quiet hours
/// off, and an empty list is far likelier a mistake than a wish.
fn validate_channels(channels: &[Channel]) -> Result<BTreeSet<Channel>, DomainError> {
    if channels.is_empty() {
        return Err(DomainError::invalid(
            "channels must name at least one channel (set start equal to end for no quiet hours)",
        ));
    }
    if channels.contains(&Channel::Call) {
        return Err(DomainError::invalid(
            "channels: `call` cannot be held, call logs are never sent",
        ));
    }
    Ok(channels.iter().copied().collect())
}

impl QuietHoursSetting {
    /// Decides `SetQuietHours`: the values are parsed strictly and each refusal names its
    /// field; a setting equal to the current one is a no-op.
    pub fn decide(
        &self,
        command: &SetQuietHours,
        ctx: &Context<'_>,
    ) -> Result<Vec<Event>, DomainError> {
        ensure_admin(ctx.principal, "set quiet hours")?;
        let quiet_hours = QuietHours {
            start: parse_clock("start", &command.start)?,
            end: parse_clock("end", &command.end)?,
            time_zone: parse_time_zone("time_zone", &command.time_zone)?,
            channels: validate_channels(&command.channels)?,
        };
        if self.0.as_ref() == Some(&quiet_hours) {
            return Ok(Vec::new());
        }
        Ok(vec![Event::QuietHoursSet(QuietHoursSet { quiet_hours })])
    }
}
