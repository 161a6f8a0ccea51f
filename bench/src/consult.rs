//! `vaidya-bench consult`: a patient with thousands of FHIR records and a doctor holding a consent over a quarter of
//! them; measures the consented-records query and what the consent check adds to a single record read.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use hyper::StatusCode;
use hyper::header::HeaderValue;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection};

use crate::BackendChoice;
use crate::cpu::Meter;
use crate::http::{Call, Conn, Error, call_json, login};
use crate::load::{self, Window, Workload};
use crate::report::{self, Row};
use crate::server::{Engine, Fresh, Server};
use vaidya_registry::db::now_ms;

/// Issue targets.
const RECORDS_P99_MS: f64 = 25.0;
const CHECK_ADDS_P99_MS: f64 = 1.0;

const ADMIN: (&str, &str) = ("bench.admin", "bench-admin-password-1");
const PASSWORD: &str = "bench-password-1234";
const DAY_MS: i64 = 24 * 3600 * 1000;
/// The records span four years; the consent covers the last two, and one HI type of three (half the records).
const SPAN_DAYS: i64 = 4 * 365;

#[derive(Args, Debug)]
pub struct ConsultArgs {
    #[arg(long, value_enum, default_value = "both")]
    backend: BackendChoice,
    /// Records of the one patient.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(4..=200_000))]
    records: u32,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    duration_secs: u64,
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=60))]
    warmup_secs: u64,
    /// Connections of the latency workloads: doctors opening charts at the same moment.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    connections: u32,
    /// Connections of the extra row that shows the records query under contention.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    busy_connections: u32,
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

pub async fn run(args: ConsultArgs) -> Result<bool, Error> {
    crate::server::require_binary(&args.server_bin)?;
    let mut rng = args.seed.map_or_else(StdRng::from_entropy, StdRng::seed_from_u64);
    let load_before = crate::cpu::load_average();
    let mut rows = Vec::new();
    for engine in args.backend.engines() {
        let extra = vec!["--admin-username".into(), ADMIN.0.into(), "--admin-password".into(), ADMIN.1.into()];
        let fresh = Fresh { engine, binary: &args.server_bin, postgres_url: &args.postgres_url, cpus: args.server_cpu.as_deref(), extra };
        rows.extend(fresh.run(async |server: &Server, url: String| measure(engine, server, &url, &args, &mut rng).await).await?);
    }
    let header = format!(
        "vaidya-bench consult: {} records of one patient, a consent over about a quarter; {} s per workload after {} s warm-up; \
         server CPUs {}, load CPUs {}; load average {} before the run",
        args.records,
        args.duration_secs,
        args.warmup_secs,
        args.server_cpu.as_deref().unwrap_or("any"),
        args.load_cpu.as_deref().unwrap_or("any"),
        crate::cpu::load_text(load_before),
    );
    Ok(report::print_verdict(&header, &rows))
}

/// Who takes part: the author of the records, the doctor reading under consent, the patient.
struct Cast {
    author: HeaderValue,
    author_id: String,
    reader: HeaderValue,
    patient: HeaderValue,
    health_id: String,
}

async fn measure(engine: Engine, server: &Server, url: &str, args: &ConsultArgs, rng: &mut StdRng) -> Result<Vec<Row>, Error> {
    let backend = engine.name();
    let mut conn = Conn::open(server.addr).await?;
    let cast = cast(&mut conn).await?;
    eprintln!("[{backend}] seeding {} records", args.records);
    let (covered, authored) = seed_records(url, &cast, args.records, rng).await?;
    consent(&mut conn, &cast).await?;

    let window = Window {
        warmup: Duration::from_secs(args.warmup_secs),
        measure: Duration::from_secs(args.duration_secs),
        max_requests: 10_000_000,
    };
    let conns = args.connections as usize;
    let mut rows = Vec::new();

    eprintln!("[{backend}] consented records query");
    let meter = Meter::start(server.pid());
    let query = Arc::new(ConsentedRecords {
        call: Call::get(format!("/api/v1/patients/{}/records", cast.health_id)).with_bearer(cast.reader.clone()),
    });
    let sample = load::run(server.addr, conns, window, query).await?;
    let p99 = sample.percentile_ms(99.0);
    let mean = sample.mean_items();
    rows.push(
        Row::new(format!("consented records ({} of {})", covered.len(), args.records), backend, conns, &sample)
            .target(format!("p99 < {RECORDS_P99_MS} ms"), p99 < RECORDS_P99_MS && (mean - covered.len() as f64).abs() < 0.5)
            .note(format!("{mean:.0} documents per answer; {}", meter.summary())),
    );

    let busy = args.busy_connections as usize;
    let meter = Meter::start(server.pid());
    let query = Arc::new(ConsentedRecords {
        call: Call::get(format!("/api/v1/patients/{}/records", cast.health_id)).with_bearer(cast.reader.clone()),
    });
    let crowded = load::run(server.addr, busy, window, query).await?;
    rows.push(
        Row::new("consented records, crowded", backend, busy, &crowded)
            .note(format!("{busy} doctors at once: throughput and queueing; {}", meter.summary())),
    );

    // The same read with and without the consent check: the author reads their own record (no consent needed),
    // the other doctor reads a record the consent covers. Both are audited in the same way.
    eprintln!("[{backend}] one record by its author, then under consent");
    let meter = Meter::start(server.pid());
    let own = load::run(server.addr, conns, window, Arc::new(OneRecord::new(&authored, cast.author.clone()))).await?;
    rows.push(Row::new("record read by its author", backend, conns, &own).note(format!("baseline: no consent check; {}", meter.summary())));
    let meter = Meter::start(server.pid());
    let consented = load::run(server.addr, conns, window, Arc::new(OneRecord::new(&covered, cast.reader.clone()))).await?;
    let added = consented.percentile_ms(99.0) - own.percentile_ms(99.0);
    rows.push(
        Row::new("record read under consent", backend, conns, &consented)
            .target(format!("adds < {CHECK_ADDS_P99_MS} ms p99"), added < CHECK_ADDS_P99_MS)
            .note(format!("p99 {added:+.2} ms vs the author's read; {}", meter.summary())),
    );
    Ok(rows)
}

