//! What pharmacists and patients do to an order: accept, reject, ready, dispatch, dispense (once, never more than
//! prescribed), cancel.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;
use vaidya_consult::prescriptions::PrescriptionFacts;
use vaidya_registry::audit::{self, Actor, AuditEvent};
use vaidya_registry::auth::{AuthUser, Role};
use vaidya_registry::body::ApiJson;
use vaidya_registry::db::{Tx, now_ms, unique_violation};
use vaidya_registry::error::{FieldError, Problem, Violations};
use vaidya_registry::text::{optional_text, required_text};
use vaidya_registry::{ApiError, ApiResult};

use crate::machine::Action;
use crate::moves::{self, Moved};
use crate::orders::{OrderRow, OrderView};
use crate::state::PharmacyState;

/// Loads the order for `user`, applies `action`, audits it, commits and wakes the people concerned.
async fn act(state: &PharmacyState, user: &AuthUser, id: &str, action: Action, reason: Option<&str>) -> ApiResult<Json<OrderView>> {
    let mut tx = state.registry.db.begin().await?;
    let order = OrderRow::load_for(&mut tx, id, user).await?;
    let moved = moves::apply(&mut tx, state, &order, action, reason, now_ms()).await?;
    finish(state, tx, user, moved, action).await
}

async fn finish(state: &PharmacyState, mut tx: Tx, user: &AuthUser, moved: Moved, action: Action) -> ApiResult<Json<OrderView>> {
    let Moved { order, woken } = moved;
    let event =
        AuditEvent::new(Some(Actor::from(user)), action.as_str(), "order", Some(order.id.clone())).subject(&order.patient_health_id);
    audit::record(&mut tx, &event.purpose("dispensing")).await?;
    let view = order.view(&mut tx).await?;
    tx.commit().await?;
    state.registry.events.wake_all(woken).await;
    Ok(Json(view))
}

fn pharmacist(user: &AuthUser) -> ApiResult<()> {
    user.require(Role::Pharmacist)
}

macro_rules! simple_action {
    ($name:ident, $action:expr, $path:literal, $who:ident, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "pharmacy", params(("id" = String, Path)),
                            responses((status = 200, body = OrderView), (status = 401, body = Problem), (status = 403, body = Problem),
                                (status = 404, body = Problem), (status = 409, body = Problem, description = "`invalid_transition`")),
                            security(("bearer" = [])))]
        pub async fn $name(State(state): State<PharmacyState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<OrderView>> {
            $who(&user)?;
            act(&state, &user, &id, $action, None).await
        }
    };
}

fn patient(user: &AuthUser) -> ApiResult<()> {
    user.require(Role::Patient)
}

simple_action!(accept, Action::Accept, "/api/v1/orders/{id}/accept", pharmacist, "The holding pharmacy accepts the order.");
simple_action!(ready, Action::Ready, "/api/v1/orders/{id}/ready", pharmacist, "A pickup order is packed and waiting at the counter.");
simple_action!(dispatch, Action::Dispatch, "/api/v1/orders/{id}/dispatch", pharmacist, "A delivery order is on its way.");
simple_action!(
    cancel,
    Action::Cancel,
    "/api/v1/orders/{id}/cancel",
    patient,
    "The patient withdraws the order before a pharmacy accepts it."
);

#[derive(Debug, Deserialize, ToSchema)]
pub struct Reject {
    /// Why (out of stock, closed, ...): shown to the patient.
    pub reason: Option<String>,
}

