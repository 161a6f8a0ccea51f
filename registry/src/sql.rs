//! Building statements whose filters depend on the request, with every value bound as a parameter.

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AnyPool, FromRow};

#[derive(Clone, Debug)]
pub enum Arg {
    Text(String),
    Real(f64),
    Int(i64),
    /// NULL of a text column (PostgreSQL wants a typed NULL).
    NullText,
    /// NULL of an integer column.
    NullInt,
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<&String> for Arg {
    fn from(s: &String) -> Self {
        Self::Text(s.clone())
    }
}

impl From<Option<&str>> for Arg {
    fn from(s: Option<&str>) -> Self {
        s.map_or(Self::NullText, Self::from)
    }
}

impl From<Option<String>> for Arg {
    fn from(s: Option<String>) -> Self {
        s.map_or(Self::NullText, Self::Text)
    }
}

impl From<&Option<String>> for Arg {
    fn from(s: &Option<String>) -> Self {
        s.as_deref().into()
    }
}

impl From<i64> for Arg {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

impl From<Option<i64>> for Arg {
    fn from(i: Option<i64>) -> Self {
        i.map_or(Self::NullInt, Self::Int)
    }
}

impl From<f64> for Arg {
    fn from(f: f64) -> Self {
        Self::Real(f)
    }
}

/// SQL text plus its arguments; values only ever enter as `$n` placeholders.
#[derive(Default, Debug)]
pub struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Self { text: text.to_owned(), args: Vec::new() }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Adds an argument and returns its placeholder.
    pub fn arg(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub async fn fetch_all<O>(&self, pool: &AnyPool) -> Result<Vec<O>, sqlx::Error>
    where
        O: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let q = sqlx::query_as::<Any, O>(sqlx::AssertSqlSafe(self.text.clone()));
        bound(q, self.args.iter().cloned()).fetch_all(pool).await
    }

    /// Runs the statement on one connection, handing its values over rather than copying them: a batch may carry a
    /// whole FHIR document.
    pub async fn fetch_all_on<O>(self, conn: &mut AnyConnection) -> Result<Vec<O>, sqlx::Error>
    where
        O: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let q = sqlx::query_as::<Any, O>(sqlx::AssertSqlSafe(self.text));
        bound(q, self.args).fetch_all(conn).await
    }
}

fn bound<'q, O>(
    mut q: sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments>,
    args: impl IntoIterator<Item = Arg>,
) -> sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments> {
    for arg in args {
        q = match arg {
            Arg::Text(s) => q.bind(s),
            Arg::Real(f) => q.bind(f),
            Arg::Int(i) => q.bind(i),
            Arg::NullText => q.bind(None::<String>),
            Arg::NullInt => q.bind(None::<i64>),
        };
    }
    q
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_in_order() {
        let mut sql = Sql::new("SELECT 1 WHERE a = ");
        let p1 = sql.arg(Arg::Int(1));
        sql.push(&p1).push(" AND b = ");
        let p2 = sql.arg(Arg::Text("x".into()));
        sql.push(&p2);
        assert_eq!(sql.text(), "SELECT 1 WHERE a = $1 AND b = $2");
        assert_eq!(like_escape("50%_a\\"), "50\\%\\_a\\\\");
    }
}
