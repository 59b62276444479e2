//! The hub's commands as its edges call them (the HTTP API, the web pages, provider webhooks):
//! each builds one decision and runs it through the [`Executor`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::attachment::AttachmentRef;
use domain::command::{
    ChangePermissions, Context, ConversationCommand, CreateTemplate, Draft, PatientCommand,
    ReceiveMessage, Recipient, RegisterPatient, RegisterStaff, RetireTemplate, ReviseTemplate,
    RevokeTokens, RotateToken, SendMessage, StaffCommand, StartConversation, TemplateCommand,
    TemplateUse,
};
use domain::contact::PatientContact;
use domain::event::{AttachmentStored, InboundUnmatched};
use domain::patient::Patient;
use domain::staff::Staff;
use domain::template::TemplateContent;
use domain::upload::StoredAttachment;
use domain::{
    Actor, AttachmentId, ConversationId, DomainError, EventMetadata, MessageId, PatientId,
    Permission, Principal, Role, StaffId, StreamName, TemplateId,
};
use store::EventStore;
use uuid::Uuid;

use crate::attachment::StoreAttachment;
use crate::auth::Authenticator;
use crate::cache::Cached;
use crate::conversations::ConversationDecision;
use crate::erase::{self, EraseDecision, Erasure};
use crate::error::CommandError;
use crate::executor::{Committed, Decision, Executor, Origin};
use crate::patients::{ContactPatch, PatientChange, PatientDecision};
use crate::quiet_hours::QuietHoursDecision;
use crate::schedule::ScheduleDecision;
use crate::scheduled::CancelScheduledDecision;
use crate::session::{Sessions, StartedSession};
use crate::staff::StaffDecision;
use crate::templates::TemplateDecision;
use crate::token::{self, Holder, IssuedToken};
use crate::unmatched::KeepUnmatched;

/// The most attachments one message may carry.
pub const MAX_ATTACHMENTS: usize = 20;

/// Per-request facts recorded in event metadata.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// Shared by all events of the request.
    pub correlation_id: Uuid,
    /// The caller's idempotency key.
    pub idempotency_key: Option<String>,
}

impl RequestMeta {
    /// Metadata for a new request without an idempotency key.
    pub fn new() -> Self {
        RequestMeta {
            correlation_id: Uuid::new_v4(),
            idempotency_key: None,
        }
    }

    /// Metadata for a new request carrying the caller's idempotency key.
    pub fn with_idempotency_key(key: Option<String>) -> Result<Self, CommandError> {
        if let Some(key) = &key {
            domain::command::validate_idempotency_key(key)?;
        }
        Ok(RequestMeta {
            correlation_id: Uuid::new_v4(),
            idempotency_key: key,
        })
    }

    fn origin(&self, principal: &Principal) -> Origin {
        Origin {
            actor: principal.actor,
            metadata: EventMetadata {
                correlation_id: Some(self.correlation_id),
                causation_id: None,
                idempotency_key: self.idempotency_key.clone(),
            },
        }
    }
}

impl Committed {
    /// The conversation and entry the command wrote, if it wrote a message or call log (or
    /// scheduled a message: the conversation it will be sent in).
    pub fn message(&self) -> Option<(ConversationId, MessageId)> {
        // Read from the stored data without opening it: the ids are never sealed.
        self.events.iter().find_map(|record| {
            let wrote = matches!(
                record.event_type.as_str(),
                "MessageSent"
                    | "MessageScheduled"
                    | "ScheduledMessageCancelled"
                    | "CallLogged"
                    | "MessageReceived"
            );
            let id = |name: &str| record.data.get(name)?.as_str()?.parse::<uuid::Uuid>().ok();
            match (wrote, id("conversation_id"), id("message_id")) {
                (true, Some(conversation), Some(message)) => {
                    Some((ConversationId(conversation), MessageId(message)))
                }
                _ => None,
            }
        })
    }
}

/// A new registration: its id, its token (shown once) and the position.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The new staff member's or patient's id.
    pub id: Uuid,
    /// The access token.
    pub token: String,
    /// The global position of the registration.
    pub position: u64,
}

/// A message as a caller writes it, with attachments still named by id.
#[derive(Debug, Clone)]
pub struct MessageInput {
    /// Channel.
    pub channel: domain::Channel,
    /// Subject line.
    pub subject: Option<String>,
    /// Text.
    pub body: String,
    /// Ids of attachments the caller uploaded.
    pub attachment_ids: Vec<AttachmentId>,
    /// The template the subject and body are rendered from instead (then `subject` and `body`
    /// are ignored).
    pub template: Option<TemplateUse>,
}

