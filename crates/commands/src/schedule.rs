//! Scheduling a send: judged now on the conversation, its patient and the template, written
//! to the message's own `scheduled-<message id>` stream (never to the conversation).

use chrono::{DateTime, Utc};
use domain::command::{Context, ConversationCommand};
use domain::ids::{scheduled_stream, QUIET_HOURS_STREAM};
use domain::quiet_hours::QuietHoursSetting;
use domain::{PatientId, Principal, StreamName};
use store::ExpectedVersion;

use crate::conversations::ScopeStates;
use crate::error::CommandError;
use crate::executor::{Decided, Decision};
use crate::workspace::Workspace;

/// Schedules a first message or a reply for `send_at`. Reads the conversation, the patient,
/// the template and the quiet-hours setting without writing them, so a send scheduled on
/// their state does not contend with their writers.
pub struct ScheduleDecision {
    /// Who asks.
    pub principal: Principal,
    /// The send as it would be made now.
    pub command: ConversationCommand,
    /// For a first message: its patient.
    pub new_conversation_patient: Option<PatientId>,
    /// When the author wants it sent.
    pub send_at: DateTime<Utc>,
}

impl ScheduleDecision {
    /// The scheduled message's stream: the command's message id.
    fn message_stream(&self) -> Option<String> {
        match &self.command {
            ConversationCommand::StartConversation(cmd) => Some(scheduled_stream(cmd.message_id)),
            ConversationCommand::SendMessage(cmd) => Some(scheduled_stream(cmd.message_id)),
            _ => None,
        }
    }
}

#[async_trait::async_trait]
impl Decision for ScheduleDecision {
    type Answer = ();

    fn lane(&self) -> String {
        self.message_stream()
            .unwrap_or_else(|| self.command.conversation_id().stream())
    }

    fn kind(&self) -> &'static str {
        "schedule_message"
    }

    async fn decide(&mut self, ws: &mut Workspace<'_>) -> Result<Decided<()>, CommandError> {
        let stream = self
            .message_stream()
            .ok_or_else(|| CommandError::invalid("only messages may be scheduled"))?;
        ws.expect(stream, ExpectedVersion::NoStream);
        let states = ScopeStates::load(ws, &self.command, self.new_conversation_patient).await?;
        let setting = ws.get::<QuietHoursSetting>(QUIET_HOURS_STREAM).await?;
        let context = Context {
            principal: &self.principal,
            now: Utc::now(),
        };
        let events = domain::scheduled::schedule(
            &states.scope(),
            &self.command,
            self.send_at,
            setting.0.as_ref(),
            &context,
        )?;
        Ok(Decided::events(events))
    }
}
