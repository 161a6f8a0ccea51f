//! Moving a consult along: a doctor admits it off the queue (one doctor wins), both sides get room tokens for the call,
//! the doctor completes it, the patient cancels while waiting or changes their PHR consent.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use vaidya_registry::audit::{self, Actor, AuditEvent};
use vaidya_registry::auth::{AuthUser, Role};
use vaidya_registry::body::ApiJson;
use vaidya_registry::db::{Tx, now_ms};
use vaidya_registry::error::Problem;
use vaidya_registry::events::emit;
use vaidya_registry::{ApiError, ApiResult};
use vaidya_signaling::ice::IceServer;

use super::queue::{self, Lane};
use super::{ConsultRow, ConsultStatus, ConsultView};
use crate::people::Doctor;
use crate::state::ConsultState;

fn invalid_transition(row: &ConsultRow, to: &str) -> ApiError {
    ApiError::conflict("invalid_transition", format!("A consult that is {} cannot become {to}.", row.status))
}

/// Reloads the consult after a change made in `tx`.
async fn reload(tx: &mut Tx, id: &str) -> ApiResult<ConsultRow> {
    ConsultRow::load(tx, id).await?.ok_or_else(|| ApiError::internal("consult vanished"))
}

/// Ends a consult that is `from` as `to`, if no one changed it first; returns it as it is now.
async fn end(tx: &mut Tx, row: &ConsultRow, from: ConsultStatus, to: ConsultStatus) -> ApiResult<ConsultRow> {
    let done = sqlx::query("UPDATE consults SET status = $1, ended_at = $2 WHERE id = $3 AND status = $4")
        .bind(to.as_str())
        .bind(now_ms())
        .bind(&row.id)
        .bind(from.as_str())
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(invalid_transition(row, to.as_str()));
    }
    reload(tx, &row.id).await
}

/// The doctor takes a waiting consult off the queue. Exactly one doctor wins a race; the others get 409.
#[utoipa::path(post, path = "/api/v1/consults/{id}/admit", tag = "consults", params(("id" = String, Path)),
    responses((status = 200, body = ConsultView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "`invalid_transition`")),
    security(("bearer" = [])))]
pub async fn admit(State(state): State<ConsultState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<ConsultView>> {
    user.require(Role::Doctor)?;
    let mut tx = state.registry.db.begin().await?;
    let doctor = Doctor::of(&mut tx, &user).await?;
    let row = ConsultRow::load(&mut tx, &id).await?.ok_or_else(ApiError::not_found)?;
    let mine = row.is_doctor(&user) || row.in_lane_of(&doctor.provider_id, doctor.speciality_key().as_deref());
    if !mine {
        return Err(ApiError::not_found());
    }
    let facility = doctor.facility(&mut tx).await?;
    let now = now_ms();
    let claimed = sqlx::query(
        "UPDATE consults SET status = 'in_progress', doctor_id = $1, facility_id = $2, started_at = $3 \
         WHERE id = $4 AND status = 'waiting'",
    )
    .bind(&doctor.provider_id)
    .bind(facility.map(|f| f.id))
    .bind(now)
    .bind(&id)
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() != 1 {
        return Err(invalid_transition(&row, "in_progress"));
    }
    let row = reload(&mut tx, &id).await?;
    let mut woken = queue::announce(&mut tx, &Lane::of(&row), &row).await?;
    let data =
        json!({ "consult_id": row.id, "status": "in_progress", "doctor": { "provider_id": doctor.provider_id, "name": doctor.name } });
    emit(&mut tx, &row.patient_account_id, "consult.admitted", &data).await?;
    woken.push(row.patient_account_id.clone());
    audit::record(&mut tx, &AuditEvent::new(Some(doctor.actor()), "admit", "consult", Some(id)).subject(&row.patient_health_id)).await?;
    tx.commit().await?;
    state.registry.events.wake_all(woken).await;
    Ok(Json(row.view(None)))
}

/// What a participant needs to join the call.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomToken {
    /// A short-lived JWT for the `join` frame of `/ws/signal`.
    pub token: String,
    pub ws_url: String,
    pub room: String,
    #[schema(value_type = Vec<Object>)]
    pub ice_servers: Vec<IceServer>,
    pub expires_in: i64,
}

/// A room token for the consult's patient or doctor while it is waiting or in progress.
#[utoipa::path(post, path = "/api/v1/consults/{id}/room-token", tag = "consults", params(("id" = String, Path)),
    responses((status = 200, body = RoomToken), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`invalid_transition`: the consult is over")),
    security(("bearer" = [])))]
