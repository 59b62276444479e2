//! Quiet hours and scheduled messages end to end (contract section 8), on both backends:
//! admins set quiet hours and staff read them, patients carry a time zone, and scheduled
//! messages are released once when due.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::{Backend, Hub, ADMIN};

async fn put(hub: &Hub, token: &str, path: &str, body: Value) -> support::Answer {
    hub.call(Method::PUT, path, Some(token), Some(body)).await
}

async fn patch(hub: &Hub, token: &str, path: &str, body: Value) -> support::Answer {
    hub.call(Method::PATCH, path, Some(token), Some(body)).await
}

fn night() -> Value {
    json!({ "start": "22:00", "end": "07:00", "time_zone": "Europe/Berlin", "channels": ["sms", "email"] })
}

async fn quiet_hours_are_set_by_admins_and_read_by_staff(backend: Backend) {
    let hub = Hub::start(backend).await;
    let (_, reception) = hub.staff("Rita Reception", "receptionist").await;
    let (_, auditor) = hub.staff("Audrey Auditor", "auditor").await;
    let (_, patient) = hub.patient("Pat Doe").await;

    // Default: none.
    let none = hub.get(&reception, "/v1/settings/quiet-hours").await;
    assert_eq!(
        none.ok(),
        &json!({ "start": null, "end": null, "time_zone": null, "channels": [], "position": null })
    );
    hub.get(&patient, "/v1/settings/quiet-hours")
        .await
        .err(403, "forbidden");

    // Only admins write.
    for token in [&reception, &auditor, &patient] {
        put(&hub, token, "/v1/settings/quiet-hours", night())
            .await
            .err(403, "forbidden");
    }
    // Strict values, each refusal naming its field.
    for (field, value) in [
        ("start", json!("7:00")),
        ("end", json!("24:00")),
        ("time_zone", json!("Mars/Olympus")),
        ("channels", json!([])),
        ("channels", json!(["call"])),
        ("channels", json!(["pigeon"])),
    ] {
        let mut body = night();
        body[field] = value;
        let refused = put(&hub, ADMIN, "/v1/settings/quiet-hours", body).await;
        refused.err(400, "invalid_request");
        let message = refused.body["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains(field) || field == "channels",
            "{field}: {message}"
        );
    }
    let mut unknown = night();
    unknown["colour"] = json!("blue");
    put(&hub, ADMIN, "/v1/settings/quiet-hours", unknown)
        .await
        .err(400, "invalid_request");

    let set = put(&hub, ADMIN, "/v1/settings/quiet-hours", night()).await;
    let set = set.ok();
    assert_eq!(set["start"], "22:00");
    assert_eq!(set["channels"], json!(["sms", "email"]));
    let position = set["position"].as_u64().unwrap();
    for token in [&reception, &auditor] {
        let shown = hub
            .get(
                token,
                &format!("/v1/settings/quiet-hours?min_position={position}"),
            )
            .await;
        let shown = shown.ok();
        assert_eq!(shown["start"], "22:00");
        assert_eq!(shown["end"], "07:00");
        assert_eq!(shown["time_zone"], "Europe/Berlin");
        assert_eq!(shown["channels"], json!(["sms", "email"]));
    }
}

async fn patients_carry_a_time_zone(backend: Backend) {
    let hub = Hub::start(backend).await;
    let registered = hub
        .post(
            ADMIN,
            "/v1/patients",
            json!({ "name": "Zoe Zone", "portal_enabled": true, "time_zone": "America/New_York" }),
        )
        .await;
    let id = registered.ok()["id"].as_str().unwrap().to_owned();
    let shown = hub.get(ADMIN, &format!("/v1/patients/{id}")).await;
    assert_eq!(shown.ok()["time_zone"], "America/New_York");

    let refused = hub
        .post(
            ADMIN,
            "/v1/patients",
            json!({ "name": "Bad Zone", "portal_enabled": true, "time_zone": "Nowhere/Land" }),
        )
        .await;
    refused.err(400, "invalid_request");
    assert!(refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("time_zone"));
    patch(
        &hub,
        ADMIN,
        &format!("/v1/patients/{id}"),
        json!({ "time_zone": "CEST" }),
    )
    .await
    .err(400, "invalid_request");

    let changed = patch(
        &hub,
        ADMIN,
        &format!("/v1/patients/{id}"),
        json!({ "time_zone": "Asia/Tokyo" }),
    )
    .await;
    assert_eq!(changed.ok()["time_zone"], "Asia/Tokyo");
    let cleared = patch(
        &hub,
        ADMIN,
        &format!("/v1/patients/{id}"),
        json!({ "time_zone": null }),
    )
    .await;
    assert_eq!(cleared.ok()["time_zone"], Value::Null);
    // Other fields leave it as it is.
    let kept = patch(
        &hub,
        ADMIN,
        &format!("/v1/patients/{id}"),
        json!({ "time_zone": "Asia/Tokyo" }),
    )
    .await;
    kept.ok();
    let renamed = patch(
        &hub,
        ADMIN,
        &format!("/v1/patients/{id}"),
        json!({ "name": "Zoe Z." }),
    )
    .await;
    assert_eq!(renamed.ok()["time_zone"], "Asia/Tokyo");
}

