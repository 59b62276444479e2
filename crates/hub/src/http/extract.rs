//! Request extractors that answer with contract errors: the caller's identity, JSON bodies,
//! query parameters.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use commands::auth::Verified;
use domain::{DomainError, Principal, Role};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::openapi::{ParamSchema, QueryParam};
use super::AppState;
use crate::error::ApiError;

/// How long a query waits for `min_position` before answering `not_caught_up`.
pub const MIN_POSITION_WAIT: Duration = Duration::from_secs(5);

/// The authenticated caller, allowed to use the hub (staff hold `send_messages`).
pub struct Caller(pub Principal);

impl<S> FromRequestParts<S> for Caller
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let principal = match parts.extensions.get::<Verified>() {
            Some(Verified(principal)) => principal.clone(),
            None => {
                let state = AppState::from_ref(state);
                let token = bearer_token(&parts.headers)?;
                state.commands.authenticate(token).await?
            }
        };
        principal.ensure_may_use_hub()?;
        Ok(Caller(principal))
    }
}

/// The roles an endpoint admits, judged before its body is read (contract section 4: an actor
/// that may not call an endpoint gets 403 whatever it sends).
pub trait Gate: Send + Sync + 'static {
    /// The roles that may call the endpoint.
    const ROLES: &'static [Role];
    /// The answer for everyone else.
    fn refusal() -> ApiError;
}

/// Admins only.
pub struct Admins;
impl Gate for Admins {
    const ROLES: &'static [Role] = &[Role::Admin];
    fn refusal() -> ApiError {
        ApiError::forbidden("only admins may do this")
    }
}

/// Admins and receptionists (registration, contact records, the unmatched queue).
pub struct FrontDesk;
impl Gate for FrontDesk {
    const ROLES: &'static [Role] = &[Role::Admin, Role::Receptionist];
    fn refusal() -> ApiError {
        ApiError::forbidden("only admins and receptionists may do this")
    }
}

/// Clinic staff (call logs).
pub struct ClinicStaff;
impl Gate for ClinicStaff {
    const ROLES: &'static [Role] = &[Role::Admin, Role::Receptionist, Role::Doctor];
    fn refusal() -> ApiError {
        ApiError::forbidden("only staff log calls")
    }
}

/// Everyone who writes messages: staff and patients, not auditors.
pub struct Writers;
impl Gate for Writers {
    const ROLES: &'static [Role] = &[Role::Admin, Role::Receptionist, Role::Doctor, Role::Patient];
    fn refusal() -> ApiError {
        ApiError::forbidden("auditors are read-only")
    }
}

/// Who may write a first message: staff and patients; auditors fall to the table's default deny.
pub struct Initiators;
impl Gate for Initiators {
    const ROLES: &'static [Role] = Writers::ROLES;
    fn refusal() -> ApiError {
        DomainError::ConversationRule("auditors may not start conversations".into()).into()
    }
}

/// The authenticated caller, allowed to use the hub and admitted by the gate `G`.
pub struct Permitted<G>(pub Principal, pub PhantomData<G>);

impl<S, G: Gate> FromRequestParts<S> for Permitted<G>
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        if !G::ROLES.contains(&principal.role()) {
            return Err(G::refusal());
        }
        Ok(Permitted(principal, PhantomData))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthenticated("an `Authorization: Bearer <token>` header is required")
    })?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthenticated("the token is not valid"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthenticated("the authorization scheme must be Bearer"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthenticated(
            "the authorization scheme must be Bearer",
        ));
    }
    Ok(token.trim())
}

/// A JSON body: `application/json` required (415); anything but a JSON object, malformed JSON
/// or unknown fields answer 400; a body over the limit answers 413 `payload_too_large`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|essence| {
                let essence = essence.trim().to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::unsupported_media_type(
                "the body must be `application/json`",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        // Structs also deserialize from arrays (by position): only an object is a body.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::invalid("the body must be a JSON object"));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| ApiError::invalid(format!("invalid JSON body: {error}")))
    }
}

/// Maps a failed body read to 413 when it was too large, else 400.
pub fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::payload_too_large("the request body is too large")
    } else {
        ApiError::invalid(rejection.body_text())
    }
}

