//! The hub under load: this very binary started as `hub serve` on 127.0.0.1:0 over the
//! backend's data, in a child process of its own (its memory and its logs apart).

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use super::backend::Backend;

/// What `hub serve` prints once it listens.
const LISTENING: &str = "hub listening on http://";
/// Settings of the environment that would point the child elsewhere than the backend.
const CLEARED_ENV: [&str; 5] = [
    "HUB_DATABASE_URL",
    "HUB_DATA_DIR",
    "HUB_LISTEN",
    "HUB_NATS_URL",
    "HUB_BLOB_URL",
];

/// A running `hub serve`.
pub struct HubServer {
    child: Child,
    /// Kept open so the child's later output never meets a closed pipe.
    _stdout: Lines<BufReader<ChildStdout>>,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The bootstrap admin's token.
    pub token: String,
}

impl HubServer {
    /// Starts `hub serve` on the backend's data; its log goes to `hub-serve.log` in the data folder.
    pub async fn start(backend: &Backend) -> anyhow::Result<Self> {
        let token = format!("bench-{}", uuid::Uuid::new_v4().simple());
        let log = std::fs::File::create(backend.data_dir().join("hub-serve.log"))
            .context("creating the server log")?;
        let mut command = Command::new(std::env::current_exe().context("finding this binary")?);
        command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(backend.data_dir());
        if let Some(url) = backend.database_url() {
            command.arg("--database-url").arg(url);
        }
        for name in CLEARED_ENV {
            command.env_remove(name);
        }
        let mut child = command
            .env("HUB_BOOTSTRAP_ADMIN_TOKEN", &token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting `hub serve`")?;
        let stdout = child.stdout.take().context("no stdout of `hub serve`")?;
        let mut lines = BufReader::new(stdout).lines();
        let address = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.strip_prefix(LISTENING) {
                    return Ok(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
            }
            anyhow::bail!("`hub serve` ended before listening (see hub-serve.log)")
        })
        .await
        .context("`hub serve` did not start listening within 120 s")??;
        Ok(HubServer {
            child,
            _stdout: lines,
            base_url: format!("http://{address}"),
            token,
        })
    }

    /// Waits until the server's projector has applied the whole log (`/v1/health` lag 0), so
    /// that no load cell measures a catch-up; 10 minutes at most.
    pub async fn caught_up(&self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(600);
        loop {
            let health: serde_json::Value = http
                .get(format!("{}/v1/health", self.base_url))
                .send()
                .await?
                .json()
                .await?;
            if health["projection"]["lag"].as_u64() == Some(0) {
                return Ok(());
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the projector did not catch up within 10 minutes"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the server and waits for it to end.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
