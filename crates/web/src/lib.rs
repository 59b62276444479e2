//! The web pages served at `/`: the staff inbox ("Communication") and the patient portal.
//!
//! Server-rendered HTML (maud) with light progressive enhancement (htmx and a small script,
//! shipped under `static/`). Every page reads and writes through the hub's own `/v1` API,
//! called in-process as the signed-in caller (see [`api`]), so a page can never do
//! what the API would refuse.

mod admin;
mod api;
mod assets;
mod clock;
mod compose;
mod conversation;
mod entry;
mod inbox;
mod nav;
mod page;
mod picker;
mod scheduled;
mod send_later;
mod session;
mod starred;
mod template_choice;
mod unmatched;
mod window;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use api::{Api, Patient};
use chrono_tz::Tz;
use clock::Clock;
use commands::CommandService;

/// What every page handler shares.
#[derive(Clone)]
pub struct WebState {
    /// The `/v1` API (routes relative to `/v1`), called in-process.
    api: Router,
    /// Web sessions: sign-in, sign-out, and the principal of each request's session.
    commands: Arc<CommandService>,
    /// Whether cookies carry `Secure` (the hub's public URL is https).
    secure_cookies: bool,
    /// The public URL's origin (`https://host[:port]`), accepted as a form post's `Origin`
    /// beside the request's own host (behind a proxy that rewrites `Host`).
    public_origin: Option<String>,
    /// The clinic's time zone, in which pages show and read times.
    time_zone: Tz,
}

impl WebState {
    /// Pages over the `/v1` API router (with its state) and the command service that keeps
    /// the web sessions; `public_url` is the URL the hub is reached at, when set; times are
    /// shown and entered in `time_zone`, the clinic's.
    pub fn new(
        api: Router,
        commands: Arc<CommandService>,
        public_url: Option<&str>,
        time_zone: Tz,
    ) -> Self {
        let public_origin = public_url.and_then(origin_of);
        WebState {
            api,
            commands,
            secure_cookies: public_url.is_some_and(|url| url.starts_with("https://")),
            public_origin,
            time_zone,
        }
    }

    /// The clinic's clock for a page rendered now.
    fn clock(&self) -> Clock {
        Clock::now(self.time_zone)
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next().filter(|a| !a.is_empty())?;
    Some(format!("{scheme}://{authority}"))
}

/// The pages' routes.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(inbox::index))
        .route("/signin", get(session::sign_in_form).post(session::sign_in))
        .route("/signout", post(session::sign_out))
        .route("/new", get(compose::form).post(compose::send))
        .route("/new/found", get(picker::found))
        .route("/conversations/{id}", get(conversation::show))
        .route("/conversations/{id}/updates", get(conversation::updates))
        .route("/conversations/{id}/older", get(conversation::older))
        .route("/conversations/{id}/read", post(conversation::read))
        .route("/conversations/{id}/reply", post(conversation::reply))
        .route("/conversations/{id}/call", post(conversation::log_call))
        .route("/conversations/{id}/archive", post(conversation::archive))
        .route(
            "/conversations/{id}/scheduled/{message_id}/cancel",
            post(scheduled::cancel),
        )
        .route("/messages/{id}/star", post(conversation::star))
        .route("/files/{id}", get(conversation::download))
        .route(
            "/admin/staff",
            get(admin::staff::list).post(admin::staff::register),
        )
        .route(
            "/admin/staff/{id}/permissions",
            post(admin::staff::permissions),
        )
        .route("/admin/staff/{id}/token", post(admin::staff::rotate))
        .route("/admin/staff/{id}/revoke", post(admin::staff::revoke))
        .route(
            "/admin/patients",
            get(admin::patients::list).post(admin::patients::register),
        )
        .route(
            "/admin/patients/{id}",
            get(admin::patients::edit).post(admin::patients::change),
        )
        .route("/admin/patients/{id}/token", post(admin::patients::rotate))
        .route("/admin/patients/{id}/revoke", post(admin::patients::revoke))
        .route(
            "/admin/patients/{id}/erase",
            get(admin::erase::confirm).post(admin::erase::erase),
        )
        .route(
            "/admin/templates",
            get(admin::templates::list).post(admin::templates::create),
        )
        .route(
            "/admin/templates/{id}",
            get(admin::templates::edit).post(admin::templates::revise),
        )
        .route(
            "/admin/templates/{id}/retire",
            get(admin::templates::confirm_retire).post(admin::templates::retire),
        )
        .route(
            "/admin/quiet-hours",
            get(admin::quiet_hours::show).post(admin::quiet_hours::save),
        )
        .route("/admin/reports", get(admin::reports::show))
        .route("/unmatched", get(unmatched::list))
        .route("/unmatched/{id}/assign", post(unmatched::assign))
        .route("/static/{file}", get(assets::serve))
        .layer(DefaultBodyLimit::max(FORM_BODY_LIMIT))
        .with_state(state)
}

/// The largest form a page accepts: a message with attachments up to the portal's 50 MiB.
pub const FORM_BODY_LIMIT: usize = 52 * 1024 * 1024;

/// Patient records looked up once per page.
#[derive(Default)]
pub struct Directory {
    known: HashMap<String, Option<Patient>>,
}

impl Directory {
    /// A patient's record, if the caller may read it.
    pub async fn patient(&mut self, api: &Api<'_>, id: &str) -> Option<&Patient> {
        if !self.known.contains_key(id) {
            let record = api.get::<Patient>(&format!("/patients/{id}")).await.ok();
            self.known.insert(id.to_owned(), record);
        }
        self.known.get(id).and_then(Option::as_ref)
    }

    /// A patient's name for display.
    pub async fn name(&mut self, api: &Api<'_>, id: &str) -> String {
        self.patient(api, id)
            .await
            .map(|p| p.name.clone())
            .unwrap_or_else(|| "Unknown patient".to_owned())
    }

    /// Patients of the caller's most recently active conversations, as `(id, name)`.
    pub async fn recent(&mut self, api: &Api<'_>) -> Vec<(String, String)> {
        let Ok(page) = api
            .get::<api::Page<api::Conversation>>("/conversations?limit=50")
            .await
        else {
            return Vec::new();
        };
        let mut ids: Vec<String> = Vec::new();
        for conversation in page.items {
            if !ids.contains(&conversation.patient_id) {
                ids.push(conversation.patient_id);
            }
        }
        let mut patients = Vec::with_capacity(ids.len());
        for id in ids {
            let name = self.name(api, &id).await;
            patients.push((id, name));
        }
        patients.sort_by_key(|(_, name)| name.to_lowercase());
        patients
    }
}

/// `key=value&…` of the non-empty pairs.
pub fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let pairs: Vec<(&str, &str)> = pairs
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .collect();
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// The inbox URL with these filters and one more pair (none when `name` is empty).
pub fn inbox_url(filters: &[(&str, &str)], name: &str, value: &str) -> String {
    let mut pairs = filters.to_vec();
    pairs.push((name, value));
    format!("/?{}", query_string(pairs))
}
