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

/// Schedules a portal first message to `patient_id` `seconds` ahead as `token`; answers
/// `(conversation_id, message_id)`.
async fn schedule_portal(
    hub: &Hub,
    token: &str,
    patient_id: &str,
    seconds: i64,
) -> (String, String) {
    schedule_portal_at(hub, token, patient_id, &in_seconds(seconds)).await
}

/// Schedules a portal first message to `patient_id` for `send_at` as `token`; answers
/// `(conversation_id, message_id)`.
async fn schedule_portal_at(
    hub: &Hub,
    token: &str,
    patient_id: &str,
    send_at: &str,
) -> (String, String) {
    let scheduled = hub
        .post(
            token,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": "Your results are in", "send_at": send_at }),
        )
        .await;
    assert_eq!(scheduled.status, 201, "{}", scheduled.body);
    let body = scheduled.ok();
    (
        body["conversation_id"].as_str().unwrap().to_owned(),
        body["message_id"].as_str().unwrap().to_owned(),
    )
}

/// The messages of the conversation's timeline with id `message_id` (none while it does not
/// exist).
async fn in_timeline(hub: &Hub, conversation_id: &str, message_id: &str) -> Vec<Value> {
    let timeline = hub
        .get(
            ADMIN,
            &format!("/v1/conversations/{conversation_id}/messages"),
        )
        .await;
    if timeline.status != 200 {
        return Vec::new();
    }
    timeline.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|item| item["id"] == json!(message_id))
        .collect()
}

/// The `MessageSent` events of `message_id` in the log.
async fn sent_events(hub: &Hub, conversation_id: &str, message_id: &str) -> usize {
    let events = hub
        .get(
            ADMIN,
            &format!("/v1/events?stream=conversation-{conversation_id}&limit=200"),
        )
        .await;
    events.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| e["type"] == "MessageSent" && e["data"]["message_id"] == json!(message_id))
        .count()
}

/// The `ScheduledMessageReleased` events of `message_id` on its own stream.
async fn released_events(hub: &Hub, message_id: &str) -> usize {
    let events = hub
        .get(
            ADMIN,
            &format!("/v1/events?stream=scheduled-{message_id}&limit=200"),
        )
        .await;
    events.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| e["type"] == "ScheduledMessageReleased")
        .count()
}

/// The scheduled message as `GET /v1/scheduled` lists it for its patient.
async fn listed(hub: &Hub, patient_id: &str, message_id: &str) -> Option<Value> {
    let list = hub
        .get(
            ADMIN,
            &format!("/v1/scheduled?patient_id={patient_id}&limit=100"),
        )
        .await;
    list.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|item| item["message_id"] == json!(message_id))
}