/// An RFC 3339 time `seconds` from now.
fn in_seconds(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339()
}

async fn sends_with_send_at_are_judged_now_and_written_to_no_timeline(backend: Backend) {
    let hub = Hub::start(backend).await;
    let (_, reception) = hub.staff("Rita Reception", "receptionist").await;
    let (patient_id, patient) = hub.patient("Pat Doe").await;
    let send_at = in_seconds(3600);

    // A first message: 201 with the conversation it will start, and nothing in any timeline.
    let scheduled = hub
        .post(
            &reception,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": "Reminder", "send_at": send_at }),
        )
        .await;
    assert_eq!(scheduled.status, 201, "{}", scheduled.body);
    let body = scheduled.ok().clone();
    let conversation_id = body["conversation_id"].as_str().unwrap().to_owned();
    assert!(body["message_id"].is_string());
    assert!(body["send_at"].is_string());
    let position = body["position"].as_u64().unwrap();
    let conversations = hub
        .get(
            &reception,
            &format!("/v1/conversations?min_position={position}"),
        )
        .await;
    assert_eq!(conversations.ok()["items"], json!([]));
    hub.get(&reception, &format!("/v1/conversations/{conversation_id}"))
        .await
        .err(404, "not_found");

    // The usual rules at once: a bad send_at, a past one, a channel the patient lacks, a patient.
    for bad in [
        json!("tomorrow"),
        json!(in_seconds(-60)),
        json!(in_seconds(400 * 86_400)),
    ] {
        hub.post(
            &reception,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": "x", "send_at": bad }),
        )
        .await
        .err(400, "invalid_request");
    }
    let no_phone = hub
        .post(
            ADMIN,
            "/v1/patients",
            json!({ "name": "No Phone", "portal_enabled": true }),
        )
        .await;
    let no_phone = no_phone.ok()["id"].as_str().unwrap().to_owned();
    hub.post(
        &reception,
        "/v1/messages",
        json!({ "patient_id": no_phone, "channel": "sms", "body": "x", "send_at": send_at }),
    )
    .await
    .err(422, "channel_unavailable");

    // A reply: 201 with the message id, and the timeline keeps only the first message.
    let started = hub
        .post(
            &reception,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": "Hello" }),
        )
        .await;
    let started = started.ok()["conversation_id"].as_str().unwrap().to_owned();
    let reply = hub
        .post(
            &reception,
            &format!("/v1/conversations/{started}/messages"),
            json!({ "channel": "portal", "body": "Later", "send_at": send_at }),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let position = reply.ok()["position"].as_u64().unwrap();
    let timeline = hub
        .get(
            &reception,
            &format!("/v1/conversations/{started}/messages?min_position={position}"),
        )
        .await;
    assert_eq!(timeline.ok()["items"].as_array().unwrap().len(), 1);
    hub.post(
        &patient,
        &format!("/v1/conversations/{started}/messages"),
        json!({ "channel": "portal", "body": "Later", "send_at": send_at }),
    )
    .await
    .err(403, "forbidden");
}

async fn delete(hub: &Hub, token: &str, path: &str) -> support::Answer {
    hub.call(Method::DELETE, path, Some(token), None).await
}

async fn pending_messages_are_cancelled_once(backend: Backend) {
    let hub = Hub::start(backend).await;
    let (_, reception) = hub.staff("Rita Reception", "receptionist").await;
    let (_, doctor) = hub.staff("Dora Doctor", "doctor").await;
    let (_, auditor) = hub.staff("Audrey Auditor", "auditor").await;
    let (patient_id, _) = hub.patient("Pat Doe").await;
    let scheduled = hub
        .post(
            &doctor,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": "Results", "send_at": in_seconds(3600) }),
        )
        .await;
    let message_id = scheduled.ok()["message_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/scheduled/{message_id}");

    // Others who may not write in the conversation it starts do not see it; auditors are read-only.
    delete(&hub, &reception, &path).await.err(404, "not_found");
    delete(&hub, &auditor, &path).await.err(403, "forbidden");
    delete(
        &hub,
        &doctor,
        "/v1/scheduled/00000000-0000-0000-0000-000000000001",
    )
    .await
    .err(404, "not_found");

    let cancelled = delete(&hub, &doctor, &path).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.ok()["message_id"], json!(message_id));
    delete(&hub, &doctor, &path).await.err(409, "not_pending");
    delete(&hub, ADMIN, &path).await.err(409, "not_pending");
}

on_both_backends!(
    pending_messages_are_cancelled_once,
    quiet_hours_are_set_by_admins_and_read_by_staff,
    patients_carry_a_time_zone,
    sends_with_send_at_are_judged_now_and_written_to_no_timeline,
);
