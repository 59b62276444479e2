//! The HTTP API of contract section 4: routes, shared state, limits and request logging.

mod answers;
mod attachments;
mod audit;
mod conversations;
mod events;
pub mod extract;
mod health;
mod messages;
pub mod metrics;
pub mod openapi;
mod patients;
mod patterns;
mod reports;
mod scheduled;
mod settings;
mod staff;
mod templates;
mod tokens;
mod unmatched;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use projections::ReadModel;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::blobs::BlobStore;
use crate::error::ApiError;
use crate::inbound::Filing;
use crate::providers::{ChannelReport, WebhookSecrets};
use commands::CommandService;
use dispatch::provider::whatsapp::WhatsappCloud;
use metrics::MetricsEndpoint;
use openapi::ApiBuilder;

/// The largest sign-in form (a token and a nonce).
const SIGN_IN_BODY_LIMIT: usize = 8 * 1024;

/// The largest JSON body any endpoint accepts.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The command side.
    pub commands: Arc<CommandService>,
    /// The query side.
    pub read_model: Arc<dyn ReadModel>,
    /// Attachment contents.
    pub blobs: Arc<BlobStore>,
    /// Channel provider configuration, as health reports it.
    pub channels: Arc<ChannelReport>,
    /// The OpenAPI document served at `/v1/openapi.json`.
    pub openapi: Arc<serde_json::Value>,
    /// What the provider webhooks check calls against.
    pub webhooks: Arc<WebhookSecrets>,
    /// The WhatsApp client, for fetching inbound media.
    pub whatsapp: Option<Arc<WhatsappCloud>>,
    /// `/metrics`, when a metrics token is configured.
    pub metrics: Option<Arc<MetricsEndpoint>>,
}

impl AppState {
    /// Shared state for the router.
    pub fn new(
        commands: Arc<CommandService>,
        read_model: Arc<dyn ReadModel>,
        blobs: Arc<BlobStore>,
        channels: ChannelReport,
    ) -> Self {
        AppState {
            commands,
            read_model,
            blobs,
            channels: Arc::new(channels),
            openapi: Arc::new(api().1),
            webhooks: Arc::new(WebhookSecrets::default()),
            whatsapp: None,
            metrics: None,
        }
    }

    /// What filing inbound messages needs of the state.
    pub fn filing(&self) -> Filing<'_> {
        Filing {
            commands: &self.commands,
            read_model: self.read_model.as_ref(),
            blobs: &self.blobs,
        }
    }

    /// The same state with webhook secrets and the WhatsApp media client.
    pub fn with_webhooks(
        mut self,
        secrets: WebhookSecrets,
        whatsapp: Option<Arc<WhatsappCloud>>,
    ) -> Self {
        self.webhooks = Arc::new(secrets);
        self.whatsapp = whatsapp;
        self
    }

    /// The same state serving `/metrics` from `endpoint`.
    pub fn with_metrics(mut self, endpoint: MetricsEndpoint) -> Self {
        self.metrics = Some(Arc::new(endpoint));
        self
    }
}

pub use events::event_json;

/// The API routes under `/v1` and their OpenAPI document, each operation registered with its
/// handler by the handler's module.
pub fn api() -> (Router<AppState>, serde_json::Value) {
    ApiBuilder::default()
        .include(staff::routes)
        .include(patients::routes)
        .include(messages::routes)
        .include(conversations::routes)
        .include(attachments::routes)
        .include(events::routes)
        .include(audit::routes)
        .include(unmatched::routes)
        .include(templates::routes)
        .include(settings::routes)
        .include(scheduled::routes)
        .include(reports::routes)
        .include(webhooks::routes)
        .include(health::routes)
        .include(openapi::routes)
        .finish("/v1")
}

