//! `/api/v1/consults` and `/api/v1/queue`: ask for a consult, follow it, cancel it; a doctor's queue, admission,
//! room tokens for the call, completion; the patient's PHR consent for one consult.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vaidya_registry::audit::{self, Actor, AuditEvent};
use vaidya_registry::auth::{AuthUser, Role};
use vaidya_registry::body::{ApiJson, ApiQuery};
use vaidya_registry::db::now_ms;
use vaidya_registry::error::{Problem, Violations};
use vaidya_registry::page::{self, ListResponse};
use vaidya_registry::text::required_text;
use vaidya_registry::{ApiError, ApiResult};

use super::queue::{self, Lane};
use super::{ConsultRow, ConsultStatus, ConsultView, Mode, SELECT_CONSULT, Visit};
use crate::people::{Doctor, speciality_key};
use crate::state::ConsultState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct ConsultConsent {
    /// Must be true: a consult started by the patient is consent to teleconsultation.
    pub teleconsultation: Option<bool>,
    /// Whether notes of this consult go into the patient's PHR.
    pub record_to_phr: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateConsult {
    /// A named doctor (provider id), or else:
    pub doctor_id: Option<String>,
    /// a speciality, whose doctors share one queue.
    pub speciality: Option<String>,
    pub reason: Option<String>,
    /// `first` or `follow_up`.
    pub visit: Option<String>,
    /// Required for a follow-up: one of the patient's completed consults.
    pub previous_consult_id: Option<String>,
    /// `video`, `audio` or `text`.
    pub mode: Option<String>,
    pub consent: Option<ConsultConsent>,
}

struct ValidConsult {
    doctor_id: Option<String>,
    speciality: Option<String>,
    reason: String,
    visit: Visit,
    previous_consult_id: Option<String>,
    mode: Mode,
    record_to_phr: bool,
}

fn validate(req: CreateConsult) -> ApiResult<ValidConsult> {
    let mut v = Violations::new();
    let doctor_id = req.doctor_id.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    let speciality = req.speciality.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    match (&doctor_id, &speciality) {
        (None, None) => v.add("doctor_id", "name a doctor_id or a speciality"),
        (Some(_), Some(_)) => v.add("speciality", "name a doctor_id or a speciality, not both"),
        _ => {}
    }
    if let Some(id) = &doctor_id
        && vaidya_registry::domain::ProviderId::parse(id).is_err()
    {
        v.add("doctor_id", "is a 14-digit professional id");
    }
    if speciality.as_ref().is_some_and(|s| s.chars().count() > 100) {
        v.add("speciality", "must have at most 100 characters");
    }
    let reason = v.check("reason", required_text(req.reason.as_deref(), 3, 2000));
    let visit = v.check("visit", Visit::check(req.visit.as_deref()));
    let mode = v.check("mode", Mode::check(req.mode.as_deref()));
    match (visit, &req.previous_consult_id) {
        (Some(Visit::FollowUp), None) => v.add("previous_consult_id", "a follow-up names the consult it follows"),
        (Some(Visit::First), Some(_)) => v.add("previous_consult_id", "a first visit follows no earlier consult"),
        _ => {}
    }
    let consent = req.consent.unwrap_or(ConsultConsent { teleconsultation: None, record_to_phr: None });
    if consent.teleconsultation != Some(true) {
        v.add("consent.teleconsultation", "must be true: a teleconsultation needs the patient's consent");
    }
    if consent.record_to_phr.is_none() {
        v.add("consent.record_to_phr", "is required (true or false)");
    }
    v.finish()?;
    match (reason, visit, mode) {
        (Some(reason), Some(visit), Some(mode)) => Ok(ValidConsult {
            doctor_id,
            speciality,
            reason,
            visit,
            previous_consult_id: req.previous_consult_id,
            mode,
            record_to_phr: consent.record_to_phr == Some(true),
        }),
        _ => Err(ApiError::unprocessable("validation_failed", "The consult request is incomplete.")),
    }
}

/// A patient asks for a consult with a named doctor or a speciality and joins its queue.
#[utoipa::path(post, path = "/api/v1/consults", tag = "consults", request_body = CreateConsult,
    responses((status = 201, body = ConsultView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem, description = "`consult_already_waiting`"), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<ConsultState>,
    user: AuthUser,
    ApiJson(req): ApiJson<CreateConsult>,
) -> ApiResult<(StatusCode, Json<ConsultView>)> {
    user.require(Role::Patient)?;
    let c = validate(req)?;
    let mut tx = state.registry.db.begin().await?;
    let key = match (&c.doctor_id, &c.speciality) {
        (Some(doctor_id), _) => {
            let doctor = Doctor::load(&mut tx, doctor_id).await?.filter(|d| d.status == "verified");
            let doctor = doctor.ok_or_else(|| ApiError::field("doctor_id", "no verified doctor has this id"))?;
            doctor.speciality_key()
        }
        (None, Some(speciality)) => {
            let key = speciality_key(speciality);
            let offered: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM providers WHERE role = 'doctor' AND status = 'verified' AND LOWER(TRIM(speciality)) = $1",
            )
            .bind(&key)
            .fetch_one(&mut *tx)
            .await?;
            if offered == 0 {
                return Err(ApiError::field("speciality", "no verified doctor offers this speciality"));
            }
            Some(key)
        }
        (None, None) => None,
    };
    if let Some(previous) = &c.previous_consult_id {
        let earlier = ConsultRow::load(&mut tx, previous).await?;
        if !earlier.is_some_and(|e| e.is_patient(&user) && e.status() == ConsultStatus::Completed) {
            return Err(ApiError::field("previous_consult_id", "is not one of your completed consults"));
        }
    }
    let waiting: Option<String> = sqlx::query_scalar("SELECT id FROM consults WHERE patient_health_id = $1 AND status = 'waiting' LIMIT 1")
        .bind(&user.subject_id)
        .fetch_optional(&mut *tx)
        .await?;
    if waiting.is_some() {
        return Err(ApiError::conflict("consult_already_waiting", "You are already waiting for a consult; cancel it to ask for another."));
    }
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO consults (id, patient_health_id, requested_doctor_id, speciality, speciality_key, reason, visit, \
         previous_consult_id, mode, consent_teleconsultation, record_to_phr, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, 'waiting', $11)",
    )
    .bind(&id)
    .bind(&user.subject_id)
    .bind(&c.doctor_id)
    .bind(&c.speciality)
    .bind(if c.doctor_id.is_some() { None } else { key })
    .bind(&c.reason)
    .bind(c.visit.as_str())
    .bind(&c.previous_consult_id)
    .bind(c.mode.as_str())
    .bind(i64::from(c.record_to_phr))
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let row = ConsultRow::load(&mut tx, &id).await?.ok_or_else(|| ApiError::internal("consult vanished"))?;
    let position = queue::position(&mut tx, &row).await?;
    let woken = queue::announce(&mut tx, &Lane::of(&row), &row).await?;
    audit::record(&mut tx, &AuditEvent::new(Some(Actor::from(&user)), "create", "consult", Some(id)).subject(&user.subject_id)).await?;
    tx.commit().await?;
    state.registry.events.wake_all(woken).await;
    Ok((StatusCode::CREATED, Json(row.view(position))))
}

