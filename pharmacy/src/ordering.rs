//! What creating an order reads, in one query: the prescription (whose it is, whether it was dispensed or has an open
//! order, what the order will show of it), the caller's session, and the pharmacies that may take the order: the one
//! the patient named, or those in the first square searched around the patient's place.

use sqlx::AnyConnection;
use vaidya_registry::ApiResult;
use vaidya_registry::auth::{Caller, Me, SessionCheck};
use vaidya_registry::geo;

use crate::orders::SUMMARY_COLUMNS;

/// Where to look for the pharmacy.
pub enum Looking<'a> {
    /// The pharmacy the patient named.
    Named(&'a str),
    /// Pharmacies in the square of `step` km around a point.
    Near { lat: f64, lon: f64, step: f64 },
}

/// The prescription as ordering needs it.
#[derive(Clone, sqlx::FromRow)]
pub struct Ordered {
    #[sqlx(flatten)]
    pub me: Me,
    pub patient_health_id: String,
    pub patient_account_id: String,
    pub patient_name: String,
    pub status: String,
    pub open_order: Option<String>,
    pub items: String,
    pub patient_age: Option<i64>,
    pub doctor_name: String,
    pub registration_number: String,
    pub issued_at: i64,
}

/// One row per pharmacy found (one row without a pharmacy when none is).
#[derive(sqlx::FromRow)]
struct Row {
    #[sqlx(flatten)]
    ordered: Ordered,
    place_id: Option<String>,
    place_name: Option<String>,
    place_lat: Option<f64>,
    place_lon: Option<f64>,
}

/// The prescription and the pharmacies `(id, name, lat, lon)` found; nothing when the prescription does not exist or
/// the caller's session is not live.
pub async fn load(
    conn: &mut AnyConnection,
    prescription_id: &str,
    caller: &Caller,
    looking: Option<Looking<'_>>,
) -> ApiResult<Option<(Ordered, Vec<(String, String, f64, f64)>)>> {
    if uuid::Uuid::parse_str(prescription_id).is_err() {
        return Ok(None);
    }
    let place = match looking {
        Some(Looking::Named(_)) => "f.id = $6",
        Some(Looking::Near { .. }) => "f.lat BETWEEN $6 AND $7 AND f.lon BETWEEN $8 AND $9",
        None => "FALSE",
    };
    let sql = format!(
        "SELECT x.patient_health_id, p.account_id AS patient_account_id, p.name AS patient_name, x.status, \
         (SELECT o.id FROM orders o WHERE o.prescription_id = x.id AND o.status IN ('routed', 'accepted', 'ready', 'dispatched') LIMIT 1) AS open_order, \
         {SUMMARY_COLUMNS}, {me}, f.id AS place_id, f.name AS place_name, f.lat AS place_lat, f.lon AS place_lon \
         FROM prescriptions x JOIN providers d ON d.id = x.doctor_id JOIN patients p ON p.health_id = x.patient_health_id {session} \
         LEFT JOIN facilities f ON f.kind = 'pharmacy' AND {place} \
         WHERE x.id = $1",
        me = SessionCheck::COLUMNS,
        session = SessionCheck::join(2),
    );
    let query = caller.session().bind(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(prescription_id));
    let query = match looking {
        Some(Looking::Named(id)) => query.bind(id),
        Some(Looking::Near { lat, lon, step }) => {
            let (lat_min, lat_max, lon_min, lon_max) = geo::bounding_box(lat, lon, step);
            query.bind(lat_min).bind(lat_max).bind(lon_min).bind(lon_max)
        }
        None => query,
    };
    let rows: Vec<Row> = query.fetch_all(conn).await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let ordered = first.ordered.clone();
    let found = rows.into_iter().filter_map(|r| Some((r.place_id?, r.place_name?, r.place_lat?, r.place_lon?))).collect();
    Ok(Some((ordered, found)))
}