/// The whole service: the API under `/v1`, the web pages at `/` (which call the same API
/// in-process and show times in the clinic's `time_zone`), `/metrics` when configured, limits,
/// timeouts, request logging and request metrics.
pub fn router(state: AppState, time_zone: chrono_tz::Tz) -> Router {
    let api = api().0.with_state(state.clone());
    let pages = web::router(web::WebState::new(
        api.clone(),
        state.commands.clone(),
        state.webhooks.public_url.as_deref(),
        time_zone,
    ));
    let mut router = Router::new()
        .nest("/v1", api.layer(DefaultBodyLimit::max(JSON_BODY_LIMIT)))
        .merge(pages);
    if let Some(endpoint) = state.metrics.clone() {
        router = router.route(
            "/metrics",
            axum::routing::get(metrics::scrape).with_state(endpoint),
        );
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(middleware::from_fn(read_whole_body))
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(request_log())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(60),
        ))
        .layer(middleware::map_response(json_refusals))
        .layer(middleware::from_fn(metrics::track_requests))
}

/// `/metrics` alone, for the processes that serve no API (`hub project`, `hub dispatch`);
/// any other path is 404.
pub fn metrics_only(endpoint: MetricsEndpoint) -> Router {
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(metrics::scrape).with_state(Arc::new(endpoint)),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
}

/// Gives the bodiless refusals of the layers (the request deadline's 503) the contract's JSON
/// error body.
async fn json_refusals(response: Response) -> Response {
    let bodiless = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_none();
    if response.status() == StatusCode::SERVICE_UNAVAILABLE && bodiless {
        return ApiError::deadline_passed().into_response();
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

/// Reads a request's whole body (up to the JSON limit) before routing, so an early answer
/// (401, 404, a validation error) never leaves unread bytes on a kept-alive connection.
/// Uploads stream and are exempt: the API's attachments, and the pages' multipart forms (their
/// files stream into the attachment store; sign-in and sign-out are never that large).
async fn read_whole_body(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let multipart_form = !path.starts_with("/v1/")
        && !matches!(path, "/signin" | "/signout")
        && request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                value
                    .to_ascii_lowercase()
                    .starts_with("multipart/form-data")
            });
    let is_upload = request.method() == axum::http::Method::POST
        && (path == "/v1/attachments" || multipart_form);
    if is_upload {
        let response = next.run(request).await;
        // A refused upload may leave part of its body unread: do not reuse the connection.
        return if response.status().is_client_error() {
            closing(response)
        } else {
            response
        };
    }
    let path = request.uri().path();
    let limit = if path == "/v1/webhooks/email" {
        webhooks::EMAIL_BODY_LIMIT
    } else if path == "/signin" {
        // Anonymous: a token and a nonce, never more.
        SIGN_IN_BODY_LIMIT
    } else {
        JSON_BODY_LIMIT
    };
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(error) if body_stalled(&error) => closing(ApiError::body_stalled().into_response()),
        Err(_) => {
            closing(ApiError::payload_too_large("the request body is too large").into_response())
        }
    }
}

/// How long a request body may stop arriving before it is answered 408 (tower-http's body
/// timeout, reset by every chunk; the whole request's deadline still bounds a trickle).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether reading a body failed because it stopped arriving (tower-http's body timeout).
pub fn body_stalled(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |error| error.source())
        .any(|error| error.is::<tower_http::timeout::TimeoutError>())
}

/// Marks a response as the connection's last, for answers sent before the body was read.
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

/// The request-logging layer with its span maker `S` and response logger `R`.
type RequestLog<S, R> = tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    S,
    (),
    R,
>;

/// One log line per request: method and route (ids redacted) on the span, status and latency
/// on the line; never bodies, query values or headers.
fn request_log() -> RequestLog<
    impl Fn(&Request) -> tracing::Span + Clone,
    impl Fn(&Response, Duration, &tracing::Span) + Clone,
