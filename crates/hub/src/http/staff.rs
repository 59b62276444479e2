//! Staff registration, permissions and tokens (admin only).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::{Permission, Principal, Role, StaffId};
use projections::{Page, StaffEntry};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde_json::{json, Value};

use super::answers::{Ack, Registered};

use super::extract::{Admins, Caller, JsonBody, Params, PathId, Permitted, CURSOR, LIMIT};
use super::messages::page_request;
use super::openapi::Verb::{Delete, Get, Post};
use super::openapi::{ApiBuilder, Operation as Op, ParamSchema, QueryParam};
use super::{patterns, tokens, AppState};
use crate::error::ApiError;
use commands::token::Holder;
use commands::RequestMeta;

/// The staff routes.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(DIRECTORY, directory)
        .route(REGISTER, register)
        .route(CHANGE_PERMISSIONS, change_permissions)
        .route(ROTATE_TOKEN, rotate_token)
        .route(REVOKE_TOKENS, revoke_tokens)
}

/// `POST /v1/staff` body.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterStaffBody {
    /// Display name: 1 to 200 characters, trimmed.
    #[schemars(regex(pattern = patterns::NAME))]
    name: String,
    /// `receptionist`, `doctor`, `admin` or `auditor`.
    #[schemars(schema_with = "staff_role_schema")]
    role: String,
    /// Permissions to grant, e.g. `send_messages`.
    #[serde(default)]
    #[schemars(with = "Vec<Permission>")]
    permissions: Vec<String>,
}

/// `POST /v1/staff/{id}/permissions` body: no permission both granted and revoked.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = grant_or_revoke)]
pub struct PermissionsBody {
    /// Permissions to grant.
    #[serde(default)]
    #[schemars(with = "Vec<Permission>")]
    grant: Vec<String>,
    /// Permissions to revoke.
    #[serde(default)]
    #[schemars(with = "Vec<Permission>")]
    revoke: Vec<String>,
}

/// The roles staff are registered with (and the directory is filtered by).
fn staff_roles() -> impl Iterator<Item = Role> {
    Role::ALL
        .into_iter()
        .filter(|role| role.is_registrable_staff())
}

fn staff_role_schema(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = staff_roles().map(Role::as_str).collect();
    json_schema!({ "type": "string", "enum": names })
}

/// The directory's `role` filter.
const ROLE: QueryParam = QueryParam::new(
    "role",
    ParamSchema::Typed(staff_role_value),
    "Only staff with this role",
);

fn staff_role_value(generator: &mut SchemaGenerator) -> Value {
    staff_role_schema(generator).to_value()
}

/// A permission may be granted or revoked, not both at once.
fn grant_or_revoke(schema: &mut Schema) {
    let both: Vec<Value> = Permission::ALL
        .into_iter()
        .map(|permission| {
            let contains = json!({ "contains": { "const": permission.as_str() } });
            json!({
                "not": {
                    "required": ["grant", "revoke"],
                    "properties": { "grant": contains, "revoke": contains }
                }
            })
        })
        .collect();
    schema.insert("allOf".into(), Value::Array(both));
}

fn parse_permissions(names: &[String]) -> Result<Vec<Permission>, ApiError> {
    names
        .iter()
        .map(|name| {
            serde_json::from_value(serde_json::Value::String(name.clone())).map_err(|_| {
                let known: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
                ApiError::invalid(format!(
                    "unknown permission `{name}`; permissions are: {}",
                    known.join(", ")
                ))
            })
        })
        .collect()
}

/// Staff and auditors read the directories; patients do not.
pub(super) fn ensure_may_read_directory(principal: &Principal) -> Result<(), ApiError> {
    principal.ensure_may_use_hub()?;
    if principal.role() == Role::Patient {
        return Err(ApiError::forbidden("the directories are for staff"));
    }
    Ok(())
}

/// The operation [`directory`] serves.
const DIRECTORY: Op = Op::new(
    Get,
    "/staff",
    "The staff directory in registration order (staff, auditor)",
    200,
)
.query(&[ROLE, LIMIT, CURSOR])
.answers::<Page<StaffEntry>>();

/// `GET /v1/staff?role=`: `{id, name, role, permissions}` per staff member.
pub async fn directory(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Params,
) -> Result<Json<Page<StaffEntry>>, ApiError> {
    ensure_may_read_directory(&principal)?;
    let role: Option<Role> = params.parse("role")?;
    if role.is_some_and(|role| !role.is_registrable_staff()) {
        return Err(ApiError::invalid(
            "`role` must be receptionist, doctor, admin or auditor",
        ));
    }
    let page = page_request(&params)?;
    params.await_min_position(&state).await?;
    Ok(Json(state.read_model.staff_directory(role, &page).await?))
}

/// The operation [`register`] serves.
const REGISTER: Op = Op::new(Post, "/staff", "Register a staff member (admin)", 201)
    .json_body::<RegisterStaffBody>()
    .answers::<Registered>();

/// Registers a staff member; answers `{id, token}`.
pub async fn register(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<Admins>,
    JsonBody(body): JsonBody<RegisterStaffBody>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let role: Role = body.role.parse()?;
    let permissions = parse_permissions(&body.permissions)?;
    let registered = state
        .commands
        .register_staff(
            &principal,
            &RequestMeta::new(),
            body.name,
            role,
            permissions,
        )
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

/// The operation [`change_permissions`] serves.
const CHANGE_PERMISSIONS: Op = Op::new(
    Post,
    "/staff/{id}/permissions",
    "Grant and revoke permissions (admin)",
    200,
)
.json_body::<PermissionsBody>()
.answers::<Ack>();

/// Grants and revokes permissions; answers `{id, position}`.
pub async fn change_permissions(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<Admins>,
    PathId(id): PathId,
    JsonBody(body): JsonBody<PermissionsBody>,
) -> Result<Json<Ack>, ApiError> {
    let staff_id = StaffId(id);
    let grant = parse_permissions(&body.grant)?;
    let revoke = parse_permissions(&body.revoke)?;
    let committed = state
        .commands
        .change_permissions(&principal, &RequestMeta::new(), staff_id, grant, revoke)
        .await?;
    Ok(Json(Ack {
        id: staff_id.0,
        position: committed.position,
    }))
}

/// The operation [`rotate_token`] serves.
const ROTATE_TOKEN: Op = Op::new(
    Post,
    "/staff/{id}/token",
    "Revoke the staff member's tokens and issue a new one (admin)",
    200,
)
.answers::<Registered>();

/// Revokes the holder's tokens and issues a new one (admin); answers `{id, token}`.
pub async fn rotate_token(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<Admins>,
    PathId(id): PathId,
) -> Result<Json<Registered>, ApiError> {
    tokens::rotate(&state, &principal, Holder::Staff(id))
        .await
        .map(Json)
}

/// The operation [`revoke_tokens`] serves.
const REVOKE_TOKENS: Op = Op::new(
    Delete,
    "/staff/{id}/token",
    "Revoke every token of the staff member (admin)",
    200,
)
.answers::<Ack>();

/// Revokes every token of the holder (admin).
pub async fn revoke_tokens(
    State(state): State<AppState>,
    Permitted(principal, _): Permitted<Admins>,
    PathId(id): PathId,
) -> Result<Json<Ack>, ApiError> {
    tokens::revoke(&state, &principal, Holder::Staff(id))
        .await
        .map(Json)
}
