//! A change and everything that must commit with it (its audit event, the events it announces) as one statement on
//! PostgreSQL: data-modifying CTEs, each after the first done only when the first changed something. Every round trip
//! costs the server and PostgreSQL more than the rows it writes, so the hot paths write this way; SQLite has no
//! data-modifying CTEs, and there the callers run the same writes one after another.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, FromRow};

use crate::db::{Backend, Db};
use crate::sql::{Arg, Sql};

/// `WITH a AS (...), b AS (...) SELECT ...`, built up with every value bound as a parameter.
pub struct Batch {
    sql: Sql,
    ctes: usize,
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Batch {
    pub fn new() -> Self {
        Self { sql: Sql::new("WITH "), ctes: 0 }
    }

    /// Binds a value; returns its placeholder.
    pub fn arg(&mut self, value: impl Into<Arg>) -> String {
        self.sql.arg(value.into())
    }

    /// Adds `name AS (statement)`; `statement` is a data-modifying statement with placeholders from [`Batch::arg`].
    pub fn with(&mut self, name: &str, statement: &str) -> &mut Self {
        if self.ctes > 0 {
            self.sql.push(", ");
        }
        self.sql.push(name).push(" AS (").push(statement).push(")");
        self.ctes += 1;
        self
    }

    /// Runs the statement, ending in `select` over the CTEs, on `conn`: in the caller's transaction when the batch is
    /// one of several writes that must commit together, or on its own, when it is a transaction by itself (a single
    /// statement needs no BEGIN and COMMIT, two round trips saved).
    pub async fn fetch_all<O>(mut self, conn: &mut AnyConnection, select: &str) -> Result<Vec<O>, sqlx::Error>
    where
        O: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        self.sql.push(" ").push(select);
        self.sql.fetch_all_on(conn).await
    }
}

/// Whether `conn` takes a batch as one statement (PostgreSQL) or needs the writes one by one (SQLite).
pub fn one_statement(conn: &AnyConnection) -> bool {
    conn.backend_name() == "PostgreSQL"
}

/// Whether changes on `db` are written as one [`Batch`] statement (PostgreSQL); [`one_statement`] for a handle.
pub fn batches(db: &Db) -> bool {
    db.backend() == Backend::Postgres
}

/// The condition that makes a CTE depend on `guard`: true when the guard changed a row. Referring to the guard also
/// makes PostgreSQL run it first, so its row lock is taken before any other (the order the one-by-one writes take).
pub fn only_if(guard: Option<&str>) -> String {
    guard.map(|g| format!(" WHERE EXISTS (SELECT 1 FROM {g})")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctes_share_one_numbering() {
        let mut b = Batch::new();
        let a = b.arg("x");
        b.with("one", &format!("UPDATE t SET a = {a} RETURNING id"));
        let c = b.arg(7_i64);
        b.with("two", &format!("INSERT INTO u (c) SELECT {c}{}", only_if(Some("one"))));
        assert_eq!(
            b.sql.text(),
            "WITH one AS (UPDATE t SET a = $1 RETURNING id), two AS (INSERT INTO u (c) SELECT $2 WHERE EXISTS (SELECT 1 FROM one))"
        );
    }
}
