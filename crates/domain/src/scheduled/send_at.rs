//! When a message may be scheduled for: later than now, and at most 365 days ahead.

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::DomainError;

/// How far ahead a message may be scheduled.
pub const MAX_SCHEDULE_AHEAD: TimeDelta = TimeDelta::days(365);

/// Validates a send's `send_at` against `now`: strictly later, and no more than
/// [`MAX_SCHEDULE_AHEAD`] later (365 days exactly is allowed). Refusals name `send_at`.
pub fn validate_send_at(send_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), DomainError> {
    if send_at <= now {
        return Err(DomainError::invalid(format!(
            "send_at must be later than now ({}), not {}",
            now.to_rfc3339(),
            send_at.to_rfc3339()
        )));
    }
    if send_at - now > MAX_SCHEDULE_AHEAD {
        return Err(DomainError::invalid(format!(
            "send_at must be at most 365 days ahead (until {}), not {}",
            (now + MAX_SCHEDULE_AHEAD).to_rfc3339(),
            send_at.to_rfc3339()
        )));
    }
    Ok(())
}
