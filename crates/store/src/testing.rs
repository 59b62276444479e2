//! Test support: a fresh PostgreSQL database per test on the local server.

use sqlx::postgres::PgConnection;
use sqlx::Connection;
use uuid::Uuid;

use crate::StoreError;

/// The server tests use unless `HUB_TEST_PG_URL` names another (a URL of its maintenance database).
pub const DEFAULT_SERVER: &str = "postgres://root@127.0.0.1:5432/postgres";
/// Every test database's name starts with this, so stale ones can be found and dropped.
pub const NAME_PREFIX: &str = "hub_test_";

/// A fresh, uniquely named database, dropped when this value is dropped (a test that fails
/// drops it too, as its values unwind).
pub struct TestDatabase {
    /// Its connection URL.
    pub url: String,
    name: String,
    server: String,
    dropped: bool,
}

impl TestDatabase {
    /// Creates a fresh database on the test server.
    pub async fn create() -> Result<Self, StoreError> {
        let server = std::env::var("HUB_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_SERVER.to_owned());
        let name = format!("{NAME_PREFIX}{}", Uuid::new_v4().simple());
        let mut connection = PgConnection::connect(&server).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await?;
        let base = server
            .rsplit_once('/')
            .map_or(server.as_str(), |(base, _)| base);
        Ok(TestDatabase {
            url: format!("{base}/{name}"),
            name,
            server,
            dropped: false,
        })
    }

    /// Drops the database now, closing any connections still open to it.
    pub async fn drop_database(mut self) -> Result<(), StoreError> {
        drop_named(&self.server, &self.name).await?;
        self.dropped = true;
        Ok(())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Drop runs inside the test's runtime, which cannot be blocked on: the database is
        // dropped from a thread with a runtime of its own, and this waits for it.
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropping = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime
                .block_on(drop_named(&server, &name))
                .map_err(|error| error.to_string())
        });
        if let Ok(Err(error)) = dropping.join() {
            eprintln!("test database {} was not dropped: {error}", self.name);
        }
    }
}

/// `DROP DATABASE … WITH (FORCE)` on the test server.
async fn drop_named(server: &str, name: &str) -> Result<(), StoreError> {
    let mut connection = PgConnection::connect(server).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut connection)
        .await?;
    Ok(())
}
