//! The inbox queries: SQL built per filter combination, restricted to what the viewer may see.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::attachment::AttachmentRef;
use domain::status::ConversationStatus;
use domain::template::TemplateRef;
use domain::{Actor, Author, PatientId, Role};
use serde::de::DeserializeOwned;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use crate::sql::{Dialect, Sql, Tables};
use crate::views::{cursor, AttachmentView, CallView, ConversationView, MessageView, Participant};
use crate::QueryError;

/// Message columns, in the order [`message_row`] reads them.
const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.patient_id, m.position, m.channel, m.direction, m.author_id, m.author_role, m.subject, m.body, m.attachments, m.status, m.delivery_status, m.delivery_error, m.sent_at, m.call_occurred_at, m.call_duration_seconds, m.author_name, m.template_id, m.template_version, m.scheduled_for, m.erased";

/// The words of a search text: letters and digits only, so no search syntax reaches the database.
pub(crate) fn search_words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(32)
        .map(str::to_lowercase)
        .collect()
}

/// Appends "the viewer may see conversation `c`".
pub(crate) fn push_visible(sql: &mut Sql, tables: &Tables, viewer: &Actor) {
    let participant = |sql: &mut Sql| {
        sql.push(&format!(
            "EXISTS (SELECT 1 FROM {} p WHERE p.conversation_id = c.id AND p.actor_id = ",
            tables.name("participants")
        ))
        .text(viewer.id.to_string())
        .push(")");
    };
    match viewer.role {
        Role::Admin | Role::Auditor | Role::System => {
            sql.push("1 = 1");
        }
        Role::Receptionist => {
            sql.push("(c.counterpart = 'reception' OR ");
            participant(sql);
            sql.push(")");
        }
        Role::Doctor => participant(sql),
        Role::Patient => {
            sql.push("c.patient_id = ").text(viewer.id.to_string());
        }
    }
}

/// How many matches a SQLite full-text search needs before pages probe the index row by row
/// instead of reading every match first (see [`TextSearch`]).
const PROBE_FROM_MATCHES: i64 = 2_000;

/// The most index terms one search word's prefix is spelled out as (see [`TextSearch`]).
const MAX_PREFIX_TERMS: i64 = 16;

/// A full-text search, prepared for the database it runs on.
///
/// Every word also matches as the start of a longer word (`appoint` finds "appointment").
/// PostgreSQL's prefix match (`appoint:*`) walks its GIN index. SQLite's FTS5 has no prefix
/// index, and a prefix query (`"appoint"*`) first copies every match of every term with that
/// prefix into memory, on each evaluation: half the messages for a frequent word. So on SQLite
/// each ASCII word is spelled out as the terms with that prefix the index holds (from the
/// `message_search_vocab` table), which FTS5 seeks to by rowid. When such a search has many
/// matches, pages walk their usual order and probe the index per message; with few, they read
/// the matches first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TextSearch {
    /// No word: nothing matches.
    Nothing,
    /// A PostgreSQL `tsquery`.
    Postgres(String),
    /// An FTS5 query; `probe` when it is exact terms with many matches.
    Sqlite {
        /// The `MATCH` expression.
        query: String,
        /// Probe per message instead of reading all matches first.
        probe: bool,
    },
}

impl TextSearch {
    /// Prepares `q`; on SQLite it reads the index's terms through `conn`, which should run the
    /// page in the same transaction, so the terms read are the terms the page sees.
    pub(crate) async fn prepare(
        conn: Option<&mut AnyConnection>,
        tables: &Tables,
        q: &str,
    ) -> Result<Self, QueryError> {
        let words = search_words(q);
        if words.is_empty() {
            return Ok(TextSearch::Nothing);
        }
        let Some(conn) = conn.filter(|_| tables.dialect() == Dialect::Sqlite) else {
            let prefixes: Vec<String> = words.iter().map(|w| format!("{w}:*")).collect();
            return Ok(TextSearch::Postgres(prefixes.join(" & ")));
        };
        let mut groups = Vec::with_capacity(words.len());
        let mut exact = true;
        for word in &words {
            match prefix_terms(conn, tables, word).await? {
                Some(terms) => {
                    let terms: Vec<String> = terms.iter().map(|t| format!("\"{t}\"")).collect();
                    groups.push(format!("({})", terms.join(" OR ")));
                }
                None => {
                    exact = false;
                    groups.push(format!("\"{word}\"*"));
                }
            }
        }
        let query = groups.join(" AND ");
        let probe = exact && {
            let search = tables.name("message_search");
            let mut sql = Sql::new(
                tables.dialect(),
                format!("SELECT COUNT(*) FROM (SELECT rowid FROM {search} WHERE {search} MATCH "),
            );
            sql.text(query.clone())
                .push(" LIMIT ")
                .int(PROBE_FROM_MATCHES)
                .push(")");
            let matches: i64 = sql.query().fetch_one(&mut *conn).await?.try_get(0)?;
            matches >= PROBE_FROM_MATCHES
        };
        Ok(TextSearch::Sqlite { query, probe })
    }

