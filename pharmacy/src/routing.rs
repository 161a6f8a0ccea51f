//! Choosing a pharmacy: the nearest registered pharmacy to a point that has not yet had this order, searched in
//! widening squares so a dense city answers from a handful of rows.

use sqlx::AnyConnection;
use vaidya_registry::ApiResult;
use vaidya_registry::geo;

/// A pharmacy and how far it is.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub facility_id: String,
    pub name: String,
    pub distance_km: f64,
}

/// Search radii tried in turn, up to the configured limit.
const STEPS_KM: [f64; 4] = [5.0, 15.0, 50.0, 500.0];

/// The radius of the first square searched (an order's creation reads that square with the prescription).
pub fn first_step(radius_km: f64) -> f64 {
    STEPS_KM[0].min(radius_km)
}

/// Of the pharmacies `(id, name, lat, lon)` found in the square of `step` around `(lat, lon)`, the nearest within `step`.
pub fn pick(lat: f64, lon: f64, step: f64, found: impl IntoIterator<Item = (String, String, f64, f64)>) -> Option<Candidate> {
    found
        .into_iter()
        .map(|(id, name, plat, plon)| Candidate { facility_id: id, name, distance_km: geo::distance_km(lat, lon, plat, plon) })
        .filter(|c| c.distance_km <= step)
        .min_by(|a, b| a.distance_km.total_cmp(&b.distance_km).then_with(|| a.facility_id.cmp(&b.facility_id)))
}

/// The nearest pharmacy within `radius_km` of `(lat, lon)`, leaving out those that already held `order_id` (if any).
pub async fn nearest(conn: &mut AnyConnection, lat: f64, lon: f64, radius_km: f64, order_id: Option<&str>) -> ApiResult<Option<Candidate>> {
    nearest_beyond(conn, lat, lon, radius_km, order_id, 0.0).await
}

/// `nearest`, for a search whose squares up to `searched_km` already found nothing.
pub async fn nearest_beyond(
    conn: &mut AnyConnection,
    lat: f64,
    lon: f64,
    radius_km: f64,
    order_id: Option<&str>,
    searched_km: f64,
) -> ApiResult<Option<Candidate>> {
    for step in STEPS_KM.iter().map(|s| s.min(radius_km)).filter(|s| *s > searched_km) {
        let (lat_min, lat_max, lon_min, lon_max) = geo::bounding_box(lat, lon, step);
        let rows: Vec<(String, String, f64, f64)> = sqlx::query_as(
            "SELECT f.id, f.name, f.lat, f.lon FROM facilities f \
             WHERE f.kind = 'pharmacy' AND f.lat BETWEEN $1 AND $2 AND f.lon BETWEEN $3 AND $4 \
               AND NOT EXISTS (SELECT 1 FROM order_holders h WHERE h.order_id = $5 AND h.pharmacy_id = f.id)",
        )
        .bind(lat_min)
        .bind(lat_max)
        .bind(lon_min)
        .bind(lon_max)
        .bind(order_id.unwrap_or(""))
        .fetch_all(&mut *conn)
        .await?;
        let best = pick(lat, lon, step, rows);
        if best.is_some() || step >= radius_km {
            return Ok(best);
        }
    }
    Ok(None)
}
