//! Channels end to end: the real `hub` binary sends through local servers that speak each
//! provider's wire format (Twilio, WhatsApp Cloud API, SMTP), and providers' webhooks come
//! back signed as the providers sign them.

mod channels {
    pub mod fakes;
}
mod support;

use std::time::Duration;

use channels::fakes::{FakeApi, FakeSmtp, Scripted};
use dispatch::inbound;
use serde_json::{json, Value};
use support::{Answer, Backend, Hub, ADMIN};

const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_TOKEN: &str = "twilio-auth-token";
const TWILIO_FROM: &str = "+15005550006";
const PUBLIC_URL: &str = "https://hub.clinic.example";
const WA_SECRET: &str = "whatsapp-app-secret";
const WA_VERIFY: &str = "whatsapp-verify-token";
const EMAIL_TOKEN: &str = "inbound-email-token";
const PATIENT_PHONE: &str = "+4915112345678";
const PATIENT_EMAIL: &str = "patient@example.org";

/// `serve` arguments that configure every provider against the fakes.
fn provider_args(twilio: &FakeApi, whatsapp: &FakeApi, smtp: &FakeSmtp) -> Vec<String> {
    [
        "--public-url",
        PUBLIC_URL,
        "--twilio-api-base",
        &twilio.base,
        "--twilio-account-sid",
        TWILIO_SID,
        "--twilio-auth-token",
        TWILIO_TOKEN,
        "--twilio-from",
        TWILIO_FROM,
        "--whatsapp-api-base",
        &whatsapp.base,
        "--whatsapp-phone-number-id",
        "1055",
        "--whatsapp-token",
        "wa-token",
        "--whatsapp-app-secret",
        WA_SECRET,
        "--whatsapp-verify-token",
        WA_VERIFY,
        "--smtp-url",
        &smtp.url,
        "--email-from",
        "Clinic <clinic@clinic.example>",
        "--inbound-email-token",
        EMAIL_TOKEN,
        "--dispatch-backoff-ms",
        "20",
        "--dispatch-attempts",
        "4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A hub with every provider configured against fresh fakes.
struct World {
    hub: Hub,
    twilio: FakeApi,
    whatsapp: FakeApi,
    smtp: FakeSmtp,
    receptionist: String,
    patient: String,
}

impl World {
    async fn start(backend: Backend) -> World {
        World::start_with(backend, &[]).await
    }

    async fn start_with(backend: Backend, extra: &[&str]) -> World {
        let (twilio, whatsapp, smtp) = (
            FakeApi::twilio().await,
            FakeApi::whatsapp().await,
            FakeSmtp::start(),
        );
        let mut args = provider_args(&twilio, &whatsapp, &smtp);
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let hub = Hub::start_with(backend, &args).await;
        let (_, receptionist) = hub.staff("Rita Reception", "receptionist").await;
        let (patient, _) = hub.patient("Pat Patient").await;
        World {
            hub,
            twilio,
            whatsapp,
            smtp,
            receptionist,
            patient,
        }
    }

    /// Staff sends the first message of a new conversation; answers `(conversation, message)`.
    async fn send(&self, body: Value) -> (String, String) {
        let mut body = body;
        body["patient_id"] = json!(self.patient);
        let answer = self
            .hub
            .post(&self.receptionist, "/v1/messages", body)
            .await;
        let ok = answer.ok();
        (
            ok["conversation_id"].as_str().unwrap().to_owned(),
            ok["message_id"].as_str().unwrap().to_owned(),
        )
    }

    /// Polls a message (as reception) until `done` holds (20 s at most).
    async fn message_until(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..200 {
            let answer = self
                .hub
                .get(&self.receptionist, &format!("/v1/messages/{id}"))
                .await;
            if answer.status.is_success() && done(&answer.body) {
                return answer.body;
            }
            last = answer.body;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("message {id} never reached the expected state: {last}");
    }

    /// The event log's head position.
    async fn head(&self) -> u64 {
        let health = self
            .hub
            .call(reqwest::Method::GET, "/v1/health", None, None)
            .await;
        health.ok()["head_position"].as_u64().unwrap()
    }

    /// Posts a form to a Twilio webhook, signed as Twilio signs it (or with `signature`).
    async fn twilio_webhook(
        &self,
        path: &str,
        form: &[(&str, &str)],
        signature: Option<&str>,
    ) -> Answer {
        let params: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let signed = inbound::twilio::sign(TWILIO_TOKEN, &format!("{PUBLIC_URL}{path}"), &params);
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.hub.base))
            .header("x-twilio-signature", signature.unwrap_or(&signed))
            .form(&params)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// Posts a WhatsApp webhook payload, signed with the app secret (or with `signature`).
    async fn whatsapp_webhook(&self, payload: &Value, signature: Option<&str>) -> Answer {
        let body = serde_json::to_vec(payload).unwrap();
        let signed = inbound::whatsapp::sign(WA_SECRET, &body);
        let response = reqwest::Client::new()
            .post(format!("{}/v1/webhooks/whatsapp", self.hub.base))
            .header("x-hub-signature-256", signature.unwrap_or(&signed))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// Posts a raw e-mail to the inbound e-mail webhook.
    async fn email_webhook(&self, raw: String, token: &str) -> Answer {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/webhooks/email", self.hub.base))
            .bearer_auth(token)
            .header("content-type", "message/rfc822")
            .body(raw)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// The timeline of a conversation as reception sees it.
    async fn timeline(&self, conversation: &str) -> Vec<Value> {
        let head = self.head().await;
        let path =
            format!("/v1/conversations/{conversation}/messages?limit=200&min_position={head}");
        let answer = self.hub.get(&self.receptionist, &path).await;
        answer.ok()["items"].as_array().unwrap().clone()
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    Answer {
        status,
        body: serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into())),
    }
}

/// A WhatsApp Cloud API webhook whose one change carries `value` (messages or statuses).
fn whatsapp_change(value: Value) -> Value {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({ "display_phone_number": "15550783881", "phone_number_id": "1055" });
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "8856996819413533", "changes": [{ "field": "messages", "value": value }] }]
    })
}

