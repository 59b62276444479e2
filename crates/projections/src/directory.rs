//! The directories: one row per registered patient and per staff member, for reporting, the
//! directory endpoints and the names shown beside ids; and the template catalogue
//! (`crate::templates` says why it is kept here).

use std::collections::BTreeSet;

use domain::contact::PatientContact;
use domain::{Event, EventEnvelope, PatientId, Permission, Role, StaffId};
use sqlx::{AnyConnection, Row};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::sql::{Sql, Tables};
use crate::values::time_text;
use crate::views::{PatientMatch, StaffEntry};
use crate::QueryError;

/// Applies one event to the patient directory of `tables`; other events are skipped.
pub(crate) async fn apply(
    conn: &mut AnyConnection,
    tables: &Tables,
    envelope: &EventEnvelope,
) -> Result<(), sqlx::Error> {
    let position = i64::try_from(envelope.position).unwrap_or(i64::MAX);
    let d = tables.dialect();
    let table = tables.name("patients");
    let sql = match &envelope.event {
        Event::PatientRegistered(e) => {
            let c = &e.contact;
            let mut sql = Sql::new(
                d,
                format!("INSERT INTO {table} (id, name, name_folded, has_phone, has_email, portal_enabled, whatsapp_opt_in, registered_at, position, registered_position) VALUES ("),
            );
            sql.text(e.patient_id.to_string())
                .push(", ")
                .text(c.name.clone())
                .push(", ")
                .text(fold_name(&c.name))
                .push(", ");
            sql.int(i64::from(c.phone.is_some()))
                .push(", ")
                .int(i64::from(c.email.is_some()))
                .push(", ");
            sql.int(i64::from(c.portal_enabled))
                .push(", ")
                .int(i64::from(c.whatsapp_opt_in))
                .push(", ");
            sql.text(time_text(envelope.occurred_at))
                .push(", ")
                .int(position)
                .push(", ")
                .int(position)
                .push(")");
            sql
        }
        Event::PatientContactChanged(e) => {
            let c = &e.contact;
            let mut sql = Sql::new(d, format!("UPDATE {table} SET name = "));
            sql.text(c.name.clone())
                .push(", name_folded = ")
                .text(fold_name(&c.name))
                .push(", has_phone = ")
                .int(i64::from(c.phone.is_some()));
            sql.push(", has_email = ").int(i64::from(c.email.is_some()));
            sql.push(", portal_enabled = ")
                .int(i64::from(c.portal_enabled));
            sql.push(", whatsapp_opt_in = ")
                .int(i64::from(c.whatsapp_opt_in));
            sql.push(", position = ")
                .int(position)
                .push(" WHERE id = ")
                .text(e.patient_id.to_string());
            sql
        }
        Event::SmsConsentChanged(e) => {
            let mut sql = Sql::new(d, format!("UPDATE {table} SET sms_opted_out = "));
            sql.int(i64::from(!e.opted_in))
                .push(", position = ")
                .int(position);
            sql.push(" WHERE id = ").text(e.patient_id.to_string());
            sql
        }
        Event::PatientErased(e) => {
            return crate::erasure::directory(conn, tables, e.patient_id).await;
        }
        Event::StaffRegistered(_) | Event::PermissionsChanged(_) => {
            return apply_staff(conn, tables, envelope).await;
        }
        Event::TemplateCreated(_) | Event::TemplateRevised(_) | Event::TemplateRetired(_) => {
            return crate::templates::apply(conn, tables, envelope).await;
        }
        Event::MessageScheduled(_)
        | Event::ScheduledMessageReleased(_)
        | Event::ScheduledMessageCancelled(_)
        | Event::ScheduledMessageFailed(_) => {
            return crate::scheduled::apply(conn, tables, envelope).await;
        }
        _ => return Ok(()),
    };
    sql.query().execute(&mut *conn).await?;
    match &envelope.event {
        Event::PatientRegistered(e) => {
            replace_contacts(conn, tables, e.patient_id, &e.contact).await
        }
        Event::PatientContactChanged(e) => {
            replace_contacts(conn, tables, e.patient_id, &e.contact).await
        }
        _ => Ok(()),
    }
}

