//! What the event store reports to the `metrics` facade (a no-op until a process installs a
//! recorder): how long an append waits for its answer, how long each group commit takes and
//! how many appends it carries, by backend.

/// Histogram: seconds from an append's submission to its answer (the wait for the committer
/// included), label `backend`.
pub const APPEND_SECONDS: &str = "hub_store_append_duration_seconds";
/// Histogram: seconds from the start of a group's transaction to its answer, label `backend`.
pub const APPEND_COMMIT_SECONDS: &str = "hub_store_append_commit_duration_seconds";
/// Histogram: appends committed together in one group, label `backend`.
pub const APPEND_GROUP_SIZE: &str = "hub_store_append_group_size";

/// Histogram buckets for [`APPEND_SECONDS`] and [`APPEND_COMMIT_SECONDS`].
pub const COMMIT_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Histogram buckets for [`APPEND_GROUP_SIZE`] (a group holds at most 64 appends).
pub const GROUP_SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// Describes the store's metrics to the installed recorder.
pub fn describe() {
    metrics::describe_histogram!(
        APPEND_SECONDS,
        metrics::Unit::Seconds,
        "Time from an append's submission to its answer, queueing for the committer included, by backend"
    );
    metrics::describe_histogram!(
        APPEND_COMMIT_SECONDS,
        metrics::Unit::Seconds,
        "Time to commit one group of appends to the event log, by backend"
    );
    metrics::describe_histogram!(
        APPEND_GROUP_SIZE,
        metrics::Unit::Count,
        "Appends committed together in one transaction, by backend"
    );
}

/// Records one group commit on `backend` (`postgres` or `sqlite`).
pub(crate) fn group_committed(backend: &'static str, size: usize, elapsed: std::time::Duration) {
    metrics::histogram!(APPEND_COMMIT_SECONDS, "backend" => backend).record(elapsed.as_secs_f64());
    // A group holds at most 64 appends: exact as an f64.
    metrics::histogram!(APPEND_GROUP_SIZE, "backend" => backend).record(size as f64);
}

/// Records one append's whole latency on `backend`.
pub(crate) fn append_answered(backend: &'static str, elapsed: std::time::Duration) {
    metrics::histogram!(APPEND_SECONDS, "backend" => backend).record(elapsed.as_secs_f64());
}
