//! `hub bench`: the whole hub measured against the same machine's own limits, per backend.
//!
//! Phases, in order: seeded sample data appended to the log; a full rebuild of the read models
//! beside the raw bulk-insert rate of the same rows; the latency of every inbox query shape;
//! the hash chain verified over the whole log beside merely reading it; then `hub serve` in a
//! child process: scheduled-message release latency while it is idle, and 1, 8 and 64 HTTP
//! clients beside the database's single-row INSERT-commit rate at the same concurrency, with
//! the command-to-inbox lag.
//! Every phase records its peak memory. The report goes to stdout (Markdown) and `--json`.
//! `--phases` picks the phases after the data; `--keep DIR` keeps the data and `--reuse DIR`
//! measures it again without generating it.

mod api_load;
mod args;
mod audit;
mod backend;
mod generate;
mod in_process;
mod load;
mod memory;
mod progress;
mod queries;
mod raw;
mod rebuild;
mod release;
mod report;
pub mod sample;
mod server;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use projections::ReadModel as _;
use sample::{percentile_ms, SampleData};

use api_load::ApiClient;
pub use args::{BenchArgs, BenchBackend, BenchPhase};
use backend::{Backend, Keeping, KeptSample};
use memory::Process;
use raw::RawDb;
use report::{
    ratio, BackendFigures, CommandFigures, HotFigures, PhaseMemory, RebuildFigures, Report, Scale,
};
use server::HubServer;

