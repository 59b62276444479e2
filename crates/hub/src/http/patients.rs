//! Patient registration, contact changes and tokens (admin and reception).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use domain::contact::{EmailAddress, PatientContact, PhoneNumber};
use domain::{DomainError, PatientId, Role};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::extract::{path_uuid, Caller, JsonBody};
use super::AppState;
use crate::commands::{ContactPatch, RequestMeta};
use crate::error::ApiError;
use crate::token::Holder;

/// `POST /v1/patients` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    name: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    portal_enabled: bool,
    #[serde(default)]
    whatsapp_opt_in: bool,
}

/// `PATCH /v1/patients/{id}` body: absent fields stay, `null` clears phone or e-mail.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    #[serde(default)]
    portal_enabled: Option<bool>,
    #[serde(default)]
    whatsapp_opt_in: Option<bool>,
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

fn email(raw: Option<&str>) -> Result<Option<EmailAddress>, DomainError> {
    raw.map(EmailAddress::parse).transpose()
}

/// Registers a patient; answers `{id, token}`.
pub async fn register(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(body): JsonBody<RegisterBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let contact = PatientContact {
        name: body.name,
        phone: phone(body.phone.as_deref())?,
        email: email(body.email.as_deref())?,
        portal_enabled: body.portal_enabled,
        whatsapp_opt_in: body.whatsapp_opt_in,
    };
    let registered = state
        .commands
        .register_patient(&principal, &RequestMeta::new(), contact)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": registered.id, "token": registered.token, "position": registered.position })),
    ))
}

/// Changes contact details; answers the record after the change.
pub async fn change(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PatchBody>,
) -> Result<Json<Value>, ApiError> {
    let patient_id = PatientId(path_uuid(&id)?);
    let patch = ContactPatch {
        name: body.name,
        phone: body.phone.map(|p| phone(p.as_deref())).transpose()?,
        email: body.email.map(|e| email(e.as_deref())).transpose()?,
        portal_enabled: body.portal_enabled,
        whatsapp_opt_in: body.whatsapp_opt_in,
    };
    let committed = state
        .commands
        .change_patient(&principal, &RequestMeta::new(), patient_id, &patch)
        .await?;
    let mut record = patient_json(&state, patient_id).await?;
    record["position"] = json!(committed.position);
    Ok(Json(record))
}

/// A patient's record: staff and the patient itself.
pub async fn show(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let patient_id = PatientId(path_uuid(&id)?);
    let allowed = match principal.role() {
        Role::Patient => principal.actor.id == patient_id.0,
        _ => true,
    };
    if !allowed {
        return Err(ApiError::not_found("patient"));
    }
    Ok(Json(patient_json(&state, patient_id).await?))
}

async fn patient_json(state: &AppState, patient_id: PatientId) -> Result<Value, ApiError> {
    let patient = state.commands.patient(patient_id).await?;
    let record = patient.record()?;
    let contact = &record.contact;
    Ok(json!({
        "id": record.id,
        "name": contact.name,
        "phone": contact.phone,
        "email": contact.email,
        "portal_enabled": contact.portal_enabled,
        "whatsapp_opt_in": contact.whatsapp_opt_in,
        "sms_opted_out": !record.sms_consent,
    }))
}

/// Revokes the patient's tokens and issues a new one (admin).
pub async fn rotate_token(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_uuid(&id)?;
    let (token, committed) = state
        .commands
        .replace_token(&principal, &RequestMeta::new(), Holder::Patient(id), true)
        .await?;
    Ok(Json(json!({ "id": id, "token": token, "position": committed.position })))
}

/// Revokes every token of the patient (admin).
pub async fn revoke_tokens(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_uuid(&id)?;
    let (_, committed) = state
        .commands
        .replace_token(&principal, &RequestMeta::new(), Holder::Patient(id), false)
        .await?;
    Ok(Json(json!({ "id": id, "position": committed.position })))
}
