//! Sign-in, the session cookie, CSRF tokens and form bodies.
//!
//! The session cookie carries the caller's own token (hex-encoded), `HttpOnly` and
//! `SameSite=Strict`, so every page authenticates exactly as an API call with that token
//! would, and revoking the token ends the session at once. Each form carries a CSRF token
//! derived from the session token; the sign-in form uses a random double-submit cookie.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use commands::CommandError;
use domain::{Principal, Role};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::api::Failure;
use super::page;
use crate::WebState;

/// The session cookie's name.
const SESSION_COOKIE: &str = "hub_session";
/// The sign-in form's double-submit cookie.
const SIGNIN_COOKIE: &str = "hub_signin";
/// How long a session cookie lives (12 hours).
const SESSION_SECONDS: u32 = 12 * 60 * 60;
/// The CSRF field of every form.
pub const CSRF_FIELD: &str = "_csrf";

/// A signed-in caller allowed to use the hub.
pub struct Session {
    /// The caller's token.
    pub token: String,
    /// Who it is.
    pub principal: Principal,
    /// The CSRF token its forms carry.
    pub csrf: String,
}

impl Session {
    /// The caller's role.
    pub fn role(&self) -> Role {
        self.principal.role()
    }

    /// Whether the caller is a patient (portal pages).
    pub fn is_patient(&self) -> bool {
        self.role() == Role::Patient
    }

    /// The caller's id as the API writes it.
    pub fn id(&self) -> String {
        self.principal.actor.id.to_string()
    }

    /// Checks a submitted form's CSRF token: the refusal page when it does not match.
    fn forged(&self, form: &FormData) -> Option<Response> {
        if constant_time_eq(form.text(CSRF_FIELD).as_bytes(), self.csrf.as_bytes()) {
            None
        } else {
            Some(page::failure_page(
                Some(self),
                &Failure::local(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "This form has expired. Go back, reload the page and try again.",
                ),
            ))
        }
    }
}

/// The CSRF token of a session: a digest of its token that a cross-site page cannot compute.
fn csrf_for(token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"hub-web-csrf\0");
    hasher.update(token.as_bytes());
    hex::encode(&hasher.finalize()[..16])
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A cookie's value from the request headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

fn set_cookie(name: &str, value: &str, max_age: u32) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    ))
    .expect("a valid cookie")
}

/// Sends the browser to the sign-in page (htmx requests are told to navigate there).
fn to_sign_in(parts: &Parts) -> Response {
    let mut response = if parts.headers.contains_key("hx-request") {
        let mut response = StatusCode::NO_CONTENT.into_response();
        response
            .headers_mut()
            .insert("hx-redirect", HeaderValue::from_static("/signin"));
        response
    } else {
        page::see_other("/signin")
    };
    if cookie(&parts.headers, SESSION_COOKIE).is_some() {
        response
            .headers_mut()
            .append(SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0));
    }
    response
}

impl FromRequestParts<WebState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let token = cookie(&parts.headers, SESSION_COOKIE)
            .and_then(|value| hex::decode(value).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| to_sign_in(parts))?;
        let principal = match state.commands.authenticate(&token).await {
            Ok(principal) => principal,
            Err(error) => {
                return Err(if matches!(error, CommandError::Unauthenticated) {
                    to_sign_in(parts)
                } else {
                    page::failure_page(
                        None,
                        &Failure::local(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "unavailable",
                            "The hub is temporarily unavailable. Try again in a moment.",
                        ),
                    )
                });
            }
        };
        let session = Session {
            csrf: csrf_for(&token),
            token,
            principal,
        };
        if session.principal.ensure_may_use_hub().is_err() {
            return Err(page::no_access(&session));
        }
        Ok(session)
    }
}

/// `GET /signin`.
pub async fn sign_in_form(headers: HeaderMap) -> Response {
    sign_in_page(&headers, None)
}

fn sign_in_page(headers: &HeaderMap, error: Option<&str>) -> Response {
    let nonce = cookie(headers, SIGNIN_COOKIE)
        .filter(|value| value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| {
            let mut bytes = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut bytes);
            hex::encode(bytes)
        });
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let mut response = page::respond(status, page::sign_in(&nonce, error));
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(SIGNIN_COOKIE, &nonce, 3600));
    response
}

