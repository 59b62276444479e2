//! The background workers a hub process runs beside (or instead of) the API: projectors,
//! dispatchers, and the relay to NATS JetStream.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use commands::Executor;
use dispatch::outbound::{AttachmentSource, DispatchConfig, Dispatcher};
use dispatch::retry::RetryPolicy;
use domain::attachment::AttachmentRef;
use futures::future::BoxFuture;
use futures::TryStreamExt;
use projections::{Projection, Projector, SqlReadModel};
use store::EventStore;
use tokio::task::JoinHandle;

use crate::blobs::BlobStore;
use crate::cli::DispatchTuning;
use crate::providers::Providers;

/// Attachment contents for the dispatchers, read from the blob store.
struct BlobAttachments(Arc<BlobStore>);

#[async_trait::async_trait]
impl AttachmentSource for BlobAttachments {
    async fn load(&self, attachment: &AttachmentRef) -> Result<bytes::Bytes, String> {
        let chunks: Vec<bytes::Bytes> = self
            .0
            .get(&attachment.sha256)
            .await
            .map_err(|e| format!("attachment {}: {e}", attachment.id))?
            .try_collect()
            .await
            .map_err(|e| format!("attachment {}: {e}", attachment.id))?;
        Ok(chunks.concat().into())
    }
}

/// Makes a fresh future that completes when the process is asked to stop.
pub type Shutdown = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// Starts one projector per projection.
pub fn start_projectors(
    store: &Arc<dyn EventStore>,
    read_model: &Arc<SqlReadModel>,
    shutdown: &Shutdown,
) -> Vec<JoinHandle<()>> {
    Projection::ALL
        .into_iter()
        .map(|projection| {
            let (store, read_model) = (store.clone(), read_model.clone());
            let shutdown = shutdown.clone();
            tokio::spawn(supervise(projection.name(), move || {
                Projector::new(store.clone(), read_model.clone(), projection).run(shutdown())
            }))
        })
        .collect()
}

/// How the scheduler retries a release that meets a store error or a conflict.
const SCHEDULER_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    base: Duration::from_millis(200),
    max: Duration::from_secs(5),
};

/// Starts the scheduler, which releases scheduled messages when they are due. Every node may
/// run it: the release command makes each release happen exactly once. With `read_model` it
/// starts (and restarts) from the read model's pending list instead of the log's beginning.
fn start_scheduler(
    executor: &Arc<Executor>,
    read_model: Option<Arc<SqlReadModel>>,
    shutdown: &Shutdown,
) -> JoinHandle<()> {
    let (executor, shutdown) = (executor.clone(), shutdown.clone());
    tokio::spawn(supervise("scheduler", move || {
        let (executor, read_model, shutdown) =
            (executor.clone(), read_model.clone(), shutdown.clone());
        async move {
            let start = match read_model {
                Some(model) => scheduler_start(&model).await,
                None => dispatch::scheduler::Start::default(),
            };
            dispatch::scheduler::run(executor, start, SCHEDULER_RETRY, shutdown()).await
        }
    }))
}

/// The read model's pending scheduled messages as the scheduler's start; the log's beginning
/// when they cannot be read.
async fn scheduler_start(model: &SqlReadModel) -> dispatch::scheduler::Start {
    match model.pending_releases().await {
        Ok(releases) => dispatch::scheduler::Start {
            after: releases.position,
            pending: releases.pending,
        },
        Err(error) => {
            tracing::warn!(%error, "reading the pending scheduled messages failed; the scheduler reads the log from its start");
            dispatch::scheduler::Start::default()
        }
    }
}

