//! First messages, message search, and per-message commands (read, star).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use domain::command::{ConversationCommand, MarkRead, SetStar, TemplateUse};
use domain::status::ConversationStatus;
use domain::{
    AttachmentId, Channel, ConversationId, Direction, MessageId, PatientId, Role, StaffId,
    TemplateId,
};
use projections::{MessageFilter, PageRequest};
use projections::{MessageView, Page};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde_json::json;

use super::answers::{MessageAnswer, StarAnswer};
use domain::conversation::MAX_SUBJECT_CHARS;
use uuid::Uuid;

use super::extract::{
    Caller, Initiators, JsonBody, Params, PathId, Permitted, CURSOR, LIMIT, MIN_POSITION_WAIT,
};
use super::openapi::Verb::{Delete, Get, Post, Put};
use super::openapi::{ApiBuilder, Operation as Op, ParamSchema, QueryParam};
use super::{patterns, AppState};
use crate::error::ApiError;
use commands::{Addressee, MessageInput, RequestMeta, MAX_ATTACHMENTS};

/// The message routes.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(START, start)
        .route(SEARCH, search)
        .route(SHOW, show)
        .route(MARK_READ, mark_read)
        .route(STAR, star)
        .route(UNSTAR, unstar)
}

/// A template a message is written from: `{id, variables: {name: value}}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateChoice {
    /// The template (not retired).
    id: Uuid,
    /// A value for each of the template's variables but `patient_name`, which the hub fills
    /// from the patient's record.
    #[serde(default)]
    #[schemars(schema_with = "variables_schema")]
    variables: BTreeMap<String, String>,
}

fn variables_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "propertyNames": { "pattern": "^[a-z][a-z0-9_]*$" },
        "additionalProperties": { "type": "string" }
    })
}

/// The body of `POST /v1/messages`: the first message of a conversation and whom it is for.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = first_message_rules)]
pub struct MessageBody {
    /// Staff: the patient to write to.
    #[serde(default)]
    patient_id: Option<Uuid>,
    /// A patient: `"reception"` or a staff member's id.
    #[serde(default)]
    #[schemars(schema_with = "addressee_schema")]
    to: Option<String>,
    /// `sms`, `email`, `portal` or `whatsapp` (patients write on `portal`).
    #[schemars(schema_with = "sendable_channel")]
    channel: String,
    /// Subject line: one line, required on e-mail.
    #[serde(default)]
    #[schemars(length(max = MAX_SUBJECT_CHARS), regex(pattern = patterns::ONE_LINE))]
    subject: Option<String>,
    /// The text: not blank, at most as long as the channel carries (SMS 1,600 characters,
    /// WhatsApp 4,096, e-mail and portal 50,000). Required unless `template` is given.
    #[serde(default)]
    #[schemars(with = "String", regex(pattern = patterns::NOT_BLANK))]
    body: Option<String>,
    /// A template to render the subject and body from, instead of `subject` and `body`.
    #[serde(default)]
    template: Option<TemplateChoice>,
    /// Attachments uploaded by the caller: at most 20, none on SMS.
    #[serde(default)]
    #[schemars(length(max = MAX_ATTACHMENTS))]
    attachment_ids: Vec<Uuid>,
    /// Send it later: an RFC 3339 date-time with its zone, later than now and at most 365 days
    /// ahead (staff).
    /// The rules are judged now; it enters the timeline when due (see `GET /v1/scheduled`).
    #[serde(default)]
    // No `format: date-time`: with it the fuzzer could build no request of this body at all.
    #[schemars(with = "Option<String>")]
    send_at: Option<String>,
    /// The same key from the same caller answers the first answer and appends nothing new.
    #[serde(default)]
    #[schemars(length(min = 1, max = 200), regex(pattern = patterns::NO_CONTROL))]
    idempotency_key: Option<String>,
}

