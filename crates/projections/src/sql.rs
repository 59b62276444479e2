//! SQL text for both backends through sqlx's `Any` driver: placeholders, table names of a
//! generation of the read models, and the few clauses that differ.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

/// Which database the SQL runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL: a generation is a schema.
    Postgres,
    /// SQLite: a generation is a table-name prefix.
    Sqlite,
}

/// One generation of the read models: where its tables live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    dialect: Dialect,
    namespace: String,
}

/// The line of a DDL file after which only query indexes follow.
const QUERY_INDEXES_MARKER: &str = "-- @query-indexes";

/// A generation's DDL statements, in two parts so a full rebuild can fill the tables first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ddl {
    /// The schema (PostgreSQL), the tables and the indexes the projectors read through.
    pub tables: Vec<String>,
    /// The indexes only queries read through.
    pub query_indexes: Vec<String>,
}

impl Ddl {
    /// Every statement, tables first.
    pub fn all(self) -> impl Iterator<Item = String> {
        self.tables.into_iter().chain(self.query_indexes)
    }
}

/// The `;`-separated statements of a DDL `template` without comments, for namespace `ns`.
fn statements(template: &str, ns: &str) -> Vec<String> {
    let without_comments: String = template
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.replace("{ns}", ns))
        .collect()
}

/// Whether `name` may name a generation: lower-case letters, digits and `_`, starting with a letter.
pub fn valid_namespace(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Tables {
    /// The tables of generation `namespace` (already validated).
    pub fn new(dialect: Dialect, namespace: &str) -> Self {
        Tables {
            dialect,
            namespace: namespace.to_owned(),
        }
    }

    /// The generation's name.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// A table's qualified name.
    pub fn name(&self, table: &str) -> String {
        match self.dialect {
            Dialect::Postgres => format!("\"{}\".{table}", self.namespace),
            Dialect::Sqlite => format!("{}{table}", self.namespace),
        }
    }

    /// The DDL that creates this generation: its tables, then the indexes only queries use.
    pub fn ddl(&self) -> Ddl {
        let (template, ns) = match self.dialect {
            Dialect::Postgres => (
                include_str!("../../../projections/postgres.sql"),
                format!("\"{}\"", self.namespace),
            ),
            Dialect::Sqlite => (
                include_str!("../../../projections/sqlite.sql"),
                self.namespace.clone(),
            ),
        };
        let (tables, query_indexes) = template
            .split_once(QUERY_INDEXES_MARKER)
            .unwrap_or((template, ""));
        let mut ddl = Ddl {
            tables: Vec::new(),
            query_indexes: statements(query_indexes, &ns),
        };
        if self.dialect == Dialect::Postgres {
            ddl.tables.push(format!("CREATE SCHEMA {ns}"));
        }
        ddl.tables.extend(statements(tables, &ns));
        ddl
    }

    /// The tables of this generation, for dropping it.
    pub fn drop_statements(&self) -> Vec<String> {
        match self.dialect {
            Dialect::Postgres => vec![format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                self.namespace
            )],
            Dialect::Sqlite => {
                let mut tables = vec!["message_search_vocab"];
                for projection in crate::Projection::ALL {
                    tables.extend(projection.tables(Dialect::Sqlite));
                }
                tables.push("checkpoint");
                tables
                    .iter()
                    .map(|table| format!("DROP TABLE IF EXISTS {}", self.name(table)))
                    .collect()
            }
        }
    }
}

/// The most placeholders one multi-row statement binds (below both databases' limits).
const MAX_ARGS: usize = 16_000;

/// The most rows one multi-row statement writes, and the most values of one `IN` list.
pub const MAX_ROWS: usize = 1_000;

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
pub enum Arg {
    /// Text.
    Text(String),
    /// Optional text.
    OptText(Option<String>),
    /// Integer.
    Int(i64),
    /// Optional integer.
    OptInt(Option<i64>),
}

/// SQL text with its arguments, numbering placeholders for the dialect.
#[derive(Debug, Clone)]
pub struct Sql {
    dialect: Dialect,
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    /// Starts a statement.
    pub fn new(dialect: Dialect, text: impl Into<String>) -> Self {
        Sql {
            dialect,
            text: text.into(),
            args: Vec::new(),
        }
    }

    /// Appends text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `arg`.
    pub fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        match self.dialect {
            Dialect::Postgres => {
                let n = self.args.len();
                self.text.push_str(&format!("${n}"));
            }
            Dialect::Sqlite => self.text.push('?'),
        }
        self
    }

    /// Appends `(…), (…)`: one parenthesized group of placeholders per row.
    pub fn rows(&mut self, rows: &[Vec<Arg>]) -> &mut Self {
        for (i, row) in rows.iter().enumerate() {
            self.push(if i == 0 { "(" } else { ", (" });
            for (j, arg) in row.iter().enumerate() {
                if j > 0 {
                    self.push(", ");
                }
                self.bind(arg.clone());
            }
            self.push(")");
        }
        self
    }

    /// Appends `(?, ?, …)`: an `IN` list of text values (at most [`MAX_ROWS`] of them).
    pub fn in_list(&mut self, values: &[String]) -> &mut Self {
        self.push("(");
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.text(value.clone());
        }
        self.push(")")
    }

    /// Appends a text placeholder.
    pub fn text(&mut self, value: impl Into<String>) -> &mut Self {
        self.bind(Arg::Text(value.into()))
    }

    /// Appends an integer placeholder.
    pub fn int(&mut self, value: i64) -> &mut Self {
        self.bind(Arg::Int(value))
    }

    /// The query, ready to run.
    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut query = sqlx::query(&self.text);
        for arg in &self.args {
            query = match arg {
                Arg::Text(v) => query.bind(v.as_str()),
                Arg::OptText(v) => query.bind(v.as_deref()),
                Arg::Int(v) => query.bind(*v),
                Arg::OptInt(v) => query.bind(*v),
            };
        }
        query
    }
}

/// Runs `head (…), (…) tail` over `rows`, as few statements as the placeholder limits allow.
pub async fn write_rows(
    conn: &mut sqlx::AnyConnection,
    dialect: Dialect,
    head: &str,
    rows: &[Vec<Arg>],
    tail: &str,
) -> Result<(), sqlx::Error> {
    let width = rows.first().map_or(1, Vec::len).max(1);
    let per_statement = (MAX_ARGS / width).clamp(1, MAX_ROWS);
    for chunk in rows.chunks(per_statement) {
        let mut sql = Sql::new(dialect, head);
        sql.rows(chunk).push(tail);
        sql.query().execute(&mut *conn).await?;
    }
    Ok(())
}
