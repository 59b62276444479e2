//! Scheduled-message release latency on an idle hub: messages scheduled a few seconds ahead
//! through the API, and how long after its `release_at` each entered the log as released.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::api_load::ApiClient;
use crate::report::ReleaseFigures;
use crate::sample::percentile_ms;

/// Messages scheduled.
const MESSAGES: usize = 10;
/// The first is due this long after it is scheduled; each next one 150 ms later.
const LEAD: Duration = Duration::from_secs(2);
/// How long to wait for every release before giving up.
const PATIENCE: Duration = Duration::from_secs(30);

/// Schedules the messages in one new conversation and waits for their releases.
pub async fn run(api: &ApiClient) -> anyhow::Result<ReleaseFigures> {
    let conversation = api.start_conversations(1).await?.remove(0);
    let start = Utc::now() + chrono::Duration::from_std(LEAD)?;
    let mut after = u64::MAX;
    for n in 0..MESSAGES {
        let send_at = start + chrono::Duration::milliseconds(150 * n as i64);
        let position = api.schedule(&conversation, send_at).await?;
        after = after.min(position.saturating_sub(1));
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut due = HashMap::new();
    let mut latencies = Vec::new();
    while latencies.len() < MESSAGES {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "only {} of {MESSAGES} scheduled messages were released within {PATIENCE:?}",
            latencies.len()
        );
        let page = api.events(after).await?;
        let items = page["items"].as_array().context("no items")?;
        for event in items {
            let data = &event["data"];
            let message = data["message_id"].as_str().unwrap_or_default().to_owned();
            match event["type"].as_str() {
                Some("MessageScheduled") => {
                    due.insert(message, time(&data["release_at"])?);
                }
                Some("ScheduledMessageReleased") => {
                    if let Some(release_at) = due.get(&message) {
                        let late = time(&event["occurred_at"])? - *release_at;
                        latencies.push(late.to_std().unwrap_or_default());
                    }
                }
                _ => {}
            }
            after = event["position"].as_u64().unwrap_or(after);
        }
        if items.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    latencies.sort();
    Ok(ReleaseFigures {
        messages: MESSAGES,
        p50_ms: percentile_ms(&latencies, 0.5),
        p99_ms: percentile_ms(&latencies, 0.99),
        max_ms: percentile_ms(&latencies, 1.0),
    })
}

fn time(value: &Value) -> anyhow::Result<DateTime<Utc>> {
    Ok(value
        .as_str()
        .context("a time is missing")?
        .parse::<DateTime<Utc>>()?)
}
