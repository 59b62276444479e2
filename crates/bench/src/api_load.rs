//! Command throughput through the HTTP API: each client replies in its own conversation,
//! one request after the other; every few answers a probe measures when the message became
//! visible in the inbox read model (command-to-inbox lag).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::load::{closed_loop, Throughput};
use super::server::HubServer;

/// One answer in this many is followed by a lag probe.
const PROBE_EVERY: u64 = 4;
/// The reply each client sends.
const BODY: &str = "Your test results are in; please book a follow-up appointment.";

/// What one cell (a number of clients) measured.
pub struct CommandRun {
    /// Sends completed and failed, and the run's length.
    pub throughput: Throughput,
    /// Command-to-inbox lag of the probed sends.
    pub lag: Vec<Duration>,
}

/// An HTTP client of the hub under test, as the bootstrap admin.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl ApiClient {
    /// A client of `server` with room for `connections` kept-alive connections.
    pub fn new(server: &HubServer, connections: usize) -> anyhow::Result<Self> {
        Ok(ApiClient {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(connections)
                .timeout(Duration::from_secs(60))
                .build()?,
            base: server.base_url.clone(),
            token: server.token.clone(),
        })
    }

    /// POSTs `body` to `/v1{path}`; the answer's JSON, or an error naming the status.
    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}/v1{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            anyhow::bail!("POST {path} answered {status}: {}", answer["error"]["code"]);
        }
        Ok(answer)
    }

    /// Registers a patient reachable on the portal only (nothing is dispatched).
    async fn register_patient(&self) -> anyhow::Result<String> {
        let answer = self
            .post(
                "/patients",
                &json!({"name": "Bench Patient", "portal_enabled": true}),
            )
            .await?;
        answer["id"]
            .as_str()
            .map(str::to_owned)
            .context("no patient id in the answer")
    }

    /// Starts `count` conversations, each with a patient of its own; their ids.
    pub async fn start_conversations(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            let patient = self.register_patient().await?;
            let answer = self
                .post(
                    "/messages",
                    &json!({"patient_id": patient, "channel": "portal", "body": BODY}),
                )
                .await?;
            ids.push(
                answer["conversation_id"]
                    .as_str()
                    .context("no conversation id in the answer")?
                    .to_owned(),
            );
        }
        Ok(ids)
    }

    /// Sends one reply; the position it was recorded at.
    async fn reply(&self, conversation: &str) -> anyhow::Result<u64> {
        let answer = self
            .post(
                &format!("/conversations/{conversation}/messages"),
                &json!({"channel": "portal", "body": BODY}),
            )
            .await?;
        answer["position"]
            .as_u64()
            .context("no position in the answer")
    }

    /// Schedules a reply in `conversation` for `send_at`; the position it was recorded at.
    pub async fn schedule(
        &self,
        conversation: &str,
        send_at: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<u64> {
        let answer = self
            .post(
                &format!("/conversations/{conversation}/messages"),
                &json!({"channel": "portal", "body": BODY, "send_at": send_at}),
            )
            .await?;
        answer["position"]
            .as_u64()
            .context("no position in the answer")
    }

    /// A page of the event log after `after`.
    pub async fn events(&self, after: u64) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}/v1/events?after={after}&limit=200", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "the event log answered {}",
            response.status()
        );
        Ok(response.json().await?)
    }

    /// Waits (through the API's `min_position`) until the inbox includes `position`.
    async fn visible(&self, conversation: &str, position: u64) -> anyhow::Result<()> {
        let response = self
            .http
            .get(format!(
                "{}/v1/conversations/{conversation}?min_position={position}",
                self.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "probe answered {}",
            response.status()
        );
        Ok(())
    }
}

/// `conversations.len()` clients send replies for `duration`; every [`PROBE_EVERY`]-th answer is
/// probed for lag off the client's path (the probe's own round trip is included).
pub async fn run(client: &ApiClient, conversations: Vec<String>, duration: Duration) -> CommandRun {
    let clients = conversations.len();
    let conversations = Arc::new(conversations);
    let probes: Arc<Mutex<Vec<JoinHandle<Option<Duration>>>>> = Arc::default();
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (api, probe_list) = (client.clone(), probes.clone());
    let throughput = closed_loop(clients, duration, move |i| {
        let (api, conversations) = (api.clone(), conversations.clone());
        let (probes, sent) = (probe_list.clone(), sent.clone());
        async move {
            let conversation = &conversations[i];
            let position = api.reply(conversation).await?;
            let answered = Instant::now();
            if sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % PROBE_EVERY == 0 {
                let (api, conversation) = (api.clone(), conversation.clone());
                let probe = tokio::spawn(async move {
                    api.visible(&conversation, position).await.ok()?;
                    Some(answered.elapsed())
                });
                if let Ok(mut list) = probes.lock() {
                    list.push(probe);
                }
            }
            Ok::<(), anyhow::Error>(())
        }
    })
    .await;
    let handles = probes
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default();
    let mut lag = Vec::with_capacity(handles.len());
    for handle in handles {
        if let Ok(Some(elapsed)) = handle.await {
            lag.push(elapsed);
        }
    }
    CommandRun { throughput, lag }
}
