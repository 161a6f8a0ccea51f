//! The signalling run: vaidya's `/ws/signal` and the PeerJS server measured in turn, on the same CPUs and with the
//! same clients — memory per idle socket, closed-loop relay throughput, one-way latency at a fixed rate — then two
//! vaidya nodes through Redis; printed as a vaidya / PeerJS table against the issue's targets. The relay workloads
//! also run on a bare relay ([`crate::floor`]), whose figures show what the machine allows any server on that core.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use futures::{SinkExt, StreamExt};
use rand::Rng;
use sqlx::{AnyConnection, Connection};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use vaidya_registry::auth::{SigningKeys, TokenService};

use crate::cpu::{self, Meter};
use crate::floor;
use crate::http::Error;
use crate::load::Window;
use crate::mem::{self, Rss};
use crate::peerjs;
use crate::relay::{self, Outcome, Pacing};
use crate::report::{self, Comparison};
use crate::server::{Baseline, Database, Engine, Launch, Server};
use crate::shield::Shield;
use crate::wsclient::{Endpoints, Kind, Vaidya, Ws, peerjs_open};

/// PeerJS memory per idle connection measured elsewhere, used as the bar when PeerJS is skipped.
const PEERJS_REFERENCE_KIB: f64 = 7.4;
const THROUGHPUT_RATIO: f64 = 1.5;
const LATENCY_RATIO: f64 = 0.5;
const REDIS_P99_MS: f64 = 10.0;
/// Ceiling on messages per workload whatever the clock does.
const MAX_MESSAGES: u64 = 50_000_000;
/// Sockets opened at once while building the idle set and the pairs.
const CONNECT_CONCURRENCY: usize = 128;
/// How long the idle set sits before its memory is read, so in-flight set-up has finished.
const SETTLE: Duration = Duration::from_secs(3);
/// A PeerJS client sends HEARTBEAT this often (the browser library's default).
const PEERJS_HEARTBEAT: Duration = Duration::from_secs(5);

#[derive(Args, Debug)]
pub struct SignalArgs {
    /// Idle sockets held open for the memory figure (vaidya: rooms of two doctors; PeerJS: one id each).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(2..=60_000))]
    idle: u32,
    /// Sender/receiver pairs of the relay workloads (vaidya: a room of two doctors each).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=5_000))]
    pairs: u32,
    /// Messages in flight per pair in the closed-loop throughput workload.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    in_flight: u32,
    /// Total messages per second of the open-loop latency workload.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    rate: u32,
    /// Total messages per second between two vaidya nodes through Redis.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    redis_rate: u32,
    /// Measured seconds of each relay workload.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    duration_secs: u64,
    /// Rounds the latency workload is split into, taken in turn by vaidya and PeerJS (both running), so a spell of
    /// noise on the machine falls on both rather than on whichever ran then.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    latency_rounds: u32,
    /// Unmeasured seconds at the start of each relay workload.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=60))]
    warmup_secs: u64,
    /// Filler bytes in each relayed message besides its stamp.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(0..=60_000))]
    payload_bytes: u32,
    /// Measure vaidya only (memory is then judged against PeerJS's 7.4 KiB measured elsewhere).
    #[arg(long)]
    skip_peerjs: bool,
    /// Leave out the two-node run through Redis.
    #[arg(long)]
    skip_redis: bool,
    /// The `vaidya` binary (build it with `cargo build --release -p vaidya-web`).
    #[arg(long, default_value = "target/release/vaidya")]
    server_bin: PathBuf,
    /// The `node` binary that runs PeerJS.
    #[arg(long, default_value = "node")]
    node_bin: PathBuf,
    /// PeerJS's command-line entry point (`npm ci --prefix bench/peerjs` installs it).
    #[arg(long, default_value = "bench/peerjs/node_modules/peer/dist/bin/peerjs.js")]
    peerjs_script: PathBuf,
    /// Redis shared by the two nodes; keys go under a prefix unique to the run.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// A PostgreSQL URL allowed to CREATE and DROP databases (the two nodes share one made for the run).
    #[arg(long, env = "VAIDYA_BENCH_POSTGRES_URL", default_value = crate::server::DEFAULT_POSTGRES_URL)]
    postgres_url: String,
    /// CPUs of the servers (`taskset -c` list); `none` leaves them unpinned.
    #[arg(long, default_value = "0")]
    server_cpu: String,
    /// CPUs of this load generator; `none` leaves it unpinned.
    #[arg(long, default_value = "1")]
    pub load_cpu: String,
    /// Leave the machine's other threads where they are and its cores free to halt, rather than shield the servers'
    /// CPUs for the run (see the `shield` module).
    #[arg(long)]
    no_shield: bool,
    /// Worker threads of the load generator (one per load CPU is best).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: u32,
}