/// Polls (bounded: about 30 s) until `done` holds for the scheduled message's listing.
async fn wait_for_status(hub: &Hub, patient_id: &str, message_id: &str, status: &str) -> Value {
    for _ in 0..300 {
        if let Some(item) = listed(hub, patient_id, message_id).await {
            if item["status"] == status {
                return item;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "scheduled message {message_id} never became {status}: {:?}",
        listed(hub, patient_id, message_id).await
    )
}

/// Polls (bounded: about 30 s) until the message is in its conversation's timeline.
async fn wait_in_timeline(hub: &Hub, conversation_id: &str, message_id: &str) -> Vec<Value> {
    for _ in 0..300 {
        let found = in_timeline(hub, conversation_id, message_id).await;
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("message {message_id} never entered the timeline")
}

async fn a_due_message_enters_the_timeline_once(backend: Backend) {
    let hub = Hub::start(backend).await;
    let (_, reception) = hub.staff("Rita Reception", "receptionist").await;
    let (patient_id, _) = hub.patient("Pat Doe").await;
    let (conversation_id, message_id) = schedule_portal(&hub, &reception, &patient_id, 2).await;
    let (cancelled_conversation, cancelled) = schedule_portal(&hub, ADMIN, &patient_id, 2).await;
    let cancel = delete(&hub, ADMIN, &format!("/v1/scheduled/{cancelled}")).await;
    assert_eq!(cancel.status, 200, "{}", cancel.body);
    let position = cancel.ok()["position"].as_u64().unwrap();

    // Before its time: listed as pending to those who may see it, soonest first, paged.
    let (_, doctor) = hub.staff("Dora Doctor", "doctor").await;
    let (_, patient) = hub.patient("Pia Patient").await;
    hub.get(&patient, "/v1/scheduled")
        .await
        .err(403, "forbidden");
    let mine = hub
        .get(
            &reception,
            &format!("/v1/scheduled?status=pending&min_position={position}"),
        )
        .await;
    let mine = mine.ok()["items"].as_array().unwrap().clone();
    if let [item] = mine.as_slice() {
        assert_eq!(item["message_id"], json!(message_id));
        assert_eq!(item["body"], "Your results are in");
        assert_eq!(item["channel"], "portal");
        assert!(item["release_at"].is_string() && item["send_at"].is_string());
        assert_eq!(item["author"]["role"], "receptionist");
    } else {
        // Already released on a slow machine: then it is listed as sent.
        assert!(mine.is_empty());
    }
    let hidden = hub
        .get(&doctor, &format!("/v1/scheduled?patient_id={patient_id}"))
        .await;
    assert_eq!(
        hidden.ok()["items"],
        json!([]),
        "a doctor sees no reception message"
    );
    let first = hub
        .get(
            ADMIN,
            &format!("/v1/scheduled?patient_id={patient_id}&limit=1"),
        )
        .await;
    let first = first.ok().clone();
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = hub
        .get(
            ADMIN,
            &format!("/v1/scheduled?patient_id={patient_id}&limit=1&cursor={cursor}"),
        )
        .await;
    let second = second.ok().clone();
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_ne!(
        second["items"][0]["message_id"],
        first["items"][0]["message_id"]
    );
    assert!(second["items"][0]["release_at"].as_str() >= first["items"][0]["release_at"].as_str());

    // Once due it is in the timeline under its id, with scheduled_for, and listed as sent.
    let found = wait_in_timeline(&hub, &conversation_id, &message_id).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0]["scheduled_for"].is_string(), "{found:?}");
    assert!(found[0]["sent_at"].is_string());
    let item = wait_for_status(&hub, &patient_id, &message_id, "sent").await;
    assert_eq!(item["conversation_id"], json!(conversation_id));
    assert_eq!(sent_events(&hub, &conversation_id, &message_id).await, 1);

    // The cancelled one never enters a timeline.
    wait_for_status(&hub, &patient_id, &cancelled, "cancelled").await;
    assert!(in_timeline(&hub, &cancelled_conversation, &cancelled)
        .await
        .is_empty());
    assert_eq!(
        sent_events(&hub, &cancelled_conversation, &cancelled).await,
        0
    );

    // `hub replay` rebuilds the list and the timeline as they were.
    let path = format!("/v1/scheduled?patient_id={patient_id}");
    let before = hub.get(ADMIN, &path).await.ok().clone();
    let timeline = format!("/v1/conversations/{conversation_id}/messages");
    let before_timeline = hub.get(ADMIN, &timeline).await.ok().clone();
    let out = hub.cli(&["replay"]).await;
    assert!(out.contains("rebuilt"), "{out}");
    assert_eq!(hub.get(ADMIN, &path).await.ok(), &before);
    assert_eq!(hub.get(ADMIN, &timeline).await.ok(), &before_timeline);
}

const TWILIO_TOKEN: &str = "twilio-auth-token";
const PUBLIC_URL: &str = "https://hub.clinic.example";

async fn an_sms_patient_who_opts_out_before_the_time_fails_it(backend: Backend) {
    let hub = Hub::start_with(
        backend,
        &[
            "--public-url",
            PUBLIC_URL,
            "--twilio-api-base",
            "http://127.0.0.1:9",
            "--twilio-account-sid",
            "AC0123456789abcdef0123456789abcdef",
            "--twilio-auth-token",
            TWILIO_TOKEN,
            "--twilio-from",
            "+15005550006",
        ],
    )
    .await;
    let (_, reception) = hub.staff("Rita Reception", "receptionist").await;
    let (patient_id, _) = hub.patient("Pat Doe").await;
    let scheduled = hub
        .post(
            &reception,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "sms", "body": "Reminder", "send_at": in_seconds(3) }),
        )
        .await;
    assert_eq!(scheduled.status, 201, "{}", scheduled.body);
    let conversation_id = scheduled.ok()["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message_id = scheduled.ok()["message_id"].as_str().unwrap().to_owned();

    // The patient texts STOP before it is due.
    let path = "/v1/webhooks/twilio/sms";
    let params: Vec<(String, String)> = [
        ("MessageSid", "SM1"),
        ("From", "+4915112345678"),
        ("Body", "STOP"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signature =
        dispatch::inbound::twilio::sign(TWILIO_TOKEN, &format!("{PUBLIC_URL}{path}"), &params);
    let stop = reqwest::Client::new()
        .post(format!("{}{path}", hub.base))
        .header("x-twilio-signature", signature)
        .form(&params)
        .send()
        .await
        .unwrap();
    assert!(stop.status().is_success(), "{}", stop.status());

    let item = wait_for_status(&hub, &patient_id, &message_id, "failed").await;
    assert_eq!(item["failure_reason"], "channel_unavailable");
    assert!(in_timeline(&hub, &conversation_id, &message_id)
        .await
        .is_empty());
    assert_eq!(sent_events(&hub, &conversation_id, &message_id).await, 0);
}

async fn a_hub_down_at_the_time_releases_it_once_when_back(backend: Backend) {
    let mut hub = Hub::start_with(backend, &["--log-format", "json"]).await;
    let (patient_id, _) = hub.patient("Pat Doe").await;
    let (conversation_id, message_id) = schedule_portal(&hub, ADMIN, &patient_id, 2).await;
    // In the read model's list before the kill.
    for _ in 0..100 {
        if listed(&hub, &patient_id, &message_id).await.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // kill -9 before the time, back after it.
    let pid = hub.pid().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    hub.logs.lock().unwrap().clear();
    hub.restart().await;
    let found = wait_in_timeline(&hub, &conversation_id, &message_id).await;
    assert_eq!(found.len(), 1);
    wait_for_status(&hub, &patient_id, &message_id, "sent").await;
    assert_eq!(sent_events(&hub, &conversation_id, &message_id).await, 1);
    // The restarted scheduler started from the read model's list, not from position 0.
    let started: Vec<Value> = hub
        .logs
        .lock()
        .unwrap()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "scheduler following the event log")
        .collect();
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["fields"]["pending"], 1, "{started:?}");
    assert!(started[0]["fields"]["after"].as_u64().unwrap() > 0);
}

/// Messages due around the moment the hub is killed (some released just before, some due
/// while it is down, some due after it is back) are each released exactly once.
async fn a_hub_killed_while_messages_fall_due_releases_each_once(backend: Backend) {
    let mut hub = Hub::start(backend).await;
    let (patient_id, _) = hub.patient("Pat Doe").await;
    // T is far enough ahead for all ten to be scheduled before the first falls due.
    let kill_at = chrono::Utc::now() + chrono::Duration::seconds(4);
    let mut scheduled = Vec::new();
    for step in -5..5i64 {
        let send_at = kill_at + chrono::Duration::milliseconds(step * 60 + 30);
        scheduled.push(schedule_portal_at(&hub, ADMIN, &patient_id, &send_at.to_rfc3339()).await);
    }
    let until_kill = (kill_at - chrono::Utc::now())
        .to_std()
        .expect("scheduling ten messages took less than four seconds");
    tokio::time::sleep(until_kill).await;
    let pid = hub.pid().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    hub.restart().await;

    for (conversation_id, message_id) in &scheduled {
        wait_in_timeline(&hub, conversation_id, message_id).await;
        wait_for_status(&hub, &patient_id, message_id, "sent").await;
    }
    // Give a late duplicate every chance to show (bounded), then count.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    for (conversation_id, message_id) in &scheduled {
        assert_eq!(
            in_timeline(&hub, conversation_id, message_id).await.len(),
            1,
            "{message_id} in the timeline once"
        );
        assert_eq!(
            sent_events(&hub, conversation_id, message_id).await,
            1,
            "{message_id} sent once"
        );
        assert_eq!(
            released_events(&hub, message_id).await,
            1,
            "{message_id} released once"
        );
    }
}

