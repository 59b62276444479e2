//! Patients: the directory with search, registering a patient (its portal token shown once),
//! changing a patient's contact details and consent (portal account, WhatsApp opt-in), issuing
//! a new token (shown once) and revoking the patient's tokens; erasure has its own page
//! (`super::erase`).

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    done, issue_token, record_id, respond, revoke_tokens, token_forms, token_once, AdminForm,
    AdminSession, Holder,
};
use crate::api::{Api, Failure, Page, Patient, Registered};
use crate::page::{self, Nav};
use crate::session::{FormData, Session};
use crate::{query_string, WebState};

/// `?q=` (a name, phone number or e-mail address), `?cursor=`, `?after=` and `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct PatientsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    done: String,
}

/// `GET /admin/patients`.
pub async fn list(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Query(query): Query<PatientsQuery>,
) -> Response {
    render(&state, &session, &query, None, None).await
}

async fn render(
    state: &WebState,
    session: &Session,
    query: &PatientsQuery,
    notice: Option<Markup>,
    failure: Option<Failure>,
) -> Response {
    let api = Api::new(state, session);
    let api_query = query_string([
        ("q", query.q.trim()),
        ("limit", "50"),
        ("cursor", query.cursor.as_str()),
        ("min_position", query.after.as_str()),
    ]);
    let listed = api
        .get::<Page<Patient>>(&format!("/patients?{api_query}"))
        .await;
    let status = match (&failure, &listed) {
        (Some(failure), _) | (None, Err(failure)) => failure.status,
        _ => StatusCode::OK,
    };
    let content = html! {
        h1 { "Patients" }
        @if let Some(notice) = notice { (notice) }
        @if let Some(failure) = &failure { (page::alert(failure)) }
        section.card aria-labelledby="register-title" {
            h2 id="register-title" { "Register a patient" }
            form.register method="post" action="/admin/patients" {
                (page::csrf(session))
                (contact_fields("new", None))
                div.actions { button type="submit" { "Register" } }
            }
        }
        form.inline method="get" action="/admin/patients" role="search" aria-label="Find patients" {
            div.field {
                label for="patients-q" { "Find by name, phone number or e-mail address" }
                input id="patients-q" type="search" name="q" value=(query.q);
            }
            button type="submit" { "Find" }
        }
        @match &listed {
            Err(failure) => { (page::alert(failure)) }
            Ok(page) => {
                @if page.items.is_empty() { p.empty { "No patient found." } }
                ul.records aria-label="Patients" {
                    @for patient in &page.items { (patient_row(patient)) }
                }
                @if let Some(next) = &page.next_cursor {
                    nav.pager aria-label="Pages" {
                        a rel="next" href={ "/admin/patients?" (query_string([("q", query.q.as_str()), ("cursor", next.as_str())])) } { "Next page" }
                    }
                }
            }
        }
    };
    respond(&api, session, status, "Patients", Nav::Patients, content).await
}

fn patient_row(patient: &Patient) -> Markup {
    html! {
        li.record id={ "p-" (patient.id) } {
            div.record-head {
                strong { (patient.name) }
                span.muted {
                    (patient.phone.as_deref().unwrap_or("no phone")) " · "
                    (patient.email.as_deref().unwrap_or("no e-mail"))
                }
                span.perms {
                    @if patient.portal_enabled { "portal · " }
                    @if patient.whatsapp_opt_in { "WhatsApp · " }
                    @if patient.sms_opted_out { "opted out of SMS" } @else { "SMS allowed" }
                }
            }
            div.record-actions {
                a.button.secondary href={ "/admin/patients/" (patient.id) } { "Edit " (patient.name) }
            }
        }
    }
}

