//! The pages talk to the hub only through its own `/v1` API, called in-process as the
//! signed-in caller (the session's principal rides along as a [`Verified`] extension, which no
//! network request can carry): every read and write passes the same authorization, validation
//! and error mapping as an API client's.

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use tower::ServiceExt;

use commands::auth::Verified;
use domain::Principal;

use crate::session::Session;
use crate::WebState;

/// A refusal or failure as the API answered it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// HTTP status.
    pub status: StatusCode,
    /// The contract error code.
    pub code: String,
    /// The human-readable message.
    pub message: String,
    /// For `conversation_exists`: the existing conversation.
    pub conversation_id: Option<String>,
}

impl Failure {
    fn from_answer(status: StatusCode, body: &Value) -> Self {
        let error = &body["error"];
        Failure {
            status,
            code: error["code"].as_str().unwrap_or("unavailable").to_owned(),
            message: error["message"]
                .as_str()
                .unwrap_or("the service is temporarily unavailable")
                .to_owned(),
            conversation_id: error["conversation_id"].as_str().map(str::to_owned),
        }
    }

    /// A failure of the page itself (not an API answer).
    pub fn local(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Failure {
            status,
            code: code.to_owned(),
            message: message.into(),
            conversation_id: None,
        }
    }
}

/// The API as one caller sees it.
pub struct Api<'a> {
    state: &'a WebState,
    caller: &'a Principal,
}

impl<'a> Api<'a> {
    /// The API called as the session's principal.
    pub fn new(state: &'a WebState, session: &'a Session) -> Self {
        Api {
            state,
            caller: &session.principal,
        }
    }

    /// Sends one request and answers the raw response.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Body,
    ) -> Response {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .extension(Verified(self.caller.clone()));
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let request = request.body(body).expect("a valid request");
        match self.state.api.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Body,
    ) -> Result<T, Failure> {
        let response = self.send(method, path, content_type, body).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|_| {
                Failure::local(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the answer could not be read",
                )
            })?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(Failure::from_answer(status, &value));
        }
        serde_json::from_value(value).map_err(|error| {
            Failure::local(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("unexpected answer: {error}"),
            )
        })
    }

    /// `GET` a JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.json(Method::GET, path, None, Body::empty()).await
    }

    /// `POST` (or another method) with a JSON body.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<T, Failure> {
        let bytes = serde_json::to_vec(body).expect("serializable");
        self.json(method, path, Some("application/json"), Body::from(bytes))
            .await
    }

    /// Stores a file; answers its id.
    pub async fn upload(
        &self,
        media_type: &str,
        filename: &str,
        content: Body,
    ) -> Result<String, Failure> {
        let query = serde_urlencoded::to_string([("filename", filename)]).unwrap_or_default();
        let stored: Stored = self
            .json(
                Method::POST,
                &format!("/attachments?{query}"),
                Some(media_type),
                content,
            )
            .await?;
        Ok(stored.id)
    }
}

#[derive(Deserialize)]
struct Stored {
    id: String,
}

/// `{items, next_cursor}`.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The next page's cursor.
    pub next_cursor: Option<String>,
}

/// `{id, role}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Actor {
    /// Id.
    pub id: String,
    /// Role.
    pub role: String,
    /// Display name, where the API knows it.
    #[serde(default)]
    pub name: Option<String>,
}

/// An attachment as a message lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Attachment {
    /// Id.
    pub id: String,
    /// Media type.
    pub media_type: String,
    /// Bytes.
    pub size: u64,
    /// File name.
    pub filename: Option<String>,
}

/// A call's own time and length.
#[derive(Debug, Clone, Deserialize)]
pub struct Call {
    /// When.
    pub occurred_at: String,
    /// Seconds.
    pub duration_seconds: u64,
}

/// A text the API answers as null once its patient was erased, as an empty one.
fn text_or_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// A message or call log.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// Id.
    pub id: String,
    /// Conversation.
    pub conversation_id: String,
    /// The conversation's patient.
    pub patient_id: String,
    /// Channel.
    pub channel: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Author.
    pub author: Actor,
    /// Subject.
    pub subject: Option<String>,
    /// Text (empty once the patient was erased: the API answers null).
    #[serde(deserialize_with = "text_or_null")]
    pub body: String,
    /// Files.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Recipient-side status.
    pub status: String,
    /// Delivery status.
    pub delivery_status: Option<String>,
    /// The provider's reason for a failure.
    #[serde(default)]
    pub delivery_error: Option<String>,
    /// The caller's star.
    pub starred: bool,
    /// Recorded at.
    pub sent_at: String,
    /// Call details.
    pub call: Option<Call>,
    /// The global position that recorded it (the timeline's order).
    #[serde(default)]
    pub position: u64,
}

/// A conversation.
#[derive(Debug, Clone, Deserialize)]
pub struct Conversation {
    /// Id.
    pub id: String,
    /// Patient.
    pub patient_id: String,
    /// `reception` or `staff`.
    pub counterpart: String,
    /// Participants.
    pub participants: Vec<Actor>,
    /// Status.
    pub status: String,
    /// Archived.
    pub archived: bool,
    /// Latest activity.
    pub last_message_at: String,
    /// Unread messages for the caller's side.
    pub unread_count: u64,
    /// Latest entry.
    pub latest_message: Message,
    /// Global position of its latest activity.
    #[serde(default)]
    pub position: u64,
}