async fn cast(conn: &mut Conn) -> Result<Cast, Error> {
    let admin = login(conn, ADMIN.0, ADMIN.1).await?;
    let facility = json!({"name": "Bench Clinic", "kind": "clinic", "ownership": "private", "systems_of_medicine": ["modern"],
        "address": {"state": "Karnataka", "pincode": "560001"}, "location": {"lat": 12.97, "lon": 77.59}});
    let facility =
        call_json(conn, &Call::post_json("/api/v1/facilities", &facility).with_bearer(admin.clone()), StatusCode::CREATED).await?;
    let mut doctors = Vec::new();
    for (i, name) in ["Dr. Author", "Dr. Reader"].iter().enumerate() {
        let body = json!({"name": name, "role": "doctor", "registration_number": format!("BENCH-{i}"), "council": "Karnataka Medical Council",
            "speciality": "General Medicine", "facility_ids": [facility["facility_id"]], "username": format!("bench.doctor{i}"), "password": PASSWORD});
        let provider =
            call_json(conn, &Call::post_json("/api/v1/providers", &body).with_bearer(admin.clone()), StatusCode::CREATED).await?;
        doctors.push((
            provider["provider_id"].as_str().ok_or("no provider id")?.to_owned(),
            login(conn, &format!("bench.doctor{i}"), PASSWORD).await?,
        ));
    }
    let patient = json!({"name": "Bench Patient", "gender": "F", "date_of_birth": "1980-02-02", "mobile": "9876543210",
        "address": {"state": "Karnataka", "pincode": "560001"}, "password": PASSWORD});
    let patient = call_json(conn, &Call::post_json("/api/v1/health-ids", &patient), StatusCode::CREATED).await?;
    let health_id = patient["health_id"].as_str().ok_or("no health id")?.to_owned();
    let patient = login(conn, &health_id, PASSWORD).await?;
    let (reader, author) = (doctors.pop().ok_or("no reader")?, doctors.pop().ok_or("no author")?);
    Ok(Cast { author: author.1, author_id: author.0, reader: reader.1, patient, health_id })
}

/// The reader asks for OPConsultation records of the last two years; the patient grants.
async fn consent(conn: &mut Conn, cast: &Cast) -> Result<(), Error> {
    let now = now_ms();
    let from = vaidya_registry::db::rfc3339(now - SPAN_DAYS / 2 * DAY_MS);
    let body = json!({"patient_health_id": cast.health_id, "purpose": "CAREMGT", "hi_types": ["OPConsultation"],
        "date_range": {"from": from, "to": vaidya_registry::db::rfc3339(now)}, "expires_at": vaidya_registry::db::rfc3339(now + 30 * DAY_MS)});
    let request =
        call_json(conn, &Call::post_json("/api/v1/consent-requests", &body).with_bearer(cast.reader.clone()), StatusCode::CREATED).await?;
    let id = request["consent_request_id"].as_str().ok_or("no request id")?;
    call_json(
        conn,
        &Call::post_json(format!("/api/v1/consent-requests/{id}/grant"), &json!({})).with_bearer(cast.patient.clone()),
        StatusCode::CREATED,
    )
    .await?;
    Ok(())
}

