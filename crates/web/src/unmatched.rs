//! The unmatched queue (reception and admins): inbound messages from senders the hub could not
//! match to a patient, each filed into a patient's reception conversation after finding the
//! patient by name.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use super::api::{Api, Failure, Page, Patient, Written};
use super::clock::Clock;
use super::nav;
use super::page::{self, Nav};
use super::session::{Session, Submitted};
use super::{query_string, WebState};

/// An entry of the queue.
#[derive(Debug, Deserialize)]
struct Entry {
    id: String,
    channel: String,
    sender: String,
    subject: Option<String>,
    body: String,
    received_at: String,
}

/// `?entry=<id>&find=<name>` (finding the patient for one entry), `?cursor=`, `?after=`.
#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    entry: String,
    #[serde(default)]
    find: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    after: String,
}

/// The no-access page for callers who do not work the queue (the API refuses them too; this
/// keeps them off the page); `None` for reception and admins.
fn front_desk(session: &Session) -> Option<Response> {
    match session.role() {
        domain::Role::Receptionist | domain::Role::Admin => None,
        _ => Some(page::failure_page(
            Some(session),
            &Failure::local(
                StatusCode::FORBIDDEN,
                "forbidden",
                "The unmatched queue belongs to reception.",
            ),
        )),
    }
}

/// `GET /unmatched`.
pub async fn list(
    State(state): State<WebState>,
    session: Session,
    Query(query): Query<QueueQuery>,
) -> Response {
    if let Some(refused) = front_desk(&session) {
        return refused;
    }
    render(&state, &session, &query, None).await
}

async fn render(
    state: &WebState,
    session: &Session,
    query: &QueueQuery,
    failure: Option<Failure>,
) -> Response {
    let api = Api::new(state, session);
    let clock = state.clock();
    let api_query = query_string([
        ("limit", "50"),
        ("cursor", query.cursor.as_str()),
        ("min_position", query.after.as_str()),
    ]);
    let listed = api
        .get::<Page<Entry>>(&format!("/unmatched?{api_query}"))
        .await;
    let found = if query.entry.is_empty() || query.find.trim().is_empty() {
        None
    } else {
        let find = query_string([("q", query.find.trim()), ("limit", "20")]);
        Some(api.get::<Page<Patient>>(&format!("/patients?{find}")).await)
    };
    let status = match (&failure, &listed) {
        (Some(failure), _) | (None, Err(failure)) => failure.status,
        _ => StatusCode::OK,
    };
    let content = html! {
        h1 { "Unmatched messages" }
        p.muted { "Messages from senders that match no patient's phone number or e-mail address, or several." }
        @if let Some(failure) = &failure { (page::alert(failure)) }
        @match &listed {
            Err(failure) => { (page::alert(failure)) }
            Ok(page) => {
                @if page.items.is_empty() { p.empty { "Nothing waits to be filed." } }
                ul.records aria-label="Unmatched messages" {
                    @for entry in &page.items {
                        @let found = found.as_ref().filter(|_| query.entry == entry.id);
                        (entry_row(session, &clock, entry, query, found))
                    }
                }
                @if let Some(next) = &page.next_cursor {
                    nav.pager aria-label="Pages" {
                        a rel="next" href={ "/unmatched?" (query_string([("cursor", next.as_str())])) } { "Next page" }
                    }
                }
            }
        }
    };
    let unread = nav::unread(&api, session).await;
    page::respond(
        status,
        page::shell(
            "Unmatched messages",
            Some(session),
            Nav::Unmatched,
            unread.as_ref(),
            content,
        ),
    )
}

fn entry_row(
    session: &Session,
    clock: &Clock,
    entry: &Entry,
    query: &QueueQuery,
    found: Option<&Result<Page<Patient>, Failure>>,
) -> Markup {
    let find_id = format!("find-{}", entry.id);
    html! {
        li.record id={ "u-" (entry.id) } {
            div.record-head {
                (page::channel_pill(&entry.channel))
                strong.sender { (entry.sender) }
                span.when { (clock.relative(&entry.received_at)) }
            }
            @if let Some(subject) = &entry.subject { p { strong { (subject) } } }
            div.body { (entry.body) }
            form.inline method="get" action={ "/unmatched#u-" (entry.id) } role="search"
                aria-label="Find the patient" {
                input type="hidden" name="entry" value=(entry.id);
                div.field {
                    label for=(find_id) { "Find the patient by name, phone number or e-mail address" }
                    input id=(find_id) type="search" name="find" required
                        value=[(query.entry == entry.id).then_some(query.find.as_str())];
                }
                button type="submit" { "Find" }
            }
            @match found {
                Some(Err(failure)) => { (page::alert(failure)) }
                Some(Ok(page)) if page.items.is_empty() => { p.empty role="status" { "No patient found." } }
                Some(Ok(page)) => {
                    ul.found aria-label="Patients found" {
                        @for patient in &page.items {
                            li {
                                form.assign method="post" action={ "/unmatched/" (entry.id) "/assign" } {
                                    (page::csrf(session))
                                    input type="hidden" name="patient_id" value=(patient.id);
                                    button.secondary type="submit" { "Assign to " (patient.name) }
                                    " " span.muted {
                                        (patient.phone.as_deref().unwrap_or("")) " "
                                        (patient.email.as_deref().unwrap_or(""))
                                    }
                                }
                            }
                        }
                    }
                }
                None => {}
            }
        }
    }
}

/// `POST /unmatched/{id}/assign` with `patient_id`: files the message into the patient's
/// reception conversation and opens it.
pub async fn assign(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Submitted(session, form): Submitted,
) -> Response {
    if let Some(refused) = front_desk(&session) {
        return refused;
    }
    let api = Api::new(&state, &session);
    let filed = match uuid::Uuid::try_parse(&id) {
        Ok(id) => {
            let body = json!({ "patient_id": form.text("patient_id") });
            api.call::<Written>(Method::POST, &format!("/unmatched/{id}/assign"), &body)
                .await
        }
        Err(_) => Err(Failure::local(
            StatusCode::NOT_FOUND,
            "not_found",
            "unmatched message not found",
        )),
    };
    match filed {
        Ok(written) => page::see_other(&format!(
            "/conversations/{}?after={}",
            written.conversation_id.unwrap_or_default(),
            written.position
        )),
        Err(failure) => render(&state, &session, &QueueQuery::default(), Some(failure)).await,
    }
}
