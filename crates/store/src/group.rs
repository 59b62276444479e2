//! Group commit shared by both backends. Appends commit one at a time (that is what keeps
//! positions in commit order), so each commit's flush to disk bounds the append rate. A
//! committer task per store therefore takes every append that queued while the previous
//! commit was running and commits them together in one transaction, each still checked and
//! answered on its own: one flush for the group instead of one per append.

use std::future::Future;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::{AppendRequest, StoreError};

/// The most appends committed in one transaction.
const MAX_GROUP: usize = 64;
/// Appends waiting for the committer before callers wait to queue.
const QUEUE: usize = 1024;

/// An append waiting for the committer, and where its answer goes.
pub(crate) struct Pending<T> {
    /// The append.
    pub request: AppendRequest,
    /// Receives the append (back) and its answer once its transaction has ended.
    reply: oneshot::Sender<(AppendRequest, T)>,
}

impl<T> Pending<T> {
    /// Hands the append back to its caller with its answer.
    pub fn answer(self, answer: T) {
        // A caller that stopped waiting no longer needs the answer.
        let _ = self.reply.send((self.request, answer));
    }
}

/// The queue of a store's committer task. Cheap to clone; the task ends when every clone is gone.
pub(crate) struct Committer<T> {
    queue: mpsc::Sender<Pending<T>>,
    backend: &'static str,
}

impl<T> Clone for Committer<T> {
    fn clone(&self) -> Self {
        Committer {
            queue: self.queue.clone(),
            backend: self.backend,
        }
    }
}

impl<T: Send + 'static> Committer<T> {
    /// Starts the committer task: `commit` gets every group of queued appends in turn (at
    /// least one, at most [`MAX_GROUP`]) and must answer each of them. Each group's latency
    /// and size are reported under `backend` (`postgres` or `sqlite`).
    pub fn spawn<F, Fut>(backend: &'static str, mut commit: F) -> Self
    where
        F: FnMut(Vec<Pending<T>>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let (queue, mut receiver) = mpsc::channel::<Pending<T>>(QUEUE);
        tokio::spawn(async move {
            while let Some(first) = receiver.recv().await {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match receiver.try_recv() {
                        Ok(pending) => group.push(pending),
                        Err(_) => break,
                    }
                }
                let (size, started) = (group.len(), Instant::now());
                commit(group).await;
                crate::metrics::group_committed(backend, size, started.elapsed());
            }
        });
        Committer { queue, backend }
    }

    /// Queues an append and waits for it to come back with its answer.
    pub async fn submit(&self, request: AppendRequest) -> Result<(AppendRequest, T), StoreError> {
        let started = Instant::now();
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { request, reply })
            .await
            .map_err(|_| stopped())?;
        let answered = answer.await.map_err(|_| stopped());
        crate::metrics::append_answered(self.backend, started.elapsed());
        answered
    }
}

fn stopped() -> StoreError {
    StoreError::Database(sqlx::Error::WorkerCrashed)
}

/// The error each append of a group gets when the group's COMMIT failed: whether it took
/// effect is unknown, as for any failed commit.
pub(crate) fn commit_failed(error: &sqlx::Error) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(format!(
        "the commit of a group of appends failed: {error}"
    )))
}