/// A patient's contact record.
#[derive(Debug, Clone, Deserialize)]
pub struct Patient {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Phone.
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Portal account.
    pub portal_enabled: bool,
    /// WhatsApp opt-in.
    pub whatsapp_opt_in: bool,
    /// Opted out of SMS.
    #[serde(default)]
    pub sms_opted_out: bool,
    /// When the WhatsApp customer-service window closes, if it was ever opened.
    #[serde(default)]
    pub whatsapp_window_closes_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether the patient was erased (its personal fields are gone).
    #[serde(default)]
    pub erased: bool,
}

/// A registration's or token rotation's answer: `{id, token, position}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Registered {
    /// The record's id.
    pub id: String,
    /// The access token, shown once.
    pub token: String,
    /// The global position to wait for.
    pub position: u64,
}

/// A command's answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Written {
    /// The conversation, when the command names one.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// The global position to wait for.
    pub position: u64,
    /// For a send that was scheduled: when it is to be sent.
    #[serde(default)]
    pub send_at: Option<String>,
}

/// A message written now and sent later, as `GET /v1/scheduled` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Scheduled {
    /// The id the message has (or will have) in the timeline.
    pub message_id: String,
    /// The conversation's patient.
    pub patient_id: String,
    /// Channel.
    pub channel: String,
    /// Subject.
    pub subject: Option<String>,
    /// Text (rendered already when written from a template).
    pub body: String,
    /// Files.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// When the author asked for it to be sent.
    pub send_at: String,
    /// When it is released: `send_at`, or the end of the quiet hours it fell into.
    pub release_at: String,
    /// `pending`, `sent`, `cancelled` or `failed`.
    pub status: String,
    /// For a failed one: the error code of the rule that failed.
    pub failure_reason: Option<String>,
    /// Who scheduled it.
    pub author: Actor,
}

/// The clinic's quiet hours; every field empty while none are set.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QuietHours {
    /// When they begin, `HH:MM`.
    pub start: Option<String>,
    /// When they end, `HH:MM`.
    pub end: Option<String>,
    /// The IANA zone they are judged in for patients without their own.
    pub time_zone: Option<String>,
    /// The channels whose scheduled messages are held.
    #[serde(default)]
    pub channels: Vec<String>,
    /// On a change: its global position.
    #[serde(default)]
    pub position: Option<u64>,
}

/// A message template at its current version.
#[derive(Debug, Clone, Deserialize)]
pub struct Template {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Current version.
    pub version: u64,
    /// Subject line with placeholders.
    pub subject: Option<String>,
    /// Text with placeholders.
    pub body: String,
    /// The approved WhatsApp template it is sent as outside the 24-hour window.
    pub whatsapp: Option<WhatsappTemplate>,
    /// Placeholders in order of first use.
    pub variables: Vec<String>,
    /// Whether it was retired.
    pub retired: bool,
}

/// The approved WhatsApp template a template is sent as.
#[derive(Debug, Clone, Deserialize)]
pub struct WhatsappTemplate {
    /// The approved template's name.
    pub name: String,
    /// Its language code.
    pub language: String,
    /// The variables that fill its body parameters, in order.
    pub parameters: Vec<String>,
}

/// The reporting figures of `GET /v1/reports/summary` (what the report page shows of them).
#[derive(Debug, Clone, Deserialize)]
pub struct ReportSummary {
    /// The first UTC day of the window, `YYYY-MM-DD`.
    pub from: String,
    /// The last UTC day of the window (today).
    pub to: String,
    /// How long the clinic took to answer inbound messages of the window.
    pub first_response: FirstResponse,
    /// Every channel's totals over the window.
    pub channels: Vec<ChannelTotals>,
    /// The window's counts per day, channel and direction.
    pub daily: Vec<DailyCounts>,
    /// What waits for the clinic now.
    pub backlog: Backlog,
}

/// First-response times of the window's inbound messages.
#[derive(Debug, Clone, Deserialize)]
pub struct FirstResponse {
    /// How many were answered.
    pub answered: u64,
    /// How many are not answered yet.
    pub unanswered: u64,
    /// The median response time, seconds.
    pub median_seconds: Option<u64>,
    /// The 90th percentile, seconds.
    pub p90_seconds: Option<u64>,
}

/// One channel's totals over the window.
#[derive(Debug, Clone, Deserialize)]
pub struct ChannelTotals {
    /// The channel's wire name.
    pub channel: String,
    /// Entries from the patient.
    pub inbound: u64,
    /// Entries from the clinic.
    pub outbound: u64,
    /// Messages queued now.
    pub queued: u64,
    /// Messages sent now.
    pub sent: u64,
    /// Messages delivered now.
    pub delivered: u64,
    /// Messages that failed.
    pub failed: u64,
}

impl ChannelTotals {
    /// The messages with a delivery status.
    pub fn with_delivery_status(&self) -> u64 {
        [self.queued, self.sent, self.delivered, self.failed]
            .into_iter()
            .fold(0, u64::saturating_add)
    }
}

/// One day's entries of one channel and direction.
#[derive(Debug, Clone, Deserialize)]
pub struct DailyCounts {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// The channel's wire name.
    pub channel: String,
    /// Every entry.
    pub messages: u64,
}

/// Unanswered inbound messages in open conversations.
#[derive(Debug, Clone, Deserialize)]
pub struct Backlog {
    /// The conversations awaiting the clinic.
    pub conversations: u64,
    /// Their unanswered messages.
    pub messages: u64,
    /// When the oldest came (RFC 3339).
    pub oldest_received_at: Option<String>,
    /// How long it has waited, seconds.
    pub oldest_age_seconds: Option<u64>,
}
