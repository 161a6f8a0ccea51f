//! The server under test: a fresh database for it, the `vaidya serve` child process, and the clean-up of both.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rand::Rng;
use sqlx::{AnyConnection, Connection};
use tokio::process::{Child, Command};

use crate::http::{Call, Conn, Error};

/// PostgreSQL on this host, over its Unix socket, as a service beside its database would reach it: no TCP and no TLS
/// on the way. Pass a `postgres://host:port/...` URL to measure the network path instead.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@localhost/postgres?host=/var/run/postgresql";

/// Which engine a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A database made for one run and removed after it.
pub enum Database {
    Sqlite { file: PathBuf },
    Postgres { admin_url: String, name: String, url: String },
}

impl Database {
    pub async fn create(engine: Engine, postgres_admin_url: &str) -> Result<Self, Error> {
        let tag: u64 = rand::thread_rng().r#gen();
        match engine {
            Engine::Sqlite => {
                let file = std::env::temp_dir().join(format!("vaidya-bench-{}-{tag:016x}.db", std::process::id()));
                Ok(Self::Sqlite { file })
            }
            Engine::Postgres => {
                sqlx::any::install_default_drivers();
                // Only hex digits follow the prefix, so the name needs no quoting.
                let name = format!("vaidya_bench_{tag:016x}");
                let mut admin = AnyConnection::connect(postgres_admin_url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
                admin.close().await?;
                let url = replace_database(postgres_admin_url, &name)?;
                Ok(Self::Postgres { admin_url: postgres_admin_url.to_owned(), name, url })
            }
        }
    }

    pub fn url(&self) -> String {
        match self {
            Self::Sqlite { file } => format!("sqlite://{}", file.display()),
            Self::Postgres { url, .. } => url.clone(),
        }
    }

    /// Removes the database; called after the server has stopped.
    pub async fn drop_it(self) -> Result<(), Error> {
        match self {
            Self::Sqlite { file } => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut path = file.clone().into_os_string();
                    path.push(suffix);
                    let _ = std::fs::remove_file(path);
                }
                Ok(())
            }
            Self::Postgres { admin_url, name, .. } => {
                let mut admin = AnyConnection::connect(&admin_url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&mut admin).await?;
                admin.close().await?;
                Ok(())
            }
        }
    }
}

/// `postgres://user@host:port/old?opts` with `name` in place of `old`.
fn replace_database(url: &str, name: &str) -> Result<String, Error> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").ok_or("the PostgreSQL URL has no scheme")? + 3;
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    Ok(match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    })
}

/// Fails with what to do when the `vaidya` binary to measure has not been built.
pub fn require_binary(binary: &Path) -> Result<(), Error> {
    if binary.is_file() {
        Ok(())
    } else {
        Err(format!("{} not found: run `cargo build --release -p vaidya-web` or pass --server-bin", binary.display()).into())
    }
}

/// How to start `vaidya serve`.
pub struct Launch<'a> {
    pub binary: &'a Path,
    pub database_url: String,
    /// `taskset -c` CPU list to pin the server to, if any.
    pub cpus: Option<&'a str>,
    pub log_file: PathBuf,
    /// More `serve` flags (e.g. `--signal-rate 1000000`).
    pub extra: Vec<String>,
}

/// The running child; killed when stopped or dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub log_file: PathBuf,
}

/// A free loopback port: bind port 0, note what the kernel gave, release it for the child.
pub(crate) fn free_port() -> Result<SocketAddr, Error> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?)
}

/// `program`, run under `taskset -c CPUS` when pinned.
pub(crate) fn pinned_command(program: &Path, cpus: Option<&str>) -> Command {
    match cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpus).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// Starts `command` (named `what` in an error) with no input and its output in `log_file`; the child is killed if
/// dropped.
pub(crate) fn spawn_logged(mut command: Command, log_file: &Path, what: &str) -> Result<Child, Error> {
    let log = std::fs::File::create(log_file)?;
    command.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).kill_on_drop(true);
    command.spawn().map_err(|e| format!("cannot start {what}: {e}").into())
}

