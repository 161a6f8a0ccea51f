//! The registry run on one backend: seeds, runs each workload in turn and turns the samples into table rows.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;

use crate::RegistryArgs;
use crate::cpu::Meter;
use crate::http::Error;
use crate::load::{self, Window};
use crate::report::Row;
use crate::seed;
use crate::server::{Engine, Server};
use crate::workloads::{Me, NearbyPharmacies, register_patient};

/// Issue targets.
const SEARCH_P99_MS: f64 = 10.0;
const ME_PER_SEC: f64 = 10_000.0;

/// A hard ceiling on requests per workload, far above what 2 cores serve in the measured time.
const MAX_REQUESTS: u64 = 20_000_000;

pub async fn registry(
    engine: Engine,
    server: &Server,
    database_url: &str,
    args: &RegistryArgs,
    rng: &mut StdRng,
) -> Result<Vec<Row>, Error> {
    let (backend, addr, pid) = (engine.name(), server.addr, server.pid());
    let window = Window {
        warmup: Duration::from_secs(args.warmup_secs),
        measure: Duration::from_secs(args.duration_secs),
        max_requests: MAX_REQUESTS,
    };
    let (conns, latency_conns, login_loops) = (args.connections as usize, args.latency_connections as usize, args.login_loops as usize);
    let patient = register_patient(addr).await?;
    let me = Arc::new(Me::new(patient.bearer.clone()));
    let login = Arc::new(patient.login);
    let mut rows = Vec::new();

    eprintln!("[{backend}] seeding {} facilities", args.facilities);
    let (places, took) = seed::facilities(database_url, args.facilities as usize, None, rng).await?;
    eprintln!("[{backend}] seeded in {:.1} s; nearby-pharmacy search", took.as_secs_f64());
    let meter = Meter::start(pid);
    let search = load::run(addr, latency_conns, window, Arc::new(NearbyPharmacies { centres: Arc::new(places) })).await?;
    let p99 = search.percentile_ms(99.0);
    rows.push(
        Row::new(format!("pharmacy search ({} facilities)", args.facilities), backend, latency_conns, &search)
            .target(format!("p99 < {SEARCH_P99_MS} ms"), p99 < SEARCH_P99_MS)
            .note(format!("avg {:.1} items; seeded in {:.1} s; {}", search.mean_items(), took.as_secs_f64(), meter.summary())),
    );

    eprintln!("[{backend}] /me reads over {conns} connections");
    let meter = Meter::start(pid);
    let reads = load::run(addr, conns, window, Arc::clone(&me)).await?;
    let per_sec = reads.per_sec();
    rows.push(
        Row::new("/me reads", backend, conns, &reads)
            .target(format!(">= {ME_PER_SEC:.0} req/s"), per_sec >= ME_PER_SEC)
            .note(meter.summary()),
    );

    // One login at a time shows what a single Argon2id verification costs, the yardstick below.
    eprintln!("[{backend}] logins one at a time");
    let single = Window { warmup: Duration::from_millis(200), measure: Duration::from_secs(2), max_requests: 200 };
    let lone_login = load::run(addr, 1, single, Arc::clone(&login)).await?;
    let hash_ms = lone_login.percentile_ms(50.0);
    rows.push(Row::new("login, one at a time", backend, 1, &lone_login).note("one Argon2id verification each"));

    eprintln!("[{backend}] /me alone, then beside {login_loops} login loops");
    let meter = Meter::start(pid);
    let alone = load::run(addr, latency_conns, window, Arc::clone(&me)).await?;
    rows.push(Row::new("/me alone", backend, latency_conns, &alone).note(format!("baseline for the row below; {}", meter.summary())));
    let meter = Meter::start(pid);
    let (beside, logins) =
        tokio::join!(load::run(addr, latency_conns, window, Arc::clone(&me)), load::run(addr, login_loops, window, Arc::clone(&login)));
    let (beside, logins) = (beside?, logins?);
    let (p99_alone, p99_beside) = (alone.percentile_ms(99.0), beside.percentile_ms(99.0));
    // Were hashing done on an async worker, reads queued behind it would wait about a whole hash,
    // so p99 would reach the single-login time; off the workers it stays well below that.
    rows.push(
        Row::new("/me beside logins", backend, latency_conns, &beside)
            .target(format!("p99 < 1 hash ({hash_ms:.1} ms)"), p99_beside < hash_ms)
            .note(format!("p99 x{:.2} of alone; {:.1} logins/s; {}", p99_beside / p99_alone, logins.per_sec(), meter.summary())),
    );
    rows.push(Row::new("logins beside /me", backend, login_loops, &logins).note("the load on the row above"));
    Ok(rows)
}
