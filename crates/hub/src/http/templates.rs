//! Message templates (contract section 8): admins write them, staff and auditors read them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::template::{TemplateContent, WhatsappTemplate, MAX_BODY_CHARS, MAX_SUBJECT_CHARS};
use domain::TemplateId;
use projections::{Page, TemplateView};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::extract::{Admins, Caller, JsonBody, Params, PathId, Permitted, CURSOR, LIMIT};
use super::messages::page_request;
use super::openapi::Verb::{Delete, Get, Post, Put};
use super::openapi::{ApiBuilder, Operation as Op};
use super::staff::ensure_may_read_directory;
use super::{patterns, AppState};
use crate::error::ApiError;
use commands::{RequestMeta, TemplateWritten};

/// The template routes.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(LIST, list)
        .route(SHOW, show)
        .route(CREATE, create)
        .route(REVISE, revise)
        .route(RETIRE, retire)
}

/// A placeholder name: `[a-z][a-z0-9_]*`.
const VARIABLE: &str = "^[a-z][a-z0-9_]*$";

/// The approved WhatsApp template a template is sent as outside the 24-hour window.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatsappBody {
    /// The approved template's name on the provider.
    #[schemars(regex(pattern = r"^[a-z0-9_]{1,512}$"))]
    name: String,
    /// Its language code, e.g. `en` or `en_US`.
    #[schemars(regex(pattern = r"^[a-z]{2,3}(_[A-Z]{2})?$"))]
    language: String,
    /// The template variables that fill its body parameters `{{1}}`, `{{2}}`, … in order.
    #[serde(default)]
    #[schemars(inner(regex(pattern = VARIABLE)))]
    parameters: Vec<String>,
}

/// `POST /v1/templates` and `PUT /v1/templates/{id}` body: a template version's content.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// Display name: 1 to 200 characters, trimmed.
    #[schemars(regex(pattern = patterns::NAME))]
    name: String,
    /// Subject line with `{{name}}` placeholders (for e-mail).
    #[serde(default)]
    #[schemars(length(max = MAX_SUBJECT_CHARS))]
    subject: Option<String>,
    /// Body text with `{{name}}` placeholders; `{{patient_name}}` is filled from the
    /// patient's record.
    #[schemars(length(max = MAX_BODY_CHARS), regex(pattern = patterns::NOT_BLANK))]
    body: String,
    /// The matching approved WhatsApp template, if there is one.
    #[serde(default)]
    whatsapp: Option<WhatsappBody>,
}

impl TemplateBody {
    fn content(self) -> TemplateContent {
        TemplateContent {
            name: self.name,
            subject: self.subject,
            body: self.body,
            whatsapp: self.whatsapp.map(|w| WhatsappTemplate {
                name: w.name,
                language: w.language,
                parameters: w.parameters,
            }),
        }
    }
}

/// A template write's answer: `{id, version, position}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TemplateAnswer {
    /// The template.
    pub id: TemplateId,
    /// Its version after the write.
    pub version: u32,
    /// Global position of the change.
    pub position: u64,
}

impl From<TemplateWritten> for TemplateAnswer {
    fn from(written: TemplateWritten) -> Self {
        TemplateAnswer {
            id: written.id,
            version: written.version,
            position: written.position,
        }
    }
}

/// The operation [`create`] serves.
const CREATE: Op = Op::new(Post, "/templates", "Create a message template (admin)", 201)
    .json_body::<TemplateBody>()
    .answers::<TemplateAnswer>();

/// Creates a template; answers `{id, version, position}`.
pub async fn create(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<Admins>,
    JsonBody(body): JsonBody<TemplateBody>,
) -> Result<(StatusCode, Json<TemplateAnswer>), ApiError> {
    let written = state
        .commands
        .create_template(&principal, &RequestMeta::new(), body.content())
        .await?;
    Ok((StatusCode::CREATED, Json(written.into())))
}

/// The operation [`revise`] serves.
const REVISE: Op = Op::new(
    Put,
    "/templates/{id}",
    "Write a new version of a template (admin); messages already written keep theirs",
    200,
)
.json_body::<TemplateBody>()
.answers::<TemplateAnswer>();

/// Writes a new version; content identical to the current version keeps its number.
pub async fn revise(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<Admins>,
    PathId(id): PathId,
    JsonBody(body): JsonBody<TemplateBody>,
) -> Result<Json<TemplateAnswer>, ApiError> {
    let written = state
        .commands
        .revise_template(
            &principal,
            &RequestMeta::new(),
            TemplateId(id),
            body.content(),
        )
        .await?;
    Ok(Json(written.into()))
}

/// The operation [`retire`] serves.
const RETIRE: Op = Op::new(
    Delete,
    "/templates/{id}",
    "Retire a template (admin): it can no longer be used, and stays readable",
    200,
)
.answers::<TemplateAnswer>();

/// Retires a template; retiring it again changes nothing.
pub async fn retire(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<Admins>,
    PathId(id): PathId,
) -> Result<Json<TemplateAnswer>, ApiError> {
    let written = state
        .commands
        .retire_template(&principal, &RequestMeta::new(), TemplateId(id))
        .await?;
    Ok(Json(written.into()))
}

/// The operation [`list`] serves.
const LIST: Op = Op::new(
    Get,
    "/templates",
    "Message templates in creation order, retired ones included (staff, auditor)",
    200,
)
.query(&[LIMIT, CURSOR])
.answers::<Page<TemplateView>>();

/// `GET /v1/templates`: `{id, name, version, subject, body, whatsapp, variables, retired}` each.
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Params,
) -> Result<Json<Page<TemplateView>>, ApiError> {
    ensure_may_read_directory(&principal)?;
    let page = page_request(&params)?;
    params.await_min_position(&state).await?;
    Ok(Json(state.read_model.templates(&page).await?))
}

/// The operation [`show`] serves.
const SHOW: Op = Op::new(
    Get,
    "/templates/{id}",
    "One template at its current version (staff, auditor)",
    200,
)
.answers::<TemplateView>();

/// One template, retired or not.
pub async fn show(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathId(id): PathId,
    params: Params,
) -> Result<Json<TemplateView>, ApiError> {
    ensure_may_read_directory(&principal)?;
    params.await_min_position(&state).await?;
    state
        .read_model
        .template(TemplateId(id))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("template"))
}
