//! The one place where internal errors become contract error codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use commands::CommandError;
use domain::{ConversationId, DomainError, UnknownName};
use projections::QueryError;
use serde_json::json;
use store::StoreError;

/// An error answer: `{"error": {"code", "message"}}` with the contract's HTTP status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    conversation_id: Option<ConversationId>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            conversation_id: None,
        }
    }

    /// The contract's error code, e.g. `not_found`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 409 `concurrency_conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "concurrency_conflict", message)
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    /// 503 `not_caught_up`.
    pub fn not_caught_up(position: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_caught_up",
            format!("read models have not reached position {position} yet"),
        )
    }

    /// 503 `unavailable`: a dependency failed; the details go to the log, not to the caller.
    pub fn unavailable(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed on a dependency");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the service is temporarily unavailable",
        )
    }
}

impl ApiError {
    /// 503 `unavailable` for a request that outlasted the request deadline.
    pub fn deadline_passed() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the request took too long and was stopped; a write may or may not have been recorded: retry with the same idempotency_key, which makes the retry safe",
        )
    }

    /// 408 for a request body that stopped arriving: nothing for [`crate::http::BODY_TIMEOUT`].
    /// The contract's code for a malformed request, `invalid_request`; nothing was written.
    pub fn body_stalled() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request",
            format!(
                "the request body stopped arriving (nothing for {} s); nothing was written, send it again",
                crate::http::BODY_TIMEOUT.as_secs()
            ),
        )
    }

    /// 503 `unavailable` for a command: the write may or may not have been recorded, and the
    /// caller is told how to retry safely.
    pub fn write_unavailable(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "command failed on a dependency");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the event log is unavailable; the write may or may not have been recorded: retry with the same idempotency_key, which makes the retry safe",
        )
    }
}

/// The HTTP status the contract gives a domain refusal.
fn refusal_status(error: &DomainError) -> StatusCode {
    match error {
        DomainError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
        DomainError::MissingPermission(_)
        | DomainError::ConversationRule(_)
        | DomainError::Forbidden(_) => StatusCode::FORBIDDEN,
        DomainError::NotFound(_) => StatusCode::NOT_FOUND,
        DomainError::ConversationExists { .. } | DomainError::NotPending(_) => StatusCode::CONFLICT,
        DomainError::AttachmentTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        DomainError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        DomainError::ChannelUnavailable { .. }
        | DomainError::AttachmentsNotAllowed(_)
        | DomainError::PatientErased => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        let status = refusal_status(&error);
        let conversation_id = match &error {
            DomainError::ConversationExists { conversation_id } => Some(*conversation_id),
            _ => None,
        };
        ApiError {
            status,
            code: error.code(),
            message: error.to_string(),
            conversation_id,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ConcurrencyConflict { .. } => {
                ApiError::conflict("too many concurrent writers; try again")
            }
            other => ApiError::unavailable(other),
        }
    }
}

impl From<UnknownName> for ApiError {
    fn from(error: UnknownName) -> Self {
        ApiError::invalid(error.to_string())
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Refused(refusal) => refusal.into(),
            CommandError::Unauthenticated => ApiError::unauthenticated("the token is not valid"),
            CommandError::Conflict { .. } => {
                ApiError::conflict("too many concurrent writers; try again")
            }
            other => ApiError::write_unavailable(other),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::InvalidCursor => ApiError::invalid("cursor is not valid"),
            other => ApiError::unavailable(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(id) = self.conversation_id {
            error["conversation_id"] = json!(id);
        }
        let mut body = json!({ "error": error });
        if let Some(id) = self.conversation_id {
            body["conversation_id"] = json!(id);
        }
        (self.status, Json(body)).into_response()
    }
}