/// Two nodes on one PostgreSQL database both run the scheduler: each message is sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_release_each_message_once() {
    let hub = Hub::start(Backend::Postgres).await;
    let second = hub.second_node().await;
    let (patient_id, _) = hub.patient("Pat Doe").await;
    let mut scheduled = Vec::new();
    for _ in 0..3 {
        scheduled.push(schedule_portal(&second, ADMIN, &patient_id, 2).await);
    }
    for (conversation_id, message_id) in &scheduled {
        let found = wait_in_timeline(&hub, conversation_id, message_id).await;
        assert_eq!(found.len(), 1);
        wait_for_status(&hub, &patient_id, message_id, "sent").await;
    }
    // Give a late duplicate every chance to show (bounded), then count.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    for (conversation_id, message_id) in &scheduled {
        assert_eq!(
            in_timeline(&second, conversation_id, message_id)
                .await
                .len(),
            1
        );
        assert_eq!(sent_events(&hub, conversation_id, message_id).await, 1);
    }
}

async fn a_due_message_of_an_erased_patient_fails_and_sends_nothing(backend: Backend) {
    let hub = Hub::start(backend).await;
    let (_, reception) = hub.staff("Rita Reception", "receptionist").await;
    let (patient_id, _) = hub.patient("Pat Doe").await;
    let (conversation_id, message_id) = schedule_portal(&hub, &reception, &patient_id, 3).await;
    hub.post(
        ADMIN,
        &format!("/v1/patients/{patient_id}/erase"),
        json!({}),
    )
    .await
    .ok();

    let item = wait_for_status(&hub, &patient_id, &message_id, "failed").await;
    assert_eq!(item["failure_reason"], "patient_erased");
    assert_eq!(item["body"], "", "the erased text is not shown: {item}");
    assert!(in_timeline(&hub, &conversation_id, &message_id)
        .await
        .is_empty());
    assert_eq!(sent_events(&hub, &conversation_id, &message_id).await, 0);
}

on_both_backends!(
    a_due_message_enters_the_timeline_once,
    a_due_message_of_an_erased_patient_fails_and_sends_nothing,
    an_sms_patient_who_opts_out_before_the_time_fails_it,
    a_hub_down_at_the_time_releases_it_once_when_back,
    a_hub_killed_while_messages_fall_due_releases_each_once,
    pending_messages_are_cancelled_once,
    quiet_hours_are_set_by_admins_and_read_by_staff,
    patients_carry_a_time_zone,
    sends_with_send_at_are_judged_now_and_written_to_no_timeline,
);