> {
    tower_http::trace::TraceLayer::new_for_http()
        .make_span_with(|request: &Request| {
            tracing::info_span!(
                "http",
                method = %request.method(),
                path = %redact_ids(request.uri().path()),
            )
        })
        .on_request(())
        .on_response(
            |response: &Response, latency: Duration, _span: &tracing::Span| {
                let latency_ms = latency.as_secs_f64() * 1_000.0;
                tracing::info!(
                    status = response.status().as_u16(),
                    latency_ms = format_args!("{latency_ms:.2}"),
                    "request"
                );
            },
        )
}

/// The words of the hub's routes (API and pages). Any other path segment is a value (an id, a
/// malformed id, a file name) and is logged as `{id}`, so that no patient data a caller put in a
/// path reaches the log.
const ROUTE_WORDS: &[&str] = &[
    "v1",
    "staff",
    "patients",
    "messages",
    "conversations",
    "attachments",
    "events",
    "unmatched",
    "webhooks",
    "twilio",
    "sms",
    "status",
    "whatsapp",
    "email",
    "health",
    "openapi.json",
    "permissions",
    "token",
    "read",
    "star",
    "archive",
    "unarchive",
    "calls",
    "assign",
    "signin",
    "signout",
    "new",
    "updates",
    "reply",
    "call",
    "files",
    "static",
    "templates",
    "metrics",
];

/// The path as logged: route words kept, every other segment `{id}`.
fn redact_ids(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.is_empty() || ROUTE_WORDS.contains(&segment) {
                segment
            } else {
                "{id}"
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// The values a query parameter's schema enumerates, its `$ref` followed.
    fn enumerated(document: &serde_json::Value, path: &str, name: &str) -> Vec<String> {
        let parameters = document["paths"][path]["get"]["parameters"]
            .as_array()
            .expect("parameters");
        let parameter = parameters
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} documents {name}"));
        let mut schema = &parameter["schema"];
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.rsplit('/').next().expect("a schema name");
            schema = &document["components"]["schemas"][name];
        }
        let values: Vec<String> = match schema["enum"].as_array() {
            Some(values) => values
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect(),
            None => schema["oneOf"]
                .as_array()
                .expect("an enumeration")
                .iter()
                .map(|v| v["const"].as_str().unwrap().to_owned())
                .collect(),
        };
        assert!(!values.is_empty(), "{path} {name}");
        values
    }

    /// Every value an enumerated query parameter documents is one its handler reads.
    #[test]
    fn enumerated_query_values_parse() {
        let document = super::api().1;
        for path in ["/v1/conversations", "/v1/messages"] {
            for value in enumerated(&document, path, "channel") {
                value.parse::<domain::Channel>().expect("a channel");
            }
            for value in enumerated(&document, path, "direction") {
                value.parse::<domain::Direction>().expect("a direction");
            }
            for value in enumerated(&document, path, "status") {
                value
                    .parse::<domain::status::ConversationStatus>()
                    .expect("a status");
            }
        }
        for value in enumerated(&document, "/v1/conversations", "awaiting") {
            value.parse::<projections::Awaiting>().expect("awaiting");
        }
        for value in enumerated(&document, "/v1/staff", "role") {
            let role: domain::Role = value.parse().expect("a role");
            assert!(role.is_registrable_staff(), "{value}");
        }
    }

    /// The checked-in `schemas/openapi.json` is the document the code generates;
    /// regenerate with `UPDATE_SCHEMAS=1 cargo test -p hub openapi`.
    #[test]
    fn checked_in_openapi_matches_the_code() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/openapi.json");
        let generated = serde_json::to_string_pretty(&super::api().1).expect("serializable") + "\n";
        if std::env::var_os("UPDATE_SCHEMAS").is_some() {
            std::fs::write(&path, &generated).expect("write schemas/openapi.json");
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "schemas/openapi.json differs from the API the code serves; run `UPDATE_SCHEMAS=1 cargo test -p hub openapi`"
        );
    }
}