/// A template write's outcome: the template, its version after the write, and the position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateWritten {
    /// The template.
    pub id: TemplateId,
    /// Its version after the write.
    pub version: u32,
    /// The global position to wait for to read this write.
    pub position: u64,
}

/// Whom a first message goes to, as the caller named it.
#[derive(Debug, Clone, Copy)]
pub enum Addressee {
    /// Staff write to a patient.
    Patient(PatientId),
    /// A patient writes to reception.
    Reception,
    /// A patient writes to a named staff member.
    Staff(StaffId),
}

/// The command side of the hub.
pub struct CommandService {
    executor: Arc<Executor>,
    authenticator: Authenticator,
}

impl CommandService {
    /// A command service over `executor`; `bootstrap_admin_token` authenticates the bootstrap
    /// admin.
    pub fn new(executor: Arc<Executor>, bootstrap_admin_token: Option<&str>) -> Self {
        CommandService {
            authenticator: Authenticator::new(executor.clone(), bootstrap_admin_token),
            executor,
        }
    }

    /// The executor every command goes through.
    pub fn executor(&self) -> &Arc<Executor> {
        &self.executor
    }

    /// The event store commands append to (for reads).
    pub fn store(&self) -> &Arc<dyn EventStore> {
        self.executor.store()
    }