    /// Whether pages should probe per row (walk their own order) rather than read all matches.
    pub(crate) fn probes(&self) -> bool {
        matches!(self, TextSearch::Sqlite { probe: true, .. })
    }
}

/// The terms of SQLite's full-text index that start with `word` (itself first, whether or not
/// the index holds it); `None` when `word` is not ASCII (FTS5 folds other letters its own way)
/// or has more than [`MAX_PREFIX_TERMS`] longer terms.
async fn prefix_terms(
    conn: &mut AnyConnection,
    tables: &Tables,
    word: &str,
) -> Result<Option<Vec<String>>, QueryError> {
    let Some(last) = word.bytes().last().filter(|_| word.is_ascii()) else {
        return Ok(None);
    };
    // Every longer term lies in [word + U+0001, word with its last letter raised). The lower
    // bound skips `word` itself, which the vocabulary would count through all its matches;
    // U+0001 is never part of a term.
    let upper = format!("{}{}", &word[..word.len() - 1], char::from(last + 1));
    let mut sql = Sql::new(
        tables.dialect(),
        format!(
            "SELECT term FROM {} WHERE term >= ",
            tables.name("message_search_vocab")
        ),
    );
    sql.text(format!("{word}\u{1}"))
        .push(" AND term < ")
        .text(upper)
        .push(" LIMIT ")
        .int(MAX_PREFIX_TERMS + 1);
    let longer: Vec<String> = sql
        .query()
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| row.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    if longer.len() as i64 > MAX_PREFIX_TERMS {
        return Ok(None);
    }
    let mut terms = vec![word.to_owned()];
    terms.extend(longer.into_iter().filter(|t| t.starts_with(word)));
    Ok(Some(terms))
}

/// Appends " AND <full-text match of message m>".
pub(crate) fn push_search(sql: &mut Sql, tables: &Tables, search: &TextSearch) {
    let fts = tables.name("message_search");
    match search {
        TextSearch::Nothing => {
            sql.push(" AND 1 = 0");
        }
        TextSearch::Postgres(tsquery) => {
            sql.push(" AND m.search @@ to_tsquery('simple', ")
                .text(tsquery.clone())
                .push(")");
        }
        TextSearch::Sqlite { query, probe: true } => {
            sql.push(&format!(
                " AND EXISTS (SELECT 1 FROM {fts} f WHERE f.rowid = m.position AND f.{fts} MATCH "
            ))
            .text(query.clone())
            .push(")");
        }
        TextSearch::Sqlite {
            query,
            probe: false,
        } => {
            sql.push(&format!(
                " AND m.position IN (SELECT rowid FROM {fts} WHERE {fts} MATCH "
            ))
            .text(query.clone())
            .push(")");
        }
    }
}

/// Appends " AND <the viewer starred m>" or its negation.
pub(crate) fn push_starred(sql: &mut Sql, tables: &Tables, viewer: &Actor, starred: bool) {
    sql.push(if starred {
        " AND EXISTS ("
    } else {
        " AND NOT EXISTS ("
    });
    sql.push(&format!(
        "SELECT 1 FROM {} s WHERE s.message_id = m.id AND s.staff_id = ",
        tables.name("stars")
    ))
    .text(viewer.id.to_string())
    .push(")");
}

/// `SELECT` of the message columns plus whether the viewer starred each, `FROM` messages `m`.
///
/// Each dialect gets the form its planner keeps to the rows of the page. PostgreSQL turned a
/// correlated `EXISTS` in the select list into a hash of all the viewer's stars, so there the star
/// is a join on its primary key. SQLite builds a Bloom filter over a whole joined table before the
/// first row, so there it stays a correlated subquery.
pub(crate) fn select_messages(sql: &mut Sql, tables: &Tables, viewer: &Actor) {
    let (messages, stars) = (tables.name("messages"), tables.name("stars"));
    match tables.dialect() {
        Dialect::Postgres => sql.push(&format!(
            "SELECT {MESSAGE_COLUMNS}, CAST(CASE WHEN viewer_star.message_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS starred FROM {messages} m LEFT JOIN {stars} viewer_star ON viewer_star.message_id = m.id AND viewer_star.staff_id = "
        )),
        Dialect::Sqlite => sql.push(&format!(
            "SELECT {MESSAGE_COLUMNS}, CAST(CASE WHEN EXISTS (SELECT 1 FROM {stars} viewer_star WHERE viewer_star.message_id = m.id AND viewer_star.staff_id = "
        )),
    };
    sql.text(viewer.id.to_string());
    if tables.dialect() == Dialect::Sqlite {
        sql.push(&format!(
            ") THEN 1 ELSE 0 END AS BIGINT) AS starred FROM {messages} m"
        ));
    }
}

