//! Applying an action to a stored order: the state machine's verdict, then a compare-and-set on the order's version,
//! so two racing changes cannot both land; a reroute hands the order to the next nearest pharmacy.

use sqlx::AnyConnection;
use vaidya_registry::Db;
use vaidya_registry::audit::{self, AuditEvent};
use vaidya_registry::batch::{Batch, batches};
use vaidya_registry::db::unique_violation;
use vaidya_registry::{ApiError, ApiResult};

use crate::machine::{self, Action, Next, Status};
use crate::orders::{OrderRow, announce, announce_in};
use crate::routing;
use crate::state::PharmacyState;

/// The result of a move: the order as it is now and the accounts to wake once the transaction commits.
pub struct Moved {
    pub order: OrderRow,
    pub woken: Vec<String>,
}

/// One step on an order and what goes on record with it.
pub struct Step<'a> {
    pub action: Action,
    /// The pharmacy's reason, for a rejection.
    pub reason: Option<&'a str>,
    pub now: i64,
    /// Recorded with the step, in its transaction.
    pub audit: AuditEvent,
    /// What a dispense hands over.
    pub handover: Option<Handover<'a>>,
}

/// The dispensing record: who handed over what.
pub struct Handover<'a> {
    pub pharmacist_id: &'a str,
    /// The dispensed items, as JSON.
    pub items: String,
}

pub fn invalid(order: &OrderRow, action: Action) -> ApiError {
    ApiError::conflict("invalid_transition", format!("An order that is {} does not allow `{}`.", order.status, action.as_str()))
}

fn changed_meanwhile() -> ApiError {
    ApiError::conflict("invalid_transition", "The order changed while this request was made; reload it and try again.")
}

fn already_dispensed() -> ApiError {
    ApiError::conflict("already_dispensed", "This prescription has already been dispensed.")
}

/// Applies `step` to `order` (as loaded on `conn`, outside any transaction) and records it; the change is committed
/// when this returns. On PostgreSQL the change is one statement on `conn`.
pub async fn apply(state: &PharmacyState, conn: &mut AnyConnection, order: OrderRow, step: Step<'_>) -> ApiResult<Moved> {
    let next = machine::next(order.status(), order.fulfilment(), step.action).ok_or_else(|| invalid(&order, step.action))?;
    match next {
        Next::To(status) => change(&state.registry.db, conn, order, status, step).await,
        Next::Reroute => {
            let mut tx = state.registry.db.begin_on(conn).await?;
            reroute(&mut tx, state, &order, step.action, step.reason, step.now).await?;
            let moved = OrderRow::load(&mut tx, &order.id).await?.ok_or_else(|| ApiError::internal("order vanished"))?;
            let left = order.pharmacy_id.filter(|p| moved.pharmacy_id.as_deref() != Some(p.as_str()));
            let woken = announce(&mut tx, &moved, left.as_deref()).await?;
            audit::record(&mut tx, &step.audit).await?;
            tx.commit().await?;
            Ok(Moved { order: moved, woken })
        }
    }
}

/// Moves the order to `status` with a compare-and-set on its version. The order after the change is known without
/// reading it again: the compare-and-set only lands on the row as it was loaded, and the change is exactly these columns.
async fn change(db: &Db, conn: &mut AnyConnection, order: OrderRow, status: Status, step: Step<'_>) -> ApiResult<Moved> {
    let ended = match step.action {
        Action::Accept => Some("accepted"),
        Action::Cancel => Some("cancelled"),
        _ => None,
    };
    let ended = ended.zip(order.pharmacy_id.clone());
    let mut after = order.clone();
    after.status = status.as_str().to_owned();
    after.accept_by = None;
    after.version += 1;
    after.updated_at = step.now;
    if let Some((outcome, pharmacy)) = &ended {
        for turn in after.history.iter_mut().filter(|t| &t.pharmacy_id == pharmacy && t.outcome.is_none()) {
            turn.outcome = Some((*outcome).to_owned());
            turn.reason = None;
        }
    }
    if !batches(db) {
        let mut tx = db.begin_on(conn).await?;
        set_status(&mut tx, &order, status, step.now).await?;
        if let Some((outcome, pharmacy)) = &ended {
            end_turn(&mut tx, &order.id, pharmacy, outcome, None, step.now).await?;
        }
        if let Some(handover) = &step.handover {
            hand_over(&mut tx, &order, handover, step.now).await?;
        }
        let woken = announce(&mut tx, &after, None).await?;
        audit::record(&mut tx, &step.audit).await?;
        tx.commit().await?;
        return Ok(Moved { order: after, woken });
    }
    // One statement: the compare-and-set, then (only if it landed) the rest, committed together.
    let mut batch = Batch::new();
    let (to, now, id, version, from) =
        (batch.arg(status.as_str()), batch.arg(step.now), batch.arg(&order.id), batch.arg(order.version), batch.arg(&order.status));
    batch.with(
        "moved",
        &format!(
            "UPDATE orders SET status = {to}, accept_by = NULL, version = version + 1, updated_at = {now} \
             WHERE id = {id} AND version = {version} AND status = {from} RETURNING id"
        ),
    );
    if let Some((outcome, pharmacy)) = &ended {
        let (outcome, pharmacy) = (batch.arg(*outcome), batch.arg(pharmacy));
        batch.with(
            "ended",
            &format!(
                "UPDATE order_holders SET outcome = {outcome}, reason = NULL, ended_at = {now} \
                 WHERE order_id = {id} AND pharmacy_id = {pharmacy} AND outcome IS NULL AND EXISTS (SELECT 1 FROM moved)"
            ),
        );
    }
    let dispensing = step.handover.is_some();
    if let Some(handover) = step.handover {
        let values = [
            batch.arg(&order.prescription_id),
            batch.arg(&order.pharmacy_id),
            batch.arg(handover.pharmacist_id),
            batch.arg(handover.items),
        ];
        let (prescription, pharmacy, pharmacist, items) = (&values[0], &values[1], &values[2], &values[3]);
        batch
            .with("handed", &format!("{INSERT_DISPENSE} SELECT {prescription}, {id}, {pharmacy}, {pharmacist}, {items}, {now} FROM moved"));
        batch.with(
            "closed",
            &format!("UPDATE prescriptions SET status = 'dispensed' WHERE id = {prescription} AND status = 'issued' AND EXISTS (SELECT 1 FROM moved)"),
        );
    }
    announce_in(&mut batch, &after, "moved");
    audit::record_in(&mut batch, "audited", &step.audit, Some("moved"));
    // The patient is told of every change: no account told means the compare-and-set missed.
    let told: Result<Vec<(String,)>, _> = batch.fetch_all(conn, "SELECT account_id FROM told").await;
    let woken: Vec<String> = match told {
        Err(e) if dispensing && unique_violation(&e).is_some() => return Err(already_dispensed()),
        other => other?.into_iter().map(|(a,)| a).collect(),
    };
    if woken.is_empty() {
        return Err(changed_meanwhile());
    }
    Ok(Moved { order: after, woken })
}

