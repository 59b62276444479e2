//! The production topology started by `deploy/run-local.sh` from the built binary: two API
//! nodes, one projector and two dispatchers on one PostgreSQL database and a NATS JetStream
//! server of the test's own, sending SMS through a local Twilio-speaking server. A dispatcher
//! killed mid-batch and a NATS restart lose no message and send none twice, and every process
//! serves its metrics behind the token. The monitoring files (Prometheus, Grafana) are checked
//! in `deploy/monitoring.rs`.

#[path = "channels/fakes.rs"]
mod fakes;
#[path = "deploy/monitoring.rs"]
mod monitoring;
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use fakes::FakeApi;
use serde_json::{json, Value};
use store::testing::TestDatabase;
use support::ADMIN;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A NATS server with JetStream on a free port, storing under its own folder.
struct NatsServer {
    port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    async fn start() -> NatsServer {
        let mut server = NatsServer {
            port: free_port(),
            store: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.spawn().await;
        server
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("nats-server");
        let child = Command::new(binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nats-server did not start");
    }

    /// Kills the server (SIGKILL) and starts it again on the same port and storage.
    async fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
        self.spawn().await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The token every process of the topology serves `/metrics` with.
const METRICS_TOKEN: &str = "topology-metrics-token";

/// `deploy/run-local.sh` with the test's settings (`ports` holds the API nodes' ports and then
/// the metrics ports of the projector and the two dispatchers).
fn script(run_dir: &Path, database: &str, nats: &str, twilio: &FakeApi, ports: &[u16]) -> Command {
    let words = |ports: &[u16]| {
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut command = Command::new("bash");
    command
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/run-local.sh"
        ))
        .env("HUB_BIN", env!("CARGO_BIN_EXE_hub"))
        .env("HUB_RUN_DIR", run_dir)
        .env("HUB_API_PORTS", words(&ports[..2]))
        .env("HUB_METRICS_PORTS", words(&ports[2..]))
        .env("HUB_METRICS_TOKEN", METRICS_TOKEN)
        .env("HUB_DATABASE_URL", database)
        .env("HUB_NATS_URL", nats)
        .env("HUB_BOOTSTRAP_ADMIN_TOKEN", ADMIN)
        .env("HUB_TWILIO_API_BASE", &twilio.base)
        .env(
            "HUB_TWILIO_ACCOUNT_SID",
            "AC0123456789abcdef0123456789abcdef",
        )
        .env("HUB_TWILIO_AUTH_TOKEN", "token")
        .env("HUB_TWILIO_FROM", "+15005550006")
        .env("HUB_DISPATCH_LEASE_SECONDS", "4")
        .env("HUB_DISPATCH_BACKOFF_MS", "20")
        .env("HUB_LOG", "info");
    command
}

async fn post(http: &reqwest::Client, base: &str, token: &str, path: &str, body: Value) -> Value {
    let response = http
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

async fn get(http: &reqwest::Client, base: &str, token: &str, path: &str) -> Value {
    let response = http
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_topology_sends_through_both_api_nodes_and_survives_faults() {
    let database = TestDatabase::create().await.unwrap();
    let mut nats = NatsServer::start().await;
    let twilio = FakeApi::twilio().await;
    let run_dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let mut start = script(run_dir.path(), &database.url, &nats.url(), &twilio, &ports)
        .arg("start")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(start.stdout.take().unwrap()).lines();
    let mut nodes = Vec::new();
    while let Some(line) = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the script starts the topology within 60 s")
        .unwrap()
    {
        if let Some(url) = line.strip_prefix("api ") {
            nodes.push(url.to_owned());
        }
        if line == "ready" {
            break;
        }
    }
    assert!(start.wait().await.unwrap().success());
    assert_eq!(nodes.len(), 2);

    let http = reqwest::Client::new();
    let staff = post(
        &http,
        &nodes[0],
        ADMIN,
        "/v1/staff",
        json!({ "name": "Rita", "role": "receptionist", "permissions": ["send_messages"] }),
    )
    .await;
    let reception = staff["token"].as_str().unwrap().to_owned();
    let patient = post(&http, &nodes[1], ADMIN, "/v1/patients", json!({ "name": "Patricia Quillfeather", "phone": "+4915112345678", "portal_enabled": false, "whatsapp_opt_in": false })).await;
    let patient = patient["id"].as_str().unwrap().to_owned();

    // A slow provider, so that a batch is still going on when a dispatcher dies.
    twilio.set_delay(Duration::from_millis(60));
    let mut messages = HashMap::new();
    for i in 0..60 {
        let node = &nodes[i % 2];
        let body = format!("gooseberry message {i}");
        let answer = post(
            &http,
            node,
            &reception,
            "/v1/messages",
            json!({ "patient_id": patient, "channel": "sms", "body": body }),
        )
        .await;
        messages.insert(answer["message_id"].as_str().unwrap().to_owned(), body);
        if i == 20 {
            // One dispatcher dies mid-batch.
            twilio.wait_for(5).await;
            let pid = std::fs::read_to_string(run_dir.path().join("dispatcher-1.pid")).unwrap();
            Command::new("kill")
                .args(["-9", pid.trim()])
                .status()
                .await
                .unwrap();
        }
        if i == 40 {
            nats.restart().await;
        }
    }

    // Every message settles: sent by the provider, or failed as outcome_unknown (a claim the
    // killed dispatcher held); none stays queued.
    let mut settled = HashMap::new();
    for _ in 0..600 {
        for id in messages.keys() {
            if settled.contains_key(id) {
                continue;
            }
            let message = get(&http, &nodes[0], &reception, &format!("/v1/messages/{id}")).await;
            match message["delivery_status"].as_str() {
                Some("sent") => {
                    settled.insert(id.clone(), ("sent".to_owned(), Value::Null));
                }
                Some("failed") => {
                    settled.insert(
                        id.clone(),
                        ("failed".to_owned(), message["delivery_error"].clone()),
                    );
                }
                _ => {}
            }
        }
        if settled.len() == messages.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        settled.len(),
        messages.len(),
        "every message settles: {settled:?}"
    );
    let mut received: HashMap<String, usize> = HashMap::new();
    for request in twilio.requests() {
        *received.entry(request.field("Body").unwrap()).or_default() += 1;
    }
    for (id, body) in &messages {
        let count = received.get(body).copied().unwrap_or(0);
        assert!(count <= 1, "{body} sent {count} times");
        match &settled[id] {
            (status, _) if status == "sent" => assert_eq!(count, 1, "{body} sent once"),
            (_, reason) => assert_eq!(reason, "outcome_unknown", "{body} failed: {reason}"),
        }
    }
    let unknown = settled.values().filter(|(s, _)| s == "failed").count();
    eprintln!(
        "{} sent, {unknown} outcome_unknown",
        messages.len() - unknown
    );

    check_metrics(&http, &nodes, &ports).await;
    check_nats_holds_no_patient_data(&nats, &patient);

    let stop = script(run_dir.path(), &database.url, &nats.url(), &twilio, &ports)
        .arg("stop")
        .status()
        .await
        .unwrap();
    assert!(stop.success());
    database.drop_database().await.unwrap();
}

/// Every file JetStream stored under `dir`, as bytes.
fn stored_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(stored_files(&path));
        } else {
            files.push(std::fs::read(&path).unwrap_or_default());
        }
    }
    files
}

/// The relay publishes events as stored, personal fields sealed: JetStream's own files hold the
/// events (their patient id is there) but not the patient's name, phone number or message texts.
fn check_nats_holds_no_patient_data(nats: &NatsServer, patient: &str) {
    let files = stored_files(nats.store.path());
    let holds = |needle: &str| {
        files
            .iter()
            .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
    };
    assert!(holds(patient), "the capture holds the relayed events");
    for word in ["Quillfeather", "4915112345678", "gooseberry"] {
        assert!(!holds(word), "{word} is in JetStream's files");
    }
}

/// Every live process of the topology serves `/metrics` behind the token: the API nodes on
/// their ports with the projections' lag, the projector and the surviving dispatcher on their
/// metrics ports, whose SMS queue drains to 0.
async fn check_metrics(http: &reqwest::Client, nodes: &[String], ports: &[u16]) {
    let scrape = |url: String| async move {
        let response = http
            .get(&url)
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{url}");
        response.text().await.unwrap()
    };
    let projector = format!("http://127.0.0.1:{}/metrics", ports[2]);
    let dispatcher = format!("http://127.0.0.1:{}/metrics", ports[4]);
    let refused = http.get(&projector).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    for node in nodes {
        let text = scrape(format!("{node}/metrics")).await;
        assert!(text.contains("hub_http_requests_total{"), "{text}");
        assert!(
            text.contains("hub_projection_lag_seconds{projection=\"inbox\"}"),
            "{text}"
        );
    }
    let text = scrape(projector).await;
    assert!(
        text.contains("hub_projection_position{projection=\"inbox\"}"),
        "{text}"
    );
    let mut text = String::new();
    for _ in 0..40 {
        text = scrape(dispatcher.clone()).await;
        if text.contains("hub_dispatch_queue_depth{channel=\"sms\"} 0\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        text.contains("hub_dispatch_queue_depth{channel=\"sms\"} 0\n"),
        "the SMS queue drains: {text}"
    );
    assert!(
        text.contains("hub_dispatch_outcomes_total{channel=\"sms\",outcome=\"sent\"}"),
        "{text}"
    );
}
