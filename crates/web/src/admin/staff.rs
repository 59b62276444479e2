//! Staff: the directory with each member's role and permissions, registering a member (its
//! token shown once), granting and revoking permissions, issuing a new token, revoking tokens.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use super::{
    done, issue_token, record_id, respond, revoke_tokens, token_forms, token_once, AdminForm,
    AdminSession, Holder,
};
use crate::api::{Api, Failure, Page, Registered, Written};
use crate::page::{self, Nav};
use crate::session::Session;
use crate::{query_string, WebState};

/// The roles staff can have.
const ROLES: [&str; 4] = ["receptionist", "doctor", "admin", "auditor"];

/// A staff member as the directory lists them.
#[derive(Debug, Deserialize)]
struct Member {
    id: String,
    name: String,
    role: String,
    permissions: Vec<String>,
}

/// `?after=` (a position to wait for), `?cursor=` and `?done=` (what was just changed).
#[derive(Debug, Default, Deserialize)]
pub struct StaffQuery {
    #[serde(default)]
    after: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    done: String,
}

/// `GET /admin/staff`.
pub async fn list(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Query(query): Query<StaffQuery>,
) -> Response {
    let notice = match query.done.as_str() {
        "permissions" => Some(done("Permissions changed.")),
        "revoked" => Some(done("Every token of the staff member is revoked.")),
        _ => None,
    };
    render(&state, &session, &query.after, &query.cursor, notice, None).await
}

async fn render(
    state: &WebState,
    session: &Session,
    after: &str,
    cursor: &str,
    notice: Option<Markup>,
    failure: Option<Failure>,
) -> Response {
    let api = Api::new(state, session);
    let query = query_string([
        ("limit", "100"),
        ("cursor", cursor),
        ("min_position", after),
    ]);
    let listed = api.get::<Page<Member>>(&format!("/staff?{query}")).await;
    let status = match (&failure, &listed) {
        (Some(failure), _) | (None, Err(failure)) => failure.status,
        _ => StatusCode::OK,
    };
    let content = html! {
        h1 { "Staff" }
        @if let Some(notice) = notice { (notice) }
        @if let Some(failure) = &failure { (page::alert(failure)) }
        (register_form(session))
        @match &listed {
            Err(failure) => { (page::alert(failure)) }
            Ok(page) => {
                ul.records aria-label="Staff members" {
                    @for member in &page.items { (member_row(session, member)) }
                }
                @if let Some(next) = &page.next_cursor {
                    nav.pager aria-label="Pages" {
                        a rel="next" href={ "/admin/staff?" (query_string([("cursor", next.as_str())])) } { "Next page" }
                    }
                }
            }
        }
    };
    respond(&api, session, status, "Staff", Nav::Staff, content).await
}

fn register_form(session: &Session) -> Markup {
    html! {
        section.card aria-labelledby="register-title" {
            h2 id="register-title" { "Register a staff member" }
            form.register method="post" action="/admin/staff" {
                (page::csrf(session))
                div.field {
                    label for="staff-name" { "Name" }
                    input id="staff-name" type="text" name="name" required maxlength="200";
                }
                div.field {
                    label for="staff-role" { "Role" }
                    select id="staff-role" name="role" {
                        @for role in ROLES { option value=(role) { (page::role_label(role)) } }
                    }
                }
                @for permission in domain::Permission::ALL {
                    div.field.check {
                        input id={ "staff-" (permission.as_str()) } type="checkbox"
                            name={ "permission-" (permission.as_str()) } value="on" checked;
                        label for={ "staff-" (permission.as_str()) } { code { (permission.as_str()) } }
                    }
                }
                div.actions { button type="submit" { "Register" } }
            }
        }
    }
}

