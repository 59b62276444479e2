//! What each subcommand runs.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use commands::{CommandService, Executor, RequestMeta};
use domain::{Permission, Principal, Role};
use projections::{ReplayLimit, ReplayProgress, SqlReadModel};
use store::EventStore;
use tokio::net::TcpListener;

use crate::blobs::BlobStore;
use crate::cli::{
    self, AdminArgs, AdminCommand, BlobArgs, DispatchArgs, EventsArgs, MetricsListenArgs,
    ProjectArgs, ReplayArgs, ServeArgs, StorageArgs,
};
use crate::http::metrics::MetricsEndpoint;
use crate::http::{self, AppState};
use crate::server;
use crate::workers::{self, Shutdown};

const EVENTS_DB: &str = "events.db";
const READ_MODEL_DB: &str = "readmodel.db";

/// The event store and read models the storage arguments name.
async fn open(storage: &StorageArgs) -> anyhow::Result<(Arc<dyn EventStore>, Arc<SqlReadModel>)> {
    std::fs::create_dir_all(&storage.data_dir)
        .with_context(|| format!("creating data folder {}", storage.data_dir.display()))?;
    let url = storage.database_url.as_deref();
    let store = open_event_store(storage).await?;
    let read_model = projections::open_read_model(url, &storage.data_dir.join(READ_MODEL_DB))
        .await
        .context("opening the read models")?;
    Ok((store, read_model))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// A fresh future per worker that completes on Ctrl-C or SIGTERM.
fn shutdown() -> Shutdown {
    Arc::new(|| Box::pin(shutdown_signal()))
}

/// The lock file that makes the embedded (SQLite) log dispatcher the only one of its data
/// folder; none on PostgreSQL, where several nodes dispatch side by side under claims.
fn dispatch_lock(storage: &StorageArgs) -> Option<std::path::PathBuf> {
    storage
        .database_url
        .is_none()
        .then(|| storage.data_dir.join("dispatch.lock"))
}

/// The attachment store the arguments name.
fn open_blobs(blobs: &BlobArgs, storage: &StorageArgs) -> anyhow::Result<Arc<BlobStore>> {
    let store = match &blobs.blob_url {
        Some(url) => BlobStore::s3(url),
        None => BlobStore::local(&storage.data_dir.join("attachments")),
    }
    .context("opening the attachment store")?;
    Ok(Arc::new(store))
}

/// `hub serve`: the API, with the projectors and dispatchers beside it unless `--api-only`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Before anything records: what happens before the recorder is installed is not counted.
    let metrics_token = cli::configured(args.metrics_token.as_deref());
    let metrics = metrics_token
        .map(|_| crate::metrics::install())
        .transpose()?;
    let (store, read_model) = open(&args.storage).await?;
    let blobs = open_blobs(&args.blobs, &args.storage)?;
    let providers = args.providers.providers()?;
    let executor = executor(&store);
    let commands = Arc::new(CommandService::new(
        executor.clone(),
        args.bootstrap_admin_token.as_deref(),
    ));
    let mut workers = Vec::new();
    if !args.api_only {
        workers.extend(workers::start_projectors(&store, &read_model, &shutdown()));
        let lock_file = dispatch_lock(&args.storage);
        workers.extend(workers::start_dispatch(
            &executor,
            blobs.clone(),
            &providers,
            &args.dispatch,
            lock_file,
            Some(read_model.clone()),
            &shutdown(),
        ));
    }
    let mut state = AppState::new(
        commands,
        read_model.clone(),
        blobs,
        args.providers.channel_report(&providers),
    )
    .with_webhooks(args.providers.webhook_secrets(), providers.whatsapp.clone());
    if let (Some(handle), Some(token)) = (metrics, metrics_token) {
        state = state
            .with_metrics(MetricsEndpoint::new(handle, token).observing(store.clone(), read_model));
    }
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    let backend = if args.storage.database_url.is_some() {
        "PostgreSQL".to_owned()
    } else {
        format!("SQLite in {}", args.storage.data_dir.display())
    };
    println!("hub listening on http://{address} ({backend})");
    println!("web pages at http://{address}/: sign in with a staff or patient token");
    if metrics_token.is_some() {
        println!("metrics at http://{address}/metrics (bearer HUB_METRICS_TOKEN)");
    }
    if args.bootstrap_admin_token.is_none() {
        println!(
            "no HUB_BOOTSTRAP_ADMIN_TOKEN is set: create the first admin with `hub admin create --name NAME` (it prints the admin's token)"
        );
    }
    tracing::info!(%address, "listening");
    let limits = server::Limits {
        max_connections: args.max_connections,
        header_timeout: Duration::from_secs(args.header_timeout_seconds.max(1)),
    };
    let router = http::router(state, args.time_zone);
    server::serve(listener, router, limits, shutdown_signal()).await?;
    for worker in workers {
        worker.abort();
    }
    Ok(())
}