/// Runs every phase on every backend asked for, prints the tables and writes the JSON.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.messages >= 10, "--messages must be at least 10");
    anyhow::ensure!(
        args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 3_600.0,
        "--seconds must be between 0 and 3600"
    );
    anyhow::ensure!(args.queries >= 1, "--queries must be at least 1");
    anyhow::ensure!(
        args.clients.iter().all(|c| (1..=1_024).contains(c)),
        "--clients must each be between 1 and 1024"
    );
    anyhow::ensure!(
        args.hot_writers.iter().all(|c| (1..=1_024).contains(c)),
        "--hot-writers must each be between 1 and 1024"
    );
    let keeping = match (&args.keep, &args.reuse) {
        (Some(dir), _) => Keeping::Keep(dir),
        (None, Some(dir)) => Keeping::Reuse(dir),
        (None, None) => Keeping::Drop,
    };
    let mut backends = Vec::new();
    let mut scale = None;
    for kind in &args.backends {
        let backend = match kind {
            BenchBackend::Sqlite => Backend::sqlite(keeping)?,
            BenchBackend::Postgres => match Backend::postgres(&args.database_url, keeping).await {
                Ok(backend) => backend,
                Err(error) => {
                    eprintln!("PostgreSQL is not reachable ({error:#}); skipped. Name a server with --database-url or HUB_BENCH_PG_URL.");
                    continue;
                }
            },
        };
        eprintln!("== {}", backend.name());
        let measured = measure(&backend, &args).await;
        if let Some(kept) = backend.kept_at() {
            eprintln!("kept: {kept}");
        }
        backend.finish().await;
        let (figures, data) = measured?;
        scale.get_or_insert(Scale {
            messages: args.messages,
            conversations: data.conversations,
            events: data.events,
        });
        backends.push(figures);
    }
    let report = Report {
        commit: git_commit(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        scale: scale.context("no backend could be measured")?,
        seconds_per_cell: args.seconds,
        queries_per_shape: args.queries,
        backends,
    };
    println!("{}", report.markdown());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The commit the binary was built from, if git knew it at build time.
fn git_commit() -> Option<String> {
    Some(env!("HUB_GIT_COMMIT").to_owned()).filter(|commit| !commit.is_empty())
}

/// The peak of `process` since its last reset, as a phase's memory figure.
fn peak(phase: &str, process: Process) -> PhaseMemory {
    PhaseMemory {
        phase: phase.to_owned(),
        process: match process {
            Process::Own => "hub bench",
            Process::Child(_) => "hub serve",
        }
        .to_owned(),
        peak_mib: process.peak_mib(),
    }
}

/// Every phase on one backend.
async fn measure(
    backend: &Backend,
    args: &BenchArgs,
) -> anyhow::Result<(BackendFigures, SampleData)> {
    let own = Process::Own;
    let mut memory = Vec::new();
    let (store, model) = backend.open().await?;

    let (data, generate_events_per_sec) = match backend.reused() {
        Some(kept) => {
            anyhow::ensure!(
                kept.messages == args.messages,
                "the reused data has {} messages, not --messages {}",
                kept.messages,
                args.messages
            );
            (kept.data.clone(), kept.generate_events_per_sec)
        }
        None => {
            own.reset_peak();
            let started = Instant::now();
            let data = generate::run(&store, args.messages).await?;
            let generate_events_per_sec = data.events as f64 / started.elapsed().as_secs_f64();
            memory.push(peak("generate", own));
            backend.record_sample(&KeptSample {
                messages: args.messages,
                generate_events_per_sec,
                data: data.clone(),
            })?;
            (data, generate_events_per_sec)
        }
    };

    let rebuild = if args.phases.contains(&BenchPhase::Rebuild) {
        own.reset_peak();
        let (events, took) = rebuild::run(&*store, &model).await?;
        memory.push(peak("rebuild", own));
        let bulk = RawDb::like_read_models(backend).await?;
        let spinner = progress::timed("raw bulk insert of the same rows");
        let (rows, bulk_took) = bulk.bulk_insert(&*store).await?;
        spinner.finish_and_clear();
        bulk.close().await;
        let events_per_sec = events as f64 / took.as_secs_f64();
        let raw_rows_per_sec = rows as f64 / bulk_took.as_secs_f64();
        Some(RebuildFigures {
            events,
            events_per_sec,
            raw_rows_per_sec,
            ratio: ratio(events_per_sec, raw_rows_per_sec),
        })
    } else {
        let (applied, head) = (model.checkpoint().await?, store.head_position().await?);
        anyhow::ensure!(
            applied >= head,
            "the read models are at position {applied} of {head} (a new DDL version starts them afresh): add the rebuild phase, --phases rebuild,…"
        );
        None
    };

    let queries = if args.phases.contains(&BenchPhase::Queries) {
        own.reset_peak();
        let figures = queries::run(&*model, &data.patients, args.queries).await?;
        memory.push(peak("queries", own));
        figures
    } else {
        Vec::new()
    };

    let audit = if args.phases.contains(&BenchPhase::Audit) {
        own.reset_peak();
        let figures = audit::run(&*store).await?;
        memory.push(peak("audit verify", own));
        Some(figures)
    } else {
        None
    };

    let commands_phase = args.phases.contains(&BenchPhase::Commands);
    if !commands_phase && !args.phases.contains(&BenchPhase::Release) {
        return Ok((
            BackendFigures {
                backend: backend.name().to_owned(),
                generate_events_per_sec,
                rebuild,
                queries,
                commands: Vec::new(),
                hot_conversation: Vec::new(),
                audit,
                release: None,
                memory,
            },
            data,
        ));
    }

    let duration = Duration::from_secs_f64(args.seconds);
    let mut in_process = Vec::with_capacity(args.clients.len());
    for &clients in args.clients.iter().filter(|_| commands_phase) {
        own.reset_peak();
        let spinner = progress::timed(&format!("in-process commands, {clients} clients"));
        in_process.push(
            in_process::run(store.clone(), clients, duration)
                .await?
                .per_sec(),
        );
        spinner.finish_and_clear();
        memory.push(peak(
            &format!("in-process commands, {clients} clients"),
            own,
        ));
    }
    drop((store, model));

    let server = HubServer::start(backend).await?;
    server.caught_up().await?;
    let release = if args.phases.contains(&BenchPhase::Release) {
        let spinner = progress::timed("scheduled messages released on the idle hub");
        let figures = release::run(&ApiClient::new(&server, 1)?).await;
        spinner.finish_and_clear();
        Some(figures)
    } else {
        None
    };
    let (commands, hot) = if commands_phase {
        let commands = load_cells(backend, &server, args, &in_process, &mut memory).await;
        let hot = match &commands {
            Ok(cells) => hot_cells(&server, args, cells, &mut memory).await,
            Err(_) => Ok(Vec::new()),
        };
        (commands, hot)
    } else {
        (Ok(Vec::new()), Ok(Vec::new()))
    };
    server.stop().await;
    Ok((
        BackendFigures {
            backend: backend.name().to_owned(),
            generate_events_per_sec,
            rebuild,
            queries,
            commands: commands?,
            hot_conversation: hot?,
            audit,
            release: release.transpose()?,
            memory,
        },
        data,
    ))
}

/// HTTP command throughput and lag per number of clients, each beside the in-process rate
/// measured before (`in_process`, in the order of `args.clients`) and the raw INSERT rate.
async fn load_cells(
    backend: &Backend,
    server: &HubServer,
    args: &BenchArgs,
    in_process: &[f64],
    memory: &mut Vec<PhaseMemory>,
) -> anyhow::Result<Vec<CommandFigures>> {
    let duration = Duration::from_secs_f64(args.seconds);
    let hub = server.pid().map(Process::Child).unwrap_or(Process::Own);
    let api = ApiClient::new(server, args.clients.iter().copied().max().unwrap_or(1))?;
    let mut cells = Vec::new();
    for (cell, &clients) in args.clients.iter().enumerate() {
        let conversations = api.start_conversations(clients).await?;
        hub.reset_peak();
        let spinner = progress::timed(&format!("HTTP commands, {clients} clients"));
        let mut run = api_load::run(&api, conversations, duration).await;
        memory.push(peak(&format!("HTTP load, {clients} clients"), hub));
        spinner.set_message(format!("raw INSERT-commits, {clients} clients"));
        let pool = clients.min(store::postgres::DEFAULT_POOL_SIZE as usize) as u32;
        let raw_rate = raw_insert_commits(backend, pool, clients, duration).await?;
        let per_client_rate = if backend.database_url().is_some() && pool as usize != clients {
            spinner.set_message(format!(
                "raw INSERT-commits, {clients} clients on a connection each"
            ));
            raw_insert_commits(backend, clients as u32, clients, duration).await?
        } else {
            raw_rate
        };
        spinner.finish_and_clear();
        run.lag.sort();
        let commands_per_sec = run.throughput.per_sec();
        let in_process_per_sec = in_process.get(cell).copied().unwrap_or_default();
        cells.push(CommandFigures {
            clients,
            commands_per_sec,
            in_process_per_sec,
            failed: run.throughput.failed,
            raw_inserts_per_sec: raw_rate,
            ratio: ratio(commands_per_sec, raw_rate),
            raw_per_client_per_sec: per_client_rate,
            ratio_per_client: ratio(commands_per_sec, per_client_rate),
            in_process_ratio_per_client: ratio(in_process_per_sec, per_client_rate),
            lag_samples: run.lag.len(),
            lag_p50_ms: percentile_ms(&run.lag, 0.5),
            lag_p99_ms: percentile_ms(&run.lag, 0.99),
        });
    }
    Ok(cells)
}

/// Single-row INSERT-commits per second of `clients` on a pool of `pool` connections.
async fn raw_insert_commits(
    backend: &Backend,
    pool: u32,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let raw = RawDb::like_event_store(backend, pool).await?;
    let rate = raw.insert_commit_rate(clients, duration).await?;
    raw.close().await;
    Ok(rate.per_sec())
}

/// HTTP sends of many writers into ONE conversation, per number of writers, beside the rate of
/// as many clients each in a conversation of its own (`independent`, when that cell ran).
async fn hot_cells(
    server: &HubServer,
    args: &BenchArgs,
    independent: &[CommandFigures],
    memory: &mut Vec<PhaseMemory>,
) -> anyhow::Result<Vec<HotFigures>> {
    let duration = Duration::from_secs_f64(args.seconds);
    let hub = server.pid().map(Process::Child).unwrap_or(Process::Own);
    let api = ApiClient::new(server, args.hot_writers.iter().copied().max().unwrap_or(1))?;
    let mut cells = Vec::new();
    for &writers in &args.hot_writers {
        let conversation = api.start_conversations(1).await?.remove(0);
        hub.reset_peak();
        let phase = format!("HTTP load, {writers} writers on one conversation");
        let spinner = progress::timed(&phase);
        let mut run = api_load::run(&api, vec![conversation; writers], duration).await;
        memory.push(peak(&phase, hub));
        spinner.finish_and_clear();
        run.lag.sort();
        let commands_per_sec = run.throughput.per_sec();
        let independent_per_sec = independent
            .iter()
            .find(|cell| cell.clients == writers)
            .map(|cell| cell.commands_per_sec);
        cells.push(HotFigures {
            writers,
            commands_per_sec,
            failed: run.throughput.failed,
            independent_per_sec,
            lag_p50_ms: percentile_ms(&run.lag, 0.5),
            lag_p99_ms: percentile_ms(&run.lag, 0.99),
        });
    }
    Ok(cells)
}
