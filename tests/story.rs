//! A patient's whole story, end to end over HTTP, on both backends.

mod support;

use serde_json::json;
use support::{Backend, Hub, ADMIN};

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

async fn patient_story(backend: Backend) {
    let hub = Hub::start(backend).await;
    let (_, reception) = hub.staff("Rita Reception", "receptionist").await;
    let (doctor_id, doctor) = hub.staff("Dr. Dora", "doctor").await;
    let (patient_id, patient) = hub.patient("Pat Patient").await;

    // The patient writes to reception through the portal.
    let first = hub
        .post(
            &patient,
            "/v1/messages",
            json!({ "to": "reception", "channel": "portal", "body": "Can I move my appointment?" }),
        )
        .await;
    let first = first.ok().clone();
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();
    let position = first["position"].as_u64().unwrap();
    assert!(position > 0);

    // Reception sees it unread and answers by SMS.
    let inbox = hub
        .get(
            &reception,
            &format!("/v1/conversations?min_position={position}"),
        )
        .await;
    let items = inbox.ok()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], conversation.as_str());
    assert_eq!(items[0]["status"], "unread");
    assert_eq!(items[0]["counterpart"], "reception");
    assert_eq!(items[0]["unread_count"], 1);
    // The clinic owes the reply: the "needs reply" filter finds it, the other side's does not.
    assert_eq!(items[0]["awaiting"], "clinic");
    let awaiting = |side: &'static str| {
        let (hub, reception) = (&hub, &reception);
        async move {
            let list = hub
                .get(reception, &format!("/v1/conversations?awaiting={side}"))
                .await;
            list.ok()["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(awaiting("clinic").await, 1);
    assert_eq!(awaiting("patient").await, 0);
    hub.get(&reception, "/v1/conversations?awaiting=nobody")
        .await
        .err(400, "invalid_request");
    let reply = hub
        .post(
            &reception,
            &format!("/v1/conversations/{conversation}/messages"),
            json!({ "channel": "sms", "body": "Yes, Tuesday 10:00 works." }),
        )
        .await;
    let reply = reply.ok().clone();
    let sms_id = reply["message_id"].as_str().unwrap().to_owned();

    // A document goes out by portal.
    let upload = hub
        .upload(&reception, "application/pdf", "referral.pdf", PDF.to_vec())
        .await;
    let attachment = upload.ok()["id"].as_str().unwrap().to_owned();
    assert_eq!(upload.body["size"], PDF.len());
    let document = hub
        .post(
            &reception,
            &format!("/v1/conversations/{conversation}/messages"),
            json!({ "channel": "portal", "body": "Your referral letter.", "attachment_ids": [attachment] }),
        )
        .await;
    let position = document.ok()["position"].as_u64().unwrap();

    // The patient reads its timeline, oldest first, and downloads the document.
    let timeline = hub
        .get(
            &patient,
            &format!("/v1/conversations/{conversation}/messages?min_position={position}"),
        )
        .await;
    let entries = timeline.ok()["items"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 3);
    assert_eq!(awaiting("patient").await, 1);
    assert_eq!(awaiting("clinic").await, 0);
    assert_eq!(entries[0]["direction"], "inbound");
    assert_eq!(entries[0]["status"], "replied");
    assert_eq!(entries[1]["id"], sms_id.as_str());
    assert_eq!(entries[1]["channel"], "sms");
    assert_eq!(entries[1]["delivery_status"], "queued");
    assert_eq!(entries[2]["delivery_status"], "delivered");
    assert_eq!(entries[2]["attachments"][0]["filename"], "referral.pdf");
    let (status, bytes) = hub.download(&patient, &attachment).await;
    assert_eq!(status.as_u16(), 200);
    assert_eq!(bytes, PDF);
    let read = hub
        .post(&patient, &format!("/v1/messages/{sms_id}/read"), json!({}))
        .await;
    read.ok();

    // The doctor opens a thread and cannot open a second.
    let thread = hub
        .post(&doctor, "/v1/messages", json!({ "patient_id": patient_id, "channel": "email", "subject": "Lab results", "body": "Your lab results are in." }))
        .await;
    let thread = thread.ok()["conversation_id"].as_str().unwrap().to_owned();
    let second = hub
        .post(
            &doctor,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": "One more thing." }),
        )
        .await;
    second.err(409, "conversation_exists");
    assert_eq!(second.body["error"]["conversation_id"], thread.as_str());

    // The patient answers the doctor's thread; reception cannot see it.
    hub.post(
        &patient,
        &format!("/v1/conversations/{thread}/messages"),
        json!({ "channel": "portal", "body": "Thank you, doctor." }),
    )
    .await
    .ok();
    hub.get(&reception, &format!("/v1/conversations/{thread}"))
        .await
        .err(404, "not_found");

    // A call is logged, then the conversation is archived.
    let call = hub
        .post(
            &reception,
            &format!("/v1/conversations/{conversation}/calls"),
            json!({ "occurred_at": "2026-01-05T09:30:00Z", "duration_seconds": 240, "direction": "outbound", "summary": "Confirmed the physiotherapy slot." }),
        )
        .await;
    let call_id = call.ok()["message_id"].as_str().unwrap().to_owned();
    let call_position = call.body["position"].as_u64().unwrap();
    // The call log is the clinic's record: the patient sees it nowhere.
    let at = format!("min_position={call_position}");
    let mine = hub
        .get(
            &patient,
            &format!("/v1/conversations/{conversation}/messages?{at}"),
        )
        .await;
    assert!(mine.ok()["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["channel"] != "call"));
    let listed = hub.get(&patient, &format!("/v1/conversations?{at}")).await;
    let listed = listed.ok()["items"].as_array().unwrap().clone();
    assert!(listed
        .iter()
        .all(|c| c["latest_message"]["channel"] != "call"));
    let searched = hub
        .get(&patient, &format!("/v1/messages?q=physiotherapy&{at}"))
        .await;
    assert_eq!(searched.ok()["items"].as_array().unwrap().len(), 0);
    let by_channel = hub
        .get(&patient, &format!("/v1/conversations?channel=call&{at}"))
        .await;
    assert_eq!(by_channel.ok()["items"].as_array().unwrap().len(), 0);
    hub.get(&patient, &format!("/v1/messages/{call_id}?{at}"))
        .await
        .err(404, "not_found");
    hub.post(&patient, &format!("/v1/messages/{call_id}/read"), json!({}))
        .await
        .err(404, "not_found");
    let archived = hub
        .post(
            &reception,
            &format!("/v1/conversations/{conversation}/archive"),
            json!({}),
        )
        .await;
    let position = archived.ok()["position"].as_u64().unwrap();

    // Archived, it is found again by search, with its status.
    let found = hub
        .get(
            &reception,
            &format!("/v1/conversations?q=physiotherapy&min_position={position}"),
        )
        .await;
    let found = found.ok()["items"].as_array().unwrap().clone();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], conversation.as_str());
    assert_eq!(found[0]["status"], "archived");
    assert_eq!(found[0]["latest_message"]["call"]["duration_seconds"], 240);
    // Each word also matches as the start of a longer one, in any case.
    let by_prefix = hub
        .get(
            &reception,
            &format!("/v1/conversations?q=PHYSIO&min_position={position}"),
        )
        .await;
    assert_eq!(by_prefix.ok()["items"].as_array().unwrap().len(), 1);
    let archived_list = hub
        .get(
            &reception,
            &format!("/v1/conversations?status=archived&min_position={position}"),
        )
        .await;
    assert_eq!(archived_list.ok()["items"].as_array().unwrap().len(), 1);

    // A new message reopens it.
    let reopened = hub
        .post(
            &patient,
            &format!("/v1/conversations/{conversation}/messages"),
            json!({ "channel": "portal", "body": "See you Tuesday." }),
        )
        .await;
    let position = reopened.ok()["position"].as_u64().unwrap();
    let view = hub
        .get(
            &reception,
            &format!("/v1/conversations/{conversation}?min_position={position}"),
        )
        .await;
    let view = view.ok().clone();
    assert_eq!(view["archived"], false);
    assert_eq!(view["status"], "unread");

    // The doctor sees only its own thread; the event log tells the whole story to an auditor.
    let doctors = hub
        .get(
            &doctor,
            &format!("/v1/conversations?min_position={position}"),
        )
        .await;
    let doctors = doctors.ok()["items"].as_array().unwrap().clone();
    assert_eq!(doctors.len(), 1);
    assert_eq!(doctors[0]["id"], thread.as_str());
    assert!(doctors[0]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == doctor_id.as_str()));
    let events = hub
        .get(
            ADMIN,
            &format!("/v1/events?stream=conversation-{conversation}&limit=200"),
        )
        .await;
    let types: Vec<String> = events.ok()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    for expected in [
        "ConversationStarted",
        "MessageSent",
        "StatusChanged",
        "CallLogged",
        "ConversationArchived",
        "ConversationReopened",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "{expected} missing from {types:?}"
        );
    }
}

on_both_backends!(patient_story);
