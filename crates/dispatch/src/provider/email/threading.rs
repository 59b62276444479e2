//! The hub's own e-mail `Message-ID`s: `<{message_id}.{conversation_id}@{domain}>`, so that
//! a patient's reply (whose `In-Reply-To` / `References` name one) can be filed into its
//! conversation.

use domain::{ConversationId, MessageId};

/// The `Message-ID` of a hub message, without angle brackets:
/// `{message_id}.{conversation_id}@{domain}`.
pub fn hub_message_id(message: MessageId, conversation: ConversationId, domain: &str) -> String {
    format!("{message}.{conversation}@{domain}")
}

/// Reads the hub's message and conversation ids back out of a `Message-ID` written by
/// [`hub_message_id`], with or without angle brackets and whatever the domain; `None` for
/// any other id.
pub fn parse_hub_message_id(raw: &str) -> Option<(MessageId, ConversationId)> {
    let trimmed = raw.trim();
    let id = trimmed
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .unwrap_or(trimmed);
    let (local, domain) = id.split_once('@')?;
    if domain.is_empty() {
        return None;
    }
    let (message, conversation) = local.split_once('.')?;
    Some((message.parse().ok()?, conversation.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn hub_ids_round_trip_with_or_without_brackets() {
        let message = MessageId(Uuid::from_u128(1));
        let conversation = ConversationId(Uuid::from_u128(2));
        let id = hub_message_id(message, conversation, "clinic.example.org");
        assert_eq!(parse_hub_message_id(&id), Some((message, conversation)));
        assert_eq!(
            parse_hub_message_id(&format!(" <{id}> ")),
            Some((message, conversation))
        );
        let other_domain = id.replace("clinic.example.org", "mx.other.net");
        assert_eq!(
            parse_hub_message_id(&other_domain),
            Some((message, conversation))
        );
    }

    #[test]
    fn foreign_ids_are_not_hub_ids() {
        for raw in [
            "",
            "<>",
            "CAF=abc@mail.gmail.com",
            "not-a-uuid.also-not@x.org",
            "00000000-0000-0000-0000-000000000001.00000000-0000-0000-0000-000000000002@",
            "00000000-0000-0000-0000-000000000001@x.org",
        ] {
            assert_eq!(parse_hub_message_id(raw), None, "{raw}");
        }
    }
}
