//! `vaidya-bench pharmacy`: 30,000 pharmacies across India; times nearest-pharmacy routing (order creation with
//! `near`) and runs the whole flow — prescribe, route, accept, ready, dispense — for thousands of prescriptions.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use hyper::StatusCode;
use hyper::header::HeaderValue;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Deserialize;
use serde_json::json;
use sqlx::{AnyConnection, Connection};

use crate::BackendChoice;
use crate::cpu::Meter;
use crate::http::{Call, Conn, Error, call_as, call_json, login};
use crate::load::Sample;
use crate::report::{self, Row};
use crate::seed::{self, Place};
use crate::server::{Engine, Fresh, Server};

/// Issue targets.
const ROUTING_P99_MS: f64 = 5.0;
const FLOWS_PER_SEC_PG: f64 = 500.0;

const ADMIN: (&str, &str) = ("bench.admin", "bench-admin-password-1");
const PASSWORD: &str = "bench-password-1234";

#[derive(Args, Debug)]
pub struct PharmacyArgs {
    #[arg(long, value_enum, default_value = "both")]
    backend: BackendChoice,
    /// Pharmacies seeded across India.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u32).range(100..=1_000_000))]
    pharmacies: u32,
    /// Whole flows (prescribe, route, accept, ready, dispense) run.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
    flows: u32,
    /// Flows in flight at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: u32,
    /// Pharmacies with a pharmacist (the flows' orders go to them).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    staffed: u32,
    /// Patients the prescriptions are for.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    patients: u32,
    /// The server's database pool (`--db-max-connections`). The server's default of 16 suits a database on a host of its
    /// own; here PostgreSQL shares this machine's cores with the server and the load, and the usual sizing (a few
    /// connections per database core) gives it 8: more only add processes taking turns on the same cores.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(2..=1000))]
    db_connections: u32,
    #[arg(long, default_value = "target/release/vaidya")]
    server_bin: PathBuf,
    #[arg(long, env = "VAIDYA_BENCH_POSTGRES_URL", default_value = crate::server::DEFAULT_POSTGRES_URL)]
    postgres_url: String,
    #[arg(long)]
    server_cpu: Option<String>,
    #[arg(long)]
    pub load_cpu: Option<String>,
    #[arg(long)]
    seed: Option<u64>,
}

pub async fn run(args: PharmacyArgs) -> Result<bool, Error> {
    crate::server::require_binary(&args.server_bin)?;
    let mut rng = args.seed.map_or_else(StdRng::from_entropy, StdRng::seed_from_u64);
    let load_before = crate::cpu::load_average();
    let mut rows = Vec::new();
    for engine in args.backend.engines() {
        let extra = vec![
            "--admin-username".into(),
            ADMIN.0.into(),
            "--admin-password".into(),
            ADMIN.1.into(),
            "--db-max-connections".into(),
            args.db_connections.to_string(),
        ];
        let fresh = Fresh { engine, binary: &args.server_bin, postgres_url: &args.postgres_url, cpus: args.server_cpu.as_deref(), extra };
        rows.extend(fresh.run(async |server: &Server, url: String| measure(engine, server, &url, &args, &mut rng).await).await?);
    }
    let header = format!(
        "vaidya-bench pharmacy: {} pharmacies, {} flows with {} in flight; server pool {} connections; server CPUs {}, load CPUs {}; load average {} before the run",
        args.pharmacies,
        args.flows,
        args.concurrency,
        args.db_connections,
        args.server_cpu.as_deref().unwrap_or("any"),
        args.load_cpu.as_deref().unwrap_or("any"),
        crate::cpu::load_text(load_before),
    );
    Ok(report::print_verdict(&header, &rows))
}

/// Times the service's routing query itself, from random points near seeded pharmacies (a patient's home is near some).
async fn routing_decisions(url: &str, places: &[Place], rng: &mut StdRng) -> Result<Sample, Error> {
    use rand::Rng;
    let mut db = AnyConnection::connect(url).await?;
    let mut sample = Sample::default();
    let started = Instant::now();
    for i in 0..3000 {
        let p = places[rng.gen_range(0..places.len())];
        let (lat, lon) = (p.lat + rng.gen_range(-0.05..0.05), p.lon + rng.gen_range(-0.05..0.05));
        let t = Instant::now();
        let found =
            vaidya_pharmacy::routing::nearest(&mut db, lat, lon, 50.0, None).await.map_err(|e| format!("routing failed: {}", e.code()))?;
        if i >= 200 {
            // The first few hundred warm the connection's statement cache and the database's pages.
            sample.latencies_ns.push(t.elapsed().as_nanos() as u64);
            sample.items += u64::from(found.is_some());
            sample.inspected += 1;
        }
    }
    sample.elapsed = started.elapsed();
    sample.latencies_ns.sort_unstable();
    db.close().await?;
    Ok(sample)
}

