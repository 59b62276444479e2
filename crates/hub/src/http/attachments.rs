//! Uploading and downloading attachments.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::attachment::{AttachmentRef, MediaType};
use domain::{AttachmentId, Role};
use uuid::Uuid;

use super::answers::AttachmentAnswer;
use super::extract::{Caller, Params, PathId};
use super::openapi::Verb::{Get, Post};
use super::openapi::{ApiBuilder, Operation as Op};
use super::AppState;
use crate::blobs::BlobError;
use crate::error::ApiError;
use commands::RequestMeta;

/// The attachment routes.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(UPLOAD, upload).route(DOWNLOAD, download)
}

/// The longest file name kept.
const MAX_FILENAME_CHARS: usize = 255;

fn filename(params: &Params) -> Result<Option<String>, ApiError> {
    let Some(raw) = params.text("filename") else {
        return Ok(None);
    };
    let name = raw.rsplit(['/', '\\']).next().unwrap_or(raw).trim();
    if name.is_empty()
        || name.chars().count() > MAX_FILENAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::invalid("`filename` is not a valid file name"));
    }
    Ok(Some(name.to_owned()))
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
            BlobError::Store(error) => ApiError::unavailable(error),
        }
    }
}

/// The operation [`upload`] serves.
const UPLOAD: Op = Op::new(
    Post,
    "/attachments",
    "Store a file (raw body, its type as Content-Type)",
    201,
)
.raw_body()
.query(&["filename"])
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
const DOWNLOAD: Op = Op::new(Get, "/attachments/{id}", "Download a file", 200);

/// `GET /v1/attachments/{id}`: the file, for its uploader and whoever can see a message carrying it.
pub async fn download(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let id = AttachmentId(id);
    let stored = state
        .commands
        .attachment(id)
        .await?
        .ok_or_else(|| ApiError::not_found("attachment"))?;
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
