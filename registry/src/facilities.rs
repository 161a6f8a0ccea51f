//! The Health Facility Registry: admins register facilities; anyone lists them, nearest first when asked.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::address::{Address, AddressInput, ValidAddress};
use crate::audit::{self, Actor, AuditEvent};
use crate::auth::{AuthUser, Role};
use crate::body::{ApiJson, ApiQuery};
use crate::db::{now_ms, rfc3339};
use crate::domain::{FacilityId, Pincode};
use crate::error::{ApiError, ApiResult, Violations};
use crate::geo;
use crate::page::{self, ListResponse};
use crate::sql::{Arg, Sql, like_escape};
use crate::state::Registry;
use crate::text::required_text;

pub const KINDS: [&str; 5] = ["hospital", "clinic", "diagnostic_lab", "imaging_centre", "pharmacy"];
pub const SYSTEMS: [&str; 7] = ["modern", "ayurveda", "yoga", "unani", "siddha", "homeopathy", "sowa_rigpa"];
const DEFAULT_RADIUS_KM: f64 = 50.0;
const MAX_RADIUS_KM: f64 = 500.0;

#[derive(Deserialize, ToSchema, Default)]
pub struct LocationInput {
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct CreateFacility {
    pub name: Option<String>,
    /// `hospital`, `clinic`, `diagnostic_lab`, `imaging_centre` or `pharmacy`.
    pub kind: Option<String>,
    /// `public` or `private`.
    pub ownership: Option<String>,
    /// From `modern`, `ayurveda`, `yoga`, `unani`, `siddha`, `homeopathy`, `sowa_rigpa`.
    pub systems_of_medicine: Option<Vec<String>>,
    pub address: Option<AddressInput>,
    pub location: Option<LocationInput>,
    pub phone: Option<String>,
}

#[derive(Serialize, ToSchema, Clone, Copy, Debug)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct Facility {
    /// `IN` + 10 digits.
    pub facility_id: String,
    pub name: String,
    pub kind: String,
    pub ownership: String,
    pub systems_of_medicine: Vec<String>,
    pub address: Address,
    pub location: Location,
    pub phone: Option<String>,
    pub created_at: String,
    /// Present when the list was asked for with `near`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct FacilityRow {
    id: String,
    name: String,
    kind: String,
    ownership: String,
    systems_of_medicine: String,
    address_line: Option<String>,
    district: Option<String>,
    state: String,
    pincode: String,
    lat: f64,
    lon: f64,
    phone: Option<String>,
    created_at: i64,
}

const COLUMNS: &str = "id, name, kind, ownership, systems_of_medicine, address_line, district, state, pincode, lat, lon, phone, created_at";

impl From<FacilityRow> for Facility {
    fn from(r: FacilityRow) -> Self {
        Self {
            facility_id: r.id,
            name: r.name,
            kind: r.kind,
            ownership: r.ownership,
            systems_of_medicine: serde_json::from_str(&r.systems_of_medicine).unwrap_or_default(),
            address: Address { line: r.address_line, district: r.district, state: r.state, pincode: r.pincode },
            location: Location { lat: r.lat, lon: r.lon },
            phone: r.phone,
            created_at: rfc3339(r.created_at),
            distance_km: None,
        }
    }
}

fn check_phone(phone: &str) -> Result<String, &'static str> {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')'));
    if allowed && (6..=15).contains(&digits) { Ok(phone.trim().to_owned()) } else { Err("a phone number has 6 to 15 digits") }
}

