//! A fresh database per test: a temporary SQLite file, or a new PostgreSQL database when `TEST_DATABASE_URL` is set.

use sqlx::Connection;

pub enum TestDb {
    Sqlite {
        path: std::path::PathBuf,
        url: String,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
    /// Another node's view of a database someone else owns (and drops).
    Shared {
        url: String,
        postgres: bool,
    },
    Detached,
}

impl TestDb {
    pub async fn create() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) => {
                let name = format!("vaidya_t_{}", uuid::Uuid::now_v7().simple());
                let mut conn = sqlx::PgConnection::connect(&admin_url).await.expect("TEST_DATABASE_URL answers");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                conn.close().await.ok();
                let url = with_database(&admin_url, &name);
                Self::Postgres { admin_url, name, url }
            }
            Err(_) => {
                let path = std::env::temp_dir().join(format!("vaidya-test-{}.db", uuid::Uuid::now_v7().simple()));
                let url = format!("sqlite://{}", path.display());
                Self::Sqlite { path, url }
            }
        }
    }

    pub fn detached() -> Self {
        Self::Detached
    }

    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } => url,
            Self::Postgres { url, .. } | Self::Shared { url, .. } => url,
            Self::Detached => panic!("detached test database"),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres { .. } | Self::Shared { postgres: true, .. })
    }

    /// The same database, for a second node; dropping it leaves the database alone.
    pub fn share(&self) -> Self {
        Self::Shared { url: self.url().to_owned(), postgres: self.is_postgres() }
    }
}

/// Replaces the database name of a PostgreSQL URL, keeping its query string.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            Self::Sqlite { path, .. } => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Self::Postgres { admin_url, name, .. } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; a thread of its own can block on the cleanup.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(async {
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                                .execute(&mut conn)
                                .await;
                        }
                    });
                })
                .join();
            }
            Self::Shared { .. } | Self::Detached => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(with_database("postgres://postgres@127.0.0.1:5432/test", "x"), "postgres://postgres@127.0.0.1:5432/x");
        assert_eq!(with_database("postgres://u@h/test?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
