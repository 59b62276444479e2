//! Sign-in, the session cookie, CSRF tokens, the origin check of form posts, and form bodies.
//!
//! Signing in with an access token starts a web session on the command side
//! ([`commands::session`]): the cookie carries only the session's random id (`HttpOnly`,
//! `SameSite=Strict`, and `Secure` when the hub's public URL is https), the store keeps only its
//! digest, and sign-out, expiry or revoking the token ends it. Each form carries a CSRF token
//! derived from the session id, so it is worth nothing in another session; every form post must
//! also come from the hub's own pages by its `Sec-Fetch-Site` and `Origin` headers. The sign-in
//! form, which has no session yet, uses a random double-submit cookie.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Multipart, Request, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use commands::CommandError;
use domain::{Principal, Role};
use rand::RngCore;
use sha2::{Digest, Sha256};

use axum::body::Bytes;

use super::api::{Api, Failure};
use super::page;
use crate::WebState;

/// The session cookie's name.
const SESSION_COOKIE: &str = "hub_session";
/// The sign-in form's double-submit cookie.
const SIGNIN_COOKIE: &str = "hub_signin";
/// The CSRF field of every form.
pub const CSRF_FIELD: &str = "_csrf";

/// A signed-in caller allowed to use the hub.
pub struct Session {
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
            Some(expired_form(Some(self)))
        }
    }
}

/// The answer to a form whose CSRF token does not match its session.
fn expired_form(session: Option<&Session>) -> Response {
    page::failure_page(
        session,
        &Failure::local(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This form has expired. Go back, reload the page and try again.",
        ),
    )
}

/// The CSRF token of a session: a digest of its id that a cross-site page cannot compute.
fn csrf_for(session_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"hub-web-csrf\0");
    hasher.update(session_id.as_bytes());
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

/// The session id the browser sent, when it has the shape of one.
fn session_id(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE).filter(|id| {
        id.len() == 43
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn set_cookie(state: &WebState, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("a valid cookie")
}

/// Whether a form post comes from the hub's own pages. Browsers say where a request comes from
/// in `Sec-Fetch-Site` and `Origin`; a request without either (a script, an old browser) still
/// needs its CSRF token.
fn from_own_pages(state: &WebState, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        if site.as_bytes() != b"same-origin" {
            return false;
        }
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if state.public_origin.as_deref() == Some(origin) {
        return true;
    }
    let host = headers.get(HOST).and_then(|host| host.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((host, origin_host), (Some(host), Some(origin_host)) if host == origin_host)
}

/// The answer to a form post from another site.
fn cross_site() -> Response {
    page::failure_page(
        None,
        &Failure::local(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This form was sent from another site. Open the hub's page and send it from there.",
        ),
    )
}

/// The answer when the hub cannot check a session.
fn unavailable() -> Response {
    page::failure_page(
        None,
        &Failure::local(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The hub is temporarily unavailable. Try again in a moment.",
        ),
    )
}

/// Sends the browser to the sign-in page (htmx requests are told to navigate there).
fn to_sign_in(state: &WebState, parts: &Parts) -> Response {
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
            .append(SET_COOKIE, set_cookie(state, SESSION_COOKIE, "", 0));
    }
    response
}

impl FromRequestParts<WebState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let id = session_id(&parts.headers).ok_or_else(|| to_sign_in(state, parts))?;
        let principal = match state.commands.session_principal(&id).await {
            Ok(principal) => principal,
            Err(CommandError::Unauthenticated) => return Err(to_sign_in(state, parts)),
            Err(_) => return Err(unavailable()),
        };
        let session = Session {
            csrf: csrf_for(&id),
            principal,
        };
        if session.principal.ensure_may_use_hub().is_err() {
            return Err(page::no_access(&session));
        }
        Ok(session)
    }
}

/// `GET /signin`.
pub async fn sign_in_form(State(state): State<WebState>, headers: HeaderMap) -> Response {
    sign_in_page(&state, &headers, None)
}