/// `hub project`: only the projectors (and `/metrics` on its own address when configured).
pub async fn project(args: ProjectArgs) -> anyhow::Result<()> {
    let metrics = metrics_listener(&args.metrics)?;
    let (store, read_model) = open(&args.storage).await?;
    println!("projecting into the read models; Ctrl-C stops");
    let mut workers = workers::start_projectors(&store, &read_model, &shutdown());
    if let Some((address, endpoint)) = metrics {
        let endpoint = endpoint.observing(store.clone(), read_model.clone());
        workers.push(serve_metrics(address, endpoint).await?);
    }
    futures::future::join_all(workers).await;
    Ok(())
}

/// The address and endpoint of `/metrics` for a process that serves no API, when configured
/// (the recorder is installed then).
fn metrics_listener(
    args: &MetricsListenArgs,
) -> anyhow::Result<Option<(std::net::SocketAddr, MetricsEndpoint)>> {
    let Some(address) = args.metrics_listen else {
        return Ok(None);
    };
    let Some(token) = cli::configured(args.metrics_token.as_deref()) else {
        println!("no HUB_METRICS_TOKEN is set: no metrics are served on {address}");
        return Ok(None);
    };
    let handle = crate::metrics::install()?;
    Ok(Some((address, MetricsEndpoint::new(handle, token))))
}

/// Serves `/metrics` alone on `address` until the process is asked to stop.
async fn serve_metrics(
    address: std::net::SocketAddr,
    endpoint: MetricsEndpoint,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("listening for metrics on {address}"))?;
    println!("metrics at http://{}/metrics", listener.local_addr()?);
    let limits = server::Limits {
        max_connections: 64,
        header_timeout: Duration::from_secs(10),
    };
    let router = http::metrics_only(endpoint);
    Ok(tokio::spawn(async move {
        if let Err(error) = server::serve(listener, router, limits, shutdown_signal()).await {
            tracing::error!(%error, "the metrics listener stopped");
        }
    }))
}

/// The write path over `store`, with its caches kept current from the log.
fn executor(store: &Arc<dyn EventStore>) -> Arc<Executor> {
    let executor = Executor::new(store.clone());
    tokio::spawn(commands::follow::follow_log(executor.clone()));
    executor
}

/// `hub dispatch`: only the dispatchers (and the relay to NATS when configured).
pub async fn dispatch(args: DispatchArgs) -> anyhow::Result<()> {
    let metrics = metrics_listener(&args.metrics)?;
    std::fs::create_dir_all(&args.storage.data_dir)
        .with_context(|| format!("creating data folder {}", args.storage.data_dir.display()))?;
    let store = open_event_store(&args.storage).await?;
    let blobs = open_blobs(&args.blobs, &args.storage)?;
    let providers = args.providers.providers()?;
    let channels: Vec<_> = providers.all.iter().map(|p| p.channel().as_str()).collect();
    let via = args.dispatch.nats_url.as_deref().unwrap_or("the event log");
    println!("dispatching {channels:?} from {via}; Ctrl-C stops");
    let mut workers = workers::start_dispatch(
        &executor(&store),
        blobs,
        &providers,
        &args.dispatch,
        dispatch_lock(&args.storage),
        None,
        &shutdown(),
    );
    if workers.is_empty() {
        anyhow::bail!("no provider is configured: nothing to dispatch");
    }
    if let Some((address, endpoint)) = metrics {
        workers.push(serve_metrics(address, endpoint).await?);
    }
    futures::future::join_all(workers).await;
    Ok(())
}

