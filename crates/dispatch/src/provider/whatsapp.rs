//! WhatsApp through Meta's Cloud API: `POST {base}/{phone_number_id}/messages` with a
//! bearer token; files are uploaded to `{base}/{phone_number_id}/media` first and then sent
//! as messages referencing the returned media id.

use std::fmt;

use bytes::Bytes;
use domain::template::WhatsappTemplateMessage;
use domain::Channel;
use reqwest::multipart::{Form, Part};
use reqwest::{RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::http::{self, ProviderError};
use super::{Accepted, OutboundAttachment, OutboundMessage, Provider, SendError, SetupError};

/// The Graph API base URL in production, with the API version the hub speaks.
pub const DEFAULT_API_BASE: &str = "https://graph.facebook.com/v21.0";

const PROVIDER: &str = "whatsapp";

/// How to reach the WhatsApp Cloud API.
#[derive(Clone)]
pub struct WhatsappConfig {
    /// The Graph API base URL including its version, [`DEFAULT_API_BASE`] in production.
    pub api_base: String,
    /// The id of the business phone number that sends.
    pub phone_number_id: String,
    /// The access token (system user token).
    pub token: String,
}

impl fmt::Debug for WhatsappConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhatsappConfig")
            .field("api_base", &self.api_base)
            .field("phone_number_id", &self.phone_number_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// The WhatsApp provider backed by the Cloud API.
#[derive(Debug, Clone)]
pub struct WhatsappCloud {
    config: WhatsappConfig,
    http: reqwest::Client,
}

/// `{"messages":[{"id":"wamid…"}]}` in the answer to a send.
#[derive(Deserialize)]
struct SentAnswer {
    messages: Vec<SentMessage>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: String,
}

/// `{"id":"…"}` in the answer to an upload.
#[derive(Deserialize)]
struct UploadAnswer {
    id: String,
}

/// What `GET {base}/{media_id}` tells about a stored file.
#[derive(Deserialize)]
struct MediaInfo {
    url: String,
    mime_type: String,
}

/// Graph's error body: `{"error":{"message","type","code","error_subcode","fbtrace_id"}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    message: Option<String>,
    code: Option<Value>,
}

fn parse_error(body: &[u8]) -> Option<ProviderError> {
    let ErrorBody { error } = serde_json::from_slice(body).ok()?;
    Some(ProviderError {
        code: error
            .code
            .as_ref()
            .map_or_else(|| "error".to_owned(), http::code_text),
        message: error.message.unwrap_or_default(),
    })
}

impl WhatsappCloud {
    /// Builds the provider; fails only if the HTTP client cannot start.
    pub fn new(config: WhatsappConfig) -> Result<Self, SetupError> {
        Ok(Self {
            config,
            http: http::client()?,
        })
    }

    /// Fetches a file a patient sent (a media id from an inbound webhook): its MIME type and
    /// its bytes.
    pub async fn download_media(&self, media_id: &str) -> Result<(String, Bytes), SendError> {
        if media_id.is_empty() || !media_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SendError::Rejected(format!("{PROVIDER}: invalid media id")));
        }
        let info: MediaInfo = self.call(self.http.get(self.url(media_id))).await?;
        let response = self.authorized(self.http.get(&info.url)).await?;
        let content = http::success_body(PROVIDER, response, parse_error).await?;
        Ok((info.mime_type, content))
    }

    /// Sends a request with the bearer token; only transport failures are errors here.
    async fn authorized(&self, request: RequestBuilder) -> Result<Response, SendError> {
        request
            .bearer_auth(&self.config.token)
            .send()
            .await
            .map_err(|err| http::transport_error(PROVIDER, &err))
    }

    /// Sends a request with the bearer token and decodes the JSON of a successful answer.
    async fn call<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, SendError> {
        let response = self.authorized(request).await?;
        http::success_json(PROVIDER, response, parse_error).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.config.api_base.trim_end_matches('/'))
    }

    /// Uploads one file and answers its media id.
    async fn upload(&self, attachment: &OutboundAttachment) -> Result<String, SendError> {
        let file = Part::bytes(attachment.content.to_vec())
            .file_name(attachment.filename.clone())
            .mime_str(&attachment.media_type)
            .map_err(|_| SendError::Rejected(format!("{PROVIDER}: invalid media type")))?;
        let form = Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", attachment.media_type.clone())
            .part("file", file);
        let url = self.url(&format!("{}/media", self.config.phone_number_id));
        let answer: UploadAnswer = self.call(self.http.post(url).multipart(form)).await?;
        Ok(answer.id)
    }

    /// Sends one message payload and answers its `wamid`.
    async fn post_message(&self, payload: &Value) -> Result<String, SendError> {
        let url = self.url(&format!("{}/messages", self.config.phone_number_id));
        let answer: SentAnswer = self.call(self.http.post(url).json(payload)).await?;
        answer
            .messages
            .into_iter()
            .next()
            .map(|sent| sent.id)
            .ok_or_else(|| {
                SendError::OutcomeUnknown(format!("{PROVIDER}: the answer names no message id"))
            })
    }
}

