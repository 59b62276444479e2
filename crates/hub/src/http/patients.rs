//! Patient registration, contact changes and tokens (admin and reception).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::contact::{EmailAddress, PatientContact, PhoneNumber};
use domain::quiet_hours::{parse_time_zone, Tz};
use domain::{DomainError, PatientId, Role};
use projections::Page;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use super::answers::{Ack, ErasureAnswer, PatientRecord, Registered};

use super::extract::{
    Admins, Caller, FrontDesk, JsonBody, Params, PathId, Permitted, CURSOR, LIMIT,
};
use super::messages::page_request;
use super::openapi::Verb::{Delete, Get, Patch, Post};
use super::openapi::{ApiBuilder, Operation as Op, ParamSchema, QueryParam};
use super::staff::ensure_may_read_directory;
use super::{patterns, tokens, AppState};
use crate::error::ApiError;
use commands::token::Holder;
use commands::{ContactPatch, RequestMeta};

/// The patient routes.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(DIRECTORY, directory)
        .route(REGISTER, register)
        .route(SHOW, show)
        .route(CHANGE, change)
        .route(ROTATE_TOKEN, rotate_token)
        .route(REVOKE_TOKENS, revoke_tokens)
        .route(ERASE, erase)
}

/// `POST /v1/patients` body.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterPatientBody {
    /// Name: 1 to 200 characters, trimmed.
    #[schemars(regex(pattern = patterns::NAME))]
    name: String,
    /// E.164 phone number: `+` then 8 to 15 digits.
    #[serde(default)]
    #[schemars(regex(pattern = patterns::PHONE))]
    phone: Option<String>,
    /// E-mail address.
    #[serde(default)]
    #[schemars(email, length(max = 254))]
    email: Option<String>,
    /// Whether the patient has a portal account.
    #[serde(default)]
    portal_enabled: bool,
    /// Whether the patient agreed to WhatsApp.
    #[serde(default)]
    whatsapp_opt_in: bool,
    /// The patient's IANA time zone (e.g. `Europe/Berlin`), in which quiet hours are judged.
    #[serde(default)]
    #[schemars(schema_with = "patterns::time_zone_or_null_schema")]
    time_zone: Option<String>,
}

/// `PATCH /v1/patients/{id}` body: absent fields stay, `null` clears phone or e-mail.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    /// New name: 1 to 200 characters, trimmed.
    #[serde(default)]
    #[schemars(regex(pattern = patterns::NAME))]
    name: Option<String>,
    /// New E.164 phone number; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schemars(regex(pattern = patterns::PHONE))]
    phone: Option<Option<String>>,
    /// New e-mail address; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schemars(email, length(max = 254))]
    email: Option<Option<String>>,
    /// New portal flag.
    #[serde(default)]
    portal_enabled: Option<bool>,
    /// New WhatsApp opt-in.
    #[serde(default)]
    whatsapp_opt_in: Option<bool>,
    /// New IANA time zone; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schemars(schema_with = "patterns::time_zone_or_null_schema")]
    time_zone: Option<Option<String>>,
}

/// Tells a present `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

fn phone(raw: Option<&str>) -> Result<Option<PhoneNumber>, DomainError> {
    raw.map(PhoneNumber::parse).transpose()
}

fn time_zone(raw: Option<&str>) -> Result<Option<Tz>, DomainError> {
    raw.map(|name| parse_time_zone("time_zone", name))
        .transpose()
}

fn email(raw: Option<&str>) -> Result<Option<EmailAddress>, DomainError> {
    raw.map(EmailAddress::parse).transpose()
}

/// The operation [`register`] serves.
const REGISTER: Op = Op::new(
    Post,
    "/patients",
    "Register a patient (admin, receptionist)",
    201,
)
.json_body::<RegisterPatientBody>()
.answers::<Registered>();