/// The body of `POST /v1/conversations/{id}/messages`: a first message's, without its addressee.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = content_rules)]
pub struct ReplyBody {
    /// `sms`, `email`, `portal` or `whatsapp` (patients write on `portal`).
    #[schemars(schema_with = "sendable_channel")]
    channel: String,
    /// Subject line: one line, required on e-mail.
    #[serde(default)]
    #[schemars(length(max = MAX_SUBJECT_CHARS), regex(pattern = patterns::ONE_LINE))]
    subject: Option<String>,
    /// The text: not blank, at most as long as the channel carries (SMS 1,600 characters,
    /// WhatsApp 4,096, e-mail and portal 50,000). Required unless `template` is given.
    #[serde(default)]
    #[schemars(with = "String", regex(pattern = patterns::NOT_BLANK))]
    body: Option<String>,
    /// A template to render the subject and body from, instead of `subject` and `body`.
    #[serde(default)]
    template: Option<TemplateChoice>,
    /// Attachments uploaded by the caller: at most 20, none on SMS.
    #[serde(default)]
    #[schemars(length(max = MAX_ATTACHMENTS))]
    attachment_ids: Vec<Uuid>,
    /// Send it later: an RFC 3339 date-time with its zone, later than now and at most 365 days
    /// ahead (staff).
    /// The rules are judged now; it enters the timeline when due (see `GET /v1/scheduled`).
    #[serde(default)]
    // No `format: date-time`: with it the fuzzer could build no request of this body at all.
    #[schemars(with = "Option<String>")]
    send_at: Option<String>,
    /// The same key from the same caller answers the first answer and appends nothing new.
    #[serde(default)]
    #[schemars(length(min = 1, max = 200), regex(pattern = patterns::NO_CONTROL))]
    idempotency_key: Option<String>,
}

/// The channels a message is sent on: every channel but `call` (calls are logged).
fn sendable() -> impl Iterator<Item = Channel> {
    Channel::ALL
        .into_iter()
        .filter(|channel| *channel != Channel::Call)
}

fn sendable_channel(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = sendable().map(Channel::as_str).collect();
    json_schema!({ "type": "string", "enum": names })
}

fn addressee_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            { "type": "string", "const": "reception" },
            { "type": "string", "format": "uuid" },
            { "type": "null" }
        ]
    })
}

/// A `template` that is there (`"template": null` is the same as none).
fn template_given() -> serde_json::Value {
    json!({ "required": ["template"], "properties": { "template": { "type": "object" } } })
}

/// The rules between a message's fields: `body` or `template` (a template replaces `subject`
/// and `body`), and one branch per channel: its longest body, a subject on e-mail unless the
/// template renders it, no attachments on SMS.
fn content_rules(schema: &mut Schema) {
    let branches: Vec<serde_json::Value> = sendable()
        .map(|channel| {
            let mut branch = json!({ "properties": {
                "channel": { "const": channel.as_str() },
                "body": { "maxLength": channel.max_body_chars() }
            } });
            if domain::attachment::validate_attachments(channel, &[placeholder_attachment()])
                .is_err()
            {
                branch["properties"]["attachment_ids"] = json!({ "maxItems": 0 });
            }
            if channel == Channel::Email {
                branch["anyOf"] = json!([
                    {
                        "required": ["subject"],
                        "properties": {
                            "subject": { "type": "string", "pattern": patterns::NOT_BLANK }
                        }
                    },
                    template_given()
                ]);
            }
            branch
        })
        .collect();
    schema.insert("oneOf".into(), json!(branches));
    schema.insert(
        "allOf".into(),
        json!([
            { "oneOf": [{ "required": ["body"] }, template_given()] },
            {
                "not": {
                    "required": ["template", "subject"],
                    "properties": {
                        "subject": { "type": "string" },
                        "template": { "type": "object" }
                    }
                }
            }
        ]),
    );
}