fn sign_in_page(state: &WebState, headers: &HeaderMap, error: Option<&str>) -> Response {
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
        .append(SET_COOKIE, set_cookie(state, SIGNIN_COOKIE, &nonce, 3600));
    response
}

/// `POST /signin`: checks the token and starts a session.
pub async fn sign_in(
    State(state): State<WebState>,
    headers: HeaderMap,
    form: FormData,
) -> Response {
    if !from_own_pages(&state, &headers) {
        return cross_site();
    }
    let expected = cookie(&headers, SIGNIN_COOKIE).unwrap_or_default();
    if expected.is_empty()
        || !constant_time_eq(form.text(CSRF_FIELD).as_bytes(), expected.as_bytes())
    {
        return sign_in_page(
            &state,
            &headers,
            Some("The sign-in form expired. Please try again."),
        );
    }
    let token = form.text("token").trim().to_owned();
    if token.is_empty() {
        return sign_in_page(&state, &headers, Some("Enter your access token."));
    }
    let started = match state.commands.start_session(&token).await {
        Ok(started) => started,
        Err(CommandError::Unauthenticated) => {
            return sign_in_page(&state, &headers, Some("This access token is not valid."))
        }
        Err(_) => return unavailable(),
    };
    let lifetime = (started.expires_at - chrono::Utc::now())
        .num_seconds()
        .max(0);
    let mut response = page::see_other("/");
    let cookies = response.headers_mut();
    cookies.append(
        SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, &started.id, lifetime),
    );
    cookies.append(SET_COOKIE, set_cookie(&state, SIGNIN_COOKIE, "", 0));
    response
}

/// `POST /signout`: ends the session (CSRF-checked when the session is still valid).
pub async fn sign_out(
    State(state): State<WebState>,
    headers: HeaderMap,
    form: FormData,
) -> Response {
    if !from_own_pages(&state, &headers) {
        return cross_site();
    }
    if let Some(id) = session_id(&headers) {
        let live = state.commands.session_principal(&id).await.is_ok();
        if live && !constant_time_eq(form.text(CSRF_FIELD).as_bytes(), csrf_for(&id).as_bytes()) {
            return expired_form(None);
        }
        if state.commands.end_session(&id).await.is_err() {
            return unavailable();
        }
    }
    let mut response = page::see_other("/signin");
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", 0));
    response
}

/// A form submitted by a signed-in caller from the hub's own pages, whose CSRF token matches
/// its session. Its picked files are already stored as attachments: each streams from the
/// request into `POST /v1/attachments` as it arrives, never held in memory whole, and only once
/// the form's CSRF token (its first field) has been checked.
pub struct Submitted(pub Session, pub FormData);

impl FromRequest<WebState> for Submitted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &WebState) -> Result<Self, Self::Rejection> {
        Submitted::admitted(request, state, |_| None).await
    }
}

impl Submitted {
    /// A submitted form whose caller `refuse` admits (it answers the refusal page for anyone
    /// else), judged before the form is read.
    pub async fn admitted(
        request: Request,
        state: &WebState,
        refuse: impl Fn(&Session) -> Option<Response>,
    ) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        if !from_own_pages(state, &parts.headers) {
            return Err(cross_site());
        }
        let session = Session::from_request_parts(&mut parts, state).await?;
        if let Some(refused) = refuse(&session) {
            return Err(refused);
        }
        let form = read_form(Request::from_parts(parts, body), state, Some(&session)).await?;
        match session.forged(&form) {
            Some(refused) => Err(refused),
            None => Ok(Submitted(session, form)),
        }
    }
}

/// A submitted form: URL-encoded or multipart, its text fields and the attachments its picked
/// files became.
#[derive(Default)]
pub struct FormData {
    fields: HashMap<String, String>,
    /// The ids of the attachments stored from the picked files (empty file inputs are left out).
    pub attachment_ids: Vec<String>,
    /// Why a picked file could not be stored (too large, a type no channel takes, …).
    pub upload_failure: Option<Failure>,
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

