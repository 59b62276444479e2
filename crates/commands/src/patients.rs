//! Commands on a patient's stream: registration, contact changes, tokens.

use chrono::Utc;
use domain::command::{ChangePatientContact, Context, PatientCommand};
use domain::contact::{EmailAddress, PatientContact, PhoneNumber};
use domain::patient::Patient;
use domain::{PatientId, Principal, StreamName};

use crate::error::CommandError;
use crate::executor::{Decided, Decision};
use crate::workspace::Workspace;

/// A contact-record change in which absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct ContactPatch {
    /// New name.
    pub name: Option<String>,
    /// New phone (`Some(None)` clears it).
    pub phone: Option<Option<PhoneNumber>>,
    /// New e-mail (`Some(None)` clears it).
    pub email: Option<Option<EmailAddress>>,
    /// New portal flag.
    pub portal_enabled: Option<bool>,
    /// New WhatsApp opt-in.
    pub whatsapp_opt_in: Option<bool>,
    /// New time zone (`Some(None)` clears it).
    pub time_zone: Option<Option<domain::quiet_hours::Tz>>,
}

impl ContactPatch {
    fn apply(&self, contact: &PatientContact) -> PatientContact {
        PatientContact {
            name: self.name.clone().unwrap_or_else(|| contact.name.clone()),
            phone: self.phone.clone().unwrap_or_else(|| contact.phone.clone()),
            email: self.email.clone().unwrap_or_else(|| contact.email.clone()),
            portal_enabled: self.portal_enabled.unwrap_or(contact.portal_enabled),
            whatsapp_opt_in: self.whatsapp_opt_in.unwrap_or(contact.whatsapp_opt_in),
            time_zone: self.time_zone.unwrap_or(contact.time_zone),
        }
    }
}

/// What to do to the patient's record.
pub enum PatientChange {
    /// A command as it stands.
    Command(PatientCommand),
    /// The current contact record with some fields replaced.
    Patch(ContactPatch),
}

/// A patient command, decided on the patient's own stream.
pub struct PatientDecision {
    /// Who asks.
    pub principal: Principal,
    /// The patient.
    pub patient_id: PatientId,
    /// What they ask.
    pub change: PatientChange,
}

#[async_trait::async_trait]
impl Decision for PatientDecision {
    type Answer = ();

    fn lane(&self) -> String {
        self.patient_id.stream()
    }

    fn kind(&self) -> &'static str {
        match &self.change {
            PatientChange::Command(PatientCommand::RegisterPatient(_)) => "register_patient",
            PatientChange::Command(PatientCommand::ChangePatientContact(_))
            | PatientChange::Patch(_) => "change_patient_contact",
            PatientChange::Command(PatientCommand::RotateToken(_)) => "rotate_patient_token",
            PatientChange::Command(PatientCommand::RevokeTokens(_)) => "revoke_patient_tokens",
        }
    }

    async fn decide(&mut self, ws: &mut Workspace<'_>) -> Result<Decided<()>, CommandError> {
        let patient = ws.get::<Patient>(&self.patient_id.stream()).await?;
        let command = match &self.change {
            PatientChange::Command(command) => command.clone(),
            PatientChange::Patch(patch) => {
                PatientCommand::ChangePatientContact(ChangePatientContact {
                    patient_id: self.patient_id,
                    contact: patch.apply(&patient.record()?.contact),
                })
            }
        };
        let context = Context {
            principal: &self.principal,
            now: Utc::now(),
        };
        Ok(Decided::events(patient.decide(&command, &context)?))
    }
}
