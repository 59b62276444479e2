//! The provider adapters against local servers that speak each provider's documented wire
//! protocol: fake Twilio and Graph HTTP APIs (axum) and real SMTP servers.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use dispatch::provider::{Accepted, OutboundAttachment, OutboundMessage, Provider, SendError};
use domain::{Channel, ConversationId, MessageId};
use uuid::Uuid;

/// A request as the fake HTTP server received it.
#[derive(Debug, Clone)]
struct Captured {
    method: String,
    /// Path and query.
    uri: String,
    headers: axum::http::HeaderMap,
    body: Bytes,
}

impl Captured {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }
}

type Responder = dyn Fn(&Captured, usize) -> (u16, String) + Send + Sync;

/// A local HTTP server that records every request and answers with `respond(request, n)`,
/// `n` counting requests from 0.
struct FakeHttp {
    base: String,
    requests: Arc<Mutex<Vec<Captured>>>,
}

impl FakeHttp {
    async fn start(
        respond: impl Fn(&Captured, usize) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        let requests: Arc<Mutex<Vec<Captured>>> = Arc::default();
        let respond: Arc<Responder> = Arc::new(respond);
        let recorded = requests.clone();
        let app = axum::Router::new().fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap,
                  body: Bytes| {
                let recorded = recorded.clone();
                let respond = respond.clone();
                async move {
                    let captured = Captured {
                        method: method.to_string(),
                        uri: uri.to_string(),
                        headers,
                        body,
                    };
                    let (status, body) = {
                        let mut all = recorded.lock().unwrap();
                        let answer = respond(&captured, all.len());
                        all.push(captured);
                        answer
                    };
                    axum::response::Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(body))
                        .unwrap()
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, requests }
    }

    fn requests(&self) -> Vec<Captured> {
        self.requests.lock().unwrap().clone()
    }
}

/// An address on which nothing listens: bound, then released.
fn refused_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    address
}

/// A server that reads the request and hangs up without answering.
async fn hang_up_server() -> String {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = vec![0u8; 65536];
            let _ = socket.read(&mut buffer).await;
        }
    });
    address
}

fn message(channel: Channel, to: &str, body: &str) -> OutboundMessage {
    OutboundMessage {
        message_id: MessageId(Uuid::from_u128(0x11)),
        conversation_id: ConversationId(Uuid::from_u128(0x22)),
        channel,
        to: to.to_owned(),
        subject: None,
        body: body.to_owned(),
        attachments: Vec::new(),
        in_reply_to: None,
        whatsapp_template: None,
    }
}

fn pdf() -> OutboundAttachment {
    OutboundAttachment {
        filename: "results.pdf".to_owned(),
        media_type: "application/pdf".to_owned(),
        content: Bytes::from_static(b"%PDF-1.4\n\x00\x01\x02\xff binary \r\n.\r\n tail\n%%EOF\n"),
    }
}

