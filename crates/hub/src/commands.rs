//! The command path: load the aggregates a command needs, let the domain decide, append the
//! events with optimistic concurrency, and retry a version clash by re-reading and re-deciding.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use domain::attachment::AttachmentRef;
use domain::command::{
    ChangePatientContact, ChangePermissions, Context, ConversationCommand, Draft, PatientCommand,
    RegisterPatient, RegisterStaff, RevokeTokens, RotateToken, StaffCommand, StartConversation,
};
use domain::contact::PatientContact;
use domain::conversation::{Conversation, ConversationScope};
use domain::event::AttachmentStored;
use domain::patient::Patient;
use domain::staff::Staff;
use domain::{
    Actor, Aggregate, AttachmentId, ConversationId, Event, EventMetadata, MessageId, PatientId,
    Permission, Principal, Role, StaffId, StreamName,
};
use projections::codec;
use rand::Rng;
use store::{
    AppendRequest, EventStore, ExpectedVersion, IdempotencyKey, RecordedEvent, StoreError,
    StreamWrite,
};
use uuid::Uuid;

use crate::aggregates::{Freshness, Loaded, StreamCache};
use crate::error::ApiError;
use crate::token::{self, Holder, IssuedToken};

/// How often a command is re-decided after a version clash before `concurrency_conflict`.
const MAX_ATTEMPTS: u32 = 12;
/// The most attachments one message may carry.
const MAX_ATTACHMENTS: usize = 20;

/// What an attachment stream folds into.
#[derive(Debug, Clone, Default)]
pub struct StoredAttachment(pub Option<AttachmentStored>);

impl Aggregate for StoredAttachment {
    fn apply(&mut self, event: &Event) {
        if let Event::AttachmentStored(stored) = event {
            self.0 = Some(stored.clone());
        }
    }
}

/// A decision in progress: loads what it needs and answers the plan.
type Decision<'a> = Pin<Box<dyn Future<Output = Result<Plan, ApiError>> + Send + 'a>>;

/// Events to append and the stream versions they were decided on.
#[derive(Debug, Default)]
pub struct Plan {
    events: Vec<Event>,
    expected: BTreeMap<String, ExpectedVersion>,
}

impl Plan {
    /// A plan appending `events`, each stream checked against the versions in `loaded`.
    fn new(events: Vec<Event>, loaded: &[(String, ExpectedVersion)]) -> Self {
        Plan {
            events,
            expected: loaded.iter().cloned().collect(),
        }
    }
}

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
    pub fn with_idempotency_key(key: Option<String>) -> Result<Self, ApiError> {
        if let Some(key) = &key {
            domain::command::validate_idempotency_key(key)?;
        }
        Ok(RequestMeta {
            correlation_id: Uuid::new_v4(),
            idempotency_key: key,
        })
    }
}

/// What a command committed.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The events it appended (or, for a repeated idempotency key, the first time's events).
    pub events: Vec<RecordedEvent>,
    /// The global position to wait for to read this write.
    pub position: u64,
}