/// The holding pharmacy declines: the order moves on to the next nearest pharmacy, or ends `unfulfilled`.
#[utoipa::path(post, path = "/api/v1/orders/{id}/reject", tag = "pharmacy", params(("id" = String, Path)), request_body = Reject,
    responses((status = 200, body = OrderView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`invalid_transition`"), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn reject(
    State(state): State<PharmacyState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Reject>,
) -> ApiResult<Json<OrderView>> {
    pharmacist(&user)?;
    let reason = required_text(req.reason.as_deref(), 3, 300).map_err(|m| ApiError::field("reason", m))?;
    act(&state, &user, &id, Action::Reject, Some(&reason)).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DispenseItem {
    /// The item's index on the prescription (0 for the first).
    pub index: Option<i64>,
    pub quantity: Option<i64>,
    pub batch: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Dispense {
    pub items: Option<Vec<DispenseItem>>,
}

/// Checks what is handed over against what was prescribed; returns the dispensed items as stored.
fn check_dispense(req: Dispense, prescription: &PrescriptionFacts) -> ApiResult<serde_json::Value> {
    let prescribed = prescription.items();
    let mut v = Violations::new();
    let items = req.items.unwrap_or_default();
    if items.is_empty() {
        v.add("items", "lists what is handed over: [{index, quantity}]");
    }
    let mut seen = std::collections::HashSet::new();
    let mut over = Vec::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(p) = item.index.and_then(|x| usize::try_from(x).ok()).and_then(|x| prescribed.get(x)) else {
            v.add(format!("items[{i}].index"), format!("is the index of a prescribed item, 0 to {}", prescribed.len().saturating_sub(1)));
            continue;
        };
        if !seen.insert(p.index) {
            v.add(format!("items[{i}].index"), "lists each prescribed item once");
        }
        let batch = v.check(&format!("items[{i}].batch"), optional_text(item.batch.as_deref(), 50)).flatten();
        match item.quantity {
            Some(q) if q >= 1 && q <= i64::from(p.quantity) => {
                out.push(serde_json::json!({ "index": p.index, "code": p.code, "name": p.name, "quantity": q, "batch": batch }))
            }
            Some(q) if q > i64::from(p.quantity) => over.push(FieldError {
                field: format!("items[{i}].quantity"),
                message: format!("{q} is more than the {} prescribed of {}", p.quantity, p.name),
            }),
            _ => v.add(format!("items[{i}].quantity"), "is a whole number of units, at least 1"),
        }
    }
    v.finish()?;
    if !over.is_empty() {
        return Err(
            ApiError::unprocessable("exceeds_prescribed", "A pharmacy may not dispense more than was prescribed.").with_errors(over)
        );
    }
    Ok(serde_json::Value::Array(out))
}

/// The holding pharmacy hands the medicines over. A prescription is dispensed once: every other attempt is 409.
#[utoipa::path(post, path = "/api/v1/orders/{id}/dispense", tag = "pharmacy", params(("id" = String, Path)), request_body = Dispense,
    responses((status = 200, body = OrderView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`invalid_transition` or `already_dispensed`"),
        (status = 422, body = Problem, description = "`validation_failed` or `exceeds_prescribed`")),
    security(("bearer" = [])))]
pub async fn dispense(
    State(state): State<PharmacyState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Dispense>,
) -> ApiResult<Json<OrderView>> {
    pharmacist(&user)?;
    let mut tx = state.registry.db.begin().await?;
    let order = OrderRow::load_for(&mut tx, &id, &user).await?;
    let prescription =
        PrescriptionFacts::load(&mut tx, &order.prescription_id).await?.ok_or_else(|| ApiError::internal("prescription vanished"))?;
    let items = check_dispense(req, &prescription)?;
    let now = now_ms();
    let moved = moves::apply(&mut tx, &state, &order, Action::Dispense, None, now).await?;
    let recorded = sqlx::query(
        "INSERT INTO dispenses (prescription_id, order_id, pharmacy_id, pharmacist_id, items, dispensed_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&order.prescription_id)
    .bind(&order.id)
    .bind(&order.pharmacy_id)
    .bind(&user.subject_id)
    .bind(items.to_string())
    .bind(now)
    .execute(&mut *tx)
    .await;
    match recorded {
        Err(e) if unique_violation(&e).is_some() => {
            return Err(ApiError::conflict("already_dispensed", "This prescription has already been dispensed."));
        }
        other => other?,
    };
    sqlx::query("UPDATE prescriptions SET status = 'dispensed' WHERE id = $1 AND status = 'issued'")
        .bind(&order.prescription_id)
        .execute(&mut *tx)
        .await?;
    finish(&state, tx, &user, moved, Action::Dispense).await
}