/// A WhatsApp webhook carrying one text message from `from` (digits, no `+`).
fn whatsapp_text(from: &str, id: &str, text: &str) -> Value {
    whatsapp_change(json!({
        "contacts": [{ "profile": { "name": "Pat" }, "wa_id": from }],
        "messages": [{
            "from": from,
            "id": id,
            "timestamp": "1749416383",
            "type": "text",
            "text": { "body": text }
        }]
    }))
}

/// A WhatsApp webhook carrying one status of an outbound message.
fn whatsapp_status(wamid: &str, status: &str) -> Value {
    whatsapp_change(json!({
        "statuses": [{
            "id": wamid,
            "status": status,
            "timestamp": "1750263773",
            "recipient_id": "4915112345678"
        }]
    }))
}

async fn sms_goes_out_through_twilio_and_callbacks_move_delivery_forward(backend: Backend) {
    let world = World::start(backend).await;
    let (_, message) = world
        .send(json!({ "channel": "sms", "body": "Ihr Termin: Mo 10:00 & bitte nüchtern = 100%" }))
        .await;
    let requests = world.twilio.wait_for(1).await;
    let request = &requests[0];
    assert_eq!(request.method, reqwest::Method::POST);
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json")
    );
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{TWILIO_SID}:{TWILIO_TOKEN}"),
    );
    assert_eq!(
        request.headers["authorization"],
        format!("Basic {basic}").as_str()
    );
    assert_eq!(
        request.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(request.field("To").as_deref(), Some(PATIENT_PHONE));
    assert_eq!(request.field("From").as_deref(), Some(TWILIO_FROM));
    assert_eq!(
        request.field("Body").as_deref(),
        Some("Ihr Termin: Mo 10:00 & bitte nüchtern = 100%")
    );
    assert_eq!(
        request.field("StatusCallback").as_deref(),
        Some(format!("{PUBLIC_URL}/v1/webhooks/twilio/status").as_str())
    );
    let sent = world
        .message_until(&message, |m| m["delivery_status"] == "sent")
        .await;
    assert_eq!(sent["delivery_error"], Value::Null);
    assert_eq!(world.twilio.requests().len(), 1, "sent exactly once");
    let sid = world.twilio_sid_of_first().await;

    // A forged callback is refused and appends nothing.
    let head = world.head().await;
    let forged = world
        .twilio_webhook(
            "/v1/webhooks/twilio/status",
            &[("MessageSid", &sid), ("MessageStatus", "failed")],
            Some("bm90IGEgc2lnbmF0dXJl"),
        )
        .await;
    forged.err(401, "unauthenticated");
    assert_eq!(world.head().await, head);

    let status = [("MessageSid", sid.as_str()), ("MessageStatus", "delivered")];
    world
        .twilio_webhook("/v1/webhooks/twilio/status", &status, None)
        .await
        .ok();
    world
        .message_until(&message, |m| m["delivery_status"] == "delivered")
        .await;
    // A late or repeated callback never moves it back.
    let late = [("MessageSid", sid.as_str()), ("MessageStatus", "sent")];
    world
        .twilio_webhook("/v1/webhooks/twilio/status", &late, None)
        .await
        .ok();
    world
        .twilio_webhook("/v1/webhooks/twilio/status", &status, None)
        .await
        .ok();
    let after = world.message_until(&message, |_| true).await;
    assert_eq!(after["delivery_status"], "delivered");
    // A callback naming no message of the hub's answers 404.
    let unknown = [
        ("MessageSid", "SMffffffffffffffffffffffffffffffff"),
        ("MessageStatus", "delivered"),
    ];
    world
        .twilio_webhook("/v1/webhooks/twilio/status", &unknown, None)
        .await
        .err(404, "not_found");
}