/// The database a connection URL names: `.../NAME?options`.
fn database_name(url: &str) -> &str {
    let path = url.split('?').next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

/// The people of the flows and where the staffed pharmacies are.
struct Cast {
    doctor: HeaderValue,
    patients: Vec<HeaderValue>,
    /// Each staffed pharmacy's place and its pharmacist.
    pharmacies: Vec<(Place, HeaderValue)>,
}

async fn measure(engine: Engine, server: &Server, url: &str, args: &PharmacyArgs, rng: &mut StdRng) -> Result<Vec<Row>, Error> {
    let backend = engine.name();
    eprintln!("[{backend}] seeding {} pharmacies", args.pharmacies);
    let (places, took) = seed::facilities(url, args.pharmacies as usize, Some("pharmacy"), rng).await?;
    eprintln!("[{backend}] seeded in {:.1} s; registering people", took.as_secs_f64());
    let mut conn = Conn::open(server.addr).await?;
    let cast = cast(&mut conn, args).await?;
    eprintln!("[{backend}] opening {} consults", args.flows);
    let consults = seed_consults(url, &cast, args.flows as usize).await?;
    // Routing is timed one order at a time (what a patient waits for); throughput with many flows in flight.
    let cast = Arc::new(cast);
    let mut consults = consults;
    let solo = consults.split_off(consults.len() - (args.flows as usize / 10).clamp(1, 500));
    eprintln!("[{backend}] {} flows one at a time, for routing latency", solo.len());
    let (routing, _, _) = run_flows(server, cast.clone(), solo, 1).await?;
    eprintln!("[{backend}] {} flows, {} at a time", consults.len(), args.concurrency);
    let meter = Meter::start(server.pid());
    let meter = match engine {
        Engine::Postgres => meter.with_database(database_name(url)),
        Engine::Sqlite => meter,
    };
    let (_, flows, elapsed) = run_flows(server, cast, consults, args.concurrency as usize).await?;
    let per_sec = flows.latencies_ns.len() as f64 / elapsed.as_secs_f64();
    let per_flow = |cpu: Option<Duration>| cpu.map(|c| c.as_secs_f64() * 1e3 / flows.latencies_ns.len().max(1) as f64);
    let (server_ms, database_ms) = meter.used();
    let unlinked = audit_backlog(url).await?;
    let costs = match (per_flow(server_ms), per_flow(database_ms)) {
        (Some(s), Some(d)) => format!("CPU per flow: server {s:.2} ms, PostgreSQL backends {d:.2} ms; "),
        (Some(s), None) => format!("CPU per flow: server {s:.2} ms; "),
        _ => String::new(),
    };
    let target = (engine == Engine::Postgres).then_some(FLOWS_PER_SEC_PG);
    let beside = if target.is_none() { " (reported beside PostgreSQL's target)" } else { "" };
    let mut flow_row = Row::new("whole flow (5 requests)", backend, args.concurrency as usize, &flows).note(format!(
        "{per_sec:.0} flows/s{beside} over {:.1} s; {costs}{}; audit events not yet in the hash chain at the end: {unlinked}",
        elapsed.as_secs_f64(),
        meter.summary()
    ));
    flow_row.per_sec = per_sec;
    if let Some(t) = target {
        flow_row = flow_row.target(format!(">= {t:.0} flows/s"), per_sec >= t);
    }
    let search = routing_decisions(url, &places, rng).await?;
    let search_p99 = search.percentile_ms(99.0);
    let p99 = routing.percentile_ms(99.0);
    Ok(vec![
        Row::new(format!("routing decision among {}", args.pharmacies), backend, 1, &search)
            .target(format!("p99 < {ROUTING_P99_MS} ms"), search_p99 < ROUTING_P99_MS)
            .note("the service's own nearest-pharmacy query (vaidya_pharmacy::routing::nearest), on the server's database"),
        Row::new(format!("routing to nearest of {}", args.pharmacies), backend, 1, &routing)
            .note(format!("POST .../orders with `near`: search, order, turn, events, audit, commit; p99 {p99:.2} ms")),
        flow_row,
    ])
}

async fn cast(conn: &mut Conn, args: &PharmacyArgs) -> Result<Cast, Error> {
    let admin = login(conn, ADMIN.0, ADMIN.1).await?;
    let clinic = json!({"name": "Bench Clinic", "kind": "clinic", "ownership": "private", "systems_of_medicine": ["modern"],
        "address": {"state": "Karnataka", "pincode": "560001"}, "location": {"lat": 12.97, "lon": 77.59}});
    let clinic = call_json(conn, &Call::post_json("/api/v1/facilities", &clinic).with_bearer(admin.clone()), StatusCode::CREATED).await?;
    let doctor = json!({"name": "Dr. Bench", "role": "doctor", "registration_number": "BENCH-1", "council": "Karnataka Medical Council",
        "speciality": "General Medicine", "facility_ids": [clinic["facility_id"]], "username": "bench.doctor", "password": PASSWORD});
    call_json(conn, &Call::post_json("/api/v1/providers", &doctor).with_bearer(admin.clone()), StatusCode::CREATED).await?;
    let doctor = login(conn, "bench.doctor", PASSWORD).await?;
    let mut pharmacies = Vec::new();
    for i in 0..args.staffed {
        // Spread over Indian cities' latitudes so each staffed pharmacy is the nearest to its own spot.
        let place = Place { lat: 10.0 + f64::from(i) * 0.9, lon: 76.0 + f64::from(i % 7) * 1.3 };
        let body = json!({"name": format!("Bench Pharmacy {i}"), "kind": "pharmacy", "ownership": "private", "systems_of_medicine": ["modern"],
            "address": {"state": "Karnataka", "pincode": "560001"}, "location": {"lat": place.lat, "lon": place.lon}});
        let facility =
            call_json(conn, &Call::post_json("/api/v1/facilities", &body).with_bearer(admin.clone()), StatusCode::CREATED).await?;
        let username = format!("bench.pharmacist{i}");
        let body = json!({"name": format!("Pharmacist {i}"), "role": "pharmacist", "registration_number": format!("PH-{i}"),
            "council": "Karnataka Pharmacy Council", "facility_ids": [facility["facility_id"]], "username": username, "password": PASSWORD});
        call_json(conn, &Call::post_json("/api/v1/providers", &body).with_bearer(admin.clone()), StatusCode::CREATED).await?;
        pharmacies.push((place, login(conn, &username, PASSWORD).await?));
    }
    let mut patients = Vec::new();
    for _ in 0..args.patients {
        let body = json!({"name": "Bench Patient", "gender": "F", "date_of_birth": "1980-02-02", "mobile": "9876543210",
            "address": {"state": "Karnataka", "pincode": "560001"}, "password": PASSWORD});
        let created = call_json(conn, &Call::post_json("/api/v1/health-ids", &body), StatusCode::CREATED).await?;
        patients.push(login(conn, created["health_id"].as_str().ok_or("no health id")?, PASSWORD).await?);
    }
    Ok(Cast { doctor, patients, pharmacies })
}

/// One admitted consult per flow, written straight into the database (the consult API is not what is measured here),
/// for the patients in turn; returns (consult id, patient index).
async fn seed_consults(url: &str, cast: &Cast, count: usize) -> Result<Vec<(String, usize)>, Error> {
    sqlx::any::install_default_drivers();
    let mut db = AnyConnection::connect(url).await?;
    let doctor: (String, Option<String>) = sqlx::query_as(
        "SELECT p.id, (SELECT facility_id FROM provider_facilities WHERE provider_id = p.id LIMIT 1) FROM providers p WHERE p.role = 'doctor' LIMIT 1",
    )
    .fetch_one(&mut db)
    .await?;
    let patients: Vec<String> = sqlx::query_scalar("SELECT health_id FROM patients ORDER BY created_at").fetch_all(&mut db).await?;
    if patients.len() < cast.patients.len() {
        return Err("the registered patients are missing".into());
    }
    let now = vaidya_registry::db::now_ms();
    let mut out = Vec::with_capacity(count);
    let mut tx = db.begin().await?;
    for i in 0..count {
        let id = uuid::Uuid::now_v7().to_string();
        let who = i % cast.patients.len();
        sqlx::query(
            "INSERT INTO consults (id, patient_health_id, requested_doctor_id, doctor_id, facility_id, reason, visit, mode, \
             consent_teleconsultation, record_to_phr, status, created_at, started_at) \
             VALUES ($1, $2, $3, $3, $4, 'Fever and cough', 'first', 'video', 1, 1, 'in_progress', $5, $5)",
        )
        .bind(&id)
        .bind(&patients[who])
        .bind(&doctor.0)
        .bind(&doctor.1)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        out.push((id, who));
    }
    tx.commit().await?;
    db.close().await?;
    Ok(out)
}

/// Audit events still waiting for the chainer: a chainer that falls behind would leave its work out of the figures.
async fn audit_backlog(url: &str) -> Result<i64, Error> {
    let mut db = AnyConnection::connect(url).await?;
    let pending = sqlx::query_scalar("SELECT COUNT(*) FROM audit_pending").fetch_one(&mut db).await?;
    db.close().await?;
    Ok(pending)
}

/// Runs every flow over `concurrency` workers; returns the routing step's sample, the whole flows' sample and the time taken.
async fn run_flows(
    server: &Server,
    cast: Arc<Cast>,
    consults: Vec<(String, usize)>,
    concurrency: usize,
) -> Result<(Sample, Sample, Duration), Error> {
    let consults = Arc::new(consults);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (cast, consults, next, addr) = (cast.clone(), consults.clone(), next.clone(), server.addr);
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let (mut routing, mut flows) = (Vec::new(), Vec::new());
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some((consult, who)) = consults.get(n) else { break };
                let (route_ns, flow_ns) = one_flow(&mut conn, &cast, consult, *who, n).await?;
                routing.push(route_ns);
                flows.push(flow_ns);
            }
            Ok::<_, Error>((routing, flows))
        }));
    }
    let (mut routing, mut flows) = (Sample::default(), Sample::default());
    for worker in workers {
        let (r, f) = worker.await.map_err(|e| format!("a flow worker failed: {e}"))??;
        routing.latencies_ns.extend(r);
        flows.latencies_ns.extend(f);
    }
    let elapsed = started.elapsed();
    routing.latencies_ns.sort_unstable();
    flows.latencies_ns.sort_unstable();
    routing.elapsed = elapsed;
    flows.elapsed = elapsed;
    Ok((routing, flows, elapsed))
}

