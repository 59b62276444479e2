//! Black-box harness: starts the real `hub` binary on a free port against a fresh data folder
//! (embedded SQLite) or a fresh PostgreSQL database, and talks to it over HTTP only.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use store::testing::TestDatabase;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The bootstrap admin token every test hub starts with.
pub const ADMIN: &str = "test-bootstrap-admin-token";

/// Which storage a test hub runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// PostgreSQL at 127.0.0.1:5432, a fresh database per test.
    Postgres,
}

/// A running hub process and what it needs to be restarted.
pub struct Hub {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    data_dir: tempfile::TempDir,
    database: Option<TestDatabase>,
    shared_url: Option<String>,
    extra_args: Vec<String>,
    http: reqwest::Client,
    /// What the process wrote on stderr (its logs), when captured.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// An HTTP answer: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: StatusCode,
    /// Parsed body.
    pub body: Value,
}

impl Answer {
    /// The contract error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts a success status and returns the body.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert!(
            self.status.is_success(),
            "expected success, got {} {}",
            self.status,
            self.body
        );
        &self.body
    }

    /// Asserts an error with this status and code.
    #[track_caller]
    pub fn err(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "unexpected answer: {}",
            self.body
        );
    }
}

impl Hub {
    /// Starts a hub on `backend` with fresh storage.
    pub async fn start(backend: Backend) -> Hub {
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(TestDatabase::create().await.expect("test database")),
        };
        Hub::launch(
            database,
            None,
            tempfile::tempdir().expect("temp dir"),
            Vec::new(),
        )
        .await
    }

    /// Starts a hub with extra `serve` arguments (its stderr captured in `logs`).
    pub async fn start_with(backend: Backend, args: &[&str]) -> Hub {
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(TestDatabase::create().await.expect("test database")),
        };
        let args = args.iter().map(|a| a.to_string()).collect();
        Hub::launch(database, None, tempfile::tempdir().expect("temp dir"), args).await
    }

    /// Another `hub serve` process on this hub's PostgreSQL database (a second API node).
    pub async fn second_node(&self) -> Hub {
        self.second_node_with(&[]).await
    }

    /// Another `hub serve` process on this hub's PostgreSQL database, with extra arguments.
    pub async fn second_node_with(&self, args: &[String]) -> Hub {
        let url = self
            .database_url()
            .expect("a second node needs PostgreSQL")
            .to_owned();
        Hub::launch(
            None,
            Some(url),
            tempfile::tempdir().expect("temp dir"),
            args.to_vec(),
        )
        .await
    }

    async fn launch(
        database: Option<TestDatabase>,
        shared_url: Option<String>,
        data_dir: tempfile::TempDir,
        extra_args: Vec<String>,
    ) -> Hub {
        let mut hub = Hub {
            child: None,
            base: String::new(),
            data_dir,
            database,
            shared_url,
            extra_args,
            http: reqwest::Client::new(),
            logs: Default::default(),
        };
        hub.spawn().await;
        hub
    }

    /// The `hub serve` process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The data folder of this hub.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }

    /// The PostgreSQL URL, when on PostgreSQL.
    pub fn database_url(&self) -> Option<&str> {
        self.database
            .as_ref()
            .map(|db| db.url.as_str())
            .or(self.shared_url.as_deref())
    }

    /// Runs another `hub` subcommand against this hub's storage, whatever its exit status.
    pub async fn cli_output(&self, args: &[&str]) -> std::process::Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hub"));
        command
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir.path());
        if let Some(url) = self.database_url() {
            command.arg("--database-url").arg(url);
        }
        command.output().await.expect("run hub")
    }

    /// Runs SQL straight on this hub's event log database, as someone with database access
    /// would, bypassing the hub.
    pub async fn event_log_sql(&self, sql: &str) {
        use sqlx::Connection;
        match self.database_url() {
            Some(url) => {
                let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
                sqlx::raw_sql(sql)
                    .execute(&mut connection)
                    .await
                    .expect("run SQL");
                connection.close().await.expect("close");
            }
            None => {
                let path = self.data_dir.path().join("events.db");
                let mut connection =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .expect("connect");
                sqlx::raw_sql(sql)
                    .execute(&mut connection)
                    .await
                    .expect("run SQL");
                connection.close().await.expect("close");
            }
        }
    }

    /// Runs another `hub` subcommand against this hub's storage and returns its stdout.
    pub async fn cli(&self, args: &[&str]) -> String {
        let output = self.cli_output(args).await;
        assert!(
            output.status.success(),
            "hub {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8 output")
    }

    async fn spawn(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hub"));
        command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .env("HUB_BOOTSTRAP_ADMIN_TOKEN", ADMIN)
            .env("HUB_LOG", "warn")
            .args(&self.extra_args)
            .stdout(Stdio::piped())
            .stderr(if self.extra_args.is_empty() {
                Stdio::inherit()
            } else {
                Stdio::piped()
            })
            .kill_on_drop(true);
        if !self.extra_args.is_empty() {
            command.env("HUB_LOG", "info");
        }
        if let Some(url) = self.database_url() {
            command.arg("--database-url").arg(url);
        }
        let mut child = command.spawn().expect("start hub");
        if let Some(stderr) = child.stderr.take() {
            let logs = self.logs.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("hub did not say where it listens within 60 s")
            .expect("read stdout")
            .expect("hub exited before listening");
        let base = line
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .expect("listening line names the address")
            .to_owned();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.base = base;
        self.child = Some(child);
    }

    /// Stops the process (SIGKILL) and starts it again on the same storage.
    pub async fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill hub");
        }
        self.spawn().await;
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, body }
    }

    /// `GET` with a token.
    pub async fn get(&self, token: &str, path: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// `POST` JSON with a token.
    pub async fn post(&self, token: &str, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Uploads raw bytes as an attachment.
    pub async fn upload(
        &self,
        token: &str,
        media_type: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Answer {
        let response = self
            .http
            .post(format!("{}/v1/attachments?filename={filename}", self.base))
            .bearer_auth(token)
            .header("content-type", media_type)
            .body(bytes)
            .send()
            .await
            .expect("upload");
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        Answer { status, body }
    }

    /// Downloads an attachment: status and bytes.
    pub async fn download(&self, token: &str, id: &str) -> (StatusCode, Vec<u8>) {
        let response = self
            .http
            .get(format!("{}/v1/attachments/{id}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("download");
        let status = response.status();
        (status, response.bytes().await.expect("bytes").to_vec())
    }

    /// Registers staff as the bootstrap admin; returns `(id, token)`.
    pub async fn staff(&self, name: &str, role: &str) -> (String, String) {
        let answer = self
            .post(
                ADMIN,
                "/v1/staff",
                json!({ "name": name, "role": role, "permissions": ["send_messages"] }),
            )
            .await;
        let body = answer.ok();
        (
            body["id"].as_str().expect("id").to_owned(),
            body["token"].as_str().expect("token").to_owned(),
        )
    }

    /// Registers a patient with every channel available; returns `(id, token)`.
    pub async fn patient(&self, name: &str) -> (String, String) {
        let answer = self
            .post(
                ADMIN,
                "/v1/patients",
                json!({
                    "name": name,
                    "phone": "+4915112345678",
                    "email": "patient@example.org",
                    "portal_enabled": true,
                    "whatsapp_opt_in": true
                }),
            )
            .await;
        let body = answer.ok();
        (
            body["id"].as_str().expect("id").to_owned(),
            body["token"].as_str().expect("token").to_owned(),
        )
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// Runs an async test body once per backend, each as its own test.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Postgres).await;
                }
            )*
        }
    };
}
