//! Releasing a due scheduled message (the scheduler): decided on its own stream together
//! with the conversation, the patient and the author's staff record, and appended with all
//! their expected versions in one batch, like an ordinary send.
//!
//! Exactly once: the release writes `scheduled-<message id>`, so a second release of the same
//! message (another node, a restart) conflicts on that stream's expected version, is decided
//! again on the fresh state, finds it no longer pending and answers
//! [`ReleaseOutcome::NotPending`] without writing anything.

use chrono::Utc;
use domain::command::Context;
use domain::conversation::Conversation;
use domain::ids::scheduled_stream;
use domain::patient::Patient;
use domain::scheduled::{release, ReleaseScope, Scheduled};
use domain::staff::Staff;
use domain::{Actor, Event, MessageId, Principal, StaffId, StreamName};

use crate::error::CommandError;
use crate::executor::{Decided, Decision};
use crate::workspace::Workspace;

/// What a release did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// The message entered the timeline.
    Released,
    /// A rule failed; the message is `failed` and nothing was sent.
    Failed,
    /// It was already released, cancelled or failed (or never scheduled): nothing to do.
    NotPending,
    /// Its release time has not come yet: nothing to do.
    NotDue,
}

/// Releases one scheduled message when it is due (the hub's scheduler only).
pub struct ReleaseScheduledDecision {
    /// The message id it was scheduled under.
    pub message_id: MessageId,
}

#[async_trait::async_trait]
impl Decision for ReleaseScheduledDecision {
    type Answer = ReleaseOutcome;

    fn lane(&self) -> String {
        scheduled_stream(self.message_id)
    }

    fn kind(&self) -> &'static str {
        "release_scheduled"
    }

    async fn decide(
        &mut self,
        ws: &mut Workspace<'_>,
    ) -> Result<Decided<ReleaseOutcome>, CommandError> {
        let scheduled = ws.get::<Scheduled>(&self.lane()).await?;
        let Some(record) = scheduled.0.as_ref().filter(|r| r.ensure_pending().is_ok()) else {
            return Ok(Decided::new(Vec::new(), ReleaseOutcome::NotPending));
        };
        let now = Utc::now();
        if now < record.message.release_at {
            return Ok(Decided::new(Vec::new(), ReleaseOutcome::NotDue));
        }
        let conversation = ws
            .get::<Conversation>(&record.message.conversation_id.stream())
            .await?;
        let patient = ws
            .get::<Patient>(&record.message.patient_id.stream())
            .await?;
        let author_id = record.message.author.id;
        let author = if author_id == Actor::BOOTSTRAP_ADMIN_ID {
            Some(Principal::bootstrap_admin())
        } else {
            ws.get::<Staff>(&StaffId(author_id).stream())
                .await?
                .principal()
        };
        let scope = ReleaseScope {
            scheduled: &scheduled,
            author: author.as_ref(),
            conversation: &conversation,
            patient: &patient,
        };
        let system = Principal::new(Actor::system(), []);
        let events = release(
            &scope,
            &Context {
                principal: &system,
                now,
            },
        )?;
        let outcome = if events
            .iter()
            .any(|event| matches!(event, Event::ScheduledMessageReleased(_)))
        {
            ReleaseOutcome::Released
        } else {
            ReleaseOutcome::Failed
        };
        Ok(Decided::new(events, outcome))
    }
}
