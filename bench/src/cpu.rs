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

/// CPU use of the server and of this process over one workload.
pub struct Meter {
    server_pid: Option<u32>,
    started: Instant,
    server: Option<Duration>,
    bench: Option<Duration>,
}

impl Meter {
    pub fn start(server_pid: Option<u32>) -> Self {
        Self { server_pid, started: Instant::now(), server: server_pid.and_then(process_cpu), bench: process_cpu(std::process::id()) }
    }

    /// Cores used since `start`, e.g. `cpu: server 1.52, bench 0.41 cores`.
    pub fn summary(&self) -> String {
        let wall = self.started.elapsed().as_secs_f64();
        let cores = |before: Option<Duration>, pid: Option<u32>| match (before, pid.and_then(process_cpu)) {
            (Some(a), Some(b)) if wall > 0.0 => format!("{:.2}", b.saturating_sub(a).as_secs_f64() / wall),
            _ => "?".into(),
        };
        format!("cpu: server {}, bench {} cores", cores(self.server, self.server_pid), cores(self.bench, Some(std::process::id())))
    }
}