/// A one-byte attachment, to ask the domain whether a channel carries attachments at all.
fn placeholder_attachment() -> domain::attachment::AttachmentRef {
    domain::attachment::AttachmentRef {
        id: AttachmentId(Uuid::nil()),
        media_type: domain::attachment::MediaType::PlainText,
        size: 1,
        sha256: String::new(),
        filename: None,
    }
}

/// A first message's rules: a reply's, and an addressee (`patient_id` or `to`).
fn first_message_rules(schema: &mut Schema) {
    content_rules(schema);
    schema.insert(
        "anyOf".into(),
        json!([
            { "required": ["patient_id"], "properties": { "patient_id": { "type": "string" } } },
            { "required": ["to"], "properties": { "to": { "type": "string" } } }
        ]),
    );
}

/// The message content with a parsed channel: written (`subject`, `body`) or from a template.
fn message_input(
    channel: &str,
    subject: &Option<String>,
    body: &Option<String>,
    attachment_ids: &[Uuid],
    template: &Option<TemplateChoice>,
) -> Result<MessageInput, ApiError> {
    let channel = channel.parse::<Channel>()?;
    let template = match (template, subject, body) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(ApiError::invalid(
                "`template` replaces `subject` and `body`: give either the template or the text, not both",
            ))
        }
        (None, _, None) => {
            return Err(ApiError::invalid(
                "`body` is required (or `template` to write the message from a template)",
            ))
        }
        (Some(choice), None, None) => Some(TemplateUse {
            id: TemplateId(choice.id),
            variables: choice.variables.clone(),
        }),
        (None, _, Some(_)) => None,
    };
    Ok(MessageInput {
        channel,
        subject: subject.clone(),
        body: body.clone().unwrap_or_default(),
        attachment_ids: attachment_ids.iter().copied().map(AttachmentId).collect(),
        template,
    })
}

impl ReplyBody {
    /// The message content with a parsed channel.
    pub(super) fn input(&self) -> Result<MessageInput, ApiError> {
        message_input(
            &self.channel,
            &self.subject,
            &self.body,
            &self.attachment_ids,
            &self.template,
        )
    }

    /// When the reply is to be sent, if it is scheduled.
    pub(super) fn send_at(&self) -> Result<Option<DateTime<Utc>>, ApiError> {
        parse_send_at(self.send_at.as_deref())
    }

    /// The caller's idempotency key, validated.
    pub(super) fn meta(&self) -> Result<RequestMeta, ApiError> {
        Ok(RequestMeta::with_idempotency_key(
            self.idempotency_key.clone(),
        )?)
    }
}

/// Parses `send_at`: an RFC 3339 time with its zone.
fn parse_send_at(raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|text| {
        DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::invalid(
                    "`send_at` must be an RFC 3339 time with its zone, e.g. 2026-01-05T09:30:00Z",
                )
            })
    })
    .transpose()
}

/// Whom a first message is for: a patient's `to`, staff's `patient_id`, else the other one
/// (which the initiation rules then refuse). A `to` must be `"reception"` or a staff id
/// whoever sends it.
fn addressee(role: Role, body: &MessageBody) -> Result<Addressee, ApiError> {
    let to = match body.to.as_deref() {
        None => None,
        Some("reception") => Some(Addressee::Reception),
        Some(to) => Some(Addressee::Staff(StaffId(Uuid::try_parse(to).map_err(
            |_| ApiError::invalid("`to` must be \"reception\" or a staff id"),
        )?))),
    };
    let patient = body.patient_id.map(|id| Addressee::Patient(PatientId(id)));
    let (first, second) = if role == Role::Patient {
        (to, patient)
    } else {
        (patient, to)
    };
    first.or(second).ok_or_else(|| {
        ApiError::invalid(if role == Role::Patient {
            "`to` is required: \"reception\" or a staff id"
        } else {
            "`patient_id` is required"
        })
    })
}

/// The operation [`start`] serves.
const START: Op = Op::new(
    Post,
    "/messages",
    "Write the first message of a new conversation",
    201,
)
.json_body::<MessageBody>()
.errors(&[404, 409, 413, 422])
.answers::<MessageAnswer>();