/// One consult, to its patient or its doctor (404 to anyone else).
#[utoipa::path(get, path = "/api/v1/consults/{id}", tag = "consults", params(("id" = String, Path)),
    responses((status = 200, body = ConsultView), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_one(State(state): State<ConsultState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<ConsultView>> {
    let mut tx = state.registry.db.begin().await?;
    let row = match ConsultRow::load(&mut tx, &id).await? {
        Some(row) if row.is_patient(&user) || row.is_doctor(&user) => row,
        Some(row) if user.role == Role::Doctor && row.status() == ConsultStatus::Waiting => {
            // A waiting consult is visible to the doctors whose queue it is in.
            let doctor = Doctor::of(&mut tx, &user).await?;
            if !row.in_lane_of(&doctor.provider_id, doctor.speciality_key().as_deref()) {
                return Err(ApiError::not_found());
            }
            row
        }
        _ => return Err(ApiError::not_found()),
    };
    if user.role != Role::Patient {
        let event = AuditEvent::new(Some(Actor::from(&user)), "read", "consult", Some(row.id.clone())).subject(&row.patient_health_id);
        audit::record(&mut tx, &event).await?;
    }
    let position = queue::position(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(Json(row.view(position)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `mine` (the default): the caller's consults, as patient or as doctor.
    pub role: Option<String>,
    /// Only consults in this status.
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The caller's consults, newest first.
#[utoipa::path(get, path = "/api/v1/consults", tag = "consults", params(ListQuery),
    responses((status = 200, body = inline(ListResponse<ConsultView>)), (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ConsultState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<ListResponse<ConsultView>>> {
    if q.role.as_deref().is_some_and(|r| r != "mine") {
        return Err(ApiError::field("role", "must be `mine`"));
    }
    let status = q.status.as_deref().map(|s| ConsultStatus::check(Some(s))).transpose().map_err(|m| ApiError::field("status", m))?;
    let limit = page::limit(q.limit)?;
    let cursor = page::decode_cursor(q.cursor.as_deref())?;
    let column = match user.role {
        Role::Patient => "c.patient_health_id",
        Role::Doctor => "c.doctor_id",
        _ => return Ok(Json(ListResponse { items: Vec::new(), next_cursor: None })),
    };
    let cursor_clause = if cursor.is_some() { " AND c.id < $3" } else { " AND $3 IS NULL" };
    let status_clause = if status.is_some() { " AND c.status = $4" } else { " AND $4 IS NULL" };
    let sql = format!("{SELECT_CONSULT} WHERE {column} = $1{cursor_clause}{status_clause} ORDER BY c.id DESC LIMIT $2");
    let mut tx = state.registry.db.begin().await?;
    let rows = sqlx::query_as::<_, ConsultRow>(sqlx::AssertSqlSafe(sql))
        .bind(&user.subject_id)
        .bind(i64::from(limit) + 1)
        .bind(cursor)
        .bind(status.map(|s| s.as_str()))
        .fetch_all(&mut *tx)
        .await?;
    if user.role == Role::Doctor {
        for row in &rows {
            let event = AuditEvent::new(Some(Actor::from(&user)), "list", "consult", Some(row.id.clone())).subject(&row.patient_health_id);
            audit::record(&mut tx, &event).await?;
        }
    }
    let mut items = Vec::with_capacity(rows.len());
    let page = page::paginate(rows, limit, |r| r.id.clone());
    for row in page.items {
        let position = queue::position(&mut tx, &row).await?;
        items.push(row.view(position));
    }
    tx.commit().await?;
    Ok(Json(ListResponse { items, next_cursor: page.next_cursor }))
}

/// A waiting consult in a doctor's queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueItem {
    pub consult_id: String,
    pub queue_position: i64,
    pub patient: super::PatientRef,
    pub gender: String,
    pub age: Option<i32>,
    pub reason: String,
    pub mode: String,
    pub visit: String,
    pub previous_consult_id: Option<String>,
    /// Set when the patient asked for this doctor by name.
    pub requested_doctor_id: Option<String>,
    pub speciality: Option<String>,
    pub created_at: String,
}

#[derive(Debug, sqlx::FromRow)]
struct QueueRow {
    #[sqlx(flatten)]
    consult: ConsultRow,
    gender: String,
    date_of_birth: String,
    queue_position: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The consults waiting for the calling doctor: addressed to them, or to their speciality. Oldest first.
#[utoipa::path(get, path = "/api/v1/queue", tag = "consults", params(QueueQuery),
    responses((status = 200, body = inline(ListResponse<QueueItem>)), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn queue(
    State(state): State<ConsultState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<QueueQuery>,
) -> ApiResult<Json<ListResponse<QueueItem>>> {
    user.require(Role::Doctor)?;
    let limit = page::limit(q.limit)?;
    let cursor = page::decode_cursor(q.cursor.as_deref())?.unwrap_or_default();
    let mut tx = state.registry.db.begin().await?;
    let doctor = Doctor::of(&mut tx, &user).await?;
    let sql = format!(
        "SELECT * FROM (SELECT q.*, p2.gender, p2.date_of_birth, \
           (SELECT COUNT(*) FROM consults o WHERE o.status = 'waiting' AND o.id <= q.id AND \
             ((q.requested_doctor_id IS NOT NULL AND o.requested_doctor_id = q.requested_doctor_id) OR \
              (q.requested_doctor_id IS NULL AND o.requested_doctor_id IS NULL AND o.speciality_key = q.speciality_key))) AS queue_position \
         FROM ({SELECT_CONSULT}) q JOIN patients p2 ON p2.health_id = q.patient_health_id \
         WHERE q.status = 'waiting' AND (q.requested_doctor_id = $1 OR (q.requested_doctor_id IS NULL AND q.speciality_key = $2)) \
           AND q.id > $3) w ORDER BY w.id LIMIT $4"
    );
    let rows: Vec<QueueRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&doctor.provider_id)
        .bind(doctor.speciality_key())
        .bind(&cursor)
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *tx)
        .await?;
    let page = page::paginate(rows, limit, |r| r.consult.id.clone());
    for row in &page.items {
        let event =
            AuditEvent::new(Some(doctor.actor()), "list", "consult", Some(row.consult.id.clone())).subject(&row.consult.patient_health_id);
        audit::record(&mut tx, &event).await?;
    }
    tx.commit().await?;
    let items = page
        .items
        .into_iter()
        .map(|r| {
            let age = vaidya_registry::domain::DateOfBirth::parse(&r.date_of_birth).ok().map(|d| d.age());
            let view = r.consult.view(None);
            QueueItem {
                consult_id: view.consult_id,
                queue_position: r.queue_position,
                patient: view.patient,
                gender: r.gender,
                age,
                reason: view.reason,
                mode: view.mode,
                visit: view.visit,
                previous_consult_id: view.previous_consult_id,
                requested_doctor_id: view.requested_doctor_id,
                speciality: view.speciality,
                created_at: view.created_at,
            }
        })
        .collect();
    Ok(Json(ListResponse { items, next_cursor: page.next_cursor }))
}
