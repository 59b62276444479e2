//! WhatsApp Cloud API webhooks: the subscription handshake, the `X-Hub-Signature-256`
//! check, and the `entry[].changes[].value.{messages,statuses}` payload.

use chrono::DateTime;
use domain::contact::PhoneNumber;
use domain::Channel;
use hmac::Hmac;
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use super::signature::{digest, matches};
use super::{InboundError, InboundMessage, ReportedStatus, StatusReport};
use crate::provider::http::code_text;

/// What one webhook delivery carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WhatsappWebhook {
    /// Messages patients sent, in payload order.
    pub messages: Vec<WhatsappInbound>,
    /// Delivery reports about the hub's messages, in payload order.
    pub statuses: Vec<StatusReport>,
}

/// One inbound WhatsApp message; its files are still at Meta, named by media id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatsappInbound {
    /// The message: `from` is `+` and the sender's WhatsApp number, `body` the text, the
    /// media caption or empty.
    pub message: InboundMessage,
    /// Files to fetch with `WhatsappCloud::download_media`.
    pub media: Vec<MediaRef>,
}

/// A file attached to an inbound message, stored at Meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// The media id to download it by.
    pub media_id: String,
    /// Its MIME type as WhatsApp reports it.
    pub mime_type: String,
    /// The file name, for documents.
    pub filename: Option<String>,
}

/// `sha256=` and the lowercase hex HMAC-SHA256 of `raw_body` keyed with the app secret: the
/// `X-Hub-Signature-256` Meta sends.
pub fn sign(app_secret: &str, raw_body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(digest::<Hmac<Sha256>>(app_secret.as_bytes(), &[raw_body]))
    )
}

/// Whether `header` (the `X-Hub-Signature-256` value) signs `raw_body`, compared in
/// constant time.
pub fn verify_signature(app_secret: &str, raw_body: &[u8], header: &str) -> bool {
    let Some(expected) = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
    else {
        return false;
    };
    matches::<Hmac<Sha256>>(app_secret.as_bytes(), &[raw_body], &expected)
}

/// Whether a subscription handshake (`hub.mode`, `hub.verify_token`) is genuine: the mode is
/// `subscribe` and the token equals the configured one (compared in constant time; an empty
/// configured token never matches).
pub fn verify_handshake(mode: &str, verify_token_param: &str, expected_token: &str) -> bool {
    const KEY: &[u8] = b"whatsapp verify token";
    let given = digest::<Hmac<Sha256>>(KEY, &[verify_token_param.as_bytes()]);
    let token_matches = matches::<Hmac<Sha256>>(KEY, &[expected_token.as_bytes()], &given);
    mode == "subscribe" && !expected_token.is_empty() && token_matches
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    value: Option<ChangeValue>,
}

#[derive(Deserialize)]
struct ChangeValue {
    #[serde(default)]
    messages: Vec<RawMessage>,
    #[serde(default)]
    statuses: Vec<RawStatus>,
}

#[derive(Deserialize)]
struct RawMessage {
    from: String,
    id: String,
    timestamp: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    text: Option<RawText>,
    image: Option<RawMedia>,
    document: Option<RawMedia>,
    audio: Option<RawMedia>,
    video: Option<RawMedia>,
    sticker: Option<RawMedia>,
    button: Option<RawText>,
    interactive: Option<RawInteractive>,
}

/// `text.body`, or a quick-reply `button.text`.
#[derive(Deserialize)]
struct RawText {
    body: Option<String>,
    text: Option<String>,
}

#[derive(Deserialize)]
struct RawMedia {
    id: String,
    mime_type: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
}

#[derive(Deserialize)]
struct RawInteractive {
    button_reply: Option<RawReply>,
    list_reply: Option<RawReply>,
}

#[derive(Deserialize)]
struct RawReply {
    title: Option<String>,
}

#[derive(Deserialize)]
struct RawStatus {
    id: String,
    status: String,
    #[serde(default)]
    errors: Vec<RawError>,
}

#[derive(Deserialize)]
struct RawError {
    code: Option<Value>,
    title: Option<String>,
}

/// Reads a webhook delivery. Statuses the hub does not track (such as `deleted`) are left
/// out; messages of types it cannot show are kept with a placeholder text, so that nothing
/// a patient sent goes unnoticed.
pub fn parse_webhook(raw_body: &[u8]) -> Result<WhatsappWebhook, InboundError> {
    let payload: Payload = serde_json::from_slice(raw_body)
        .map_err(|err| InboundError::MalformedJson(err.to_string()))?;
    let mut webhook = WhatsappWebhook::default();
    for value in payload
        .entry
        .into_iter()
        .flat_map(|entry| entry.changes)
        .filter_map(|change| change.value)
    {
        for message in value.messages {
            webhook.messages.push(inbound(message)?);
        }
        webhook
            .statuses
            .extend(value.statuses.into_iter().filter_map(status_report));
    }
    Ok(webhook)
}

fn inbound(raw: RawMessage) -> Result<WhatsappInbound, InboundError> {
    let from =
        PhoneNumber::parse(&format!("+{}", raw.from)).map_err(|_| InboundError::InvalidPhone)?;
    if raw.id.is_empty() {
        return Err(InboundError::MissingField("id"));
    }
    let sent_at = raw
        .timestamp
        .as_deref()
        .and_then(|seconds| seconds.parse::<i64>().ok())
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0));
    let media_object = [raw.image, raw.document, raw.audio, raw.video, raw.sticker]
        .into_iter()
        .flatten()
        .next();
    let body = match (&raw.text, &raw.button, &raw.interactive, &media_object) {
        (Some(text), _, _, _) => text.body.clone(),
        (_, Some(button), _, _) => button.text.clone(),
        (_, _, Some(interactive), _) => interactive
            .button_reply
            .as_ref()
            .or(interactive.list_reply.as_ref())
            .and_then(|reply| reply.title.clone()),
        (_, _, _, Some(media)) => Some(media.caption.clone().unwrap_or_default()),
        _ => Some(format!("[WhatsApp {} message]", raw.kind)),
    }
    .unwrap_or_default();
    let media = media_object
        .map(|media| MediaRef {
            media_id: media.id,
            mime_type: media
                .mime_type
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            filename: media.filename,
        })
        .into_iter()
        .collect();
    Ok(WhatsappInbound {
        message: InboundMessage {
            channel: Channel::Whatsapp,
            provider_message_id: raw.id,
            from: from.as_str().to_owned(),
            subject: None,
            body,
            attachments: Vec::new(),
            sent_at,
            thread_references: Vec::new(),
        },
        media,
    })
}

fn status_report(raw: RawStatus) -> Option<StatusReport> {
    let status = match raw.status.as_str() {
        "sent" => ReportedStatus::Sent,
        "delivered" => ReportedStatus::Delivered,
        "read" => ReportedStatus::Read,
        "failed" => ReportedStatus::Failed,
        other => {
            tracing::debug!(status = other, "whatsapp status not tracked");
            return None;
        }
    };
    let reason = (status == ReportedStatus::Failed).then(|| {
        let first = raw.errors.first();
        let code = first
            .and_then(|error| error.code.as_ref())
            .map_or_else(|| "error".to_owned(), code_text);
        match first.and_then(|error| error.title.as_deref()) {
            Some(title) => format!("whatsapp {code}: {title}"),
            None => format!("whatsapp {code}"),
        }
    });
    Some(StatusReport {
        provider_message_id: raw.id,
        status,
        reason,
    })
}
