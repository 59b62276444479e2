//! Templates: the catalogue (name, version, variables, retired), writing a new template,
//! revising one (each save is a new version) and retiring one after a confirmation.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use super::template_form::TemplateDraft;
use super::{done, record_id, respond, AdminForm, AdminSession};
use crate::api::{Api, Failure, Page, Template, Written};
use crate::page::{self, Nav};
use crate::session::Session;
use crate::{query_string, WebState};

/// `?after=` (a position to wait for), `?cursor=` and `?done=` (what was just changed).
#[derive(Debug, Default, Deserialize)]
pub struct TemplatesQuery {
    #[serde(default)]
    after: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    done: String,
}

/// `GET /admin/templates`.
pub async fn list(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Query(query): Query<TemplatesQuery>,
) -> Response {
    let notice = match query.done.as_str() {
        "created" => Some(done("Template created.")),
        "retired" => Some(done("Template retired: staff can no longer send it.")),
        _ => None,
    };
    let draft = TemplateDraft::default();
    render(&state, &session, &query, notice, &draft, None).await
}

async fn render(
    state: &WebState,
    session: &Session,
    query: &TemplatesQuery,
    notice: Option<Markup>,
    draft: &TemplateDraft,
    failure: Option<Failure>,
) -> Response {
    let api = Api::new(state, session);
    let api_query = query_string([
        ("limit", "100"),
        ("cursor", query.cursor.as_str()),
        ("min_position", query.after.as_str()),
    ]);
    let listed = api
        .get::<Page<Template>>(&format!("/templates?{api_query}"))
        .await;
    let status = match (&failure, &listed) {
        (Some(failure), _) | (None, Err(failure)) => failure.status,
        _ => StatusCode::OK,
    };
    let content = html! {
        h1 { "Templates" }
        @if let Some(notice) = notice { (notice) }
        section.card aria-labelledby="create-title" {
            h2 id="create-title" { "New template" }
            form.register method="post" action="/admin/templates" {
                (page::csrf(session))
                @if let Some(failure) = &failure { (page::alert(failure)) }
                (draft.fields("new"))
                div.actions { button type="submit" { "Create" } }
            }
        }
        @match &listed {
            Err(failure) => { (page::alert(failure)) }
            Ok(page) => {
                @if page.items.is_empty() { p.empty { "No template yet." } }
                ul.records aria-label="Templates" {
                    @for template in &page.items { (template_row(template)) }
                }
                @if let Some(next) = &page.next_cursor {
                    nav.pager aria-label="Pages" {
                        a rel="next" href={ "/admin/templates?" (query_string([("cursor", next.as_str())])) } { "Next page" }
                    }
                }
            }
        }
    };
    respond(&api, session, status, "Templates", Nav::Templates, content).await
}

fn template_row(template: &Template) -> Markup {
    let base = format!("/admin/templates/{}", template.id);
    html! {
        li.record id={ "t-" (template.id) } {
            div.record-head {
                strong { (template.name) }
                span.muted.version { "version " (template.version) }
                @if template.retired { span.badge.st-archived { "retired" } }
                @if let Some(whatsapp) = &template.whatsapp {
                    span.perms { "WhatsApp " code { (whatsapp.name) } }
                }
            }
            p.perms.variables {
                @if template.variables.is_empty() { "no variables" }
                @for variable in &template.variables { code { (variable) } " " }
            }
            @if !template.retired {
                div.record-actions {
                    a.button.secondary href=(base) { "Revise " (template.name) }
                    a.button.secondary href={ (base) "/retire" } { "Retire " (template.name) }
                }
            }
        }
    }
}

/// `POST /admin/templates`: writes a new template.
pub async fn create(
    State(state): State<WebState>,
    AdminForm(session, form): AdminForm,
) -> Response {
    let api = Api::new(&state, &session);
    let draft = TemplateDraft::from_form(&form);
    let created = api
        .call::<Written>(Method::POST, "/templates", &draft.body())
        .await;
    match created {
        Ok(written) => page::see_other(&format!(
            "/admin/templates?after={}&done=created",
            written.position
        )),
        Err(failure) => {
            let query = TemplatesQuery::default();
            render(&state, &session, &query, None, &draft, Some(failure)).await
        }
    }
}

/// `GET /admin/templates/{id}`: the revision form, filled with the current version.
pub async fn edit(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
    Query(query): Query<TemplatesQuery>,
) -> Response {
    let notice = (query.done == "saved").then(|| done("Saved as a new version."));
    edit_page(&state, &session, &id, &query.after, notice, None).await
}

/// The current version of the template `id` (waiting for position `after`, when given).
async fn current(api: &Api<'_>, id: &str, after: &str) -> Result<Template, Failure> {
    let id = record_id(id, "template")?;
    let query = query_string([("min_position", after)]);
    api.get::<Template>(&format!("/templates/{id}?{query}"))
        .await
}