    /// Resolves a bearer token to its principal.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, CommandError> {
        self.authenticator.authenticate(bearer).await
    }

    fn sessions(&self) -> Sessions<'_> {
        Sessions {
            store: self.executor.store(),
            authenticator: &self.authenticator,
        }
    }

    /// Signs in with an access token: starts a web session (see [`crate::session`]).
    pub async fn start_session(&self, bearer: &str) -> Result<StartedSession, CommandError> {
        self.sessions().start(bearer).await
    }

    /// The principal of a live web session.
    pub async fn session_principal(&self, session_id: &str) -> Result<Principal, CommandError> {
        self.sessions().resolve(session_id).await
    }

    /// Signs out: ends a web session.
    pub async fn end_session(&self, session_id: &str) -> Result<(), CommandError> {
        self.sessions().end(session_id).await
    }

    async fn run<D: Decision>(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        decision: D,
    ) -> Result<Committed, CommandError> {
        let executed = self
            .executor
            .execute(meta.origin(principal), decision)
            .await?;
        Ok(executed.committed)
    }

    /// Registers a staff member and issues its token.
    pub async fn register_staff(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        name: String,
        role: Role,
        permissions: Vec<Permission>,
    ) -> Result<Registered, CommandError> {
        let staff_id = StaffId(Uuid::new_v4());
        let issued = token::issue(Holder::Staff(staff_id.0));
        let command = StaffCommand::RegisterStaff(RegisterStaff {
            staff_id,
            name,
            role,
            permissions,
            token_sha256: issued.sha256.clone(),
        });
        let committed = self
            .staff_command(principal, meta, staff_id, command)
            .await?;
        Ok(registered(staff_id.0, issued, committed))
    }

    /// Grants and revokes permissions.
    pub async fn change_permissions(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        staff_id: StaffId,
        grant: Vec<Permission>,
        revoke: Vec<Permission>,
    ) -> Result<Committed, CommandError> {
        let command = StaffCommand::ChangePermissions(ChangePermissions {
            staff_id,
            grant,
            revoke,
        });
        self.staff_command(principal, meta, staff_id, command).await
    }

    /// Revokes a holder's tokens and, when `reissue`, issues a new one (returned).
    pub async fn replace_token(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        holder: Holder,
        reissue: bool,
    ) -> Result<(Option<String>, Committed), CommandError> {
        let (id, role) = match holder {
            Holder::Staff(id) => (id, Role::Admin),
            Holder::Patient(id) => (id, Role::Patient),
        };
        let actor = Actor { id, role };
        let issued = reissue.then(|| token::issue(holder));
        let committed = match holder {
            Holder::Staff(id) => {
                let command = match &issued {
                    Some(t) => StaffCommand::RotateToken(RotateToken {
                        holder: actor,
                        token_sha256: t.sha256.clone(),
                    }),
                    None => StaffCommand::RevokeTokens(RevokeTokens { holder: actor }),
                };
                self.staff_command(principal, meta, StaffId(id), command)
                    .await?
            }
            Holder::Patient(id) => {
                let command = match &issued {
                    Some(t) => PatientCommand::RotateToken(RotateToken {
                        holder: actor,
                        token_sha256: t.sha256.clone(),
                    }),
                    None => PatientCommand::RevokeTokens(RevokeTokens { holder: actor }),
                };
                let change = PatientChange::Command(command);
                self.patient_command(principal, meta, PatientId(id), change)
                    .await?
            }
        };
        Ok((issued.map(|t| t.token), committed))
    }

    async fn staff_command(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        staff_id: StaffId,
        command: StaffCommand,
    ) -> Result<Committed, CommandError> {
        let decision = StaffDecision {
            principal: principal.clone(),
            staff_id,
            command,
        };
        self.run(principal, meta, decision).await
    }

    async fn patient_command(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        patient_id: PatientId,
        change: PatientChange,
    ) -> Result<Committed, CommandError> {
        let decision = PatientDecision {
            principal: principal.clone(),
            patient_id,
            change,
        };
        self.run(principal, meta, decision).await
    }

    /// Registers a patient and issues its token.
    pub async fn register_patient(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        contact: PatientContact,
    ) -> Result<Registered, CommandError> {
        let patient_id = PatientId(Uuid::new_v4());
        let issued = token::issue(Holder::Patient(patient_id.0));
        let command = PatientCommand::RegisterPatient(RegisterPatient {
            patient_id,
            contact,
            token_sha256: issued.sha256.clone(),
        });
        let change = PatientChange::Command(command);
        let committed = self
            .patient_command(principal, meta, patient_id, change)
            .await?;
        Ok(registered(patient_id.0, issued, committed))
    }

    /// Changes the given fields of a patient's contact record.
    pub async fn change_patient(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        patient_id: PatientId,
        patch: &ContactPatch,
    ) -> Result<Committed, CommandError> {
        let change = PatientChange::Patch(patch.clone());
        self.patient_command(principal, meta, patient_id, change)
            .await
    }

    /// Erases a patient (admins): refuses as the rules say, reads what the log holds of the
    /// patient (also in `extra_streams`, its scheduled messages' streams: plain-text events and
    /// attachments), destroys its data key and its uploads' keys, then appends `PatientErased`.
    /// The caller deletes the attachments' files.
    pub async fn erase_patient(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        patient_id: PatientId,
        extra_streams: &[String],
    ) -> Result<Erasure, CommandError> {
        let patient = self.patient(patient_id).await?;
        let context = Context {
            principal,
            now: Utc::now(),
        };
        // Refused before anything is destroyed: only the decision's checks, nothing appended.
        patient.erase(&context, 0)?;
        let survey = erase::survey(self.store().as_ref(), &patient, extra_streams).await?;
        let keys = self.store().keyring();
        keys.destroy(patient_id.0).await?;
        // The file names of its uploads are sealed under each upload's own key.
        for (attachment, _) in &survey.attachments {
            keys.destroy(attachment.0).await?;
        }
        let decision = EraseDecision {
            principal: principal.clone(),
            patient_id,
            plain_events: survey.plain_events,
        };
        let committed = self.run(principal, meta, decision).await?;
        Ok(Erasure {
            plain_events: survey.plain_events,
            position: committed.position,
            attachments: survey.attachments,
        })
    }

    /// The patient record as the log has it now.
    pub async fn patient(&self, patient_id: PatientId) -> Result<Arc<Patient>, CommandError> {
        self.current::<Patient>(&patient_id.stream()).await
    }

    /// A staff member's record as the log has it now.
    pub async fn staff(&self, staff_id: StaffId) -> Result<Arc<Staff>, CommandError> {
        self.current::<Staff>(&staff_id.stream()).await
    }

    async fn current<A: Cached>(&self, stream: &str) -> Result<Arc<A>, CommandError> {
        self.executor.load::<A>(stream).await
    }

    /// Records a stored file's metadata.
    pub async fn store_attachment(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        attachment: AttachmentRef,
    ) -> Result<Committed, CommandError> {
        let decision = StoreAttachment {
            attachment,
            uploaded_by: principal.actor,
        };
        self.run(principal, meta, decision).await
    }

    /// An attachment's metadata and uploader.
    pub async fn attachment(
        &self,
        id: AttachmentId,
    ) -> Result<Option<AttachmentStored>, CommandError> {
        Ok(self
            .current::<StoredAttachment>(&id.stream())
            .await?
            .0
            .clone())
    }

    /// Keeps a message from an unknown sender for reception; answers `false` when the same
    /// provider message was kept before.
    pub async fn keep_unmatched(&self, message: InboundUnmatched) -> Result<bool, CommandError> {
        let executed = self
            .executor
            .execute(Origin::system(), KeepUnmatched { message })
            .await?;
        Ok(executed.answer.unwrap_or(false))
    }

    async fn resolve_attachments(
        &self,
        principal: &Principal,
        ids: &[AttachmentId],
    ) -> Result<Vec<AttachmentRef>, CommandError> {
        if ids.len() > MAX_ATTACHMENTS {
            return Err(CommandError::invalid(format!(
                "a message carries at most {MAX_ATTACHMENTS} attachments"
            )));
        }
        let mut refs = Vec::with_capacity(ids.len());
        for id in ids {
            match self.attachment(*id).await? {
                Some(stored) if stored.uploaded_by.id == principal.actor.id => {
                    refs.push(stored.attachment)
                }
                _ => return Err(CommandError::not_found("attachment")),
            }
        }
        Ok(refs)
    }

    /// The draft of a message, checked against its channel before any decision: an invalid
    /// message is refused whatever its idempotency key. A draft from a template carries its
    /// channel and attachments only: the decision renders the rest and checks it then.
    async fn draft(
        &self,
        principal: &Principal,
        input: &MessageInput,
    ) -> Result<Draft, CommandError> {
        let attachments = self
            .resolve_attachments(principal, &input.attachment_ids)
            .await?;
        if input.template.is_some() {
            return Ok(Draft {
                channel: input.channel,
                subject: None,
                body: String::new(),
                attachments,
            });
        }
        let draft = Draft {
            channel: input.channel,
            subject: input.subject.clone(),
            body: input.body.clone(),
            attachments,
        };
        domain::conversation::validate_content(&draft)?;
        Ok(draft)
    }

    /// Creates a template (admins); its first version is 1.
    pub async fn create_template(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        content: TemplateContent,
    ) -> Result<TemplateWritten, CommandError> {
        let template_id = TemplateId(Uuid::new_v4());
        let command = TemplateCommand::CreateTemplate(CreateTemplate {
            template_id,
            content,
        });
        self.template_command(principal, meta, command).await
    }

    /// Writes a new version of a template (admins); identical content keeps the version.
    pub async fn revise_template(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        template_id: TemplateId,
        content: TemplateContent,
    ) -> Result<TemplateWritten, CommandError> {
        let command = TemplateCommand::ReviseTemplate(ReviseTemplate {
            template_id,
            content,
        });
        self.template_command(principal, meta, command).await
    }

    /// Retires a template (admins): it can no longer be used, and stays readable.
    pub async fn retire_template(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        template_id: TemplateId,
    ) -> Result<TemplateWritten, CommandError> {
        let command = TemplateCommand::RetireTemplate(RetireTemplate { template_id });
        self.template_command(principal, meta, command).await
    }

    async fn template_command(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        command: TemplateCommand,
    ) -> Result<TemplateWritten, CommandError> {
        principal.ensure_may_use_hub()?;
        let id = command.template_id();
        let decision = TemplateDecision {
            principal: principal.clone(),
            command,
        };
        let executed = self
            .executor
            .execute(meta.origin(principal), decision)
            .await?;
        let version = match executed.answer {
            Some(version) => version,
            // A repeated idempotency key answers without deciding: the version as it is now.
            None => self
                .current::<domain::template::Template>(&id.stream())
                .await?
                .0
                .as_ref()
                .map_or(0, |record| record.version),
        };
        Ok(TemplateWritten {
            id,
            version,
            position: executed.committed.position,
        })
    }

    /// Sets the clinic's quiet hours (admins); the same setting again appends nothing.
    pub async fn set_quiet_hours(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        command: domain::command::SetQuietHours,
    ) -> Result<Committed, CommandError> {
        principal.ensure_may_use_hub()?;
        let decision = QuietHoursDecision {
            principal: principal.clone(),
            command,
        };
        self.run(principal, meta, decision).await
    }

    /// The clinic's quiet hours as the log has them now (`None`: never set).
    pub async fn quiet_hours(
        &self,
    ) -> Result<Option<domain::quiet_hours::QuietHours>, CommandError> {
        let setting = self
            .current::<domain::quiet_hours::QuietHoursSetting>(domain::ids::QUIET_HOURS_STREAM)
            .await?;
        Ok(setting.0.clone())
    }

    /// Writes the first message of a new conversation.
    pub async fn start_conversation(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        addressee: Addressee,
        input: &MessageInput,
    ) -> Result<Committed, CommandError> {
        let (patient_id, command) = self.first_message(principal, addressee, input).await?;
        self.conversation_command(principal, meta, Some(patient_id), &command)
            .await
    }

    /// Schedules the first message of a new conversation for `send_at` (staff): judged now,
    /// sent when due. The conversation id it answers is the one the conversation will have.
    pub async fn schedule_first_message(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        addressee: Addressee,
        input: &MessageInput,
        send_at: DateTime<Utc>,
    ) -> Result<Committed, CommandError> {
        let (patient_id, command) = self.first_message(principal, addressee, input).await?;
        let decision = ScheduleDecision {
            principal: principal.clone(),
            command,
            new_conversation_patient: Some(patient_id),
            send_at,
        };
        self.run(principal, meta, decision).await
    }

    /// Schedules a reply for `send_at` (staff): judged now, sent when due.
    pub async fn schedule_reply(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        command: SendMessage,
        send_at: DateTime<Utc>,
    ) -> Result<Committed, CommandError> {
        let decision = ScheduleDecision {
            principal: principal.clone(),
            command: ConversationCommand::SendMessage(command),
            new_conversation_patient: None,
            send_at,
        };
        self.run(principal, meta, decision).await
    }

    /// Cancels a pending scheduled message (staff who may write in its conversation).
    pub async fn cancel_scheduled(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        message_id: MessageId,
    ) -> Result<Committed, CommandError> {
        let decision = CancelScheduledDecision {
            principal: principal.clone(),
            message_id,
        };
        self.run(principal, meta, decision).await
    }

    /// The first message's command and its patient, as the caller addressed it.
    async fn first_message(
        &self,
        principal: &Principal,
        addressee: Addressee,
        input: &MessageInput,
    ) -> Result<(PatientId, ConversationCommand), CommandError> {
        principal.ensure_may_use_hub()?;
        let (patient_id, to) = match (principal.role(), addressee) {
            (Role::Patient, Addressee::Reception) => {
                (PatientId(principal.actor.id), Some(Recipient::Reception))
            }
            (Role::Patient, Addressee::Staff(staff_id)) => {
                let staff = self.staff(staff_id).await?;
                let record = staff
                    .0
                    .as_ref()
                    .ok_or(DomainError::NotFound("staff member"))?;
                let to = Recipient::Staff {
                    id: staff_id,
                    role: record.role,
                };
                (PatientId(principal.actor.id), Some(to))
            }
            // The initiation table's default deny: patients write to reception or staff, staff
            // to patients.
            (Role::Patient, Addressee::Patient(_)) => {
                return Err(DomainError::ConversationRule(
                    "patients write to reception or a staff member: name them with `to`".into(),
                )
                .into())
            }
            (_, Addressee::Patient(patient_id)) => (patient_id, None),
            (_, Addressee::Reception | Addressee::Staff(_)) => {
                return Err(DomainError::ConversationRule(
                    "staff start conversations with a patient: name it with `patient_id`".into(),
                )
                .into())
            }
        };
        let draft = self.draft(principal, input).await?;
        let command = ConversationCommand::StartConversation(StartConversation {
            conversation_id: ConversationId(Uuid::new_v4()),
            message_id: MessageId(Uuid::new_v4()),
            patient_id,
            to,
            draft,
            template: input.template.clone(),
        });
        Ok((patient_id, command))
    }

    /// Decides a command on an existing conversation (or a new one, naming its patient).
    pub async fn conversation_command(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        new_conversation_patient: Option<PatientId>,
        command: &ConversationCommand,
    ) -> Result<Committed, CommandError> {
        let decision = ConversationDecision {
            principal: principal.clone(),
            command: command.clone(),
            new_conversation_patient,
            once: None,
        };
        self.run(principal, meta, decision).await
    }

    /// Files a message a patient sent through a provider, at most once per provider message
    /// id: when the message's `provider-message` stream already exists (a webhook delivered
    /// twice, even concurrently), nothing is appended and the answer has no events.
    pub async fn receive_message(
        &self,
        principal: &Principal,
        command: &ReceiveMessage,
    ) -> Result<Committed, CommandError> {
        let once =
            domain::ids::provider_message_stream(command.channel, &command.provider_message_id);
        let decision = ConversationDecision {
            principal: principal.clone(),
            command: ConversationCommand::ReceiveMessage(command.clone()),
            new_conversation_patient: Some(command.patient_id),
            once: Some(once),
        };
        self.run(principal, &RequestMeta::new(), decision).await
    }

    /// A fresh message id for a reply or call log.
    pub fn new_message_id() -> MessageId {
        MessageId(Uuid::new_v4())
    }

    /// Resolves attachments and builds the draft of a reply.
    pub async fn reply_draft(
        &self,
        principal: &Principal,
        input: &MessageInput,
    ) -> Result<Draft, CommandError> {
        principal.ensure_may_use_hub()?;
        self.draft(principal, input).await
    }
}

fn registered(id: Uuid, issued: IssuedToken, committed: Committed) -> Registered {
    Registered {
        id,
        token: issued.token,
        position: committed.position,
    }
}
