//! The static files the pages use, compiled into the binary.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// htmx 2 (Zero-Clause BSD, see `static/htmx.LICENSE`).
const HTMX: &[u8] = include_bytes!("../static/htmx.min.js");
const SCRIPT: &[u8] = include_bytes!("../static/app.js");
const STYLE: &[u8] = include_bytes!("../static/app.css");

/// `GET /static/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    let (content_type, bytes) = match file.as_str() {
        "htmx.min.js" => ("text/javascript; charset=utf-8", HTMX),
        "app.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "app.css" => ("text/css; charset=utf-8", STYLE),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    super::page::secure(headers);
    response
}
