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

/// A phase of `hub bench` after the data is there (generated, or reused with `--reuse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchPhase {
    /// The full rebuild of the read models beside the raw bulk-insert rate.
    Rebuild,
    /// The latency of every query shape.
    Queries,
    /// Commands in process and through HTTP, with lag, and the hot-conversation cells.
    Commands,
    /// `hub audit verify` over the whole log, beside merely reading it.
    Audit,
    /// Scheduled-message release latency on the idle `hub serve`.
    Release,
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
    /// Phases to run after generating the data (or reusing it).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "rebuild,queries,audit,release,commands"
    )]
    pub phases: Vec<BenchPhase>,
    /// Keep each backend's generated data in this folder instead of dropping it: SQLite's data
    /// folder as `DIR/sqlite`, the PostgreSQL database (not dropped) named in
    /// `DIR/postgres/database`, each beside `sample.json`. `--reuse DIR` measures it again.
    #[arg(long, value_name = "DIR", conflicts_with = "reuse")]
    pub keep: Option<PathBuf>,
    /// Measure the data an earlier `--keep DIR` kept instead of generating it (the same
    /// `--messages`); the generate figure is the one of the run that kept it. The kept data
    /// stays; the commands phase adds to it.
    #[arg(long, value_name = "DIR")]
    pub reuse: Option<PathBuf>,
    /// Also write every figure as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}