    /// A form of these text fields (for unit tests of what pages read from forms).
    #[cfg(test)]
    pub fn with_fields<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        FormData {
            fields: fields
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
            ..FormData::default()
        }
    }

    /// The fields whose names start with `prefix`, as `(rest of the name, value)`.
    pub fn prefixed<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.fields.iter().filter_map(move |(name, value)| {
            name.strip_prefix(prefix).map(|rest| (rest, value.as_str()))
        })
    }
}

/// A form without a session (sign-in, sign-out): text fields only; picked files are skipped.
impl FromRequest<WebState> for FormData {
    type Rejection = Response;

    async fn from_request(request: Request, state: &WebState) -> Result<Self, Self::Rejection> {
        read_form(request, state, None).await
    }
}

/// Reads a form. With a session, each picked file is stored as an attachment in that
/// caller's name as it streams in, once the fields before it carried the session's CSRF token.
async fn read_form(
    request: Request,
    state: &WebState,
    session: Option<&Session>,
) -> Result<FormData, Response> {
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
    if !content_type.starts_with("multipart/form-data") {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| invalid("the form could not be read"))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| invalid("the form could not be read"))?;
        form.fields.extend(pairs);
        return Ok(form);
    }
    let unreadable = || invalid("the form could not be read (is a file too large?)");
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|_| invalid("the form could not be read"))?;
    while let Some(mut field) = multipart.next_field().await.map_err(|_| unreadable())? {
        let name = field.name().unwrap_or("").to_owned();
        let Some(filename) = field.file_name().map(str::to_owned) else {
            let bytes = field.bytes().await.map_err(|_| unreadable())?;
            form.fields
                .insert(name, String::from_utf8_lossy(&bytes).into_owned());
            continue;
        };
        let uploader = session.filter(|_| form.upload_failure.is_none());
        let Some(session) = uploader else {
            // No session to store it for, or an earlier file already failed: skip its bytes.
            while field.chunk().await.map_err(|_| unreadable())?.is_some() {}
            continue;
        };
        if let Some(refused) = session.forged(&form) {
            return Err(refused);
        }
        // An empty file input still sends a part, with no file name and no bytes.
        let mut first = None;
        while let Some(chunk) = field.chunk().await.map_err(|_| unreadable())? {
            if !chunk.is_empty() {
                first = Some(chunk);
                break;
            }
        }
        let Some(first) = first.filter(|_| !filename.is_empty()) else {
            while field.chunk().await.map_err(|_| unreadable())?.is_some() {}
            continue;
        };
        let media_type = field
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_owned();
        // The part's bytes go to the upload through a small channel, so at most a few chunks
        // are held at once; a refused upload leaves the rest of the part to be skipped.
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let content = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|chunk| (chunk, receiver))
        });
        let api = Api::new(state, session);
        let upload = api.upload(
            &media_type,
            &filename,
            axum::body::Body::from_stream(content),
        );
        let pump = async move {
            let mut sender = Some(sender);
            let mut chunk = Some(first);
            loop {
                if let (Some(to_upload), Some(bytes)) = (&sender, chunk.take()) {
                    if to_upload.send(Ok(bytes)).await.is_err() {
                        sender = None;
                    }
                }
                match field.chunk().await {
                    Ok(Some(bytes)) => chunk = Some(bytes),
                    Ok(None) => return true,
                    Err(_) => {
                        if let Some(to_upload) = &sender {
                            let interrupted = std::io::Error::other("the form was interrupted");
                            let _ = to_upload.send(Err(interrupted)).await;
                        }
                        return false;
                    }
                }
            }
        };
        let (uploaded, complete) = tokio::join!(upload, pump);
        if !complete {
            return Err(unreadable());
        }
        match uploaded {
            Ok(id) => form.attachment_ids.push(id),
            Err(failure) => form.upload_failure = Some(failure),
        }
    }
    Ok(form)
}
