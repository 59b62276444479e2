//! The command line: `serve`, `project`, `dispatch`, `replay`, `events`, `audit`, `admin`,
//! `bench`.

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
    /// The key that wraps each patient's data key: 32 bytes as 64 hex digits or base64.
    /// Without it, SQLite keeps a generated one in `master.key` in the data folder and
    /// PostgreSQL in the database (see docs/audit.md).
    #[arg(long, env = "HUB_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API, with the projector in the same process.
    Serve(ServeArgs),
    /// Run only the projector that keeps the read models up to date.
    Project(ProjectArgs),
    /// Run only the channel dispatchers (and, with `--nats-url`, the relay to JetStream).
    Dispatch(DispatchArgs),
    /// Rebuild the read models from the event log (blue/green), one projection of them in
    /// place, or build a point-in-time copy.
    Replay(ReplayArgs),
    /// Print the event log as JSON lines.
    Events(EventsArgs),
    /// Check the event log's hash chain.
    Audit(AuditArgs),
    /// Administrators from the console: the first user of a new clinic.
    Admin(AdminArgs),
    /// Measure the whole hub against the machine's own database limits.
    Bench(bench::BenchArgs),
}

/// `hub admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// `hub admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Register an admin (with `send_messages`) and print its token, shown once.
    Create {
        /// The admin's display name.
        #[arg(long)]
        name: String,
        /// Storage.
        #[command(flatten)]
        storage: StorageArgs,
    },
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
    /// Attachment storage.
    #[command(flatten)]
    pub blobs: BlobArgs,
    /// Connections open at once; more are answered 503 and closed.
    #[arg(long, env = "HUB_MAX_CONNECTIONS", default_value_t = 4_096)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers, and a new connection its first request
    /// (a kept-alive connection may stay idle 60 s between requests).
    #[arg(long, env = "HUB_HEADER_TIMEOUT_SECONDS", default_value_t = 10)]
    pub header_timeout_seconds: u64,
    /// Token of the bootstrap admin, which holds every permission.
    #[arg(long, env = "HUB_BOOTSTRAP_ADMIN_TOKEN", hide_env_values = true)]
    pub bootstrap_admin_token: Option<String>,
    /// Channel providers.
    #[command(flatten)]
    pub providers: ProviderArgs,
    /// How outbound messages are dispatched.
    #[command(flatten)]
    pub dispatch: DispatchTuning,
    /// Serve only the API: no projector and no dispatchers in this process (production
    /// topology, where `hub project` and `hub dispatch` run beside it).
    #[arg(long)]
    pub api_only: bool,
    /// The clinic's time zone, an IANA name such as `Europe/Berlin`: the web pages show times
    /// in it and read the times typed into them in it.
    #[arg(long, env = "HUB_TIME_ZONE", default_value = "UTC", value_parser = time_zone)]
    pub time_zone: chrono_tz::Tz,
    /// Bearer token that `GET /metrics` (Prometheus text format, on the listen address)
    /// requires; without it `/metrics` is not served.
    #[arg(long, env = "HUB_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

/// `hub project`.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// Storage.
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Metrics.
    #[command(flatten)]
    pub metrics: MetricsListenArgs,
}

/// `/metrics` for the processes that serve no API (`hub project`, `hub dispatch`): served
/// alone on an address of its own.
#[derive(Debug, Clone, Args)]
pub struct MetricsListenArgs {
    /// Address to serve `GET /metrics` on (nothing else is served there), when
    /// `--metrics-token` is set too. Without both this process serves no metrics.
    #[arg(long, env = "HUB_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Bearer token that `GET /metrics` requires.
    #[arg(long, env = "HUB_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

/// A configured token: `None` when absent or blank (an empty `HUB_METRICS_TOKEN=` in an
/// environment file turns metrics off rather than accepting an empty token).
pub fn configured(token: Option<&str>) -> Option<&str> {
    token.map(str::trim).filter(|token| !token.is_empty())
}

/// An IANA time zone name, or what to give instead.
fn time_zone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.parse().map_err(|_| {
        format!(
            "unknown time zone {name:?}: give an IANA name such as Europe/Berlin, \
             America/New_York or UTC"
        )
    })
}

/// Where attachment contents are kept.
#[derive(Debug, Clone, Args)]
pub struct BlobArgs {
    /// Where attachment contents go: `s3://bucket/prefix` for an S3-compatible store (credentials
    /// and endpoint from the `AWS_*` environment); by default `<data-dir>/attachments`.
    #[arg(long, env = "HUB_BLOB_URL")]
    pub blob_url: Option<String>,
}

