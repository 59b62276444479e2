//! What each subcommand runs.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use projections::{Projection, Projector, ReplayLimit, SqlReadModel};
use store::EventStore;
use tokio::net::TcpListener;

use crate::blobs::BlobStore;
use crate::cli::{EventsArgs, ReplayArgs, ServeArgs, StorageArgs};
use crate::commands::CommandService;
use crate::http::{self, AppState, ChannelReport};

const EVENTS_DB: &str = "events.db";
const READ_MODEL_DB: &str = "readmodel.db";

/// The event store and read models the storage arguments name.
async fn open(storage: &StorageArgs) -> anyhow::Result<(Arc<dyn EventStore>, Arc<SqlReadModel>)> {
    std::fs::create_dir_all(&storage.data_dir)
        .with_context(|| format!("creating data folder {}", storage.data_dir.display()))?;
    let url = storage.database_url.as_deref();
    let store = store::open_store(url, &storage.data_dir.join(EVENTS_DB))
        .await
        .context("opening the event store")?;
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

/// `hub serve`: the API with the projector beside it.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (store, read_model) = open(&args.storage).await?;
    let blobs = match &args.blob_url {
        Some(url) => BlobStore::s3(url),
        None => BlobStore::local(&args.storage.data_dir.join("attachments")),
    }
    .context("opening the attachment store")?;
    let commands = Arc::new(CommandService::new(
        store.clone(),
        args.bootstrap_admin_token.as_deref(),
    ));
    let projectors: Vec<_> = Projection::ALL
        .into_iter()
        .map(|projection| {
            let projector = Projector::new(store.clone(), read_model.clone(), projection);
            tokio::spawn(projector.run(shutdown_signal()))
        })
        .collect();
    let state = AppState::new(
        commands,
        read_model,
        Arc::new(blobs),
        ChannelReport::unconfigured(),
    );
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
    tracing::info!(%address, "listening");
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    for projector in projectors {
        projector.abort();
    }
    Ok(())
}

/// `hub project`: only the projector.
pub async fn project(storage: StorageArgs) -> anyhow::Result<()> {
    let (store, read_model) = open(&storage).await?;
    println!("projecting into the read models; Ctrl-C stops");
    let runs = Projection::ALL.into_iter().map(|projection| {
        Projector::new(store.clone(), read_model.clone(), projection).run(shutdown_signal())
    });
    for result in futures::future::join_all(runs).await {
        result?;
    }
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
    let outcome = projections::replay(
        store.as_ref(),
        &read_model,
        until,
        args.into.clone(),
        |progress| {
            bar.set_length(progress.head);
            bar.set_position(progress.position);
            bar.set_message(format!(
                "{:.0} events/s, ETA {}s",
                progress.events_per_sec,
                progress.eta.as_secs()
            ));
        },
    )
    .await?;
    bar.finish();
    match &args.into {
        Some(_) => println!(
            "built point-in-time read models `{}` up to position {}",
            outcome.name, outcome.position
        ),
        None => println!(
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

/// `hub events`: the event log as JSON lines on stdout.
pub async fn events(args: EventsArgs) -> anyhow::Result<()> {
    let store = store::open_store(
        args.storage.database_url.as_deref(),
        &Path::new(&args.storage.data_dir).join(EVENTS_DB),
    )
    .await?;
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