const INSERT_DISPENSE: &str = "INSERT INTO dispenses (prescription_id, order_id, pharmacy_id, pharmacist_id, items, dispensed_at)";

/// Records the dispensing: one per prescription, ever (the schema refuses a second).
async fn hand_over(conn: &mut AnyConnection, order: &OrderRow, handover: &Handover<'_>, now: i64) -> ApiResult<()> {
    let recorded = sqlx::query(sqlx::AssertSqlSafe(format!("{INSERT_DISPENSE} VALUES ($1, $2, $3, $4, $5, $6)")))
        .bind(&order.prescription_id)
        .bind(&order.id)
        .bind(&order.pharmacy_id)
        .bind(handover.pharmacist_id)
        .bind(handover.items.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await;
    match recorded {
        Err(e) if unique_violation(&e).is_some() => return Err(already_dispensed()),
        other => other?,
    };
    sqlx::query("UPDATE prescriptions SET status = 'dispensed' WHERE id = $1 AND status = 'issued'")
        .bind(&order.prescription_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn set_status(conn: &mut AnyConnection, order: &OrderRow, status: Status, now: i64) -> ApiResult<()> {
    let done = sqlx::query(
        "UPDATE orders SET status = $1, accept_by = NULL, version = version + 1, updated_at = $2 WHERE id = $3 AND version = $4 AND status = $5",
    )
    .bind(status.as_str())
    .bind(now)
    .bind(&order.id)
    .bind(order.version)
    .bind(&order.status)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(changed_meanwhile()) }
}

async fn end_turn(
    conn: &mut AnyConnection,
    order_id: &str,
    pharmacy_id: &str,
    outcome: &str,
    reason: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    sqlx::query(
        "UPDATE order_holders SET outcome = $1, reason = $2, ended_at = $3 WHERE order_id = $4 AND pharmacy_id = $5 AND outcome IS NULL",
    )
    .bind(outcome)
    .bind(reason)
    .bind(now)
    .bind(order_id)
    .bind(pharmacy_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Gives `pharmacy_id` its turn with the order, with the acceptance deadline starting now.
pub async fn start_turn(conn: &mut AnyConnection, order_id: &str, pharmacy_id: &str, now: i64) -> ApiResult<()> {
    sqlx::query("INSERT INTO order_holders (order_id, pharmacy_id, routed_at) VALUES ($1, $2, $3)")
        .bind(order_id)
        .bind(pharmacy_id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// The holder declined or let the deadline pass: the next nearest pharmacy that has not had the order gets it, or the
/// order ends `unfulfilled` when none is left within reach or enough pharmacies have had their turn.
async fn reroute(
    conn: &mut AnyConnection,
    state: &PharmacyState,
    order: &OrderRow,
    action: Action,
    reason: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    let outcome = if action == Action::TimeOut { "timed_out" } else { "rejected" };
    if let Some(pharmacy) = &order.pharmacy_id {
        end_turn(conn, &order.id, pharmacy, outcome, reason, now).await?;
    }
    let turns: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM order_holders WHERE order_id = $1").bind(&order.id).fetch_one(&mut *conn).await?;
    let next = if turns >= state.settings.max_pharmacies {
        None
    } else {
        routing::nearest(conn, order.origin_lat, order.origin_lon, state.settings.radius_km, Some(&order.id)).await?
    };
    let Some(next) = next else {
        return set_status(conn, order, Status::Unfulfilled, now).await;
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
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(changed_meanwhile());
    }
    start_turn(conn, &order.id, &next.facility_id, now).await
}
