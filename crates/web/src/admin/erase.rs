//! Erasing a patient (contract section 9): a page that says what erasure does and does not
//! do, asks the admin to confirm, and reports the hub's answer, including whether any of the
//! patient's data from before sealing stays readable in the log.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use super::{respond, AdminForm, AdminSession};
use crate::api::{Api, Failure, Patient};
use crate::page::{self, Nav};
use crate::session::Session;
use crate::WebState;

/// The form field the admin ticks to confirm.
const CONFIRM: &str = "confirm";

/// `POST /v1/patients/{id}/erase`'s answer.
#[derive(Debug, Deserialize)]
struct Erased {
    /// Whether nothing personal of the patient stays readable in the log.
    complete: bool,
    /// The patient's events from before sealing, which keep their text.
    plain_events: u64,
}

/// `GET /admin/patients/{id}/erase`: what erasure does, and the form that confirms it.
pub async fn confirm(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
) -> Response {
    erase_page(&state, &session, &id, None).await
}

/// `POST /admin/patients/{id}/erase`: erases the patient once the admin confirmed.
pub async fn erase(
    State(state): State<WebState>,
    Path(id): Path<String>,
    AdminForm(session, form): AdminForm,
) -> Response {
    if form.optional(CONFIRM).is_none() {
        let failure = Failure {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request".into(),
            message: "Tick the box to confirm that the patient's data is erased for good.".into(),
            conversation_id: None,
        };
        return erase_page(&state, &session, &id, Some(failure)).await;
    }
    let api = Api::new(&state, &session);
    let erased = match super::record_id(&id, "patient") {
        Ok(id) => {
            api.call::<Erased>(Method::POST, &format!("/patients/{id}/erase"), &json!({}))
                .await
        }
        Err(failure) => Err(failure),
    };
    match erased {
        Ok(erased) => page::see_other(&format!(
            "/admin/patients/{id}?done={}",
            if erased.complete {
                "erased".to_owned()
            } else {
                format!("erased-{}", erased.plain_events)
            }
        )),
        Err(failure) => erase_page(&state, &session, &id, Some(failure)).await,
    }
}

async fn erase_page(
    state: &WebState,
    session: &Session,
    id: &str,
    failure: Option<Failure>,
) -> Response {
    let api = Api::new(state, session);
    let patient = match super::record_id(id, "patient") {
        Ok(id) => api.get::<Patient>(&format!("/patients/{id}")).await,
        Err(failure) => Err(failure),
    };
    let patient = match patient {
        Ok(patient) => patient,
        Err(failure) => return page::failure_page(Some(session), &failure),
    };
    let status = failure.as_ref().map_or(StatusCode::OK, |f| f.status);
    let back = format!("/admin/patients/{}", patient.id);
    let content = html! {
        p { a href=(back) { "Back to " (patient.name) } }
        h1 { "Erase " (patient.name) "?" }
        section.card aria-labelledby="erase-title" {
            h2 id="erase-title" { "Erase this patient's personal data" }
            @if patient.erased {
                p { strong { "This patient is already erased." } }
            } @else {
                (what_erasure_does())
                form.erase method="post" action={ (back) "/erase" } {
                    (page::csrf(session))
                    @if let Some(failure) = &failure { (page::alert(failure)) }
                    div.field.check {
                        input id="erase-confirm" type="checkbox" name=(CONFIRM) value="yes" required;
                        label for="erase-confirm" {
                            "I understand that " (patient.name) "'s data is erased for good and cannot be restored."
                        }
                    }
                    div.actions {
                        button.danger type="submit" { "Erase " (patient.name) }
                        a href=(back) { "Keep the patient" }
                    }
                }
            }
        }
    };
    respond(
        &api,
        session,
        status,
        "Erase a patient",
        Nav::Patients,
        content,
    )
    .await
}

fn what_erasure_does() -> Markup {
    html! {
        p {
            "The patient's name, phone number, e-mail address and time zone, and every subject, "
            "message text, call summary and file of their conversations become unreadable for "
            "everyone, for good. Search no longer finds them. The audit log keeps its events "
            "(in encrypted form, with the key destroyed) and still verifies."
        }
        p {
            "Nothing can be written for the patient afterwards: no message, call log, scheduled "
            "message or change. Their pending scheduled messages fail when due. Backups made "
            "before the erasure still hold the data: expire them by your retention policy."
        }
    }
}

/// The notice on the patient's page after erasure: `done` is `erased` when nothing personal
/// stays readable, `erased-<n>` when `n` events from before sealing keep their text.
pub fn erased_notice(done: &str) -> Option<Markup> {
    let plain = match done.strip_prefix("erased") {
        Some("") => 0,
        Some(rest) => rest.strip_prefix('-')?.parse::<u64>().ok()?,
        None => return None,
    };
    Some(html! {
        div.notice role="status" {
            @if plain == 0 {
                p { "The patient is erased. None of their personal data is readable any more." }
            } @else {
                p {
                    "The patient is erased, but not completely: " (plain)
                    " of their events were written before personal data was encrypted and keep "
                    "their text in the audit log, which is never changed."
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::erased_notice;

    #[test]
    fn the_notice_says_whether_erasure_was_complete() {
        let complete = erased_notice("erased").unwrap().into_string();
        assert!(complete.contains("None of their personal data is readable"));
        let partial = erased_notice("erased-3").unwrap().into_string();
        assert!(
            partial.contains("not completely: 3 of their events"),
            "{partial}"
        );
        for other in ["saved", "erasedx", "erased-", "erased-many"] {
            assert!(erased_notice(other).is_none(), "{other}");
        }
    }
}
