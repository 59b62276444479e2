//! The databases a run measures: embedded SQLite in a temporary folder, or PostgreSQL in a
//! fresh database `hub_bench_<random>` created for the run and dropped after it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use projections::SqlReadModel;
use sqlx::{Connection, PgConnection};
use store::EventStore;
use tempfile::TempDir;

/// The event log's file in a data folder, as `hub serve --data-dir` names it.
pub const EVENTS_DB: &str = "events.db";
/// The read models' file in a data folder, as `hub serve --data-dir` names it.
pub const READ_MODEL_DB: &str = "readmodel.db";

/// A fresh PostgreSQL database on a server.
struct PgDatabase {
    server: String,
    name: String,
    url: String,
}

/// One backend under test: its data folder (SQLite files, attachments, logs) and, for
/// PostgreSQL, the database made for the run.
pub struct Backend {
    dir: TempDir,
    pg: Option<PgDatabase>,
}

/// `server` (a URL naming any database) with its database replaced by `name`.
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server, String::new()),
    };
    let host = match base.rsplit_once('/') {
        Some((host, _)) if host.contains("//") && !host.ends_with('/') => host,
        _ => base.trim_end_matches('/'),
    };
    format!("{host}/{name}{query}")
}

impl Backend {
    /// Embedded SQLite in a new temporary folder.
    pub fn sqlite() -> anyhow::Result<Self> {
        Ok(Backend {
            dir: tempfile::tempdir().context("creating a temporary folder")?,
            pg: None,
        })
    }

    /// A fresh database on the PostgreSQL server `server`; an error when it is not reachable.
    pub async fn postgres(server: &str) -> anyhow::Result<Self> {
        let mut connection =
            tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(server))
                .await
                .context("timed out")??;
        let name = format!("hub_bench_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await
            .context("creating the benchmark database")?;
        let _ = connection.close().await;
        Ok(Backend {
            dir: tempfile::tempdir().context("creating a temporary folder")?,
            pg: Some(PgDatabase {
                url: with_database(server, &name),
                server: server.to_owned(),
                name,
            }),
        })
    }

    /// Its name in reports.
    pub fn name(&self) -> &'static str {
        if self.pg.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }

    /// The data folder (`--data-dir` of the hub under test).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The PostgreSQL URL of the run's database; `None` for SQLite.
    pub fn database_url(&self) -> Option<&str> {
        self.pg.as_ref().map(|pg| pg.url.as_str())
    }

    /// Opens the event store and the read models, as `hub serve` would.
    pub async fn open(&self) -> anyhow::Result<(Arc<dyn EventStore>, Arc<SqlReadModel>)> {
        let url = self.database_url();
        let store = store::open_store(url, &self.dir.path().join(EVENTS_DB))
            .await
            .context("opening the event store")?;
        let model = projections::open_read_model(url, &self.dir.path().join(READ_MODEL_DB))
            .await
            .context("opening the read models")?;
        Ok((store, model))
    }

    /// Drops the run's PostgreSQL database (closing what still uses it) and the folder.
    pub async fn finish(self) {
        if let Some(pg) = self.pg {
            let dropped = async {
                let mut connection = PgConnection::connect(&pg.server).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg.name))
                    .execute(&mut connection)
                    .await
            }
            .await;
            if let Err(error) = dropped {
                eprintln!("could not drop database {}: {error}", pg.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_of_a_server_url() {
        assert_eq!(
            with_database("postgres://root@127.0.0.1:5432/postgres", "x"),
            "postgres://root@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
