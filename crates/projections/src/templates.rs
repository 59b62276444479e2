//! The template catalogue: one row per template with its current version, for
//! `GET /v1/templates` and the compose page.
//!
//! # Why the directory projection keeps it
//!
//! Templates are a catalogue like the patient and staff directories: a few rows, written
//! rarely by admins, read by id or in creation order, and unrelated to conversations. The
//! inbox projection folds conversation events in memory batch by batch and writes them with
//! multi-row statements; templates gain nothing from that, and a template row never joins an
//! inbox row. So the directory projection (its own checkpoint, one statement per event) applies
//! the three template events, and `hub replay` rebuilds the catalogue with the directories.

use domain::template::WhatsappTemplate;
use domain::{Event, EventEnvelope, TemplateId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::sql::{Arg, Sql, Tables};
use crate::views::TemplateView;
use crate::QueryError;

/// Template columns, in the order [`template_row`] reads them.
const COLUMNS: &str =
    "id, name, version, subject, body, whatsapp, variables, retired, created_position";

/// Applies one template event to the catalogue of `tables`; other events are skipped.
pub(crate) async fn apply(
    conn: &mut AnyConnection,
    tables: &Tables,
    envelope: &EventEnvelope,
) -> Result<(), sqlx::Error> {
    let position = i64::try_from(envelope.position).unwrap_or(i64::MAX);
    let table = tables.name("templates");
    let d = tables.dialect();
    let sql = match &envelope.event {
        Event::TemplateCreated(e) => {
            let c = &e.content;
            let mut sql = Sql::new(
                d,
                format!("INSERT INTO {table} (id, name, version, subject, body, whatsapp, variables, retired, created_position, position) VALUES ("),
            );
            sql.text(e.template_id.to_string())
                .push(", ")
                .text(c.name.clone())
                .push(", ")
                .int(i64::from(e.version))
                .push(", ")
                .bind(Arg::OptText(c.subject.clone()))
                .push(", ")
                .text(c.body.clone())
                .push(", ")
                .bind(Arg::OptText(c.whatsapp.as_ref().map(json)))
                .push(", ")
                .text(json(&e.variables))
                .push(", 0, ")
                .int(position)
                .push(", ")
                .int(position)
                .push(") ON CONFLICT (id) DO NOTHING");
            sql
        }
        Event::TemplateRevised(e) => {
            let c = &e.content;
            let mut sql = Sql::new(d, format!("UPDATE {table} SET name = "));
            sql.text(c.name.clone())
                .push(", version = ")
                .int(i64::from(e.version))
                .push(", subject = ")
                .bind(Arg::OptText(c.subject.clone()))
                .push(", body = ")
                .text(c.body.clone());
            sql.push(", whatsapp = ")
                .bind(Arg::OptText(c.whatsapp.as_ref().map(json)))
                .push(", variables = ")
                .text(json(&e.variables))
                .push(", position = ")
                .int(position)
                .push(" WHERE id = ")
                .text(e.template_id.to_string());
            sql
        }
        Event::TemplateRetired(e) => {
            let mut sql = Sql::new(d, format!("UPDATE {table} SET retired = 1, position = "));
            sql.int(position)
                .push(" WHERE id = ")
                .text(e.template_id.to_string());
            sql
        }
        _ => return Ok(()),
    };
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// The JSON text of a value a template row keeps as JSON (plain data always serializes).
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn corrupt(what: &str) -> QueryError {
    QueryError::Corrupt(format!("templates: {what}"))
}

/// Reads a row selected with [`COLUMNS`].
fn template_row(row: &AnyRow) -> Result<TemplateView, QueryError> {
    let id: String = row.try_get(0)?;
    let whatsapp: Option<String> = row.try_get(5)?;
    let variables: String = row.try_get(6)?;
    Ok(TemplateView {
        id: TemplateId(id.parse().map_err(|_| corrupt("id"))?),
        name: row.try_get(1)?,
        version: u32::try_from(row.try_get::<i64, _>(2)?).map_err(|_| corrupt("version"))?,
        subject: row.try_get(3)?,
        body: row.try_get(4)?,
        whatsapp: whatsapp
            .map(|w| serde_json::from_str::<WhatsappTemplate>(&w))
            .transpose()
            .map_err(|_| corrupt("whatsapp"))?,
        variables: serde_json::from_str(&variables).map_err(|_| corrupt("variables"))?,
        retired: row.try_get::<i64, _>(7)? == 1,
        position: u64::try_from(row.try_get::<i64, _>(8)?).unwrap_or_default(),
    })
}

/// The catalogue in creation order, `limit + 1` rows after `after` (for the page's cursor).
pub(crate) async fn template_rows(
    pool: &sqlx::AnyPool,
    tables: &Tables,
    after: Option<u64>,
    limit: u32,
) -> Result<Vec<TemplateView>, QueryError> {
    let mut sql = Sql::new(
        tables.dialect(),
        format!(
            "SELECT {COLUMNS} FROM {} WHERE 1 = 1",
            tables.name("templates")
        ),
    );
    if let Some(after) = after {
        sql.push(" AND created_position > ")
            .int(i64::try_from(after).unwrap_or(i64::MAX));
    }
    sql.push(" ORDER BY created_position LIMIT ")
        .int(i64::from(limit) + 1);
    sql.query()
        .fetch_all(pool)
        .await?
        .iter()
        .map(template_row)
        .collect()
}

/// One template, retired or not.
pub(crate) async fn template_by_id(
    pool: &sqlx::AnyPool,
    tables: &Tables,
    id: TemplateId,
) -> Result<Option<TemplateView>, QueryError> {
    let mut sql = Sql::new(
        tables.dialect(),
        format!(
            "SELECT {COLUMNS} FROM {} WHERE id = ",
            tables.name("templates")
        ),
    );
    sql.text(id.to_string());
    sql.query()
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(template_row)
        .transpose()
}
