//! Contract section 9, the hash chain: every event carries `hash`, the head is served to
//! admins and auditors, and `hub audit verify` finds an event changed or deleted straight in
//! the database. (A module of the `api` test binary.)

use serde_json::{json, Value};

use crate::support::{Backend, Hub, ADMIN};

/// The whole event log through the API.
async fn all_events(hub: &Hub) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = hub
            .get(ADMIN, &format!("/v1/events?after={after}&limit=100"))
            .await;
        let items = page.ok()["items"].as_array().unwrap().clone();
        let Some(last) = items.last() else { break };
        after = last["position"].as_u64().unwrap();
        events.extend(items);
    }
    events
}

/// What `hub audit verify` printed and whether it succeeded.
async fn verify(hub: &Hub, args: &[&str]) -> (bool, String) {
    let output = hub.cli_output(&[&["audit", "verify"], args].concat()).await;
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

async fn the_chain_verifies_and_finds_changes_and_deletions(backend: Backend) {
    let hub = Hub::start(backend).await;
    let (_, receptionist) = hub.staff("Rita Reception", "receptionist").await;
    let (_, auditor) = hub.staff("Avery Audit", "auditor").await;
    let (patient_id, _) = hub.patient("Pat Doe").await;
    hub.post(
        &receptionist,
        "/v1/messages",
        json!({ "patient_id": patient_id, "channel": "portal", "body": "Your results are in." }),
    )
    .await
    .ok();

    let events = all_events(&hub).await;
    assert!(events.len() >= 5, "{events:?}");
    let mut hashes = std::collections::HashSet::new();
    for event in &events {
        let hash = event["hash"].as_str().unwrap();
        assert_eq!(hash.len(), 64);
        assert!(hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert!(hashes.insert(hash.to_owned()), "every hash differs");
    }
    let last = events.last().unwrap();
    for token in [ADMIN, auditor.as_str()] {
        let head = hub.get(token, "/v1/audit/head").await;
        assert_eq!(
            head.ok(),
            &json!({ "position": last["position"], "hash": last["hash"] })
        );
    }
    hub.get(&receptionist, "/v1/audit/head")
        .await
        .err(403, "forbidden");
    hub.get("not-a-token", "/v1/audit/head")
        .await
        .err(401, "unauthenticated");
    let listed = hub.cli(&["events"]).await;
    let first: Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(
        first["hash"], events[0]["hash"],
        "`hub events` carries it too"
    );

    let head = last["position"].as_u64().unwrap();
    let (ok, printed) = verify(&hub, &[]).await;
    assert!(ok, "{printed}");
    assert_eq!(
        printed.trim(),
        format!(
            "ok {} events, head {head} {}",
            events.len(),
            last["hash"].as_str().unwrap()
        )
    );
    let (ok, printed) = verify(&hub, &["--from", "3"]).await;
    assert!(ok, "{printed}");
    assert!(printed.starts_with(&format!("ok {} events, head {head} ", head - 2)));

    // Someone with database access rewrites event 3's data, then deletes event 5.
    hub.event_log_sql("UPDATE events SET data = metadata WHERE position = 3")
        .await;
    let (ok, printed) = verify(&hub, &[]).await;
    assert!(!ok);
    assert!(printed.starts_with("mismatch at position 3:"), "{printed}");
    let (ok, printed) = verify(&hub, &["--from", "4"]).await;
    assert!(ok, "from 4 on, the chain still holds: {printed}");
    hub.event_log_sql("DELETE FROM events WHERE position = 5")
        .await;
    let (ok, printed) = verify(&hub, &["--from", "4"]).await;
    assert!(!ok);
    assert!(printed.starts_with("mismatch at position 5:"), "{printed}");
}

/// Whether `needle` occurs in the event log's raw database files (SQLite only; PostgreSQL's
/// files are the server's).
fn in_raw_event_log(hub: &Hub, needle: &str) -> bool {
    ["events.db", "events.db-wal"].iter().any(|file| {
        let bytes = std::fs::read(hub.data_dir().join(file)).unwrap_or_default();
        bytes
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    })
}

/// A patient's name, phone, e-mail, time zone and message texts are written to the log sealed
/// under the patient's key: the answers show them, the stored events (the API's event log,
/// `hub events` and SQLite's raw files) do not.
async fn personal_data_is_sealed_in_the_log(backend: Backend) {
    let hub = Hub::start(backend).await;
    let (_, receptionist) = hub.staff("Rita Reception", "receptionist").await;
    let patient = hub
        .post(
            ADMIN,
            "/v1/patients",
            json!({
                "name": "Quirinus Zaphod",
                "phone": "+4917098765432",
                "email": "quirinus.zaphod@example.org",
                "portal_enabled": true,
                "time_zone": "Pacific/Chatham"
            }),
        )
        .await;
    let patient_id = patient.ok()["id"].as_str().unwrap().to_owned();
    let sent = hub
        .post(
            &receptionist,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": "Your xylophonic results are in." }),
        )
        .await;
    let conversation = sent.ok()["conversation_id"].as_str().unwrap().to_owned();
    let position = sent.ok()["position"].as_u64().unwrap();
    hub.post(
        &receptionist,
        &format!("/v1/conversations/{conversation}/calls"),
        json!({
            "occurred_at": "2026-12-01T10:00:00Z",
            "duration_seconds": 60,
            "direction": "outbound",
            "summary": "Discussed the quokkalike rash"
        }),
    )
    .await
    .ok();

    let shown = hub
        .get(
            &receptionist,
            &format!("/v1/conversations/{conversation}/messages?min_position={position}"),
        )
        .await;
    assert!(
        shown.ok().to_string().contains("xylophonic"),
        "answers show the text"
    );
    let record = hub.get(ADMIN, &format!("/v1/patients/{patient_id}")).await;
    assert_eq!(record.ok()["name"], "Quirinus Zaphod");

    let stored = serde_json::to_string(&all_events(&hub).await).unwrap();
    let listed = hub.cli(&["events"]).await;
    for word in PATIENT_WORDS {
        assert!(!stored.contains(word), "{word} is in the API's event log");
        assert!(!listed.contains(word), "{word} is in `hub events`");
        if backend == Backend::Sqlite {
            assert!(!in_raw_event_log(&hub, word), "{word} is in events.db");
        }
    }
    assert!(
        stored.contains("\"sealed\""),
        "the events carry the sealed fields"
    );
    let (ok, printed) = verify(&hub, &[]).await;
    assert!(ok, "{printed}");
}

/// Whether `needle` occurs in any file under the hub's data folder (the event log, the read
/// models, their WAL files, the attachment folder).
fn in_data_folder(hub: &Hub, needle: &str) -> Option<std::path::PathBuf> {
    let mut folders = vec![hub.data_dir()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_default();
            if bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
            {
                return Some(path);
            }
        }
    }
    None
}

/// What the API answers about an erased patient and its conversation, for comparing before
/// and after a replay.
async fn erased_answers(hub: &Hub, patient_id: &str, conversation: &str, position: u64) -> Value {
    let wait = format!("min_position={position}");
    let record = hub
        .get(ADMIN, &format!("/v1/patients/{patient_id}?{wait}"))
        .await;
    assert_eq!(record.ok()["erased"], true, "{}", record.body);
    assert_eq!(record.ok()["name"], "erased");
    for field in ["phone", "email", "time_zone"] {
        assert_eq!(record.ok()[field], Value::Null, "{field}");
    }
    let directory = hub.get(ADMIN, &format!("/v1/patients?{wait}")).await;
    let listed = directory.ok()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == patient_id)
        .cloned()
        .unwrap();
    assert_eq!(listed["name"], "erased");
    assert_eq!(listed["erased"], true);
    let timeline = hub
        .get(
            ADMIN,
            &format!("/v1/conversations/{conversation}/messages?{wait}"),
        )
        .await;
    let messages = timeline.ok()["items"].as_array().unwrap().clone();
    assert!(messages.len() >= 3, "{messages:?}");
    for message in &messages {
        assert_eq!(message["erased"], true, "{message}");
        assert_eq!(message["subject"], Value::Null);
        assert_eq!(message["body"], Value::Null);
        assert_eq!(message["author"]["name"], Value::Null);
        for attachment in message["attachments"].as_array().unwrap() {
            assert_eq!(attachment["filename"], Value::Null);
        }
    }
    let search = hub
        .get(ADMIN, &format!("/v1/messages?q=xylophonic&{wait}"))
        .await;
    assert_eq!(search.ok()["items"], json!([]), "search finds nothing");
    let all = hub
        .get(
            ADMIN,
            &format!("/v1/messages?patient_id={patient_id}&{wait}"),
        )
        .await;
    json!({
        "record": record.ok(),
        "listed": listed,
        "timeline": timeline.ok(),
        "messages": all.ok(),
    })
}