impl World {
    /// The Twilio `sid` the fake answered to the first send.
    async fn twilio_sid_of_first(&self) -> String {
        let events = self.hub.get(ADMIN, "/v1/events?limit=200").await;
        events.ok()["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "DeliveryStatusChanged" && e["data"]["status"] == "sent")
            .and_then(|e| e["data"]["provider_message_ids"][0].as_str())
            .expect("a sent report with the provider's id")
            .to_owned()
    }
}

async fn inbound_sms_is_filed_once_and_consent_keywords_apply(backend: Backend) {
    let world = World::start(backend).await;
    let (conversation, _) = world
        .send(json!({ "channel": "sms", "body": "Reminder: tomorrow 9:00" }))
        .await;
    world.twilio.wait_for(1).await;
    let reply = [
        ("MessageSid", "SM11111111111111111111111111111111"),
        ("From", PATIENT_PHONE),
        ("To", TWILIO_FROM),
        ("Body", "Thanks, I will be there"),
    ];
    let answer = world
        .twilio_webhook("/v1/webhooks/twilio/sms", &reply, None)
        .await;
    assert_eq!(answer.status, 200);
    // Delivered twice by the provider: filed once.
    world
        .twilio_webhook("/v1/webhooks/twilio/sms", &reply, None)
        .await;
    let timeline = world.timeline(&conversation).await;
    let inbound: Vec<_> = timeline
        .iter()
        .filter(|m| m["direction"] == "inbound")
        .collect();
    assert_eq!(inbound.len(), 1, "{timeline:?}");
    assert_eq!(inbound[0]["body"], "Thanks, I will be there");
    assert_eq!(inbound[0]["channel"], "sms");
    assert_eq!(inbound[0]["status"], "unread");
    assert_eq!(
        timeline[0]["status"], "replied",
        "the patient's answer marks the reminder replied"
    );

    // A forged inbound SMS is refused and appends nothing.
    let head = world.head().await;
    let forged = [
        ("MessageSid", "SM2"),
        ("From", PATIENT_PHONE),
        ("Body", "STOP"),
    ];
    world
        .twilio_webhook("/v1/webhooks/twilio/sms", &forged, Some("Zm9yZ2Vk"))
        .await
        .err(401, "unauthenticated");
    assert_eq!(world.head().await, head);

    // STOP opts out of SMS, START opts back in; each change is an event.
    let stop = [
        ("MessageSid", "SM3"),
        ("From", PATIENT_PHONE),
        ("Body", "stop"),
    ];
    world
        .twilio_webhook("/v1/webhooks/twilio/sms", &stop, None)
        .await
        .ok();
    let refused = world
        .hub
        .post(
            &world.receptionist,
            "/v1/messages",
            json!({ "patient_id": world.patient, "channel": "sms", "body": "Hello?" }),
        )
        .await;
    refused.err(422, "channel_unavailable");
    let start = [
        ("MessageSid", "SM4"),
        ("From", PATIENT_PHONE),
        ("Body", "START"),
    ];
    world
        .twilio_webhook("/v1/webhooks/twilio/sms", &start, None)
        .await
        .ok();
    world
        .send(json!({ "channel": "sms", "body": "Welcome back" }))
        .await;
    let events = world.hub.get(ADMIN, "/v1/events?limit=200").await;
    let consent: Vec<bool> = events.ok()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "SmsConsentChanged")
        .map(|e| e["data"]["opted_in"].as_bool().unwrap())
        .collect();
    assert_eq!(consent, [false, true]);
}