/// The name, phone, e-mail and consent fields, filled with `patient`'s record when editing.
fn contact_fields(prefix: &str, patient: Option<&Patient>) -> Markup {
    let id = |name: &str| format!("{prefix}-{name}");
    html! {
        div.field {
            label for=(id("name")) { "Name" }
            input id=(id("name")) type="text" name="name" required maxlength="200"
                value=[patient.map(|p| p.name.as_str())];
        }
        div.field {
            label for=(id("phone")) { "Phone number" span.hint.inline { " (international, e.g. +4915112345678)" } }
            input id=(id("phone")) type="tel" name="phone" autocomplete="off"
                value=[patient.and_then(|p| p.phone.as_deref())];
        }
        div.field {
            label for=(id("email")) { "E-mail address" }
            input id=(id("email")) type="email" name="email" autocomplete="off"
                value=[patient.and_then(|p| p.email.as_deref())];
        }
        div.field.check {
            input id=(id("portal")) type="checkbox" name="portal_enabled" value="on"
                checked[patient.is_some_and(|p| p.portal_enabled)];
            label for=(id("portal")) { "Portal account" }
        }
        div.field.check {
            input id=(id("whatsapp")) type="checkbox" name="whatsapp_opt_in" value="on"
                checked[patient.is_some_and(|p| p.whatsapp_opt_in)];
            label for=(id("whatsapp")) { "Agreed to WhatsApp" }
        }
    }
}

/// The contact fields of a submitted form as the API takes them (blank phone or e-mail:
/// `null`).
fn contact_body(form: &FormData) -> Value {
    json!({
        "name": form.text("name").trim(),
        "phone": form.optional("phone").map(str::trim),
        "email": form.optional("email").map(str::trim),
        "portal_enabled": form.optional("portal_enabled").is_some(),
        "whatsapp_opt_in": form.optional("whatsapp_opt_in").is_some(),
    })
}

/// `POST /admin/patients`: registers a patient and shows its portal token once.
pub async fn register(
    State(state): State<WebState>,
    AdminForm(session, form): AdminForm,
) -> Response {
    let api = Api::new(&state, &session);
    let registered = api
        .call::<Registered>(Method::POST, "/patients", &contact_body(&form))
        .await;
    match registered {
        Ok(registered) => {
            let notice = html! {
                (token_once(form.text("name").trim(), &registered.token))
                p { a.new-record href={ "/admin/patients/" (registered.id) } { "Edit the new record" } }
            };
            let query = PatientsQuery {
                after: registered.position.to_string(),
                ..PatientsQuery::default()
            };
            render(&state, &session, &query, Some(notice), None).await
        }
        Err(failure) => {
            let query = PatientsQuery::default();
            render(&state, &session, &query, None, Some(failure)).await
        }
    }
}

/// `GET /admin/patients/{id}`: the record's form.
pub async fn edit(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
    Query(query): Query<PatientsQuery>,
) -> Response {
    let notice = match query.done.as_str() {
        "saved" => Some(done("Saved.")),
        "revoked" => Some(done(
            "Every token of the patient is revoked: the portal sessions they started are ended.",
        )),
        other => super::erase::erased_notice(other),
    };
    edit_page(&state, &session, &id, notice, None).await
}

/// What was refused on a patient's page, shown beside the form it came from.
enum Refused {
    /// Changing the contact details and consent.
    Contact(Failure),
    /// Issuing or revoking tokens.
    Tokens(Failure),
}

