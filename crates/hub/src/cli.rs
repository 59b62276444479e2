//! The command line: `serve`, `project`, `replay`, `events`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The clinic communication hub.
#[derive(Debug, Parser)]
#[command(name = "hub", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where the hub keeps its data.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Folder for the embedded SQLite databases and attachments.
    #[arg(long, env = "HUB_DATA_DIR", default_value = "./hub-data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (`postgres://…`): event store and read models there instead of SQLite.
    #[arg(long, env = "HUB_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API, with the projector in the same process.
    Serve(ServeArgs),
    /// Run only the projector that keeps the read models up to date.
    Project(StorageArgs),
    /// Rebuild the read models from the event log (blue/green), or build a point-in-time copy.
    Replay(ReplayArgs),
    /// Print the event log as JSON lines.
    Events(EventsArgs),
}

/// `hub serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Storage.
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Address to listen on.
    #[arg(long, env = "HUB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where attachment contents go: `s3://bucket/prefix` for an S3-compatible store (credentials
    /// and endpoint from the `AWS_*` environment); by default `<data-dir>/attachments`.
    #[arg(long, env = "HUB_BLOB_URL")]
    pub blob_url: Option<String>,
    /// Token of the bootstrap admin, which holds every permission.
    #[arg(long, env = "HUB_BOOTSTRAP_ADMIN_TOKEN", hide_env_values = true)]
    pub bootstrap_admin_token: Option<String>,
}

/// `hub replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Storage.
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Stop at this global position or RFC 3339 time (needs `--into`).
    #[arg(long, requires = "into")]
    pub until: Option<String>,
    /// Build a separate point-in-time copy with this name instead of replacing the live models.
    #[arg(long)]
    pub into: Option<String>,
}

/// `hub events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Storage.
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Only this stream, e.g. `conversation-<uuid>`.
    #[arg(long)]
    pub stream: Option<String>,
    /// Only positions greater than this.
    #[arg(long, default_value_t = 0)]
    pub after: u64,
    /// Only positions up to this one.
    #[arg(long)]
    pub until: Option<u64>,
}
