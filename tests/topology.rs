//! Production-like runs: two API nodes on one PostgreSQL database, and structured JSON logs
//! without patient data.

mod support;

use serde_json::{json, Value};
use support::{Backend, Hub};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_nodes_share_one_database() {
    let first = Hub::start(Backend::Postgres).await;
    let second = first.second_node().await;
    let (_, reception) = first.staff("Rita", "receptionist").await;
    let (patient_id, patient) = second.patient("Pat").await;
    // Concurrent writers on both nodes into one conversation: every message lands once.
    let start = first
        .post(
            &reception,
            "/v1/messages",
            json!({ "patient_id": patient_id, "channel": "portal", "body": "first" }),
        )
        .await;
    let conversation = start.ok()["conversation_id"].as_str().unwrap().to_owned();
    let conversation = conversation.as_str();
    let mut writers = Vec::new();
    for (node, token) in [
        (&first, &reception),
        (&second, &patient),
        (&second, &reception),
        (&first, &patient),
    ] {
        for i in 0..10 {
            writers.push(async move {
                node.post(
                    token,
                    &format!("/v1/conversations/{conversation}/messages"),
                    json!({ "channel": "portal", "body": format!("msg {i}") }),
                )
                .await
            });
        }
    }
    let answers = futures::future::join_all(writers).await;
    let position = answers
        .iter()
        .map(|a| a.ok()["position"].as_u64().unwrap())
        .max()
        .unwrap();
    for node in [&first, &second] {
        let timeline = node
            .get(
                &reception,
                &format!(
                    "/v1/conversations/{conversation}/messages?limit=200&min_position={position}"
                ),
            )
            .await;
        assert_eq!(timeline.ok()["items"].as_array().unwrap().len(), 41);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_name_routes_not_patients() {
    let hub = Hub::start_with(Backend::Sqlite, &["--log-format", "json"]).await;
    let (patient_id, _) = hub.patient("Secret Name").await;
    let (_, reception) = hub.staff("Rita", "receptionist").await;
    hub.post(
        &reception,
        "/v1/messages",
        json!({ "patient_id": patient_id, "channel": "sms", "body": "very private diagnosis" }),
    )
    .await
    .ok();
    hub.get(&reception, "/v1/health").await.ok();
    // A malformed id is no id, and is not logged either.
    hub.get(&reception, "/v1/patients/pat.one@example.org")
        .await
        .err(400, "invalid_request");
    hub.get(&reception, "/v1/conversations?q=diagnosis+secret")
        .await
        .ok();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = hub.logs.lock().unwrap().clone();
    let requests: Vec<Value> = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["fields"]["message"] == "request")
        .collect();
    assert!(requests.len() >= 4, "one line per request: {logs:?}");
    assert!(requests
        .iter()
        .all(|r| r["fields"]["status"].is_u64() && r["fields"]["latency_ms"].is_string()));
    assert!(requests
        .iter()
        .any(|r| r["span"]["path"] == "/v1/patients" && r["span"]["method"] == "POST"));
    let all = logs.join("\n");
    for secret in [
        "Secret Name",
        "very private diagnosis",
        "+4915112345678",
        "patient@example.org",
        "pat.one@example.org",
        "secret",
        patient_id.as_str(),
    ] {
        assert!(!all.contains(secret), "logs must not contain {secret}");
    }
}

/// A node decides on its cached records, but never acts on, nor refuses because of, a record
/// that another node changed meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_never_decides_on_a_record_another_node_changed() {
    let first = Hub::start(Backend::Postgres).await;
    let second = first.second_node().await;
    let (_, reception) = first.staff("Rita", "receptionist").await;
    let (patient_id, _) = first.patient("Pat").await;
    let sms = json!({ "patient_id": patient_id, "channel": "sms", "body": "hello" });
    // The first node caches the patient's record (with a phone number).
    first
        .post(&reception, "/v1/messages", sms.clone())
        .await
        .ok();
    // The second node removes the phone number: the first node must refuse SMS now.
    let path = format!("/v1/patients/{patient_id}");
    let removed = second
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&reception),
            Some(json!({ "phone": null })),
        )
        .await;
    removed.ok();
    first
        .post(&reception, "/v1/messages", sms.clone())
        .await
        .err(422, "channel_unavailable");
    // And when the second node adds it back, the first node must accept SMS again.
    second
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&reception),
            Some(json!({ "phone": "+4915112345678" })),
        )
        .await
        .ok();
    first.post(&reception, "/v1/messages", sms).await.ok();
}

