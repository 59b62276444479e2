//! `hub`: the clinic communication hub.

mod audit;
mod blobs;
mod cli;
mod error;
mod http;
mod inbound;
mod metrics;
mod providers;
mod run;
mod server;
mod workers;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command, LogFormat};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) => run::serve(args).await,
        Command::Project(args) => run::project(args).await,
        Command::Dispatch(args) => run::dispatch(args).await,
        Command::Replay(args) => run::replay(args).await,
        Command::Events(args) => run::events(args).await,
        Command::Audit(args) => audit::run(args).await,
        Command::Admin(args) => run::admin(args).await,
        Command::Bench(args) => bench::run(args).await,
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("HUB_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