/// `hub replay`: rebuild with a progress bar.
pub async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let (store, read_model) = open(&args.storage).await?;
    let until = args.until.as_deref().map(parse_limit).transpose()?;
    let bar = indicatif::ProgressBar::new(store.head_position().await?);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} events  {msg}",
    )?);
    let progress = |progress: ReplayProgress| {
        bar.set_length(progress.head);
        bar.set_position(progress.position);
        bar.set_message(format!(
            "{:.0} events/s, ETA {}s",
            progress.events_per_sec,
            progress.eta.as_secs()
        ));
    };
    let outcome = match args.projection {
        Some(projection) => {
            projections::replay_projection(store.as_ref(), &read_model, projection, progress)
                .await?
        }
        None => {
            projections::replay(
                store.as_ref(),
                &read_model,
                until,
                args.into.clone(),
                progress,
            )
            .await?
        }
    };
    bar.finish();
    match (&args.into, args.projection) {
        (Some(_), _) => println!(
            "built point-in-time read models `{}` up to position {}",
            outcome.name, outcome.position
        ),
        (None, Some(projection)) => println!(
            "rebuilt the live `{}` read models up to position {}",
            projection.name(),
            outcome.position
        ),
        (None, None) => println!(
            "rebuilt the live read models up to position {}",
            outcome.position
        ),
    }
    Ok(())
}

fn parse_limit(raw: &str) -> anyhow::Result<ReplayLimit> {
    if let Ok(position) = raw.parse::<u64>() {
        return Ok(ReplayLimit::Position(position));
    }
    let time = chrono::DateTime::parse_from_rfc3339(raw)
        .with_context(|| format!("`{raw}` is neither a position nor an RFC 3339 time"))?;
    Ok(ReplayLimit::Time(time.with_timezone(&chrono::Utc)))
}

/// `hub admin create`: registers an admin as the console's operator and prints its token.
pub async fn admin(args: AdminArgs) -> anyhow::Result<()> {
    let AdminCommand::Create { name, storage } = args.command;
    std::fs::create_dir_all(&storage.data_dir)
        .with_context(|| format!("creating data folder {}", storage.data_dir.display()))?;
    let store = open_event_store(&storage).await?;
    let commands = CommandService::new(Executor::new(store), None);
    let registered = commands
        .register_staff(
            &Principal::bootstrap_admin(),
            &RequestMeta::new(),
            name,
            Role::Admin,
            vec![Permission::SendMessages],
        )
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    println!(
        "admin {} registered at position {}",
        registered.id, registered.position
    );
    println!("token (shown once; it signs in to the API and the web pages):");
    println!("{}", registered.token);
    Ok(())
}

/// The event store the storage arguments name, with the master key that wraps patients' data
/// keys.
pub async fn open_event_store(storage: &StorageArgs) -> anyhow::Result<Arc<dyn EventStore>> {
    store::open_store(
        storage.database_url.as_deref(),
        &Path::new(&storage.data_dir).join(EVENTS_DB),
        storage.master_key.as_deref(),
    )
    .await
    .context("opening the event store")
}

/// `hub events`: the event log as JSON lines on stdout.
pub async fn events(args: EventsArgs) -> anyhow::Result<()> {
    let store = open_event_store(&args.storage).await?;
    let mut after = args.after;
    let until = args.until.unwrap_or(u64::MAX);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    loop {
        let batch = store.read_all(after, 1_000, args.stream.as_deref()).await?;
        let Some(last) = batch.last().map(|r| r.position) else {
            break;
        };
        for record in batch.iter().filter(|r| r.position <= until) {
            writeln!(out, "{}", http::event_json(record))?;
        }
        if last >= until {
            break;
        }
        after = last;
    }
    Ok(())
}
