//! Building statements whose filters depend on the request, with every value bound as a parameter.

use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, FromRow};

#[derive(Clone, Debug)]
pub enum Arg {
    Text(String),
    Real(f64),
    Int(i64),
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

    fn bound<'q, O>(
        &self,
        mut q: sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments>,
    ) -> sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments> {
        for arg in &self.args {
            q = match arg {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Real(f) => q.bind(*f),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }

    pub async fn fetch_all<O>(&self, pool: &AnyPool) -> Result<Vec<O>, sqlx::Error>
    where
        O: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let q = sqlx::query_as::<Any, O>(sqlx::AssertSqlSafe(self.text.clone()));
        self.bound(q).fetch_all(pool).await
    }
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
