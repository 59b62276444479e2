//! Commands on a template's stream: create, revise, retire (admins only).

use chrono::Utc;
use domain::command::{Context, TemplateCommand};
use domain::template::Template;
use domain::{Aggregate, Principal, StreamName};

use crate::error::CommandError;
use crate::executor::{Decided, Decision};
use crate::workspace::Workspace;

/// A template command, decided on the template's own stream. Its answer is the template's
/// version after the command (a revision identical to the current version changes nothing and
/// answers the current one).
pub struct TemplateDecision {
    /// Who asks.
    pub principal: Principal,
    /// What they ask.
    pub command: TemplateCommand,
}

#[async_trait::async_trait]
impl Decision for TemplateDecision {
    type Answer = u32;

    fn lane(&self) -> String {
        self.command.template_id().stream()
    }

    fn kind(&self) -> &'static str {
        match self.command {
            TemplateCommand::CreateTemplate(_) => "create_template",
            TemplateCommand::ReviseTemplate(_) => "revise_template",
            TemplateCommand::RetireTemplate(_) => "retire_template",
        }
    }

    async fn decide(&mut self, ws: &mut Workspace<'_>) -> Result<Decided<u32>, CommandError> {
        let template = ws
            .get::<Template>(&self.command.template_id().stream())
            .await?;
        let context = Context {
            principal: &self.principal,
            now: Utc::now(),
        };
        let events = template.decide(&self.command, &context)?;
        let mut after = Template::clone(&template);
        for event in &events {
            after.apply(event);
        }
        let version = after.0.as_ref().map_or(0, |record| record.version);
        Ok(Decided::new(events, version))
    }
}