/// Nodes authenticate from principals they cache, and the event log keeps those current: a
/// revoked token fails at once on the node that revoked it and within a second on the other,
/// and so does a withdrawn permission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_reach_every_node_within_a_second() {
    let first = Hub::start(Backend::Postgres).await;
    let second = first.second_node().await;
    let (staff_id, reception) = first.staff("Rita", "receptionist").await;
    let (patient_id, _) = first.patient("Pat").await;
    let sms = json!({ "patient_id": patient_id, "channel": "portal", "body": "hello" });
    // Both nodes have the receptionist cached.
    first
        .post(&reception, "/v1/messages", sms.clone())
        .await
        .ok();
    second
        .post(&reception, "/v1/messages", sms.clone())
        .await
        .ok();

    // A withdrawn permission.
    first
        .post(
            support::ADMIN,
            &format!("/v1/staff/{staff_id}/permissions"),
            json!({ "grant": [], "revoke": ["send_messages"] }),
        )
        .await
        .ok();
    first
        .post(&reception, "/v1/messages", sms.clone())
        .await
        .err(403, "missing_permission");
    eventually_within_a_second(|| async {
        second
            .post(&reception, "/v1/messages", sms.clone())
            .await
            .status
            == 403
    })
    .await;

    // A revoked token.
    first
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/staff/{staff_id}/token"),
            Some(support::ADMIN),
            None,
        )
        .await
        .ok();
    first
        .get(&reception, "/v1/conversations")
        .await
        .err(401, "unauthenticated");
    eventually_within_a_second(|| async {
        second.get(&reception, "/v1/conversations").await.status == 401
    })
    .await;
}

/// Polls `check` until it holds; fails when it still does not a second after the first try.
async fn eventually_within_a_second<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "the other node still accepted it after a second"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Idle connections cannot take the hub down: those over the cap are answered with a JSON 503
/// at once, those admitted are closed when they send no request in time, and then health
/// answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_neither_exhaust_the_hub_nor_stay_open() {
    use tokio::io::AsyncReadExt;
    let hub = Hub::start_with(
        Backend::Sqlite,
        &["--max-connections", "20", "--header-timeout-seconds", "1"],
    )
    .await;
    let address = hub.base.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    // Every connection ends within a few seconds: refused over the cap, or closed idle.
    let mut refused = 0;
    for mut connection in idle {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            connection.read_to_end(&mut answer),
        )
        .await;
        assert!(read.is_ok(), "an idle connection stayed open");
        let answer = String::from_utf8_lossy(&answer);
        if answer.starts_with("HTTP/1.1 503") {
            assert!(answer.contains(r#""code":"unavailable""#), "{answer}");
            refused += 1;
        }
    }
    assert!(
        refused >= 20,
        "only {refused} connections over the cap were refused"
    );
    hub.get(support::ADMIN, "/v1/health").await.ok();
}

/// A client that trickles its headers one line at a time is cut off at the header deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hub = Hub::start_with(Backend::Sqlite, &["--header-timeout-seconds", "1"]).await;
    let address = hub.base.trim_start_matches("http://").to_owned();
    let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
    connection
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: hub\r\n")
        .await
        .unwrap();
    let trickle = async {
        for i in 0..20 {
            let line = format!("X-Slow-{i}: {i}\r\n");
            if connection.write_all(line.as_bytes()).await.is_err() {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let mut byte = [0u8; 1];
            let peek = tokio::time::timeout(
                std::time::Duration::from_millis(10),
                connection.read(&mut byte),
            )
            .await;
            if matches!(peek, Ok(Ok(0)) | Ok(Err(_))) {
                return true;
            }
        }
        false
    };
    assert!(
        trickle.await,
        "the slow client was still connected after 6 s"
    );
    hub.get(support::ADMIN, "/v1/health").await.ok();
}

/// A request body that stops arriving is answered 408 with the contract's JSON error once the
/// body timeout passes, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_answered_408_with_a_json_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hub = Hub::start(Backend::Sqlite).await;
    let (patient_id, _) = hub.patient("Paula Patient").await;
    let address = hub.base.trim_start_matches("http://").to_owned();
    for path in ["/v1/messages", "/v1/attachments?filename=a.pdf"] {
        let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {}\r\n\
             Content-Type: {}\r\nContent-Length: 1000\r\n\r\n",
            support::ADMIN,
            if path.starts_with("/v1/messages") {
                "application/json"
            } else {
                "application/pdf"
            },
        );
        connection.write_all(head.as_bytes()).await.unwrap();
        let start = if path.starts_with("/v1/messages") {
            format!(r#"{{"patient_id":"{patient_id}","channel":"portal","body":"#)
        } else {
            "%PDF-1.4\n".to_owned()
        };
        connection.write_all(start.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            connection.read_to_end(&mut answer),
        )
        .await;
        assert!(
            read.is_ok(),
            "{path}: the stalled request was never answered"
        );
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(
            answer.contains(r#""code":"invalid_request""#),
            "{path}: {answer}"
        );
    }
    let list = hub.get(support::ADMIN, "/v1/conversations").await;
    assert_eq!(
        list.ok()["items"],
        serde_json::json!([]),
        "nothing was written"
    );
}
