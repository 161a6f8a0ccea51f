//! What pharmacists and patients do to an order: accept, reject, ready, dispatch, dispense (once, never more than
//! prescribed), cancel.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use vaidya_consult::prescriptions::PrescribedItem;
use vaidya_registry::audit::{Actor, AuditEvent};
use vaidya_registry::auth::{AuthUser, Caller, Role};
use vaidya_registry::body::ApiJson;
use vaidya_registry::db::now_ms;
use vaidya_registry::error::{FieldError, Problem, Violations};
use vaidya_registry::text::{optional_text, required_text};
use vaidya_registry::{ApiError, ApiResult};

use crate::machine::Action;
use crate::moves::{self, Handover, Moved, Step};
use crate::orders::{OrderRow, OrderView};
use crate::state::PharmacyState;

/// A handler's answer: its rejections of the path or body come as responses already (see `Caller::extracted`).
type Reply = Result<Json<OrderView>, Response>;

/// Loads the order for the caller (checking their session in the same query), applies `action` with its audit event,
/// commits and wakes the people concerned.
async fn act(state: &PharmacyState, caller: &Caller, id: &str, action: Action, reason: Option<&str>) -> ApiResult<Json<OrderView>> {
    let mut conn = state.registry.db.lease().await?;
    let (order, user) = OrderRow::load_checked(&mut conn, id, caller).await?;
    let step = Step { action, reason, now: now_ms(), audit: audited(&user, &order, action), handover: None };
    finish(state, moves::apply(state, &mut conn, order, step).await?).await
}

/// The audit event of `user` taking `action` on `order`.
fn audited(user: &AuthUser, order: &OrderRow, action: Action) -> AuditEvent {
    AuditEvent::new(Some(Actor::from(user)), action.as_str(), "order", Some(order.id.clone()))
        .subject(&order.patient_health_id)
        .purpose("dispensing")
}

/// After the change committed: wakes the people it notified and shows the order as it is now.
async fn finish(state: &PharmacyState, moved: Moved) -> ApiResult<Json<OrderView>> {
    let Moved { order, woken } = moved;
    state.registry.events.wake_all(woken).await;
    Ok(Json(order.view()))
}

macro_rules! simple_action {
    ($name:ident, $action:expr, $path:literal, $who:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "pharmacy", params(("id" = String, Path)),
                            responses((status = 200, body = OrderView), (status = 401, body = Problem), (status = 403, body = Problem),
                                (status = 404, body = Problem), (status = 409, body = Problem, description = "`invalid_transition`")),
                            security(("bearer" = [])))]
        pub async fn $name(State(state): State<PharmacyState>, caller: Caller, id: Result<Path<String>, PathRejection>) -> Reply {
            let Path(id) = caller.extracted(&state.registry, id).await?;
            let acted = async {
                caller.require(&state.registry, $who).await?;
                act(&state, &caller, &id, $action, None).await
            };
            acted.await.map_err(IntoResponse::into_response)
        }
    };
}

simple_action!(accept, Action::Accept, "/api/v1/orders/{id}/accept", Role::Pharmacist, "The holding pharmacy accepts the order.");
simple_action!(ready, Action::Ready, "/api/v1/orders/{id}/ready", Role::Pharmacist, "A pickup order is packed and waiting at the counter.");
simple_action!(dispatch, Action::Dispatch, "/api/v1/orders/{id}/dispatch", Role::Pharmacist, "A delivery order is on its way.");
simple_action!(
    cancel,
    Action::Cancel,
    "/api/v1/orders/{id}/cancel",
    Role::Patient,
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
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    req: Result<ApiJson<Reject>, ApiError>,
) -> Reply {
    let Path(id) = caller.extracted(&state.registry, id).await?;
    let ApiJson(req) = caller.extracted(&state.registry, req).await?;
    let acted = async {
        caller.require(&state.registry, Role::Pharmacist).await?;
        let reason = match required_text(req.reason.as_deref(), 3, 300) {
            Ok(reason) => reason,
            Err(m) => return Err(caller.refuse(&state.registry, ApiError::field("reason", m)).await),
        };
        act(&state, &caller, &id, Action::Reject, Some(&reason)).await
    };
    acted.await.map_err(IntoResponse::into_response)
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
fn check_dispense(req: Dispense, prescribed: &[PrescribedItem]) -> ApiResult<serde_json::Value> {
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
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    req: Result<ApiJson<Dispense>, ApiError>,
) -> Reply {
    let Path(id) = caller.extracted(&state.registry, id).await?;
    let ApiJson(req) = caller.extracted(&state.registry, req).await?;
    let dispensed = async {
        caller.require(&state.registry, Role::Pharmacist).await?;
        let mut conn = state.registry.db.lease().await?;
        let (order, user) = OrderRow::load_checked(&mut conn, &id, &caller).await?;
        let items = check_dispense(req, &order.prescribed())?;
        let handover = Handover { pharmacist_id: &user.subject_id, items: items.to_string() };
        let audit = audited(&user, &order, Action::Dispense);
        let step = Step { action: Action::Dispense, reason: None, now: now_ms(), audit, handover: Some(handover) };
        finish(&state, moves::apply(&state, &mut conn, order, step).await?).await
    };
    dispensed.await.map_err(IntoResponse::into_response)
}
