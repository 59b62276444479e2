//! Local servers that speak the providers' wire formats: Twilio's and the WhatsApp Cloud
//! API's HTTP APIs (recording every request, answering as documented or as scripted) and a
//! real SMTP server (mailin-embedded) that records every mail. Shared by several test
//! targets, each of which uses a part of it.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use mailin_embedded::{response, Handler, Server, SslConfig};
use serde_json::json;

/// One request a fake provider received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
}

impl Recorded {
    /// The form fields of a form-encoded body.
    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&self.body).expect("form body")
    }

    /// One form field.
    pub fn field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The JSON body.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// What the fake answers next: a status and body, or no answer at all (hang).
#[derive(Debug, Clone)]
pub enum Scripted {
    /// Answer with this status and JSON body.
    Answer(u16, serde_json::Value),
    /// Never answer.
    Hang,
}

#[derive(Clone)]
struct FakeState {
    kind: Kind,
    delay: Arc<Mutex<Duration>>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Scripted>>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Twilio,
    Whatsapp,
}

/// A fake provider API on a local port.
pub struct FakeApi {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    state: FakeState,
}

impl FakeApi {
    /// Twilio's Programmable Messaging API.
    pub async fn twilio() -> FakeApi {
        FakeApi::start(Kind::Twilio).await
    }

    /// The WhatsApp Cloud API (Graph).
    pub async fn whatsapp() -> FakeApi {
        FakeApi::start(Kind::Whatsapp).await
    }

    async fn start(kind: Kind) -> FakeApi {
        let state = FakeState {
            kind,
            delay: Default::default(),
            requests: Default::default(),
            script: Default::default(),
        };
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeApi { base, state }
    }

    /// Queues answers for the next requests (afterwards it answers as documented).
    pub fn script(&self, answers: impl IntoIterator<Item = Scripted>) {
        self.state.script.lock().unwrap().extend(answers);
    }

    /// Makes every later answer wait this long (a slow provider).
    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (30 s at most) and answers them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Recorded> {
        for _ in 0..300 {
            let requests = self.requests();
            if requests.len() >= n {
                return requests;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected {n} provider requests, got {:?}", self.requests());
    }
}

async fn answer(State(state): State<FakeState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024).await.unwrap();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.to_string());
    state.requests.lock().unwrap().push(Recorded {
        method: parts.method,
        path: path.clone(),
        headers: parts.headers,
        body,
    });
    let delay = *state.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let scripted = state.script.lock().unwrap().pop_front();
    match scripted {
        Some(Scripted::Hang) => std::future::pending().await,
        Some(Scripted::Answer(status, body)) => {
            (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
        }
        None => documented(state.kind, &path),
    }
}

/// The provider's documented success answer.
fn documented(kind: Kind, path: &str) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    match kind {
        Kind::Twilio => (
            StatusCode::CREATED,
            axum::Json(json!({ "sid": format!("SM{id}"), "status": "queued" })),
        )
            .into_response(),
        Kind::Whatsapp if path.ends_with("/media") => {
            axum::Json(json!({ "id": format!("media{id}") })).into_response()
        }
        Kind::Whatsapp => axum::Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": "4915112345678", "wa_id": "4915112345678" }],
            "messages": [{ "id": format!("wamid.{id}") }]
        }))
        .into_response(),
    }
}

/// One mail the SMTP server accepted.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// Envelope sender.
    pub from: String,
    /// Envelope recipients.
    pub to: Vec<String>,
    /// The message as sent (RFC 5322).
    pub data: Vec<u8>,
}

#[derive(Clone, Default)]
struct Recorder {
    current: Mail,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl Handler for Recorder {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> mailin_embedded::Response {
        self.current = Mail {
            from: from.to_owned(),
            ..Mail::default()
        };
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> mailin_embedded::Response {
        self.current.to.push(to.to_owned());
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        self.mails.lock().unwrap().push(self.current.clone());
        response::OK
    }
}

/// A real SMTP server on a local port.
pub struct FakeSmtp {
    /// `smtp://127.0.0.1:<port>`.
    pub url: String,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl FakeSmtp {
    /// Starts the server in a thread.
    pub fn start() -> FakeSmtp {
        let recorder = Recorder::default();
        let mails = recorder.mails.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let mut server = Server::new(recorder);
        server
            .with_name("mx.test")
            .with_tcp_listener(listener)
            .with_ssl(SslConfig::None)
            .unwrap();
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        FakeSmtp { url, mails }
    }

    /// Waits until at least `n` mails arrived (30 s at most).
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        for _ in 0..300 {
            let mails = self.mails.lock().unwrap().clone();
            if mails.len() >= n {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected {n} mails");
    }
}