/// Refuses a request whose query names a parameter its endpoint does not take (400, naming
/// it): `declared` is what its OpenAPI operation documents. A malformed query is left to
/// [`Params`].
pub async fn only_declared_query(
    declared: Arc<[&'static str]>,
    request: Request,
    next: Next,
) -> Response {
    let query = request.uri().query().unwrap_or("");
    if let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query) {
        let unknown = pairs
            .into_iter()
            .map(|(name, _)| name)
            .find(|name| !declared.contains(&name.as_str()));
        if let Some(name) = unknown {
            return ApiError::invalid(format!("unknown query parameter `{name}`")).into_response();
        }
    }
    next.run(request).await
}

/// `limit`: the page size.
pub const LIMIT: QueryParam = QueryParam::new(
    "limit",
    ParamSchema::Integer { min: 1, max: 200 },
    "Page size, 1 to 200 (default 50)",
);

/// `cursor`: where the previous page ended.
pub const CURSOR: QueryParam = QueryParam::new(
    "cursor",
    ParamSchema::Text,
    "The previous page's `next_cursor`",
);

/// `min_position`: read-your-writes; every read with a token takes it.
pub const MIN_POSITION: QueryParam = QueryParam::new(
    "min_position",
    ParamSchema::Integer {
        min: 0,
        max: u64::MAX,
    },
    "A command's `position`: the answer waits (up to 5 s, then 503 `not_caught_up`) until the read models include it",
);

/// Query parameters, parsed one by one into contract errors.
pub struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| ApiError::invalid("the query string is malformed"))?;
        let mut map = HashMap::new();
        for (key, value) in pairs {
            if map.insert(key.clone(), value).is_some() {
                return Err(ApiError::invalid(format!(
                    "`{key}` is given more than once"
                )));
            }
        }
        Ok(Params(map))
    }
}

impl Params {
    /// A parameter parsed with `FromStr`; absent is `None`, and a value it does not parse
    /// (an empty one too) answers 400.
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.0.get(name).map(String::as_str) {
            None => Ok(None),
            Some(raw) => raw
                .parse()
                .map(Some)
                .map_err(|_| ApiError::invalid(format!("`{name}` has an invalid value"))),
        }
    }

    /// A UUID parameter.
    pub fn uuid(&self, name: &str) -> Result<Option<Uuid>, ApiError> {
        self.parse::<Uuid>(name)
    }

    /// A text parameter as given.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// `true` / `false` parameter.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.parse::<bool>(name)
    }

    /// The page size: 1 to 200, default 50.
    pub fn limit(&self) -> Result<u32, ApiError> {
        let limit = self.parse::<u32>("limit")?.unwrap_or(50);
        if (1..=200).contains(&limit) {
            Ok(limit)
        } else {
            Err(ApiError::invalid("`limit` must be between 1 and 200"))
        }
    }

    /// Waits until the inbox and directory read models include `min_position`, if the caller
    /// asked for it. A position beyond the event log's head is no event's yet (a command answers
    /// only positions it committed), so it answers `not_caught_up` without waiting.
    pub async fn await_min_position(&self, state: &AppState) -> Result<(), ApiError> {
        self.await_position(state, Reads::Inbox).await
    }

    /// Waits like [`Params::await_min_position`], for the reporting read models.
    pub async fn await_min_position_of_reports(&self, state: &AppState) -> Result<(), ApiError> {
        self.await_position(state, Reads::Reports).await
    }

    async fn await_position(&self, state: &AppState, reads: Reads) -> Result<(), ApiError> {
        let Some(position) = self.parse::<u64>("min_position")? else {
            return Ok(());
        };
        if reads.reached(state, position, Duration::ZERO).await? {
            return Ok(());
        }
        if position > state.commands.store().head_position().await?
            || !reads.reached(state, position, MIN_POSITION_WAIT).await?
        {
            return Err(ApiError::not_caught_up(position));
        }
        Ok(())
    }
}

/// The read models a query reads, each with its own projectors to wait for.
#[derive(Clone, Copy)]
enum Reads {
    /// The inbox and the directories.
    Inbox,
    /// The reporting tables.
    Reports,
}

impl Reads {
    /// Whether they include `position`, waiting up to `timeout`.
    async fn reached(
        self,
        state: &AppState,
        position: u64,
        timeout: Duration,
    ) -> Result<bool, projections::QueryError> {
        match self {
            Reads::Inbox => state.read_model.wait_for(position, timeout).await,
            Reads::Reports => state.read_model.wait_for_reports(position, timeout).await,
        }
    }
}

/// The `{id}` path segment, which must be a UUID (400 `invalid_request` otherwise).
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let invalid = || ApiError::invalid("the id in the path is not a UUID");
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| invalid())?;
        Uuid::try_parse(&raw).map(PathId).map_err(|_| invalid())
    }
}