async fn unknown_senders_wait_in_the_unmatched_queue_until_reception_files_them(backend: Backend) {
    let world = World::start(backend).await;
    let stranger = [
        ("MessageSid", "SM55555555555555555555555555555555"),
        ("From", "+441632960961"),
        ("Body", "Is this the clinic? It's Pat, new number"),
    ];
    world
        .twilio_webhook("/v1/webhooks/twilio/sms", &stranger, None)
        .await
        .ok();
    let mut queue = Value::Null;
    for _ in 0..100 {
        queue = world
            .hub
            .get(&world.receptionist, "/v1/unmatched")
            .await
            .ok()
            .clone();
        if !queue["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let entry = &queue["items"][0];
    assert_eq!(entry["sender"], "+441632960961");
    assert_eq!(entry["channel"], "sms");
    let (_, doctor) = world.hub.staff("Dr Who", "doctor").await;
    world
        .hub
        .get(&doctor, "/v1/unmatched")
        .await
        .err(403, "forbidden");
    let (_, auditor) = world.hub.staff("Audrey Auditor", "auditor").await;
    world
        .hub
        .get(&auditor, "/v1/unmatched")
        .await
        .err(403, "forbidden");
    let id = entry["id"].as_str().unwrap();
    let filed = world
        .hub
        .post(
            &world.receptionist,
            &format!("/v1/unmatched/{id}/assign"),
            json!({ "patient_id": world.patient }),
        )
        .await;
    assert_eq!(filed.status, 201, "{}", filed.body);
    let conversation = filed.body["conversation_id"].as_str().unwrap().to_owned();
    let timeline = world.timeline(&conversation).await;
    assert_eq!(timeline.len(), 1);
    assert_eq!(
        timeline[0]["body"],
        "Is this the clinic? It's Pat, new number"
    );
    assert_eq!(timeline[0]["direction"], "inbound");
    world
        .hub
        .post(
            &world.receptionist,
            &format!("/v1/unmatched/{id}/assign"),
            json!({ "patient_id": world.patient }),
        )
        .await
        .err(409, "concurrency_conflict");
    let queue = world
        .hub
        .get(
            &world.receptionist,
            &format!("/v1/unmatched?min_position={}", world.head().await),
        )
        .await;
    assert_eq!(queue.ok()["items"], json!([]));

    // A WhatsApp message filed from the queue opens the 24-hour window from when it arrived,
    // not from when reception filed it.
    let stranger = whatsapp_text("441632960962", "wamid.stranger1", "Pat again, other phone");
    world.whatsapp_webhook(&stranger, None).await.ok();
    let mut entry = Value::Null;
    for _ in 0..100 {
        let queue = world.hub.get(&world.receptionist, "/v1/unmatched").await;
        entry = queue.ok()["items"][0].clone();
        if !entry.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(entry["channel"], "whatsapp");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let id = entry["id"].as_str().unwrap();
    world
        .hub
        .post(
            &world.receptionist,
            &format!("/v1/unmatched/{id}/assign"),
            json!({ "patient_id": world.patient }),
        )
        .await
        .ok();
    let events = world.hub.get(ADMIN, "/v1/events?limit=200").await;
    let events = events.ok()["items"].as_array().unwrap().clone();
    let time = |value: &Value| {
        chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap())
            .unwrap()
            .to_utc()
    };
    let opened = events
        .iter()
        .find(|e| e["type"] == "WhatsappWindowOpened")
        .expect("the filed WhatsApp message opens the window");
    let assigned = events.last().unwrap();
    assert_eq!(assigned["type"], "UnmatchedAssigned");
    assert_eq!(
        time(&opened["data"]["opened_at"]),
        time(&entry["received_at"])
    );
    assert!(
        time(&assigned["occurred_at"]) - time(&entry["received_at"])
            >= chrono::Duration::seconds(1)
    );
}

async fn provider_errors_are_retried_or_reported(backend: Backend) {
    let world = World::start(backend).await;
    world.twilio.script([
        Scripted::Answer(
            503,
            json!({ "code": 20503, "message": "Service unavailable" }),
        ),
        Scripted::Answer(
            429,
            json!({ "code": 20429, "message": "Too many requests" }),
        ),
    ]);
    let (_, retried) = world
        .send(json!({ "channel": "sms", "body": "After two refusals" }))
        .await;
    world
        .message_until(&retried, |m| m["delivery_status"] == "sent")
        .await;
    assert_eq!(
        world.twilio.requests().len(),
        3,
        "two transient refusals, then accepted"
    );
    world.twilio.script([Scripted::Answer(
        400,
        json!({ "code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400 }),
    )]);
    let (_, refused) = world
        .send(json!({ "channel": "sms", "body": "Refused" }))
        .await;
    let failed = world
        .message_until(&refused, |m| m["delivery_status"] == "failed")
        .await;
    assert!(
        failed["delivery_error"].as_str().unwrap().contains("21211"),
        "{failed}"
    );
    assert_eq!(world.twilio.requests().len(), 4, "a refusal is not retried");
    world
        .twilio
        .script((0..4).map(|_| Scripted::Answer(503, json!({ "code": 20503, "message": "down" }))));
    let (_, gave_up) = world
        .send(json!({ "channel": "sms", "body": "Provider down" }))
        .await;
    let failed = world
        .message_until(&gave_up, |m| m["delivery_status"] == "failed")
        .await;
    assert!(
        failed["delivery_error"]
            .as_str()
            .unwrap()
            .contains("gave up after 4 attempts"),
        "{failed}"
    );
    assert_eq!(world.twilio.requests().len(), 8);
    // The reports count the three on the day they were sent: one sent, two failed.
    let head = world.head().await;
    let summary = world
        .hub
        .get(ADMIN, &format!("/v1/reports/summary?min_position={head}"))
        .await
        .ok()
        .clone();
    let sms = summary["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "sms")
        .unwrap()
        .clone();
    assert_eq!(
        [
            &sms["outbound"],
            &sms["queued"],
            &sms["sent"],
            &sms["failed"]
        ],
        [&json!(3), &json!(0), &json!(1), &json!(2)],
        "{summary}"
    );
}

async fn whatsapp_window_messages_statuses_and_read_receipts(backend: Backend) {
    let world = World::start(backend).await;
    let refused = world
        .hub
        .post(
            &world.receptionist,
            "/v1/messages",
            json!({ "patient_id": world.patient, "channel": "whatsapp", "body": "Hi" }),
        )
        .await;
    refused.err(422, "channel_unavailable");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("template"),
        "{}",
        refused.body
    );

    // The subscription handshake.
    let verify = |token: &str| {
        format!("{}/v1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444", world.hub.base)
    };
    let ok = reqwest::get(verify(WA_VERIFY)).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(reqwest::get(verify("wrong")).await.unwrap().status(), 401);
    // A provider may add parameters of its own: the webhooks ignore those they do not take.
    let extra = reqwest::get(format!("{}&provider_extra=1", verify(WA_VERIFY)))
        .await
        .unwrap();
    assert_eq!(extra.status(), 200);

    // A forged webhook appends nothing.
    let head = world.head().await;
    let hello = whatsapp_text(
        "4915112345678",
        "wamid.inbound1",
        "Hallo, kann ich den Termin verschieben?",
    );
    world
        .whatsapp_webhook(&hello, Some("sha256=0000"))
        .await
        .err(401, "unauthenticated");
    assert_eq!(world.head().await, head);

    let filed = world.whatsapp_webhook(&hello, None).await;
    let conversation = filed.ok()["filed"][0]["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        world.whatsapp_webhook(&hello, None).await.ok()["duplicates"],
        1
    );
    let record = world
        .hub
        .get(
            &world.receptionist,
            &format!("/v1/patients/{}", world.patient),
        )
        .await;
    assert!(
        record.ok()["whatsapp_window_closes_at"].is_string(),
        "{}",
        record.body
    );
    let answer = world
        .hub
        .post(
            &world.receptionist,
            &format!("/v1/conversations/{conversation}/messages"),
            json!({ "channel": "whatsapp", "body": "Ja, gerne: Donnerstag?" }),
        )
        .await;
    let message = answer.ok()["message_id"].as_str().unwrap().to_owned();
    let requests = world.whatsapp.wait_for(1).await;
    assert_eq!(requests[0].path, "/1055/messages");
    assert_eq!(requests[0].headers["authorization"], "Bearer wa-token");
    assert_eq!(
        requests[0].json(),
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "4915112345678",
            "type": "text",
            "text": { "preview_url": false, "body": "Ja, gerne: Donnerstag?" }
        })
    );
    world
        .message_until(&message, |m| m["delivery_status"] == "sent")
        .await;
    let events = world.hub.get(ADMIN, "/v1/events?limit=200").await;
    let wamid = events.ok()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| {
            (e["type"] == "DeliveryStatusChanged")
                .then(|| e["data"]["provider_message_ids"][0].clone())
        })
        .unwrap();
    let wamid = wamid.as_str().unwrap();
    world
        .whatsapp_webhook(&whatsapp_status(wamid, "delivered"), None)
        .await
        .ok();
    world
        .message_until(&message, |m| m["delivery_status"] == "delivered")
        .await;
    world
        .whatsapp_webhook(&whatsapp_status(wamid, "read"), None)
        .await
        .ok();
    let read = world
        .message_until(&message, |m| m["status"] == "read")
        .await;
    assert_eq!(read["delivery_status"], "delivered");
}

async fn whatsapp_outside_the_window_sends_approved_templates(backend: Backend) {
    let world = World::start(backend).await;
    let template = |whatsapp: Value| {
        let mut body = json!({
            "name": "Appointment reminder",
            "body": "Dear {{patient_name}}, see you on {{date}} at {{time}}.",
        });
        if !whatsapp.is_null() {
            body["whatsapp"] = whatsapp;
        }
        body
    };
    let approved = world
        .hub
        .post(
            ADMIN,
            "/v1/templates",
            template(json!({
                "name": "appointment_reminder",
                "language": "de",
                "parameters": ["time", "patient_name", "date"]
            })),
        )
        .await;
    let approved = approved.ok()["id"].as_str().unwrap().to_owned();
    let unapproved = world
        .hub
        .post(ADMIN, "/v1/templates", template(Value::Null))
        .await;
    let unapproved = unapproved.ok()["id"].as_str().unwrap().to_owned();
    let variables = json!({ "date": "2. Juni", "time": "09:30" });

    // No inbound WhatsApp message: free text and a template without `whatsapp` stay refused.
    for body in [
        json!({ "patient_id": world.patient, "channel": "whatsapp", "body": "Hi" }),
        json!({ "patient_id": world.patient, "channel": "whatsapp",
                "template": { "id": unapproved, "variables": variables } }),
    ] {
        world
            .hub
            .post(&world.receptionist, "/v1/messages", body)
            .await
            .err(422, "channel_unavailable");
    }
    assert!(world.whatsapp.requests().is_empty());

    // The approved template goes out as a Cloud API template message, parameters in order.
    let (_, message) = world
        .send(json!({
            "channel": "whatsapp",
            "template": { "id": approved, "variables": variables }
        }))
        .await;
    let requests = world.whatsapp.wait_for(1).await;
    assert_eq!(requests[0].path, "/1055/messages");
    assert_eq!(requests[0].headers["authorization"], "Bearer wa-token");
    assert_eq!(
        std::str::from_utf8(&requests[0].body).unwrap(),
        concat!(
            r#"{"messaging_product":"whatsapp","#,
            r#""template":{"components":[{"parameters":["#,
            r#"{"text":"09:30","type":"text"},"#,
            r#"{"text":"Pat Patient","type":"text"},"#,
            r#"{"text":"2. Juni","type":"text"}],"type":"body"}],"#,
            r#""language":{"code":"de"},"name":"appointment_reminder"},"#,
            r#""to":"4915112345678","type":"template"}"#
        )
    );
    let sent = world
        .message_until(&message, |m| m["delivery_status"] == "sent")
        .await;
    assert_eq!(
        sent["body"],
        "Dear Pat Patient, see you on 2. Juni at 09:30."
    );
    assert_eq!(sent["template"]["id"], approved.as_str());
}

async fn email_goes_out_over_smtp_and_replies_thread_back(backend: Backend) {
    let world = World::start(backend).await;
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
        .to_vec();
    let upload = world
        .hub
        .upload(
            &world.receptionist,
            "application/pdf",
            "befund.pdf",
            pdf.clone(),
        )
        .await;
    let attachment = upload.ok()["id"].as_str().unwrap().to_owned();
    let (conversation, message) = world
        .send(json!({
            "channel": "email",
            "subject": "Ihr Befund",
            "body": "Guten Tag,\nanbei Ihr Befund.",
            "attachment_ids": [attachment]
        }))
        .await;
    let mails = world.smtp.wait_for(1).await;
    assert_eq!(mails[0].from, "clinic@clinic.example");
    assert_eq!(mails[0].to, [PATIENT_EMAIL]);
    let parsed = mail_parser::MessageParser::default()
        .parse(&mails[0].data)
        .unwrap();
    assert_eq!(parsed.subject(), Some("Ihr Befund"));
    let text = parsed.body_text(0).unwrap().replace("\r\n", "\n");
    assert_eq!(text.trim_end(), "Guten Tag,\nanbei Ihr Befund.");
    let sent_attachment = parsed.attachment(0).expect("the PDF");
    assert_eq!(sent_attachment.contents(), pdf.as_slice());
    let message_id = parsed.message_id().unwrap().to_owned();
    assert!(
        message_id.starts_with(&format!("{message}.{conversation}@clinic.example")),
        "{message_id}"
    );
    world
        .message_until(&message, |m| m["delivery_status"] == "sent")
        .await;

    // The patient answers from its mail client: In-Reply-To threads it back.
    let reply = format!(
        "From: Pat Patient <Patient@Example.org>\r\nTo: clinic@clinic.example\r\nSubject: Re: Ihr Befund\r\n\
         Message-ID: <reply-1@mail.example.org>\r\nIn-Reply-To: <{message_id}>\r\nReferences: <{message_id}>\r\n\
         Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Danke! Hier mein Foto.\r\n--b1\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"foto.png\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==\r\n--b1--\r\n"
    );
    world
        .email_webhook(reply.clone(), "wrong-token")
        .await
        .err(401, "unauthenticated");
    let filed = world.email_webhook(reply.clone(), EMAIL_TOKEN).await;
    assert_eq!(
        filed.ok()["filed"][0]["conversation_id"],
        conversation.as_str()
    );
    assert_eq!(
        world.email_webhook(reply, EMAIL_TOKEN).await.ok()["duplicates"],
        1
    );
    let timeline = world.timeline(&conversation).await;
    let inbound = timeline
        .iter()
        .find(|m| m["direction"] == "inbound")
        .expect("the reply");
    assert_eq!(inbound["subject"], "Re: Ihr Befund");
    assert_eq!(
        inbound["body"].as_str().unwrap().trim_end(),
        "Danke! Hier mein Foto."
    );
    let photo = inbound["attachments"][0]["id"].as_str().unwrap();
    let (status, bytes) = world.hub.download(&world.receptionist, photo).await;
    assert_eq!(status, 200);
    assert!(bytes.starts_with(b"\x89PNG"));
}

on_both_backends!(
    sms_goes_out_through_twilio_and_callbacks_move_delivery_forward,
    inbound_sms_is_filed_once_and_consent_keywords_apply,
    unknown_senders_wait_in_the_unmatched_queue_until_reception_files_them,
    provider_errors_are_retried_or_reported,
    whatsapp_window_messages_statuses_and_read_receipts,
    whatsapp_outside_the_window_sends_approved_templates,
    email_goes_out_over_smtp_and_replies_thread_back,
);

/// A dispatcher killed while the provider holds its request leaves a claim without outcome:
/// after the restart the message is `failed` with `outcome_unknown`, and it is never sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_cut_off_by_a_crash_becomes_outcome_unknown_and_is_never_repeated() {
    let mut world = World::start(Backend::Sqlite).await;
    world.twilio.script([Scripted::Hang]);
    let (_, message) = world
        .send(json!({ "channel": "sms", "body": "Cut off" }))
        .await;
    world.twilio.wait_for(1).await;
    world.hub.restart().await;
    let failed = world
        .message_until(&message, |m| m["delivery_status"] == "failed")
        .await;
    assert_eq!(failed["delivery_error"], "outcome_unknown");
    let (_, next) = world
        .send(json!({ "channel": "sms", "body": "Next one" }))
        .await;
    world
        .message_until(&next, |m| m["delivery_status"] == "sent")
        .await;
    let bodies: Vec<_> = world
        .twilio
        .requests()
        .iter()
        .map(|r| r.field("Body").unwrap())
        .collect();
    assert_eq!(bodies, ["Cut off", "Next one"]);
}

