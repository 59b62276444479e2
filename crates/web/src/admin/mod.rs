//! The administrator's pages: the staff directory (register, permissions, tokens), the
//! patient records (register, contact details and consent, erasure), the message templates (write,
//! revise, retire), the quiet hours and the reports. Admins only; everyone else gets the page
//! saying they may not.

mod charts;
pub mod erase;
pub mod patients;
pub mod quiet_hours;
mod quiet_hours_form;
pub mod reports;
pub mod staff;
mod template_form;
pub mod templates;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use axum::http::Method;
use serde_json::{json, Value};

use super::api::{Api, Failure, Registered};
use super::nav::{self, Unread};
use super::page::{self, Nav};
use super::session::{FormData, Session, Submitted};
use crate::WebState;

/// A signed-in admin; everyone else gets the page saying they may not.
pub struct AdminSession(pub Session);

impl FromRequestParts<WebState> for AdminSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await?;
        match admins_only(&session) {
            Some(refused) => Err(refused),
            None => Ok(AdminSession(session)),
        }
    }
}

/// A CSRF-checked form from an admin, refused to anyone else before it is read.
pub struct AdminForm(pub Session, pub FormData);

impl FromRequest<WebState> for AdminForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &WebState) -> Result<Self, Self::Rejection> {
        let Submitted(session, form) = Submitted::admitted(request, state, admins_only).await?;
        Ok(AdminForm(session, form))
    }
}

/// The id in a record's path, or the not-found failure naming `what`.
fn record_id(raw: &str, what: &str) -> Result<uuid::Uuid, Failure> {
    uuid::Uuid::try_parse(raw).map_err(|_| {
        Failure::local(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    })
}

/// Whose tokens an admin page manages: the API's collection and how the page names one.
#[derive(Clone, Copy)]
enum Holder {
    Staff,
    Patient,
}

impl Holder {
    fn collection(self) -> &'static str {
        match self {
            Holder::Staff => "staff",
            Holder::Patient => "patients",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Holder::Staff => "staff member",
            Holder::Patient => "patient",
        }
    }
}

/// `POST /v1/{staff|patients}/{id}/token` for the holder named by the path's raw id.
async fn issue_token(api: &Api<'_>, holder: Holder, raw_id: &str) -> Result<Registered, Failure> {
    let id = record_id(raw_id, holder.what())?;
    let path = format!("/{}/{id}/token", holder.collection());
    api.call::<Registered>(Method::POST, &path, &json!({}))
        .await
}

/// `DELETE /v1/{staff|patients}/{id}/token` for the holder named by the path's raw id.
async fn revoke_tokens(api: &Api<'_>, holder: Holder, raw_id: &str) -> Result<Value, Failure> {
    let id = record_id(raw_id, holder.what())?;
    let path = format!("/{}/{id}/token", holder.collection());
    api.call::<Value>(Method::DELETE, &path, &json!({})).await
}

/// The "Issue a new token" and "Revoke tokens" buttons of a record at `base`.
fn token_forms(base: &str, session: &Session) -> Markup {
    html! {
        form method="post" action={ (base) "/token" } {
            (page::csrf(session))
            button.secondary type="submit" { "Issue a new token" }
        }
        form method="post" action={ (base) "/revoke" } {
            (page::csrf(session))
            button.secondary type="submit" { "Revoke tokens" }
        }
    }
}

/// The no-access page for everyone but admins (`None` for an admin).
fn admins_only(session: &Session) -> Option<Response> {
    if session.role() == domain::Role::Admin {
        return None;
    }
    Some(page::failure_page(
        Some(session),
        &Failure::local(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Only administrators manage staff, patients, templates and quiet hours, and see the reports.",
        ),
    ))
}

/// An admin page around `content`.
async fn respond(
    api: &Api<'_>,
    session: &Session,
    status: StatusCode,
    title: &str,
    current: Nav,
    content: Markup,
) -> Response {
    let unread: Option<Unread> = nav::unread(api, session).await;
    page::respond(
        status,
        page::shell(title, Some(session), current, unread.as_ref(), content),
    )
}

/// A token shown once, right after it was issued.
fn token_once(whose: &str, token: &str) -> Markup {
    html! {
        div.notice role="status" {
            p { "The access token for " strong { (whose) } " (shown only now: copy it and hand it over):" }
            p { code id="new-token" { (token) } }
        }
    }
}

/// A short confirmation after a change.
fn done(message: &str) -> Markup {
    html! { div.notice role="status" { p { (message) } } }
}
