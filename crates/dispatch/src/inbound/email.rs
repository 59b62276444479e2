//! Inbound e-mail: one raw RFC 5322 message, as the inbound e-mail webhook receives it.

use bytes::Bytes;
use chrono::DateTime;
use domain::contact::EmailAddress;
use domain::Channel;
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

use super::{InboundAttachment, InboundError, InboundMessage};

/// Reads a raw e-mail: the sender (lower case), subject, plain-text body (HTML converted to
/// text when there is no plain part; line ends as `\n`), attachments, `Message-ID` (or
/// `sha256:` and the hex digest of the raw bytes when it has none), thread references and
/// date.
pub fn parse(raw: &[u8]) -> Result<InboundMessage, InboundError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(InboundError::NotAMessage)?;
    let sender = message
        .from()
        .and_then(|from| from.first())
        .and_then(|addr| addr.address())
        .ok_or(InboundError::MissingField("From"))?
        .to_lowercase();
    let from = EmailAddress::parse(&sender).map_err(|_| InboundError::InvalidEmail)?;
    let provider_message_id = match message.message_id() {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => format!("sha256:{}", hex::encode(Sha256::digest(raw))),
    };
    let attachments = message
        .attachments()
        .enumerate()
        .map(|(index, part)| InboundAttachment {
            filename: part
                .attachment_name()
                .filter(|name| !name.is_empty())
                .map_or_else(|| format!("attachment-{}", index + 1), str::to_owned),
            media_type: part.content_type().map_or_else(
                || "application/octet-stream".to_owned(),
                |ct| match ct.subtype() {
                    Some(subtype) => format!("{}/{subtype}", ct.ctype()).to_lowercase(),
                    None => ct.ctype().to_lowercase(),
                },
            ),
            content: Bytes::copy_from_slice(part.contents()),
        })
        .collect();
    let sent_at = message
        .date()
        .filter(|date| date.is_valid())
        .and_then(|date| DateTime::from_timestamp(date.to_timestamp(), 0));
    let mut thread_references: Vec<String> = Vec::new();
    for id in message_ids(message.in_reply_to()).chain(message_ids(message.references())) {
        if !id.is_empty() && !thread_references.iter().any(|known| known == id) {
            thread_references.push(id.to_owned());
        }
    }
    Ok(InboundMessage {
        channel: Channel::Email,
        provider_message_id,
        from: from.as_str().to_owned(),
        subject: message.subject().map(str::to_owned),
        body: message
            .body_text(0)
            .map(|body| body.replace("\r\n", "\n"))
            .unwrap_or_default(),
        attachments,
        sent_at,
        thread_references,
    })
}

/// The message ids in an `In-Reply-To` or `References` header, as mail-parser reads them
/// (without angle brackets).
fn message_ids<'a>(value: &'a HeaderValue<'_>) -> Box<dyn Iterator<Item = &'a str> + 'a> {
    match value {
        HeaderValue::Text(id) => Box::new(std::iter::once(id.as_ref())),
        HeaderValue::TextList(ids) => Box::new(ids.iter().map(AsRef::as_ref)),
        _ => Box::new(std::iter::empty()),
    }
}