/// Two API nodes on one PostgreSQL database, both dispatching from the event log (no NATS):
/// each message is claimed by one of them and sent once, without stalling the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_dispatching_from_the_log_send_each_message_once() {
    let world = World::start(Backend::Postgres).await;
    let args = provider_args(&world.twilio, &world.whatsapp, &world.smtp);
    let second = world.hub.second_node_with(&args).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let node = if i % 2 == 0 { &world.hub } else { &second };
        let body =
            json!({ "patient_id": world.patient, "channel": "sms", "body": format!("note {i}") });
        let answer = node.post(&world.receptionist, "/v1/messages", body).await;
        ids.push(answer.ok()["message_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        world
            .message_until(id, |m| m["delivery_status"] == "sent")
            .await;
    }
    let mut bodies: Vec<_> = world
        .twilio
        .requests()
        .iter()
        .map(|r| r.field("Body").unwrap())
        .collect();
    bodies.sort();
    let mut expected: Vec<_> = (0..20).map(|i| format!("note {i}")).collect();
    expected.sort();
    assert_eq!(bodies, expected);
}

/// A second dispatcher on the same embedded data folder waits on standby behind the first
/// one's lock: no claim is abandoned while its sender is alive, each message goes out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_embedded_dispatcher_waits_on_standby() {
    let world = World::start(Backend::Sqlite).await;
    let mut standby = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub"))
        .arg("dispatch")
        .arg("--data-dir")
        .arg(world.hub.data_dir())
        .args(provider_args(&world.twilio, &world.whatsapp, &world.smtp))
        .env("HUB_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    world.twilio.set_delay(Duration::from_millis(50));
    let mut ids = Vec::new();
    for i in 0..10 {
        let (_, id) = world
            .send(json!({ "channel": "sms", "body": format!("standby {i}") }))
            .await;
        ids.push(id);
    }
    for id in &ids {
        let message = world
            .message_until(id, |m| m["delivery_status"] != "queued")
            .await;
        assert_eq!(message["delivery_status"], "sent", "{message}");
    }
    assert_eq!(world.twilio.requests().len(), 10);
    assert!(
        standby.try_wait().unwrap().is_none(),
        "the standby dispatcher keeps waiting"
    );
}