/// `hub dispatch`.
#[derive(Debug, Args)]
pub struct DispatchArgs {
    /// Storage.
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Attachment storage (the dispatchers read attached files).
    #[command(flatten)]
    pub blobs: BlobArgs,
    /// Channel providers.
    #[command(flatten)]
    pub providers: ProviderArgs,
    /// How outbound messages are dispatched.
    #[command(flatten)]
    pub dispatch: DispatchTuning,
    /// Metrics.
    #[command(flatten)]
    pub metrics: MetricsListenArgs,
}

/// How outbound messages reach the dispatchers, and how the dispatchers retry.
#[derive(Debug, Clone, Args)]
pub struct DispatchTuning {
    /// NATS server with JetStream (`nats://host:4222`): outbound events go through it. Without
    /// it the dispatchers follow the event log directly.
    #[arg(long, env = "HUB_NATS_URL")]
    pub nats_url: Option<String>,
    /// How long a dispatcher's claim on a message holds (and the JetStream ack wait).
    #[arg(long, env = "HUB_DISPATCH_LEASE_SECONDS", default_value_t = 120)]
    pub dispatch_lease_seconds: u64,
    /// Provider calls per message when the provider is unavailable, the first included.
    #[arg(long, env = "HUB_DISPATCH_ATTEMPTS", default_value_t = 6)]
    pub dispatch_attempts: u32,
    /// The first wait between provider calls, in milliseconds (it doubles, up to 30 s).
    #[arg(long, env = "HUB_DISPATCH_BACKOFF_MS", default_value_t = 500)]
    pub dispatch_backoff_ms: u64,
}

/// Channel providers and webhook secrets (contract section 7). A channel whose provider is
/// not configured keeps its messages `queued`.
#[derive(Debug, Clone, Args)]
pub struct ProviderArgs {
    /// The URL providers call back (status callbacks, signature checks).
    #[arg(long, env = "HUB_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Twilio's API base URL.
    #[arg(long, env = "HUB_TWILIO_API_BASE", default_value = dispatch::provider::twilio::DEFAULT_API_BASE)]
    pub twilio_api_base: String,
    /// Twilio account SID.
    #[arg(long, env = "HUB_TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token (also the key of `X-Twilio-Signature`).
    #[arg(long, env = "HUB_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// The number SMS are sent from.
    #[arg(long, env = "HUB_TWILIO_FROM")]
    pub twilio_from: Option<String>,
    /// WhatsApp Cloud API base URL (with its version).
    #[arg(long, env = "HUB_WHATSAPP_API_BASE", default_value = dispatch::provider::whatsapp::DEFAULT_API_BASE)]
    pub whatsapp_api_base: String,
    /// The WhatsApp business phone number id.
    #[arg(long, env = "HUB_WHATSAPP_PHONE_NUMBER_ID")]
    pub whatsapp_phone_number_id: Option<String>,
    /// WhatsApp access token.
    #[arg(long, env = "HUB_WHATSAPP_TOKEN", hide_env_values = true)]
    pub whatsapp_token: Option<String>,
    /// WhatsApp app secret (key of `X-Hub-Signature-256`).
    #[arg(long, env = "HUB_WHATSAPP_APP_SECRET", hide_env_values = true)]
    pub whatsapp_app_secret: Option<String>,
    /// The token the WhatsApp subscription handshake must present.
    #[arg(long, env = "HUB_WHATSAPP_VERIFY_TOKEN", hide_env_values = true)]
    pub whatsapp_verify_token: Option<String>,
    /// SMTP server, e.g. `smtp://user:pass@host:587?tls=required`.
    #[arg(long, env = "HUB_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of e-mails, e.g. `Clinic <clinic@example.org>`.
    #[arg(long, env = "HUB_EMAIL_FROM")]
    pub email_from: Option<String>,
    /// Bearer token the inbound e-mail webhook requires.
    #[arg(long, env = "HUB_INBOUND_EMAIL_TOKEN", hide_env_values = true)]
    pub inbound_email_token: Option<String>,
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
    /// Rebuild only this projection of the live read models (`inbox`, `patients` or
    /// `reporting`), in place; without it every projection is rebuilt into a new generation.
    #[arg(long, conflicts_with_all = ["into", "until"], value_parser = projection)]
    pub projection: Option<projections::Projection>,
}

/// A projection's name, or the names to give instead.
fn projection(name: &str) -> Result<projections::Projection, String> {
    projections::Projection::named(name).ok_or_else(|| {
        let names: Vec<&str> = projections::Projection::ALL
            .iter()
            .map(|p| p.name())
            .collect();
        format!(
            "unknown projection {name:?}: give one of {}",
            names.join(", ")
        )
    })
}

/// `hub audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// The `hub audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain over the stored log: prints `ok <count> events, head
    /// <position> <hash>` (exit 0) or the first position that does not match (exit 1).
    Verify {
        /// Storage.
        #[command(flatten)]
        storage: StorageArgs,
        /// Start at this position, taking the stored hash before it as given.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        from: u64,
    },
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