fn png() -> OutboundAttachment {
    OutboundAttachment {
        filename: "rash.png".to_owned(),
        media_type: "image/png".to_owned(),
        content: Bytes::from_static(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
    }
}

mod twilio {
    use base64::Engine;
    use dispatch::provider::twilio::{TwilioConfig, TwilioSms};

    use super::*;

    const CREATED: &str = r#"{"account_sid":"AC123","api_version":"2010-04-01","body":"x","date_created":"Thu, 24 Aug 2023 05:01:45 +0000","direction":"outbound-api","from":"+15005550006","num_segments":"1","sid":"SM1f0e8ae6ade43cb3c0ce4525424e404f","status":"queued","to":"+4915112345678","uri":"/2010-04-01/Accounts/AC123/Messages/SM1f0e8ae6ade43cb3c0ce4525424e404f.json"}"#;

    fn sms(base: &str, status_callback: Option<&str>) -> TwilioSms {
        TwilioSms::new(TwilioConfig {
            api_base: base.to_owned(),
            account_sid: "AC123".to_owned(),
            auth_token: "s3cret".to_owned(),
            from: "+15005550006".to_owned(),
            status_callback: status_callback.map(str::to_owned),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn sends_the_documented_form_with_basic_auth() {
        let server = FakeHttp::start(|_, _| (201, CREATED.to_owned())).await;
        let provider = sms(
            &server.base,
            Some("https://hub.example.org/v1/webhooks/twilio/status"),
        );
        let text = "Grüße & 1+1=2 ✓";
        let accepted = provider
            .send(&message(Channel::Sms, "+4915112345678", text))
            .await
            .unwrap();
        assert_eq!(
            accepted,
            Accepted {
                provider_message_ids: vec!["SM1f0e8ae6ade43cb3c0ce4525424e404f".to_owned()]
            }
        );
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!(request.method, "POST");
        assert_eq!(request.uri, "/2010-04-01/Accounts/AC123/Messages.json");
        let credentials = base64::engine::general_purpose::STANDARD.encode("AC123:s3cret");
        assert_eq!(
            request.header("authorization"),
            format!("Basic {credentials}")
        );
        assert_eq!(
            request.header("content-type"),
            "application/x-www-form-urlencoded"
        );
        assert_eq!(
            std::str::from_utf8(&request.body).unwrap(),
            "To=%2B4915112345678&From=%2B15005550006\
             &Body=Gr%C3%BC%C3%9Fe+%26+1%2B1%3D2+%E2%9C%93\
             &StatusCallback=https%3A%2F%2Fhub.example.org%2Fv1%2Fwebhooks%2Ftwilio%2Fstatus"
        );
        let decoded: Vec<(String, String)> = serde_urlencoded::from_bytes(&request.body).unwrap();
        assert_eq!(decoded[2], ("Body".to_owned(), text.to_owned()));
    }

    #[tokio::test]
    async fn omits_the_status_callback_when_none_is_configured() {
        let server = FakeHttp::start(|_, _| (201, CREATED.to_owned())).await;
        sms(&format!("{}/", server.base), None)
            .send(&message(Channel::Sms, "+4915112345678", "hi"))
            .await
            .unwrap();
        let request = &server.requests()[0];
        assert_eq!(request.uri, "/2010-04-01/Accounts/AC123/Messages.json");
        assert_eq!(
            &request.body[..],
            b"To=%2B4915112345678&From=%2B15005550006&Body=hi"
        );
    }

    #[tokio::test]
    async fn a_400_is_a_rejection_with_twilio_code_and_message() {
        let server = FakeHttp::start(|_, _| {
            (
                400,
                r#"{"code": 21211, "message": "The 'To' number 4915 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#
                    .to_owned(),
            )
        })
        .await;
        let err = sms(&server.base, None)
            .send(&message(Channel::Sms, "+4915112345678", "hi"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            SendError::Rejected(
                "twilio 21211: The 'To' number 4915 is not a valid phone number.".to_owned()
            )
        );
    }

    #[tokio::test]
    async fn a_401_without_a_json_body_is_a_rejection() {
        let server = FakeHttp::start(|_, _| (401, "Unauthorized".to_owned())).await;
        let err = sms(&server.base, None)
            .send(&message(Channel::Sms, "+4915112345678", "hi"))
            .await
            .unwrap_err();
        assert_eq!(err, SendError::Rejected("twilio HTTP 401".to_owned()));
    }

    #[tokio::test]
    async fn throttling_and_server_errors_are_transient() {
        let server = FakeHttp::start(|_, n| match n {
            0 => (
                429,
                r#"{"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}"#
                    .to_owned(),
            ),
            _ => (503, String::new()),
        })
        .await;
        let provider = sms(&server.base, None);
        let sms_message = message(Channel::Sms, "+4915112345678", "hi");
        assert_eq!(
            provider.send(&sms_message).await.unwrap_err(),
            SendError::Transient("twilio 20429: Too Many Requests".to_owned())
        );
        assert_eq!(
            provider.send(&sms_message).await.unwrap_err(),
            SendError::Transient("twilio HTTP 503".to_owned())
        );
    }

    #[tokio::test]
    async fn connection_refused_is_transient() {
        let err = sms(&format!("http://{}", refused_address()), None)
            .send(&message(Channel::Sms, "+4915112345678", "hi"))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Transient(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_hang_up_after_the_request_leaves_the_outcome_unknown() {
        let err = sms(&format!("http://{}", hang_up_server().await), None)
            .send(&message(Channel::Sms, "+4915112345678", "hi"))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::OutcomeUnknown(_)), "{err:?}");
    }

    #[tokio::test]
    async fn an_unreadable_success_leaves_the_outcome_unknown() {
        let server = FakeHttp::start(|_, _| (201, "<html>".to_owned())).await;
        let err = sms(&server.base, None)
            .send(&message(Channel::Sms, "+4915112345678", "hi"))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::OutcomeUnknown(_)), "{err:?}");
    }

    #[tokio::test]
    async fn attachments_are_refused_without_a_request() {
        let server = FakeHttp::start(|_, _| (201, CREATED.to_owned())).await;
        let mut with_file = message(Channel::Sms, "+4915112345678", "hi");
        with_file.attachments.push(pdf());
        let err = sms(&server.base, None).send(&with_file).await.unwrap_err();
        assert!(matches!(err, SendError::Rejected(_)), "{err:?}");
        assert!(server.requests().is_empty());
    }
}

mod whatsapp {
    use dispatch::provider::whatsapp::{WhatsappCloud, WhatsappConfig};
    use serde_json::{json, Value};

    use super::*;

    fn cloud(base: &str) -> WhatsappCloud {
        WhatsappCloud::new(WhatsappConfig {
            api_base: format!("{base}/v21.0"),
            phone_number_id: "106540352242922".to_owned(),
            token: "EAAtoken".to_owned(),
        })
        .unwrap()
    }

    fn sent(wamid: &str) -> String {
        json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": "4915112345678", "wa_id": "4915112345678" }],
            "messages": [{ "id": wamid }],
        })
        .to_string()
    }

    fn graph_error(code: u32, message: &str) -> String {
        json!({
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "error_subcode": 2494010,
                "fbtrace_id": "AazJzz2tdxn8cFYCDOhR8Tn",
            }
        })
        .to_string()
    }

    fn json_body(request: &Captured) -> Value {
        assert_eq!(request.header("content-type"), "application/json");
        serde_json::from_slice(&request.body).unwrap()
    }

    /// The parts of a `multipart/form-data` body: each part's header block and content.
    fn multipart_parts(request: &Captured) -> Vec<(String, Vec<u8>)> {
        let content_type = request.header("content-type");
        let boundary = content_type
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap_or_else(|| panic!("not multipart: {content_type}"));
        let delimiter = format!("--{boundary}");
        let body = &request.body[..];
        let mut parts = Vec::new();
        let mut rest = body;
        while let Some(start) = find(rest, delimiter.as_bytes()) {
            rest = &rest[start + delimiter.len()..];
            if rest.starts_with(b"--") {
                break;
            }
            let end = find(rest, delimiter.as_bytes()).unwrap();
            let part = &rest[2..end - 2]; // between the CRLFs around the part
            let split = find(part, b"\r\n\r\n").unwrap();
            parts.push((
                String::from_utf8(part[..split].to_vec()).unwrap(),
                part[split + 4..].to_vec(),
            ));
        }
        parts
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
    }

    #[tokio::test]
    async fn sends_a_text_message_with_the_bearer_token() {
        let server =
            FakeHttp::start(|_, _| (200, sent("wamid.HBgLNDkxNTExMjM0NTY3OBUCABIYFDNB"))).await;
        let accepted = cloud(&server.base)
            .send(&message(
                Channel::Whatsapp,
                "+4915112345678",
                "Ihr Termin: 9:30 ✓",
            ))
            .await
            .unwrap();
        assert_eq!(
            accepted.provider_message_ids,
            vec!["wamid.HBgLNDkxNTExMjM0NTY3OBUCABIYFDNB".to_owned()]
        );
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].method, "POST");
        assert_eq!(requests[0].uri, "/v21.0/106540352242922/messages");
        assert_eq!(requests[0].header("authorization"), "Bearer EAAtoken");
        assert_eq!(
            json_body(&requests[0]),
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "4915112345678",
                "type": "text",
                "text": { "preview_url": false, "body": "Ihr Termin: 9:30 ✓" },
            })
        );
    }

    #[tokio::test]
    async fn outside_the_window_sends_the_approved_template_message_byte_for_byte() {
        let server = FakeHttp::start(|_, _| (200, sent("wamid.TEMPLATE1"))).await;
        let mut outbound = message(
            Channel::Whatsapp,
            "+4915112345678",
            "Dear Pat, see you on 2 June at 09:30.",
        );
        outbound.whatsapp_template = Some(domain::template::WhatsappTemplateMessage {
            name: "appointment_reminder".to_owned(),
            language: "en_US".to_owned(),
            parameters: vec![
                "09:30".to_owned(),
                "Pat \"Ö\"".to_owned(),
                "2 June".to_owned(),
            ],
        });
        let accepted = cloud(&server.base).send(&outbound).await.unwrap();
        assert_eq!(
            accepted.provider_message_ids,
            vec!["wamid.TEMPLATE1".to_owned()]
        );
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].uri, "/v21.0/106540352242922/messages");
        assert_eq!(requests[0].header("authorization"), "Bearer EAAtoken");
        assert_eq!(requests[0].header("content-type"), "application/json");
        // The parameters in the declared order, as text; the rendered body is not sent.
        assert_eq!(
            String::from_utf8(requests[0].body.to_vec()).unwrap(),
            concat!(
                r#"{"messaging_product":"whatsapp","#,
                r#""template":{"components":[{"parameters":["#,
                r#"{"text":"09:30","type":"text"},"#,
                r#"{"text":"Pat \"Ö\"","type":"text"},"#,
                r#"{"text":"2 June","type":"text"}],"type":"body"}],"#,
                r#""language":{"code":"en_US"},"name":"appointment_reminder"},"#,
                r#""to":"4915112345678","type":"template"}"#
            )
        );
    }

    #[tokio::test]
    async fn uploads_files_then_sends_text_and_one_message_per_file() {
        let server = FakeHttp::start(|request, n| {
            if request.uri.ends_with("/media") {
                (200, json!({ "id": format!("MEDIA{n}") }).to_string())
            } else {
                (200, sent(&format!("wamid.{n}")))
            }
        })
        .await;
        let mut outbound = message(Channel::Whatsapp, "+4915112345678", "Ihre Befunde");
        outbound.attachments = vec![pdf(), png()];
        let accepted = cloud(&server.base).send(&outbound).await.unwrap();
        assert_eq!(
            accepted.provider_message_ids,
            vec!["wamid.2", "wamid.3", "wamid.4"]
        );

        let requests = server.requests();
        let uris: Vec<&str> = requests.iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(
            uris,
            [
                "/v21.0/106540352242922/media",
                "/v21.0/106540352242922/media",
                "/v21.0/106540352242922/messages",
                "/v21.0/106540352242922/messages",
                "/v21.0/106540352242922/messages",
            ]
        );
        assert!(requests
            .iter()
            .all(|r| r.header("authorization") == "Bearer EAAtoken"));

        for (request, file) in requests[..2].iter().zip([pdf(), png()]) {
            let parts = multipart_parts(request);
            assert_eq!(parts.len(), 3, "{parts:?}");
            assert_eq!(
                parts[0].0,
                "Content-Disposition: form-data; name=\"messaging_product\""
            );
            assert_eq!(parts[0].1, b"whatsapp");
            assert_eq!(parts[1].0, "Content-Disposition: form-data; name=\"type\"");
            assert_eq!(parts[1].1, file.media_type.as_bytes());
            assert_eq!(
                parts[2].0,
                format!(
                    "Content-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\n\
                     Content-Type: {}",
                    file.filename, file.media_type
                )
            );
            assert_eq!(parts[2].1, file.content.to_vec());
        }

        assert_eq!(json_body(&requests[2])["type"], "text");
        assert_eq!(
            json_body(&requests[3]),
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "4915112345678",
                "type": "document",
                "document": { "id": "MEDIA0", "filename": "results.pdf" },
            })
        );
        assert_eq!(
            json_body(&requests[4]),
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "4915112345678",
                "type": "image",
                "image": { "id": "MEDIA1" },
            })
        );
    }

    #[tokio::test]
    async fn graph_errors_map_onto_rejections_and_transient_failures() {
        let cases = [
            (
                400,
                graph_error(
                    131030,
                    "(#131030) Recipient phone number not in allowed list",
                ),
                SendError::Rejected(
                    "whatsapp 131030: (#131030) Recipient phone number not in allowed list"
                        .to_owned(),
                ),
            ),
            (
                401,
                graph_error(190, "Error validating access token"),
                SendError::Rejected("whatsapp 190: Error validating access token".to_owned()),
            ),
            (
                429,
                graph_error(130429, "(#130429) Rate limit hit"),
                SendError::Transient("whatsapp 130429: (#130429) Rate limit hit".to_owned()),
            ),
            (
                500,
                graph_error(131000, "Something went wrong"),
                SendError::Transient("whatsapp 131000: Something went wrong".to_owned()),
            ),
            (
                503,
                "Service Unavailable".to_owned(),
                SendError::Transient("whatsapp HTTP 503".to_owned()),
            ),
        ];
        for (status, body, expected) in cases {
            let server = FakeHttp::start(move |_, _| (status, body.clone())).await;
            let err = cloud(&server.base)
                .send(&message(Channel::Whatsapp, "+4915112345678", "hi"))
                .await
                .unwrap_err();
            assert_eq!(err, expected, "HTTP {status}");
        }
    }

    #[tokio::test]
    async fn a_failed_upload_sends_nothing() {
        let server = FakeHttp::start(|_, _| {
            (
                400,
                graph_error(
                    100,
                    "Param file must be a file with one of the following types",
                ),
            )
        })
        .await;
        let mut outbound = message(Channel::Whatsapp, "+4915112345678", "Befund");
        outbound.attachments = vec![pdf()];
        let err = cloud(&server.base).send(&outbound).await.unwrap_err();
        assert!(matches!(err, SendError::Rejected(_)), "{err:?}");
        assert!(server
            .requests()
            .iter()
            .all(|request| request.uri.ends_with("/media")));
    }

    #[tokio::test]
    async fn a_failure_after_the_text_went_out_leaves_the_outcome_unknown() {
        let server = FakeHttp::start(|request, n| {
            if request.uri.ends_with("/media") {
                (200, json!({ "id": "MEDIA" }).to_string())
            } else if n == 1 {
                (200, sent("wamid.text"))
            } else {
                (400, graph_error(131053, "Media upload error"))
            }
        })
        .await;
        let mut outbound = message(Channel::Whatsapp, "+4915112345678", "Befund");
        outbound.attachments = vec![pdf()];
        let err = cloud(&server.base).send(&outbound).await.unwrap_err();
        assert_eq!(
            err,
            SendError::OutcomeUnknown(
                "whatsapp: 1 of 2 messages sent, then: provider refused the message: \
                 whatsapp 131053: Media upload error"
                    .to_owned()
            )
        );
    }

    #[tokio::test]
    async fn connection_refused_is_transient() {
        let err = cloud(&format!("http://{}", refused_address()))
            .send(&message(Channel::Whatsapp, "+4915112345678", "hi"))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Transient(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_recipient_that_is_no_number_is_refused_without_a_request() {
        let server = FakeHttp::start(|_, _| (200, sent("wamid.x"))).await;
        let err = cloud(&server.base)
            .send(&message(Channel::Whatsapp, "patient@example.org", "hi"))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Rejected(_)), "{err:?}");
        assert!(server.requests().is_empty());
    }

    #[tokio::test]
    async fn downloads_inbound_media_through_its_url() {
        let base: Arc<Mutex<String>> = Arc::default();
        let file_base = base.clone();
        let server = FakeHttp::start(move |request, _| {
            if request.uri == "/v21.0/1037543291543636" {
                let url = format!(
                    "{}/whatsapp_business/attachments/?mid=1037",
                    file_base.lock().unwrap()
                );
                (
                    200,
                    json!({
                        "messaging_product": "whatsapp",
                        "url": url,
                        "mime_type": "image/jpeg",
                        "sha256": "abc",
                        "file_size": 4,
                        "id": "1037543291543636",
                    })
                    .to_string(),
                )
            } else {
                (200, "\u{1}JPG".to_owned())
            }
        })
        .await;
        *base.lock().unwrap() = server.base.clone();
        let provider = cloud(&server.base);
        let (mime, content) = provider.download_media("1037543291543636").await.unwrap();
        assert_eq!(mime, "image/jpeg");
        assert_eq!(&content[..], b"\x01JPG");
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[1].uri, "/whatsapp_business/attachments/?mid=1037");
        assert!(requests
            .iter()
            .all(|r| r.method == "GET" && r.header("authorization") == "Bearer EAAtoken"));

        let err = provider.download_media("../../me").await.unwrap_err();
        assert!(matches!(err, SendError::Rejected(_)), "{err:?}");
    }
}