async fn edit_page(
    state: &WebState,
    session: &Session,
    id: &str,
    after: &str,
    notice: Option<Markup>,
    refused: Option<(Failure, TemplateDraft)>,
) -> Response {
    let api = Api::new(state, session);
    let template = match current(&api, id, after).await {
        Ok(template) => template,
        Err(failure) => return page::failure_page(Some(session), &failure),
    };
    let status = refused.as_ref().map_or(StatusCode::OK, |(f, _)| f.status);
    let (failure, draft) = match refused {
        Some((failure, draft)) => (Some(failure), draft),
        None => (None, TemplateDraft::of(&template)),
    };
    let content = html! {
        p { a href="/admin/templates" { "All templates" } }
        h1 { (template.name) }
        p.muted.version {
            "version " (template.version)
            @if template.retired { " · retired" }
        }
        @if let Some(notice) = notice { (notice) }
        @if template.retired {
            p { "A retired template can no longer be sent or revised." }
        } @else {
            section.card aria-labelledby="revise-title" {
                h2 id="revise-title" { "Revise" }
                p.hint { "Saving writes a new version; messages already sent keep the version they used." }
                form.register method="post" action={ "/admin/templates/" (template.id) } {
                    (page::csrf(session))
                    @if let Some(failure) = &failure { (page::alert(failure)) }
                    (draft.fields("edit"))
                    div.actions {
                        button type="submit" { "Save" }
                        a href={ "/admin/templates/" (template.id) "/retire" } { "Retire…" }
                    }
                }
            }
        }
    };
    respond(
        &api,
        session,
        status,
        &template.name,
        Nav::Templates,
        content,
    )
    .await
}

/// `POST /admin/templates/{id}`: writes a new version.
pub async fn revise(
    State(state): State<WebState>,
    Path(id): Path<String>,
    AdminForm(session, form): AdminForm,
) -> Response {
    let api = Api::new(&state, &session);
    let draft = TemplateDraft::from_form(&form);
    let revised = match record_id(&id, "template") {
        Ok(id) => {
            api.call::<Written>(Method::PUT, &format!("/templates/{id}"), &draft.body())
                .await
        }
        Err(failure) => Err(failure),
    };
    match revised {
        Ok(written) => page::see_other(&format!(
            "/admin/templates/{id}?after={}&done=saved",
            written.position
        )),
        Err(failure) => edit_page(&state, &session, &id, "", None, Some((failure, draft))).await,
    }
}

/// `GET /admin/templates/{id}/retire`: asks whether to retire the template.
pub async fn confirm_retire(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
) -> Response {
    retire_page(&state, &session, &id, None).await
}

async fn retire_page(
    state: &WebState,
    session: &Session,
    id: &str,
    failure: Option<Failure>,
) -> Response {
    let api = Api::new(state, session);
    let template = match current(&api, id, "").await {
        Ok(template) => template,
        Err(failure) => return page::failure_page(Some(session), &failure),
    };
    let status = failure.as_ref().map_or(StatusCode::OK, |f| f.status);
    let content = html! {
        p { a href="/admin/templates" { "All templates" } }
        h1 { "Retire " (template.name) "?" }
        section.card aria-labelledby="retire-title" {
            h2 id="retire-title" { "Retire this template" }
            p {
                "Staff can no longer send it, and it can no longer be revised. Messages "
                "already sent from it keep the text they were sent with. This cannot be undone."
            }
            @if template.retired {
                p { strong { "It is already retired." } }
            } @else {
                form.retire method="post" action={ "/admin/templates/" (template.id) "/retire" } {
                    (page::csrf(session))
                    @if let Some(failure) = &failure { (page::alert(failure)) }
                    div.actions {
                        button type="submit" { "Retire " (template.name) }
                        a href="/admin/templates" { "Keep it" }
                    }
                }
            }
        }
    };
    respond(
        &api,
        session,
        status,
        "Retire a template",
        Nav::Templates,
        content,
    )
    .await
}

/// `POST /admin/templates/{id}/retire`: retires the template.
pub async fn retire(
    State(state): State<WebState>,
    Path(id): Path<String>,
    AdminForm(session, _): AdminForm,
) -> Response {
    let api = Api::new(&state, &session);
    let retired = match record_id(&id, "template") {
        Ok(id) => {
            api.call::<Written>(Method::DELETE, &format!("/templates/{id}"), &json!({}))
                .await
        }
        Err(failure) => Err(failure),
    };
    match retired {
        Ok(written) => page::see_other(&format!(
            "/admin/templates?after={}&done=retired#t-{id}",
            written.position
        )),
        Err(failure) => retire_page(&state, &session, &id, Some(failure)).await,
    }
}