const HI_TYPES: [(&str, i64); 3] = [("OPConsultation", 1), ("Prescription", 2), ("DiagnosticReport", 4)];

/// Inserts the records straight into the database, each a realistic document of a few kilobytes; returns the ids the
/// consent will cover and a few the author wrote.
async fn seed_records(url: &str, cast: &Cast, count: u32, rng: &mut StdRng) -> Result<(Vec<String>, Vec<String>), Error> {
    sqlx::any::install_default_drivers();
    let mut db = AnyConnection::connect(url).await?;
    let now = now_ms();
    let digits: String = cast.health_id.chars().filter(char::is_ascii_digit).collect();
    let (mut covered, mut authored) = (Vec::new(), Vec::new());
    let mut tx = db.begin().await?;
    for i in 0..count {
        // Half OPConsultation, the rest split between the others.
        let (hi_type, bit) = if i % 2 == 0 { HI_TYPES[0] } else { HI_TYPES[1 + (i as usize / 2) % 2] };
        let date = now - rng.gen_range(0..SPAN_DAYS * DAY_MS);
        let id = uuid::Uuid::now_v7().to_string();
        let bundle = document(&id, &digits, hi_type, date, rng);
        sqlx::query(
            "INSERT INTO health_records (id, patient_health_id, consult_id, facility_id, author_id, hi_type, hi_bit, record_date, bundle, created_at) \
             VALUES ($1, $2, NULL, NULL, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(&digits)
        .bind(&cast.author_id)
        .bind(hi_type)
        .bind(bit)
        .bind(date)
        .bind(bundle.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if bit == 1 && date >= now - SPAN_DAYS / 2 * DAY_MS {
            covered.push(id);
        } else if authored.len() < 500 {
            authored.push(id);
        }
    }
    tx.commit().await?;
    if url.starts_with("postgres") {
        sqlx::raw_sql("ANALYZE health_records").execute(&mut db).await?;
    }
    db.close().await?;
    Ok((covered, authored))
}

/// A document Bundle shaped and sized like the service's own OPConsultRecords.
fn document(id: &str, health_id: &str, hi_type: &str, date: i64, rng: &mut StdRng) -> Value {
    let words = ["fever", "cough", "headache", "fatigue", "nausea", "joint pain", "breathlessness", "rash", "dizziness"];
    let text = |rng: &mut StdRng, n: usize| (0..n).map(|_| words[rng.gen_range(0..words.len())]).collect::<Vec<_>>().join(", ");
    let entries: Vec<Value> = (0..12)
        .map(|k| {
            json!({"fullUrl": format!("urn:uuid:{}", uuid::Uuid::now_v7()), "resource": {"resourceType": "Condition", "id": format!("c{k}"),
                "code": {"text": text(rng, 12)}, "subject": {"reference": "Patient/p"}, "note": [{"text": text(rng, 30)}]}})
        })
        .collect();
    json!({"resourceType": "Bundle", "id": id, "type": "document", "timestamp": vaidya_registry::db::rfc3339(date),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{id}")},
        "meta": {"tag": [{"code": hi_type}]}, "entry": entries, "subject": health_id})
}

/// `GET /api/v1/patients/{id}/records` as the consented doctor; counts the documents.
struct ConsentedRecords {
    call: Call,
}

impl Workload for ConsentedRecords {
    fn call(&self, _rng: &mut StdRng) -> Call {
        self.call.clone()
    }

    fn check(&self, status: StatusCode, body: &[u8], inspect: bool) -> Result<Option<u64>, ()> {
        if status != StatusCode::OK {
            return Err(());
        }
        if !inspect {
            return Ok(None);
        }
        #[derive(serde::Deserialize)]
        struct Head {
            total: u64,
        }
        serde_json::from_slice::<Head>(body).map(|h| Some(h.total)).map_err(|_| ())
    }
}

/// `GET /api/v1/records/{id}` of a random record from a set.
struct OneRecord {
    calls: Vec<Call>,
}

impl OneRecord {
    fn new(ids: &[String], bearer: HeaderValue) -> Self {
        Self { calls: ids.iter().map(|id| Call::get(format!("/api/v1/records/{id}")).with_bearer(bearer.clone())).collect() }
    }
}

impl Workload for OneRecord {
    fn call(&self, rng: &mut StdRng) -> Call {
        self.calls[rng.gen_range(0..self.calls.len())].clone()
    }

    fn check(&self, status: StatusCode, _body: &[u8], _inspect: bool) -> Result<Option<u64>, ()> {
        if status == StatusCode::OK { Ok(None) } else { Err(()) }
    }
}
