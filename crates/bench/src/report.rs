//! Every figure of a run: printed as Markdown tables and written as JSON.

use std::fmt::Write as _;

use serde::Serialize;

/// A whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `git rev-parse HEAD` of the working directory, when available.
    pub commit: Option<String>,
    /// Logical cores of the machine.
    pub cores: usize,
    /// The data generated per backend.
    pub scale: Scale,
    /// Seconds each throughput cell runs.
    pub seconds_per_cell: f64,
    /// Queries per shape.
    pub queries_per_shape: usize,
    /// Figures per backend.
    pub backends: Vec<BackendFigures>,
}

/// The generated data.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Scale {
    /// Messages.
    pub messages: usize,
    /// Conversations.
    pub conversations: usize,
    /// Events in the log before the load phase.
    pub events: u64,
}

/// The figures of one backend.
#[derive(Debug, Serialize)]
pub struct BackendFigures {
    /// `SQLite` or `PostgreSQL`.
    pub backend: String,
    /// Sample data appended per second while generating (events/s).
    pub generate_events_per_sec: f64,
    /// The full replay; null when the rebuild phase did not run.
    pub rebuild: Option<RebuildFigures>,
    /// Query latency per shape; empty when the queries phase did not run.
    pub queries: Vec<QueryFigures>,
    /// Command throughput and lag per number of clients; empty when the commands phase did not
    /// run.
    pub commands: Vec<CommandFigures>,
    /// Sends of many writers into one conversation, per number of writers.
    pub hot_conversation: Vec<HotFigures>,
    /// `hub audit verify`'s rate; null when the audit phase did not run.
    pub audit: Option<AuditFigures>,
    /// Scheduled-message release latency on the idle hub; null when the release phase did not
    /// run.
    pub release: Option<ReleaseFigures>,
    /// Peak memory per phase.
    pub memory: Vec<PhaseMemory>,
}

/// Rebuild speed beside the raw bulk-insert rate of the same rows.
#[derive(Debug, Serialize)]
pub struct RebuildFigures {
    /// Events replayed.
    pub events: u64,
    /// Events replayed per second.
    pub events_per_sec: f64,
    /// The same event rows bulk-inserted into a bare table, rows per second.
    pub raw_rows_per_sec: f64,
    /// `events_per_sec / raw_rows_per_sec`.
    pub ratio: f64,
}

/// The hash chain recomputed over the whole log.
#[derive(Debug, Serialize)]
pub struct AuditFigures {
    /// Events verified.
    pub events: u64,
    /// Events verified per second.
    pub verify_events_per_sec: f64,
    /// The same events merely read per second, in the same batches.
    pub read_events_per_sec: f64,
    /// `verify_events_per_sec / read_events_per_sec`.
    pub ratio: f64,
}

/// How late scheduled messages were released after their `release_at`, on an idle hub.
#[derive(Debug, Serialize)]
pub struct ReleaseFigures {
    /// Messages scheduled and released.
    pub messages: usize,
    /// Median delay from `release_at` to the release event.
    pub p50_ms: f64,
    /// 99th percentile delay.
    pub p99_ms: f64,
    /// The longest delay.
    pub max_ms: f64,
}

/// One query shape.
#[derive(Debug, Serialize)]
pub struct QueryFigures {
    /// The shape's name.
    pub shape: String,
    /// Median latency.
    pub p50_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
}

