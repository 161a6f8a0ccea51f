//! `POST /api/v1/prescriptions/{id}/orders`: the patient sends a prescription to a pharmacy of their choice or to the
//! nearest one. Accepts `Idempotency-Key`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use vaidya_consult::prescriptions::PrescriptionFacts;
use vaidya_registry::address::AddressInput;
use vaidya_registry::audit::{self, Actor, AuditEvent};
use vaidya_registry::auth::{AuthUser, Role};
use vaidya_registry::body::ApiJson;
use vaidya_registry::db::{Tx, now_ms, unique_violation};
use vaidya_registry::error::{Problem, Violations};
use vaidya_registry::geo;
use vaidya_registry::{ApiError, ApiResult};

use crate::idempotency;
use crate::machine::Fulfilment;
use crate::moves::start_turn;
use crate::orders::{OrderRow, announce};
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
    user: AuthUser,
    Path(prescription_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<Response> {
    user.require(Role::Patient)?;
    let key = idempotency::key(&headers)?;
    let hash = idempotency::request_hash(&format!("/api/v1/prescriptions/{prescription_id}/orders"), &body);
    let req: CreateOrder = serde_json::from_value(body).map_err(vaidya_registry::body::invalid_shape)?;
    let order = validate(req)?;
    // A request racing another with the same key finds that one's answer on its second try.
    for _ in 0..3 {
        let mut tx = state.registry.db.begin().await?;
        if let Some(key) = &key {
            match idempotency::claim(&mut tx, &user.account_id, key, &hash).await {
                Ok(Some(stored)) => return Ok(json(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::CREATED), stored.body)),
                Ok(None) => {}
                Err(e) if e.code() == "idempotency_key_in_use" => continue,
                Err(e) => return Err(e),
            }
        }
        let (answer, woken) = place(&mut tx, &state, &user, &prescription_id, &order).await?;
        if let Some(key) = &key {
            idempotency::finish(&mut tx, &user.account_id, key, 201, &answer).await?;
        }
        tx.commit().await?;
        state.registry.events.wake_all(woken).await;
        return Ok(json(StatusCode::CREATED, answer));
    }
    Err(ApiError::conflict("idempotency_key_in_use", "A request with this Idempotency-Key is in flight; retry."))
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Creates the order in `tx`; returns its JSON and the accounts to wake.
async fn place(
    tx: &mut Tx,
    state: &PharmacyState,
    user: &AuthUser,
    prescription_id: &str,
    order: &ValidOrder,
) -> ApiResult<(String, Vec<String>)> {
    let prescription = PrescriptionFacts::load(tx, prescription_id).await?.filter(|p| p.patient_health_id == user.subject_id);
    let prescription = prescription.ok_or_else(ApiError::not_found)?;
    if prescription.status == "dispensed" {
        return Err(ApiError::conflict("already_dispensed", "This prescription has been dispensed."));
    }
    let open: Option<String> =
        sqlx::query_scalar("SELECT id FROM orders WHERE prescription_id = $1 AND status IN ('routed', 'accepted', 'ready', 'dispatched')")
            .bind(prescription_id)
            .fetch_optional(&mut **tx)
            .await?;
    if open.is_some() {
        return Err(order_open());
    }
    let (pharmacy_id, origin) = match (&order.pharmacy_id, order.near) {
        (Some(id), near) => {
            let place: Option<(f64, f64)> = sqlx::query_as("SELECT lat, lon FROM facilities WHERE id = $1 AND kind = 'pharmacy'")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
            let place = place.ok_or_else(|| ApiError::field("pharmacy_id", "no registered pharmacy has this id"))?;
            (id.clone(), near.unwrap_or(place))
        }
        (None, Some((lat, lon))) => {
            let nearest = routing::nearest(tx, lat, lon, state.settings.radius_km, None).await?;
            let nearest = nearest.ok_or_else(|| {
                ApiError::unprocessable(
                    "no_pharmacy_nearby",
                    format!("No registered pharmacy within {} km of this place.", state.settings.radius_km),
                )
            })?;
            (nearest.facility_id, (lat, lon))
        }
        (None, None) => return Err(ApiError::field("pharmacy_id", "name a pharmacy, or give `near`")),
    };
    let now = now_ms();
    let id = uuid::Uuid::now_v7().to_string();
    let inserted = sqlx::query(
        "INSERT INTO orders (id, prescription_id, patient_health_id, pharmacy_id, status, fulfilment, delivery_address, origin_lat, origin_lon, \
         accept_by, version, created_at, updated_at) VALUES ($1, $2, $3, $4, 'routed', $5, $6, $7, $8, $9, 1, $10, $10)",
    )
    .bind(&id)
    .bind(prescription_id)
    .bind(&user.subject_id)
    .bind(&pharmacy_id)
    .bind(order.fulfilment.as_str())
    .bind(order.delivery_address.as_ref().map(|a| a.to_string()))
    .bind(origin.0)
    .bind(origin.1)
    .bind(now + state.settings.accept_timeout_ms)
    .bind(now)
    .execute(&mut **tx)
    .await;
    match inserted {
        Err(e) if unique_violation(&e).is_some() => return Err(order_open()),
        other => other?,
    };
    start_turn(tx, &id, &pharmacy_id, now).await?;
    let row = OrderRow::load(tx, &id).await?.ok_or_else(|| ApiError::internal("order vanished"))?;
    let woken = announce(tx, &row, None).await?;
    let event = AuditEvent::new(Some(Actor::from(user)), "route", "order", Some(id.clone())).subject(&user.subject_id);
    audit::record(tx, &event.purpose("dispensing")).await?;
    let view = row.view(tx).await?;
    Ok((serde_json::to_string(&view).map_err(ApiError::internal)?, woken))
}

fn order_open() -> ApiError {
    ApiError::conflict("order_open", "This prescription already has an open order; cancel it first.")
}