/// What a flow reads of the prescription it issued.
#[derive(Deserialize)]
struct Issued {
    prescription_id: String,
}

/// What a flow reads of its order after each step: the step must have moved it to the state it names.
#[derive(Deserialize)]
struct Placed {
    order_id: String,
    status: String,
}

impl Placed {
    fn expect(&self, step: &str, to: &str) -> Result<(), Error> {
        if self.status == to { Ok(()) } else { Err(format!("after {step} the order is {}, not {to}", self.status).into()) }
    }
}

/// Prescribe, route (timed on its own), accept, ready, dispense; returns (routing ns, whole flow ns).
async fn one_flow(conn: &mut Conn, cast: &Cast, consult: &str, who: usize, n: usize) -> Result<(u64, u64), Error> {
    let started = Instant::now();
    let item =
        json!({"drug": {"name": "paracetamol"}, "dose": "1 tablet", "frequency": "three times a day", "duration_days": 5, "quantity": 15});
    let prescription: Issued = call_as(
        conn,
        &Call::post_json(format!("/api/v1/consults/{consult}/prescriptions"), &json!({"items": [item]})).with_bearer(cast.doctor.clone()),
        StatusCode::CREATED,
    )
    .await?;
    let pid = prescription.prescription_id;
    let (place, pharmacist) = &cast.pharmacies[n % cast.pharmacies.len()];
    let body = json!({"near": {"lat": place.lat, "lon": place.lon}, "fulfilment": "pickup"});
    let routed_at = Instant::now();
    let order: Placed = call_as(
        conn,
        &Call::post_json(format!("/api/v1/prescriptions/{pid}/orders"), &body).with_bearer(cast.patients[who].clone()),
        StatusCode::CREATED,
    )
    .await?;
    let routing = routed_at.elapsed().as_nanos() as u64;
    order.expect("route", "routed")?;
    let oid = order.order_id;
    for (step, body, to) in [
        ("accept", json!({}), "accepted"),
        ("ready", json!({}), "ready"),
        ("dispense", json!({"items": [{"index": 0, "quantity": 15}]}), "dispensed"),
    ] {
        let order: Placed =
            call_as(conn, &Call::post_json(format!("/api/v1/orders/{oid}/{step}"), &body).with_bearer(pharmacist.clone()), StatusCode::OK)
                .await?;
        order.expect(step, to)?;
    }
    Ok((routing, started.elapsed().as_nanos() as u64))
}

#[cfg(test)]
mod tests {
    use super::database_name;

    #[test]
    fn the_database_is_the_last_segment_of_the_path() {
        assert_eq!(database_name("postgres://postgres@/vaidya_bench_1?host=/var/run/postgresql"), "vaidya_bench_1");
        assert_eq!(database_name("postgres://postgres@127.0.0.1:5432/test"), "test");
    }
}
