//! `GET /metrics` (contract section 10) and the layer that counts and times every request.
//!
//! The route exists only when a metrics token is configured; without one `/metrics` is an
//! unknown path like any other (404). A scrape must carry `Authorization: Bearer <token>`
//! (compared in constant time), else 401 `unauthenticated`. It lives at the root, beside the
//! pages, and is not part of the API under `/v1` nor of its OpenAPI document.
//!
//! Requests are labelled by route template (`/v1/conversations/{id}/messages`, never the
//! path a caller sent), method and status, so no id or other value reaches a label.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use projections::SqlReadModel;
use sha2::{Digest, Sha256};
use store::EventStore;

use super::webhooks::same_secret;
use crate::error::ApiError;
use crate::metrics::{HTTP_REQUESTS_TOTAL, HTTP_REQUEST_SECONDS};

/// The Prometheus text format's content type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How long a scrape waits for the databases when it reads the projections' positions.
const OBSERVE_WAIT: Duration = Duration::from_secs(2);

/// What `/metrics` serves: the recorder's rendering, behind a bearer token.
pub struct MetricsEndpoint {
    handle: PrometheusHandle,
    /// The token's SHA-256, so the token itself is not kept around in memory.
    token_digest: String,
    /// The event log and read models whose projection positions a scrape reads, when this
    /// process has them.
    projections: Option<(Arc<dyn EventStore>, Arc<SqlReadModel>)>,
}

impl MetricsEndpoint {
    /// An endpoint rendering `handle` for callers that present `token`.
    pub fn new(handle: PrometheusHandle, token: &str) -> Self {
        MetricsEndpoint {
            handle,
            token_digest: hex::encode(Sha256::digest(token)),
            projections: None,
        }
    }

    /// The same endpoint, reading each projection's position and lag from `store` and
    /// `read_model` at every scrape.
    pub fn observing(mut self, store: Arc<dyn EventStore>, read_model: Arc<SqlReadModel>) -> Self {
        self.projections = Some((store, read_model));
        self
    }

    fn admits(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let token = super::extract::bearer_token(headers)?;
        let digest = hex::encode(Sha256::digest(token));
        if same_secret(&digest, &self.token_digest) {
            Ok(())
        } else {
            Err(ApiError::unauthenticated("the metrics token is not valid"))
        }
    }
}

/// `GET /metrics`: the Prometheus text format, for the metrics token's bearer.
pub async fn scrape(
    State(endpoint): State<Arc<MetricsEndpoint>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    endpoint.admits(&headers)?;
    if let Some((store, read_model)) = &endpoint.projections {
        let observed = tokio::time::timeout(
            OBSERVE_WAIT,
            projections::metrics::observe(store.as_ref(), read_model),
        )
        .await;
        match observed {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "reading the projections' lag failed"),
            Err(_) => tracing::warn!("reading the projections' lag timed out"),
        }
    }
    Ok(([(CONTENT_TYPE, TEXT_FORMAT)], endpoint.handle.render()).into_response())
}

/// Counts and times each request by route template, method and status.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = response.status().as_u16().to_string();
    let labels = [
        ("route", route),
        ("method", method.to_owned()),
        ("status", status),
    ];
    metrics::counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(HTTP_REQUEST_SECONDS, &labels).record(elapsed);
    response
}

/// The method as a label: the standard ones by name, anything else `other` (a client can
/// send any token as a method).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(super::method_label(&Method::GET), "GET");
        let custom = Method::from_bytes(b"PATIENT-NAME").unwrap();
        assert_eq!(super::method_label(&custom), "other");
    }
}