mod email {
    use std::net::IpAddr;

    use dispatch::provider::email::{EmailConfig, SmtpEmail};
    use mail_parser::{MessageParser, MimeHeaders};
    use mailin_embedded::{response, Handler, Response, Server, SslConfig};

    use super::*;

    /// One mail transaction as the SMTP server saw it.
    #[derive(Debug, Clone, Default)]
    struct Delivered {
        from: String,
        to: Vec<String>,
        data: Vec<u8>,
    }

    /// Records every transaction; refuses recipients named `reject…` (550) and `busy…` (451).
    #[derive(Clone, Default)]
    struct Recorder {
        current: Delivered,
        delivered: Arc<Mutex<Vec<Delivered>>>,
    }

    impl Handler for Recorder {
        fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
            self.current = Delivered {
                from: from.to_owned(),
                ..Delivered::default()
            };
            response::OK
        }

        fn rcpt(&mut self, to: &str) -> Response {
            if to.starts_with("reject") {
                return response::NO_MAILBOX;
            }
            if to.starts_with("busy") {
                return response::INTERNAL_ERROR;
            }
            self.current.to.push(to.to_owned());
            response::OK
        }

        fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
            self.current.data.extend_from_slice(buf);
            Ok(())
        }

        fn data_end(&mut self) -> Response {
            self.delivered.lock().unwrap().push(self.current.clone());
            response::OK
        }
    }

    /// A real SMTP server (mailin-embedded) on a free local port, serving in a thread.
    fn smtp_server() -> (String, Arc<Mutex<Vec<Delivered>>>) {
        let recorder = Recorder::default();
        let delivered = recorder.delivered.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let mut server = Server::new(recorder);
        server
            .with_name("mx.test")
            .with_tcp_listener(listener)
            .with_ssl(SslConfig::None)
            .unwrap();
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        (address, delivered)
    }

    fn provider(smtp_url: String) -> SmtpEmail {
        SmtpEmail::new(&EmailConfig {
            smtp_url,
            from: "Praxis Dr. Weiß <clinic@example.org>".to_owned(),
        })
        .unwrap()
    }

    fn email(to: &str) -> OutboundMessage {
        let mut outbound = message(
            Channel::Email,
            to,
            "Guten Tag,\nanbei Ihr Befund.\n– Praxis",
        );
        outbound.subject = Some("Ihr Befund für März".to_owned());
        outbound
    }

    const MESSAGE_ID: &str =
        "00000000-0000-0000-0000-000000000011.00000000-0000-0000-0000-000000000022@example.org";

    #[tokio::test]
    async fn delivers_a_mime_message_with_its_attachment() {
        let (address, delivered) = smtp_server();
        let mut outbound = email("patient@example.net");
        outbound.attachments = vec![pdf()];
        let accepted = provider(format!("smtp://{address}"))
            .send(&outbound)
            .await
            .unwrap();
        assert_eq!(accepted.provider_message_ids, vec![MESSAGE_ID.to_owned()]);

        let delivered = delivered.lock().unwrap().clone();
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0].from, "clinic@example.org");
        assert_eq!(delivered[0].to, vec!["patient@example.net".to_owned()]);
        let parsed = MessageParser::default().parse(&delivered[0].data).unwrap();
        let from = parsed.from().and_then(|from| from.first()).unwrap();
        assert_eq!(from.address(), Some("clinic@example.org"));
        assert_eq!(from.name(), Some("Praxis Dr. Weiß"));
        let to = parsed.to().and_then(|to| to.first()).unwrap();
        assert_eq!(to.address(), Some("patient@example.net"));
        assert_eq!(parsed.subject(), Some("Ihr Befund für März"));
        assert_eq!(parsed.message_id(), Some(MESSAGE_ID));
        assert!(parsed.in_reply_to().is_empty());
        assert!(parsed.references().is_empty());
        assert_eq!(
            parsed
                .content_type()
                .map(|ct| ct.ctype().to_owned() + "/" + ct.subtype().unwrap_or("")),
            Some("multipart/mixed".to_owned())
        );
        assert_eq!(
            parsed.body_text(0).as_deref(),
            // Text parts travel in canonical form: CRLF line ends.
            Some("Guten Tag,\r\nanbei Ihr Befund.\r\n– Praxis")
        );
        let attachments: Vec<_> = parsed.attachments().collect();
        assert_eq!(attachments.len(), 1);
        assert_eq!(attachments[0].attachment_name(), Some("results.pdf"));
        assert!(attachments[0].is_content_type("application", "pdf"));
        assert_eq!(attachments[0].contents(), &pdf().content[..]);
    }

    #[tokio::test]
    async fn a_reply_names_the_earlier_message_and_has_a_single_text_part() {
        let (address, delivered) = smtp_server();
        let mut reply = email("patient@example.net");
        reply.message_id = MessageId(Uuid::from_u128(0x33));
        reply.in_reply_to = Some(MessageId(Uuid::from_u128(0x11)));
        provider(format!("smtp://{address}"))
            .send(&reply)
            .await
            .unwrap();

        let data = delivered.lock().unwrap()[0].data.clone();
        let parsed = MessageParser::default().parse(&data).unwrap();
        assert_eq!(
            parsed.message_id(),
            Some(
                "00000000-0000-0000-0000-000000000033.00000000-0000-0000-0000-000000000022@example.org"
            )
        );
        assert_eq!(parsed.in_reply_to().as_text(), Some(MESSAGE_ID));
        assert_eq!(parsed.references().as_text(), Some(MESSAGE_ID));
        assert!(parsed.is_content_type("text", "plain"));
        assert_eq!(parsed.attachment_count(), 0);
        let raw = String::from_utf8_lossy(&data);
        assert!(
            raw.contains(&format!("In-Reply-To: <{MESSAGE_ID}>")),
            "{raw}"
        );
        assert!(
            raw.contains(&format!("References: <{MESSAGE_ID}>")),
            "{raw}"
        );
    }

    #[tokio::test]
    async fn smtp_replies_map_onto_rejections_and_transient_failures() {
        let (address, delivered) = smtp_server();
        let email_provider = provider(format!("smtp://{address}"));
        let err = email_provider
            .send(&email("reject@example.net"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            SendError::Rejected("smtp 550: Mailbox unavailable".to_owned())
        );
        let err = email_provider
            .send(&email("busy@example.net"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            SendError::Transient("smtp 451: Aborted: local error in processing".to_owned())
        );
        assert!(delivered.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn connection_refused_is_transient() {
        let err = provider(format!("smtp://{}", refused_address()))
            .send(&email("patient@example.net"))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Transient(_)), "{err:?}");
    }

    #[test]
    fn malformed_configuration_is_refused() {
        for (smtp_url, from) in [
            ("not a url", "clinic@example.org"),
            ("ftp://host", "clinic@example.org"),
            ("smtp://host:25", "no address"),
        ] {
            let config = EmailConfig {
                smtp_url: smtp_url.to_owned(),
                from: from.to_owned(),
            };
            assert!(SmtpEmail::new(&config).is_err(), "{smtp_url} {from}");
        }
    }

    /// A scripted ESMTP server that offers `AUTH PLAIN` without TLS (mailin only offers it
    /// after STARTTLS, which needs a certificate lettre would trust), records the session,
    /// and hangs up after the message data when `hang_up_after_data` is set.
    async fn scripted_smtp(hang_up_after_data: bool) -> (String, Arc<Mutex<Vec<String>>>) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let transcript: Arc<Mutex<Vec<String>>> = Arc::default();
        let lines = transcript.clone();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (read, mut write) = socket.into_split();
            let mut read = BufReader::new(read);
            write.write_all(b"220 scripted ESMTP\r\n").await.unwrap();
            let mut in_data = false;
            loop {
                let mut line = String::new();
                if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                lines.lock().unwrap().push(line.clone());
                let command = line.to_ascii_uppercase();
                let answer: &[u8] = if in_data {
                    if line != ".\r\n" {
                        continue;
                    }
                    if hang_up_after_data {
                        return;
                    }
                    in_data = false;
                    b"250 2.0.0 queued\r\n"
                } else if command.starts_with("EHLO") {
                    b"250-scripted\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
                } else if command.starts_with("AUTH") {
                    b"235 2.7.0 Authentication successful\r\n"
                } else if command.starts_with("DATA") {
                    in_data = true;
                    b"354 go ahead\r\n"
                } else if command.starts_with("QUIT") {
                    let _ = write.write_all(b"221 bye\r\n").await;
                    return;
                } else {
                    b"250 2.0.0 ok\r\n"
                };
                if write.write_all(answer).await.is_err() {
                    return;
                }
            }
        });
        (address, transcript)
    }

    #[tokio::test]
    async fn credentials_from_the_url_are_sent_with_auth_plain() {
        use base64::Engine;
        let (address, transcript) = scripted_smtp(false).await;
        provider(format!("smtp://mailer:p%40ss%3Aw%2Frd@{address}"))
            .send(&email("patient@example.net"))
            .await
            .unwrap();
        let expected = base64::engine::general_purpose::STANDARD.encode("\0mailer\0p@ss:w/rd");
        let transcript = transcript.lock().unwrap().clone();
        assert!(
            transcript.contains(&format!("AUTH PLAIN {expected}\r\n")),
            "{transcript:?}"
        );
    }

    #[tokio::test]
    async fn a_hang_up_after_the_data_leaves_the_outcome_unknown() {
        let (address, _) = scripted_smtp(true).await;
        let err = provider(format!("smtp://{address}"))
            .send(&email("patient@example.net"))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::OutcomeUnknown(_)), "{err:?}");
    }
}