pub async fn room_token(State(state): State<ConsultState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<RoomToken>> {
    let mut conn = state.registry.db.lease().await?;
    let row = ConsultRow::load_for(&mut conn, &id, &user).await?;
    if !matches!(row.status(), ConsultStatus::Waiting | ConsultStatus::InProgress) {
        return Err(ApiError::conflict("invalid_transition", format!("The consult is {}; its room is closed.", row.status)));
    }
    let ttl = state.settings.room_token_ttl_secs;
    let role = if row.is_doctor(&user) { "doctor" } else { "patient" };
    let token = vaidya_signaling::token::mint(&state.registry.tokens, &row.id, &user.account_id, role, &user.name, ttl);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let ice_servers = state.ice.servers_for(&user.account_id, now);
    Ok(Json(RoomToken { token, ws_url: "/ws/signal".into(), room: row.id, ice_servers, expires_in: ttl }))
}

/// The doctor ends the consult.
#[utoipa::path(post, path = "/api/v1/consults/{id}/complete", tag = "consults", params(("id" = String, Path)),
    responses((status = 200, body = ConsultView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`invalid_transition`")),
    security(("bearer" = [])))]
pub async fn complete(State(state): State<ConsultState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<ConsultView>> {
    let mut tx = state.registry.db.begin().await?;
    let row = ConsultRow::load_for(&mut tx, &id, &user).await?;
    if !row.is_doctor(&user) {
        return Err(ApiError::not_found());
    }
    let row = end(&mut tx, &row, ConsultStatus::InProgress, ConsultStatus::Completed).await?;
    emit(&mut tx, &row.patient_account_id, "queue.updated", &json!({ "consult_id": row.id, "status": "completed" })).await?;
    audit::record(&mut tx, &AuditEvent::new(Some(Actor::from(&user)), "complete", "consult", Some(id)).subject(&row.patient_health_id))
        .await?;
    tx.commit().await?;
    state.registry.events.wake(&row.patient_account_id).await;
    Ok(Json(row.view(None)))
}

/// The patient leaves the queue.
#[utoipa::path(post, path = "/api/v1/consults/{id}/cancel", tag = "consults", params(("id" = String, Path)),
    responses((status = 200, body = ConsultView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`invalid_transition`")),
    security(("bearer" = [])))]
pub async fn cancel(State(state): State<ConsultState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<ConsultView>> {
    let mut tx = state.registry.db.begin().await?;
    let row = ConsultRow::load_for(&mut tx, &id, &user).await?;
    if !row.is_patient(&user) {
        return Err(ApiError::not_found());
    }
    let lane = Lane::of(&row);
    let row = end(&mut tx, &row, ConsultStatus::Waiting, ConsultStatus::Cancelled).await?;
    let woken = queue::announce(&mut tx, &lane, &row).await?;
    audit::record(&mut tx, &AuditEvent::new(Some(Actor::from(&user)), "cancel", "consult", Some(id)).subject(&row.patient_health_id))
        .await?;
    tx.commit().await?;
    state.registry.events.wake_all(woken).await;
    Ok(Json(row.view(None)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PhrConsent {
    /// Whether notes of this consult may go into (and stay visible in) the patient's PHR.
    pub record_to_phr: Option<bool>,
}

/// The patient gives or withdraws consent to record this consult's notes in their PHR.
#[utoipa::path(put, path = "/api/v1/consults/{id}/consent", tag = "consults", params(("id" = String, Path)), request_body = PhrConsent,
    responses((status = 200, body = ConsultView), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn set_phr_consent(
    State(state): State<ConsultState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PhrConsent>,
) -> ApiResult<Json<ConsultView>> {
    let give = req.record_to_phr.ok_or_else(|| ApiError::field("record_to_phr", "is required (true or false)"))?;
    let mut tx = state.registry.db.begin().await?;
    let row = ConsultRow::load_for(&mut tx, &id, &user).await?;
    if !row.is_patient(&user) {
        return Err(ApiError::not_found());
    }
    let withdrawn_at = if give { None } else { row.phr_consent_withdrawn_at.or(Some(now_ms())) };
    sqlx::query("UPDATE consults SET record_to_phr = $1, phr_consent_withdrawn_at = $2 WHERE id = $3")
        .bind(i64::from(give))
        .bind(withdrawn_at)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    let action = if give { "consent_give" } else { "consent_withdraw" };
    let event = AuditEvent::new(Some(Actor::from(&user)), action, "consult", Some(id.clone())).subject(&row.patient_health_id);
    audit::record(&mut tx, &event.purpose("record_to_phr")).await?;
    let row = reload(&mut tx, &id).await?;
    let position = queue::position(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(Json(row.view(position)))
}
