//! `vaidya-bench`: starts `vaidya serve` on a fresh database, loads it over loopback HTTP and prints the figures.
//!
//! From the workspace root, after `cargo build --release -p vaidya-web -p vaidya-bench`:
//! `target/release/vaidya-bench registry [--backend sqlite|postgres|both] [--duration-secs 10] ...`
//! `target/release/vaidya-bench consult [--backend sqlite|postgres|both] [--records 2000] ...`
//! `target/release/vaidya-bench pharmacy [--backend sqlite|postgres|both] [--pharmacies 30000] [--flows 10000] ...`
//! `target/release/vaidya-bench signal [--idle 10000] [--pairs 100] [--duration-secs 10] [--skip-peerjs] ...`
//! (`--help` lists every flag). It exits 0 when every target is met, 2 when one is missed, 1 on error.

mod consult;
mod cpu;
mod floor;
mod http;
mod load;
mod mem;
mod peerjs;
mod pharmacy;
mod relay;
mod report;
mod rxstamp;
mod scenarios;
mod seed;
mod server;
mod shield;
mod signal;
mod workloads;
mod wsclient;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::http::Error;
use crate::server::{Engine, Server};

#[derive(Parser, Debug)]
#[command(name = "vaidya-bench", about = "Starts vaidya on a fresh database and measures it over HTTP")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Registry figures: nearby-pharmacy search, authenticated `/me` reads, `/me` beside continuous logins.
    Registry(RegistryArgs),
    /// Signalling figures: `/ws/signal` against the PeerJS server (idle memory, relay throughput, latency), and two
    /// nodes through Redis.
    Signal(signal::SignalArgs),
    /// Consent figures: a doctor's consented-records query over a patient with 2,000 records, and what the consent
    /// check adds to one record read.
    Consult(consult::ConsultArgs),
    /// Pharmacy figures: nearest-pharmacy routing among 30,000 pharmacies, and whole prescribe-to-dispense flows.
    Pharmacy(pharmacy::PharmacyArgs),
    /// The bare relay `signal` starts as its floor (not a measurement of its own).
    #[command(hide = true)]
    FloorRelay(floor::FloorArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    Sqlite,
    Postgres,
    Both,
}

impl BackendChoice {
    /// The engines to measure, in order.
    pub fn engines(self) -> Vec<Engine> {
        match self {
            Self::Sqlite => vec![Engine::Sqlite],
            Self::Postgres => vec![Engine::Postgres],
            Self::Both => vec![Engine::Sqlite, Engine::Postgres],
        }
    }
}

#[derive(Args, Debug)]
struct RegistryArgs {
    /// Database engine(s) to measure.
    #[arg(long, value_enum, default_value = "both")]
    backend: BackendChoice,
    /// Facilities seeded before the search workload.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=2_000_000))]
    facilities: u32,
    /// Measured seconds of each workload.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    duration_secs: u64,
    /// Unmeasured seconds at the start of each workload.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=60))]
    warmup_secs: u64,
    /// Keep-alive connections of the `/me` throughput workload.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
    connections: u32,
    /// Connections of the latency workloads (search, `/me` with and without logins): enough to keep
    /// both cores busy without turning p99 into a measure of queue length.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    latency_connections: u32,
    /// Concurrent login loops running beside the `/me` reads.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    login_loops: u32,
    /// The `vaidya` binary (build it with `cargo build --release -p vaidya-web`).
    #[arg(long, default_value = "target/release/vaidya")]
    server_bin: PathBuf,
    /// A PostgreSQL URL allowed to CREATE and DROP databases; the bench makes its own and drops it after.
    #[arg(long, env = "VAIDYA_BENCH_POSTGRES_URL", default_value = crate::server::DEFAULT_POSTGRES_URL)]
    postgres_url: String,
    /// Pin the server to these CPUs (`taskset -c` list, e.g. `1`).
    #[arg(long)]
    server_cpu: Option<String>,
    /// Pin this load generator to these CPUs (`taskset -c` list, e.g. `0`).
    #[arg(long)]
    load_cpu: Option<String>,
    /// Seed of the random facilities and query points, for repeatable runs.
    #[arg(long)]
    seed: Option<u64>,
}

fn main() -> ExitCode {
    let command = Cli::parse().command;
    let (load_cpu, threads) = match &command {
        Command::Registry(args) => (args.load_cpu.clone(), None),
        Command::Signal(args) => (signal::cpus(&args.load_cpu).map(str::to_owned), Some(args.threads as usize)),
        Command::Consult(args) => (args.load_cpu.clone(), None),
        Command::Pharmacy(args) => (args.load_cpu.clone(), None),
        // Started pinned by `signal`.
        Command::FloorRelay(_) => (None, None),
    };
    // Pin before the runtime starts so every worker thread inherits the mask.
    if let Some(cpus) = &load_cpu
        && let Err(e) = pin_self(cpus)
    {
        eprintln!("vaidya-bench: {e}");
        return ExitCode::FAILURE;
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = threads {
        builder.worker_threads(threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vaidya-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match command {
        Command::Registry(args) => runtime.block_on(registry(args)),
        Command::Consult(args) => runtime.block_on(consult::run(args)),
        Command::Pharmacy(args) => runtime.block_on(pharmacy::run(args)),
        Command::FloorRelay(args) => runtime.block_on(floor::serve(args)),
        Command::Signal(args) => runtime.block_on(async {
            tokio::select! {
                result = signal::run(args) => result,
                _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
            }
        }),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        // Figures were printed but some target was missed.
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("vaidya-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn pin_self(cpus: &str) -> Result<(), Error> {
    let status = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run taskset: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("taskset -c {cpus} failed ({status})").into()) }
}

/// Runs every chosen backend in turn and prints the table; `Ok(false)` when a target was missed.
async fn registry(args: RegistryArgs) -> Result<bool, Error> {
    server::require_binary(&args.server_bin)?;
    let mut rng = match args.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_entropy(),
    };
    // Other processes on the machine share its cores; the header reports how busy it was.
    let load_before = cpu::load_average();
    let mut rows = Vec::new();
    for engine in args.backend.engines() {
        rows.extend(one_backend(engine, &args, &mut rng).await?);
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let header = format!(
        "vaidya-bench registry: {} facilities, {} s per workload after {} s warm-up; {cores} cores, server CPUs {}, load CPUs {}; \
         load average {} before the run",
        args.facilities,
        args.duration_secs,
        args.warmup_secs,
        args.server_cpu.as_deref().unwrap_or("any"),
        args.load_cpu.as_deref().unwrap_or("any"),
        cpu::load_text(load_before),
    );
    Ok(report::print_verdict(&header, &rows))
}

/// One backend: a fresh database, a server on it, the registry workloads.
async fn one_backend(engine: Engine, args: &RegistryArgs, rng: &mut StdRng) -> Result<Vec<report::Row>, Error> {
    let server = server::Fresh {
        engine,
        binary: &args.server_bin,
        postgres_url: &args.postgres_url,
        cpus: args.server_cpu.as_deref(),
        extra: Vec::new(),
    };
    server.run(async |server: &Server, url: String| scenarios::registry(engine, server, &url, args, rng).await).await
}