/// Starts the scheduler (always) and the dispatchers of the configured providers: from the event log, or with a NATS
/// URL the relay and one JetStream consumer per channel. With `lock_file` (the embedded SQLite
/// default, without NATS) the log dispatcher first takes an exclusive lock on that file, so it
/// is the only dispatcher of the log and may treat any unfinished claim it finds as abandoned;
/// a second process on the same data folder waits on standby. With `read_model` the scheduler
/// starts from its pending list.
pub fn start_dispatch(
    executor: &Arc<Executor>,
    blobs: Arc<BlobStore>,
    providers: &Providers,
    tuning: &DispatchTuning,
    lock_file: Option<PathBuf>,
    read_model: Option<Arc<SqlReadModel>>,
    shutdown: &Shutdown,
) -> Vec<JoinHandle<()>> {
    let store = executor.store();
    let lock_file = lock_file.filter(|_| tuning.nats_url.is_none());
    let lease = Duration::from_secs(tuning.dispatch_lease_seconds.max(1));
    let config = DispatchConfig {
        instance: format!("{}-{}", hostname(), uuid::Uuid::new_v4()),
        lease,
        retry: RetryPolicy {
            max_attempts: tuning.dispatch_attempts.max(1),
            base: Duration::from_millis(tuning.dispatch_backoff_ms),
            ..RetryPolicy::default()
        },
        exclusive: lock_file.is_some(),
    };
    let dispatcher = Arc::new(Dispatcher::new(
        executor.clone(),
        providers.all.clone(),
        Arc::new(BlobAttachments(blobs)),
        config,
    ));
    let mut tasks = vec![start_scheduler(executor, read_model, shutdown)];
    let Some(url) = tuning.nats_url.clone() else {
        if !providers.all.is_empty() {
            let (store, shutdown) = (store.clone(), shutdown.clone());
            tasks.push(tokio::spawn(supervise("dispatcher", move || {
                let (dispatcher, store, shutdown) =
                    (dispatcher.clone(), store.clone(), shutdown.clone());
                let lock_file = lock_file.clone();
                async move {
                    let _lock = match lock_file {
                        Some(path) => Some(exclusive_lock(path).await?),
                        None => None,
                    };
                    dispatch::from_log::run(dispatcher, store, shutdown())
                        .await
                        .map_err(anyhow::Error::from)
                }
            })));
        }
        return tasks;
    };
    {
        let (store, shutdown, url) = (store.clone(), shutdown.clone(), url.clone());
        tasks.push(tokio::spawn(supervise("NATS relay", move || {
            let (store, shutdown, url) = (store.clone(), shutdown.clone(), url.clone());
            async move {
                let names = dispatch::nats::Names::default();
                let context = dispatch::nats::connect(&url, &names).await?;
                dispatch::nats::relay(store, context, &names, shutdown()).await
            }
        })));
    }
    for channel in dispatcher.channels() {
        let (dispatcher, shutdown, url) = (dispatcher.clone(), shutdown.clone(), url.clone());
        tasks.push(tokio::spawn(supervise("NATS dispatcher", move || {
            let (dispatcher, shutdown, url) = (dispatcher.clone(), shutdown.clone(), url.clone());
            async move {
                let names = dispatch::nats::Names::default();
                let context = dispatch::nats::connect(&url, &names).await?;
                dispatch::nats::consume(dispatcher, context, &names, channel, lease, shutdown())
                    .await
            }
        })));
    }
    tasks
}

/// Runs a worker until it ends without an error (shutdown); after an error it is restarted
/// with a growing pause (1 s doubling to 30 s), so a database or NATS restart heals by itself.
async fn supervise<F, Fut, E>(name: &'static str, mut start: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut pause = Duration::from_secs(1);
    loop {
        match start().await {
            Ok(()) => return,
            Err(error) => {
                tracing::error!(worker = name, %error, ?pause, "worker stopped after an error; restarting");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Takes an exclusive lock on `path` (created if missing), waiting while another process holds
/// it; the lock lasts as long as the returned file is open.
async fn exclusive_lock(path: PathBuf) -> anyhow::Result<std::fs::File> {
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        if file.try_lock().is_err() {
            tracing::info!(path = %path.display(), "another dispatcher holds the lock; waiting on standby");
            file.lock()?;
        }
        Ok(file)
    })
    .await?
}

/// This machine's name, for naming dispatcher instances in their claims.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "hub".to_owned())
}
