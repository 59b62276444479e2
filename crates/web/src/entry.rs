//! One timeline entry as the conversation page shows it: direction, author, call facts,
//! subject, text, files, status, delivery and the star toggle.

use maud::{html, Markup};

use super::api::Message;
use super::clock::Clock;
use super::page;
use super::session::Session;

fn author_label(session: &Session, patient_name: &str, message: &Message) -> String {
    if message.author.id == session.id() {
        "you".to_owned()
    } else if let Some(name) = &message.author.name {
        name.clone()
    } else if message.author.role == "patient" {
        patient_name.to_owned()
    } else {
        page::role_label(&message.author.role).to_owned()
    }
}

/// One timeline entry (message or call log) with its files, status and star, its times on
/// the clinic's `clock`; `patient_name` names a patient author.
pub fn entry(session: &Session, clock: &Clock, patient_name: &str, message: &Message) -> Markup {
    let from_clinic = message.direction == "outbound";
    let direction = match (session.is_patient(), from_clinic) {
        (false, false) => "From the patient",
        (false, true) => "To the patient",
        (true, false) => "To the clinic",
        (true, true) => "From the clinic",
    };
    html! {
        li class={ "msg " (message.direction) } id={ "m-" (message.id) } {
            div.meta {
                (page::channel_pill(&message.channel))
                span.direction { (direction) }
                span.author { "by " (author_label(session, patient_name, message)) }
                span.when { (clock.absolute(&message.sent_at)) }
            }
            @if let Some(call) = &message.call {
                p.call-facts {
                    "Phone call · "
                    (if message.direction == "inbound" { "the patient called" } else { "we called" })
                    " · " (call.duration_seconds / 60) " min " (call.duration_seconds % 60) " s · "
                    (clock.absolute(&call.occurred_at))
                }
            }
            @if let Some(subject) = &message.subject { h3.subject { (subject) } }
            div.body { (message.body) }
            @if !message.attachments.is_empty() {
                ul.files aria-label="Attachments" {
                    @for file in &message.attachments {
                        @let name = file.filename.clone().unwrap_or_else(|| "attachment".to_owned());
                        li {
                            @if file.media_type.starts_with("image/") {
                                a href={ "/files/" (file.id) } {
                                    img.thumb src={ "/files/" (file.id) } alt={ "Image: " (name) } loading="lazy";
                                }
                            }
                            a.file href={ "/files/" (file.id) } download=(name) {
                                "Download " (name)
                            }
                            span.muted { " (" (file.media_type) ", " (page::size(file.size)) ")" }
                        }
                    }
                }
            }
            div.msg-foot {
                span { "Status: " (page::status_badge(&message.status)) }
                @if let Some(delivery) = &message.delivery_status {
                    span { "Delivery: " span class={ "badge dl-" (delivery) } { (delivery) } }
                    @if let Some(reason) = &message.delivery_error { span.reason { (reason) } }
                }
                @if !session.is_patient() && session.role() != domain::Role::Auditor {
                    (star_form(session, message))
                }
            }
        }
    }
}

/// The star toggle of a message (swapped in place by htmx).
pub fn star_form(session: &Session, message: &Message) -> Markup {
    let label = if message.starred { "Starred" } else { "Star" };
    html! {
        form.star method="post" action={ "/messages/" (message.id) "/star" }
            hx-post={ "/messages/" (message.id) "/star" } hx-swap="outerHTML" {
            (page::csrf(session))
            input type="hidden" name="starred" value=(if message.starred { "false" } else { "true" });
            input type="hidden" name="conversation_id" value=(message.conversation_id);
            input type="hidden" name="position" value=(message.position);
            button.star-toggle type="submit" aria-pressed=(message.starred)
                title=(if message.starred { "Remove the star" } else { "Star for follow-up" }) {
                span aria-hidden="true" { (if message.starred { "★ " } else { "☆ " }) }
                (label)
            }
        }
    }
}
