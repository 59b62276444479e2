//! Message templates end to end (contract section 8), on both backends: admins write them,
//! staff and auditors read them, sends render them, and `hub replay` rebuilds the catalogue.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::{Backend, Hub, ADMIN};

fn reminder() -> Value {
    json!({
        "name": "Appointment reminder",
        "subject": "Your appointment on {{date}}",
        "body": "Dear {{patient_name}}, see you on {{date}} at {{time}}.",
        "whatsapp": {
            "name": "appointment_reminder",
            "language": "en_US",
            "parameters": ["patient_name", "date", "time"]
        }
    })
}

async fn put(hub: &Hub, token: &str, path: &str, body: Value) -> support::Answer {
    hub.call(Method::PUT, path, Some(token), Some(body)).await
}

async fn delete(hub: &Hub, token: &str, path: &str) -> support::Answer {
    hub.call(Method::DELETE, path, Some(token), None).await
}

/// Creates the reminder template as the bootstrap admin; answers its id and the position.
async fn create(hub: &Hub, body: Value) -> (String, u64) {
    let answer = hub.post(ADMIN, "/v1/templates", body).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let body = answer.ok();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["position"].as_u64().unwrap(),
    )
}

async fn templates_are_written_by_admins_and_read_by_staff(backend: Backend) {
    let hub = Hub::start(backend).await;
    let (_, reception) = hub.staff("Rita Reception", "receptionist").await;
    let (_, auditor) = hub.staff("Audrey Auditor", "auditor").await;
    let (_, patient) = hub.patient("Pat Doe").await;

    // Only admins write; an unknown field or a malformed placeholder is refused.
    for token in [&reception, &auditor, &patient] {
        hub.post(token, "/v1/templates", reminder())
            .await
            .err(403, "forbidden");
    }
    let mut unknown_field = reminder();
    unknown_field["colour"] = json!("blue");
    hub.post(ADMIN, "/v1/templates", unknown_field)
        .await
        .err(400, "invalid_request");
    let malformed = hub
        .post(
            ADMIN,
            "/v1/templates",
            json!({ "name": "Bad", "body": "Hi {{ Name }}" }),
        )
        .await;
    malformed.err(400, "invalid_request");
    assert!(
        malformed.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("{{ Name }}"),
        "{}",
        malformed.body
    );

    // Created at version 1; staff and auditors read it, patients do not.
    let answer = hub.post(ADMIN, "/v1/templates", reminder()).await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.ok()["version"], 1);
    let id = answer.ok()["id"].as_str().unwrap().to_owned();
    let position = answer.ok()["position"].as_u64().unwrap();
    let shown = hub
        .get(
            &reception,
            &format!("/v1/templates/{id}?min_position={position}"),
        )
        .await;
    assert_eq!(
        shown.ok(),
        &json!({
            "id": id,
            "name": "Appointment reminder",
            "version": 1,
            "subject": "Your appointment on {{date}}",
            "body": "Dear {{patient_name}}, see you on {{date}} at {{time}}.",
            "whatsapp": {
                "name": "appointment_reminder",
                "language": "en_US",
                "parameters": ["patient_name", "date", "time"]
            },
            "variables": ["date", "patient_name", "time"],
            "retired": false
        })
    );
    let listed = hub.get(&auditor, "/v1/templates").await;
    assert_eq!(listed.ok()["items"][0], shown.body);
    hub.get(&patient, "/v1/templates")
        .await
        .err(403, "forbidden");
    hub.get(&patient, &format!("/v1/templates/{id}"))
        .await
        .err(403, "forbidden");
    let nobody = "00000000-0000-4000-8000-000000000000";
    hub.get(&reception, &format!("/v1/templates/{nobody}"))
        .await
        .err(404, "not_found");

    // A new version; the same content again keeps it.
    let mut second = reminder();
    second["body"] = json!("Hello {{patient_name}}: {{date}}, {{time}}.");
    for _ in 0..2 {
        let revised = put(&hub, ADMIN, &format!("/v1/templates/{id}"), second.clone()).await;
        assert_eq!(revised.ok()["version"], 2, "{}", revised.body);
    }
    put(
        &hub,
        &reception,
        &format!("/v1/templates/{id}"),
        second.clone(),
    )
    .await
    .err(403, "forbidden");
    put(
        &hub,
        ADMIN,
        &format!("/v1/templates/{nobody}"),
        second.clone(),
    )
    .await
    .err(404, "not_found");

    // Retired: still readable, marked retired.
    delete(&hub, &reception, &format!("/v1/templates/{id}"))
        .await
        .err(403, "forbidden");
    let retired = delete(&hub, ADMIN, &format!("/v1/templates/{id}")).await;
    assert_eq!(retired.ok()["version"], 2);
    let position = retired.ok()["position"].as_u64().unwrap();
    let shown = hub
        .get(
            &reception,
            &format!("/v1/templates/{id}?min_position={position}"),
        )
        .await;
    assert_eq!(shown.ok()["retired"], true);
    assert_eq!(
        shown.ok()["body"],
        "Hello {{patient_name}}: {{date}}, {{time}}."
    );

    // Pages in creation order.
    let (later, position) = create(&hub, json!({ "name": "Short", "body": "Hi!" })).await;
    let first = hub
        .get(
            &reception,
            &format!("/v1/templates?limit=1&min_position={position}"),
        )
        .await;
    assert_eq!(first.ok()["items"][0]["id"], id.as_str());
    let cursor = first.ok()["next_cursor"].as_str().unwrap().to_owned();
    let rest = hub
        .get(
            &reception,
            &format!("/v1/templates?limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(rest.ok()["items"][0]["id"], later.as_str());
    assert_eq!(rest.ok()["next_cursor"], Value::Null);

    // `hub replay` rebuilds the catalogue.
    let before = hub.get(&reception, "/v1/templates").await.ok().clone();
    let out = hub.cli(&["replay"]).await;
    assert!(out.contains("rebuilt"), "{out}");
    assert_eq!(hub.get(&reception, "/v1/templates").await.ok(), &before);
}

async fn messages_are_written_from_templates(backend: Backend) {
    let hub = Hub::start(backend).await;
    let (_, reception) = hub.staff("Rita Reception", "receptionist").await;
    let (patient_id, patient) = hub.patient("Pat Doe").await;
    let (id, _) = create(&hub, reminder()).await;
    let variables = json!({ "date": "2 June", "time": "09:30" });

    // A first message from the template: rendered with the patient's name from the record.
    let started = hub
        .post(
            &reception,
            "/v1/messages",
            json!({
                "patient_id": patient_id,
                "channel": "email",
                "template": { "id": id, "variables": variables }
            }),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.body);
    let conversation = started.ok()["conversation_id"].as_str().unwrap().to_owned();
    let message = started.ok()["message_id"].as_str().unwrap().to_owned();
    let position = started.ok()["position"].as_u64().unwrap();
    let shown = hub
        .get(
            &patient,
            &format!("/v1/messages/{message}?min_position={position}"),
        )
        .await;
    assert_eq!(shown.ok()["subject"], "Your appointment on 2 June");
    assert_eq!(
        shown.ok()["body"],
        "Dear Pat Doe, see you on 2 June at 09:30."
    );
    assert_eq!(shown.ok()["template"], json!({ "id": id, "version": 1 }));

    // Refusals: both text and template, missing or unknown variables, `patient_name` passed.
    let reply_path = format!("/v1/conversations/{conversation}/messages");
    let both = hub
        .post(
            &reception,
            &reply_path,
            json!({ "channel": "portal", "body": "Hi", "template": { "id": id, "variables": variables } }),
        )
        .await;
    both.err(400, "invalid_request");
    assert!(
        both.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("template"),
        "{}",
        both.body
    );
    let missing = hub
        .post(
            &reception,
            &reply_path,
            json!({ "channel": "portal", "template": { "id": id, "variables": { "date": "2 June", "room": "3" } } }),
        )
        .await;
    missing.err(400, "invalid_request");
    let text = missing.body["error"]["message"].as_str().unwrap();
    assert!(text.contains("time") && text.contains("room"), "{text}");
    hub.post(
        &reception,
        &reply_path,
        json!({ "channel": "portal", "template": { "id": id, "variables": { "date": "x", "time": "y", "patient_name": "Eve" } } }),
    )
    .await
    .err(400, "invalid_request");
    hub.post(
        &reception,
        &reply_path,
        json!({ "channel": "portal", "template": { "id": "00000000-0000-4000-8000-000000000000", "variables": {} } }),
    )
    .await
    .err(404, "not_found");
    hub.post(
        &reception,
        &reply_path,
        json!({ "channel": "portal", "template": { "id": id, "variables": variables, "extra": 1 } }),
    )
    .await
    .err(400, "invalid_request");

    // A reply from a revised template records the new version; the first message keeps its own.
    let mut revised = reminder();
    revised["body"] = json!("Reminder for {{patient_name}}: {{date}} {{time}}.");
    put(&hub, ADMIN, &format!("/v1/templates/{id}"), revised)
        .await
        .ok();
    let replied = hub
        .post(
            &reception,
            &reply_path,
            json!({ "channel": "portal", "template": { "id": id, "variables": variables } }),
        )
        .await;
    assert_eq!(replied.status, 201, "{}", replied.body);
    let position = replied.ok()["position"].as_u64().unwrap();
    let timeline = hub
        .get(&reception, &format!("{reply_path}?min_position={position}"))
        .await;
    let items = timeline.ok()["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["template"]["version"], 1);
    assert_eq!(items[1]["template"], json!({ "id": id, "version": 2 }));
    assert_eq!(items[1]["body"], "Reminder for Pat Doe: 2 June 09:30.");

    // Written messages carry no template; a retired template is not found.
    let plain = hub
        .post(
            &reception,
            &reply_path,
            json!({ "channel": "portal", "body": "See you!" }),
        )
        .await;
    let plain_id = plain.ok()["message_id"].as_str().unwrap().to_owned();
    let position = plain.ok()["position"].as_u64().unwrap();
    let shown = hub
        .get(
            &reception,
            &format!("/v1/messages/{plain_id}?min_position={position}"),
        )
        .await;
    assert_eq!(shown.ok()["template"], Value::Null);
    delete(&hub, ADMIN, &format!("/v1/templates/{id}"))
        .await
        .ok();
    hub.post(
        &reception,
        &reply_path,
        json!({ "channel": "portal", "template": { "id": id, "variables": variables } }),
    )
    .await
    .err(404, "not_found");
}

on_both_backends!(
    templates_are_written_by_admins_and_read_by_staff,
    messages_are_written_from_templates,
);