async fn edit_page(
    state: &WebState,
    session: &Session,
    id: &str,
    notice: Option<Markup>,
    refused: Option<Refused>,
) -> Response {
    let api = Api::new(state, session);
    let patient = match record_id(id, "patient") {
        Ok(id) => api.get::<Patient>(&format!("/patients/{id}")).await,
        Err(failure) => Err(failure),
    };
    let patient = match patient {
        Ok(patient) => patient,
        Err(failure) => return page::failure_page(Some(session), &failure),
    };
    let (contact_failure, tokens_failure) = match &refused {
        Some(Refused::Contact(failure)) => (Some(failure), None),
        Some(Refused::Tokens(failure)) => (None, Some(failure)),
        None => (None, None),
    };
    let status = contact_failure
        .or(tokens_failure)
        .map_or(StatusCode::OK, |f| f.status);
    if patient.erased {
        let content = html! {
            p { a href="/admin/patients" { "All patients" } }
            h1 { "Erased patient" }
            @if let Some(notice) = notice { (notice) }
            p {
                "This patient's personal data was erased. Their conversations show no text, "
                "and nothing more can be written for them."
            }
        };
        return respond(
            &api,
            session,
            status,
            "Erased patient",
            Nav::Patients,
            content,
        )
        .await;
    }
    let content = html! {
        p { a href="/admin/patients" { "All patients" } }
        h1 { (patient.name) }
        @if let Some(notice) = notice { (notice) }
        section.card aria-labelledby="contact-title" {
            h2 id="contact-title" { "Contact details and consent" }
            form.register method="post" action={ "/admin/patients/" (patient.id) } {
                (page::csrf(session))
                @if let Some(failure) = contact_failure { (page::alert(failure)) }
                (contact_fields("edit", Some(&patient)))
                @if patient.sms_opted_out {
                    p.hint { "The patient opted out of SMS by replying STOP; a reply START opts back in." }
                }
                div.actions { button type="submit" { "Save" } }
            }
        }
        (tokens_card(session, &patient, tokens_failure))
        p { a href={ "/new?patient_id=" (patient.id) } { "Write to " (patient.name) } }
        section.card aria-labelledby="erase-title" {
            h2 id="erase-title" { "Erasure" }
            p.hint {
                "Erasing makes the patient's personal data and conversations unreadable for "
                "good, as the right to erasure asks. It cannot be undone."
            }
            a.button.danger href={ "/admin/patients/" (patient.id) "/erase" } { "Erase " (patient.name) "…" }
        }
    };
    respond(&api, session, status, &patient.name, Nav::Patients, content).await
}

/// Issuing a new token and revoking the patient's tokens.
fn tokens_card(session: &Session, patient: &Patient, failure: Option<&Failure>) -> Markup {
    let base = format!("/admin/patients/{}", patient.id);
    html! {
        section.card aria-labelledby="tokens-title" {
            h2 id="tokens-title" { "Access token" }
            p.hint {
                "The patient signs in to the portal with a token. Issuing a new one ends the "
                "old; revoking ends every token and the sessions signed in with them."
            }
            @if let Some(failure) = failure { (page::alert(failure)) }
            div.record-actions {
                (token_forms(&base, session))
            }
        }
    }
}

/// `POST /admin/patients/{id}/token`: revokes the patient's tokens and shows the new one once.
pub async fn rotate(
    State(state): State<WebState>,
    Path(id): Path<String>,
    AdminForm(session, _): AdminForm,
) -> Response {
    let api = Api::new(&state, &session);
    let rotated = issue_token(&api, Holder::Patient, &id).await;
    match rotated {
        Ok(rotated) => {
            let notice = token_once("the patient", &rotated.token);
            edit_page(&state, &session, &id, Some(notice), None).await
        }
        Err(failure) => {
            edit_page(&state, &session, &id, None, Some(Refused::Tokens(failure))).await
        }
    }
}

/// `POST /admin/patients/{id}/revoke`: revokes every token of the patient.
pub async fn revoke(
    State(state): State<WebState>,
    Path(id): Path<String>,
    AdminForm(session, _): AdminForm,
) -> Response {
    let api = Api::new(&state, &session);
    let revoked = revoke_tokens(&api, Holder::Patient, &id).await;
    match revoked {
        Ok(_) => page::see_other(&format!("/admin/patients/{id}?done=revoked")),
        Err(failure) => {
            edit_page(&state, &session, &id, None, Some(Refused::Tokens(failure))).await
        }
    }
}

/// `POST /admin/patients/{id}`: changes the contact details and consent.
pub async fn change(
    State(state): State<WebState>,
    Path(id): Path<String>,
    AdminForm(session, form): AdminForm,
) -> Response {
    let api = Api::new(&state, &session);
    let changed = match record_id(&id, "patient") {
        Ok(id) => {
            api.call::<Value>(
                Method::PATCH,
                &format!("/patients/{id}"),
                &contact_body(&form),
            )
            .await
        }
        Err(failure) => Err(failure),
    };
    match changed {
        Ok(_) => page::see_other(&format!("/admin/patients/{id}?done=saved")),
        Err(failure) => {
            edit_page(&state, &session, &id, None, Some(Refused::Contact(failure))).await
        }
    }
}
