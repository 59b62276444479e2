//! The authorization matrix over HTTP: every role against every endpoint and every other
//! actor's data. What an actor may not see answers 404, what it may see but not do 403.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::{Backend, Hub, ADMIN};

/// Everyone who acts in the matrix.
struct Cast {
    admin: String,
    reception_a: String,
    reception_b: String,
    doctor_a: String,
    doctor_b: String,
    auditor: String,
    no_permission: String,
    patient_1: String,
    patient_2: String,
}

impl Cast {
    fn all(&self) -> [(&'static str, &str); 9] {
        [
            ("admin", &self.admin),
            ("reception_a", &self.reception_a),
            ("reception_b", &self.reception_b),
            ("doctor_a", &self.doctor_a),
            ("doctor_b", &self.doctor_b),
            ("auditor", &self.auditor),
            ("no_permission", &self.no_permission),
            ("patient_1", &self.patient_1),
            ("patient_2", &self.patient_2),
        ]
    }
}

/// Expected outcome per actor, in `Cast::all` order: a status, and for errors the code.
type Row = [(u16, &'static str); 9];

const OK: (u16, &str) = (200, "");
const CREATED: (u16, &str) = (201, "");
const HIDDEN: (u16, &str) = (404, "not_found");
const FORBIDDEN: (u16, &str) = (403, "forbidden");
const NO_PERMISSION: (u16, &str) = (403, "missing_permission");
const RULE: (u16, &str) = (403, "conversation_rule");
const INVALID: (u16, &str) = (400, "invalid_request");

async fn check(
    hub: &Hub,
    cast: &Cast,
    what: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    expected: Row,
) {
    for ((who, token), (status, code)) in cast.all().into_iter().zip(expected) {
        let answer = hub
            .call(method.clone(), path, Some(token), body.clone())
            .await;
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (status, code),
            "{what}: {who} got {}",
            answer.body
        );
    }
}

async fn authorization_matrix(backend: Backend) {
    let hub = Hub::start(backend).await;
    let (_, reception_a) = hub.staff("Reception A", "receptionist").await;
    let (_, reception_b) = hub.staff("Reception B", "receptionist").await;
    let (doctor_a_id, doctor_a) = hub.staff("Doctor A", "doctor").await;
    let (_, doctor_b) = hub.staff("Doctor B", "doctor").await;
    let auditor = hub
        .post(
            ADMIN,
            "/v1/staff",
            json!({ "name": "Audrey", "role": "auditor", "permissions": [] }),
        )
        .await
        .ok()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let no_permission = hub
        .post(
            ADMIN,
            "/v1/staff",
            json!({ "name": "New Hire", "role": "receptionist", "permissions": [] }),
        )
        .await
        .ok()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (patient_1_id, patient_1) = hub.patient("Patient One").await;
    let (_, patient_2) = hub.patient("Patient Two").await;
    let cast = Cast {
        admin: ADMIN.to_owned(),
        reception_a,
        reception_b,
        doctor_a,
        doctor_b,
        auditor,
        no_permission,
        patient_1,
        patient_2,
    };

    // Who may write the first message.
    let first = hub
        .post(
            &cast.patient_1,
            "/v1/messages",
            json!({ "to": "reception", "channel": "portal", "body": "Hello reception" }),
        )
        .await;
    let reception_conversation = first.ok()["conversation_id"].as_str().unwrap().to_owned();
    let inbound_message = first.body["message_id"].as_str().unwrap().to_owned();
    let doctor_thread = hub
        .post(&cast.doctor_a, "/v1/messages", json!({ "patient_id": patient_1_id, "channel": "portal", "body": "Hello from your doctor" }))
        .await;
    let doctor_conversation = doctor_thread.ok()["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let doctor_message = doctor_thread.body["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let to_doctor = hub
        .post(
            &cast.patient_2,
            "/v1/messages",
            json!({ "to": doctor_a_id, "channel": "portal", "body": "Dear doctor" }),
        )
        .await;
    to_doctor.err(RULE.0, RULE.1);
    let by_auditor = hub
        .post(
            &cast.auditor,
            "/v1/messages",
            json!({ "patient_id": patient_1_id, "channel": "portal", "body": "hi" }),
        )
        .await;
    by_auditor.err(RULE.0, RULE.1);
    let head = hub.get(ADMIN, "/v1/events?limit=200").await;
    let position = head.ok()["items"].as_array().unwrap().last().unwrap()["position"]
        .as_u64()
        .unwrap();
    let wait = format!("min_position={position}");

    let r = &reception_conversation;
    let d = &doctor_conversation;
    check(
        &hub,
        &cast,
        "see reception conversation",
        Method::GET,
        &format!("/v1/conversations/{r}?{wait}"),
        None,
        [OK, OK, OK, HIDDEN, HIDDEN, OK, NO_PERMISSION, OK, HIDDEN],
    )
    .await;
    check(
        &hub,
        &cast,
        "see doctor conversation",
        Method::GET,
        &format!("/v1/conversations/{d}?{wait}"),
        None,
        [
            OK,
            HIDDEN,
            HIDDEN,
            OK,
            HIDDEN,
            OK,
            NO_PERMISSION,
            OK,
            HIDDEN,
        ],
    )
    .await;
    check(
        &hub,
        &cast,
        "reception timeline",
        Method::GET,
        &format!("/v1/conversations/{r}/messages?{wait}"),
        None,
        [OK, OK, OK, HIDDEN, HIDDEN, OK, NO_PERMISSION, OK, HIDDEN],
    )
    .await;
    check(
        &hub,
        &cast,
        "doctor timeline",
        Method::GET,
        &format!("/v1/conversations/{d}/messages?{wait}"),
        None,
        [
            OK,
            HIDDEN,
            HIDDEN,
            OK,
            HIDDEN,
            OK,
            NO_PERMISSION,
            OK,
            HIDDEN,
        ],
    )
    .await;
    check(
        &hub,
        &cast,
        "event log",
        Method::GET,
        "/v1/events",
        None,
        [
            OK,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            OK,
            NO_PERMISSION,
            FORBIDDEN,
            FORBIDDEN,
        ],
    )
    .await;
    check(
        &hub,
        &cast,
        "audit head",
        Method::GET,
        "/v1/audit/head",
        None,
        [
            OK,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            OK,
            NO_PERMISSION,
            FORBIDDEN,
            FORBIDDEN,
        ],
    )
    .await;

    check(
        &hub,
        &cast,
        "reports",
        Method::GET,
        &format!("/v1/reports/summary?days=7&{wait}"),
        None,
        [
            OK,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            OK,
            NO_PERMISSION,
            FORBIDDEN,
            FORBIDDEN,
        ],
    )
    .await;
    // Authorization is judged before the query: a bad `days` is refused only to those who may ask.
    check(
        &hub,
        &cast,
        "reports with a bad window",
        Method::GET,
        "/v1/reports/summary?days=0",
        None,
        [
            INVALID,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            INVALID,
            NO_PERMISSION,
            FORBIDDEN,
            FORBIDDEN,
        ],
    )
    .await;

    // Lists hold exactly what each actor may see.
    let expected_lists: [(&str, &[&str]); 9] = [
        ("admin", &[r, d]),
        ("reception_a", &[r]),
        ("reception_b", &[r]),
        ("doctor_a", &[d]),
        ("doctor_b", &[]),
        ("auditor", &[r, d]),
        ("no_permission", &[]),
        ("patient_1", &[r, d]),
        ("patient_2", &[]),
    ];
    for ((who, token), (_, visible)) in cast.all().into_iter().zip(expected_lists) {
        let answer = hub.get(token, &format!("/v1/conversations?{wait}")).await;
        if who == "no_permission" {
            answer.err(NO_PERMISSION.0, NO_PERMISSION.1);
            continue;
        }
        let mut ids: Vec<String> = answer.ok()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        let mut expected: Vec<String> = visible.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(ids, expected, "{who}'s inbox");
        let messages = hub.get(token, &format!("/v1/messages?{wait}")).await;
        let conversations: std::collections::BTreeSet<String> = messages.ok()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["conversation_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            conversations.into_iter().collect::<Vec<_>>(),
            expected,
            "{who}'s message search"
        );
    }

    // Marking read: only the recipient; the patient's message is received by the clinic side.
    check(
        &hub,
        &cast,
        "mark patient's message read",
        Method::POST,
        &format!("/v1/messages/{inbound_message}/read"),
        Some(json!({})),
        [
            OK,
            OK,
            OK,
            HIDDEN,
            HIDDEN,
            FORBIDDEN,
            NO_PERMISSION,
            FORBIDDEN,
            HIDDEN,
        ],
    )
    .await;
    check(
        &hub,
        &cast,
        "mark doctor's message read",
        Method::POST,
        &format!("/v1/messages/{doctor_message}/read"),
        Some(json!({})),
        [
            FORBIDDEN,
            HIDDEN,
            HIDDEN,
            FORBIDDEN,
            HIDDEN,
            FORBIDDEN,
            NO_PERMISSION,
            OK,
            HIDDEN,
        ],
    )
    .await;
    check(
        &hub,
        &cast,
        "star in reception conversation",
        Method::PUT,
        &format!("/v1/messages/{inbound_message}/star"),
        None,
        [
            OK,
            OK,
            OK,
            HIDDEN,
            HIDDEN,
            FORBIDDEN,
            NO_PERMISSION,
            FORBIDDEN,
            HIDDEN,
        ],
    )
    .await;
    check(
        &hub,
        &cast,
        "star in doctor conversation",
        Method::PUT,
        &format!("/v1/messages/{doctor_message}/star"),
        None,
        [
            OK,
            HIDDEN,
            HIDDEN,
            OK,
            HIDDEN,
            FORBIDDEN,
            NO_PERMISSION,
            FORBIDDEN,
            HIDDEN,
        ],
    )
    .await;

    // Writing in existing conversations.
    let portal = json!({ "channel": "portal", "body": "A reply" });
    check(
        &hub,
        &cast,
        "reply in reception conversation",
        Method::POST,
        &format!("/v1/conversations/{r}/messages"),
        Some(portal.clone()),
        [
            CREATED,
            CREATED,
            CREATED,
            HIDDEN,
            HIDDEN,
            FORBIDDEN,
            NO_PERMISSION,
            CREATED,
            HIDDEN,
        ],
    )
    .await;
    check(
        &hub,
        &cast,
        "reply in doctor conversation",
        Method::POST,
        &format!("/v1/conversations/{d}/messages"),
        Some(portal),
        [
            CREATED,
            HIDDEN,
            HIDDEN,
            CREATED,
            HIDDEN,
            FORBIDDEN,
            NO_PERMISSION,
            CREATED,
            HIDDEN,
        ],
    )
    .await;
    let call = json!({ "occurred_at": "2026-01-01T10:00:00Z", "duration_seconds": 60, "direction": "inbound", "summary": "Called about results" });
    check(
        &hub,
        &cast,
        "log call in reception conversation",
        Method::POST,
        &format!("/v1/conversations/{r}/calls"),
        Some(call.clone()),
        [
            CREATED,
            CREATED,
            CREATED,
            HIDDEN,
            HIDDEN,
            FORBIDDEN,
            NO_PERMISSION,
            FORBIDDEN,
            // Patients may not log calls at all: the role is refused before anything else.
            FORBIDDEN,
        ],
    )
    .await;
    check(
        &hub,
        &cast,
        "log call in doctor conversation",
        Method::POST,
        &format!("/v1/conversations/{d}/calls"),
        Some(call),
        [
            CREATED,
            HIDDEN,
            HIDDEN,
            CREATED,
            HIDDEN,
            FORBIDDEN,
            NO_PERMISSION,
            FORBIDDEN,
            // Patients may not log calls at all: the role is refused before anything else.
            FORBIDDEN,
        ],
    )
    .await;
    check(
        &hub,
        &cast,
        "archive reception conversation",
        Method::POST,
        &format!("/v1/conversations/{r}/archive"),
        Some(json!({})),
        [
            OK,
            OK,
            OK,
            HIDDEN,
            HIDDEN,
            FORBIDDEN,
            NO_PERMISSION,
            FORBIDDEN,
            HIDDEN,
        ],
    )
    .await;
    check(
        &hub,
        &cast,
        "reopen reception conversation",
        Method::POST,
        &format!("/v1/conversations/{r}/unarchive"),
        Some(json!({})),
        [
            OK,
            OK,
            OK,
            HIDDEN,
            HIDDEN,
            FORBIDDEN,
            NO_PERMISSION,
            FORBIDDEN,
            HIDDEN,
        ],
    )
    .await;

    // Administration.
    let staff = json!({ "name": "Someone", "role": "doctor", "permissions": ["send_messages"] });
    check(
        &hub,
        &cast,
        "register staff",
        Method::POST,
        "/v1/staff",
        Some(staff),
        [
            CREATED,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            NO_PERMISSION,
            FORBIDDEN,
            FORBIDDEN,
        ],
    )
    .await;
    let patient = json!({ "name": "Someone", "portal_enabled": true, "whatsapp_opt_in": false });
    check(
        &hub,
        &cast,
        "register patient",
        Method::POST,
        "/v1/patients",
        Some(patient),
        [
            CREATED,
            CREATED,
            CREATED,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            NO_PERMISSION,
            FORBIDDEN,
            FORBIDDEN,
        ],
    )
    .await;
    // Tokens: the role is judged before the holder is looked up, so only an admin learns
    // whether an id exists (404 for an unknown one); everyone else gets 403 for any id.
    let unknown = "4e2a9c71-8b5d-4f3e-a6c0-2d1b7e9f5a13";
    let (known_staff, _) = hub.staff("Token Holder", "doctor").await;
    let (known_patient, _) = hub.patient("Token Holder").await;
    let refused = |admin: (u16, &'static str)| -> Row {
        [
            admin,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            NO_PERMISSION,
            FORBIDDEN,
            FORBIDDEN,
        ]
    };
    for holder in ["staff", "patients"] {
        let known = if holder == "staff" {
            &known_staff
        } else {
            &known_patient
        };
        for (method, body) in [(Method::POST, Some(json!({}))), (Method::DELETE, None)] {
            check(
                &hub,
                &cast,
                &format!("{method} token of an unknown {holder} id"),
                method.clone(),
                &format!("/v1/{holder}/{unknown}/token"),
                body.clone(),
                refused(HIDDEN),
            )
            .await;
            check(
                &hub,
                &cast,
                &format!("{method} token of a known {holder} id"),
                method,
                &format!("/v1/{holder}/{known}/token"),
                body,
                refused(OK),
            )
            .await;
        }
    }

    // Erasure: admins only; the role is judged before the patient is looked up.
    check(
        &hub,
        &cast,
        "erase an unknown patient",
        Method::POST,
        &format!("/v1/patients/{unknown}/erase"),
        Some(json!({})),
        refused(HIDDEN),
    )
    .await;
    let (erased_patient, _) = hub.patient("To Be Erased").await;
    check(
        &hub,
        &cast,
        "erase a patient",
        Method::POST,
        &format!("/v1/patients/{erased_patient}/erase"),
        Some(json!({})),
        refused(OK),
    )
    .await;

    // Attachments: visible to whoever can see a message carrying them.
    let upload = hub
        .upload(
            &cast.doctor_a,
            "text/plain",
            "note.txt",
            b"take one daily".to_vec(),
        )
        .await;
    let attachment = upload.ok()["id"].as_str().unwrap().to_owned();
    let sent = hub
        .post(&cast.doctor_a, &format!("/v1/conversations/{d}/messages"), json!({ "channel": "portal", "body": "Prescription note", "attachment_ids": [attachment] }))
        .await;
    let position = sent.ok()["position"].as_u64().unwrap();
    hub.get(
        ADMIN,
        &format!("/v1/conversations/{d}?min_position={position}"),
    )
    .await
    .ok();
    let expected = [200, 404, 404, 200, 404, 200, 403, 200, 404];
    for ((who, token), status) in cast.all().into_iter().zip(expected) {
        let (got, _) = hub.download(token, &attachment).await;
        assert_eq!(got.as_u16(), status, "download by {who}");
    }

    // Revoking a permission takes effect at once; granting it back restores access.
    let new_hire = hub.staff("Temp", "receptionist").await;
    hub.post(
        ADMIN,
        &format!("/v1/staff/{}/permissions", new_hire.0),
        json!({ "revoke": ["send_messages"] }),
    )
    .await
    .ok();
    hub.get(&new_hire.1, "/v1/conversations")
        .await
        .err(NO_PERMISSION.0, NO_PERMISSION.1);
    hub.post(
        ADMIN,
        &format!("/v1/staff/{}/permissions", new_hire.0),
        json!({ "grant": ["send_messages"] }),
    )
    .await
    .ok();
    hub.get(&new_hire.1, "/v1/conversations").await.ok();

    // Tokens: missing, forged and revoked tokens are unauthenticated.
    hub.call(Method::GET, "/v1/conversations", None, None)
        .await
        .err(401, "unauthenticated");
    hub.get(
        "hub_s_00000000000000000000000000000000_forgedforgedforgedforged",
        "/v1/conversations",
    )
    .await
    .err(401, "unauthenticated");
    hub.get("not-a-token", "/v1/conversations")
        .await
        .err(401, "unauthenticated");
    let rotated = hub
        .post(ADMIN, &format!("/v1/staff/{}/token", new_hire.0), json!({}))
        .await;
    let new_token = rotated.ok()["token"].as_str().unwrap().to_owned();
    hub.get(&new_hire.1, "/v1/conversations")
        .await
        .err(401, "unauthenticated");
    hub.get(&new_token, "/v1/conversations").await.ok();
}

on_both_backends!(authorization_matrix);