/// `None` for an unpinned process.
pub fn cpus(list: &str) -> Option<&str> {
    (!list.is_empty() && list != "none").then_some(list)
}

/// Idle-socket memory of one server.
struct Idle {
    open: usize,
    failed: usize,
    before: Rss,
    after: Rss,
}

impl Idle {
    fn per_conn(&self, pick: fn(&Rss) -> u64) -> f64 {
        (pick(&self.after) as f64 - pick(&self.before) as f64) / self.open.max(1) as f64
    }
}

/// The relay workloads of one server.
#[derive(Default)]
struct Relay {
    throughput: Outcome,
    throughput_cpu: String,
    latency: Outcome,
    latency_cpu: String,
    /// Each latency round's own p99, in ms.
    round_p99_ms: Vec<f64>,
    rss_after_kib: u64,
}

impl Relay {
    /// The median of the rounds' p99s: unlike the p99 of all rounds together, it does not follow the one or two
    /// rounds a stall of the machine happened to fall in.
    fn median_round_p99_ms(&self) -> f64 {
        let mut p99s = self.round_p99_ms.clone();
        p99s.sort_by(f64::total_cmp);
        match p99s.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => p99s[n / 2],
            n => (p99s[n / 2 - 1] + p99s[n / 2]) / 2.0,
        }
    }
}

/// Everything measured of one server.
struct Figures {
    idle: Idle,
    relay: Relay,
}

fn window(args: &SignalArgs) -> Window {
    Window { warmup: Duration::from_secs(args.warmup_secs), measure: Duration::from_secs(args.duration_secs), max_requests: MAX_MESSAGES }
}

