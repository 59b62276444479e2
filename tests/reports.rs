//! Reports over HTTP: `GET /v1/reports/summary` after messages, a reply, a call log and an
//! unanswered message; `hub replay --projection` rebuilding one projection in place while the
//! hub keeps serving, and refusing what it cannot do. (A module of the `api` test binary.)

use serde_json::{json, Value};

use crate::support::{Backend, Hub, ADMIN};

/// The summary of the last 30 days once the reports include `position`.
async fn summary(hub: &Hub, position: u64) -> Value {
    hub.get(
        ADMIN,
        &format!("/v1/reports/summary?days=30&min_position={position}"),
    )
    .await
    .ok()
    .clone()
}

/// One channel's totals in a summary.
fn channel<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == name)
        .unwrap_or_else(|| panic!("no {name} in {summary}"))
}

async fn summary_and_one_projection_replayed(backend: Backend) {
    let hub = Hub::start(backend).await;
    let (_, reception) = hub.staff("Rita Reception", "receptionist").await;
    let (patient_id, patient) = hub.patient("Paula Patient").await;

    // Empty at first: every channel listed with zeros, no percentile, no backlog.
    let empty = summary(&hub, 0).await;
    assert_eq!(empty["days"], 30);
    assert_eq!(empty["channels"].as_array().unwrap().len(), 5);
    assert_eq!(empty["first_response"]["median_seconds"], Value::Null);
    assert_eq!(empty["backlog"]["messages"], 0);
    assert_eq!(empty["backlog"]["oldest_age_seconds"], Value::Null);

    // The patient writes twice, reception answers both with one reply, then sends an SMS
    // (no provider: it stays queued) and logs a call; the patient writes once more.
    let first = hub
        .post(
            &patient,
            "/v1/messages",
            json!({ "to": "reception", "channel": "portal", "body": "Can I move my appointment?" }),
        )
        .await
        .ok()
        .clone();
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();
    let thread = format!("/v1/conversations/{conversation}");
    let write = |token: &str, channel: &str, body: &str| {
        let (token, body) = (token.to_owned(), body.to_owned());
        let (hub, path) = (&hub, format!("{thread}/messages"));
        let message = json!({ "channel": channel, "body": body });
        async move {
            hub.post(&token, &path, message).await.ok()["position"]
                .as_u64()
                .unwrap()
        }
    };
    write(&patient, "portal", "Or cancel it?").await;
    write(&reception, "portal", "Moved to Friday.").await;
    write(&reception, "sms", "Reminder: Friday 9:30").await;
    hub.post(
        &reception,
        &format!("{thread}/calls"),
        json!({
            "occurred_at": chrono::Utc::now().to_rfc3339(),
            "duration_seconds": 90,
            "direction": "outbound",
            "summary": "Called to confirm",
        }),
    )
    .await
    .ok();
    let position = write(&patient, "portal", "Thank you!").await;

    let figures = summary(&hub, position).await;
    let portal = channel(&figures, "portal");
    assert_eq!(
        (portal["inbound"].as_u64(), portal["outbound"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(
        portal["delivered"], 1,
        "a stored portal message is delivered"
    );
    let sms = channel(&figures, "sms");
    assert_eq!(
        (sms["outbound"].as_u64(), sms["queued"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(channel(&figures, "call")["outbound"], 1);
    assert_eq!(
        channel(&figures, "call")["queued"],
        0,
        "call logs have no delivery status"
    );
    let first_response = &figures["first_response"];
    assert_eq!(
        first_response["answered"], 2,
        "one reply answers both messages"
    );
    assert_eq!(first_response["unanswered"], 1);
    assert!(first_response["median_seconds"].as_u64().unwrap() < 60);
    assert!(first_response["p90_seconds"].is_u64());
    let backlog = &figures["backlog"];
    assert_eq!(
        (
            backlog["conversations"].as_u64(),
            backlog["messages"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert!(backlog["oldest_age_seconds"].as_u64().unwrap() < 60);
    let today = chrono::Utc::now().date_naive().to_string();
    assert_eq!(figures["to"], today.as_str());
    assert!(figures["daily"]
        .as_array()
        .unwrap()
        .iter()
        .all(|row| row["day"] == today.as_str()));
    // No patient data in the answer.
    let text = figures.to_string();
    for personal in [
        "Paula",
        "appointment",
        "Friday",
        patient_id.as_str(),
        conversation.as_str(),
    ] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }

    // An archived conversation leaves the backlog; its unanswered message stays counted.
    let archived = hub
        .post(&reception, &format!("{thread}/archive"), json!({}))
        .await
        .ok()["position"]
        .as_u64()
        .unwrap();
    let after_archive = summary(&hub, archived).await;
    assert_eq!(after_archive["backlog"]["messages"], 0);
    assert_eq!(after_archive["first_response"]["unanswered"], 1);

    // `hub replay --projection reporting` rebuilds the same figures in place.
    let out = hub.cli(&["replay", "--projection", "reporting"]).await;
    assert!(
        out.contains("rebuilt the live `reporting` read models up to position"),
        "{out}"
    );
    assert_eq!(summary(&hub, archived).await, after_archive);
    // The inbox rebuilt alone answers as before, and a write after it is read back.
    let inbox = hub
        .get(&reception, &format!("{thread}/messages"))
        .await
        .ok()
        .clone();
    let out = hub.cli(&["replay", "--projection", "inbox"]).await;
    assert!(out.contains("`inbox`"), "{out}");
    assert_eq!(
        hub.get(&reception, &format!("{thread}/messages"))
            .await
            .ok(),
        &inbox
    );
    let reopened = write(&reception, "portal", "See you on Friday").await;
    let after = summary(&hub, reopened).await;
    assert_eq!(channel(&after, "portal")["outbound"], 2);

    // What it cannot do is refused, naming the choices.
    let unknown = hub.cli_output(&["replay", "--projection", "bogus"]).await;
    assert!(!unknown.status.success());
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(said.contains("inbox, patients, reporting"), "{said}");
    let both = hub
        .cli_output(&["replay", "--projection", "reporting", "--into", "copy"])
        .await;
    assert!(!both.status.success());

    // Windows: 1 to 366 days.
    for bad in ["0", "367", "-1", "thirty"] {
        hub.get(ADMIN, &format!("/v1/reports/summary?days={bad}"))
            .await
            .err(400, "invalid_request");
    }
    let one_day = hub
        .get(ADMIN, "/v1/reports/summary?days=1")
        .await
        .ok()
        .clone();
    assert_eq!(one_day["from"], one_day["to"]);
}

crate::on_both_backends!(summary_and_one_projection_replayed);
