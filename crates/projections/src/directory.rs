//! The patient directory: one row per registered patient, for reporting and pickers.

use domain::contact::PatientContact;
use domain::{Event, EventEnvelope, PatientId};
use sqlx::AnyConnection;

use crate::sql::{Sql, Tables};
use crate::values::time_text;

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
                format!("INSERT INTO {table} (id, name, has_phone, has_email, portal_enabled, whatsapp_opt_in, registered_at, position) VALUES ("),
            );
            sql.text(e.patient_id.to_string())
                .push(", ")
                .text(c.name.clone())
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
                .push(")");
            sql
        }
        Event::PatientContactChanged(e) => {
            let c = &e.contact;
            let mut sql = Sql::new(d, format!("UPDATE {table} SET name = "));
            sql.text(c.name.clone())
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