/// Runs everything and prints the table; `Ok(false)` when a target was missed.
pub async fn run(args: SignalArgs) -> Result<bool, Error> {
    crate::server::require_binary(&args.server_bin)?;
    // The bench holds every idle socket, and the servers (which inherit the limit) the other ends.
    mem::ensure_open_files(u64::from(args.idle) + 4096)?;
    let load_before = cpu::load_average();
    let tag = format!("{:08x}", rand::thread_rng().r#gen::<u32>());
    let shield = match (cpus(&args.server_cpu), cpus(&args.load_cpu)) {
        (Some(_), Some(load)) if !args.no_shield => Some(Shield::raise(load)),
        _ => None,
    };
    let shielded = match &shield {
        Some(s) => format!(
            "{} (not for the two-node run), idle cores {}",
            s.summary(),
            if s.polls_when_idle() { "polling (cpu_dma_latency 0)" } else { "halting (cpu_dma_latency not writable)" }
        ),
        None => "other threads and idle states left as they were".to_owned(),
    };

    let kinds: &[Kind] = if args.skip_peerjs { &[Kind::Vaidya] } else { &[Kind::Vaidya, Kind::PeerJs] };
    let mut idles = Vec::new();
    for &kind in kinds {
        let server = Running::start(&args, kind, &tag, "idle").await?;
        let idle = idle(&args, kind, &server, &tag).await;
        server.stop().await?;
        idles.push(idle?);
    }
    let mut servers = Vec::new();
    for &kind in kinds.iter().chain(&[Kind::Floor]) {
        match Running::start(&args, kind, &tag, "relay").await {
            Ok(server) => servers.push((kind, server)),
            Err(e) => {
                stop_all(servers).await;
                return Err(e);
            }
        }
    }
    let relays = relay_workloads(&args, &servers, &tag).await;
    stop_all(servers).await;
    let mut relays = relays?;
    let floor = relays.pop().ok_or("no figures for the floor relay")?;
    let mut figures = idles.into_iter().zip(relays).map(|(idle, relay)| Figures { idle, relay });
    let vaidya = figures.next().ok_or("no figures for vaidya")?;
    let peerjs = figures.next();
    // The two nodes share Redis and PostgreSQL with the machine as it is: those services would sit on the load core.
    drop(shield);
    let redis = if args.skip_redis { None } else { Some(two_nodes(&args, &tag).await?) };
    let load_after = cpu::load_average();

    let rows = rows(&args, &vaidya, peerjs.as_ref(), &floor, redis.as_ref());
    // All cores of the machine (this process is pinned, so its own parallelism would say 1).
    let cores = std::fs::read_to_string("/proc/cpuinfo").map_or(0, |c| c.lines().filter(|l| l.starts_with("processor")).count());
    println!();
    println!(
        "vaidya-bench signal: {} idle sockets; {} pairs, {} s per relay workload after {} s warm-up (latency in {} rounds taken \
         in turn), {} filler bytes per message; {cores} cores, server CPUs {}, load CPUs {} ({} threads), {shielded}; load average {} before, {} after",
        args.idle,
        args.pairs,
        args.duration_secs,
        args.warmup_secs,
        args.latency_rounds,
        args.payload_bytes,
        args.server_cpu,
        args.load_cpu,
        args.threads,
        cpu::load_text(load_before),
        cpu::load_text(load_after),
    );
    println!();
    print!("{}", report::comparison_table(&rows));
    Ok(rows.iter().all(|r| r.pass != Some(false)))
}

/// The table: vaidya against PeerJS, with the floor relay's figures beside them where it ran the same workload.
fn rows(args: &SignalArgs, v: &Figures, p: Option<&Figures>, floor: &Relay, redis: Option<&(Outcome, String)>) -> Vec<Comparison> {
    let mut rows = Vec::new();
    let idle_note = |f: &Figures| {
        format!("{} open, {} failed; VmRSS {}->{} KiB", f.idle.open, f.idle.failed, f.idle.before.total_kib, f.idle.after.total_kib)
    };
    let rss = v.idle.per_conn(|r| r.total_kib);
    let p_rss = p.map(|p| p.idle.per_conn(|r| r.total_kib));
    let bar = p_rss.unwrap_or(PEERJS_REFERENCE_KIB);
    let mut note = format!("vaidya {}", idle_note(v));
    if let Some(p) = p {
        note.push_str(&format!("; PeerJS {}", idle_note(p)));
    } else {
        note.push_str(&format!("; PeerJS skipped: bar is {PEERJS_REFERENCE_KIB} KiB measured elsewhere"));
    }
    note.push_str(&format!("; goal (<= half) {}", if rss <= bar / 2.0 { "met" } else { "not met" }));
    let ok = v.idle.failed == 0 && p.is_none_or(|p| p.idle.failed == 0);
    rows.push(
        Comparison::new(format!("memory per idle socket, VmRSS ({} sockets)", args.idle), "KiB", rss, p_rss)
            .target("<= PeerJS", Some(ok && rss <= bar))
            .note(note),
    );
    rows.push(
        Comparison::new(
            "memory per idle socket, RssAnon",
            "KiB",
            v.idle.per_conn(|r| r.anon_kib),
            p.map(|p| p.idle.per_conn(|r| r.anon_kib)),
        )
        .note("anonymous pages only (heap, stacks), without the mapped binary"),
    );

    let relay_note = |f: &Figures| {
        format!(
            "{} sent, {} lost, {} errors, p50 {:.2} / p99 {:.2} ms, {}",
            f.relay.throughput.sent,
            f.relay.throughput.lost,
            f.relay.throughput.error_frames,
            f.relay.throughput.sample.percentile_ms(50.0),
            f.relay.throughput.sample.percentile_ms(99.0),
            f.relay.throughput_cpu
        )
    };
    let tput = v.relay.throughput.sample.per_sec();
    let p_tput = p.map(|p| p.relay.throughput.sample.per_sec());
    let mut note = format!("vaidya: {}", relay_note(v));
    if let Some(p) = p {
        note.push_str(&format!("; PeerJS: {}", relay_note(p)));
    }
    let clean = |o: &Outcome| o.lost == 0 && o.error_frames == 0;
    rows.push(
        Comparison::new(format!("relay throughput ({} pairs x {} in flight)", args.pairs, args.in_flight), "msg/s", tput, p_tput)
            .target(format!(">= {THROUGHPUT_RATIO}x PeerJS"), p_tput.map(|pt| clean(&v.relay.throughput) && tput >= THROUGHPUT_RATIO * pt))
            .floor(floor.throughput.sample.per_sec())
            .note(note),
    );

    let lat_note = |f: &Figures| {
        format!(
            "{:.0} msg/s delivered, {} sent, {} lost, {} errors, {}",
            f.relay.latency.sample.per_sec(),
            f.relay.latency.sent,
            f.relay.latency.lost,
            f.relay.latency.error_frames,
            f.relay.latency_cpu
        )
    };
    let lat = |f: &Figures, q: f64| f.relay.latency.sample.percentile_ms(q);
    rows.push(
        Comparison::new(format!("one-way latency p50 at {} msg/s", args.rate), "ms", lat(v, 50.0), p.map(|p| lat(p, 50.0)))
            .floor(floor.latency.sample.percentile_ms(50.0)),
    );
    let p99 = lat(v, 99.0);
    let p_p99 = p.map(|p| lat(p, 99.0));
    let mut note = format!("vaidya: {}", lat_note(v));
    if let Some(p) = p {
        note.push_str(&format!("; PeerJS: {}", lat_note(p)));
    }
    let floor_p99 = floor.latency.sample.percentile_ms(99.0);
    note.push_str(&format!(
        "; floor: {:.0} msg/s delivered, {} lost, {}; median of the {} rounds' p99: vaidya {:.2}",
        floor.latency.sample.per_sec(),
        floor.latency.lost,
        floor.latency_cpu,
        args.latency_rounds,
        v.relay.median_round_p99_ms(),
    ));
    if let Some(p) = p {
        note.push_str(&format!(", PeerJS {:.2}", p.relay.median_round_p99_ms()));
    }
    note.push_str(&format!(", floor {:.2} ms", floor.median_round_p99_ms()));
    rows.push(
        Comparison::new(format!("one-way latency p99 at {} msg/s", args.rate), "ms", p99, p_p99)
            .target(format!("<= {LATENCY_RATIO}x PeerJS"), p_p99.map(|pp| clean(&v.relay.latency) && p99 <= LATENCY_RATIO * pp))
            .floor(floor_p99)
            .note(note),
    );
    let rss_note = match p {
        Some(p) => format!("after both relay workloads; PeerJS {} KiB", p.relay.rss_after_kib),
        None => "after both relay workloads".into(),
    };
    rows.push(
        Comparison::new("server VmRSS after relay", "KiB", v.relay.rss_after_kib as f64, p.map(|p| p.relay.rss_after_kib as f64))
            .note(rss_note),
    );

    if let Some((o, cpu)) = redis {
        rows.push(Comparison::new(
            format!("2 nodes via Redis: p50 at {} msg/s", args.redis_rate),
            "ms",
            o.sample.percentile_ms(50.0),
            None,
        ));
        let p99 = o.sample.percentile_ms(99.0);
        rows.push(
            Comparison::new(format!("2 nodes via Redis: p99 at {} msg/s", args.redis_rate), "ms", p99, None)
                .target(format!("< {REDIS_P99_MS} ms"), Some(clean(o) && p99 < REDIS_P99_MS))
                .note(format!(
                    "sender on node 1, receiver on node 2; {:.0} msg/s delivered, {} sent, {} lost, {} errors, {cpu}",
                    o.sample.per_sec(),
                    o.sent,
                    o.lost,
                    o.error_frames
                )),
        );
    }
    rows
}

/// A server under test: vaidya on its own fresh SQLite file, or PeerJS or the floor relay (`kind`).
enum Running {
    Vaidya { server: Server, db: Database, node: Vaidya },
    Baseline { kind: Kind, server: Baseline },
}

impl Running {
    async fn start(args: &SignalArgs, kind: Kind, tag: &str, phase: &str) -> Result<Self, Error> {
        let log_file = std::env::temp_dir().join(format!("vaidya-bench-signal-{}-{phase}-{tag}.log", kind.name()));
        eprintln!("[{}] starting for the {phase} workload", kind.name());
        match kind {
            Kind::Vaidya => {
                let db = Database::create(Engine::Sqlite, &args.postgres_url).await?;
                match start_vaidya(args, &db, log_file, Vec::new()).await {
                    Ok((server, node)) => Ok(Self::Vaidya { server, db, node }),
                    Err(e) => {
                        let _ = db.drop_it().await;
                        Err(e)
                    }
                }
            }
            Kind::PeerJs => {
                let launch = peerjs::Launch { node: &args.node_bin, script: &args.peerjs_script, cpus: cpus(&args.server_cpu), log_file };
                Ok(Self::Baseline { kind, server: peerjs::start(launch).await? })
            }
            Kind::Floor => Ok(Self::Baseline { kind, server: floor::start(cpus(&args.server_cpu), log_file).await? }),
        }
    }

    fn pid(&self) -> Option<u32> {
        match self {
            Self::Vaidya { server, .. } => server.pid(),
            Self::Baseline { server, .. } => server.pid(),
        }
    }

    fn endpoints(&self) -> Endpoints {
        match self {
            Self::Vaidya { node, .. } => Endpoints::Vaidya { sender: node.clone(), receiver: node.clone() },
            Self::Baseline { kind, server } => Endpoints::PeerJs { addr: server.addr, kind: *kind },
        }
    }

    async fn stop(self) -> Result<(), Error> {
        match self {
            Self::Vaidya { server, db, .. } => {
                let log = server.log_file.clone();
                server.stop().await?;
                let _ = std::fs::remove_file(log);
                db.drop_it().await
            }
            Self::Baseline { server, .. } => server.stop().await,
        }
    }
}

/// Starts `vaidya serve` on `db` with the per-socket rate limit lifted, and reads the key room tokens are signed with.
async fn start_vaidya(args: &SignalArgs, db: &Database, log_file: PathBuf, extra: Vec<String>) -> Result<(Server, Vaidya), Error> {
    let mut flags: Vec<String> = ["--signal-rate", "1000000", "--log", "warn"].map(String::from).into();
    flags.extend(extra);
    let launch = Launch { binary: &args.server_bin, database_url: db.url(), cpus: cpus(&args.server_cpu), log_file, extra: flags };
    let server = Server::start(launch).await?;
    let seed = signing_seed(&db.url()).await?;
    let tokens = Arc::new(TokenService::new(SigningKeys::from_seed(&seed), 900, 3600));
    let node = Vaidya { addr: server.addr, tokens };
    Ok((server, node))
}

/// The Ed25519 seed the server created at start (`server_keys.jwt_ed25519_seed`, base64 of 32 bytes).
async fn signing_seed(database_url: &str) -> Result<Vec<u8>, Error> {
    use base64::Engine as _;
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(database_url).await?;
    let stored: String = sqlx::query_scalar("SELECT value FROM server_keys WHERE name = 'jwt_ed25519_seed'").fetch_one(&mut conn).await?;
    conn.close().await?;
    let seed = base64::engine::general_purpose::STANDARD.decode(stored)?;
    if seed.len() != 32 {
        return Err(format!("the signing seed has {} bytes, not 32", seed.len()).into());
    }
    Ok(seed)
}

/// Stops every server, reporting (not returning) a failure to stop: the first error is the one to show.
async fn stop_all(servers: Vec<(Kind, Running)>) {
    for (kind, server) in servers {
        if let Err(e) = server.stop().await {
            eprintln!("[{}] did not stop cleanly: {e}", kind.name());
        }
    }
}

/// Opens `args.idle` sockets, each joined (vaidya) or registered (PeerJS) and kept answering pings, and reads the
/// server's resident memory before and after.
async fn idle(args: &SignalArgs, kind: Kind, server: &Running, tag: &str) -> Result<Idle, Error> {
    let pid = server.pid().ok_or("the server has no pid")?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = mem::rss(pid).ok_or("cannot read the server's memory")?;
    eprintln!("[{}] opening {} idle sockets (VmRSS {} KiB before)", kind.name(), args.idle, before.total_kib);
    let (stop_tx, stop_rx) = watch::channel(false);
    let endpoints = server.endpoints();
    let opened = futures::stream::iter(0..args.idle)
        .map(|i| {
            let endpoints = endpoints.clone();
            async move {
                match &endpoints {
                    // Rooms of two doctors, as in a consult.
                    Endpoints::Vaidya { sender, .. } => {
                        sender.join(&format!("idle-{tag}-{}", i / 2), &format!("idle-{tag}-{i}")).await.map(|(ws, _)| ws)
                    }
                    Endpoints::PeerJs { addr, .. } => peerjs_open(*addr, &format!("idle-{tag}-{i}")).await,
                }
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut holders = Vec::new();
    let mut failed = 0;
    let mut first_error = None;
    for result in opened {
        match result {
            Ok(ws) => holders.push(tokio::spawn(hold(ws, kind, stop_rx.clone()))),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    if let Some(e) = first_error {
        eprintln!("[{}] {failed} sockets failed to open; first: {e}", kind.name());
    }
    tokio::time::sleep(SETTLE).await;
    let after = mem::rss(pid).ok_or("cannot read the server's memory")?;
    let _ = stop_tx.send(true);
    let mut dropped = 0;
    for holder in holders.drain(..) {
        dropped += usize::from(!holder.await?);
    }
    let open = (args.idle as usize).saturating_sub(failed);
    eprintln!("[{}] {open} idle sockets: VmRSS {} KiB after; {dropped} dropped while held", kind.name(), after.total_kib);
    Ok(Idle { open, failed: failed + dropped, before, after })
}

/// Keeps one idle socket alive (reading, so pings are answered; PeerJS clients also send HEARTBEAT) until stopped;
/// `false` if the server closed it first.
async fn hold(mut ws: Ws, kind: Kind, mut stop: watch::Receiver<bool>) -> bool {
    let mut heartbeat = tokio::time::interval(PEERJS_HEARTBEAT);
    heartbeat.tick().await;
    let alive = loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(_)) => {}
                _ => break false,
            },
            _ = heartbeat.tick(), if kind == Kind::PeerJs => {
                if ws.send(Message::text(r#"{"type":"HEARTBEAT"}"#)).await.is_err() {
                    break false;
                }
            }
            _ = stop.changed() => break true,
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    alive
}

/// Builds `args.pairs` pairs on `endpoints`.
async fn pairs(args: &SignalArgs, endpoints: &Endpoints, prefix: &str) -> Result<Vec<crate::wsclient::Pair>, Error> {
    futures::stream::iter(0..args.pairs)
        .map(|i| {
            let endpoints = endpoints.clone();
            async move { endpoints.pair(&format!("{prefix}-{i}")).await }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Closed-loop throughput on each server in turn, then open-loop latency in rounds that alternate between the servers
/// (all of them running throughout, the idle ones costing nothing); every workload and round on fresh pairs.
async fn relay_workloads(args: &SignalArgs, servers: &[(Kind, Running)], tag: &str) -> Result<Vec<Relay>, Error> {
    let payload = args.payload_bytes as usize;
    let mut relays = Vec::new();
    for (kind, server) in servers {
        eprintln!("[{}] relay throughput: {} pairs, {} in flight each", kind.name(), args.pairs, args.in_flight);
        let set = pairs(args, &server.endpoints(), &format!("tput-{tag}")).await?;
        let meter = Meter::start(server.pid());
        let throughput = relay::run(set, Pacing::Closed { in_flight: args.in_flight as usize }, window(args), payload).await?;
        eprintln!("[{}] {:.0} msg/s", kind.name(), throughput.sample.per_sec());
        relays.push(Relay { throughput, throughput_cpu: meter.summary(), ..Relay::default() });
    }
    let rounds = args.latency_rounds;
    let round_window = Window { measure: Duration::from_secs_f64(args.duration_secs as f64 / f64::from(rounds)), ..window(args) };
    for round in 0..rounds {
        for ((kind, server), relay) in servers.iter().zip(&mut relays) {
            eprintln!("[{}] latency at {} msg/s, round {} of {rounds}", kind.name(), args.rate, round + 1);
            let set = pairs(args, &server.endpoints(), &format!("lat{round}-{tag}")).await?;
            let meter = Meter::start(server.pid());
            let outcome = relay::run(set, Pacing::Open { per_sec: f64::from(args.rate) }, round_window, payload).await?;
            let q = |p| outcome.sample.percentile_ms(p);
            eprintln!("[{}] p50 {:.2} / p90 {:.2} / p99 {:.2} / p99.9 {:.2} ms", kind.name(), q(50.0), q(90.0), q(99.0), q(99.9));
            relay.round_p99_ms.push(q(99.0));
            relay.latency.absorb(outcome);
            relay.latency_cpu = meter.summary();
        }
    }
    for ((kind, server), relay) in servers.iter().zip(&mut relays) {
        relay.latency.sample.latencies_ns.sort_unstable();
        eprintln!("[{}] p99 {:.2} ms over {rounds} rounds", kind.name(), relay.latency.sample.percentile_ms(99.0));
        relay.rss_after_kib = server.pid().and_then(mem::rss).map_or(0, |r| r.total_kib);
    }
    Ok(relays)
}

/// Two vaidya nodes on one fresh PostgreSQL database and Redis: senders on node 1, receivers on node 2.
async fn two_nodes(args: &SignalArgs, tag: &str) -> Result<(Outcome, String), Error> {
    eprintln!("[vaidya x2] creating a PostgreSQL database; Redis at {}", args.redis_url);
    let db = Database::create(Engine::Postgres, &args.postgres_url).await?;
    let result = two_nodes_on(args, tag, &db).await;
    let dropped = db.drop_it().await;
    let result = result?;
    dropped.map_err(|e| format!("cannot drop the bench database: {e}"))?;
    Ok(result)
}

async fn two_nodes_on(args: &SignalArgs, tag: &str, db: &Database) -> Result<(Outcome, String), Error> {
    let redis = vec!["--redis-url".to_owned(), args.redis_url.clone(), "--redis-prefix".to_owned(), format!("vaidya-bench-{tag}:")];
    let log = |n: u32| std::env::temp_dir().join(format!("vaidya-bench-signal-node{n}-{tag}.log"));
    let (one, node1) = start_vaidya(args, db, log(1), redis.clone()).await?;
    let (two, node2) = match start_vaidya(args, db, log(2), redis).await {
        Ok(started) => started,
        Err(e) => {
            let _ = one.stop().await;
            return Err(e);
        }
    };
    let endpoints = Endpoints::Vaidya { sender: node1, receiver: node2 };
    let measured = async {
        eprintln!("[vaidya x2] latency at {} msg/s across nodes", args.redis_rate);
        let set = pairs(args, &endpoints, &format!("redis-{tag}")).await?;
        let meter = Meter::start(two.pid());
        let outcome =
            relay::run(set, Pacing::Open { per_sec: f64::from(args.redis_rate) }, window(args), args.payload_bytes as usize).await?;
        let cpu = format!("node 2 {}", meter.summary());
        eprintln!("[vaidya x2] p99 {:.2} ms", outcome.sample.percentile_ms(99.0));
        Ok::<_, Error>((outcome, cpu))
    }
    .await;
    let logs = (one.log_file.clone(), two.log_file.clone());
    one.stop().await?;
    two.stop().await?;
    match &measured {
        Ok(_) => {
            let _ = std::fs::remove_file(&logs.0);
            let _ = std::fs::remove_file(&logs.1);
        }
        Err(_) => eprintln!("[vaidya x2] server logs kept at {} and {}", logs.0.display(), logs.1.display()),
    }
    measured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_round_p99_ignores_a_round_a_stall_fell_in() {
        let relay = |p99s: &[f64]| Relay { round_p99_ms: p99s.to_vec(), ..Relay::default() };
        assert_eq!(relay(&[0.2, 4.0, 0.3]).median_round_p99_ms(), 0.3);
        assert!((relay(&[0.4, 0.2, 3.0, 0.3]).median_round_p99_ms() - 0.35).abs() < 1e-9);
        assert!(relay(&[]).median_round_p99_ms().is_nan());
    }
}