#[utoipa::path(post, path = "/api/v1/facilities", tag = "facilities", request_body = CreateFacility,
    responses((status = 201, body = Facility), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(registry): State<Registry>,
    user: AuthUser,
    ApiJson(req): ApiJson<CreateFacility>,
) -> ApiResult<(StatusCode, Json<Facility>)> {
    user.require(Role::Admin)?;
    let mut v = Violations::new();
    let name = v.check("name", required_text(req.name.as_deref(), 2, 200));
    let kind = v.check("kind", req.kind.as_deref().filter(|k| KINDS.contains(k)).ok_or(format!("kind is one of {}", KINDS.join(", "))));
    let ownership = v
        .check("ownership", req.ownership.as_deref().filter(|o| ["public", "private"].contains(o)).ok_or("ownership is public or private"));
    let systems = req.systems_of_medicine.unwrap_or_else(|| vec!["modern".into()]);
    if systems.is_empty() || systems.iter().any(|s| !SYSTEMS.contains(&s.as_str())) {
        v.add("systems_of_medicine", format!("a non-empty list of {}", SYSTEMS.join(", ")));
    }
    let mut systems_unique: Vec<String> = Vec::new();
    for s in systems {
        if !systems_unique.contains(&s) {
            systems_unique.push(s);
        }
    }
    let address = AddressInput::check(req.address, &mut v);
    let location = req.location.unwrap_or_default();
    let point = match (location.lat, location.lon) {
        (Some(lat), Some(lon)) => v.check("location", geo::check_point(lat, lon).map(|_| (lat, lon))),
        _ => v.check("location", Err("location needs lat and lon")),
    };
    let phone = req.phone.as_deref().filter(|p| !p.trim().is_empty()).and_then(|p| v.check("phone", check_phone(p)));
    v.finish()?;
    let (Some(name), Some(kind), Some(ownership), Some(ValidAddress { line, district, state, pincode }), Some((lat, lon))) =
        (name, kind, ownership, address, point)
    else {
        return Err(ApiError::unprocessable("validation_failed", "The facility is incomplete."));
    };

    let mut tx = registry.db.begin().await?;
    let id = loop {
        let candidate = FacilityId::generate();
        let taken: Option<String> =
            sqlx::query_scalar("SELECT id FROM facilities WHERE id = $1").bind(candidate.as_str()).fetch_optional(&mut *tx).await?;
        if taken.is_none() {
            break candidate;
        }
    };
    let now = now_ms();
    sqlx::query(
        "INSERT INTO facilities (id, name, name_lower, kind, ownership, systems_of_medicine, address_line, district, state, pincode, lat, lon, phone, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(id.as_str())
    .bind(&name)
    .bind(name.to_lowercase())
    .bind(kind)
    .bind(ownership)
    .bind(serde_json::to_string(&systems_unique).unwrap_or_default())
    .bind(&line)
    .bind(&district)
    .bind(&state)
    .bind(pincode.as_str())
    .bind(lat)
    .bind(lon)
    .bind(&phone)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(&mut tx, &AuditEvent::new(Some(Actor::from(&user)), "facility.create", "facility", Some(id.as_str().to_owned()))).await?;
    tx.commit().await?;
    let facility = fetch(registry.db.writer(), id.as_str()).await?.ok_or_else(|| ApiError::internal("created facility missing"))?;
    Ok((StatusCode::CREATED, Json(facility)))
}

async fn fetch(pool: &sqlx::AnyPool, id: &str) -> Result<Option<Facility>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM facilities WHERE id = $1");
    let row: Option<FacilityRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?;
    Ok(row.map(Facility::from))
}

#[utoipa::path(get, path = "/api/v1/facilities/{facility_id}", tag = "facilities",
    params(("facility_id" = String, Path, description = "`IN` + 10 digits")),
    responses((status = 200, body = Facility), (status = 404, body = crate::error::Problem)))]
pub async fn get_one(State(registry): State<Registry>, Path(raw): Path<String>) -> ApiResult<Json<Facility>> {
    let id = FacilityId::parse(&raw).map_err(|_| ApiError::not_found())?;
    fetch(registry.db.reader(), id.as_str()).await?.map(Json).ok_or_else(ApiError::not_found)
}

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct FacilityQuery {
    pub kind: Option<String>,
    pub pincode: Option<String>,
    /// Case-insensitive part of the name.
    pub q: Option<String>,
    /// `LAT,LON`: sort by distance from this point; each item then has `distance_km`.
    pub near: Option<String>,
    /// With `near`: how far to look (default 50, at most 500).
    pub radius_km: Option<f64>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Validated search filters, shared with routing code that looks for the nearest pharmacy.
pub struct Search {
    pub kind: Option<String>,
    pub pincode: Option<String>,
    pub name_like: Option<String>,
    pub near: Option<((f64, f64), f64)>,
}

impl Search {
    fn sql(&self) -> Sql {
        let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM facilities WHERE 1 = 1"));
        if let Some(kind) = &self.kind {
            let p = sql.arg(Arg::Text(kind.clone()));
            sql.push(&format!(" AND kind = {p}"));
        }
        if let Some(pincode) = &self.pincode {
            let p = sql.arg(Arg::Text(pincode.clone()));
            sql.push(&format!(" AND pincode = {p}"));
        }
        if let Some(pattern) = &self.name_like {
            let p = sql.arg(Arg::Text(pattern.clone()));
            sql.push(&format!(" AND name_lower LIKE {p} ESCAPE '\\'"));
        }
        if let Some(((lat, lon), radius)) = self.near {
            let (a, b, c, d) = geo::bounding_box(lat, lon, radius);
            let (pa, pb) = (sql.arg(Arg::Real(a)), sql.arg(Arg::Real(b)));
            sql.push(&format!(" AND lat BETWEEN {pa} AND {pb}"));
            if c > -180.0 || d < 180.0 {
                let (pc, pd) = (sql.arg(Arg::Real(c)), sql.arg(Arg::Real(d)));
                sql.push(&format!(" AND lon BETWEEN {pc} AND {pd}"));
            }
        }
        sql
    }

    /// Facilities within the radius, nearest first (ties by id), after the `(distance, id)` cursor.
    pub async fn nearest(&self, pool: &sqlx::AnyPool, after: Option<(f64, String)>, limit: usize) -> Result<Vec<Facility>, sqlx::Error> {
        let Some(((lat, lon), radius)) = self.near else { return Ok(Vec::new()) };
        let rows: Vec<FacilityRow> = self.sql().fetch_all(pool).await?;
        let mut found: Vec<Facility> = rows
            .into_iter()
            .filter_map(|r| {
                let d = geo::distance_km(lat, lon, r.lat, r.lon);
                (d <= radius).then(|| Facility { distance_km: Some((d * 1000.0).round() / 1000.0), ..Facility::from(r) })
            })
            .filter(|f| match &after {
                Some((d, id)) => (f.distance_km.unwrap_or_default(), &f.facility_id) > (*d, id),
                None => true,
            })
            .collect();
        found.sort_by(|x, y| {
            x.distance_km.partial_cmp(&y.distance_km).unwrap_or(std::cmp::Ordering::Equal).then_with(|| x.facility_id.cmp(&y.facility_id))
        });
        found.truncate(limit);
        Ok(found)
    }
}

/// Public. Filters combine; with `near` the list is sorted by distance.
#[utoipa::path(get, path = "/api/v1/facilities", tag = "facilities", params(FacilityQuery),
    responses((status = 200, body = inline(ListResponse<Facility>)), (status = 422, body = crate::error::Problem)))]
