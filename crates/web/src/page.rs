//! The page shell and the small pieces every page shares.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::api::Failure;
use super::nav::{self, Unread};
use super::session::{Session, CSRF_FIELD};

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// The inbox (or the patient's own messages).
    Inbox,
    /// Starred messages.
    Starred,
    /// Writing a new message.
    Compose,
    /// The staff directory (admins).
    Staff,
    /// The patient records (admins).
    Patients,
    /// The message templates (admins).
    Templates,
    /// The quiet hours (admins).
    QuietHours,
    /// The reports (admins).
    Reports,
    /// The unmatched queue (reception, admins).
    Unmatched,
    /// Anything else.
    None,
}

/// An HTML answer with the headers every page carries.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure(headers);
    response
}

/// Security headers: no framing, no foreign scripts or styles, no sniffing, no referrers.
pub fn secure(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
}

/// `303 See Other` to `location`.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// The hidden CSRF field of a form.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(session.csrf); }
}

/// The whole page around `content`; `unread` is the caller's total beside the inbox entry.
pub fn shell(
    title: &str,
    session: Option<&Session>,
    nav: Nav,
    unread: Option<&Unread>,
    content: Markup,
) -> Markup {
    let current = |entry: Nav| (entry == nav).then_some("page");
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false}"#;
                title { (title) " · Communication hub" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/htmx.min.js" defer {}
                script src="/static/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "Communication" }
                    @if let Some(session) = session {
                        nav aria-label="Main" {
                            @if session.is_patient() {
                                a href="/" aria-current=[current(Nav::Inbox)] { "My messages" (nav::badge(unread, false)) }
                                a href="/new" aria-current=[current(Nav::Compose)] { "Write to reception" }
                            } @else {
                                a href="/" aria-current=[current(Nav::Inbox)] { "Inbox" (nav::badge(unread, false)) }
                                a href="/?starred=true" aria-current=[current(Nav::Starred)] { "Starred" }
                                @if session.role() != domain::Role::Auditor {
                                    a href="/new" aria-current=[current(Nav::Compose)] { "New message" }
                                }
                                @if matches!(session.role(), domain::Role::Receptionist | domain::Role::Admin) {
                                    a href="/unmatched" aria-current=[current(Nav::Unmatched)] { "Unmatched" }
                                }
                                @if session.role() == domain::Role::Admin {
                                    a href="/admin/staff" aria-current=[current(Nav::Staff)] { "Staff" }
                                    a href="/admin/patients" aria-current=[current(Nav::Patients)] { "Patients" }
                                    a href="/admin/templates" aria-current=[current(Nav::Templates)] { "Templates" }
                                    a href="/admin/quiet-hours" aria-current=[current(Nav::QuietHours)] { "Quiet hours" }
                                    a href="/admin/reports" aria-current=[current(Nav::Reports)] { "Reports" }
                                }
                            }
                        }
                        div.who {
                            span { "Signed in as " strong { (signed_in_as(session)) } }
                            form method="post" action="/signout" {
                                (csrf(session))
                                button.secondary type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" { (content) }
            }
        }
    }
}

/// A page explaining why something failed.
pub fn failure_page(session: Option<&Session>, failure: &Failure) -> Response {
    let title = match failure.code.as_str() {
        "not_found" => "Not found",
        "forbidden" | "conversation_rule" | "missing_permission" => "Not allowed",
        "unauthenticated" => "Please sign in",
        _ => "Something went wrong",
    };
    let content = html! {
        h1 { (title) }
        (alert(failure))
        p { a href="/" { "Back to the inbox" } }
    };
    respond(
        failure.status,
        shell(title, session, Nav::None, None, content),
    )
}

/// The page a staff member without `send_messages` sees.
pub fn no_access(session: &Session) -> Response {
    let content = html! {
        h1 { "No access" }
        div.alert role="alert" {
            p {
                "Your account does not have permission to use the communication hub "
                "(the " code { "send_messages" } " permission is missing)."
            }
            p { "Ask a clinic administrator to grant it, then reload this page." }
        }
    };
    let shell = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "No access · Communication hub" }
                link rel="stylesheet" href="/static/app.css";
            }
            body {
                header.top {
                    span.brand { "Communication" }
                    div.who {
                        span { "Signed in as " strong { (signed_in_as(session)) } }
                        form method="post" action="/signout" {
                            (csrf(session))
                            button.secondary type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" { (content) }
            }
        }
    };
    respond(StatusCode::FORBIDDEN, shell)
}