/// A name as the directory searches it: lower case, accents removed, every run of characters
/// that are not letters or digits one space, with a space in front (so that `LIKE '% word%'`
/// finds a word's start).
pub(crate) fn fold_name(name: &str) -> String {
    let mut folded = String::from(" ");
    for c in name.nfd().filter(|c| !is_combining_mark(*c)) {
        if c.is_alphanumeric() {
            folded.extend(c.to_lowercase());
        } else if !folded.ends_with(' ') {
            folded.push(' ');
        }
    }
    folded.trim_end().to_owned()
}

/// The staff directory's row for a registration or a change of permissions.
async fn apply_staff(
    conn: &mut AnyConnection,
    tables: &Tables,
    envelope: &EventEnvelope,
) -> Result<(), sqlx::Error> {
    let position = i64::try_from(envelope.position).unwrap_or(i64::MAX);
    let table = tables.name("staff");
    let d = tables.dialect();
    let sql = match &envelope.event {
        Event::StaffRegistered(e) => {
            let permissions = permissions_text(e.permissions.iter().copied());
            let mut sql = Sql::new(
                d,
                format!("INSERT INTO {table} (id, name, role, permissions, registered_position) VALUES ("),
            );
            sql.text(e.staff_id.to_string())
                .push(", ")
                .text(e.name.clone())
                .push(", ")
                .text(e.role.as_str())
                .push(", ")
                .text(permissions)
                .push(", ")
                .int(position)
                .push(") ON CONFLICT (id) DO NOTHING");
            sql
        }
        Event::PermissionsChanged(e) => {
            let mut select = Sql::new(d, format!("SELECT permissions FROM {table} WHERE id = "));
            select.text(e.staff_id.to_string());
            let Some(row) = select.query().fetch_optional(&mut *conn).await? else {
                return Ok(());
            };
            let held: String = row.try_get(0)?;
            let mut permissions: BTreeSet<Permission> =
                serde_json::from_str(&held).unwrap_or_default();
            permissions.extend(e.granted.iter().copied());
            for revoked in &e.revoked {
                permissions.remove(revoked);
            }
            let mut sql = Sql::new(d, format!("UPDATE {table} SET permissions = "));
            sql.text(permissions_text(permissions))
                .push(" WHERE id = ")
                .text(e.staff_id.to_string());
            sql
        }
        _ => return Ok(()),
    };
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// Permissions as the directory keeps them: a JSON array of their wire names, sorted.
fn permissions_text(permissions: impl IntoIterator<Item = Permission>) -> String {
    let sorted: BTreeSet<Permission> = permissions.into_iter().collect();
    serde_json::to_string(&sorted).unwrap_or_else(|_| "[]".into())
}

/// The `patient_contacts` key of a phone number or e-mail address (addresses in lower case).
pub(crate) fn contact_key(contact: &crate::ContactAddress) -> (&'static str, String) {
    match contact {
        crate::ContactAddress::Phone(phone) => ("phone", phone.clone()),
        crate::ContactAddress::Email(email) => ("email", email.to_lowercase()),
    }
}

/// Replaces the patient's rows in `patient_contacts` with its current phone and e-mail.
async fn replace_contacts(
    conn: &mut AnyConnection,
    tables: &Tables,
    patient: PatientId,
    contact: &PatientContact,
) -> Result<(), sqlx::Error> {
    let table = tables.name("patient_contacts");
    let mut sql = Sql::new(
        tables.dialect(),
        format!("DELETE FROM {table} WHERE patient_id = "),
    );
    sql.text(patient.to_string());
    sql.query().execute(&mut *conn).await?;
    let addresses = [
        contact
            .phone
            .as_ref()
            .map(|p| crate::ContactAddress::Phone(p.as_str().to_owned())),
        contact
            .email
            .as_ref()
            .map(|e| crate::ContactAddress::Email(e.as_str().to_owned())),
    ];
    for address in addresses.iter().flatten() {
        let (kind, address) = contact_key(address);
        let mut sql = Sql::new(
            tables.dialect(),
            format!("INSERT INTO {table} (kind, address, patient_id) VALUES ("),
        );
        sql.text(kind)
            .push(", ")
            .text(address)
            .push(", ")
            .text(patient.to_string())
            .push(") ON CONFLICT DO NOTHING");
        sql.query().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The staff directory, `limit + 1` rows after `after` (for the page's cursor).
pub(crate) async fn staff_rows(
    pool: &sqlx::AnyPool,
    tables: &Tables,
    role: Option<Role>,
    after: Option<u64>,
    limit: u32,
) -> Result<Vec<StaffEntry>, QueryError> {
    let mut sql = Sql::new(
        tables.dialect(),
        format!(
            "SELECT id, name, role, permissions, registered_position FROM {} WHERE 1 = 1",
            tables.name("staff")
        ),
    );
    if let Some(role) = role {
        sql.push(" AND role = ").text(role.as_str());
    }
    if let Some(after) = after {
        sql.push(" AND registered_position > ")
            .int(i64::try_from(after).unwrap_or(i64::MAX));
    }
    sql.push(" ORDER BY registered_position LIMIT ")
        .int(i64::from(limit) + 1);
    let corrupt = |what: &str| QueryError::Corrupt(format!("staff directory: {what}"));
    let mut entries = Vec::new();
    for row in sql.query().fetch_all(pool).await? {
        let id: String = row.try_get(0)?;
        let role: String = row.try_get(2)?;
        let permissions: String = row.try_get(3)?;
        entries.push(StaffEntry {
            id: StaffId(id.parse().map_err(|_| corrupt("id"))?),
            name: row.try_get(1)?,
            role: role.parse().map_err(|_| corrupt("role"))?,
            permissions: serde_json::from_str(&permissions).map_err(|_| corrupt("permissions"))?,
            position: u64::try_from(row.try_get::<i64, _>(4)?).unwrap_or_default(),
        });
    }
    Ok(entries)
}

/// The patient directory, `limit + 1` rows after `after`, matching `q` as
/// [`crate::ReadModel::patient_directory`] describes.
pub(crate) async fn patient_rows(
    pool: &sqlx::AnyPool,
    tables: &Tables,
    q: Option<&str>,
    after: Option<u64>,
    limit: u32,
) -> Result<Vec<PatientMatch>, QueryError> {
    let patients = tables.name("patients");
    let mut sql = Sql::new(
        tables.dialect(),
        format!("SELECT p.id, p.registered_position FROM {patients} p WHERE 1 = 1"),
    );
    let q = q.map(str::trim).filter(|q| !q.is_empty());
    match q {
        Some(q) if q.starts_with('+') || q.contains('@') => {
            let address = if q.contains('@') {
                crate::ContactAddress::Email(q.to_owned())
            } else {
                crate::ContactAddress::Phone(q.chars().filter(|c| !c.is_whitespace()).collect())
            };
            let (kind, address) = contact_key(&address);
            sql.push(&format!(
                " AND p.id IN (SELECT patient_id FROM {} WHERE kind = ",
                tables.name("patient_contacts")
            ))
            .text(kind)
            .push(" AND address = ")
            .text(address)
            .push(")");
        }
        Some(q) => {
            let words: Vec<String> = fold_name(q)
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect();
            if words.is_empty() {
                return Ok(Vec::new());
            }
            // Folded names and words hold letters, digits and single spaces only: no LIKE
            // wildcard can come from the caller.
            for word in words.iter().take(8) {
                sql.push(" AND p.name_folded LIKE ")
                    .text(format!("% {word}%"));
            }
        }
        None => {}
    }
    if let Some(after) = after {
        sql.push(" AND p.registered_position > ")
            .int(i64::try_from(after).unwrap_or(i64::MAX));
    }
    sql.push(" ORDER BY p.registered_position LIMIT ")
        .int(i64::from(limit) + 1);
    let mut matches = Vec::new();
    for row in sql.query().fetch_all(pool).await? {
        let id: String = row.try_get(0)?;
        matches.push(PatientMatch {
            id: PatientId(
                id.parse()
                    .map_err(|_| QueryError::Corrupt("patient directory: id".into()))?,
            ),
            position: u64::try_from(row.try_get::<i64, _>(1)?).unwrap_or_default(),
        });
    }
    Ok(matches)
}
