//! The read models on a database: opening, the live generation, and the queries.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::status::ConversationStatus;
use domain::{
    Actor, AttachmentId, Channel, ConversationId, MessageId, PatientId, Role, TemplateId,
    UnmatchedId,
};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use tokio::sync::watch;

use crate::query::{
    after_cursor, conversation_rows, message_row, push_entry_visible, push_search, push_starred,
    push_visible, select_messages, where_visible, TextSearch, CONVERSATION_COLUMNS,
};
use crate::sql::{Dialect, Sql, Tables};
use crate::views::cursor;
use crate::{
    ContactAddress, ConversationFilter, ConversationView, MessageFilter, MessageView, Page,
    PageRequest, PatientMatch, Projection, QueryError, ReadModel, ReportSummary, ScheduledFilter,
    ScheduledView, StaffEntry, TemplateView, UnmatchedView,
};

/// The version of the read-model DDL (`projections/*.sql`). A database whose live generation
/// was made by another version gets a fresh generation, which the projectors fill from position 0.
const DDL_VERSION: &str = "9";

/// How often this process re-reads the checkpoints from the database while someone waits and
/// no in-process signal wakes them (a projector in another process, or on another node).
const WAIT_POLL: Duration = Duration::from_millis(10);

/// How long a query trusts the live generation it last read. Every query used to read it
/// first (a third of the statements a busy hub ran); now each process reads it at most once a
/// second. A replay in another process swaps generations and keeps the old one for
/// [`OLD_GENERATION_GRACE`] before dropping it, so a query on the old one still succeeds.
const LIVE_TTL: Duration = Duration::from_secs(1);

/// How long replay keeps the generation it replaced: more than every process's [`LIVE_TTL`].
pub(crate) const OLD_GENERATION_GRACE: Duration = Duration::from_secs(3);

/// Read models in one database (PostgreSQL or a SQLite file).
pub struct SqlReadModel {
    pool: AnyPool,
    dialect: Dialect,
    sqlite_path: Option<PathBuf>,
    /// What the projectors applied, as far as this process knows, one per projection in
    /// [`Projection::ALL`] order. Raised by in-process projectors at once, and from the
    /// database's checkpoints by [`SqlReadModel::refresh_applied`].
    applied: [watch::Sender<u64>; 3],
    /// When the checkpoints were last read for waiters: one read per [`WAIT_POLL`] for the
    /// whole process, however many requests wait.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
    /// The live generation as last read, and when: see [`LIVE_TTL`].
    live: std::sync::RwLock<Option<(Tables, Instant)>>,
}

