//! The command line of `hub bench`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// A backend `hub bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchBackend {
    /// Embedded SQLite in a temporary folder.
    Sqlite,
    /// A fresh database on the PostgreSQL server of `--database-url`.
    Postgres,
}

/// `hub bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Messages to generate per backend (seeded; conversations of 10, a patient per 20).
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    /// Seconds each throughput cell runs.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Queries per inbox query shape.
    #[arg(long, default_value_t = 100)]
    pub queries: usize,
    /// Concurrent HTTP clients of the throughput cells.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    pub clients: Vec<usize>,
    /// Concurrent HTTP writers of the hot-conversation cells: all reply into one conversation.
    #[arg(long, value_delimiter = ',', default_value = "8,64")]
    pub hot_writers: Vec<usize>,
    /// PostgreSQL server (a URL of any database on it) where a fresh `hub_bench_<random>`
    /// database is created and dropped.
    #[arg(
        long,
        env = "HUB_BENCH_PG_URL",
        default_value = "postgres://root@127.0.0.1:5432/postgres",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Backends to measure (PostgreSQL is skipped when not reachable).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "sqlite,postgres"
    )]
    pub backends: Vec<BenchBackend>,
    /// Also write every figure as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}