/// Erasure (contract section 9): the patient's personal data and its messages' become
/// unreadable in the answers, the read models, the search index and the raw files; the
/// attachment answers 404; every write naming the patient answers 422; the chain verifies;
/// a replay rebuilds the same erased view.
async fn erasure_makes_a_patient_unreadable_for_good(backend: Backend) {
    let hub = Hub::start(backend).await;
    let (_, receptionist) = hub.staff("Rita Reception", "receptionist").await;
    let patient = hub
        .post(
            ADMIN,
            "/v1/patients",
            json!({
                "name": "Quirinus Zaphod",
                "phone": "+4917098765432",
                "email": "quirinus.zaphod@example.org",
                "portal_enabled": true,
                "time_zone": "Pacific/Chatham"
            }),
        )
        .await;
    let patient_id = patient.ok()["id"].as_str().unwrap().to_owned();
    let patient_token = patient.ok()["token"].as_str().unwrap().to_owned();
    let sent = hub
        .post(
            &receptionist,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "subject": "Marmalade results", "body": "Your xylophonic results are in.", "idempotency_key": "first-send-of-the-erasure-test" }),
        )
        .await;
    let conversation = sent.ok()["conversation_id"].as_str().unwrap().to_owned();
    let reply = hub
        .post(
            &patient_token,
            &format!("/v1/conversations/{conversation}/messages"),
            json!({ "channel": "portal", "body": "Thanks, the xylophonic news is welcome", "idempotency_key": "reply-of-the-erasure-test" }),
        )
        .await;
    reply.ok();
    let attachment = hub
        .upload(
            &receptionist,
            "application/pdf",
            "platypoid-scan.pdf",
            b"%PDF-1.4 quokkalike letter".to_vec(),
        )
        .await;
    let attachment = attachment.ok()["id"].as_str().unwrap().to_owned();
    hub.post(
        &receptionist,
        &format!("/v1/conversations/{conversation}/messages"),
        json!({ "channel": "portal", "body": "The letter, zanzibarian edition", "attachment_ids": [attachment] }),
    )
    .await
    .ok();
    hub.post(
        &receptionist,
        &format!("/v1/conversations/{conversation}/calls"),
        json!({
            "occurred_at": "2026-12-01T10:00:00Z",
            "duration_seconds": 60,
            "direction": "outbound",
            "summary": "Discussed the quokkalike rash"
        }),
    )
    .await
    .ok();
    let send_at = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    hub.post(
        &receptionist,
        &format!("/v1/conversations/{conversation}/messages"),
        json!({ "channel": "portal", "body": "Reminder: bring the wombatish form", "send_at": send_at }),
    )
    .await
    .ok();

    hub.post(
        &receptionist,
        &format!("/v1/patients/{patient_id}/erase"),
        json!({}),
    )
    .await
    .err(403, "forbidden");
    let erased = hub
        .post(
            ADMIN,
            &format!("/v1/patients/{patient_id}/erase"),
            json!({}),
        )
        .await;
    let answer = erased.ok().clone();
    assert_eq!(answer["id"], patient_id.as_str());
    assert_eq!(answer["erased"], true);
    assert_eq!(answer["complete"], true, "everything was sealed: {answer}");
    assert_eq!(answer["plain_events"], 0);
    let position = answer["position"].as_u64().unwrap();

    let before = erased_answers(&hub, &patient_id, &conversation, position).await;
    let (status, _) = hub.download(&receptionist, &attachment).await;
    assert_eq!(status.as_u16(), 404);
    hub.get(&patient_token, "/v1/conversations")
        .await
        .err(401, "unauthenticated");

    // Every write naming the patient.
    let refused = |answer: crate::support::Answer| answer.err(422, "patient_erased");
    refused(
        hub.call(
            reqwest::Method::PATCH,
            &format!("/v1/patients/{patient_id}"),
            Some(ADMIN),
            Some(json!({ "name": "Back Again" })),
        )
        .await,
    );
    refused(
        hub.post(
            ADMIN,
            &format!("/v1/patients/{patient_id}/token"),
            json!({}),
        )
        .await,
    );
    refused(
        hub.call(
            reqwest::Method::DELETE,
            &format!("/v1/patients/{patient_id}/token"),
            Some(ADMIN),
            None,
        )
        .await,
    );
    refused(
        hub.post(
            &receptionist,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": "Hello?" }),
        )
        .await,
    );
    refused(
        hub.post(
            &receptionist,
            &format!("/v1/conversations/{conversation}/messages"),
            json!({ "channel": "portal", "body": "Hello?" }),
        )
        .await,
    );
    refused(
        hub.post(
            &receptionist,
            &format!("/v1/conversations/{conversation}/messages"),
            json!({ "channel": "portal", "body": "Later", "send_at": send_at }),
        )
        .await,
    );
    refused(
        hub.post(
            &receptionist,
            &format!("/v1/conversations/{conversation}/calls"),
            json!({ "occurred_at": "2026-12-01T11:00:00Z", "duration_seconds": 5, "direction": "inbound", "summary": "Again" }),
        )
        .await,
    );
    refused(
        hub.post(
            ADMIN,
            &format!("/v1/patients/{patient_id}/erase"),
            json!({}),
        )
        .await,
    );

    let (ok, printed) = verify(&hub, &[]).await;
    assert!(ok, "{printed}");
    let out = hub.cli(&["replay"]).await;
    assert!(out.contains("rebuilt"), "{out}");
    let after = erased_answers(&hub, &patient_id, &conversation, position).await;
    assert_eq!(before, after, "a replay rebuilds the same erased view");

    match hub.database_url() {
        None => {
            for word in PATIENT_WORDS {
                assert_eq!(
                    in_data_folder(&hub, word),
                    None,
                    "{word} is in the data folder"
                );
            }
        }
        Some(url) => {
            let rows = every_row_as_text(url).await;
            assert!(
                rows.contains("first-send-of-the-erasure-test"),
                "the idempotency keys were read too"
            );
            for word in PATIENT_WORDS {
                let hex: String = word.bytes().map(|b| format!("{b:02x}")).collect();
                assert!(!rows.contains(word), "{word} is in a table");
                assert!(!rows.contains(&hex), "{word} is in a table's bytes");
            }
        }
    }
}