/// `POST /signin`: checks the token and starts a session.
pub async fn sign_in(
    axum::extract::State(state): axum::extract::State<WebState>,
    headers: HeaderMap,
    form: FormData,
) -> Response {
    let expected = cookie(&headers, SIGNIN_COOKIE).unwrap_or_default();
    if expected.is_empty()
        || !constant_time_eq(form.text(CSRF_FIELD).as_bytes(), expected.as_bytes())
    {
        return sign_in_page(
            &headers,
            Some("The sign-in form expired. Please try again."),
        );
    }
    let token = form.text("token").trim().to_owned();
    if token.is_empty() {
        return sign_in_page(&headers, Some("Enter your access token."));
    }
    if state.commands.authenticate(&token).await.is_err() {
        return sign_in_page(&headers, Some("This access token is not valid."));
    }
    let mut response = page::see_other("/");
    let cookies = response.headers_mut();
    cookies.append(
        SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            &hex::encode(token.as_bytes()),
            SESSION_SECONDS,
        ),
    );
    cookies.append(SET_COOKIE, set_cookie(SIGNIN_COOKIE, "", 0));
    response
}

/// `POST /signout`: ends the session (CSRF-checked when the session is still valid).
pub async fn sign_out(
    axum::extract::State(state): axum::extract::State<WebState>,
    headers: HeaderMap,
    form: FormData,
) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        .and_then(|value| hex::decode(value).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
    {
        let valid = state.commands.authenticate(&token).await.is_ok();
        let csrf = csrf_for(&token);
        if valid && !constant_time_eq(form.text(CSRF_FIELD).as_bytes(), csrf.as_bytes()) {
            return page::failure_page(
                None,
                &Failure::local(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "This form has expired. Go back, reload the page and try again.",
                ),
            );
        }
    }
    let mut response = page::see_other("/signin");
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0));
    response
}

/// A form submitted by a signed-in caller whose CSRF token matches its session.
pub struct Submitted(pub Session, pub FormData);

impl FromRequest<WebState> for Submitted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &WebState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let form = FormData::from_request(Request::from_parts(parts, body), state).await?;
        match session.forged(&form) {
            Some(refused) => Err(refused),
            None => Ok(Submitted(session, form)),
        }
    }
}

/// A file picked in a form.
pub struct Upload {
    /// Its name on the user's machine.
    pub filename: String,
    /// The type the browser declared.
    pub media_type: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// A submitted form: URL-encoded or multipart, text fields and picked files.
#[derive(Default)]
pub struct FormData {
    fields: HashMap<String, String>,
    /// Files picked (empty file inputs are left out).
    pub files: Vec<Upload>,
}

impl FormData {
    /// A text field, empty when absent.
    pub fn text(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or("")
    }

    /// A text field, `None` when absent or blank.
    pub fn optional(&self, name: &str) -> Option<&str> {
        Some(self.text(name)).filter(|value| !value.trim().is_empty())
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let invalid = |message: &str| {
            page::failure_page(
                None,
                &Failure::local(StatusCode::BAD_REQUEST, "invalid_request", message),
            )
        };
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut form = FormData::default();
        if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(request, state)
                .await
                .map_err(|_| invalid("the form could not be read"))?;
            while let Some(field) = multipart
                .next_field()
                .await
                .map_err(|_| invalid("the form could not be read (is a file too large?)"))?
            {
                let name = field.name().unwrap_or("").to_owned();
                let filename = field.file_name().map(str::to_owned);
                let media_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|_| invalid("the form could not be read (is a file too large?)"))?;
                match filename {
                    Some(filename) => {
                        if !bytes.is_empty() {
                            form.files.push(Upload {
                                filename,
                                media_type,
                                bytes: bytes.to_vec(),
                            });
                        }
                    }
                    None => {
                        form.fields
                            .insert(name, String::from_utf8_lossy(&bytes).into_owned());
                    }
                }
            }
        } else {
            let bytes = axum::body::Bytes::from_request(request, state)
                .await
                .map_err(|_| invalid("the form could not be read"))?;
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|_| invalid("the form could not be read"))?;
            form.fields.extend(pairs);
        }
        Ok(form)
    }
}