/// Command throughput at one concurrency.
#[derive(Debug, Serialize)]
pub struct CommandFigures {
    /// Concurrent clients.
    pub clients: usize,
    /// Replies sent through the HTTP API per second.
    pub commands_per_sec: f64,
    /// The same replies through the in-process command API, per second.
    pub in_process_per_sec: f64,
    /// Sends that failed.
    pub failed: u64,
    /// The database's single-row INSERT-commits per second at the same concurrency, through a
    /// pool the size of the event store's (at most 10 connections on PostgreSQL).
    pub raw_inserts_per_sec: f64,
    /// `commands_per_sec / raw_inserts_per_sec`.
    pub ratio: f64,
    /// The same INSERT-commits measured the way pgbench measures them: one connection per
    /// client on PostgreSQL (SQLite has one writer connection either way).
    pub raw_per_client_per_sec: f64,
    /// `commands_per_sec / raw_per_client_per_sec`: the HTTP ratio the targets are set in.
    pub ratio_per_client: f64,
    /// `in_process_per_sec / raw_per_client_per_sec`.
    pub in_process_ratio_per_client: f64,
    /// Sends probed for lag.
    pub lag_samples: usize,
    /// Median command-to-inbox lag.
    pub lag_p50_ms: f64,
    /// 99th percentile command-to-inbox lag.
    pub lag_p99_ms: f64,
}

/// Many writers replying into one conversation at once.
#[derive(Debug, Serialize)]
pub struct HotFigures {
    /// Concurrent writers, all on the same conversation.
    pub writers: usize,
    /// Replies sent through the HTTP API per second.
    pub commands_per_sec: f64,
    /// Sends that failed.
    pub failed: u64,
    /// The rate of as many clients each in a conversation of its own, when measured.
    pub independent_per_sec: Option<f64>,
    /// Median command-to-inbox lag.
    pub lag_p50_ms: f64,
    /// 99th percentile command-to-inbox lag.
    pub lag_p99_ms: f64,
}

/// The peak resident memory of a process during one phase.
#[derive(Debug, Serialize)]
pub struct PhaseMemory {
    /// The phase.
    pub phase: String,
    /// `hub bench` (in-process phases) or `hub serve` (the server under load).
    pub process: String,
    /// Peak resident size (`VmHWM`), MiB; null without `/proc`.
    pub peak_mib: Option<f64>,
}

/// `hub / raw`, 0 when the raw rate is 0.
pub fn ratio(hub: f64, raw: f64) -> f64 {
    if raw > 0.0 {
        hub / raw
    } else {
        0.0
    }
}

