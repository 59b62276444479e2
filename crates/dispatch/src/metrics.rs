//! What the dispatchers report to the `metrics` facade (a no-op until a process installs a
//! recorder): provider calls and their outcomes, each message's final outcome, how long
//! provider calls take, and how many outbound messages wait per channel. Labelled by channel
//! and outcome word only.

use std::time::Duration;

use domain::status::DeliveryStatus;
use domain::Channel;

use crate::provider::SendError;

/// Counter: provider calls, labels `channel` and `outcome` (`accepted`, `transient`,
/// `rejected`, `outcome_unknown`).
pub const ATTEMPTS_TOTAL: &str = "hub_dispatch_attempts_total";
/// Counter: messages whose dispatch this process settled, labels `channel` and `outcome`
/// (`sent`, `failed`).
pub const OUTCOMES_TOTAL: &str = "hub_dispatch_outcomes_total";
/// Histogram: seconds one provider call took, label `channel`.
pub const SEND_SECONDS: &str = "hub_dispatch_send_duration_seconds";
/// Gauge: outbound messages of the channel in the event log after the dispatcher's position,
/// not yet settled (the one being sent included), label `channel`.
pub const QUEUE_DEPTH: &str = "hub_dispatch_queue_depth";

/// Histogram buckets for [`SEND_SECONDS`].
pub const SEND_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Describes the dispatchers' metrics to the installed recorder.
pub fn describe() {
    metrics::describe_counter!(
        ATTEMPTS_TOTAL,
        metrics::Unit::Count,
        "Provider calls, by channel and outcome (accepted, transient, rejected, outcome_unknown)"
    );
    metrics::describe_counter!(
        OUTCOMES_TOTAL,
        metrics::Unit::Count,
        "Outbound messages settled by this process, by channel and outcome (sent, failed)"
    );
    metrics::describe_histogram!(
        SEND_SECONDS,
        metrics::Unit::Seconds,
        "Time one provider call took, by channel"
    );
    metrics::describe_gauge!(
        QUEUE_DEPTH,
        metrics::Unit::Count,
        "Outbound messages waiting for their dispatch, by channel"
    );
}

/// Records one provider call and its outcome.
pub(crate) fn attempted<T>(channel: Channel, result: &Result<T, SendError>, took: Duration) {
    let outcome = match result {
        Ok(_) => "accepted",
        Err(SendError::Transient(_)) => "transient",
        Err(SendError::Rejected(_)) => "rejected",
        Err(SendError::OutcomeUnknown(_)) => "outcome_unknown",
    };
    let channel = channel.as_str();
    metrics::counter!(ATTEMPTS_TOTAL, "channel" => channel, "outcome" => outcome).increment(1);
    metrics::histogram!(SEND_SECONDS, "channel" => channel).record(took.as_secs_f64());
}

/// Records the outcome this process recorded for a message (`sent` or `failed`).
pub(crate) fn settled(channel: Channel, status: DeliveryStatus) {
    metrics::counter!(OUTCOMES_TOTAL, "channel" => channel.as_str(), "outcome" => status.as_str())
        .increment(1);
}

/// Sets a channel's queue depth.
pub(crate) fn queue_depth(channel: Channel, depth: u64) {
    metrics::gauge!(QUEUE_DEPTH, "channel" => channel.as_str()).set(depth as f64);
}