/// Writes the first message of a new conversation.
pub async fn start(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<Initiators>,
    JsonBody(body): JsonBody<MessageBody>,
) -> Result<(StatusCode, Json<MessageAnswer>), ApiError> {
    let meta = RequestMeta::with_idempotency_key(body.idempotency_key.clone())?;
    let input = message_input(
        &body.channel,
        &body.subject,
        &body.body,
        &body.attachment_ids,
        &body.template,
    )?;
    let addressee = addressee(principal.role(), &body)?;
    if let Some(send_at) = parse_send_at(body.send_at.as_deref())? {
        let committed = state
            .commands
            .schedule_first_message(&principal, &meta, addressee, &input, send_at)
            .await?;
        return Ok((
            StatusCode::CREATED,
            Json(MessageAnswer::scheduled(&committed, send_at)),
        ));
    }
    let committed = state
        .commands
        .start_conversation(&principal, &meta, addressee, &input)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(MessageAnswer::from_committed(&committed)),
    ))
}

/// The conversation a message belongs to, waiting for the read models when the message is
/// newer than they are (a command right after a send must find it).
pub(super) async fn conversation_of(
    state: &AppState,
    message_id: MessageId,
) -> Result<ConversationId, ApiError> {
    if let Some(id) = state.read_model.message_conversation(message_id).await? {
        return Ok(id);
    }
    let head = state.commands.store().head_position().await?;
    state.read_model.wait_for(head, MIN_POSITION_WAIT).await?;
    state
        .read_model
        .message_conversation(message_id)
        .await?
        .ok_or_else(|| ApiError::not_found("message"))
}

/// The operation [`mark_read`] serves.
const MARK_READ: Op = Op::new(
    Post,
    "/messages/{id}/read",
    "Mark a message read (its recipient)",
    200,
)
.errors(&[422])
.answers::<MessageAnswer>();

/// The recipient marks a message read.
pub async fn mark_read(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathId(id): PathId,
) -> Result<Json<MessageAnswer>, ApiError> {
    let message_id = MessageId(id);
    let conversation_id = conversation_of(&state, message_id).await?;
    let command = ConversationCommand::MarkRead(MarkRead {
        conversation_id,
        message_id,
    });
    let committed = state
        .commands
        .conversation_command(&principal, &RequestMeta::new(), None, &command)
        .await?;
    Ok(Json(MessageAnswer {
        conversation_id: Some(conversation_id),
        message_id: Some(message_id),
        position: committed.position,
        send_at: None,
    }))
}

async fn set_star(
    state: AppState,
    caller: Caller,
    id: uuid::Uuid,
    starred: bool,
) -> Result<Json<StarAnswer>, ApiError> {
    let Caller(principal) = caller;
    let message_id = MessageId(id);
    let conversation_id = conversation_of(&state, message_id).await?;
    let command = ConversationCommand::SetStar(SetStar {
        conversation_id,
        message_id,
        starred,
    });
    let committed = state
        .commands
        .conversation_command(&principal, &RequestMeta::new(), None, &command)
        .await?;
    Ok(Json(StarAnswer {
        conversation_id,
        message_id,
        starred,
        position: committed.position,
    }))
}

/// The operation [`star`] serves.
const STAR: Op = Op::new(
    Put,
    "/messages/{id}/star",
    "Star a message for the caller (staff)",
    200,
)
.errors(&[422])
.answers::<StarAnswer>();