pub async fn list(State(registry): State<Registry>, ApiQuery(q): ApiQuery<FacilityQuery>) -> ApiResult<Json<ListResponse<Facility>>> {
    let mut v = Violations::new();
    let limit = v.check("limit", page::limit(q.limit).map_err(|_| "limit is between 1 and 200"));
    let cursor = v.check("cursor", page::decode_cursor(q.cursor.as_deref()).map_err(|_| "not a cursor this service issued")).flatten();
    if let Some(kind) = q.kind.as_deref().filter(|k| !KINDS.contains(k)) {
        v.add("kind", format!("`{}` is not one of {}", kind.chars().take(40).collect::<String>(), KINDS.join(", ")));
    }
    let pincode = q.pincode.as_deref().and_then(|p| v.check("pincode", Pincode::parse(p)));
    let near = q.near.as_deref().and_then(|n| v.check("near", geo::parse_point(n)));
    let radius = match q.radius_km {
        Some(r) if !(r.is_finite() && r > 0.0 && r <= MAX_RADIUS_KM) => {
            v.add("radius_km", format!("radius_km is more than 0 and at most {MAX_RADIUS_KM}"));
            DEFAULT_RADIUS_KM
        }
        Some(_) if q.near.is_none() => {
            v.add("radius_km", "radius_km needs near");
            DEFAULT_RADIUS_KM
        }
        Some(r) => r,
        None => DEFAULT_RADIUS_KM,
    };
    if let Some(text) = q.q.as_deref()
        && text.chars().count() > 100
    {
        v.add("q", "q has at most 100 characters");
    }
    v.finish()?;
    let limit = limit.unwrap_or(page::DEFAULT_LIMIT);
    let search = Search {
        kind: q.kind,
        pincode: pincode.map(|p| p.as_str().to_owned()),
        name_like: q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(|t| format!("%{}%", like_escape(&t.to_lowercase()))),
        near: near.map(|p| (p, radius)),
    };
    if search.near.is_some() {
        let after = match cursor {
            Some(c) => {
                let (d, id) = c.split_once('|').ok_or_else(|| ApiError::field("cursor", "not a cursor this service issued"))?;
                Some((d.parse::<f64>().map_err(|_| ApiError::field("cursor", "not a cursor this service issued"))?, id.to_owned()))
            }
            None => None,
        };
        let items = search.nearest(registry.db.reader(), after, limit as usize + 1).await?;
        return Ok(Json(page::paginate(items, limit, |f| format!("{}|{}", f.distance_km.unwrap_or_default(), f.facility_id))));
    }
    let mut sql = search.sql();
    if let Some(after) = cursor {
        let p = sql.arg(Arg::Text(after));
        sql.push(&format!(" AND id > {p}"));
    }
    let p = sql.arg(Arg::Int(i64::from(limit) + 1));
    sql.push(&format!(" ORDER BY id LIMIT {p}"));
    let rows: Vec<FacilityRow> = sql.fetch_all(registry.db.reader()).await?;
    let items: Vec<Facility> = rows.into_iter().map(Facility::from).collect();
    Ok(Json(page::paginate(items, limit, |f| f.facility_id.clone())))
}