/// Appends " WHERE <the viewer may see message m's conversation c> <and `conversation`'s
/// conditions on c>", after [`select_messages`]; message conditions follow as " AND …". A join on
/// PostgreSQL, a correlated `EXISTS` on SQLite (see [`select_messages`]).
pub(crate) fn where_visible(
    sql: &mut Sql,
    tables: &Tables,
    viewer: &Actor,
    conversation: impl FnOnce(&mut Sql),
) {
    let conversations = tables.name("conversations");
    match tables.dialect() {
        Dialect::Postgres => {
            sql.push(&format!(
                " JOIN {conversations} c ON c.id = m.conversation_id WHERE "
            ));
            push_visible(sql, tables, viewer);
            conversation(sql);
        }
        Dialect::Sqlite => {
            sql.push(&format!(
                " WHERE EXISTS (SELECT 1 FROM {conversations} c WHERE c.id = m.conversation_id AND "
            ));
            push_visible(sql, tables, viewer);
            conversation(sql);
            sql.push(")");
        }
    }
    push_entry_visible(sql, viewer);
}

/// Appends " AND <the viewer may see entry m>": call logs are the clinic's record of a call,
/// never shown to the patient.
pub(crate) fn push_entry_visible(sql: &mut Sql, viewer: &Actor) {
    if viewer.role == Role::Patient {
        sql.push(" AND m.channel <> 'call'");
    }
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> QueryError {
    QueryError::Corrupt(format!("{what}: {error}"))
}

fn parse<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, QueryError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|e| corrupt(what, e))
}

fn time(what: &str, text: &str) -> Result<DateTime<Utc>, QueryError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(what, e))
}

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

/// Reads a row selected by [`select_messages`].
pub(crate) fn message_row(row: &AnyRow) -> Result<MessageView, QueryError> {
    let text = |i: usize| row.try_get::<String, _>(i);
    let attachments: Vec<AttachmentRef> =
        serde_json::from_str(&text(10)?).map_err(|e| corrupt("attachments", e))?;
    let call = match (
        row.try_get::<Option<String>, _>(15)?,
        row.try_get::<Option<i64>, _>(16)?,
    ) {
        (Some(at), Some(duration)) => Some(CallView {
            occurred_at: time("call_occurred_at", &at)?,
            duration_seconds: u32::try_from(duration).unwrap_or_default(),
        }),
        _ => None,
    };
    let erased = row.try_get::<i64, _>(21)? == 1;
    Ok(MessageView {
        id: parse("id", &text(0)?)?,
        conversation_id: parse("conversation_id", &text(1)?)?,
        patient_id: parse("patient_id", &text(2)?)?,
        position: unsigned(row.try_get(3)?),
        channel: parse("channel", &text(4)?)?,
        direction: parse("direction", &text(5)?)?,
        author: Author {
            id: parse("author_id", &text(6)?)?,
            role: parse("author_role", &text(7)?)?,
            name: row.try_get(17)?,
        },
        subject: row.try_get(8)?,
        body: (!erased).then(|| text(9)).transpose()?,
        attachments: attachments
            .into_iter()
            .map(|a| AttachmentView {
                id: a.id,
                media_type: a.media_type,
                size: a.size,
                filename: a.filename,
            })
            .collect(),
        status: parse("status", &text(11)?)?,
        delivery_status: row
            .try_get::<Option<String>, _>(12)?
            .map(|s| parse("delivery_status", &s))
            .transpose()?,
        delivery_error: row.try_get(13)?,
        sent_at: time("sent_at", &text(14)?)?,
        call,
        template: match (
            row.try_get::<Option<String>, _>(18)?,
            row.try_get::<Option<i64>, _>(19)?,
        ) {
            (Some(id), Some(version)) => Some(TemplateRef {
                id: parse("template_id", &id)?,
                version: u32::try_from(version).unwrap_or_default(),
            }),
            _ => None,
        },
        scheduled_for: row
            .try_get::<Option<String>, _>(20)?
            .map(|at| time("scheduled_for", &at))
            .transpose()?,
        starred: row.try_get::<i64, _>(22)? == 1,
        erased,
    })
}

