//! The administrator's pages: the staff directory (register, permissions, tokens) and the
//! patient records (register, contact details and consent). Admins only; everyone else gets
//! the page saying they may not.

pub mod patients;
pub mod staff;

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use super::api::{Api, Failure};
use super::nav::{self, Unread};
use super::page::{self, Nav};
use super::session::Session;

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
            "Only administrators manage staff and patients.",
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
