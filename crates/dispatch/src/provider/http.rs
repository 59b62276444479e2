//! HTTP plumbing shared by the HTTP providers: one client with bounded timeouts, and the
//! mapping of transport failures and HTTP answers onto [`SendError`].

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::{SendError, SetupError};

/// How long connecting to a provider may take before the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one whole request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The error a provider puts in the body of a failed answer.
pub(crate) struct ProviderError {
    /// The provider's error code, as text.
    pub code: String,
    /// The provider's description.
    pub message: String,
}

/// Reads a provider's error out of an error answer's body, if it has the provider's shape.
pub(crate) type ErrorParser = fn(&[u8]) -> Option<ProviderError>;

/// An HTTP client for one provider: bounded connect and request timeouts, no redirects
/// (a redirected POST would silently turn into a GET).
pub(crate) fn client() -> Result<reqwest::Client, SetupError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|err| SetupError(format!("HTTP client: {err}")))
}

/// Classifies a request that got no HTTP answer: one that never connected certainly did
/// not reach the provider; one that failed later may have.
pub(crate) fn transport_error(provider: &str, err: &reqwest::Error) -> SendError {
    if err.is_connect() {
        SendError::Transient(format!("{provider}: cannot connect: {err}"))
    } else if err.is_builder() {
        SendError::Rejected(format!("{provider}: invalid request: {err}"))
    } else {
        SendError::OutcomeUnknown(format!(
            "{provider}: no answer after the request was sent: {err}"
        ))
    }
}

/// The body of a successful answer, or the error the answer stands for: 408, 429 and 5xx
/// are transient, any other non-2xx status is a rejection with the provider's reason.
pub(crate) async fn success_body(
    provider: &str,
    response: reqwest::Response,
    parse_error: ErrorParser,
) -> Result<Bytes, SendError> {
    let status = response.status();
    let body = response.bytes().await;
    if status.is_success() {
        return body.map_err(|err| {
            SendError::OutcomeUnknown(format!(
                "{provider}: answer {status} could not be read: {err}"
            ))
        });
    }
    let detail = body.ok().as_deref().and_then(parse_error);
    let reason = match detail {
        Some(ProviderError { code, message }) => format!("{provider} {code}: {message}"),
        None => format!("{provider} HTTP {}", status.as_u16()),
    };
    if is_transient(status) {
        Err(SendError::Transient(reason))
    } else {
        Err(SendError::Rejected(reason))
    }
}

/// Decodes a successful answer's JSON body; an unreadable one leaves the outcome unknown.
pub(crate) async fn success_json<T: DeserializeOwned>(
    provider: &str,
    response: reqwest::Response,
    parse_error: ErrorParser,
) -> Result<T, SendError> {
    let body = success_body(provider, response, parse_error).await?;
    serde_json::from_slice(&body).map_err(|err| {
        SendError::OutcomeUnknown(format!(
            "{provider}: the answer is not the documented JSON: {err}"
        ))
    })
}

/// Renders a JSON error code (a number or a string) as text.
pub(crate) fn code_text(code: &serde_json::Value) -> String {
    match code {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}
