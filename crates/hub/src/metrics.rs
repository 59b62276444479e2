//! The process's Prometheus recorder: installed once (only when a metrics token is
//! configured), with histogram buckets for every histogram the hub records and a description
//! of every metric, and kept tidy by a periodic upkeep task. The library crates record through
//! the `metrics` facade; this is the only place that installs a recorder. No HTTP listener of
//! the exporter is started: the hub serves `/metrics` itself (see `http::metrics`).

use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Counter: HTTP requests answered, labels `route` (the route template, or `unmatched`),
/// `method` and `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "hub_http_requests_total";
/// Histogram: seconds until a request's response was ready, labels `route`, `method` and
/// `status`.
pub const HTTP_REQUEST_SECONDS: &str = "hub_http_request_duration_seconds";
/// Counter: provider webhook calls refused, labels `provider` and `reason`.
pub const WEBHOOK_REJECTIONS_TOTAL: &str = "hub_webhook_rejections_total";

/// Histogram buckets for [`HTTP_REQUEST_SECONDS`] (the request deadline is 60 s).
const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How often the recorder's upkeep runs (it drains the histograms' pending samples).
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder as the process's global recorder and starts its upkeep;
/// answers the handle that renders the scrape. Call once, inside the Tokio runtime.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let histograms: [(&str, &[f64]); 5] = [
        (HTTP_REQUEST_SECONDS, HTTP_BUCKETS),
        (
            store::metrics::APPEND_SECONDS,
            store::metrics::COMMIT_BUCKETS,
        ),
        (
            store::metrics::APPEND_COMMIT_SECONDS,
            store::metrics::COMMIT_BUCKETS,
        ),
        (
            store::metrics::APPEND_GROUP_SIZE,
            store::metrics::GROUP_SIZE_BUCKETS,
        ),
        (
            dispatch::metrics::SEND_SECONDS,
            dispatch::metrics::SEND_BUCKETS,
        ),
    ];
    // Any other histogram gets the HTTP buckets rather than being rendered as a summary (a
    // full match wins over this prefix).
    let mut builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Prefix("hub_".to_owned()), HTTP_BUCKETS)
        .context("histogram buckets")?;
    for (name, buckets) in histograms {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
            .context("histogram buckets")?;
    }
    let handle = builder
        .install_recorder()
        .context("installing the metrics recorder")?;
    describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(UPKEEP).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// Describes every metric the hub records (the text after `# HELP`).
fn describe() {
    metrics::describe_counter!(
        HTTP_REQUESTS_TOTAL,
        metrics::Unit::Count,
        "HTTP requests answered, by route template, method and status"
    );
    metrics::describe_histogram!(
        HTTP_REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time until an HTTP response was ready, by route template, method and status"
    );
    metrics::describe_counter!(
        WEBHOOK_REJECTIONS_TOTAL,
        metrics::Unit::Count,
        "Provider webhook calls refused, by provider and reason"
    );
    store::metrics::describe();
    commands::metrics::describe();
    projections::metrics::describe();
    dispatch::metrics::describe();
}
