//! Uploading and downloading attachments.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::attachment::{AttachmentRef, MediaType};
use domain::{AttachmentId, Role};
use schemars::SchemaGenerator;
use serde_json::{json, Value};
use uuid::Uuid;

use super::answers::AttachmentAnswer;
use super::extract::{Caller, Params, PathId};
use super::openapi::Verb::{Get, Post};
use super::openapi::{ApiBuilder, Operation as Op, ParamSchema, QueryParam};
use super::{patterns, AppState};
use crate::blobs::BlobError;
use crate::error::ApiError;
use commands::RequestMeta;

/// The attachment routes.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(UPLOAD, upload).route(DOWNLOAD, download)
}

/// The longest file name kept.
const MAX_FILENAME_CHARS: usize = 255;

/// `filename`: the name the file is stored and downloaded under.
const FILENAME: QueryParam = QueryParam::new(
    "filename",
    ParamSchema::Typed(filename_schema),
    "The file's name; a path is cut to its last segment, which keeps 1 to 255 characters and no control character",
);

fn filename_schema(_: &mut SchemaGenerator) -> Value {
    json!({ "type": "string", "pattern": patterns::FILENAME })
}

/// The file name kept for `raw`: its last path segment, trimmed, if that is 1 to 255
/// characters without a control character.
pub(super) fn valid_filename(raw: &str) -> Option<String> {
    let name = raw.rsplit(['/', '\\']).next().unwrap_or(raw).trim();
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_FILENAME_CHARS
        && !name.chars().any(char::is_control);
    valid.then(|| name.to_owned())
}

fn filename(params: &Params) -> Result<Option<String>, ApiError> {
    params
        .text("filename")
        .map(|raw| {
            valid_filename(raw)
                .ok_or_else(|| ApiError::invalid("`filename` is not a valid file name"))
        })
        .transpose()
}

/// The media types an upload may declare, each with the schema of its file.
fn attachment_media() -> Vec<(&'static str, Value)> {
    MediaType::ALL
        .into_iter()
        .map(|media| {
            let schema = match media {
                // UTF-8 text without NUL bytes (in the part the hub reads to check the type).
                MediaType::PlainText => {
                    json!({ "type": "string", "minLength": 1, "pattern": "^[^\\u0000]*$" })
                }
                _ => json!({ "type": "string", "format": "binary", "minLength": 1 }),
            };
            (media.as_str(), schema)
        })
        .collect()
}

/// What a download answers: the file in its stored media type.
fn download_media() -> Vec<(&'static str, Value)> {
    MediaType::ALL
        .into_iter()
        .map(|media| {
            (
                media.as_str(),
                json!({ "type": "string", "format": "binary" }),
            )
        })
        .collect()
}

impl From<BlobError> for ApiError {
    fn from(error: BlobError) -> Self {
        match error {
            BlobError::Mismatch(_) => ApiError::unsupported_media_type(error.to_string()),
            BlobError::TooLarge => {
                domain::DomainError::AttachmentTooLarge(error.to_string()).into()
            }
            BlobError::Empty | BlobError::Body(_) => ApiError::invalid(error.to_string()),
            BlobError::Stalled => ApiError::body_stalled(),
            // Its file was deleted (its patient was erased).
            BlobError::Store(object_store::Error::NotFound { .. }) => {
                ApiError::not_found("attachment")
            }
            BlobError::Store(error) => ApiError::unavailable(error),
        }
    }
}

/// The operation [`upload`] serves.
const UPLOAD: Op = Op::new(
    Post,
    "/attachments",
    "Store a file: the raw file as the body, its type as Content-Type, which its bytes must match (patients and staff who may send)",
    201,
)
.raw_body(attachment_media)
.query(&[FILENAME])
.answers::<AttachmentAnswer>();

/// `POST /v1/attachments`: the raw file as the body, its type as `Content-Type`.
pub async fn upload(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Params,
    request: Request,
) -> Result<(StatusCode, Json<AttachmentAnswer>), ApiError> {
    if !matches!(
        principal.role(),
        Role::Patient | Role::Receptionist | Role::Doctor | Role::Admin
    ) {
        return Err(ApiError::forbidden(
            "only those who may send upload attachments",
        ));
    }
    let filename = filename(&params)?;
    let declared = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| ApiError::unsupported_media_type("a `Content-Type` is required"))?;
    let media_type = MediaType::from_content_type(declared)?;
    let body = request.into_body().into_data_stream();
    let blob = state.blobs.put(media_type, body).await?;
    let attachment = AttachmentRef {
        id: AttachmentId(Uuid::new_v4()),
        media_type,
        size: blob.size,
        sha256: blob.sha256,
        filename,
    };
    let committed = state
        .commands
        .store_attachment(&principal, &RequestMeta::new(), attachment.clone())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(AttachmentAnswer {
            id: attachment.id.0,
            media_type: attachment.media_type,
            size: attachment.size,
            sha256: attachment.sha256,
            filename: attachment.filename,
            position: committed.position,
        }),
    ))
}

/// The operation [`download`] serves.
const DOWNLOAD: Op = Op::new(
    Get,
    "/attachments/{id}",
    "Download a file (its uploader, and whoever can see a message carrying it)",
    200,
)
.answers_raw(download_media);

/// `GET /v1/attachments/{id}`: the file, for its uploader and whoever can see a message carrying it.
pub async fn download(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathId(id): PathId,
    params: Params,
) -> Result<Response, ApiError> {
    let id = AttachmentId(id);
    params.await_min_position(&state).await?;
    let stored = state
        .commands
        .attachment(id)
        .await?
        .ok_or_else(|| ApiError::not_found("attachment"))?;
    // An erased patient's file is gone for everyone (its bytes may stay for another patient
    // who has the same file).
    if state.read_model.attachment_erased(id).await? {
        return Err(ApiError::not_found("attachment"));
    }
    let visible = stored.uploaded_by.id == principal.actor.id
        || state
            .read_model
            .attachment_visible(&principal.actor, id)
            .await?;
    if !visible {
        return Err(ApiError::not_found("attachment"));
    }
    let attachment = stored.attachment;
    let content = state.blobs.get(&attachment.sha256).await?;
    let name = attachment
        .filename
        .as_deref()
        .unwrap_or("attachment")
        .replace(
            |c: char| !c.is_ascii_graphic() && c != ' ' || c == '"' || c == '\\',
            "_",
        );
    Ok((
        [
            (CONTENT_TYPE, attachment.media_type.as_str().to_owned()),
            (CONTENT_LENGTH, attachment.size.to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(content),
    )
        .into_response())
}
