//! Seeds the server's `facilities` table directly with sqlx: 100,000 audited API calls would take far longer.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use rand::rngs::StdRng;
use sqlx::{Any, AnyConnection, Connection, Transaction};

use crate::http::Error;

/// Rows per multi-row INSERT. sqlx's cost per statement grows faster than linearly with its parameters
/// (one 1000-row statement took 30 times as long as one of 100 rows), so statements stay small...
const ROWS_PER_INSERT: usize = 50;
/// ...and are grouped into transactions, so SQLite does not sync to disk after every statement.
const ROWS_PER_TRANSACTION: usize = 1000;
const COLUMNS: usize = 11;

/// Kinds and their share in thousandths: about 30% pharmacies, the rest clinics, hospitals, labs and imaging.
const KIND_MIX: [(&str, u32, &str); 5] = [
    ("pharmacy", 300, "Pharmacy"),
    ("clinic", 300, "Clinic"),
    ("hospital", 150, "Hospital"),
    ("diagnostic_lab", 150, "Diagnostics"),
    ("imaging_centre", 100, "Imaging Centre"),
];

const NAME_PREFIXES: [&str; 12] = [
    "Sri Sai",
    "Jeevan",
    "Arogya",
    "Sanjeevani",
    "Lifeline",
    "Janata",
    "Shree Ganesh",
    "Dhanvantari",
    "City",
    "Apna",
    "Navjeevan",
    "Sushrut",
];

const STATES: [&str; 12] = [
    "Karnataka",
    "Maharashtra",
    "Tamil Nadu",
    "Uttar Pradesh",
    "Bihar",
    "West Bengal",
    "Rajasthan",
    "Gujarat",
    "Kerala",
    "Odisha",
    "Assam",
    "Punjab",
];

/// The bounding box of India the facilities are spread over.
const LAT: (f64, f64) = (8.0, 35.0);
const LON: (f64, f64) = (68.0, 97.0);

/// A seeded facility's place, kept to pick query centres where facilities are.
#[derive(Clone, Copy, Debug)]
pub struct Place {
    pub lat: f64,
    pub lon: f64,
}

struct Row {
    id: String,
    name: String,
    kind: &'static str,
    state: &'static str,
    pincode: String,
    place: Place,
}

/// Inserts `count` facilities (all of kind `only`, or the usual mix); returns their places and how long it took.
pub async fn facilities(
    database_url: &str,
    count: usize,
    only: Option<&'static str>,
    rng: &mut StdRng,
) -> Result<(Vec<Place>, Duration), Error> {
    sqlx::any::install_default_drivers();
    let rows = generate(count, only, rng);
    let started = Instant::now();
    let mut conn = AnyConnection::connect(database_url).await?;
    if database_url.starts_with("sqlite") {
        // The default 2 MB page cache is smaller than the table and its four indexes; random keys
        // then cost a page fetch per row.
        sqlx::raw_sql("PRAGMA cache_size = -131072").execute(&mut conn).await?;
    }
    let created_at = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    for batch in rows.chunks(ROWS_PER_TRANSACTION) {
        let mut tx = conn.begin().await?;
        for chunk in batch.chunks(ROWS_PER_INSERT) {
            insert(&mut tx, chunk, created_at).await?;
        }
        tx.commit().await?;
    }
    if database_url.starts_with("postgres") {
        // Autovacuum would analyse a table after 100,000 inserts within a minute; do it now so the
        // planner sees what a live deployment would, instead of an empty-table estimate.
        sqlx::raw_sql("ANALYZE facilities").execute(&mut conn).await?;
    }
    conn.close().await?;
    Ok((rows.iter().map(|r| r.place).collect(), started.elapsed()))
}

/// One multi-row INSERT of `rows`.
async fn insert(tx: &mut Transaction<'_, Any>, rows: &[Row], created_at: i64) -> Result<(), sqlx::Error> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(insert_sql(rows.len())));
    for row in rows {
        query = query
            .bind(row.id.clone())
            .bind(row.name.clone())
            .bind(row.name.to_lowercase())
            .bind(row.kind)
            .bind("private")
            .bind(r#"["modern"]"#)
            .bind(row.state)
            .bind(row.pincode.clone())
            .bind(row.place.lat)
            .bind(row.place.lon)
            .bind(created_at);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO facilities (id, name, name_lower, kind, ownership, systems_of_medicine, state, pincode, lat, lon, created_at) VALUES ",
    );
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        let placeholders: Vec<String> = (1..=COLUMNS).map(|c| format!("${}", r * COLUMNS + c)).collect();
        sql.push('(');
        sql.push_str(&placeholders.join(", "));
        sql.push(')');
    }
    sql
}

fn generate(count: usize, only: Option<&'static str>, rng: &mut StdRng) -> Vec<Row> {
    let mut ids = HashSet::with_capacity(count);
    let mut rows = Vec::with_capacity(count);
    for n in 0..count {
        // Random ids, as the server makes them; redraw the rare duplicate.
        let id = loop {
            let candidate = format!("IN{}", rng.gen_range(1_000_000_000u64..10_000_000_000));
            if ids.insert(candidate.clone()) {
                break candidate;
            }
        };
        let (kind, label) = match only.and_then(|k| KIND_MIX.iter().find(|(kind, _, _)| *kind == k)) {
            Some((kind, _, label)) => (*kind, *label),
            None => pick_kind(rng),
        };
        let prefix = NAME_PREFIXES[rng.gen_range(0..NAME_PREFIXES.len())];
        rows.push(Row {
            id,
            name: format!("{prefix} {label} {n}"),
            kind,
            state: STATES[rng.gen_range(0..STATES.len())],
            pincode: rng.gen_range(100_000u32..1_000_000).to_string(),
            place: Place { lat: rng.gen_range(LAT.0..LAT.1), lon: rng.gen_range(LON.0..LON.1) },
        });
    }
    rows
}

fn pick_kind(rng: &mut StdRng) -> (&'static str, &'static str) {
    let mut roll = rng.gen_range(0..1000u32);
    for (kind, share, label) in KIND_MIX {
        if roll < share {
            return (kind, label);
        }
        roll -= share;
    }
    (KIND_MIX[0].0, KIND_MIX[0].2)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn rows_are_valid_and_unique() {
        let mut rng = StdRng::seed_from_u64(7);
        let rows = generate(5000, None, &mut rng);
        assert!(generate(50, Some("pharmacy"), &mut rng).iter().all(|r| r.kind == "pharmacy"));
        let ids: HashSet<_> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), rows.len());
        for r in &rows {
            assert!(r.id.len() == 12 && r.id.starts_with("IN") && r.id[2..].bytes().all(|b| b.is_ascii_digit()));
            assert!(r.pincode.len() == 6 && !r.pincode.starts_with('0'));
            assert!(vaidya_registry::facilities::KINDS.contains(&r.kind));
            assert!((LAT.0..LAT.1).contains(&r.place.lat) && (LON.0..LON.1).contains(&r.place.lon));
        }
        let pharmacies = rows.iter().filter(|r| r.kind == "pharmacy").count();
        assert!((1200..1800).contains(&pharmacies), "{pharmacies}");
    }

    #[test]
    fn placeholders_are_numbered_across_rows() {
        let sql = insert_sql(2);
        assert!(sql.ends_with("($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11), ($12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"));
    }
}
