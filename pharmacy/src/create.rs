//! `POST /api/v1/prescriptions/{id}/orders`: the patient sends a prescription to a pharmacy of their choice or to the
//! nearest one. Accepts `Idempotency-Key`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sqlx::AnyConnection;
use utoipa::ToSchema;
use vaidya_registry::address::AddressInput;
use vaidya_registry::audit::{self, Actor, AuditEvent};
use vaidya_registry::auth::{Caller, Role};
use vaidya_registry::batch::{Batch, batches, one_statement};
use vaidya_registry::body::ApiJson;
use vaidya_registry::db::{now_ms, unique_violation};
use vaidya_registry::error::{Problem, Violations};
use vaidya_registry::geo;
use vaidya_registry::{ApiError, ApiResult};

use crate::idempotency;
use crate::machine::{Fulfilment, Status};
use crate::moves::start_turn;
use crate::ordering::{self, Looking};
use crate::orders::{OrderRow, Turn, announce, announce_in};
use crate::routing;
use crate::state::PharmacyState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct Point {
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOrder {
    /// A pharmacy of the patient's choice (a facility of kind `pharmacy`); or leave it out and give `near`.
    pub pharmacy_id: Option<String>,
    /// Where to look for the nearest pharmacy (and the next ones, should one decline).
    pub near: Option<Point>,
    /// `pickup` or `delivery`.
    pub fulfilment: Option<String>,
    /// Required for delivery.
    pub delivery_address: Option<AddressInput>,
}

struct ValidOrder {
    pharmacy_id: Option<String>,
    near: Option<(f64, f64)>,
    fulfilment: Fulfilment,
    delivery_address: Option<serde_json::Value>,
}

fn validate(req: CreateOrder) -> ApiResult<ValidOrder> {
    let mut v = Violations::new();
    let pharmacy_id = req.pharmacy_id.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
    if let Some(p) = &pharmacy_id
        && vaidya_registry::domain::FacilityId::parse(p).is_err()
    {
        v.add("pharmacy_id", "is a facility id: IN and 10 digits");
    }
    let near = match req.near {
        None => None,
        Some(Point { lat: Some(lat), lon: Some(lon) }) => match geo::check_point(lat, lon) {
            Ok(()) => Some((lat, lon)),
            Err(m) => {
                v.add("near", m);
                None
            }
        },
        Some(_) => {
            v.add("near", "needs both lat and lon");
            None
        }
    };
    if pharmacy_id.is_none() && near.is_none() && v.is_empty() {
        v.add("pharmacy_id", "name a pharmacy, or give `near` to send it to the nearest");
    }
    let fulfilment = match req.fulfilment.as_deref() {
        Some(f) => v.check("fulfilment", Fulfilment::parse(f).ok_or("must be `pickup` or `delivery`")),
        None => v.check("fulfilment", Err::<Fulfilment, _>("is required: `pickup` or `delivery`")),
    };
    let delivery_address = match (fulfilment, req.delivery_address) {
        (Some(Fulfilment::Delivery), address) => AddressInput::check_named(address, "delivery_address", &mut v)
            .map(|a| serde_json::json!({ "line": a.line, "district": a.district, "state": a.state, "pincode": a.pincode.as_str() })),
        (_, Some(_)) => {
            v.add("delivery_address", "is only for delivery orders");
            None
        }
        _ => None,
    };
    v.finish()?;
    let fulfilment = fulfilment.ok_or_else(|| ApiError::field("fulfilment", "is required"))?;
    Ok(ValidOrder { pharmacy_id, near, fulfilment, delivery_address })
}

/// Sends the prescription to a pharmacy; the pharmacy has the acceptance timeout to accept before it moves on.
#[utoipa::path(post, path = "/api/v1/prescriptions/{id}/orders", tag = "pharmacy", params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "a replay with the same key and body gets the same answer")),
    request_body = CreateOrder,
    responses((status = 201, body = crate::orders::OrderView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`order_open` or `already_dispensed`"),
        (status = 422, body = Problem, description = "`validation_failed`, `no_pharmacy_nearby` or `idempotency_key_reused`")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<PharmacyState>,
    caller: Caller,
    prescription_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<ApiJson<serde_json::Value>, ApiError>,
) -> Result<Response, Response> {
    let Path(prescription_id) = caller.extracted(&state.registry, prescription_id).await?;
    let ApiJson(body) = caller.extracted(&state.registry, body).await?;
    created(&state, &caller, &prescription_id, &headers, body).await.map_err(IntoResponse::into_response)
}

/// The request, checked: its idempotency key, the hash a replay must match, the order asked for.
fn checked(prescription_id: &str, headers: &HeaderMap, body: serde_json::Value) -> ApiResult<(Option<(String, String)>, ValidOrder)> {
    let key = idempotency::key(headers)?;
    let key = key.map(|k| (k, idempotency::request_hash(&format!("/api/v1/prescriptions/{prescription_id}/orders"), &body)));
    let req: CreateOrder = serde_json::from_value(body).map_err(vaidya_registry::body::invalid_shape)?;
    Ok((key, validate(req)?))
}

async fn created(
    state: &PharmacyState,
    caller: &Caller,
    prescription_id: &str,
    headers: &HeaderMap,
    body: serde_json::Value,
) -> ApiResult<Response> {
    let registry = &state.registry;
    caller.require(registry, Role::Patient).await?;
    let (key, order) = match checked(prescription_id, headers, body) {
        Ok(checked) => checked,
        Err(e) => return Err(caller.refuse(registry, e).await),
    };
    let db = &registry.db;
    let Some((key, hash)) = key else {
        // Nothing to claim: the reads (the first checks the session), then the order and all that goes with it as one write.
        let mut conn = db.lease().await?;
        let (row, event) = plan(&mut conn, state, caller, prescription_id, &order).await?;
        let woken = if batches(db) {
            // On its own, the one statement commits by itself.
            write(&mut conn, &row, &event).await?
        } else {
            let mut tx = db.begin().await?;
            let woken = write(&mut tx, &row, &event).await?;
            tx.commit().await?;
            woken
        };
        state.registry.events.wake_all(woken).await;
        return Ok(json(StatusCode::CREATED, serde_json::to_string(&row.view()).map_err(ApiError::internal)?));
    };
    // A stored answer is only for a live session: the session is checked before the claim.
    let user = caller.authenticate(registry).await?;
    // A request racing another with the same key finds that one's answer on its second try.
    for _ in 0..3 {
        let mut tx = db.begin().await?;
        match idempotency::claim(&mut tx, &user.account_id, &key, &hash).await {
            Ok(Some(stored)) => return Ok(json(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::CREATED), stored.body)),
            Ok(None) => {}
            Err(e) if e.code() == "idempotency_key_in_use" => continue,
            Err(e) => return Err(e),
        }
        let (row, event) = plan(&mut tx, state, caller, prescription_id, &order).await?;
        let woken = write(&mut tx, &row, &event).await?;
        let answer = serde_json::to_string(&row.view()).map_err(ApiError::internal)?;
        idempotency::finish(&mut tx, &user.account_id, &key, 201, &answer).await?;
        tx.commit().await?;
        state.registry.events.wake_all(woken).await;
        return Ok(json(StatusCode::CREATED, answer));
    }
    Err(ApiError::conflict("idempotency_key_in_use", "A request with this Idempotency-Key is in flight; retry."))
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Decides the order: the prescription is the patient's and free to order, the pharmacy is chosen. Returns the order
/// as it will be written, and its audit event.
async fn plan(
    conn: &mut AnyConnection,
    state: &PharmacyState,
    caller: &Caller,
    prescription_id: &str,
    order: &ValidOrder,
) -> ApiResult<(OrderRow, AuditEvent)> {
    let radius = state.settings.radius_km;
    let looking = match (&order.pharmacy_id, order.near) {
        (Some(id), _) => Some(Looking::Named(id)),
        (None, Some((lat, lon))) => Some(Looking::Near { lat, lon, step: routing::first_step(radius) }),
        (None, None) => None,
    };
    let Some((prescription, found)) = ordering::load(conn, prescription_id, caller, looking).await? else {
        return Err(caller.not_found(conn).await);
    };
    let user = caller.user(prescription.me.clone());
    if prescription.patient_health_id != user.subject_id {
        return Err(ApiError::not_found());
    }
    if prescription.status == "dispensed" {
        return Err(ApiError::conflict("already_dispensed", "This prescription has been dispensed."));
    }
    if prescription.open_order.is_some() {
        return Err(order_open());
    }
    let (pharmacy_id, pharmacy_name, origin) = match (&order.pharmacy_id, order.near) {
        (Some(id), near) => {
            let place = found.into_iter().next();
            let (_, name, lat, lon) = place.ok_or_else(|| ApiError::field("pharmacy_id", "no registered pharmacy has this id"))?;
            (id.clone(), name, near.unwrap_or((lat, lon)))
        }
        (None, Some((lat, lon))) => {
            // The first square came with the prescription; wider ones only when it held no pharmacy.
            let step = routing::first_step(radius);
            let nearest = match routing::pick(lat, lon, step, found) {
                None if step < radius => routing::nearest_beyond(conn, lat, lon, radius, None, step).await?,
                picked => picked,
            };
            let nearest = nearest.ok_or_else(|| {
                ApiError::unprocessable("no_pharmacy_nearby", format!("No registered pharmacy within {radius} km of this place."))
            })?;
            (nearest.facility_id, nearest.name, (lat, lon))
        }
        (None, None) => return Err(ApiError::field("pharmacy_id", "name a pharmacy, or give `near`")),
    };
    let now = now_ms();
    // The order as the insert writes it: nothing needs reading back.
    let row = OrderRow {
        id: uuid::Uuid::now_v7().to_string(),
        prescription_id: prescription_id.to_owned(),
        patient_health_id: user.subject_id.clone(),
        patient_account_id: prescription.patient_account_id,
        patient_name: prescription.patient_name,
        history: vec![Turn {
            pharmacy_id: pharmacy_id.clone(),
            pharmacy_name: pharmacy_name.clone(),
            routed_ms: now,
            outcome: None,
            reason: None,
        }],
        pharmacy_id: Some(pharmacy_id),
        pharmacy_name: Some(pharmacy_name),
        status: Status::Routed.as_str().to_owned(),
        fulfilment: order.fulfilment.as_str().to_owned(),
        delivery_address: order.delivery_address.as_ref().map(|a| a.to_string()),
        origin_lat: origin.0,
        origin_lon: origin.1,
        accept_by: Some(now + state.settings.accept_timeout_ms),
        version: 1,
        created_at: now,
        updated_at: now,
        items: prescription.items,
        patient_age: prescription.patient_age,
        doctor_name: prescription.doctor_name,
        registration_number: prescription.registration_number,
        issued_at: prescription.issued_at,
    };
    let event =
        AuditEvent::new(Some(Actor::from(&user)), "route", "order", Some(row.id.clone())).subject(&user.subject_id).purpose("dispensing");
    Ok((row, event))
}

const INSERT_ORDER: &str = "INSERT INTO orders (id, prescription_id, patient_health_id, pharmacy_id, status, fulfilment, delivery_address, \
     origin_lat, origin_lon, accept_by, version, created_at, updated_at)";

/// Writes the order, the holder's first turn, `order.updated` and the audit event: one statement on PostgreSQL, one
/// after another on SQLite (in the caller's transaction). A second open order for the prescription is a unique
/// violation. Returns the accounts to wake.
async fn write(conn: &mut AnyConnection, row: &OrderRow, event: &AuditEvent) -> ApiResult<Vec<String>> {
    let holder = row.pharmacy_id.as_deref().unwrap_or_default();
    if !one_statement(conn) {
        sqlx::query(sqlx::AssertSqlSafe(format!("{INSERT_ORDER} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)")))
            .bind(&row.id)
            .bind(&row.prescription_id)
            .bind(&row.patient_health_id)
            .bind(&row.pharmacy_id)
            .bind(&row.status)
            .bind(&row.fulfilment)
            .bind(&row.delivery_address)
            .bind(row.origin_lat)
            .bind(row.origin_lon)
            .bind(row.accept_by)
            .bind(row.version)
            .bind(row.created_at)
            .execute(&mut *conn)
            .await
            .map_err(unique_is_open)?;
        start_turn(conn, &row.id, holder, row.created_at).await?;
        let woken = announce(conn, row, None).await?;
        audit::record(conn, event).await?;
        return Ok(woken);
    }
    let mut batch = Batch::new();
    let values = [
        batch.arg(&row.id),
        batch.arg(&row.prescription_id),
        batch.arg(&row.patient_health_id),
        batch.arg(&row.pharmacy_id),
        batch.arg(&row.status),
        batch.arg(&row.fulfilment),
        batch.arg(&row.delivery_address),
        batch.arg(row.origin_lat),
        batch.arg(row.origin_lon),
        batch.arg(row.accept_by),
        batch.arg(row.version),
        batch.arg(row.created_at),
    ];
    batch.with("placed", &format!("{INSERT_ORDER} VALUES ({}, {}) RETURNING id", values.join(", "), values[11]));
    let holder = batch.arg(holder);
    batch.with(
        "turn",
        &format!("INSERT INTO order_holders (order_id, pharmacy_id, routed_at) SELECT id, {holder}, {} FROM placed", values[11]),
    );
    announce_in(&mut batch, row, "placed");
    audit::record_in(&mut batch, "audited", event, Some("placed"));
    let told: Vec<(String,)> = batch.fetch_all(conn, "SELECT account_id FROM told").await.map_err(unique_is_open)?;
    Ok(told.into_iter().map(|(a,)| a).collect())
}

/// The partial unique index on open orders turns a racing second order into a unique violation.
fn unique_is_open(e: sqlx::Error) -> ApiError {
    if unique_violation(&e).is_some() { order_open() } else { e.into() }
}

fn order_open() -> ApiError {
    ApiError::conflict("order_open", "This prescription already has an open order; cancel it first.")
}