/// A patient's e-mail answering a doctor's archived thread, while that doctor has another open
/// thread with the patient, cannot reopen it (the doctor's rule): it goes to reception instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_doctors_closed_thread_goes_to_reception() {
    let world = World::start(Backend::Sqlite).await;
    let (_, doctor) = world.hub.staff("Dr Quinn", "doctor").await;
    let first = world
        .hub
        .post(
            &doctor,
            "/v1/messages",
            json!({ "patient_id": world.patient, "channel": "email", "subject": "Results", "body": "See you" }),
        )
        .await;
    let first = first.ok()["conversation_id"].as_str().unwrap().to_owned();
    let mails = world.smtp.wait_for(1).await;
    let parsed = mail_parser::MessageParser::default()
        .parse(&mails[0].data)
        .unwrap();
    let message_id = parsed.message_id().unwrap().to_owned();
    world
        .hub
        .post(
            &doctor,
            &format!("/v1/conversations/{first}/archive"),
            json!({}),
        )
        .await
        .ok();
    let second = world
        .hub
        .post(
            &doctor,
            "/v1/messages",
            json!({ "patient_id": world.patient, "channel": "portal", "body": "New topic" }),
        )
        .await;
    let second = second.ok()["conversation_id"].as_str().unwrap().to_owned();
    let reply = format!(
        "From: {PATIENT_EMAIL}\r\nTo: clinic@clinic.example\r\nSubject: Re: Results\r\n\
         Message-ID: <late-reply@mail.example.org>\r\nIn-Reply-To: <{message_id}>\r\n\r\nOne more question.\r\n"
    );
    let filed = world.email_webhook(reply, EMAIL_TOKEN).await;
    let conversation = filed.ok()["filed"][0]["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(
        conversation, first,
        "the doctor's closed thread stays closed"
    );
    assert_ne!(conversation, second);
    let head = world.head().await;
    let view = world
        .hub
        .get(
            &world.receptionist,
            &format!("/v1/conversations/{conversation}?min_position={head}"),
        )
        .await;
    assert_eq!(view.ok()["counterpart"], "reception");
    let body = view.body["latest_message"]["body"].as_str().unwrap();
    assert_eq!(body.trim_end(), "One more question.");
}
