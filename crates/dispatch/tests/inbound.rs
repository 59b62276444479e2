//! Webhook parsing and authentication on real-shaped payloads, and garbage that must be
//! refused without a panic.

use dispatch::inbound::{email, twilio, whatsapp, InboundError, ReportedStatus};
use dispatch::provider::email::parse_hub_message_id;
use domain::{Channel, ConversationId, MessageId};
use proptest::prelude::*;
use uuid::Uuid;

mod whatsapp_webhooks {
    use super::*;
    use dispatch::inbound::whatsapp::MediaRef;

    /// A Cloud API webhook delivery with one change whose value holds `value` (JSON fields).
    fn webhook(value: &str) -> String {
        format!(
            r#"{{
              "object": "whatsapp_business_account",
              "entry": [{{
                "id": "102290129340398",
                "changes": [{{
                  "value": {{
                    "messaging_product": "whatsapp",
                    "metadata": {{ "display_phone_number": "15550783881", "phone_number_id": "106540352242922" }},
                    {value}
                  }},
                  "field": "messages"
                }}]
              }}]
            }}"#
        )
    }

    /// The fields of a change value carrying a text message.
    const TEXT_VALUE: &str = r#"
            "contacts": [{ "profile": { "name": "Sheena Nelson" }, "wa_id": "4915112345678" }],
            "messages": [{
              "from": "4915112345678",
              "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
              "timestamp": "1712595443",
              "type": "text",
              "text": { "body": "Kann ich den Termin verschieben?" }
            }]"#;

    /// The fields of a change value carrying media messages and an unsupported type.
    const MEDIA_VALUE: &str = r#"
            "contacts": [{ "profile": { "name": "Sheena Nelson" }, "wa_id": "4915112345678" }],
            "messages": [
              {
                "from": "4915112345678",
                "id": "wamid.IMAGE",
                "timestamp": "1712595500",
                "type": "image",
                "image": {
                  "caption": "Ausschlag seit gestern",
                  "mime_type": "image/jpeg",
                  "sha256": "5sVRo8Ff8ZfmIzzmwNFbUQ9RLCrwxR5tx+PF0yZlhRg=",
                  "id": "1003383421387256"
                }
              },
              {
                "from": "4915112345678",
                "id": "wamid.DOC",
                "timestamp": "1712595600",
                "type": "document",
                "document": {
                  "filename": "Überweisung.pdf",
                  "mime_type": "application/pdf",
                  "sha256": "abc=",
                  "id": "1037543291543636"
                }
              },
              {
                "from": "4915112345678",
                "id": "wamid.LOCATION",
                "timestamp": "1712595700",
                "type": "location",
                "location": { "latitude": 52.52, "longitude": 13.40 }
              }
            ]"#;

    /// The fields of a change value carrying delivery statuses.
    const STATUSES_VALUE: &str = r#"
            "statuses": [
              {
                "id": "wamid.SENT",
                "status": "sent",
                "timestamp": "1750263773",
                "recipient_id": "4915112345678",
                "conversation": { "id": "6ceb9d929c1e8c7d3a2ce3e5ee0a5e6a", "expiration_timestamp": "1750350180", "origin": { "type": "service" } },
                "pricing": { "billable": true, "pricing_model": "PMP", "category": "service" }
              },
              { "id": "wamid.DELIVERED", "status": "delivered", "timestamp": "1750263774", "recipient_id": "4915112345678" },
              { "id": "wamid.READ", "status": "read", "timestamp": "1750263775", "recipient_id": "4915112345678" },
              {
                "id": "wamid.FAILED",
                "status": "failed",
                "timestamp": "1750263776",
                "recipient_id": "4915112345678",
                "errors": [{
                  "code": 131047,
                  "title": "Re-engagement message",
                  "message": "Re-engagement message",
                  "error_data": { "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number." },
                  "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
                }]
              },
              { "id": "wamid.DELETED", "status": "deleted", "timestamp": "1750263777", "recipient_id": "4915112345678" }
            ]"#;

    #[test]
    fn a_text_message_is_read() {
        let webhook = whatsapp::parse_webhook(webhook(TEXT_VALUE).as_bytes()).unwrap();
        assert!(webhook.statuses.is_empty());
        assert_eq!(webhook.messages.len(), 1);
        let inbound = &webhook.messages[0];
        assert!(inbound.media.is_empty());
        let message = &inbound.message;
        assert_eq!(message.channel, Channel::Whatsapp);
        assert_eq!(
            message.provider_message_id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
        );
        assert_eq!(message.from, "+4915112345678");
        assert_eq!(message.body, "Kann ich den Termin verschieben?");
        assert_eq!(
            message.sent_at.map(|at| at.to_rfc3339()),
            Some("2024-04-08T16:57:23+00:00".to_owned())
        );
    }

    #[test]
    fn media_messages_name_their_files_and_unknown_types_are_kept() {
        let webhook = whatsapp::parse_webhook(webhook(MEDIA_VALUE).as_bytes()).unwrap();
        let [image, document, location] = &webhook.messages[..] else {
            panic!("{webhook:?}");
        };
        assert_eq!(image.message.body, "Ausschlag seit gestern");
        assert_eq!(
            image.media,
            vec![MediaRef {
                media_id: "1003383421387256".to_owned(),
                mime_type: "image/jpeg".to_owned(),
                filename: None,
            }]
        );
        assert_eq!(document.message.body, "");
        assert_eq!(
            document.media,
            vec![MediaRef {
                media_id: "1037543291543636".to_owned(),
                mime_type: "application/pdf".to_owned(),
                filename: Some("Überweisung.pdf".to_owned()),
            }]
        );
        assert_eq!(location.message.provider_message_id, "wamid.LOCATION");
        assert_eq!(location.message.body, "[WhatsApp location message]");
        assert!(location.media.is_empty());
    }

    #[test]
    fn statuses_are_read_with_failure_reasons() {
        let webhook = whatsapp::parse_webhook(webhook(STATUSES_VALUE).as_bytes()).unwrap();
        assert!(webhook.messages.is_empty());
        let reports: Vec<(&str, ReportedStatus, Option<&str>)> = webhook
            .statuses
            .iter()
            .map(|r| {
                (
                    r.provider_message_id.as_str(),
                    r.status,
                    r.reason.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            reports,
            vec![
                ("wamid.SENT", ReportedStatus::Sent, None),
                ("wamid.DELIVERED", ReportedStatus::Delivered, None),
                ("wamid.READ", ReportedStatus::Read, None),
                (
                    "wamid.FAILED",
                    ReportedStatus::Failed,
                    Some("whatsapp 131047: Re-engagement message")
                ),
            ]
        );
    }

    #[test]
    fn malformed_payloads_are_errors() {
        assert!(matches!(
            whatsapp::parse_webhook(b"{not json"),
            Err(InboundError::MalformedJson(_))
        ));
        assert!(matches!(
            whatsapp::parse_webhook(
                br#"{"entry":[{"changes":[{"value":{"messages":[{"id":"x"}]}}]}]}"#
            ),
            Err(InboundError::MalformedJson(_))
        ));
        let bad_sender =
            webhook(TEXT_VALUE).replace("\"from\": \"4915112345678\"", "\"from\": \"49-151\"");
        assert_eq!(
            whatsapp::parse_webhook(bad_sender.as_bytes()),
            Err(InboundError::InvalidPhone)
        );
        let nothing = whatsapp::parse_webhook(br#"{"object":"page","entry":[]}"#).unwrap();
        assert!(nothing.messages.is_empty() && nothing.statuses.is_empty());
    }

    #[test]
    fn signatures_are_checked_against_the_raw_body() {
        let payload = webhook(TEXT_VALUE);
        let body = payload.as_bytes();
        let header = whatsapp::sign("app-secret", body);
        assert!(header.starts_with("sha256="));
        assert_eq!(header.len(), "sha256=".len() + 64);
        assert_eq!(header, header.to_lowercase());
        assert!(whatsapp::verify_signature("app-secret", body, &header));
        assert!(!whatsapp::verify_signature("other-secret", body, &header));
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert!(!whatsapp::verify_signature(
            "app-secret",
            &tampered,
            &header
        ));
        for forged in ["", "sha256=", "sha256=zz", &header[7..], "sha1=abcd"] {
            assert!(
                !whatsapp::verify_signature("app-secret", body, forged),
                "{forged}"
            );
        }
    }

    #[test]
    fn a_known_hmac_sha256_vector_signs_as_expected() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            whatsapp::sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_handshake_needs_subscribe_and_the_configured_token() {
        assert!(whatsapp::verify_handshake("subscribe", "tok3n", "tok3n"));
        assert!(!whatsapp::verify_handshake("subscribe", "tok3n!", "tok3n"));
        assert!(!whatsapp::verify_handshake("unsubscribe", "tok3n", "tok3n"));
        assert!(!whatsapp::verify_handshake("subscribe", "", ""));
    }
}

mod email_messages {
    use super::*;

    fn multipart_reply() -> Vec<u8> {
        let pdf = "JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDw+PgplbmRvYmoKJSVFT0YK";
        format!(
            "Return-Path: <anna@example.net>\r\n\
             From: =?UTF-8?Q?Anna_M=C3=BCller?= <Anna.Mueller@Example.NET>\r\n\
             To: Clinic <clinic@example.org>\r\n\
             Subject: =?UTF-8?Q?Re:_Ihr_Befund_f=C3=BCr_M=C3=A4rz?=\r\n\
             Date: Tue, 09 Apr 2024 10:15:00 +0200\r\n\
             Message-ID: <CAF=reply-1@mail.example.net>\r\n\
             In-Reply-To: <00000000-0000-0000-0000-000000000011.00000000-0000-0000-0000-000000000022@example.org>\r\n\
             References: <first@example.org>\r\n \
             <00000000-0000-0000-0000-000000000011.00000000-0000-0000-0000-000000000022@example.org>\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
             \r\n\
             --outer\r\n\
             Content-Type: multipart/alternative; boundary=\"inner\"\r\n\
             \r\n\
             --inner\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: quoted-printable\r\n\
             \r\n\
             Danke, hier die =C3=9Cberweisung.\r\n\
             Anna\r\n\
             --inner\r\n\
             Content-Type: text/html; charset=utf-8\r\n\
             \r\n\
             <p>Danke, hier die &Uuml;berweisung.</p>\r\n\
             --inner--\r\n\
             --outer\r\n\
             Content-Type: application/pdf; name=\"ueberweisung.pdf\"\r\n\
             Content-Disposition: attachment; filename=\"ueberweisung.pdf\"\r\n\
             Content-Transfer-Encoding: base64\r\n\
             \r\n\
             {pdf}\r\n\
             --outer--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn a_multipart_reply_is_read_with_attachment_and_thread() {
        let message = email::parse(&multipart_reply()).unwrap();
        assert_eq!(message.channel, Channel::Email);
        assert_eq!(message.from, "anna.mueller@example.net");
        assert_eq!(message.provider_message_id, "CAF=reply-1@mail.example.net");
        assert_eq!(message.subject.as_deref(), Some("Re: Ihr Befund für März"));
        assert_eq!(message.body, "Danke, hier die Überweisung.\nAnna");
        assert_eq!(
            message.sent_at.map(|at| at.to_rfc3339()),
            Some("2024-04-09T08:15:00+00:00".to_owned())
        );
        let hub_id =
            "00000000-0000-0000-0000-000000000011.00000000-0000-0000-0000-000000000022@example.org";
        assert_eq!(
            message.thread_references,
            vec![hub_id.to_owned(), "first@example.org".to_owned()]
        );
        assert_eq!(
            parse_hub_message_id(&message.thread_references[0]),
            Some((
                MessageId(Uuid::from_u128(0x11)),
                ConversationId(Uuid::from_u128(0x22))
            ))
        );
        assert_eq!(message.attachments.len(), 1);
        let attachment = &message.attachments[0];
        assert_eq!(attachment.filename, "ueberweisung.pdf");
        assert_eq!(attachment.media_type, "application/pdf");
        assert_eq!(
            &attachment.content[..],
            "%PDF-1.4\n%äüöß\n1 0 obj\n<<>>\nendobj\n%%EOF\n".as_bytes()
        );
    }

    #[test]
    fn html_only_mail_without_message_id_is_read() {
        let raw = b"From: patient@example.net\r\n\
                    Subject: Frage\r\n\
                    Content-Type: text/html; charset=utf-8\r\n\
                    \r\n\
                    <html><body><p>Hallo <b>Praxis</b></p></body></html>\r\n";
        let message = email::parse(raw).unwrap();
        assert_eq!(message.body.trim(), "Hallo Praxis");
        assert!(message.attachments.is_empty());
        assert!(message.thread_references.is_empty());
        assert_eq!(message.sent_at, None);
        let expected = format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(raw))
        );
        assert_eq!(message.provider_message_id, expected);
    }

    #[test]
    fn a_mail_without_a_valid_sender_is_refused() {
        assert_eq!(
            email::parse(b"Subject: hi\r\n\r\nbody\r\n"),
            Err(InboundError::MissingField("From"))
        );
        assert_eq!(
            email::parse(b"From: not an address\r\nSubject: hi\r\n\r\nbody\r\n"),
            Err(InboundError::MissingField("From"))
        );
        assert_eq!(
            email::parse(b"From: a@b\r\n\r\nbody\r\n"),
            Err(InboundError::InvalidEmail)
        );
        assert!(email::parse(b"").is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn email_parsing_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = email::parse(&raw);
    }

    #[test]
    fn email_parsing_of_mangled_mail_never_panics(cut in 0usize..2048, flip in any::<u8>()) {
        let mut raw = email_messages_raw();
        let at = cut % raw.len();
        raw[at] ^= flip;
        raw.truncate(cut.max(at + 1));
        let _ = email::parse(&raw);
    }

    #[test]
    fn whatsapp_parsing_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = whatsapp::parse_webhook(&raw);
        prop_assert!(!whatsapp::verify_signature("secret", &raw, &String::from_utf8_lossy(&raw)));
    }

    #[test]
    fn whatsapp_parsing_of_arbitrary_json_never_panics(
        from in "\\PC{0,20}", id in "\\PC{0,20}", kind in "[a-z]{0,10}", status in "[a-z]{0,10}",
        timestamp in "\\PC{0,20}", code in any::<i64>(),
    ) {
        let body = serde_json::json!({"entry": [{"changes": [{"value": {
            "messages": [{"from": from, "id": id, "type": kind, "timestamp": timestamp,
                          "image": {"id": id}}],
            "statuses": [{"id": id, "status": status, "errors": [{"code": code}]}],
        }}]}]});
        let _ = whatsapp::parse_webhook(body.to_string().as_bytes());
    }

    #[test]
    fn twilio_parsing_never_panics(
        pairs in proptest::collection::vec(("(From|Body|MessageSid|MessageStatus|ErrorCode|ErrorMessage|\\PC{0,8})", "\\PC{0,24}"), 0..8),
        header in "\\PC{0,40}",
    ) {
        let params = pairs;
        let _ = twilio::parse_inbound_sms(&params);
        let _ = twilio::parse_status(&params);
        let signature = twilio::sign("token", "https://hub.example.org/v1/webhooks/twilio/sms", &params);
        prop_assert!(twilio::verify_signature("token", "https://hub.example.org/v1/webhooks/twilio/sms", &params, &signature));
        prop_assert_eq!(
            twilio::verify_signature("token", "https://hub.example.org/v1/webhooks/twilio/sms", &params, &header),
            header.trim() == signature
        );
    }
}

/// A well-formed message for mangling.
fn email_messages_raw() -> Vec<u8> {
    b"From: Anna <anna@example.net>\r\nTo: clinic@example.org\r\nSubject: Hi\r\n\
      Message-ID: <a@b.c>\r\nIn-Reply-To: <x@y.z>\r\nDate: Tue, 09 Apr 2024 10:15:00 +0200\r\n\
      Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
      hello\r\n--b\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n\
      Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
        .to_vec()
}