/// The sign-in page.
pub fn sign_in(nonce: &str, error: Option<&str>) -> Markup {
    let content = html! {
        section.signin aria-labelledby="signin-title" {
            h1 id="signin-title" { "Sign in" }
            p { "Staff and patients sign in with the access token the clinic gave them." }
            @if let Some(error) = error {
                div.alert role="alert" id="signin-error" { p { (error) } }
            }
            form method="post" action="/signin" {
                input type="hidden" name=(CSRF_FIELD) value=(nonce);
                label for="token" { "Access token" }
                input id="token" name="token" type="password" required autocomplete="current-password"
                    autofocus aria-describedby=[error.map(|_| "signin-error")];
                button type="submit" { "Sign in" }
            }
        }
    };
    shell("Sign in", None, Nav::None, None, content)
}

/// An inline error box for a refused request, in the contract's words.
pub fn alert(failure: &Failure) -> Markup {
    html! {
        div.alert role="alert" {
            p { strong { (explain(failure)) } }
            p.code { "(" code { (failure.code) } ": " (failure.message) ")" }
            @if let Some(id) = &failure.conversation_id {
                p { a href={ "/conversations/" (id) } { "Open the existing conversation" } }
            }
        }
    }
}

/// A plain-language lead for each contract error code.
fn explain(failure: &Failure) -> &'static str {
    match failure.code.as_str() {
        "invalid_request" => "Please check the form.",
        "unauthenticated" => "Please sign in again.",
        "missing_permission" => "Your account may not use the hub.",
        "conversation_rule" => "You may not start a conversation with this recipient.",
        "forbidden" => "You are not allowed to do this.",
        "not_found" => "This does not exist, or you do not have access to it.",
        "conversation_exists" => "You already have an open conversation with this patient.",
        "concurrency_conflict" => "Someone else changed this at the same time; please try again.",
        "attachment_too_large" | "payload_too_large" => "The attachment is too large.",
        "unsupported_media_type" => {
            "This file type is not accepted, or does not match its content."
        }
        "channel_unavailable" => "This channel cannot be used for this patient right now.",
        "attachments_not_allowed" => "This channel does not carry attachments.",
        "not_caught_up" => "The inbox is still catching up; reload in a moment.",
        "not_pending" => {
            "This scheduled message is no longer waiting: it was just sent, cancelled, or refused at its time."
        }
        "patient_erased" => {
            "This patient's personal data was erased: nothing more can be written for them."
        }
        _ => "The hub could not do this right now.",
    }
}

/// A channel's display name.
pub fn channel_label(channel: &str) -> &'static str {
    match channel {
        "sms" => "SMS",
        "email" => "E-mail",
        "portal" => "Portal",
        "whatsapp" => "WhatsApp",
        "call" => "Call",
        _ => "Other",
    }
}

/// A role's display name.
/// Who is signed in: the name and the role ("Rita Reception, receptionist"), or the role alone.
pub fn signed_in_as(session: &Session) -> String {
    let role = role_label(session.role().as_str());
    match &session.principal.name {
        Some(name) => format!("{name} ({})", role.to_lowercase()),
        None => role.to_owned(),
    }
}

/// The role as pages name it.
pub fn role_label(role: &str) -> &'static str {
    match role {
        "patient" => "Patient",
        "receptionist" => "Receptionist",
        "doctor" => "Doctor",
        "admin" => "Administrator",
        "auditor" => "Auditor",
        "system" => "The hub",
        _ => "Someone",
    }
}

/// A channel as a small labelled badge with an icon.
pub fn channel_pill(channel: &str) -> Markup {
    let icon = match channel {
        "sms" => "M3 4h18v12H7l-4 4z",
        "email" => "M3 5h18v14H3zM3 5l9 7 9-7",
        "portal" => "M4 10l8-6 8 6v10H4zM10 20v-6h4v6",
        "whatsapp" => "M12 3a9 9 0 00-7.8 13.5L3 21l4.6-1.2A9 9 0 1012 3z",
        "call" => "M5 3h4l2 5-3 2a11 11 0 006 6l2-3 5 2v4a2 2 0 01-2 2A17 17 0 013 5a2 2 0 012-2z",
        _ => "M4 4h16v16H4z",
    };
    html! {
        span class={ "pill ch-" (channel) } {
            svg viewBox="0 0 24 24" width="14" height="14" aria-hidden="true" focusable="false" {
                path d=(icon) fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" {}
            }
            (channel_label(channel))
        }
    }
}

/// A status badge (`unread`, `read`, `replied`, `archived`).
pub fn status_badge(status: &str) -> Markup {
    html! { span class={ "badge st-" (status) } { (status) } }
}

/// A byte count for people.
pub fn size(bytes: u64) -> String {
    match bytes {
        0..=1023 => format!("{bytes} B"),
        1024..=1_048_575 => format!("{:.1} KB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MB", bytes as f64 / 1_048_576.0),
    }
}
