//! Builds the MIME message for one outbound e-mail: a UTF-8 text part, and with files a
//! `multipart/mixed` carrying each as an attachment; threading headers from the hub's ids.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use super::threading::hub_message_id;
use crate::provider::{OutboundMessage, SendError};

/// A composed e-mail and its `Message-ID` (without angle brackets).
pub(super) struct Composed {
    pub message: Message,
    pub message_id: String,
}

/// Composes `outbound` from `from`; `domain` is the one of the hub's `Message-ID`s.
pub(super) fn compose(
    outbound: &OutboundMessage,
    from: &Mailbox,
    domain: &str,
) -> Result<Composed, SendError> {
    let to: Mailbox = outbound
        .to
        .parse()
        .map_err(|_| SendError::Rejected("smtp: the recipient address is not valid".to_owned()))?;
    let message_id = hub_message_id(outbound.message_id, outbound.conversation_id, domain);
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(outbound.subject.as_deref().unwrap_or_default())
        .message_id(Some(format!("<{message_id}>")));
    if let Some(previous) = outbound.in_reply_to {
        let reference = format!(
            "<{}>",
            hub_message_id(previous, outbound.conversation_id, domain)
        );
        builder = builder.in_reply_to(reference.clone()).references(reference);
    }
    let text = SinglePart::plain(outbound.body.clone());
    let built = if outbound.attachments.is_empty() {
        builder.singlepart(text)
    } else {
        let mut mixed = MultiPart::mixed().singlepart(text);
        for attachment in &outbound.attachments {
            let content_type = ContentType::parse(&attachment.media_type).map_err(|_| {
                SendError::Rejected("smtp: an attachment has an invalid media type".to_owned())
            })?;
            mixed = mixed.singlepart(
                Attachment::new(attachment.filename.clone())
                    .body(attachment.content.to_vec(), content_type),
            );
        }
        builder.multipart(mixed)
    };
    let message = built.map_err(|err| SendError::Rejected(format!("smtp: {err}")))?;
    Ok(Composed {
        message,
        message_id,
    })
}
