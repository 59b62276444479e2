//! Provider webhooks (contract section 7): inbound messages and delivery status from Twilio,
//! WhatsApp and e-mail. No hub token: each call is authenticated as its provider does it,
//! and a failed check answers 401 and appends nothing.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dispatch::inbound::{self, InboundAttachment, StatusReport};
use dispatch::status::{record_report, ReportOutcome};
use domain::command::{ConversationCommand, MarkRead};
use domain::{Actor, Channel, Principal, Role};
use schemars::{JsonSchema, SchemaGenerator};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::extract::Params;
use super::openapi::Verb::{Get, Post};
use super::openapi::{ApiBuilder, Operation as Op, ParamSchema, QueryParam};
use super::{patterns, AppState};
use crate::error::ApiError;
use crate::inbound::{file, Filed};
use commands::RequestMeta;

/// The provider webhook routes (public: each checks its provider's signature or token).
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(TWILIO_SMS, twilio_sms)
        .route(TWILIO_STATUS, twilio_status)
        .route(WHATSAPP_VERIFY, whatsapp_verify)
        .route(WHATSAPP, whatsapp)
        .route(EMAIL, email)
}

/// The largest raw e-mail the e-mail webhook takes (25 MiB of attachments, base64-encoded).
pub const EMAIL_BODY_LIMIT: usize = 40 * 1024 * 1024;
/// How long a status report waits for the dispatcher to record the send it reports on.
const REPORT_WAIT: Duration = Duration::from_secs(5);

/// What a webhook did with what it was given.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct WebhookAnswer {
    /// Messages filed in patients' conversations.
    pub filed: Vec<FiledMessage>,
    /// Unmatched queue entries created (unknown senders).
    pub unmatched: Vec<uuid::Uuid>,
    /// Messages the provider had delivered before (nothing added).
    pub duplicates: usize,
    /// Status reports applied.
    pub statuses: usize,
}

/// One filed inbound message.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FiledMessage {
    /// The conversation.
    pub conversation_id: domain::ConversationId,
    /// The message.
    pub message_id: domain::MessageId,
}

impl WebhookAnswer {
    fn add(&mut self, filed: Filed) {
        match filed {
            Filed::Duplicate => self.duplicates += 1,
            Filed::Message {
                conversation_id,
                message_id,
            } => self.filed.push(FiledMessage {
                conversation_id,
                message_id,
            }),
            Filed::Unmatched(id) => self.unmatched.push(id.0),
        }
    }
}

fn rejected(what: &str) -> ApiError {
    ApiError::unauthenticated(format!("the {what} signature is not valid"))
}

/// Counts a refused webhook call under its provider (`twilio`, `whatsapp`, `email`) and a
/// reason word, and answers `error`.
fn refuse(provider: &'static str, reason: &'static str, error: ApiError) -> ApiError {
    metrics::counter!(
        crate::metrics::WEBHOOK_REJECTIONS_TOTAL,
        "provider" => provider,
        "reason" => reason
    )
    .increment(1);
    error
}

/// Compares two secrets in constant time (by their digests).
pub(super) fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The URL Twilio signed: `HUB_PUBLIC_URL` (or `http://<Host>`) + the path and query it called.
fn twilio_url(state: &AppState, headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    let base = state.webhooks.public_url.clone().unwrap_or_else(|| {
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    });
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    format!("{base}{path}")
}

/// Checks `X-Twilio-Signature` and answers the form parameters.
fn twilio_params(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    body: &[u8],
) -> Result<Vec<(String, String)>, ApiError> {
    let token = state.webhooks.twilio_auth_token.as_deref().ok_or_else(|| {
        refuse(
            "twilio",
            "not_configured",
            ApiError::unauthenticated("Twilio is not configured"),
        )
    })?;
    let bad_signature = || refuse("twilio", "bad_signature", rejected("X-Twilio-Signature"));
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|h| h.to_str().ok())
        .ok_or_else(bad_signature)?;
    let params: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| bad_signature())?;
    let url = twilio_url(state, headers, uri);
    if !inbound::twilio::verify_signature(token, &url, &params, signature) {
        return Err(bad_signature());
    }
    Ok(params)
}

/// 400 for a payload that does not parse, counted as a `bad_request` rejection of `provider`.
fn bad_payload(provider: &'static str) -> impl Fn(inbound::InboundError) -> ApiError {
    move |error| {
        refuse(
            provider,
            "bad_request",
            ApiError::invalid(format!("the webhook payload is not valid: {error}")),
        )
    }
}

