//! The HTTP API of contract section 4: routes, shared state, limits and request logging.

mod attachments;
mod conversations;
mod events;
pub mod extract;
mod health;
mod messages;
mod patients;
mod staff;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use projections::ReadModel;
use tower_http::timeout::TimeoutLayer;

use crate::blobs::BlobStore;
use crate::commands::CommandService;
use crate::error::ApiError;

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
    pub channels: Arc<health::ChannelReport>,
}

impl AppState {
    /// Shared state for the router.
    pub fn new(
        commands: Arc<CommandService>,
        read_model: Arc<dyn ReadModel>,
        blobs: Arc<BlobStore>,
        channels: health::ChannelReport,
    ) -> Self {
        AppState {
            commands,
            read_model,
            blobs,
            channels: Arc::new(channels),
        }
    }
}

pub use events::event_json;
pub use health::ChannelReport;

/// The whole API under `/v1`.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/staff", post(staff::register))
        .route("/staff/{id}/permissions", post(staff::change_permissions))
        .route(
            "/staff/{id}/token",
            post(staff::rotate_token).delete(staff::revoke_tokens),
        )
        .route("/patients", post(patients::register))
        .route("/patients/{id}", get(patients::show).patch(patients::change))
        .route(
            "/patients/{id}/token",
            post(patients::rotate_token).delete(patients::revoke_tokens),
        )
        .route("/messages", post(messages::start).get(messages::search))
        .route("/messages/{id}", get(messages::show))
        .route("/messages/{id}/read", post(messages::mark_read))
        .route(
            "/messages/{id}/star",
            put(messages::star).delete(messages::unstar),
        )
        .route("/conversations", get(conversations::list))
        .route("/conversations/{id}", get(conversations::show))
        .route(
            "/conversations/{id}/messages",
            get(conversations::timeline).post(conversations::reply),
        )
        .route("/conversations/{id}/calls", post(conversations::log_call))
        .route("/conversations/{id}/archive", post(conversations::archive))
        .route("/conversations/{id}/unarchive", post(conversations::unarchive))
        .route("/events", get(events::list))
        .route("/health", get(health::health))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .route(
            "/attachments",
            post(attachments::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/attachments/{id}", get(attachments::download));
    Router::new()
        .nest("/v1", api)
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(state)
        .layer(middleware::from_fn(log_request))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(60),
        ))
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

/// One log line per request: method, route, status and latency; never bodies or query values.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await.into_response();
    let latency_ms = started.elapsed().as_secs_f64() * 1_000.0;
    tracing::info!(
        %method,
        path = %redact_ids(&path),
        status = response.status().as_u16(),
        latency_ms = format_args!("{latency_ms:.2}"),
        "request"
    );
    response
}

/// Replaces path segments that are ids with `{id}` so logs name routes, not records.
fn redact_ids(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if uuid::Uuid::try_parse(segment).is_ok() {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