/// Registers a patient; answers `{id, token}`.
pub async fn register(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<FrontDesk>,
    JsonBody(body): JsonBody<RegisterPatientBody>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let contact = PatientContact {
        name: body.name,
        phone: phone(body.phone.as_deref())?,
        email: email(body.email.as_deref())?,
        portal_enabled: body.portal_enabled,
        whatsapp_opt_in: body.whatsapp_opt_in,
        time_zone: time_zone(body.time_zone.as_deref())?,
    };
    let registered = state
        .commands
        .register_patient(&principal, &RequestMeta::new(), contact)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            id: registered.id,
            token: Some(registered.token),
            position: registered.position,
        }),
    ))
}

/// The operation [`change`] serves.
const CHANGE: Op = Op::new(
    Patch,
    "/patients/{id}",
    "Change contact details (admin, receptionist)",
    200,
)
.json_body::<PatchBody>()
.errors(&[422])
.answers::<PatientRecord>();

/// Changes contact details; answers the record after the change.
pub async fn change(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<FrontDesk>,
    PathId(id): PathId,
    JsonBody(body): JsonBody<PatchBody>,
) -> Result<Json<PatientRecord>, ApiError> {
    let patient_id = PatientId(id);
    let patch = ContactPatch {
        name: body.name,
        phone: body.phone.map(|p| phone(p.as_deref())).transpose()?,
        email: body.email.map(|e| email(e.as_deref())).transpose()?,
        portal_enabled: body.portal_enabled,
        whatsapp_opt_in: body.whatsapp_opt_in,
        time_zone: body
            .time_zone
            .map(|zone| time_zone(zone.as_deref()))
            .transpose()?,
    };
    let committed = state
        .commands
        .change_patient(&principal, &RequestMeta::new(), patient_id, &patch)
        .await?;
    let mut record = patient_record(&state, patient_id).await?;
    record.position = Some(committed.position);
    Ok(Json(record))
}

/// The operation [`show`] serves.
const SHOW: Op = Op::new(
    Get,
    "/patients/{id}",
    "A patient's contact record (staff, the patient)",
    200,
)
.answers::<PatientRecord>();

/// A patient's record: staff and the patient itself.
pub async fn show(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathId(id): PathId,
    params: Params,
) -> Result<Json<PatientRecord>, ApiError> {
    let patient_id = PatientId(id);
    params.await_min_position(&state).await?;
    let allowed = match principal.role() {
        Role::Patient => principal.actor.id == patient_id.0,
        _ => true,
    };
    if !allowed {
        return Err(ApiError::not_found("patient"));
    }
    Ok(Json(patient_record(&state, patient_id).await?))
}

/// The operation [`directory`] serves.
const DIRECTORY: Op = Op::new(
    Get,
    "/patients",
    "The patient directory by name word prefix, or a whole phone number or e-mail (staff, auditor)",
    200,
)
.query(&[DIRECTORY_Q, LIMIT, CURSOR])
.answers::<Page<PatientRecord>>();

/// `q` of the patient directory.
const DIRECTORY_Q: QueryParam = QueryParam::new(
    "q",
    ParamSchema::Text,
    "The start of any word of the name (any case, accents folded), or a whole phone number or e-mail address",
);

/// `GET /v1/patients?q=`: the records of the patients the directory finds, in registration
/// order.
pub async fn directory(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Params,
) -> Result<Json<Page<PatientRecord>>, ApiError> {
    ensure_may_read_directory(&principal)?;
    let page = page_request(&params)?;
    params.await_min_position(&state).await?;
    let found = state
        .read_model
        .patient_directory(params.text("q"), &page)
        .await?;
    let mut items = Vec::with_capacity(found.items.len());
    for entry in found.items {
        items.push(patient_record(&state, entry.id).await?);
    }
    Ok(Json(Page {
        items,
        next_cursor: found.next_cursor,
    }))
}