impl Committed {
    /// The conversation and entry the command wrote, if it wrote a message or call log.
    pub fn message(&self) -> Option<(ConversationId, MessageId)> {
        self.events.iter().find_map(|record| {
            let envelope = codec::decode(record).ok()?;
            match envelope.event {
                Event::MessageSent(e) => Some((e.conversation_id, e.message_id)),
                Event::CallLogged(e) => Some((e.conversation_id, e.message_id)),
                Event::MessageReceived(e) => Some((e.conversation_id, e.message_id)),
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

/// A contact-record change in which absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct ContactPatch {
    /// New name.
    pub name: Option<String>,
    /// New phone (`Some(None)` clears it).
    pub phone: Option<Option<domain::contact::PhoneNumber>>,
    /// New e-mail (`Some(None)` clears it).
    pub email: Option<Option<domain::contact::EmailAddress>>,
    /// New portal flag.
    pub portal_enabled: Option<bool>,
    /// New WhatsApp opt-in.
    pub whatsapp_opt_in: Option<bool>,
}

impl ContactPatch {
    fn apply(&self, contact: &PatientContact) -> PatientContact {
        PatientContact {
            name: self.name.clone().unwrap_or_else(|| contact.name.clone()),
            phone: self.phone.clone().unwrap_or_else(|| contact.phone.clone()),
            email: self.email.clone().unwrap_or_else(|| contact.email.clone()),
            portal_enabled: self.portal_enabled.unwrap_or(contact.portal_enabled),
            whatsapp_opt_in: self.whatsapp_opt_in.unwrap_or(contact.whatsapp_opt_in),
        }
    }
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
    store: Arc<dyn EventStore>,
    staff: StreamCache<Staff>,
    patients: StreamCache<Patient>,
    conversations: StreamCache<Conversation>,
    attachments: StreamCache<StoredAttachment>,
    bootstrap_token_sha256: Option<String>,
}

impl CommandService {
    /// A command service over `store`; `bootstrap_admin_token` authenticates the bootstrap admin.
    pub fn new(store: Arc<dyn EventStore>, bootstrap_admin_token: Option<&str>) -> Self {
        CommandService {
            staff: StreamCache::new(store.clone()),
            patients: StreamCache::new(store.clone()),
            conversations: StreamCache::new(store.clone()),
            attachments: StreamCache::new(store.clone()),
            bootstrap_token_sha256: bootstrap_admin_token
                .filter(|t| !t.is_empty())
                .map(token::digest),
            store,
        }
    }

    /// The event store commands append to.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// Resolves a bearer token to its principal, checking it against the holder's own stream.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, ApiError> {
        let rejected = || ApiError::unauthenticated("the token is not valid");
        let digest = token::digest(bearer);
        if self.bootstrap_token_sha256.as_deref() == Some(digest.as_str()) {
            return Ok(Principal::bootstrap_admin());
        }
        match token::holder_of(bearer).ok_or_else(rejected)? {
            Holder::Staff(id) => {
                let staff = self.staff.load(&StaffId(id).stream()).await?.state;
                let record = staff.0.as_ref().ok_or_else(rejected)?;
                if !record.tokens.is_active(&digest) {
                    return Err(rejected());
                }
                staff.principal().ok_or_else(rejected)
            }
            Holder::Patient(id) => {
                let patient = self.patients.load(&PatientId(id).stream()).await?.state;
                let record = patient.0.as_ref().ok_or_else(rejected)?;
                if !record.tokens.is_active(&digest) {
                    return Err(rejected());
                }
                Ok(Principal::new(record.actor(), []))
            }
        }
    }

    /// Runs `decide` until its plan appends without a version clash (bounded), then answers.
    /// A repeated idempotency key answers with the first time's events without deciding again.
    async fn execute<'a>(
        &'a self,
        principal: &Principal,
        meta: &RequestMeta,
        mut decide: impl FnMut(Freshness) -> Decision<'a>,
    ) -> Result<Committed, ApiError> {
        let idempotency = meta.idempotency_key.as_ref().map(|key| IdempotencyKey {
            actor_id: principal.actor.id,
            key: key.clone(),
        });
        if let Some(key) = &idempotency {
            if let Some(events) = self.store.find_idempotent(key).await? {
                return Ok(committed(events, &self.store).await?);
            }
        }
        let metadata = EventMetadata {
            correlation_id: Some(meta.correlation_id),
            causation_id: None,
            idempotency_key: meta.idempotency_key.clone(),
        };
        // The first decision trusts the cached states: the append's version check catches any
        // that were stale. A refusal or a no-op is answered only from states read afresh.
        let mut freshness = Freshness::Cached;
        for attempt in 1..=MAX_ATTEMPTS {
            let plan = match decide(freshness).await {
                Ok(plan) if freshness == Freshness::Fresh || !plan.events.is_empty() => plan,
                Err(error) if freshness == Freshness::Fresh => return Err(error),
                _ => {
                    freshness = Freshness::Fresh;
                    continue;
                }
            };
            if plan.events.is_empty() {
                return Ok(committed(Vec::new(), &self.store).await?);
            }
            let request = AppendRequest {
                writes: writes(&plan, principal.actor, &metadata),
                idempotency: idempotency.clone(),
            };
            match self.store.append(request).await {
                Ok(outcome) => {
                    if !outcome.duplicate {
                        self.advance_caches(&outcome.events);
                    }
                    return Ok(committed(outcome.events, &self.store).await?);
                }
                Err(StoreError::ConcurrencyConflict { .. }) if attempt < MAX_ATTEMPTS => {
                    freshness = Freshness::Fresh;
                    let backoff = rand::thread_rng().gen_range(1..=(2u64 << attempt.min(6)));
                    tokio::time::sleep(Duration::from_millis(backoff)).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(ApiError::conflict("too many concurrent writers; try again"))
    }

    /// Folds a command's own appended events into the cached aggregates.
    fn advance_caches(&self, events: &[RecordedEvent]) {
        self.staff.advance("staff-", events);
        self.patients.advance("patient-", events);
        self.conversations.advance("conversation-", events);
        self.attachments.advance("attachment-", events);
    }

    /// Registers a staff member and issues its token.
    pub async fn register_staff(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        name: String,
        role: Role,
        permissions: Vec<Permission>,
    ) -> Result<Registered, ApiError> {
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
            .staff_command(principal, meta, staff_id, &command)
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
    ) -> Result<Committed, ApiError> {
        let command = StaffCommand::ChangePermissions(ChangePermissions {
            staff_id,
            grant,
            revoke,
        });
        self.staff_command(principal, meta, staff_id, &command)
            .await
    }

    /// Revokes a holder's tokens and, when `reissue`, issues a new one (returned).
    pub async fn replace_token(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        holder: Holder,
        reissue: bool,
    ) -> Result<(Option<String>, Committed), ApiError> {
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
                self.staff_command(principal, meta, StaffId(id), &command)
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
                let patient_id = PatientId(id);
                self.patient_command(principal, meta, patient_id, |_| Ok(command.clone()))
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
        command: &StaffCommand,
    ) -> Result<Committed, ApiError> {
        let stream = staff_id.stream();
        let stream = stream.as_str();
        self.execute(principal, meta, |freshness| {
            Box::pin(async move {
                let staff = self.staff.get(stream, freshness).await?;
                let events = staff.state.decide(command, &context(principal))?;
                Ok(Plan::new(events, &[(stream.to_owned(), staff.expected())]))
            })
        })
        .await
    }

    async fn patient_command(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        patient_id: PatientId,
        command: impl Fn(&Patient) -> Result<PatientCommand, ApiError> + Sync,
    ) -> Result<Committed, ApiError> {
        let stream = patient_id.stream();
        let stream = stream.as_str();
        let command = &command;
        self.execute(principal, meta, |freshness| {
            Box::pin(async move {
                let patient = self.patients.get(stream, freshness).await?;
                let command = command(&patient.state)?;
                let events = patient.state.decide(&command, &context(principal))?;
                Ok(Plan::new(
                    events,
                    &[(stream.to_owned(), patient.expected())],
                ))
            })
        })
        .await
    }

    /// Registers a patient and issues its token.
    pub async fn register_patient(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        contact: PatientContact,
    ) -> Result<Registered, ApiError> {
        let patient_id = PatientId(Uuid::new_v4());
        let issued = token::issue(Holder::Patient(patient_id.0));
        let command = PatientCommand::RegisterPatient(RegisterPatient {
            patient_id,
            contact,
            token_sha256: issued.sha256.clone(),
        });
        let committed = self
            .patient_command(principal, meta, patient_id, |_| Ok(command.clone()))
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
    ) -> Result<Committed, ApiError> {
        self.patient_command(principal, meta, patient_id, |patient| {
            let current = &patient.record()?.contact;
            Ok(PatientCommand::ChangePatientContact(ChangePatientContact {
                patient_id,
                contact: patch.apply(current),
            }))
        })
        .await
    }

    /// The patient record, if the principal may manage or is that patient.
    pub async fn patient(&self, patient_id: PatientId) -> Result<Arc<Patient>, ApiError> {
        Ok(self.patients.load(&patient_id.stream()).await?.state)
    }

    /// Records a stored file's metadata.
    pub async fn store_attachment(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        attachment: AttachmentRef,
    ) -> Result<Committed, ApiError> {
        let event = Event::AttachmentStored(AttachmentStored {
            attachment,
            uploaded_by: principal.actor,
        });
        let stream = event.stream();
        let (event, stream) = (&event, stream.as_str());
        self.execute(principal, meta, |_| {
            Box::pin(async move {
                Ok(Plan::new(
                    vec![event.clone()],
                    &[(stream.to_owned(), ExpectedVersion::NoStream)],
                ))
            })
        })
        .await
    }

    /// An attachment's metadata and uploader.
    pub async fn attachment(&self, id: AttachmentId) -> Result<Option<AttachmentStored>, ApiError> {
        Ok(self.attachments.load(&id.stream()).await?.state.0.clone())
    }

    async fn resolve_attachments(
        &self,
        principal: &Principal,
        ids: &[AttachmentId],
    ) -> Result<Vec<AttachmentRef>, ApiError> {
        if ids.len() > MAX_ATTACHMENTS {
            return Err(ApiError::invalid(format!(
                "a message carries at most {MAX_ATTACHMENTS} attachments"
            )));
        }
        let mut refs = Vec::with_capacity(ids.len());
        for id in ids {
            match self.attachment(*id).await? {
                Some(stored) if stored.uploaded_by.id == principal.actor.id => {
                    refs.push(stored.attachment)
                }
                _ => return Err(ApiError::not_found("attachment")),
            }
        }
        Ok(refs)
    }

    async fn draft(&self, principal: &Principal, input: &MessageInput) -> Result<Draft, ApiError> {
        Ok(Draft {
            channel: input.channel,
            subject: input.subject.clone(),
            body: input.body.clone(),
            attachments: self
                .resolve_attachments(principal, &input.attachment_ids)
                .await?,
        })
    }

    /// Writes the first message of a new conversation.
    pub async fn start_conversation(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        addressee: Addressee,
        input: &MessageInput,
    ) -> Result<Committed, ApiError> {
        principal.ensure_may_use_hub()?;
        let (patient_id, to) = match (principal.role(), addressee) {
            (Role::Patient, Addressee::Reception) => (
                PatientId(principal.actor.id),
                Some(domain::command::Recipient::Reception),
            ),
            (Role::Patient, Addressee::Staff(staff_id)) => {
                let staff = self.staff.load(&staff_id.stream()).await?.state;
                let record = staff
                    .0
                    .as_ref()
                    .ok_or_else(|| ApiError::not_found("staff member"))?;
                (
                    PatientId(principal.actor.id),
                    Some(domain::command::Recipient::Staff {
                        id: staff_id,
                        role: record.role,
                    }),
                )
            }
            (Role::Patient, Addressee::Patient(_)) => {
                return Err(ApiError::invalid(
                    "a patient names `to`: \"reception\" or a staff id",
                ))
            }
            (_, Addressee::Patient(patient_id)) => (patient_id, None),
            (_, Addressee::Reception | Addressee::Staff(_)) => {
                return Err(ApiError::invalid(
                    "staff name the patient with `patient_id`",
                ))
            }
        };
        let draft = self.draft(principal, input).await?;
        let conversation_id = ConversationId(Uuid::new_v4());
        let message_id = MessageId(Uuid::new_v4());
        let command = ConversationCommand::StartConversation(StartConversation {
            conversation_id,
            message_id,
            patient_id,
            to,
            draft,
        });
        self.conversation_command(principal, meta, Some(patient_id), &command)
            .await
    }

    /// Decides a command on an existing conversation (or a new one, naming its patient).
    pub async fn conversation_command(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        new_conversation_patient: Option<PatientId>,
        command: &ConversationCommand,
    ) -> Result<Committed, ApiError> {
        self.decide_conversation(principal, meta, new_conversation_patient, command, None)
            .await
    }

    /// Files a message a patient sent through a provider, at most once per provider message
    /// id: when the message's `provider-message` stream already exists (a webhook delivered
    /// twice, even concurrently), nothing is appended and the answer has no events.
    pub async fn receive_message(
        &self,
        principal: &Principal,
        command: &domain::command::ReceiveMessage,
    ) -> Result<Committed, ApiError> {
        let once =
            domain::ids::provider_message_stream(command.channel, &command.provider_message_id);
        let wrapped = ConversationCommand::ReceiveMessage(command.clone());
        self.decide_conversation(
            principal,
            &RequestMeta::new(),
            Some(command.patient_id),
            &wrapped,
            Some(&once),
        )
        .await
    }

    /// Decides a conversation command; `once` names a stream that must not exist yet (it is
    /// checked at decision time and again by the append).
    async fn decide_conversation(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        new_conversation_patient: Option<PatientId>,
        command: &ConversationCommand,
        once: Option<&str>,
    ) -> Result<Committed, ApiError> {
        let conversation_stream = command.conversation_id().stream();
        let conversation_stream = conversation_stream.as_str();
        self.execute(principal, meta, |freshness| {
            Box::pin(async move {
                if let Some(once) = once {
                    if self.store.stream_version(once).await?.is_some() {
                        return Ok(Plan::default());
                    }
                }
                let conversation: Loaded<Conversation> = self
                    .conversations
                    .get(conversation_stream, freshness)
                    .await?;
                let patient_id = conversation
                    .state
                    .0
                    .as_ref()
                    .map(|record| record.patient_id)
                    .or(new_conversation_patient);
                let (patient, patient_stream) = match patient_id {
                    Some(id) => (
                        self.patients.get(&id.stream(), freshness).await?,
                        id.stream(),
                    ),
                    None => (Loaded::empty(), String::new()),
                };
                let scope = ConversationScope {
                    patient: &patient.state,
                    conversation: &conversation.state,
                };
                let events = scope.decide(command, &context(principal))?;
                let mut expected = vec![
                    (conversation_stream.to_owned(), conversation.expected()),
                    (patient_stream, patient.expected()),
                ];
                if let Some(once) = once {
                    expected.push((once.to_owned(), ExpectedVersion::NoStream));
                }
                Ok(Plan::new(events, &expected))
            })
        })
        .await
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
    ) -> Result<Draft, ApiError> {
        principal.ensure_may_use_hub()?;
        self.draft(principal, input).await
    }
}

fn context(principal: &Principal) -> Context<'_> {
    Context {
        principal,
        now: Utc::now(),
    }
}

fn registered(id: Uuid, issued: IssuedToken, committed: Committed) -> Registered {
    Registered {
        id,
        token: issued.token,
        position: committed.position,
    }
}

/// Groups a plan's events by stream, in order, each with the version it was decided on.
fn writes(plan: &Plan, actor: Actor, metadata: &EventMetadata) -> Vec<StreamWrite> {
    let now = Utc::now();
    let mut writes: Vec<StreamWrite> = Vec::new();
    for event in &plan.events {
        let stream = event.stream();
        let encoded = codec::encode(event, Uuid::new_v4(), actor, now, metadata);
        match writes.iter_mut().find(|write| write.stream == stream) {
            Some(write) => write.events.push(encoded),
            None => writes.push(StreamWrite {
                expected: plan
                    .expected
                    .get(&stream)
                    .cloned()
                    .unwrap_or(ExpectedVersion::Any),
                stream,
                events: vec![encoded],
            }),
        }
    }
    writes
}

/// The answer to a command: its events and the position to wait for (the store's head when
/// nothing was written, so that a read after it sees at least what the caller saw).
async fn committed(
    events: Vec<RecordedEvent>,
    store: &Arc<dyn EventStore>,
) -> Result<Committed, StoreError> {
    let position = match events.iter().map(|e| e.position).max() {
        Some(position) => position,
        None => store.head_position().await?,
    };
    Ok(Committed { events, position })
}
