//! What `PatientErased` does to the read models: the personal columns of the patient's rows
//! are cleared (and its messages marked erased), its messages leave the full-text index, and
//! the database is asked to overwrite what it freed.
//!
//! A replay rebuilds the same rows: the sealed events decode to the erased view once the key
//! is destroyed, and `PatientErased` clears what they never held sealed (the unmatched queue
//! entries filed to the patient) and marks the messages.

use domain::PatientId;
use sqlx::{AnyConnection, Executor, Row};

use crate::directory::fold_name;
use crate::sql::{Dialect, Sql, Tables};
use crate::Projection;

/// The name an erased patient's directory row shows.
const ERASED_NAME: &str = "erased";

/// The inbox's share: the patient's messages and the unmatched entries filed to it.
pub(crate) async fn inbox(
    conn: &mut AnyConnection,
    tables: &Tables,
    patient: PatientId,
) -> Result<(), sqlx::Error> {
    let d = tables.dialect();
    let messages = tables.name("messages");
    if d == Dialect::Sqlite {
        let mut sql = Sql::new(
            d,
            format!(
                "DELETE FROM {} WHERE rowid IN (SELECT position FROM {messages} WHERE patient_id = ",
                tables.name("message_search")
            ),
        );
        sql.text(patient.to_string()).push(")");
        sql.query().execute(&mut *conn).await?;
    }
    clear_filenames(conn, tables, "messages", "id", "patient_id", patient).await?;
    let mut sql = Sql::new(
        d,
        format!("UPDATE {messages} SET subject = NULL, body = '', author_name = NULL, erased = 1 WHERE patient_id = "),
    );
    sql.text(patient.to_string());
    sql.query().execute(&mut *conn).await?;
    let unmatched = tables.name("unmatched");
    clear_filenames(
        conn,
        tables,
        "unmatched",
        "id",
        "assigned_patient_id",
        patient,
    )
    .await?;
    let mut sql = Sql::new(
        d,
        format!("UPDATE {unmatched} SET sender = '', subject = NULL, body = '' WHERE assigned_patient_id = "),
    );
    sql.text(patient.to_string());
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// The directories' share: the patient's row, its contact addresses and its scheduled
/// messages.
pub(crate) async fn directory(
    conn: &mut AnyConnection,
    tables: &Tables,
    patient: PatientId,
) -> Result<(), sqlx::Error> {
    let d = tables.dialect();
    let mut sql = Sql::new(d, format!("UPDATE {} SET name = ", tables.name("patients")));
    sql.text(ERASED_NAME.to_owned())
        .push(", name_folded = ")
        .text(fold_name(ERASED_NAME))
        .push(", has_phone = 0, has_email = 0 WHERE id = ")
        .text(patient.to_string());
    sql.query().execute(&mut *conn).await?;
    let mut sql = Sql::new(
        d,
        format!(
            "DELETE FROM {} WHERE patient_id = ",
            tables.name("patient_contacts")
        ),
    );
    sql.text(patient.to_string());
    sql.query().execute(&mut *conn).await?;
    clear_filenames(
        conn,
        tables,
        "scheduled",
        "message_id",
        "patient_id",
        patient,
    )
    .await?;
    let mut sql = Sql::new(
        d,
        format!(
            "UPDATE {} SET subject = NULL, body = '', author_name = NULL WHERE patient_id = ",
            tables.name("scheduled")
        ),
    );
    sql.text(patient.to_string());
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// Sets every attachment's `filename` to null in the `attachments` JSON of the rows of
/// `table` whose `owner` column is the patient.
async fn clear_filenames(
    conn: &mut AnyConnection,
    tables: &Tables,
    table: &str,
    key: &str,
    owner: &str,
    patient: PatientId,
) -> Result<(), sqlx::Error> {
    let d = tables.dialect();
    let table = tables.name(table);
    let mut sql = Sql::new(
        d,
        format!("SELECT {key}, attachments FROM {table} WHERE attachments <> '[]' AND {owner} = "),
    );
    sql.text(patient.to_string());
    let rows = sql.query().fetch_all(&mut *conn).await?;
    for row in rows {
        let id: String = row.try_get(0)?;
        let attachments: String = row.try_get(1)?;
        let mut sql = Sql::new(d, format!("UPDATE {table} SET attachments = "));
        sql.text(without_filenames(&attachments))
            .push(&format!(" WHERE {key} = "))
            .text(id);
        sql.query().execute(&mut *conn).await?;
    }
    Ok(())
}

/// A JSON list of attachments with every `filename` null; unreadable JSON becomes `[]`.
fn without_filenames(attachments: &str) -> String {
    let Ok(serde_json::Value::Array(mut items)) = serde_json::from_str(attachments) else {
        return "[]".to_owned();
    };
    for item in &mut items {
        if let Some(members) = item.as_object_mut() {
            members.insert("filename".into(), serde_json::Value::Null);
        }
    }
    serde_json::Value::Array(items).to_string()
}

/// After a batch with an erasure committed: makes the database overwrite what it freed. On
/// SQLite (opened with `secure_delete`) the WAL is checkpointed into the main file and
/// truncated; on PostgreSQL the tables `projection` cleared are vacuumed (old row versions can
/// stay in its files until their space is reused: `VACUUM FULL` removes them).
pub(crate) async fn scrub(
    conn: &mut AnyConnection,
    tables: &Tables,
    projection: Projection,
) -> Result<(), sqlx::Error> {
    match tables.dialect() {
        Dialect::Sqlite => {
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
        }
        Dialect::Postgres => {
            let cleared: &[&str] = match projection {
                Projection::Inbox => &["messages", "unmatched"],
                Projection::PatientDirectory => &["patients", "patient_contacts", "scheduled"],
                // Counts and times only: nothing of a patient to clear.
                Projection::Reporting => &[],
            };
            for table in cleared {
                conn.execute(format!("VACUUM {}", tables.name(table)).as_str())
                    .await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_cleared_and_the_rest_kept() {
        let cleared = without_filenames(r#"[{"id":"a","filename":"scan.pdf","size":3}]"#);
        let value: serde_json::Value = serde_json::from_str(&cleared).unwrap();
        assert_eq!(value[0]["filename"], serde_json::Value::Null);
        assert_eq!(value[0]["size"], 3);
        assert_eq!(without_filenames("not json"), "[]");
    }
}