/// Twilio's inbound SMS form: the fields the hub reads (Twilio sends more, which it ignores).
fn twilio_sms_form(_: &mut SchemaGenerator) -> Value {
    json!({
        "type": "object",
        "required": ["MessageSid", "From", "Body"],
        "properties": {
            "MessageSid": { "type": "string", "minLength": 1, "description": "Twilio's message id; a message delivered twice is filed once" },
            "From": { "type": "string", "pattern": patterns::PHONE, "description": "The sender's E.164 number" },
            "Body": { "type": "string", "description": "The text; a consent keyword alone (STOP, START, ...) changes SMS consent" }
        }
    })
}

/// Twilio's status callback form: the fields the hub reads.
fn twilio_status_form(_: &mut SchemaGenerator) -> Value {
    json!({
        "type": "object",
        "required": ["MessageSid", "MessageStatus"],
        "properties": {
            "MessageSid": { "type": "string", "minLength": 1, "description": "The id Twilio answered when the hub sent the message" },
            "MessageStatus": {
                "type": "string",
                "enum": ["queued", "accepted", "scheduled", "sending", "sent", "delivered", "read", "undelivered", "failed", "canceled"]
            },
            "ErrorCode": { "type": "string", "description": "Twilio's error code, for a failure" },
            "ErrorMessage": { "type": "string" }
        }
    })
}

/// The WhatsApp Cloud API webhook payload: the parts the hub reads.
fn whatsapp_payload(_: &mut SchemaGenerator) -> Value {
    let message = json!({
        "type": "object",
        "required": ["from", "id", "type"],
        "properties": {
            "from": { "type": "string", "description": "The sender's number: E.164 digits without `+`" },
            "id": { "type": "string", "minLength": 1, "description": "WhatsApp's message id; a message delivered twice is filed once" },
            "timestamp": { "type": "string", "description": "Unix seconds" },
            "type": { "type": "string", "description": "`text`, `image`, `document`, `button`, `interactive`, ...; others are kept with a placeholder text" },
            "text": { "type": "object", "properties": { "body": { "type": "string" } } }
        }
    });
    let status = json!({
        "type": "object",
        "required": ["id", "status"],
        "properties": {
            "id": { "type": "string", "description": "The id WhatsApp answered when the hub sent the message" },
            "status": { "type": "string", "description": "`sent`, `delivered`, `read` or `failed` (others are ignored)" },
            "errors": { "type": "array", "items": { "type": "object" } }
        }
    });
    json!({
        "type": "object",
        "properties": { "entry": { "type": "array", "items": {
            "type": "object",
            "properties": { "changes": { "type": "array", "items": {
                "type": "object",
                "properties": { "value": {
                    "type": "object",
                    "properties": {
                        "messages": { "type": "array", "items": message },
                        "statuses": { "type": "array", "items": status }
                    }
                } }
            } } }
        } } }
    })
}

/// The e-mail webhook's body: one raw RFC 5322 message.
fn rfc822() -> Vec<(&'static str, Value)> {
    vec![(
        "message/rfc822",
        json!({ "type": "string", "minLength": 1 }),
    )]
}

/// Twilio's answer to an inbound SMS: empty TwiML.
fn twiml() -> Vec<(&'static str, Value)> {
    vec![("text/xml", json!({ "type": "string" }))]
}

/// The handshake's answer: the challenge as plain text.
fn challenge() -> Vec<(&'static str, Value)> {
    vec![("text/plain", json!({ "type": "string" }))]
}

/// The operation [`twilio_sms`] serves.
const TWILIO_SMS: Op = Op::new(
    Post,
    "/webhooks/twilio/sms",
    "Inbound SMS from Twilio (X-Twilio-Signature)",
    200,
)
.form_body(twilio_sms_form)
.answers_raw(twiml)
.secured_by("twilio_signature")
.errors(&[401]);

