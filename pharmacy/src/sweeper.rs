//! Acceptance deadlines: routed orders whose pharmacy did not accept in time move on to the next pharmacy. Any node
//! may run this; the compare-and-set on each order's version lets exactly one node move it.

use std::time::Duration;

use vaidya_registry::ApiResult;
use vaidya_registry::audit::AuditEvent;
use vaidya_registry::db::now_ms;

use crate::machine::Action;
use crate::moves::{self, Step};
use crate::orders::OrderRow;
use crate::state::PharmacyState;

/// Orders looked at per pass.
const BATCH: i64 = 100;

/// Moves on every routed order past its deadline; returns how many moved.
pub async fn sweep(state: &PharmacyState) -> ApiResult<usize> {
    let now = now_ms();
    let due: Vec<String> =
        sqlx::query_scalar("SELECT id FROM orders WHERE status = 'routed' AND accept_by <= $1 ORDER BY accept_by LIMIT $2")
            .bind(now)
            .bind(BATCH)
            .fetch_all(state.registry.db.reader())
            .await?;
    let mut moved = 0;
    for id in due {
        let mut conn = state.registry.db.lease().await?;
        let Some(order) = OrderRow::load(&mut conn, &id).await? else { continue };
        if order.status != "routed" || order.accept_by.is_none_or(|at| at > now) {
            continue;
        }
        let audit =
            AuditEvent::new(None, "time_out", "order", Some(order.id.clone())).subject(&order.patient_health_id).purpose("dispensing");
        let step = Step { action: Action::TimeOut, reason: Some("no answer in time"), now, audit, handover: None };
        // Another node may have moved it since the scan: that is a conflict here, and nothing to do.
        let Ok(done) = moves::apply(state, &mut conn, order, step).await else { continue };
        state.registry.events.wake_all(done.woken).await;
        moved += 1;
    }
    Ok(moved)
}

/// Sweeps every second, for the life of the node.
pub async fn sweep_forever(state: PharmacyState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if sweep(&state).await.is_err() {
            tracing::warn!("order deadline sweep failed; will retry");
        }
    }
}
