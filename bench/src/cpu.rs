//! CPU time of processes, read from `/proc`, to show whether the server or the load generator had the cores.

use std::time::{Duration, Instant};

/// `/proc/PID/stat` counts in USER_HZ, which Linux fixes at 100 for user space.
const TICKS_PER_SEC: u64 = 100;

/// User plus system CPU time of a process so far.
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the numeric fields start after its closing parenthesis.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / TICKS_PER_SEC))
}

/// The one-minute load average, which shows how busy the machine was apart from the bench.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// The load average for a report header: `1.62`, or `?` when it cannot be read.
pub fn load_text(load: Option<f64>) -> String {
    load.map_or("?".into(), |l| format!("{l:.2}"))
}

/// The PostgreSQL backends serving `database` (their titles read `postgres: [CLUSTER: ]USER DATABASE ...`) and their
/// CPU time so far.
fn backends_cpu(database: &str) -> Vec<(u32, Duration)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let title = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let title = String::from_utf8_lossy(&title);
        title.strip_prefix("postgres: ")?.split_whitespace().any(|word| word == database).then_some(())?;
        Some((pid, process_cpu(pid)?))
    })
    .collect()
}

/// CPU use of the server, of its database's backends (PostgreSQL) and of this process over one workload.
pub struct Meter {
    server_pid: Option<u32>,
    started: Instant,
    server: Option<Duration>,
    bench: Option<Duration>,
    /// The database's name and its backends' CPU time at the start.
    database: Option<(String, Vec<(u32, Duration)>)>,
}

impl Meter {
    pub fn start(server_pid: Option<u32>) -> Self {
        Self {
            server_pid,
            started: Instant::now(),
            server: server_pid.and_then(process_cpu),
            bench: process_cpu(std::process::id()),
            database: None,
        }
    }

    /// Also meters the PostgreSQL backends serving `database` (a pool keeps them for the run; a backend that
    /// starts during it counts from zero, one that ends during it is lost, which the pool's idle timeout prevents).
    pub fn with_database(mut self, database: &str) -> Self {
        self.database = Some((database.to_owned(), backends_cpu(database)));
        self
    }

    /// CPU time used since `start` by the server and by the database's backends, if metered.
    pub fn used(&self) -> (Option<Duration>, Option<Duration>) {
        let server = since(self.server, self.server_pid);
        let database = self.database.as_ref().map(|(name, before)| {
            backends_cpu(name)
                .into_iter()
                .map(|(pid, now)| now.saturating_sub(before.iter().find(|(p, _)| *p == pid).map_or(Duration::ZERO, |(_, t)| *t)))
                .sum()
        });
        (server, database)
    }

    /// Cores used since `start`, e.g. `cpu: server 1.52, bench 0.41 cores`.
    pub fn summary(&self) -> String {
        let wall = self.started.elapsed().as_secs_f64();
        let cores = |used: Option<Duration>| match used {
            Some(used) if wall > 0.0 => format!("{:.2}", used.as_secs_f64() / wall),
            _ => "?".into(),
        };
        let bench = since(self.bench, Some(std::process::id()));
        format!("cpu: server {}, bench {} cores", cores(since(self.server, self.server_pid)), cores(bench))
    }
}

/// CPU time process `pid` used since it stood at `before`.
fn since(before: Option<Duration>, pid: Option<u32>) -> Option<Duration> {
    Some(pid.and_then(process_cpu)?.saturating_sub(before?))
}
