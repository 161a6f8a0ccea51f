//! Applying an action to a stored order: the state machine's verdict, then a compare-and-set on the order's version,
//! so two racing changes cannot both land; a reroute hands the order to the next nearest pharmacy.

use vaidya_registry::db::Tx;
use vaidya_registry::{ApiError, ApiResult};

use crate::machine::{self, Action, Next, Status};
use crate::orders::{OrderRow, announce};
use crate::routing;
use crate::state::PharmacyState;

/// The result of a move: the order as it is now and the accounts to wake once the transaction commits.
pub struct Moved {
    pub order: OrderRow,
    pub woken: Vec<String>,
}

pub fn invalid(order: &OrderRow, action: Action) -> ApiError {
    ApiError::conflict("invalid_transition", format!("An order that is {} does not allow `{}`.", order.status, action.as_str()))
}

fn changed_meanwhile() -> ApiError {
    ApiError::conflict("invalid_transition", "The order changed while this request was made; reload it and try again.")
}

/// Applies `action` (with the pharmacy's `reason` for a rejection) in `tx`.
pub async fn apply(
    tx: &mut Tx,
    state: &PharmacyState,
    order: &OrderRow,
    action: Action,
    reason: Option<&str>,
    now: i64,
) -> ApiResult<Moved> {
    let next = machine::next(order.status(), order.fulfilment(), action).ok_or_else(|| invalid(order, action))?;
    let previous = order.pharmacy_id.clone();
    match next {
        Next::To(status) => {
            set_status(tx, order, status, now).await?;
            let outcome = match action {
                Action::Accept => Some("accepted"),
                Action::Cancel => Some("cancelled"),
                _ => None,
            };
            if let (Some(outcome), Some(pharmacy)) = (outcome, &order.pharmacy_id) {
                end_turn(tx, &order.id, pharmacy, outcome, None, now).await?;
            }
        }
        Next::Reroute => reroute(tx, state, order, action, reason, now).await?,
    }
    let order = OrderRow::load(tx, &order.id).await?.ok_or_else(|| ApiError::internal("order vanished"))?;
    let left = previous.filter(|p| order.pharmacy_id.as_deref() != Some(p.as_str()));
    let woken = announce(tx, &order, left.as_deref()).await?;
    Ok(Moved { order, woken })
}

async fn set_status(tx: &mut Tx, order: &OrderRow, status: Status, now: i64) -> ApiResult<()> {
    let done = sqlx::query(
        "UPDATE orders SET status = $1, accept_by = NULL, version = version + 1, updated_at = $2 WHERE id = $3 AND version = $4 AND status = $5",
    )
    .bind(status.as_str())
    .bind(now)
    .bind(&order.id)
    .bind(order.version)
    .bind(&order.status)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(changed_meanwhile()) }
}

async fn end_turn(tx: &mut Tx, order_id: &str, pharmacy_id: &str, outcome: &str, reason: Option<&str>, now: i64) -> ApiResult<()> {
    sqlx::query(
        "UPDATE order_holders SET outcome = $1, reason = $2, ended_at = $3 WHERE order_id = $4 AND pharmacy_id = $5 AND outcome IS NULL",
    )
    .bind(outcome)
    .bind(reason)
    .bind(now)
    .bind(order_id)
    .bind(pharmacy_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Gives `pharmacy_id` its turn with the order, with the acceptance deadline starting now.
pub async fn start_turn(tx: &mut Tx, order_id: &str, pharmacy_id: &str, now: i64) -> ApiResult<()> {
    sqlx::query("INSERT INTO order_holders (order_id, pharmacy_id, routed_at) VALUES ($1, $2, $3)")
        .bind(order_id)
        .bind(pharmacy_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The holder declined or let the deadline pass: the next nearest pharmacy that has not had the order gets it, or the
/// order ends `unfulfilled` when none is left within reach or enough pharmacies have had their turn.
async fn reroute(tx: &mut Tx, state: &PharmacyState, order: &OrderRow, action: Action, reason: Option<&str>, now: i64) -> ApiResult<()> {
    let outcome = if action == Action::TimeOut { "timed_out" } else { "rejected" };
    if let Some(pharmacy) = &order.pharmacy_id {
        end_turn(tx, &order.id, pharmacy, outcome, reason, now).await?;
    }
    let turns: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM order_holders WHERE order_id = $1").bind(&order.id).fetch_one(&mut **tx).await?;
    let next = if turns >= state.settings.max_pharmacies {
        None
    } else {
        routing::nearest(tx, order.origin_lat, order.origin_lon, state.settings.radius_km, Some(&order.id)).await?
    };
    let Some(next) = next else {
        return set_status(tx, order, Status::Unfulfilled, now).await;
    };
    let done = sqlx::query(
        "UPDATE orders SET pharmacy_id = $1, accept_by = $2, version = version + 1, updated_at = $3 \
         WHERE id = $4 AND version = $5 AND status = 'routed'",
    )
    .bind(&next.facility_id)
    .bind(now + state.settings.accept_timeout_ms)
    .bind(now)
    .bind(&order.id)
    .bind(order.version)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(changed_meanwhile());
    }
    start_turn(tx, &order.id, &next.facility_id, now).await
}
