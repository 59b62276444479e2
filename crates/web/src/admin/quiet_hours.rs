//! Quiet hours: the current setting in words, the form that replaces it, and turning them
//! off (a window whose start equals its end holds nothing, which is how the API switches them
//! off). Reads and writes `GET` / `PUT /v1/settings/quiet-hours`.

use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::quiet_hours_form::{is_on, QuietHoursDraft};
use super::{done, respond, AdminForm, AdminSession};
use crate::api::{Api, Failure, QuietHours};
use crate::page::{self, Nav};
use crate::session::Session;
use crate::{query_string, WebState};

/// `?after=` (a position to wait for) and `?done=` (what was just changed).
#[derive(Debug, Default, Deserialize)]
pub struct QuietHoursQuery {
    #[serde(default)]
    after: String,
    #[serde(default)]
    done: String,
}

/// `GET /admin/quiet-hours`.
pub async fn show(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Query(query): Query<QuietHoursQuery>,
) -> Response {
    let notice = match query.done.as_str() {
        "saved" => Some(done("Quiet hours saved.")),
        "off" => Some(done("Quiet hours turned off.")),
        _ => None,
    };
    render(&state, &session, &query.after, notice, None).await
}

async fn render(
    state: &WebState,
    session: &Session,
    after: &str,
    notice: Option<Markup>,
    refused: Option<(Failure, QuietHoursDraft)>,
) -> Response {
    let api = Api::new(state, session);
    let wait = query_string([("min_position", after)]);
    let setting = api
        .get::<QuietHours>(&format!("/settings/quiet-hours?{wait}"))
        .await;
    let status = match (&refused, &setting) {
        (Some((failure, _)), _) | (None, Err(failure)) => failure.status,
        _ => StatusCode::OK,
    };
    let current = setting.as_ref().ok();
    let (failure, draft) = match refused {
        Some((failure, draft)) => (Some(failure), draft),
        None => (
            None,
            QuietHoursDraft::of(current.unwrap_or(&QuietHours::default()), state.time_zone),
        ),
    };
    let content = html! {
        h1 { "Quiet hours" }
        p.hint {
            "Scheduled messages that fall due during quiet hours wait until they end. "
            "Messages staff send directly are never held."
        }
        @if let Some(notice) = notice { (notice) }
        section.card aria-labelledby="current-title" {
            h2 id="current-title" { "Now" }
            @match &setting {
                Err(failure) => { (page::alert(failure)) }
                Ok(setting) => { p id="quiet-hours-now" { (summary(setting)) } }
            }
            @if let Some(setting) = current.filter(|s| is_on(s)) {
                (off_form(session, setting))
            }
        }
        section.card aria-labelledby="set-title" {
            h2 id="set-title" { "Set quiet hours" }
            form.quiet-hours method="post" action="/admin/quiet-hours" {
                (page::csrf(session))
                (draft.fields(failure.as_ref()))
                div.actions { button type="submit" { "Save" } }
            }
        }
    };
    respond(
        &api,
        session,
        status,
        "Quiet hours",
        Nav::QuietHours,
        content,
    )
    .await
}

/// The setting in words.
fn summary(setting: &QuietHours) -> Markup {
    let channels: Vec<&str> = setting
        .channels
        .iter()
        .map(|c| page::channel_label(c))
        .collect();
    html! {
        @if is_on(setting) {
            "From " strong { (setting.start.as_deref().unwrap_or("")) }
            " to " strong { (setting.end.as_deref().unwrap_or("")) }
            " (" (setting.time_zone.as_deref().unwrap_or("")) ", or the patient's own time zone), on "
            (channels.join(", ")) "."
        } @else {
            "Off: scheduled messages are sent at their time, day and night."
        }
    }
}

/// The button that turns quiet hours off: the same setting with a window of no length.
fn off_form(session: &Session, setting: &QuietHours) -> Markup {
    let start = setting.start.as_deref().unwrap_or("");
    html! {
        form.quiet-hours-off method="post" action="/admin/quiet-hours" {
            (page::csrf(session))
            input type="hidden" name="start" value=(start);
            input type="hidden" name="end" value=(start);
            input type="hidden" name="time_zone" value=(setting.time_zone.as_deref().unwrap_or(""));
            @for channel in &setting.channels {
                input type="hidden" name={ "channel-" (channel) } value="1";
            }
            input type="hidden" name="off" value="1";
            button.secondary type="submit" { "Turn quiet hours off" }
        }
    }
}

/// `POST /admin/quiet-hours`: replaces the setting (`off=1`: turns it off).
pub async fn save(State(state): State<WebState>, AdminForm(session, form): AdminForm) -> Response {
    let api = Api::new(&state, &session);
    let draft = QuietHoursDraft::from_form(&form);
    let saved = api
        .call::<QuietHours>(Method::PUT, "/settings/quiet-hours", &draft.body())
        .await;
    let what = if form.optional("off").is_some() {
        "off"
    } else {
        "saved"
    };
    match saved {
        Ok(setting) => page::see_other(&format!(
            "/admin/quiet-hours?{}",
            query_string([
                ("after", setting.position.unwrap_or(0).to_string().as_str()),
                ("done", what),
            ])
        )),
        Err(failure) => render(&state, &session, "", None, Some((failure, draft))).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_reads_as_words() {
        let setting = QuietHours {
            start: Some("22:00".to_owned()),
            end: Some("07:00".to_owned()),
            time_zone: Some("Europe/Berlin".to_owned()),
            channels: vec!["sms".to_owned(), "whatsapp".to_owned()],
            position: None,
        };
        assert_eq!(
            summary(&setting).into_string(),
            "From <strong>22:00</strong> to <strong>07:00</strong> (Europe/Berlin, or the \
             patient's own time zone), on SMS, WhatsApp."
        );
        assert!(summary(&QuietHours::default())
            .into_string()
            .starts_with("Off"));
    }
}
