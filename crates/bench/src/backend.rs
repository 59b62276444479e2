//! The databases a run measures: embedded SQLite in a temporary folder, or PostgreSQL in a
//! fresh database `hub_bench_<random>` created for the run and dropped after it; or, with
//! `--keep DIR`, kept after the run in `DIR`, and measured again with `--reuse DIR`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use projections::SqlReadModel;
use sqlx::{Connection, PgConnection};
use store::EventStore;
use tempfile::TempDir;

use crate::sample::SampleData;

/// The event log's file in a data folder, as `hub serve --data-dir` names it.
pub const EVENTS_DB: &str = "events.db";
/// The read models' file in a data folder, as `hub serve --data-dir` names it.
pub const READ_MODEL_DB: &str = "readmodel.db";

/// The file of a kept backend's folder that describes its data.
const SAMPLE_FILE: &str = "sample.json";
/// The file of a kept PostgreSQL backend's folder that names its database.
const DATABASE_FILE: &str = "database";

/// What happens to a backend's data: dropped after the run, kept in a folder, or reused from
/// a folder an earlier run kept it in.
#[derive(Debug, Clone, Copy)]
pub enum Keeping<'a> {
    /// Generated for the run and dropped after it.
    Drop,
    /// Generated and kept under this folder (`--keep`).
    Keep(&'a Path),
    /// Kept under this folder by an earlier run (`--reuse`).
    Reuse(&'a Path),
}

/// What a kept backend's `sample.json` records about its data.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct KeptSample {
    /// `--messages` of the run that generated it.
    pub messages: usize,
    /// The generate phase's rate in that run, events/s.
    pub generate_events_per_sec: f64,
    /// What was generated.
    pub data: SampleData,
}

/// A PostgreSQL database on a server.
struct PgDatabase {
    server: String,
    name: String,
    url: String,
}

/// A backend's data folder: temporary, or one that outlives the run.
enum Folder {
    Temporary(TempDir),
    Kept(PathBuf),
}

/// One backend under test: its data folder (SQLite files, attachments, logs) and, for
/// PostgreSQL, the database made for the run (or kept from an earlier one).
pub struct Backend {
    dir: Folder,
    pg: Option<PgDatabase>,
    /// Whether the data outlives the run (`--keep` or `--reuse`).
    kept: bool,
    /// The data a `--reuse` folder holds.
    reused: Option<KeptSample>,
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

/// The folder of a backend named `kind` for `keeping`: a new temporary one, a new (empty) one
/// under a `--keep` folder, or the existing one under a `--reuse` folder with its sample.
fn folder(keeping: Keeping<'_>, kind: &str) -> anyhow::Result<(Folder, Option<KeptSample>)> {
    match keeping {
        Keeping::Drop => Ok((
            Folder::Temporary(tempfile::tempdir().context("creating a temporary folder")?),
            None,
        )),
        Keeping::Keep(root) => {
            let dir = root.join(kind);
            anyhow::ensure!(
                !dir.exists() || dir.read_dir()?.next().is_none(),
                "{} is not empty: --keep needs a new folder (measure it again with --reuse)",
                dir.display()
            );
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            Ok((Folder::Kept(dir), None))
        }
        Keeping::Reuse(root) => {
            let dir = root.join(kind);
            let file = dir.join(SAMPLE_FILE);
            let text = std::fs::read_to_string(&file).with_context(|| {
                format!(
                    "reading {} (kept by an earlier --keep run?)",
                    file.display()
                )
            })?;
            let sample = serde_json::from_str(&text)
                .with_context(|| format!("reading {}", file.display()))?;
            Ok((Folder::Kept(dir), Some(sample)))
        }
    }
}

impl Backend {
    /// Embedded SQLite: in a new temporary folder, or in `DIR/sqlite` when kept or reused.
    pub fn sqlite(keeping: Keeping<'_>) -> anyhow::Result<Self> {
        let (dir, reused) = folder(keeping, "sqlite")?;
        Ok(Backend {
            kept: matches!(dir, Folder::Kept(_)),
            dir,
            pg: None,
            reused,
        })
    }

    /// A fresh database on the PostgreSQL server `server` (named in `DIR/postgres/database`
    /// when kept), or the one a `--reuse` folder names; an error when it is not reachable.
    pub async fn postgres(server: &str, keeping: Keeping<'_>) -> anyhow::Result<Self> {
        let mut connection =
            tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(server))
                .await
                .context("timed out")??;
        let (dir, reused) = folder(keeping, "postgres")?;
        let name = match (&dir, &reused) {
            (Folder::Kept(dir), Some(_)) => {
                let file = dir.join(DATABASE_FILE);
                let name = std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
                    .trim()
                    .to_owned();
                anyhow::ensure!(
                    name.starts_with("hub_bench_")
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{} does not name a benchmark database",
                    file.display()
                );
                name
            }
            _ => {
                let name = format!("hub_bench_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut connection)
                    .await
                    .context("creating the benchmark database")?;
                if let Folder::Kept(dir) = &dir {
                    std::fs::write(dir.join(DATABASE_FILE), format!("{name}\n"))
                        .context("writing the kept database's name")?;
                }
                name
            }
        };
        let _ = connection.close().await;
        Ok(Backend {
            kept: matches!(dir, Folder::Kept(_)),
            dir,
            pg: Some(PgDatabase {
                url: with_database(server, &name),
                server: server.to_owned(),
                name,
            }),
            reused,
        })
    }

    /// The data a `--reuse` folder holds; `None` when the run generates its own.
    pub fn reused(&self) -> Option<&KeptSample> {
        self.reused.as_ref()
    }

    /// Records what was generated beside data that is kept (no-op for a temporary backend).
    pub fn record_sample(&self, sample: &KeptSample) -> anyhow::Result<()> {
        if let Folder::Kept(dir) = &self.dir {
            std::fs::write(dir.join(SAMPLE_FILE), serde_json::to_string(sample)?)
                .with_context(|| format!("writing {}", dir.join(SAMPLE_FILE).display()))?;
        }
        Ok(())
    }

    /// Where the data stays after the run, for the console; `None` when it is dropped.
    pub fn kept_at(&self) -> Option<String> {
        match (&self.dir, &self.pg) {
            (Folder::Kept(dir), None) => Some(format!("SQLite data folder {}", dir.display())),
            (Folder::Kept(dir), Some(pg)) => Some(format!(
                "PostgreSQL database {} (named in {}; DROP DATABASE {} when done)",
                pg.name,
                dir.join(DATABASE_FILE).display(),
                pg.name
            )),
            (Folder::Temporary(_), _) => None,
        }
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
        match &self.dir {
            Folder::Temporary(dir) => dir.path(),
            Folder::Kept(dir) => dir,
        }
    }

    /// The PostgreSQL URL of the run's database; `None` for SQLite.
    pub fn database_url(&self) -> Option<&str> {
        self.pg.as_ref().map(|pg| pg.url.as_str())
    }

    /// Opens the event store and the read models, as `hub serve` would.
    pub async fn open(&self) -> anyhow::Result<(Arc<dyn EventStore>, Arc<SqlReadModel>)> {
        let url = self.database_url();
        let store = store::open_store(url, &self.data_dir().join(EVENTS_DB), None)
            .await
            .context("opening the event store")?;
        let model = projections::open_read_model(url, &self.data_dir().join(READ_MODEL_DB))
            .await
            .context("opening the read models")?;
        Ok((store, model))
    }

    /// Drops the run's PostgreSQL database (closing what still uses it) and the folder, unless
    /// they are kept.
    pub async fn finish(self) {
        if self.kept {
            return;
        }
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