/// The recipient as WhatsApp wants it: the E.164 number's digits without `+`.
fn recipient(to: &str) -> Result<&str, SendError> {
    let digits = to.strip_prefix('+').unwrap_or(to);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SendError::Rejected(format!(
            "{PROVIDER}: the recipient is not a phone number"
        )));
    }
    Ok(digits)
}

fn text_payload(to: &str, body: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": { "preview_url": false, "body": body },
    })
}

/// A Cloud API template message: the approved template by name and language, its body
/// parameters as text in the declared order (sent outside the 24-hour window).
fn template_payload(to: &str, template: &WhatsappTemplateMessage) -> Value {
    let parameters: Vec<Value> = template
        .parameters
        .iter()
        .map(|text| json!({ "type": "text", "text": text }))
        .collect();
    json!({
        "messaging_product": "whatsapp",
        "to": to,
        "type": "template",
        "template": {
            "name": template.name,
            "language": { "code": template.language },
            "components": [{ "type": "body", "parameters": parameters }],
        },
    })
}

/// A message carrying an uploaded file: JPEG and PNG travel as images (the only image types
/// WhatsApp takes), everything else as a document with its file name.
fn media_payload(to: &str, media_id: &str, attachment: &OutboundAttachment) -> Value {
    let (kind, object) = match attachment.media_type.as_str() {
        "image/jpeg" | "image/png" => ("image", json!({ "id": media_id })),
        _ => (
            "document",
            json!({ "id": media_id, "filename": attachment.filename }),
        ),
    };
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
        kind: object,
    })
}

#[async_trait::async_trait]
impl Provider for WhatsappCloud {
    fn channel(&self) -> Channel {
        Channel::Whatsapp
    }

    /// Uploads every file first (nothing reaches the patient yet), then sends the text (or the
    /// approved template message, outside the 24-hour window) and one message per file. A
    /// failure after the first accepted message leaves the outcome unknown, since retrying
    /// would repeat what was already delivered.
    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, SendError> {
        let to = recipient(&message.to)?;
        let first = match &message.whatsapp_template {
            Some(template) => template_payload(to, template),
            None => text_payload(to, &message.body),
        };
        let mut payloads = vec![first];
        for attachment in &message.attachments {
            let media_id = self.upload(attachment).await?;
            payloads.push(media_payload(to, &media_id, attachment));
        }
        let total = payloads.len();
        let mut ids = Vec::with_capacity(total);
        for payload in &payloads {
            match self.post_message(payload).await {
                Ok(id) => ids.push(id),
                Err(err) if ids.is_empty() => return Err(err),
                Err(err) => {
                    return Err(SendError::OutcomeUnknown(format!(
                        "{PROVIDER}: {} of {total} messages sent, then: {err}",
                        ids.len()
                    )))
                }
            }
        }
        tracing::debug!(wamids = ?ids, "whatsapp accepted the messages");
        Ok(Accepted {
            provider_message_ids: ids,
        })
    }
}