/// Stars a message for the caller.
pub async fn star(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<StarAnswer>, ApiError> {
    set_star(state, caller, id, true).await
}

/// The operation [`unstar`] serves.
const UNSTAR: Op = Op::new(
    Delete,
    "/messages/{id}/star",
    "Remove the caller's star (staff)",
    200,
)
.errors(&[422])
.answers::<StarAnswer>();

/// Removes the caller's star.
pub async fn unstar(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<StarAnswer>, ApiError> {
    set_star(state, caller, id, false).await
}

/// The operation [`show`] serves.
const SHOW: Op = Op::new(Get, "/messages/{id}", "One message", 200).answers::<MessageView>();

/// One message, if the caller can see it.
pub async fn show(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathId(id): PathId,
    params: Params,
) -> Result<Json<MessageView>, ApiError> {
    let message_id = MessageId(id);
    params.await_min_position(&state).await?;
    let message = state
        .read_model
        .message(&principal.actor, message_id)
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    Ok(Json(message))
}

/// `patient_id`: one patient's.
pub(super) const PATIENT_ID: QueryParam =
    QueryParam::new("patient_id", ParamSchema::Uuid, "Only this patient's");
/// `status`: the recipient's side; `archived` means in an archived conversation.
pub(super) const STATUS: QueryParam = QueryParam::new(
    "status",
    ParamSchema::of::<ConversationStatus>(),
    "Only with this status (`archived`: in an archived conversation)",
);
/// `channel`.
pub(super) const CHANNEL: QueryParam = QueryParam::new(
    "channel",
    ParamSchema::of::<Channel>(),
    "Only entries on this channel",
);
/// `direction`.
pub(super) const DIRECTION: QueryParam = QueryParam::new(
    "direction",
    ParamSchema::of::<Direction>(),
    "Only entries from the patient (`inbound`) or from the clinic (`outbound`)",
);
/// `starred`: the caller's own stars.
pub(super) const STARRED: QueryParam = QueryParam::new(
    "starred",
    ParamSchema::Boolean,
    "Only entries the caller starred (`true`) or did not (`false`)",
);
/// `q`: full-text search.
pub(super) const Q: QueryParam = QueryParam::new(
    "q",
    ParamSchema::Text,
    "Full-text search over subjects, bodies and call summaries; each word also matches as a prefix, any case",
);

/// `conversation_id`: one conversation's messages.
const CONVERSATION_ID: QueryParam = QueryParam::new(
    "conversation_id",
    ParamSchema::Uuid,
    "Only this conversation's messages (its timeline, newest first)",
);

/// The message-level filters shared by both list endpoints.
pub(super) fn message_filter(params: &Params) -> Result<MessageFilter, ApiError> {
    Ok(MessageFilter {
        conversation_id: None,
        patient_id: params.uuid("patient_id")?.map(PatientId),
        status: params.parse("status")?,
        channel: params.parse("channel")?,
        direction: params.parse("direction")?,
        starred: params.flag("starred")?,
        q: params.text("q").map(str::to_owned),
    })
}

/// The page a list request asks for.
pub(super) fn page_request(params: &Params) -> Result<PageRequest, ApiError> {
    Ok(PageRequest {
        limit: params.limit()?,
        cursor: params.text("cursor").map(str::to_owned),
    })
}

/// The operation [`search`] serves.
const SEARCH: Op = Op::new(
    Get,
    "/messages",
    "Message search across conversations, newest first",
    200,
)
.query(SEARCH_PARAMS)
.answers::<Page<MessageView>>();

/// The message search's query: the inbox's message-level filters, one conversation, the page.
const SEARCH_PARAMS: &[QueryParam] = &[
    CONVERSATION_ID,
    PATIENT_ID,
    STATUS,
    CHANNEL,
    DIRECTION,
    STARRED,
    Q,
    LIMIT,
    CURSOR,
];

/// Message search across conversations (or within one: `conversation_id`, a timeline read
/// newest first), newest first.
pub async fn search(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Params,
) -> Result<Json<Page<MessageView>>, ApiError> {
    let mut filter = message_filter(&params)?;
    filter.conversation_id = params.uuid("conversation_id")?.map(ConversationId);
    let page = page_request(&params)?;
    params.await_min_position(&state).await?;
    let result = state
        .read_model
        .search_messages(&principal.actor, &filter, &page)
        .await?;
    Ok(Json(result))
}