fn member_row(session: &Session, member: &Member) -> Markup {
    let base = format!("/admin/staff/{}", member.id);
    html! {
        li.record id={ "s-" (member.id) } {
            div.record-head {
                strong { (member.name) }
                span.muted { (page::role_label(&member.role)) }
                span.perms {
                    @if member.permissions.is_empty() { "no permissions" }
                    @for permission in &member.permissions { code { (permission) } " " }
                }
            }
            div.record-actions {
                @for permission in domain::Permission::ALL {
                    @let held = member.permissions.iter().any(|p| p == permission.as_str());
                    form method="post" action={ (base) "/permissions" } {
                        (page::csrf(session))
                        input type="hidden" name=(if held { "revoke" } else { "grant" }) value=(permission.as_str());
                        button.secondary type="submit" {
                            (if held { "Revoke " } else { "Grant " }) code { (permission.as_str()) }
                        }
                    }
                }
                (token_forms(&base, session))
            }
        }
    }
}

/// `POST /admin/staff`: registers a member and shows its token once.
pub async fn register(
    State(state): State<WebState>,
    AdminForm(session, form): AdminForm,
) -> Response {
    let api = Api::new(&state, &session);
    let permissions: Vec<&str> = domain::Permission::ALL
        .iter()
        .map(|p| p.as_str())
        .filter(|name| form.optional(&format!("permission-{name}")).is_some())
        .collect();
    let body = json!({
        "name": form.text("name").trim(),
        "role": form.text("role"),
        "permissions": permissions,
    });
    match api.call::<Registered>(Method::POST, "/staff", &body).await {
        Ok(registered) => {
            let notice = token_once(form.text("name").trim(), &registered.token);
            let after = registered.position.to_string();
            render(&state, &session, &after, "", Some(notice), None).await
        }
        Err(failure) => render(&state, &session, "", "", None, Some(failure)).await,
    }
}

/// `POST /admin/staff/{id}/permissions` with `grant=` or `revoke=` a permission.
pub async fn permissions(
    State(state): State<WebState>,
    Path(id): Path<String>,
    AdminForm(session, form): AdminForm,
) -> Response {
    let api = Api::new(&state, &session);
    let body = json!({
        "grant": form.optional("grant").into_iter().collect::<Vec<_>>(),
        "revoke": form.optional("revoke").into_iter().collect::<Vec<_>>(),
    });
    let changed = match record_id(&id, "staff member") {
        Ok(id) => {
            api.call::<Written>(Method::POST, &format!("/staff/{id}/permissions"), &body)
                .await
        }
        Err(failure) => Err(failure),
    };
    match changed {
        Ok(written) => page::see_other(&format!(
            "/admin/staff?after={}&done=permissions#s-{id}",
            written.position
        )),
        Err(failure) => render(&state, &session, "", "", None, Some(failure)).await,
    }
}

/// `POST /admin/staff/{id}/token`: revokes the member's tokens and shows the new one once.
pub async fn rotate(
    State(state): State<WebState>,
    Path(id): Path<String>,
    AdminForm(session, _): AdminForm,
) -> Response {
    let api = Api::new(&state, &session);
    let rotated = issue_token(&api, Holder::Staff, &id).await;
    match rotated {
        Ok(rotated) => {
            let notice = token_once("the staff member", &rotated.token);
            let after = rotated.position.to_string();
            render(&state, &session, &after, "", Some(notice), None).await
        }
        Err(failure) => render(&state, &session, "", "", None, Some(failure)).await,
    }
}

/// `POST /admin/staff/{id}/revoke`: revokes every token of the member.
pub async fn revoke(
    State(state): State<WebState>,
    Path(id): Path<String>,
    AdminForm(session, _): AdminForm,
) -> Response {
    let api = Api::new(&state, &session);
    let revoked = revoke_tokens(&api, Holder::Staff, &id).await;
    match revoked {
        Ok(answer) => page::see_other(&format!(
            "/admin/staff?after={}&done=revoked#s-{id}",
            answer["position"].as_u64().unwrap_or(0)
        )),
        Err(failure) => render(&state, &session, "", "", None, Some(failure)).await,
    }
}