/// `POST /v1/webhooks/twilio/sms`: an inbound SMS; answers empty TwiML.
pub async fn twilio_sms(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = twilio_params(&state, &headers, &uri, &body)?;
    let message = inbound::twilio::parse_inbound_sms(&params).map_err(bad_payload("twilio"))?;
    file(&state.filing(), message).await?;
    Ok((
        [(CONTENT_TYPE, "text/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
    )
        .into_response())
}

/// The operation [`twilio_status`] serves.
const TWILIO_STATUS: Op = Op::new(
    Post,
    "/webhooks/twilio/status",
    "Twilio delivery status callback (X-Twilio-Signature)",
    200,
)
.form_body(twilio_status_form)
.answers::<WebhookAnswer>()
.secured_by("twilio_signature")
.errors(&[401, 404]);

/// `POST /v1/webhooks/twilio/status`: a delivery status callback.
pub async fn twilio_status(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAnswer>, ApiError> {
    let params = twilio_params(&state, &headers, &uri, &body)?;
    let report = inbound::twilio::parse_status(&params).map_err(bad_payload("twilio"))?;
    apply_report(&state, Channel::Sms, &report)
        .await
        .map_err(|error| match error.code() {
            "not_found" => refuse("twilio", "unknown_message", error),
            _ => error,
        })?;
    Ok(Json(WebhookAnswer {
        statuses: 1,
        ..WebhookAnswer::default()
    }))
}

/// Records a status report, waiting briefly for a send that is still being recorded; a
/// WhatsApp read receipt also marks the message read for the patient.
async fn apply_report(
    state: &AppState,
    channel: Channel,
    report: &StatusReport,
) -> Result<(), ApiError> {
    let executor = state.commands.executor();
    let started = std::time::Instant::now();
    let outcome = loop {
        match record_report(executor, channel, report).await? {
            ReportOutcome::UnknownMessage if started.elapsed() < REPORT_WAIT => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            outcome => break outcome,
        }
    };
    match outcome {
        ReportOutcome::UnknownMessage => Err(ApiError::not_found("provider message")),
        ReportOutcome::Applied {
            conversation_id,
            message_id,
            read,
            ..
        } => {
            if read {
                mark_read_by_patient(state, conversation_id, message_id).await?;
            }
            Ok(())
        }
    }
}

/// Marks an outbound message read on the patient's behalf (a provider read receipt).
async fn mark_read_by_patient(
    state: &AppState,
    conversation_id: domain::ConversationId,
    message_id: domain::MessageId,
) -> Result<(), ApiError> {
    let Some(conversation) = state
        .read_model
        .conversation(&Actor::system(), conversation_id)
        .await?
    else {
        return Ok(());
    };
    let patient = Principal::new(
        Actor {
            id: conversation.patient_id.0,
            role: Role::Patient,
        },
        [],
    );
    let command = ConversationCommand::MarkRead(MarkRead {
        conversation_id,
        message_id,
    });
    state
        .commands
        .conversation_command(&patient, &RequestMeta::new(), None, &command)
        .await?;
    Ok(())
}

/// The operation [`whatsapp_verify`] serves.
const WHATSAPP_VERIFY: Op = Op::new(
    Get,
    "/webhooks/whatsapp",
    "WhatsApp subscription handshake: answers hub.challenge",
    200,
)
.query(&[
    QueryParam::new("hub.mode", ParamSchema::Text, "`subscribe`"),
    QueryParam::new(
        "hub.verify_token",
        ParamSchema::Text,
        "HUB_WHATSAPP_VERIFY_TOKEN",
    ),
    QueryParam::new("hub.challenge", ParamSchema::Text, "What the answer echoes"),
])
.answers_raw(challenge)
.public()
.called_by_provider()
.errors(&[400, 401]);

/// `GET /v1/webhooks/whatsapp`: the subscription handshake; answers `hub.challenge`.
pub async fn whatsapp_verify(
    State(state): State<AppState>,
    params: Params,
) -> Result<Response, ApiError> {
    let expected = state
        .webhooks
        .whatsapp_verify_token
        .as_deref()
        .ok_or_else(|| {
            refuse(
                "whatsapp",
                "not_configured",
                ApiError::unauthenticated("WhatsApp is not configured"),
            )
        })?;
    let mode = params.text("hub.mode").unwrap_or_default();
    let token = params.text("hub.verify_token").unwrap_or_default();
    if !inbound::whatsapp::verify_handshake(mode, token, expected) {
        return Err(refuse(
            "whatsapp",
            "bad_token",
            ApiError::unauthenticated("the verify token does not match"),
        ));
    }
    let challenge = params.text("hub.challenge").unwrap_or_default().to_owned();
    Ok(([(CONTENT_TYPE, "text/plain")], challenge).into_response())
}

/// The operation [`whatsapp`] serves.
const WHATSAPP: Op = Op::new(
    Post,
    "/webhooks/whatsapp",
    "WhatsApp inbound messages and statuses (X-Hub-Signature-256)",
    200,
)
.json_body_with(whatsapp_payload)
.answers::<WebhookAnswer>()
.secured_by("whatsapp_signature")
.errors(&[401]);

/// `POST /v1/webhooks/whatsapp`: inbound messages and statuses.
pub async fn whatsapp(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAnswer>, ApiError> {
    let secret = state
        .webhooks
        .whatsapp_app_secret
        .as_deref()
        .ok_or_else(|| {
            refuse(
                "whatsapp",
                "not_configured",
                ApiError::unauthenticated("WhatsApp is not configured"),
            )
        })?;
    let bad_signature = || refuse("whatsapp", "bad_signature", rejected("X-Hub-Signature-256"));
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|h| h.to_str().ok())
        .ok_or_else(bad_signature)?;
    if !inbound::whatsapp::verify_signature(secret, &body, signature) {
        return Err(bad_signature());
    }
    let webhook = inbound::whatsapp::parse_webhook(&body).map_err(bad_payload("whatsapp"))?;
    let mut answer = WebhookAnswer::default();
    for received in webhook.messages {
        let mut message = received.message;
        for media in &received.media {
            match fetch_media(&state, &media.media_id).await {
                Some((media_type, content)) => message.attachments.push(InboundAttachment {
                    filename: media
                        .filename
                        .clone()
                        .unwrap_or_else(|| format!("whatsapp-{}", media.media_id)),
                    media_type,
                    content,
                }),
                None => message.body.push_str(&format!(
                    "\n[attachment not retrieved: {}]",
                    media.mime_type
                )),
            }
        }
        answer.add(file(&state.filing(), message).await?);
    }
    for report in &webhook.statuses {
        match apply_report(&state, Channel::Whatsapp, report).await {
            Ok(()) => answer.statuses += 1,
            Err(error) if error.code() == "not_found" => {
                tracing::warn!("WhatsApp status for an unknown message ignored");
            }
            Err(error) => return Err(error),
        }
    }
    Ok(Json(answer))
}

/// Downloads an inbound WhatsApp media file, if the WhatsApp provider is configured.
async fn fetch_media(state: &AppState, media_id: &str) -> Option<(String, Bytes)> {
    let client = state.whatsapp.as_ref()?;
    match client.download_media(media_id).await {
        Ok(media) => Some(media),
        Err(error) => {
            tracing::warn!(%error, "could not fetch WhatsApp media");
            None
        }
    }
}

/// The operation [`email`] serves.
const EMAIL: Op = Op::new(
    Post,
    "/webhooks/email",
    "One raw RFC 5322 e-mail (Bearer HUB_INBOUND_EMAIL_TOKEN)",
    200,
)
.raw_body(rfc822)
.answers::<WebhookAnswer>()
.secured_by("inbound_email")
.errors(&[401]);

/// `POST /v1/webhooks/email`: one raw RFC 5322 message, `Authorization: Bearer` the inbound token.
pub async fn email(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Json<WebhookAnswer>, ApiError> {
    let expected = state
        .webhooks
        .inbound_email_token
        .as_deref()
        .ok_or_else(|| {
            refuse(
                "email",
                "not_configured",
                ApiError::unauthenticated("inbound e-mail is not configured"),
            )
        })?;
    let given =
        super::extract::bearer_token(&headers).map_err(|e| refuse("email", "bad_token", e))?;
    if !same_secret(given, expected) {
        return Err(refuse(
            "email",
            "bad_token",
            ApiError::unauthenticated("the token is not valid"),
        ));
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !content_type
        .trim()
        .to_ascii_lowercase()
        .starts_with("message/rfc822")
    {
        return Err(refuse(
            "email",
            "unsupported_media_type",
            ApiError::unsupported_media_type(
                "the e-mail webhook takes `Content-Type: message/rfc822`",
            ),
        ));
    }
    let raw = axum::body::to_bytes(request.into_body(), EMAIL_BODY_LIMIT)
        .await
        .map_err(|_| {
            refuse(
                "email",
                "too_large",
                ApiError::payload_too_large("the e-mail is too large"),
            )
        })?;
    let message = inbound::email::parse(&raw).map_err(bad_payload("email"))?;
    let mut answer = WebhookAnswer::default();
    answer.add(file(&state.filing(), message).await?);
    Ok(Json(answer))
}