/// Opens the read models: PostgreSQL for a `postgres://` URL, else the SQLite file at `sqlite_path`.
pub async fn open_read_model(
    database_url: Option<&str>,
    sqlite_path: &Path,
) -> Result<Arc<SqlReadModel>, QueryError> {
    let model = match database_url {
        Some(url) => SqlReadModel::connect(url, Dialect::Postgres, None).await?,
        None => {
            SqlReadModel::connect(
                &sqlite_url(sqlite_path),
                Dialect::Sqlite,
                Some(sqlite_path.to_path_buf()),
            )
            .await?
        }
    };
    model.ensure_live().await?;
    Ok(Arc::new(model))
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

impl SqlReadModel {
    async fn connect(
        url: &str,
        dialect: Dialect,
        sqlite_path: Option<PathBuf>,
    ) -> Result<Self, QueryError> {
        sqlx::any::install_default_drivers();
        let mut options = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5));
        if dialect == Dialect::Postgres {
            // Inbox filters vary in selectivity per value: plan each query for its own values
            // rather than reuse a generic plan of the prepared statement.
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET plan_cache_mode = force_custom_plan")
                        .await
                        .map(drop)
                })
            });
        }
        if dialect == Dialect::Sqlite {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    // `secure_delete`: what is deleted (an erased patient's rows) is overwritten
                    // in the file, not left in free pages.
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA secure_delete = ON;")
                        .await
                        .map(drop)
                })
            });
        }
        let pool = options.connect(url).await?;
        Ok(SqlReadModel {
            pool,
            dialect,
            sqlite_path,
            applied: [
                watch::Sender::new(0),
                watch::Sender::new(0),
                watch::Sender::new(0),
            ],
            last_refresh: tokio::sync::Mutex::new(None),
            live: std::sync::RwLock::new(None),
        })
    }

    /// The connection pool.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The dialect of the database.
    pub(crate) fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Where a SQLite point-in-time copy named `name` lives.
    pub(crate) fn sqlite_copy_path(&self, name: &str) -> Option<PathBuf> {
        self.sqlite_path
            .as_ref()
            .map(|p| p.with_file_name(format!("{name}.db")))
    }

    /// Opens a separate SQLite file (point-in-time copies), without a live generation.
    pub(crate) async fn open_sqlite_copy(path: &Path) -> Result<Self, QueryError> {
        Self::connect(&sqlite_url(path), Dialect::Sqlite, Some(path.to_path_buf())).await
    }

    /// Raises what this process knows was applied to the database's checkpoints, unless that
    /// was done less than [`WAIT_POLL`] ago: concurrent waiters share one read.
    async fn refresh_applied(&self) -> Result<(), QueryError> {
        let mut last = self.last_refresh.lock().await;
        if last.is_some_and(|at| at.elapsed() < WAIT_POLL) {
            return Ok(());
        }
        for projection in Projection::ALL {
            let position = self.projection_checkpoint(projection).await?;
            self.signal_applied(projection, position);
        }
        *last = Some(Instant::now());
        Ok(())
    }

    /// Tells in-process waiters that `projection` applied `position`.
    pub(crate) fn signal_applied(&self, projection: Projection, position: u64) {
        self.applied_of(projection).send_if_modified(|current| {
            let moved = position > *current;
            *current = (*current).max(position);
            moved
        });
    }

    /// What this process knows `projection` applied.
    fn applied_of(&self, projection: Projection) -> &watch::Sender<u64> {
        match projection {
            Projection::Inbox => &self.applied[0],
            Projection::PatientDirectory => &self.applied[1],
            Projection::Reporting => &self.applied[2],
        }
    }

    /// Waits until every one of `projections` applied `position`; `false` after `timeout`.
    async fn wait_until(
        &self,
        projections: &[Projection],
        position: u64,
        timeout: Duration,
    ) -> Result<bool, QueryError> {
        let started = Instant::now();
        let mut applied: Vec<watch::Receiver<u64>> = projections
            .iter()
            .map(|p| self.applied_of(*p).subscribe())
            .collect();
        let done = |applied: &mut Vec<watch::Receiver<u64>>| {
            applied
                .iter_mut()
                .all(|a| *a.borrow_and_update() >= position)
        };
        loop {
            if done(&mut applied) {
                return Ok(true);
            }
            self.refresh_applied().await?;
            if done(&mut applied) {
                return Ok(true);
            }
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Ok(false);
            }
            let changed =
                futures::future::select_all(applied.iter_mut().map(|a| Box::pin(a.changed())));
            let _ = tokio::time::timeout(WAIT_POLL.min(left), changed).await;
        }
    }

    /// The namespace generation `n` would use.
    pub(crate) fn generation(&self, n: u64) -> Tables {
        match self.dialect {
            Dialect::Postgres => Tables::new(self.dialect, &format!("inbox_{n}")),
            Dialect::Sqlite => Tables::new(self.dialect, &format!("inbox_{n}_")),
        }
    }

    /// The generation number of a namespace made by [`Self::generation`].
    pub(crate) fn generation_number(tables: &Tables) -> u64 {
        tables
            .namespace()
            .trim_start_matches("inbox_")
            .trim_end_matches('_')
            .parse()
            .unwrap_or(0)
    }

    /// Creates the meta table and the first generation when the database has none.
    async fn ensure_live(&self) -> Result<(), QueryError> {
        let mut tx = self.pool.begin().await?;
        tx.execute(
            "CREATE TABLE IF NOT EXISTS readmodel_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        .await?;
        if self.dialect == Dialect::Postgres {
            tx.execute("LOCK TABLE readmodel_meta IN EXCLUSIVE MODE")
                .await?;
        }
        let live: Option<String> =
            sqlx::query_scalar("SELECT value FROM readmodel_meta WHERE key = 'live'")
                .fetch_optional(&mut *tx)
                .await?;
        let ddl_version: Option<String> =
            sqlx::query_scalar("SELECT value FROM readmodel_meta WHERE key = 'ddl_version'")
                .fetch_optional(&mut *tx)
                .await?;
        let stale = match &live {
            None => Some(1),
            Some(_) if ddl_version.as_deref() == Some(DDL_VERSION) => None,
            Some(namespace) => {
                let current = Self::generation_number(&Tables::new(self.dialect, namespace));
                Some(current + 1)
            }
        };
        if let Some(generation) = stale {
            let tables = self.generation(generation);
            for statement in tables.drop_statements() {
                tx.execute(statement.as_str()).await?;
            }
            create_tables(&mut tx, &tables).await?;
            set_meta(&mut tx, self.dialect, "live", tables.namespace()).await?;
            set_meta(&mut tx, self.dialect, "ddl_version", DDL_VERSION).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The live generation's tables for a query: as read at most [`LIVE_TTL`] ago.
    pub(crate) async fn live(&self) -> Result<Tables, QueryError> {
        let cached = self
            .live
            .read()
            .ok()
            .and_then(|live| live.clone())
            .filter(|(_, read_at)| read_at.elapsed() < LIVE_TTL);
        match cached {
            Some((tables, _)) => Ok(tables),
            None => self.read_live().await,
        }
    }

    /// The live generation's tables as the database names them now (for the projector and
    /// replay, which must never work on a replaced generation); queries then use it too.
    pub(crate) async fn read_live(&self) -> Result<Tables, QueryError> {
        let live: String =
            sqlx::query_scalar("SELECT value FROM readmodel_meta WHERE key = 'live'")
                .fetch_one(&self.pool)
                .await?;
        let tables = Tables::new(self.dialect, &live);
        if let Ok(mut cached) = self.live.write() {
            *cached = Some((tables.clone(), Instant::now()));
        }
        Ok(tables)
    }

    /// A projection's checkpoint in a generation.
    pub(crate) async fn checkpoint_of(
        &self,
        tables: &Tables,
        projection: Projection,
    ) -> Result<u64, QueryError> {
        let mut sql = Sql::new(
            self.dialect,
            format!(
                "SELECT position FROM {} WHERE projection = ",
                tables.name("checkpoint")
            ),
        );
        sql.text(projection.name());
        let position: i64 = sql.query().fetch_one(&self.pool).await?.try_get(0)?;
        Ok(u64::try_from(position).unwrap_or_default())
    }

    /// The pending scheduled messages and the position they reflect (see
    /// [`crate::PendingReleases`]).
    pub async fn pending_releases(&self) -> Result<crate::PendingReleases, QueryError> {
        let tables = self.live().await?;
        crate::scheduled::pending_releases(&self.pool, &tables).await
    }

    /// The live checkpoint of `projection`.
    pub async fn projection_checkpoint(&self, projection: Projection) -> Result<u64, QueryError> {
        let tables = self.live().await?;
        self.checkpoint_of(&tables, projection).await
    }

    /// A read transaction for a page with a full-text search on SQLite (see [`TextSearch`]);
    /// `None` otherwise, and the page reads from the pool.
    async fn search_transaction(
        &self,
        q: Option<&str>,
    ) -> Result<Option<sqlx::Transaction<'static, sqlx::Any>>, QueryError> {
        if q.is_some() && self.dialect == Dialect::Sqlite {
            Ok(Some(self.pool.begin().await?))
        } else {
            Ok(None)
        }
    }

    /// Runs a page's statement in `tx` (then ends it) or on the pool.
    async fn fetch_page(
        &self,
        tx: Option<sqlx::Transaction<'static, sqlx::Any>>,
        sql: &Sql,
    ) -> Result<Vec<AnyRow>, QueryError> {
        match tx {
            Some(mut tx) => {
                let rows = sql.query().fetch_all(&mut *tx).await?;
                tx.commit().await?;
                Ok(rows)
            }
            None => Ok(sql.query().fetch_all(&self.pool).await?),
        }
    }

    async fn conversation_page(
        &self,
        viewer: &Actor,
        tables: &Tables,
        filter: &ConversationFilter,
        after: Option<u64>,
        limit: Option<u32>,
        only: Option<ConversationId>,
    ) -> Result<Vec<ConversationView>, QueryError> {
        let mut tx = self.search_transaction(filter.q.as_deref()).await?;
        let search = match &filter.q {
            Some(q) => Some(TextSearch::prepare(tx.as_deref_mut(), tables, q).await?),
            None => None,
        };
        let mut sql = Sql::new(
            self.dialect,
            format!(
                "SELECT {CONVERSATION_COLUMNS} FROM {} c WHERE ",
                tables.name("conversations")
            ),
        );
        push_visible(&mut sql, tables, viewer);
        if let Some(id) = only {
            sql.push(" AND c.id = ").text(id.to_string());
        }
        if let Some(patient) = filter.patient_id {
            sql.push(" AND c.patient_id = ").text(patient.to_string());
        }
        if let Some(status) = filter.status {
            sql.push(" AND c.status = ").text(status.as_str());
        }
        if let Some(awaiting) = filter.awaiting {
            sql.push(" AND c.awaiting = ").text(awaiting.as_str());
        }
        if filter.channel.is_some()
            || filter.direction.is_some()
            || filter.starred.is_some()
            || search.is_some()
        {
            let messages = tables.name("messages");
            let starred = filter.starred;
            if search.as_ref().is_some_and(|s| !s.probes()) {
                // Full-text search with its matches read first: a semi-join evaluated once
                // beats a probe per conversation.
                sql.push(&format!(
                    " AND c.id IN (SELECT m.conversation_id FROM {messages} m WHERE 1 = 1"
                ));
            } else if starred == Some(true) && self.dialect == Dialect::Sqlite {
                // Starred on SQLite: from the viewer's stars in the conversation (a few rows of
                // an index) to their messages, instead of from every message to its stars.
                // PostgreSQL turns this form into a hash join over all the viewer's stars, so
                // there it keeps the per-message probe.
                sql.push(&format!(
                    " AND EXISTS (SELECT 1 FROM {} s JOIN {messages} m ON m.id = s.message_id WHERE s.staff_id = ",
                    tables.name("stars")
                ))
                .text(viewer.id.to_string())
                .push(" AND s.conversation_id = c.id AND m.conversation_id = c.id");
            } else {
                sql.push(&format!(
                    " AND EXISTS (SELECT 1 FROM {messages} m WHERE m.conversation_id = c.id"
                ));
            }
            let from_stars = self.dialect == Dialect::Sqlite
                && starred == Some(true)
                && search.as_ref().is_none_or(|s| s.probes());
            let starred = starred.filter(|_| !from_stars);
            push_message_filters(
                &mut sql,
                tables,
                viewer,
                filter.channel,
                filter.direction,
                starred,
                search.as_ref(),
            );
            push_entry_visible(&mut sql, viewer);
            sql.push(")");
        }
        if let Some(after) = after {
            sql.push(" AND c.last_position < ").int(signed(after));
        }
        sql.push(" ORDER BY c.last_position DESC");
        if let Some(limit) = limit {
            sql.push(" LIMIT ").int(i64::from(limit) + 1);
        }
        let rows = self.fetch_page(tx.take(), &sql).await?;
        conversation_rows(&self.pool, tables, viewer, &rows).await
    }
}

/// Sets one `readmodel_meta` entry.
async fn set_meta(
    conn: &mut sqlx::AnyConnection,
    dialect: Dialect,
    key: &str,
    value: &str,
) -> Result<(), QueryError> {
    let mut sql = Sql::new(dialect, "DELETE FROM readmodel_meta WHERE key = ");
    sql.text(key);
    sql.query().execute(&mut *conn).await?;
    let mut sql = Sql::new(dialect, "INSERT INTO readmodel_meta (key, value) VALUES (");
    sql.text(key).push(", ").text(value).push(")");
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// Reads a UUID-typed id from the first column of `row`.
fn parse_id<T: std::str::FromStr>(row: &sqlx::any::AnyRow, what: &str) -> Result<T, QueryError>
where
    T::Err: std::fmt::Display,
{
    let text: String = row.try_get(0)?;
    text.parse()
        .map_err(|e| QueryError::Corrupt(format!("{what}: {e}")))
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Creates a generation's tables inside a transaction or on a connection.
async fn create_tables(conn: &mut sqlx::AnyConnection, tables: &Tables) -> Result<(), QueryError> {
    for statement in tables.ddl().all() {
        conn.execute(statement.as_str()).await?;
    }
    Ok(())
}

/// Appends the message-level filters on message `m`.
fn push_message_filters(
    sql: &mut Sql,
    tables: &Tables,
    viewer: &Actor,
    channel: Option<domain::Channel>,
    direction: Option<domain::Direction>,
    starred: Option<bool>,
    search: Option<&TextSearch>,
) {
    if let Some(channel) = channel {
        sql.push(" AND m.channel = ").text(channel.as_str());
    }
    if let Some(direction) = direction {
        sql.push(" AND m.direction = ").text(direction.as_str());
    }
    if let Some(starred) = starred {
        push_starred(sql, tables, viewer, starred);
    }
    if let Some(search) = search {
        push_search(sql, tables, search);
    }
}

/// Splits a fetched `limit + 1` rows into a page and its next cursor.
fn page<T>(mut items: Vec<T>, limit: u32, kind: &str, key: impl Fn(&T) -> u64) -> Page<T> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if more {
        items.last().map(|last| cursor::encode(kind, key(last)))
    } else {
        None
    };
    Page { items, next_cursor }
}

#[async_trait::async_trait]
impl ReadModel for SqlReadModel {
    async fn list_conversations(
        &self,
        viewer: &Actor,
        filter: &ConversationFilter,
        request: &PageRequest,
    ) -> Result<Page<ConversationView>, QueryError> {
        let after = after_cursor("c", request.cursor.as_deref())?;
        let tables = self.live().await?;
        let items = self
            .conversation_page(viewer, &tables, filter, after, Some(request.limit), None)
            .await?;
        Ok(page(items, request.limit, "c", |c| c.position))
    }

    async fn conversation(
        &self,
        viewer: &Actor,
        id: ConversationId,
    ) -> Result<Option<ConversationView>, QueryError> {
        let tables = self.live().await?;
        let items = self
            .conversation_page(
                viewer,
                &tables,
                &ConversationFilter::default(),
                None,
                None,
                Some(id),
            )
            .await?;
        Ok(items.into_iter().next())
    }

    async fn timeline(
        &self,
        viewer: &Actor,
        id: ConversationId,
        request: &PageRequest,
    ) -> Result<Option<Page<MessageView>>, QueryError> {
        let after = after_cursor("t", request.cursor.as_deref())?;
        let tables = self.live().await?;
        let mut sql = Sql::new(self.dialect, "");
        select_messages(&mut sql, &tables, viewer);
        where_visible(&mut sql, &tables, viewer, |sql| {
            sql.push(" AND c.id = ").text(id.to_string());
        });
        sql.push(" AND m.conversation_id = ").text(id.to_string());
        if let Some(after) = after {
            sql.push(" AND m.position > ").int(signed(after));
        }
        sql.push(" ORDER BY m.position ASC LIMIT ")
            .int(i64::from(request.limit) + 1);
        let rows = sql.query().fetch_all(&self.pool).await?;
        if rows.is_empty() && self.conversation(viewer, id).await?.is_none() {
            return Ok(None);
        }
        let items = rows
            .iter()
            .map(message_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(page(items, request.limit, "t", |m| m.position)))
    }

    async fn search_messages(
        &self,
        viewer: &Actor,
        filter: &MessageFilter,
        request: &PageRequest,
    ) -> Result<Page<MessageView>, QueryError> {
        let after = after_cursor("m", request.cursor.as_deref())?;
        let tables = self.live().await?;
        let mut tx = self.search_transaction(filter.q.as_deref()).await?;
        let search = match &filter.q {
            Some(q) => Some(TextSearch::prepare(tx.as_deref_mut(), &tables, q).await?),
            None => None,
        };
        let mut sql = Sql::new(self.dialect, "");
        select_messages(&mut sql, &tables, viewer);
        where_visible(&mut sql, &tables, viewer, |sql| {
            if filter.status == Some(ConversationStatus::Archived) {
                sql.push(" AND c.archived = 1");
            }
        });
        if let Some(conversation) = filter.conversation_id {
            sql.push(" AND m.conversation_id = ")
                .text(conversation.to_string());
        }
        if let Some(patient) = filter.patient_id {
            sql.push(" AND m.patient_id = ").text(patient.to_string());
        }
        if let Some(status) = filter.status.filter(|s| *s != ConversationStatus::Archived) {
            sql.push(" AND m.status = ").text(status.as_str());
        }
        push_message_filters(
            &mut sql,
            &tables,
            viewer,
            filter.channel,
            filter.direction,
            filter.starred,
            search.as_ref(),
        );
        if let Some(after) = after {
            sql.push(" AND m.position < ").int(signed(after));
        }
        sql.push(" ORDER BY m.position DESC LIMIT ")
            .int(i64::from(request.limit) + 1);
        let rows = self.fetch_page(tx, &sql).await?;
        let items = rows
            .iter()
            .map(message_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page(items, request.limit, "m", |m| m.position))
    }

    async fn message(
        &self,
        viewer: &Actor,
        id: MessageId,
    ) -> Result<Option<MessageView>, QueryError> {
        let tables = self.live().await?;
        let mut sql = Sql::new(self.dialect, "");
        select_messages(&mut sql, &tables, viewer);
        where_visible(&mut sql, &tables, viewer, |_| {});
        sql.push(" AND m.id = ").text(id.to_string());
        let row = sql.query().fetch_optional(&self.pool).await?;
        row.as_ref().map(message_row).transpose()
    }

    async fn message_conversation(
        &self,
        id: MessageId,
    ) -> Result<Option<ConversationId>, QueryError> {
        let tables = self.live().await?;
        let mut sql = Sql::new(
            self.dialect,
            format!(
                "SELECT conversation_id FROM {} WHERE id = ",
                tables.name("messages")
            ),
        );
        sql.text(id.to_string());
        let row = sql.query().fetch_optional(&self.pool).await?;
        row.map(|r| {
            let text: String = r.try_get(0)?;
            text.parse()
                .map_err(|e| QueryError::Corrupt(format!("conversation_id: {e}")))
        })
        .transpose()
    }

    async fn attachment_visible(
        &self,
        viewer: &Actor,
        id: AttachmentId,
    ) -> Result<bool, QueryError> {
        let tables = self.live().await?;
        let mut sql = Sql::new(
            self.dialect,
            format!(
                "SELECT 1 FROM {} a JOIN {} c ON c.id = a.conversation_id WHERE a.attachment_id = ",
                tables.name("message_attachments"),
                tables.name("conversations")
            ),
        );
        sql.text(id.to_string()).push(" AND ");
        push_visible(&mut sql, &tables, viewer);
        sql.push(" LIMIT 1");
        Ok(sql.query().fetch_optional(&self.pool).await?.is_some())
    }

    async fn attachment_erased(&self, id: AttachmentId) -> Result<bool, QueryError> {
        let tables = self.live().await?;
        let mut sql = Sql::new(
            self.dialect,
            format!(
                "SELECT 1 FROM {} a JOIN {} m ON m.id = a.message_id WHERE m.erased = 1 AND a.attachment_id = ",
                tables.name("message_attachments"),
                tables.name("messages")
            ),
        );
        sql.text(id.to_string()).push(" LIMIT 1");
        Ok(sql.query().fetch_optional(&self.pool).await?.is_some())
    }

    async fn file_used_beyond(&self, sha256: &str, patient: PatientId) -> Result<bool, QueryError> {
        // The attachments columns are JSON text carrying each file's hex `sha256`; a 64-digit
        // hex string found anywhere in them is that file (erring, if ever, on keeping a file).
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        let tables = self.live().await?;
        let pattern = format!("%{sha256}%");
        for (table, patient_column) in [
            ("messages", "patient_id"),
            ("scheduled", "patient_id"),
            ("unmatched", "assigned_patient_id"),
        ] {
            let mut sql = Sql::new(
                self.dialect,
                format!(
                    "SELECT 1 FROM {} WHERE ({patient_column} IS NULL OR {patient_column} <> ",
                    tables.name(table)
                ),
            );
            sql.text(patient.to_string())
                .push(") AND attachments LIKE ")
                .text(pattern.clone())
                .push(" LIMIT 1");
            if sql.query().fetch_optional(&self.pool).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn patients_with_contact(
        &self,
        address: &ContactAddress,
    ) -> Result<Vec<PatientId>, QueryError> {
        let tables = self.live().await?;
        let (kind, address) = crate::directory::contact_key(address);
        let mut sql = Sql::new(
            self.dialect,
            format!(
                "SELECT patient_id FROM {} WHERE kind = ",
                tables.name("patient_contacts")
            ),
        );
        sql.text(kind)
            .push(" AND address = ")
            .text(address)
            .push(" ORDER BY patient_id LIMIT 20");
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| parse_id::<PatientId>(row, "patient_id"))
            .collect()
    }

    async fn inbound_conversation(
        &self,
        patient: PatientId,
        channel: Option<Channel>,
    ) -> Result<Option<ConversationId>, QueryError> {
        let tables = self.live().await?;
        let (m, c) = (tables.name("messages"), tables.name("conversations"));
        if let Some(channel) = channel {
            let mut sql = Sql::new(
                self.dialect,
                format!("SELECT m.conversation_id, c.archived FROM {m} m JOIN {c} c ON c.id = m.conversation_id WHERE m.patient_id = "),
            );
            sql.text(patient.to_string())
                .push(" AND m.channel = ")
                .text(channel.as_str())
                .push(" ORDER BY m.position DESC LIMIT 1");
            if let Some(row) = sql.query().fetch_optional(&self.pool).await? {
                let archived: i64 = row.try_get(1)?;
                if archived == 0 {
                    return Ok(Some(parse_id(&row, "conversation_id")?));
                }
            }
        }
        let mut sql = Sql::new(
            self.dialect,
            format!("SELECT c.id FROM {c} c WHERE c.archived = 0 AND c.counterpart = 'reception' AND c.patient_id = "),
        );
        sql.text(patient.to_string())
            .push(" ORDER BY c.last_position DESC LIMIT 1");
        let reception = sql.query().fetch_optional(&self.pool).await?;
        reception
            .map(|row| parse_id(&row, "conversation_id"))
            .transpose()
    }

    async fn staff_directory(
        &self,
        role: Option<Role>,
        request: &PageRequest,
    ) -> Result<Page<StaffEntry>, QueryError> {
        let tables = self.live().await?;
        let after = after_cursor("s", request.cursor.as_deref())?;
        let rows =
            crate::directory::staff_rows(&self.pool, &tables, role, after, request.limit).await?;
        Ok(page(rows, request.limit, "s", |s| s.position))
    }

    async fn patient_directory(
        &self,
        q: Option<&str>,
        request: &PageRequest,
    ) -> Result<Page<PatientMatch>, QueryError> {
        let tables = self.live().await?;
        let after = after_cursor("p", request.cursor.as_deref())?;
        let rows =
            crate::directory::patient_rows(&self.pool, &tables, q, after, request.limit).await?;
        Ok(page(rows, request.limit, "p", |p| p.position))
    }

    async fn templates(&self, request: &PageRequest) -> Result<Page<TemplateView>, QueryError> {
        let tables = self.live().await?;
        let after = after_cursor("t", request.cursor.as_deref())?;
        let rows =
            crate::templates::template_rows(&self.pool, &tables, after, request.limit).await?;
        Ok(page(rows, request.limit, "t", |t| t.position))
    }

    async fn scheduled(
        &self,
        viewer: &Actor,
        filter: &ScheduledFilter,
        request: &PageRequest,
    ) -> Result<Page<ScheduledView>, QueryError> {
        let tables = self.live().await?;
        let after = after_cursor("s", request.cursor.as_deref())?;
        let rows = crate::scheduled::scheduled_rows(
            &self.pool,
            &tables,
            viewer,
            filter,
            after,
            request.limit,
        )
        .await?;
        Ok(page(rows, request.limit, "s", |s| s.position))
    }

    async fn template(&self, id: TemplateId) -> Result<Option<TemplateView>, QueryError> {
        let tables = self.live().await?;
        crate::templates::template_by_id(&self.pool, &tables, id).await
    }

    async fn unmatched(&self, request: &PageRequest) -> Result<Page<UnmatchedView>, QueryError> {
        let tables = self.live().await?;
        let before = after_cursor("u", request.cursor.as_deref())?;
        let mut sql = Sql::new(
            self.dialect,
            format!(
                "SELECT {} FROM {} WHERE assigned_patient_id IS NULL",
                crate::unmatched::COLUMNS,
                tables.name("unmatched")
            ),
        );
        if let Some(before) = before {
            sql.push(" AND position < ").int(signed(before));
        }
        sql.push(" ORDER BY position DESC LIMIT ")
            .int(i64::from(request.limit) + 1);
        let rows = sql.query().fetch_all(&self.pool).await?;
        let items = rows
            .iter()
            .map(crate::unmatched::row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page(items, request.limit, "u", |u| u.position))
    }

    async fn unmatched_entry(
        &self,
        id: UnmatchedId,
    ) -> Result<Option<(UnmatchedView, bool)>, QueryError> {
        let tables = self.live().await?;
        let mut sql = Sql::new(
            self.dialect,
            format!(
                "SELECT {}, assigned_patient_id FROM {} WHERE id = ",
                crate::unmatched::COLUMNS,
                tables.name("unmatched")
            ),
        );
        sql.text(id.to_string());
        let Some(row) = sql.query().fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let filed: Option<String> = row.try_get(9)?;
        Ok(Some((crate::unmatched::row(&row)?, filed.is_some())))
    }

    async fn checkpoint(&self) -> Result<u64, QueryError> {
        self.projection_checkpoint(Projection::Inbox).await
    }

    async fn report_summary(
        &self,
        days: u32,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<ReportSummary, QueryError> {
        let tables = self.live().await?;
        crate::reporting::summary(&self.pool, &tables, days, now).await
    }

    async fn wait_for(&self, position: u64, timeout: Duration) -> Result<bool, QueryError> {
        self.wait_until(
            &[Projection::Inbox, Projection::PatientDirectory],
            position,
            timeout,
        )
        .await
    }

    async fn wait_for_reports(&self, position: u64, timeout: Duration) -> Result<bool, QueryError> {
        self.wait_until(&[Projection::Reporting], position, timeout)
            .await
    }
}