/// Conversation columns, in the order [`conversation_rows`] reads them.
pub(crate) const CONVERSATION_COLUMNS: &str = "c.id, c.patient_id, c.counterpart, c.archived, c.status, c.latest_message_id, c.last_message_at, c.last_position, c.unread_inbound, c.unread_outbound, c.awaiting";

/// Completes conversation rows with their latest messages and participants.
pub(crate) async fn conversation_rows(
    pool: &AnyPool,
    tables: &Tables,
    viewer: &Actor,
    rows: &[AnyRow],
) -> Result<Vec<ConversationView>, QueryError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let d = tables.dialect();
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    // The latest entry of each conversation, by conversation. A patient's is the latest entry
    // it may see (call logs are staff-only), found by position; staff's is the row's own.
    let mut latest: HashMap<String, MessageView> = HashMap::new();
    let mut sql = Sql::new(d, "");
    select_messages(&mut sql, tables, viewer);
    if viewer.role == Role::Patient {
        sql.push(" WHERE m.conversation_id IN ").in_list(&ids);
        sql.push(&format!(
            " AND m.channel <> 'call' AND m.position = (SELECT MAX(m2.position) FROM {} m2 WHERE m2.conversation_id = m.conversation_id AND m2.channel <> 'call')",
            tables.name("messages")
        ));
    } else {
        let latest_ids: Vec<String> = rows
            .iter()
            .filter_map(|r| r.try_get::<Option<String>, _>(5).ok().flatten())
            .collect();
        if latest_ids.is_empty() {
            return Err(corrupt("latest_message", "missing"));
        }
        sql.push(" WHERE m.id IN ").in_list(&latest_ids);
    }
    for row in sql.query().fetch_all(pool).await? {
        let message = message_row(&row)?;
        latest.insert(message.conversation_id.to_string(), message);
    }
    let mut participants: HashMap<String, Vec<Participant>> = HashMap::new();
    let mut sql = Sql::new(
        d,
        format!(
            "SELECT p.conversation_id, p.actor_id, p.role, COALESCE(pt.name, st.name) FROM {} p LEFT JOIN {} pt ON pt.id = p.actor_id LEFT JOIN {} st ON st.id = p.actor_id WHERE p.conversation_id IN ",
            tables.name("participants"),
            tables.name("patients"),
            tables.name("staff")
        ),
    );
    sql.in_list(&ids)
        .push(" ORDER BY p.joined_position, p.actor_id");
    for row in sql.query().fetch_all(pool).await? {
        let conversation: String = row.try_get(0)?;
        let id = parse("actor_id", &row.try_get::<String, _>(1)?)?;
        let name = row.try_get::<Option<String>, _>(3)?.or_else(|| {
            (id == Actor::BOOTSTRAP_ADMIN_ID).then(|| Actor::BOOTSTRAP_ADMIN_NAME.to_owned())
        });
        participants
            .entry(conversation)
            .or_default()
            .push(Participant {
                id,
                role: parse("role", &row.try_get::<String, _>(2)?)?,
                name,
            });
    }
    let unread_for_viewer = if viewer.role == Role::Patient { 9 } else { 8 };
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(0)?;
            let latest_message = latest
                .remove(&id)
                .ok_or_else(|| corrupt("latest_message", "missing"))?;
            let archived = row.try_get::<i64, _>(3)? == 1;
            let status: ConversationStatus = if archived {
                ConversationStatus::Archived
            } else {
                parse("status", latest_message.status.as_str())?
            };
            let patient_id: PatientId = parse("patient_id", &row.try_get::<String, _>(1)?)?;
            let participants = participants.remove(&id).unwrap_or_default();
            let patient_name = participants
                .iter()
                .find(|p| p.id == patient_id.0)
                .and_then(|p| p.name.clone());
            Ok(ConversationView {
                participants,
                patient_name,
                id: parse("id", &id)?,
                patient_id,
                counterpart: parse("counterpart", &row.try_get::<String, _>(2)?)?,
                archived,
                status,
                awaiting: parse("awaiting", &row.try_get::<String, _>(10)?)?,
                last_message_at: latest_message.sent_at,
                position: unsigned(row.try_get(7)?),
                unread_count: unsigned(row.try_get(unread_for_viewer)?),
                latest_message,
            })
        })
        .collect()
}

/// Decodes an optional cursor of list `kind`.
pub(crate) fn after_cursor(kind: &str, cursor: Option<&str>) -> Result<Option<u64>, QueryError> {
    cursor.map(|c| cursor::decode(kind, c)).transpose()
}
