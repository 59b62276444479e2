//! Twilio webhooks: the `X-Twilio-Signature` check, inbound SMS and delivery status
//! callbacks, all form-encoded.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use domain::contact::PhoneNumber;
use domain::Channel;
use hmac::Hmac;
use sha1::Sha1;

use super::form::{field, optional, required};
use super::signature::{digest, matches};
use super::{InboundError, InboundMessage, ReportedStatus, StatusReport};

/// The string Twilio signs: the full URL, then each POST parameter sorted by key (and
/// value), key and value concatenated without separators.
fn signed_data(url: &str, params: &[(String, String)]) -> Vec<u8> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = url.as_bytes().to_vec();
    for (key, value) in sorted {
        data.extend_from_slice(key.as_bytes());
        data.extend_from_slice(value.as_bytes());
    }
    data
}

/// Twilio's signature of a request to `url` carrying `params`: base64 of the HMAC-SHA1 of
/// the signed string, keyed with the auth token.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(digest::<Hmac<Sha1>>(
        auth_token.as_bytes(),
        &[&signed_data(url, params)],
    ))
}

/// Whether `signature_header` (the `X-Twilio-Signature` value) signs this request, compared
/// in constant time.
pub fn verify_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature_header: &str,
) -> bool {
    let Ok(expected) = STANDARD.decode(signature_header.trim()) else {
        return false;
    };
    matches::<Hmac<Sha1>>(
        auth_token.as_bytes(),
        &[&signed_data(url, params)],
        &expected,
    )
}

/// Reads an inbound SMS webhook (`From`, `Body`, `MessageSid`).
pub fn parse_inbound_sms(params: &[(String, String)]) -> Result<InboundMessage, InboundError> {
    let provider_message_id = required(params, "MessageSid")?.to_owned();
    let from =
        PhoneNumber::parse(required(params, "From")?).map_err(|_| InboundError::InvalidPhone)?;
    let body = field(params, "Body")?.to_owned();
    Ok(InboundMessage {
        channel: Channel::Sms,
        provider_message_id,
        from: from.as_str().to_owned(),
        subject: None,
        body,
        attachments: Vec::new(),
        sent_at: None,
        thread_references: Vec::new(),
    })
}

/// Reads a delivery status callback (`MessageSid`, `MessageStatus`, `ErrorCode`,
/// `ErrorMessage`).
pub fn parse_status(params: &[(String, String)]) -> Result<StatusReport, InboundError> {
    let provider_message_id = required(params, "MessageSid")?.to_owned();
    let raw_status = required(params, "MessageStatus")?;
    let status = match raw_status {
        "queued" | "accepted" | "scheduled" | "sending" | "sent" => ReportedStatus::Sent,
        "delivered" => ReportedStatus::Delivered,
        "read" => ReportedStatus::Read,
        "undelivered" | "failed" | "canceled" => ReportedStatus::Failed,
        other => return Err(InboundError::UnknownStatus(other.to_owned())),
    };
    let reason = (status == ReportedStatus::Failed).then(|| failure_reason(raw_status, params));
    Ok(StatusReport {
        provider_message_id,
        status,
        reason,
    })
}

/// `twilio <ErrorCode>` plus the `ErrorMessage` when Twilio gives one; the status itself
/// when there is no code.
fn failure_reason(status: &str, params: &[(String, String)]) -> String {
    let mut reason = match optional(params, "ErrorCode") {
        Some(code) => format!("twilio {code}"),
        None => format!("twilio {status}"),
    };
    if let Some(message) = optional(params, "ErrorMessage") {
        reason.push_str(": ");
        reason.push_str(message);
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn twilio_documented_signature_example_verifies() {
        // Twilio's "Validating requests" example: auth token 12345, a <Gather> POST.
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let posted = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(sign("12345", url, &posted), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(verify_signature(
            "12345",
            url,
            &posted,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn parameter_order_does_not_matter_but_content_does() {
        let url = "https://hub.example.org/v1/webhooks/twilio/sms";
        let forward = params(&[("Body", "hi"), ("From", "+4915112345678")]);
        let backward = params(&[("From", "+4915112345678"), ("Body", "hi")]);
        let signature = sign("token", url, &forward);
        assert!(verify_signature("token", url, &backward, &signature));
        let tampered = params(&[("Body", "hi!"), ("From", "+4915112345678")]);
        assert!(!verify_signature("token", url, &tampered, &signature));
        assert!(!verify_signature("other", url, &forward, &signature));
        assert!(!verify_signature("token", url, &forward, "not base64 ~~"));
        assert!(!verify_signature("token", url, &forward, ""));
    }

    #[test]
    fn inbound_sms_is_read_and_its_sender_checked() {
        let message = parse_inbound_sms(&params(&[
            ("MessageSid", "SM123"),
            ("From", "+4915112345678"),
            ("To", "+15005550006"),
            ("Body", "STOP"),
        ]))
        .unwrap();
        assert_eq!(message.channel, Channel::Sms);
        assert_eq!(message.provider_message_id, "SM123");
        assert_eq!(message.from, "+4915112345678");
        assert_eq!(message.body, "STOP");

        let bad_sender = params(&[("MessageSid", "SM1"), ("From", "12345"), ("Body", "x")]);
        assert_eq!(
            parse_inbound_sms(&bad_sender),
            Err(InboundError::InvalidPhone)
        );
        let no_sid = params(&[("From", "+4915112345678"), ("Body", "x")]);
        assert_eq!(
            parse_inbound_sms(&no_sid),
            Err(InboundError::MissingField("MessageSid"))
        );
    }

    #[test]
    fn statuses_map_onto_the_hub_states() {
        let report = |status: &str| {
            parse_status(&params(&[("MessageSid", "SM1"), ("MessageStatus", status)]))
        };
        for (raw, expected) in [
            ("queued", ReportedStatus::Sent),
            ("accepted", ReportedStatus::Sent),
            ("sending", ReportedStatus::Sent),
            ("sent", ReportedStatus::Sent),
            ("delivered", ReportedStatus::Delivered),
            ("read", ReportedStatus::Read),
            ("canceled", ReportedStatus::Failed),
        ] {
            assert_eq!(report(raw).unwrap().status, expected, "{raw}");
        }
        assert_eq!(
            report("teleported"),
            Err(InboundError::UnknownStatus("teleported".to_owned()))
        );
        assert_eq!(report("sent").unwrap().reason, None);
        assert_eq!(
            report("canceled").unwrap().reason.as_deref(),
            Some("twilio canceled")
        );
    }

    #[test]
    fn failures_carry_twilio_code_and_message() {
        let report = parse_status(&params(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
            ("ErrorMessage", "Unreachable destination handset"),
        ]))
        .unwrap();
        assert_eq!(report.status, ReportedStatus::Failed);
        assert_eq!(
            report.reason.as_deref(),
            Some("twilio 30003: Unreachable destination handset")
        );
        let without_message = parse_status(&params(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "failed"),
            ("ErrorCode", "30007"),
        ]))
        .unwrap();
        assert_eq!(without_message.reason.as_deref(), Some("twilio 30007"));
    }
}