impl Report {
    /// The figures as Markdown tables.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let s = &self.scale;
        let _ = writeln!(
            out,
            "{} messages in {} conversations ({} events), {} cores, commit {}, {} s per throughput cell, {} queries per shape\n",
            s.messages,
            s.conversations,
            s.events,
            self.cores,
            self.commit.as_deref().map_or("unknown", |c| &c[..c.len().min(12)]),
            self.seconds_per_cell,
            self.queries_per_shape
        );
        let any = |rows: fn(&BackendFigures) -> usize| self.backends.iter().any(|b| rows(b) > 0);
        if any(|b| b.commands.len()) {
            out.push_str("| backend    | clients | commands/s | in-process/s | raw INSERT/s | ratio | raw, conn per client/s | HTTP ratio | in-process ratio | lag p50 ms | lag p99 ms |\n");
            out.push_str("|------------|--------:|-----------:|-------------:|-------------:|------:|-----------------------:|-----------:|-----------------:|-----------:|-----------:|\n");
            for b in &self.backends {
                for c in &b.commands {
                    let _ = writeln!(
                    out,
                    "| {:<10} | {:>7} | {:>10.0} | {:>12.0} | {:>12.0} | {:>4.0}% | {:>22.0} | {:>9.0}% | {:>15.0}% | {:>10.2} | {:>10.2} |",
                    b.backend,
                    c.clients,
                    c.commands_per_sec,
                    c.in_process_per_sec,
                    c.raw_inserts_per_sec,
                    100.0 * c.ratio,
                    c.raw_per_client_per_sec,
                    100.0 * c.ratio_per_client,
                    100.0 * c.in_process_ratio_per_client,
                    c.lag_p50_ms,
                    c.lag_p99_ms
                );
                }
            }
            out.push('\n');
        }
        if any(|b| b.hot_conversation.len()) {
            out.push_str("| backend    | writers on one conversation | commands/s | failed | independent conversations/s | lag p50 ms | lag p99 ms |\n");
            out.push_str("|------------|----------------------------:|-----------:|-------:|----------------------------:|-----------:|-----------:|\n");
            for b in &self.backends {
                for h in &b.hot_conversation {
                    let independent = h
                        .independent_per_sec
                        .map_or("n/a".to_owned(), |rate| format!("{rate:.0}"));
                    let _ = writeln!(
                        out,
                        "| {:<10} | {:>27} | {:>10.0} | {:>6} | {:>27} | {:>10.2} | {:>10.2} |",
                        b.backend,
                        h.writers,
                        h.commands_per_sec,
                        h.failed,
                        independent,
                        h.lag_p50_ms,
                        h.lag_p99_ms
                    );
                }
            }
            out.push('\n');
        }
        if any(|b| usize::from(b.rebuild.is_some())) {
            out.push_str(
                "| backend    | events replayed | rebuild events/s | raw bulk rows/s | ratio |\n",
            );
            out.push_str(
                "|------------|----------------:|-----------------:|----------------:|------:|\n",
            );
            for b in &self.backends {
                let Some(r) = &b.rebuild else {
                    continue;
                };
                let _ = writeln!(
                    out,
                    "| {:<10} | {:>15} | {:>16.0} | {:>15.0} | {:>4.0}% |",
                    b.backend,
                    r.events,
                    r.events_per_sec,
                    r.raw_rows_per_sec,
                    100.0 * r.ratio
                );
            }
            out.push('\n');
        }
        if any(|b| usize::from(b.audit.is_some())) {
            out.push_str(
                "| backend    | events verified | verify events/s | read events/s | ratio |\n",
            );
            out.push_str(
                "|------------|----------------:|----------------:|--------------:|------:|\n",
            );
            for b in &self.backends {
                let Some(a) = &b.audit else {
                    continue;
                };
                let _ = writeln!(
                    out,
                    "| {:<10} | {:>15} | {:>15.0} | {:>13.0} | {:>4.0}% |",
                    b.backend,
                    a.events,
                    a.verify_events_per_sec,
                    a.read_events_per_sec,
                    100.0 * a.ratio
                );
            }
            out.push('\n');
        }
        if any(|b| usize::from(b.release.is_some())) {
            out.push_str("| backend    | scheduled messages released (idle hub) | late p50 ms | late p99 ms | late max ms |\n");
            out.push_str("|------------|---------------------------------------:|------------:|------------:|------------:|\n");
            for b in &self.backends {
                let Some(r) = &b.release else {
                    continue;
                };
                let _ = writeln!(
                    out,
                    "| {:<10} | {:>38} | {:>11.1} | {:>11.1} | {:>11.1} |",
                    b.backend, r.messages, r.p50_ms, r.p99_ms, r.max_ms
                );
            }
            out.push('\n');
        }
        if any(|b| b.queries.len()) {
            out.push_str(
                "| backend    | query shape                        |   p50 ms |   p99 ms |\n",
            );
            out.push_str(
                "|------------|------------------------------------|---------:|---------:|\n",
            );
            for b in &self.backends {
                for q in &b.queries {
                    let _ = writeln!(
                        out,
                        "| {:<10} | {:<34} | {:>8.2} | {:>8.2} |",
                        b.backend, q.shape, q.p50_ms, q.p99_ms
                    );
                }
            }
            out.push('\n');
        }
        out.push_str("| backend    | phase                    | process   | peak MiB |\n");
        out.push_str("|------------|--------------------------|-----------|---------:|\n");
        for b in &self.backends {
            for m in &b.memory {
                let peak = m.peak_mib.map_or("n/a".to_owned(), |p| format!("{p:.0}"));
                let _ = writeln!(
                    out,
                    "| {:<10} | {:<24} | {:<9} | {:>8} |",
                    b.backend, m.phase, m.process, peak
                );
            }
        }
        out
    }
}
