//! The template decisions: create, revise and retire, by admins only.

use super::{validate, Template, TemplateRecord};
use crate::command::{Context, TemplateCommand};
use crate::error::DomainError;
use crate::event::{Event, TemplateCreated, TemplateRetired, TemplateRevised};
use crate::token::ensure_admin;

impl Template {
    /// The created template, or `not_found`.
    pub fn record(&self) -> Result<&TemplateRecord, DomainError> {
        self.0.as_ref().ok_or(DomainError::NotFound("template"))
    }

    /// The template as a send may use it: `not_found` when unknown or retired.
    pub fn usable(&self) -> Result<&TemplateRecord, DomainError> {
        self.0
            .as_ref()
            .filter(|record| !record.retired)
            .ok_or(DomainError::NotFound("template"))
    }

    /// Decides a template command.
    pub fn decide(
        &self,
        command: &TemplateCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<Event>, DomainError> {
        match command {
            TemplateCommand::CreateTemplate(cmd) => {
                ensure_admin(ctx.principal, "write templates")?;
                if self.0.is_some() {
                    return Err(DomainError::invalid("template id already exists"));
                }
                let valid = validate(&cmd.content)?;
                Ok(vec![Event::TemplateCreated(TemplateCreated {
                    template_id: cmd.template_id,
                    content: valid.content,
                    variables: valid.variables,
                    version: 1,
                })])
            }
            TemplateCommand::ReviseTemplate(cmd) => {
                ensure_admin(ctx.principal, "write templates")?;
                let record = self.record()?;
                if record.retired {
                    return Err(DomainError::invalid(format!(
                        "template {} is retired: it can no longer be revised",
                        record.id
                    )));
                }
                let valid = validate(&cmd.content)?;
                if valid.content == record.content {
                    return Ok(Vec::new());
                }
                Ok(vec![Event::TemplateRevised(TemplateRevised {
                    template_id: record.id,
                    content: valid.content,
                    variables: valid.variables,
                    version: record.version.saturating_add(1),
                })])
            }
            TemplateCommand::RetireTemplate(_) => {
                ensure_admin(ctx.principal, "retire templates")?;
                let record = self.record()?;
                if record.retired {
                    return Ok(Vec::new());
                }
                Ok(vec![Event::TemplateRetired(TemplateRetired {
                    template_id: record.id,
                    version: record.version,
                })])
            }
        }
    }
}