/// Polls `GET path` on a child server until it answers 200, failing early if the child exits.
pub(crate) async fn wait_ready(
    child: &mut Child,
    addr: SocketAddr,
    path: &str,
    limit: Duration,
    what: &str,
    log_file: &Path,
) -> Result<(), Error> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Err(format!("{what} exited ({status}); see {}", log_file.display()).into());
        }
        if let Ok(mut conn) = Conn::open(addr).await
            && let Ok((status, _)) = conn.send(&Call::get(path)).await
            && status.is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{what} was not ready within {limit:?}; see {}", log_file.display()).into())
}

impl Server {
    pub async fn start(launch: Launch<'_>) -> Result<Self, Error> {
        let addr = free_port()?;
        let mut command = pinned_command(launch.binary, launch.cpus);
        command
            .arg("serve")
            .args(["--listen", &addr.to_string(), "--database-url", &launch.database_url])
            // The login workload logs in thousands of times: lift the failure limits so nothing is throttled.
            .args(["--login-failures-per-account", "1000000", "--login-failures-per-address", "1000000"])
            .args(&launch.extra)
            .env_remove("REDIS_URL");
        let child = spawn_logged(command, &launch.log_file, &launch.binary.display().to_string())?;
        let mut server = Self { child, addr, log_file: launch.log_file };
        // Migrations run before the server listens, so `/readyz` answering 200 means it is ready.
        wait_ready(&mut server.child, server.addr, "/readyz", Duration::from_secs(60), "the server", &server.log_file).await?;
        Ok(server)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn stop(mut self) -> Result<(), Error> {
        self.child.kill().await?;
        Ok(())
    }
}

/// A server of the comparison that is not vaidya (PeerJS, the floor relay), as a child process: killed when stopped
/// or dropped, its log removed when stopped.
pub struct Baseline {
    pub child: Child,
    pub addr: SocketAddr,
    pub log_file: PathBuf,
}

impl Baseline {
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn stop(mut self) -> Result<(), Error> {
        self.child.kill().await?;
        let _ = std::fs::remove_file(&self.log_file);
        Ok(())
    }
}

/// A fresh database and a server on it for the length of one measurement; both are removed afterwards, even when
/// the measurement fails or the run is interrupted.
pub struct Fresh<'a> {
    pub engine: Engine,
    pub binary: &'a Path,
    pub postgres_url: &'a str,
    pub cpus: Option<&'a str>,
    pub extra: Vec<String>,
}

impl Fresh<'_> {
    pub async fn run<T>(self, measure: impl AsyncFnOnce(&Server, String) -> Result<T, Error>) -> Result<T, Error> {
        let name = self.engine.name();
        eprintln!("[{name}] creating a fresh database");
        let db = Database::create(self.engine, self.postgres_url).await?;
        let log_file = std::env::temp_dir().join(format!("vaidya-bench-{name}-{}.log", std::process::id()));
        let launch = Launch { binary: self.binary, database_url: db.url(), cpus: self.cpus, log_file: log_file.clone(), extra: self.extra };
        let result = tokio::select! {
            result = async {
                eprintln!("[{name}] starting {}", self.binary.display());
                let server = Server::start(launch).await?;
                let result = measure(&server, db.url()).await;
                server.stop().await?;
                result
            } => result,
            _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
        };
        let dropped = db.drop_it().await;
        match &result {
            Ok(_) => {
                let _ = std::fs::remove_file(&log_file);
            }
            Err(_) => eprintln!("[{name}] server log kept at {}", log_file.display()),
        }
        let value = result?;
        dropped.map_err(|e| format!("cannot drop the bench database: {e}"))?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced() {
        let f = |u| replace_database(u, "b").unwrap();
        assert_eq!(f("postgres://postgres@127.0.0.1:5432/postgres"), "postgres://postgres@127.0.0.1:5432/b");
        assert_eq!(f("postgres://u:p@h/db?sslmode=disable"), "postgres://u:p@h/b?sslmode=disable");
        assert_eq!(f("postgresql://h:5432"), "postgresql://h:5432/b");
        assert_eq!(f(DEFAULT_POSTGRES_URL), "postgres://postgres@localhost/b?host=/var/run/postgresql");
    }
}
