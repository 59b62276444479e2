//! The closed loop every throughput figure uses: `clients` tasks repeat an operation until
//! the time is up; the rate is completed operations per second.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Completed and failed operations of one run, and how long it took.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Operations that succeeded.
    pub done: u64,
    /// Operations that failed.
    pub failed: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Throughput {
    /// Successful operations per second.
    pub fn per_sec(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `clients` tasks calling `op(client)` for `duration`; an `Err` counts as a failure.
pub async fn closed_loop<F, Fut, E>(clients: usize, duration: Duration, op: F) -> Throughput
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (op, done, failed) = (op.clone(), done.clone(), failed.clone());
            tokio::spawn(async move {
                let mut first_error = None;
                while Instant::now() < deadline {
                    match op(client).await {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(error) => {
                            first_error.get_or_insert_with(|| error.to_string());
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
                if let Some(error) = first_error {
                    tracing::warn!(client, %error, "benchmark operations failed");
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    Throughput {
        done: done.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    }
}
