//! Test support: a fresh PostgreSQL database per test on the local server.

use sqlx::postgres::PgConnection;
use sqlx::Connection;
use uuid::Uuid;

use crate::StoreError;

/// The server tests use unless `HUB_TEST_PG_URL` names another (a URL of its maintenance database).
pub const DEFAULT_SERVER: &str = "postgres://root@127.0.0.1:5432/postgres";
/// Every test database's name starts with this, so stale ones can be found and dropped.
pub const NAME_PREFIX: &str = "hub_test_";

/// A fresh, uniquely named database.
pub struct TestDatabase {
    /// Its connection URL.
    pub url: String,
    name: String,
    server: String,
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
        })
    }

    /// Drops the database, closing any connections still open to it.
    pub async fn drop_database(self) -> Result<(), StoreError> {
        let mut connection = PgConnection::connect(&self.server).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut connection)
        .await?;
        Ok(())
    }
}
