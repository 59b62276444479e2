//! Serving HTTP connections with limits, so that no client (or crowd of idle ones) can take the
//! hub down: a cap on open connections, a deadline for each request's headers (also while a
//! kept-alive connection waits for its next request), and graceful shutdown.
//!
//! hyper's own setting times a request's headers once they have started (`header_read_timeout`
//! with tokio's timer). hyper has no deadline for a connection that sends nothing at all, or that
//! sits idle between kept-alive requests, so each connection here carries a small activity
//! record: the last time bytes moved, and how many requests are being answered. A connection
//! with no request in flight and no bytes for the header timeout is closed. A connection over the
//! cap is answered at once with a JSON `503 unavailable` and closed, so the open-file limit is
//! never reached and `/v1/health` keeps answering.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How long a kept-alive connection may sit idle between requests (clients' pools keep
/// connections longer than a request's header deadline; closing them sooner races their reuse).
const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(60);

/// How long in-flight requests may finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// How long a client has to send a request's headers, and a new connection its first
    /// request.
    pub header_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors or a reset before accept: wait a little, go on.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        let service = TowerToHyperService::new(tracked(app.clone(), activity.clone()));
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
        });
        let connection = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let connection = graceful.watch(connection);
        let first_request = limits.header_timeout;
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => {
                    if let Err(error) = ended {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                }
                () = activity.idle_for(first_request, KEEP_ALIVE_IDLE) => {
                    tracing::debug!("idle connection closed");
                }
            }
            drop(permit);
        });
    }
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still open after the shutdown's grace period were cut");
    }
    Ok(())
}

/// When a connection last moved bytes, and how many of its requests are being answered.
#[derive(Default)]
struct Activity {
    last_millis: AtomicU64,
    in_flight: AtomicUsize,
    served: AtomicUsize,
    started: std::sync::OnceLock<Instant>,
}

impl Activity {
    fn now_millis(&self) -> u64 {
        let started = self.started.get_or_init(Instant::now);
        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_millis.store(self.now_millis(), Ordering::Relaxed);
    }

    /// Completes once the connection has had no request in flight and no bytes for
    /// `first_request` (before its first request) or `between` (after one).
    async fn idle_for(&self, first_request: Duration, between: Duration) {
        self.touch();
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        loop {
            tokio::time::sleep(first_request / 4).await;
            let limit = if self.served.load(Ordering::Relaxed) == 0 {
                first_request
            } else {
                between
            };
            let quiet = self
                .now_millis()
                .saturating_sub(self.last_millis.load(Ordering::Relaxed));
            if self.in_flight.load(Ordering::Relaxed) == 0 && quiet >= millis(limit) {
                return;
            }
        }
    }
}

/// The connection's socket, noting when bytes move.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `app`, counting the requests in flight on the connection.
fn tracked(
    app: Router,
    activity: Arc<Activity>,
) -> impl tower::Service<
    axum::extract::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    tower::service_fn(
        move |request: axum::extract::Request<hyper::body::Incoming>| {
            let (app, activity) = (app.clone(), activity.clone());
            activity.in_flight.fetch_add(1, Ordering::Relaxed);
            activity.served.fetch_add(1, Ordering::Relaxed);
            async move {
                let answered = app.oneshot(request.map(axum::body::Body::new)).await;
                activity.in_flight.fetch_sub(1, Ordering::Relaxed);
                activity.touch();
                answered
            }
        },
    )
}

/// Answers a connection over the cap with a JSON 503 and closes it.
async fn refuse(mut stream: TcpStream) {
    let body =
        r#"{"error":{"code":"unavailable","message":"too many open connections; try again"}}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