async fn patient_record(
    state: &AppState,
    patient_id: PatientId,
) -> Result<PatientRecord, ApiError> {
    let patient = state.commands.patient(patient_id).await?;
    let record = patient.record()?;
    let contact = &record.contact;
    Ok(PatientRecord {
        id: record.id.0,
        name: contact.name.clone(),
        phone: contact.phone.as_ref().map(|p| p.as_str().to_owned()),
        email: contact.email.as_ref().map(|e| e.as_str().to_owned()),
        portal_enabled: contact.portal_enabled,
        whatsapp_opt_in: contact.whatsapp_opt_in,
        sms_opted_out: !record.sms_consent,
        erased: record.erased,
        time_zone: contact.time_zone.map(|zone| zone.name().to_owned()),
        whatsapp_window_closes_at: record
            .whatsapp_window_opened_at
            .map(|opened| opened + domain::patient::WHATSAPP_WINDOW),
        position: None,
    })
}

/// The operation [`rotate_token`] serves.
const ROTATE_TOKEN: Op = Op::new(
    Post,
    "/patients/{id}/token",
    "Revoke the patient's tokens and issue a new one (admin)",
    200,
)
.errors(&[422])
.answers::<Registered>();

/// Revokes the holder's tokens and issues a new one (admin); answers `{id, token}`.
pub async fn rotate_token(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<Admins>,
    PathId(id): PathId,
) -> Result<Json<Registered>, ApiError> {
    tokens::rotate(&state, &principal, Holder::Patient(id))
        .await
        .map(Json)
}

/// The operation [`revoke_tokens`] serves.
const REVOKE_TOKENS: Op = Op::new(
    Delete,
    "/patients/{id}/token",
    "Revoke every token of the patient (admin)",
    200,
)
.errors(&[422])
.answers::<Ack>();

/// Revokes every token of the holder (admin).
pub async fn revoke_tokens(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<Admins>,
    PathId(id): PathId,
) -> Result<Json<Ack>, ApiError> {
    tokens::revoke(&state, &principal, Holder::Patient(id))
        .await
        .map(Json)
}

/// The operation [`erase`] serves.
const ERASE: Op = Op::new(
    Post,
    "/patients/{id}/erase",
    "Erase a patient: its personal data and its messages' become unreadable for good, its files are deleted (admin)",
    200,
)
.errors(&[422])
.answers::<ErasureAnswer>();

/// Erases a patient (admin): destroys its data key, records `PatientErased`, deletes the files
/// of its messages and scheduled messages.
pub async fn erase(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<Admins>,
    PathId(id): PathId,
) -> Result<Json<ErasureAnswer>, ApiError> {
    let patient_id = PatientId(id);
    let scheduled = scheduled_streams(&state, &principal, patient_id).await?;
    let erasure = state
        .commands
        .erase_patient(&principal, &RequestMeta::new(), patient_id, &scheduled)
        .await?;
    for (_, sha256) in &erasure.attachments {
        // Files are stored by content: one that another patient's message carries stays.
        if !state
            .read_model
            .file_used_beyond(sha256, patient_id)
            .await?
        {
            state.blobs.delete(sha256).await?;
        }
    }
    Ok(Json(ErasureAnswer {
        id,
        erased: true,
        complete: erasure.complete(),
        plain_events: erasure.plain_events,
        position: erasure.position,
    }))
}

/// The streams of the patient's scheduled messages, as the read model knows them.
async fn scheduled_streams(
    state: &AppState,
    principal: &domain::Principal,
    patient_id: PatientId,
) -> Result<Vec<String>, ApiError> {
    let filter = projections::ScheduledFilter {
        patient_id: Some(patient_id),
        ..Default::default()
    };
    let mut page = projections::PageRequest {
        limit: 200,
        cursor: None,
    };
    let mut streams = Vec::new();
    loop {
        let found = state
            .read_model
            .scheduled(&principal.actor, &filter, &page)
            .await?;
        streams.extend(
            found
                .items
                .iter()
                .map(|item| domain::ids::scheduled_stream(item.message_id)),
        );
        match found.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok(streams),
        }
    }
}
