//! Closed-loop load: each connection sends requests back to back for a fixed time and times every answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::http::{Call, Conn, Error};

/// How long to run: a warm-up whose answers are dropped (connections, caches, planner), then the measured part.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub warmup: Duration,
    pub measure: Duration,
    /// Upper bound on requests over all connections, so no loop runs away whatever the clock does.
    pub max_requests: u64,
}

/// One kind of request and how to judge its answer.
pub trait Workload: Send + Sync + 'static {
    fn call(&self, rng: &mut StdRng) -> Call;

    /// `Err` when the answer is a failure; `Ok(Some(n))` when `inspect` asked for the number of items listed.
    fn check(&self, status: StatusCode, body: &[u8], inspect: bool) -> Result<Option<u64>, ()>;
}

/// What one run measured.
#[derive(Debug, Default)]
pub struct Sample {
    /// Latencies of successful measured requests, sorted, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    pub errors: u64,
    /// From the end of the warm-up to the last measured answer.
    pub elapsed: Duration,
    /// Items counted in inspected answers, and how many answers were inspected.
    pub items: u64,
    pub inspected: u64,
}

impl Sample {
    pub fn requests(&self) -> u64 {
        self.latencies_ns.len() as u64 + self.errors
    }

    pub fn per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.latencies_ns.len() as f64 / secs } else { 0.0 }
    }

    /// Nearest-rank percentile in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_ns.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.latencies_ns.len() as f64).ceil() as usize;
        self.latencies_ns[rank.clamp(1, self.latencies_ns.len()) - 1] as f64 / 1e6
    }

    pub fn mean_items(&self) -> f64 {
        if self.inspected == 0 { f64::NAN } else { self.items as f64 / self.inspected as f64 }
    }
}

/// Answers are inspected (parsed) one in this many, so the parsing does not take CPU from the server.
const INSPECT_EVERY: u64 = 8;

/// Runs `workload` over `connections` keep-alive connections for `window`.
pub async fn run<W: Workload>(addr: SocketAddr, connections: usize, window: Window, workload: Arc<W>) -> Result<Sample, Error> {
    let connections = connections.max(1);
    // Connect before the clock starts: connection set-up is not what is being measured.
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::open(addr).await?);
    }
    let measure_from = Instant::now() + window.warmup;
    let until = measure_from + window.measure;
    let cap = window.max_requests / connections as u64 + 1;
    let tasks: Vec<_> =
        conns.into_iter().map(|conn| tokio::spawn(one_connection(addr, conn, measure_from, until, cap, Arc::clone(&workload)))).collect();
    let mut total = Sample::default();
    let mut last = measure_from;
    for task in tasks {
        let (part, part_last) = task.await?;
        total.latencies_ns.extend(part.latencies_ns);
        total.errors += part.errors;
        total.items += part.items;
        total.inspected += part.inspected;
        last = last.max(part_last);
    }
    total.latencies_ns.sort_unstable();
    total.elapsed = last - measure_from;
    Ok(total)
}

async fn one_connection<W: Workload>(
    addr: SocketAddr,
    mut conn: Conn,
    measure_from: Instant,
    until: Instant,
    cap: u64,
    workload: Arc<W>,
) -> (Sample, Instant) {
    let mut rng = StdRng::from_entropy();
    let mut sample = Sample::default();
    let mut last = measure_from;
    let mut sent = 0u64;
    while sent < cap {
        let started = Instant::now();
        if started >= until {
            break;
        }
        sent += 1;
        let call = workload.call(&mut rng);
        let result = conn.send(&call).await;
        let finished = Instant::now();
        let measured = started >= measure_from;
        let ok = match &result {
            Ok((status, body)) => {
                let inspect = measured && sent % INSPECT_EVERY == 1;
                match workload.check(*status, body, inspect) {
                    Ok(items) => {
                        if let Some(n) = items {
                            sample.items += n;
                            sample.inspected += 1;
                        }
                        true
                    }
                    Err(()) => false,
                }
            }
            Err(_) => false,
        };
        if measured {
            last = finished;
            if ok {
                sample.latencies_ns.push((finished - started).as_nanos() as u64);
            } else {
                sample.errors += 1;
            }
        }
        if result.is_err() {
            // The connection is gone (or broken): open another, pausing so a down server is not spun on.
            tokio::time::sleep(Duration::from_millis(10)).await;
            match Conn::open(addr).await {
                Ok(fresh) => conn = fresh,
                Err(_) => continue,
            }
        }
    }
    (sample, last)
}
