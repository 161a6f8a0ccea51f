//! Reading orders: one order (its patient or the pharmacy holding it), a pharmacist's incoming orders, a patient's orders.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;
use vaidya_registry::audit::{self, Actor, AuditEvent};
use vaidya_registry::auth::{AuthUser, Role};
use vaidya_registry::body::ApiQuery;
use vaidya_registry::error::Problem;
use vaidya_registry::page::{self, ListResponse};
use vaidya_registry::{ApiError, ApiResult};

use crate::machine::Status;
use crate::orders::{OrderRow, OrderView, SELECT_ORDER};
use crate::state::PharmacyState;

/// One order.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "pharmacy", params(("id" = String, Path)),
    responses((status = 200, body = OrderView), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_one(State(state): State<PharmacyState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<OrderView>> {
    let mut tx = state.registry.db.begin().await?;
    let order = match OrderRow::load_for(&mut tx, &id, &user).await {
        Ok(order) => order,
        Err(e) => {
            drop(tx);
            if user.role == Role::Pharmacist {
                audit::record_refusal(&state.registry.db, AuditEvent::new(Some(Actor::from(&user)), "read", "order", Some(id))).await?;
            }
            return Err(e);
        }
    };
    if user.role == Role::Pharmacist {
        let event = AuditEvent::new(Some(Actor::from(&user)), "read", "order", Some(order.id.clone())).subject(&order.patient_health_id);
        audit::record(&mut tx, &event.purpose("dispensing")).await?;
    }
    tx.commit().await?;
    Ok(Json(order.view()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrdersQuery {
    /// Only orders in this status.
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Lists orders matching `filter` (on alias `o`, with the caller's id as `$1`), newest first.
async fn list(state: &PharmacyState, user: &AuthUser, q: OrdersQuery, filter: &str) -> ApiResult<Json<ListResponse<OrderView>>> {
    let status =
        q.status.as_deref().map(|s| Status::parse(s).ok_or_else(|| ApiError::field("status", "is an order status, e.g. `routed`")));
    let status = status.transpose()?;
    let limit = page::limit(q.limit)?;
    let cursor = page::decode_cursor(q.cursor.as_deref())?;
    let sql = format!(
        "{SELECT_ORDER} WHERE {filter} AND ($2 IS NULL OR o.status = $2) AND ($3 IS NULL OR o.id < $3) ORDER BY o.id DESC LIMIT $4"
    );
    let mut tx = state.registry.db.begin().await?;
    let rows: Vec<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&user.subject_id)
        .bind(status.map(Status::as_str))
        .bind(cursor)
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *tx)
        .await?;
    let page = page::paginate(rows, limit, |r| r.id.clone());
    let mut items = Vec::with_capacity(page.items.len());
    for mut order in page.items {
        if user.role == Role::Pharmacist {
            let event = AuditEvent::new(Some(Actor::from(user)), "list", "order", Some(order.id.clone())).subject(&order.patient_health_id);
            audit::record(&mut tx, &event.purpose("dispensing")).await?;
        }
        order.load_history(&mut tx).await?;
        items.push(order.view());
    }
    tx.commit().await?;
    Ok(Json(ListResponse { items, next_cursor: page.next_cursor }))
}

/// The orders held by the calling pharmacist's pharmacies, newest first.
#[utoipa::path(get, path = "/api/v1/pharmacy/orders", tag = "pharmacy", params(OrdersQuery),
    responses((status = 200, body = inline(ListResponse<OrderView>)), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn pharmacy_orders(
    State(state): State<PharmacyState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<OrdersQuery>,
) -> ApiResult<Json<ListResponse<OrderView>>> {
    user.require(Role::Pharmacist)?;
    list(&state, &user, q, "o.pharmacy_id IN (SELECT facility_id FROM provider_facilities WHERE provider_id = $1)").await
}

/// The calling patient's orders, newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "pharmacy", params(OrdersQuery),
    responses((status = 200, body = inline(ListResponse<OrderView>)), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn my_orders(
    State(state): State<PharmacyState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<OrdersQuery>,
) -> ApiResult<Json<ListResponse<OrderView>>> {
    user.require(Role::Patient)?;
    list(&state, &user, q, "o.patient_health_id = $1").await
}
