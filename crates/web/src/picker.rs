//! The patient picker of "New message": a search box that finds patients as one types (htmx
//! asks [`found`] for the list after a pause) and, without scripts, when the form is sent.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::api::{Api, Page, Patient};
use super::page;
use super::session::Session;
use super::{query_string, Directory, WebState};

/// Patients the picker finds: by id, or through the patient directory by name (the start of
/// any word), whole phone number or e-mail address.
pub async fn find_patients(
    api: &Api<'_>,
    directory: &mut Directory,
    find: &str,
) -> Result<Vec<Patient>, String> {
    let find = find.trim();
    if let Ok(id) = uuid::Uuid::try_parse(find) {
        return Ok(directory
            .patient(api, &id.to_string())
            .await
            .cloned()
            .into_iter()
            .collect());
    }
    let path = format!("/patients?{}", query_string([("q", find), ("limit", "20")]));
    api.get::<Page<Patient>>(&path)
        .await
        .map(|page| page.items)
        .map_err(|failure| failure.message)
}

/// A patient's phone number and e-mail address on one line.
pub fn contact_line(patient: &Patient) -> String {
    [patient.phone.as_deref(), patient.email.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The search box; typing in it asks for the list of patients found after a pause.
pub fn search_form(find: &str) -> Markup {
    html! {
        form.inline method="get" action="/new" role="search" aria-label="Find a patient" {
            div.field {
                label for="find" { "Find by name, phone number, e-mail address or patient id" }
                input id="find" type="search" name="find" value=(find) required autocomplete="off"
                    hx-get="/new/found" hx-trigger="input changed delay:300ms, search"
                    hx-target="#found" hx-swap="innerHTML" aria-controls="found";
            }
            button type="submit" { "Find" }
        }
    }
}

/// The patients found (nothing before a search), each linking to a message to them.
pub fn found_list(found: Option<&Result<Vec<Patient>, String>>) -> Markup {
    html! {
        @match found {
            Some(Err(message)) => { div.alert role="alert" { p { (message) } } }
            Some(Ok(found)) if found.is_empty() => { p.empty role="status" { "No patient found." } }
            Some(Ok(found)) => {
                ul.found aria-label="Patients found" {
                    @for patient in found {
                        li { a href={ "/new?patient_id=" (patient.id) } {
                            strong { (patient.name) } " " span.muted { (contact_line(patient)) }
                        } }
                    }
                }
            }
            None => {}
        }
    }
}

/// `?find=` of [`found`].
#[derive(Debug, Default, Deserialize)]
pub struct FoundQuery {
    #[serde(default)]
    find: String,
}

/// `GET /new/found?find=`: the list of patients found, for the search box to show.
pub async fn found(
    State(state): State<WebState>,
    session: Session,
    Query(query): Query<FoundQuery>,
) -> Response {
    let api = Api::new(&state, &session);
    let mut directory = Directory::default();
    let found = if query.find.trim().is_empty() {
        None
    } else {
        Some(find_patients(&api, &mut directory, &query.find).await)
    };
    page::respond(StatusCode::OK, found_list(found.as_ref()))
}