/// The distinctive words of the patient these tests write (name, phone, e-mail, time zone,
/// subject, bodies, call summary, file name): none may be stored in the clear.
const PATIENT_WORDS: [&str; 11] = [
    "Quirinus",
    "Zaphod",
    "4917098765432",
    "quirinus.zaphod",
    "Pacific/Chatham",
    "Marmalade",
    "xylophonic",
    "quokkalike",
    "zanzibarian",
    "wombatish",
    "platypoid",
];

/// Every row of every table of the database at `url` (the log, the keys, the idempotency keys,
/// the read models, the sessions), as PostgreSQL writes rows as text (bytes in hex).
async fn every_row_as_text(url: &str) -> String {
    use sqlx::{Connection, Row};
    let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
    let tables = sqlx::query(
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables \
         WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(&mut connection)
    .await
    .expect("list tables");
    let mut text = String::new();
    for table in tables {
        let table: String = table.get(0);
        let rows: Option<String> =
            sqlx::query_scalar(&format!("SELECT string_agg(t::text, ' ') FROM {table} t"))
                .fetch_one(&mut connection)
                .await
                .expect("read table");
        text.push_str(&rows.unwrap_or_default());
    }
    connection.close().await.expect("close");
    text
}

/// Sends `patient_id` a portal message carrying a newly uploaded file of `content`; answers the
/// attachment's id and the send's position.
async fn send_file(hub: &Hub, token: &str, patient_id: &str, content: &[u8]) -> (String, u64) {
    let upload = hub
        .upload(token, "application/pdf", "letter.pdf", content.to_vec())
        .await;
    let attachment = upload.ok()["id"].as_str().unwrap().to_owned();
    let sent = hub
        .post(
            token,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": "Your letter", "attachment_ids": [attachment] }),
        )
        .await;
    (attachment, sent.ok()["position"].as_u64().unwrap())
}

/// Files are stored by content: erasing one patient deletes its file, but not the same bytes
/// that another patient's message carries.
async fn erasure_keeps_a_file_another_patient_shares(backend: Backend) {
    let hub = Hub::start(backend).await;
    let (_, receptionist) = hub.staff("Rita Reception", "receptionist").await;
    let (erased, _) = hub.patient("Pat Erased").await;
    let (kept, _) = hub.patient("Kim Kept").await;
    let content = b"%PDF-1.4 the same letter for both".as_slice();
    let (erased_file, _) = send_file(&hub, &receptionist, &erased, content).await;
    let (kept_file, position) = send_file(&hub, &receptionist, &kept, content).await;
    hub.get(ADMIN, &format!("/v1/conversations?min_position={position}"))
        .await
        .ok();
    let erasure = hub
        .post(ADMIN, &format!("/v1/patients/{erased}/erase"), json!({}))
        .await;
    let position = erasure.ok()["position"].as_u64().unwrap();
    hub.get(ADMIN, &format!("/v1/conversations?min_position={position}"))
        .await
        .ok();
    let (status, bytes) = hub.download(&receptionist, &kept_file).await;
    assert_eq!(status.as_u16(), 200, "the other patient's file stays");
    assert_eq!(bytes, content);
    let (status, _) = hub.download(&receptionist, &erased_file).await;
    assert_eq!(status.as_u16(), 404);
}

crate::on_both_backends!(
    the_chain_verifies_and_finds_changes_and_deletions,
    personal_data_is_sealed_in_the_log,
    erasure_makes_a_patient_unreadable_for_good,
    erasure_keeps_a_file_another_patient_shares
);
