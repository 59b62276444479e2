//! Commands on a conversation: first messages, replies, call logs, reads, stars, archive, and
//! messages filed from providers. Each is decided on the conversation and its patient together,
//! so that the patient's rules (consent, windows, the doctor's one open conversation) hold.

use std::sync::Arc;

use chrono::Utc;
use domain::command::{Context, ConversationCommand};
use domain::conversation::{Conversation, ConversationScope};
use domain::patient::Patient;
use domain::template::Template;
use domain::{PatientId, Principal, StreamName};
use store::ExpectedVersion;

use crate::error::CommandError;
use crate::executor::{Decided, Decision};
use crate::workspace::Workspace;

/// A conversation command.
pub struct ConversationDecision {
    /// Who asks.
    pub principal: Principal,
    /// What they ask.
    pub command: ConversationCommand,
    /// For a command that may open the conversation: its patient.
    pub new_conversation_patient: Option<PatientId>,
    /// A stream that must not exist yet: the command is a no-op when it does (a provider
    /// message filed once), and the append checks it again.
    pub once: Option<String>,
}

#[async_trait::async_trait]
impl Decision for ConversationDecision {
    type Answer = ();

    /// A first message contends on its patient (the doctor's rule is decided there); any other
    /// command on its conversation.
    fn lane(&self) -> String {
        match (&self.command, self.new_conversation_patient) {
            (ConversationCommand::StartConversation(_), Some(patient)) => patient.stream(),
            _ => self.command.conversation_id().stream(),
        }
    }

    fn kind(&self) -> &'static str {
        self.command.name()
    }

    async fn decide(&mut self, ws: &mut Workspace<'_>) -> Result<Decided<()>, CommandError> {
        if let Some(once) = &self.once {
            if ws.exists(once).await? {
                return Ok(Decided::events(Vec::new()));
            }
            ws.expect(once.clone(), ExpectedVersion::NoStream);
        }
        let states = ScopeStates::load(ws, &self.command, self.new_conversation_patient).await?;
        let context = Context {
            principal: &self.principal,
            now: Utc::now(),
        };
        Ok(Decided::events(
            states.scope().decide(&self.command, &context)?,
        ))
    }
}

/// The states a conversation command is decided on: the conversation, its patient (the one a
/// first message names, before the conversation exists) and the template a message is
/// written from.
pub(crate) struct ScopeStates {
    conversation: Arc<Conversation>,
    patient: Arc<Patient>,
    template: Option<Arc<Template>>,
}

impl ScopeStates {
    /// Reads them from the workspace. A message written from a template reads the template's
    /// state but never writes it, so the append does not depend on its version: a send decided
    /// on the version before an admin's revision is still a correct send of that version.
    pub(crate) async fn load(
        ws: &mut Workspace<'_>,
        command: &ConversationCommand,
        new_conversation_patient: Option<PatientId>,
    ) -> Result<Self, CommandError> {
        let conversation = ws
            .get::<Conversation>(&command.conversation_id().stream())
            .await?;
        let patient_id = conversation
            .0
            .as_ref()
            .map(|record| record.patient_id)
            .or(new_conversation_patient);
        let patient = match patient_id {
            Some(id) => ws.get::<Patient>(&id.stream()).await?,
            None => Arc::new(Patient::default()),
        };
        let template_id = match command {
            ConversationCommand::StartConversation(cmd) => cmd.template.as_ref(),
            ConversationCommand::SendMessage(cmd) => cmd.template.as_ref(),
            _ => None,
        }
        .map(|using| using.id);
        let template = match template_id {
            Some(id) => Some(ws.get::<Template>(&id.stream()).await?),
            None => None,
        };
        Ok(ScopeStates {
            conversation,
            patient,
            template,
        })
    }

    /// The scope the domain decides in.
    pub(crate) fn scope(&self) -> ConversationScope<'_> {
        ConversationScope {
            patient: &self.patient,
            conversation: &self.conversation,
            template: self.template.as_deref(),
        }
    }
}
