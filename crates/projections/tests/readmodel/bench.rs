//! The test bench both suites share: an event store, read models and running projectors on
//! one backend, in a folder (and a PostgreSQL database) of its own that `finish` removes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use projections::{Projection, Projector, ReadModel, SqlReadModel};
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestRunner};
use sqlx::AnyPool;
use store::testing::TestDatabase;
use store::EventStore;

/// A store, read models and running projectors on one backend. The projectors run on read
/// models of their own, as a separate process would, so killing them drops their connections,
/// open transactions and all, like a crash.
pub struct Bench {
    pub store: Arc<dyn EventStore>,
    pub model: Arc<SqlReadModel>,
    pub projectors: Vec<tokio::task::JoinHandle<()>>,
    pub dir: tempfile::TempDir,
    pub database: Option<TestDatabase>,
}

impl Bench {
    pub async fn new(postgres: bool) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let database = if postgres {
            Some(TestDatabase::create().await.unwrap())
        } else {
            None
        };
        let url = database.as_ref().map(|d| d.url.clone());
        let store = store::open_store(url.as_deref(), &dir.path().join("events.db"), None)
            .await
            .unwrap();
        let model = projections::open_read_model(url.as_deref(), &dir.path().join("readmodel.db"))
            .await
            .unwrap();
        let mut bench = Bench {
            store,
            model,
            projectors: Vec::new(),
            dir,
            database,
        };
        bench.start_projectors().await;
        bench
    }

    pub fn url(&self) -> Option<String> {
        self.database.as_ref().map(|d| d.url.clone())
    }

    pub async fn start_projectors(&mut self) {
        let model = projections::open_read_model(
            self.url().as_deref(),
            &self.dir.path().join("readmodel.db"),
        )
        .await
        .unwrap();
        for projection in Projection::ALL {
            let projector = Projector::new(self.store.clone(), model.clone(), projection);
            self.projectors.push(tokio::spawn(async move {
                let _ = projector.run(std::future::pending()).await;
            }));
        }
    }

    pub async fn kill_projectors(&mut self) {
        for task in self.projectors.drain(..) {
            task.abort();
            let _ = task.await;
        }
    }

    /// Waits until every projection reached the log's head.
    pub async fn caught_up(&self) {
        let head = self.store.head_position().await.unwrap();
        let wait = Duration::from_secs(30);
        assert!(
            self.model.wait_for(head, wait).await.unwrap(),
            "inbox at {head}"
        );
        assert!(
            self.model.wait_for_reports(head, wait).await.unwrap(),
            "reporting at {head}"
        );
    }

    /// A pool on the read models' database, for reading the tables as a reporting job would.
    pub async fn pool(&self) -> AnyPool {
        sqlx::any::install_default_drivers();
        let url = match self.url() {
            Some(url) => url,
            None => format!(
                "sqlite://{}",
                self.dir.path().join("readmodel.db").display()
            ),
        };
        AnyPool::connect(&url).await.unwrap()
    }

    /// A reporting table's name in the live generation.
    pub async fn table(&self, pool: &AnyPool, table: &str) -> String {
        let live: String =
            sqlx::query_scalar("SELECT value FROM readmodel_meta WHERE key = 'live'")
                .fetch_one(pool)
                .await
                .unwrap();
        if self.database.is_some() {
            format!("\"{live}\".{table}")
        } else {
            format!("{live}{table}")
        }
    }

    /// A pool on the bench's PostgreSQL database.
    pub async fn postgres_pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.database.as_ref().unwrap().url)
            .await
            .unwrap()
    }

    /// A pool on one of the SQLite files in the bench's folder.
    pub async fn sqlite_file(&self, file: &str) -> sqlx::SqlitePool {
        let path = self.dir.path().join(file);
        sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap()
    }

    pub async fn finish(mut self) {
        self.kill_projectors().await;
        drop(self.model);
        drop(self.store);
        if let Some(database) = self.database.take() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = database.drop_database().await;
        }
    }
}

/// Runs `scenario` on `cases` inputs drawn from `strategy`, from inside a multi-thread tokio
/// test; a failing case panics with proptest's shrunk input.
pub fn run_cases<S, F, Fut>(cases: u32, strategy: S, scenario: F)
where
    S: Strategy,
    F: Fn(S::Value) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Default::default()
    });
    tokio::task::block_in_place(|| {
        runner
            .run(&strategy, |input| {
                runtime.block_on(scenario(input));
                Ok(())
            })
            .map_err(|e| e.to_string())
    })
    .unwrap();
}
