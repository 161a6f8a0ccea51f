//! The database handle: one query layer over SQLite (embedded default) or PostgreSQL, chosen by URL scheme.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};

use crate::lease::{Lease, Leases, TRUSTED_IDLE};

/// Which engine the URL named; a few statements differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum DbConfigError {
    #[error("the scheme `{0}:` is not supported: use sqlite://FILE or postgres://USER@HOST/DB")]
    UnsupportedScheme(String),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("database migrations failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

impl FromStr for Backend {
    type Err = DbConfigError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            let scheme = url.split(':').next().unwrap_or_default().to_owned();
            Err(DbConfigError::UnsupportedScheme(scheme))
        }
    }
}

/// Pools for reads and writes. SQLite allows one writer at a time, so its writes queue on a
/// one-connection pool instead of spinning on `SQLITE_BUSY`; PostgreSQL uses one pool for both.
#[derive(Clone, Debug)]
pub struct Db {
    read: AnyPool,
    write: AnyPool,
    /// Connections of the read pool lent to requests (half of it at most parked).
    leases: Leases,
    backend: Backend,
}

pub type Tx = Transaction<'static, Any>;

impl Db {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DbConfigError> {
        install_default_drivers();
        let backend: Backend = url.parse()?;
        match backend {
            Backend::Sqlite => {
                let url = sqlite_url(url);
                let write = sqlite_pool(&url, 1).await?;
                // Each SQLite connection is a thread of its own: on a small machine a few readers beat many.
                let cores = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(2);
                let read = sqlite_pool(&url, max_connections.clamp(2, (cores * 2).max(2))).await?;
                Ok(Self::new(read, write, backend))
            }
            Backend::Postgres => {
                // One direct attempt first: a pool only reports "timed out", this says why (refused, auth, no such database).
                let probe = tokio::time::timeout(Duration::from_secs(5), <sqlx::AnyConnection as sqlx::Connection>::connect(url)).await;
                match probe {
                    Ok(Ok(conn)) => drop(conn),
                    Ok(Err(err)) => return Err(DbConfigError::Connect(err)),
                    Err(_) => return Err(DbConfigError::Connect(sqlx::Error::PoolTimedOut)),
                }
                let pool = checked_when_idle(AnyPoolOptions::new())
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(url)
                    .await
                    .map_err(DbConfigError::Connect)?;
                Ok(Self::new(pool.clone(), pool, backend))
            }
        }
    }

    fn new(read: AnyPool, write: AnyPool, backend: Backend) -> Self {
        let leases = Leases::new(read.clone(), (read.options().get_max_connections() as usize / 2).max(1));
        Self { read, write, leases, backend }
    }

    /// A connection for one request's statements: parked again, not returned to the pool, when the lease is dropped.
    pub async fn lease(&self) -> Result<Lease, sqlx::Error> {
        self.leases.lease().await
    }

    /// Applies the schema; safe to run on every start and from several nodes at once.
    pub async fn migrate(&self) -> Result<(), DbConfigError> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator.run(&self.write).await.map_err(DbConfigError::Migrate)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool for statements that only read.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// The pool for single statements that write.
    pub fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// A write transaction; health data and its audit event commit in one of these.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        self.write.begin().await
    }

    /// A write transaction for a request that already holds `conn` (a reader): on PostgreSQL on that connection, so a
    /// request never waits for a second one; on SQLite on the one writer, as every write goes.
    pub async fn begin_on<'c>(&self, conn: &'c mut AnyConnection) -> Result<Transaction<'c, Any>, sqlx::Error> {
        match self.backend {
            Backend::Postgres => conn.begin().await,
            Backend::Sqlite => self.write.begin().await,
        }
    }

    /// Answers whether the database responds, for `/readyz`.
    pub async fn ping(&self) -> bool {
        let probe = sqlx::query("SELECT 1").execute(&self.read);
        matches!(tokio::time::timeout(Duration::from_secs(2), probe).await, Ok(Ok(_)))
    }

    pub async fn close(&self) {
        self.leases.close();
        self.read.close().await;
        self.write.close().await;
    }
}

/// Ensures the SQLite file is created when missing.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// By default the pool pings every connection it hands out, on top of the ping each one gets when it comes back (which
/// a [`Lease`] saves): a round trip per checkout, as many as a busy request's own queries. A connection that answered
/// within `TRUSTED_IDLE` is handed out as it is; one idle for longer (after a quiet spell, when a restart or an idle
/// timeout may have closed it) is still pinged first.
fn checked_when_idle(options: AnyPoolOptions) -> AnyPoolOptions {
    options.test_before_acquire(false).before_acquire(|conn, meta| {
        Box::pin(async move {
            if meta.idle_for >= TRUSTED_IDLE {
                conn.ping().await?;
            }
            Ok(true)
        })
    })
}

async fn sqlite_pool(url: &str, max: u32) -> Result<AnyPool, DbConfigError> {
    checked_when_idle(AnyPoolOptions::new())
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; NORMAL sync is durable across process crashes.
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(DbConfigError::Connect)
}

/// Milliseconds since the Unix epoch: the portable time column type.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Renders a millisecond timestamp as RFC 3339 UTC.
pub fn rfc3339(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Whether a database error is a unique-constraint violation, and on which column or constraint.
pub fn unique_violation(err: &sqlx::Error) -> Option<String> {
    let db_err = err.as_database_error()?;
    if db_err.is_unique_violation() {
        Some(db_err.constraint().map(str::to_owned).unwrap_or_else(|| db_err.message().to_owned()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_scheme() {
        assert_eq!("sqlite://x.db".parse::<Backend>().unwrap(), Backend::Sqlite);
        assert_eq!("postgres://u@h/d".parse::<Backend>().unwrap(), Backend::Postgres);
        let err = "mysql://h/d".parse::<Backend>().unwrap_err().to_string();
        assert!(err.contains("`mysql:`"), "{err}");
    }

    #[test]
    fn rfc3339_renders_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
