//! `/api/v1/consents`: consents in force or past, their revocation, the published signing key, and break-the-glass access.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use vaidya_registry::audit::{self, Actor, AuditEvent};
use vaidya_registry::auth::{AuthUser, Role};
use vaidya_registry::body::ApiJson;
use vaidya_registry::db::{Tx, now_ms, rfc3339};
use vaidya_registry::domain::HealthIdNumber;
use vaidya_registry::error::Problem;
use vaidya_registry::events::emit;
use vaidya_registry::page::ListResponse;
use vaidya_registry::text::required_text;
use vaidya_registry::{ApiError, ApiResult};

use super::artefact::{Grant, signed_artefact};
use super::requests::{DateRangeView, Scope};
use super::{HiTypes, Purpose};
use crate::people::{Doctor, Patient};
use crate::state::ConsultState;

/// The doctor a consent is granted to.
#[derive(Debug, Serialize, ToSchema)]
pub struct Holder {
    pub provider_id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    pub consent_id: String,
    pub consent_request_id: Option<String>,
    /// `GRANTED`, `REVOKED` or `EXPIRED`.
    pub status: String,
    pub patient_health_id: String,
    pub patient_name: String,
    pub doctor: Holder,
    pub purpose: String,
    pub hi_types: Vec<&'static str>,
    pub date_range: DateRangeView,
    pub expires_at: String,
    /// Emergency access taken by the doctor without asking (purpose `BTG`).
    pub break_glass: bool,
    /// The doctor's reason, for break-the-glass access.
    pub reason: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    #[schema(value_type = Object)]
    pub artefact: serde_json::Value,
}

#[derive(Debug, sqlx::FromRow)]
struct ConsentRow {
    id: String,
    request_id: Option<String>,
    doctor_id: String,
    doctor_name: String,
    doctor_account_id: String,
    patient_health_id: String,
    patient_name: String,
    purpose: String,
    hi_mask: i64,
    date_from: i64,
    date_to: i64,
    expires_at: i64,
    reason: Option<String>,
    status: String,
    artefact: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

const SELECT_CONSENT: &str = "SELECT k.id, k.request_id, k.doctor_id, d.name AS doctor_name, d.account_id AS doctor_account_id, \
     k.patient_health_id, p.name AS patient_name, k.purpose, k.hi_mask, k.date_from, k.date_to, k.expires_at, k.reason, k.status, \
     k.artefact, k.created_at, k.revoked_at \
     FROM consents k JOIN providers d ON d.id = k.doctor_id JOIN patients p ON p.health_id = k.patient_health_id";

impl ConsentRow {
    /// `EXPIRED` is not stored: a granted consent past its expiry has expired.
    fn status(&self, now: i64) -> &str {
        if self.status == "GRANTED" && self.expires_at <= now { "EXPIRED" } else { &self.status }
    }

    fn view(self, now: i64) -> ConsentView {
        ConsentView {
            status: self.status(now).to_owned(),
            consent_id: self.id,
            consent_request_id: self.request_id,
            patient_health_id: HealthIdNumber::display_stored(&self.patient_health_id),
            patient_name: self.patient_name,
            doctor: Holder { provider_id: self.doctor_id, name: self.doctor_name },
            break_glass: self.purpose == Purpose::BreakTheGlass.as_str(),
            purpose: self.purpose,
            hi_types: HiTypes(self.hi_mask).names(),
            date_range: DateRangeView { from: rfc3339(self.date_from), to: rfc3339(self.date_to) },
            expires_at: rfc3339(self.expires_at),
            reason: self.reason,
            created_at: rfc3339(self.created_at),
            revoked_at: self.revoked_at.map(rfc3339),
            artefact: serde_json::from_str(&self.artefact).unwrap_or_default(),
        }
    }
}

/// Stores a granted consent with its signed artefact; returns the artefact.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_consent(
    tx: &mut Tx,
    state: &ConsultState,
    consent_id: &str,
    request_id: Option<&str>,
    patient: &Patient,
    doctor: &Doctor,
    purpose: Purpose,
    scope: &Scope,
    reason: Option<&str>,
    now: i64,
) -> ApiResult<serde_json::Value> {
    let grant = Grant {
        consent_id,
        created_at: now,
        patient,
        patient_address: state.registry.health_address(&patient.handle),
        doctor,
        purpose,
        hi_types: scope.hi_types,
        date_from: scope.date_from,
        date_to: scope.date_to,
        expires_at: scope.expires_at,
    };
    let artefact = signed_artefact(&grant, &state.consent_signer);
    sqlx::query(
        "INSERT INTO consents (id, request_id, doctor_id, patient_health_id, purpose, hi_mask, date_from, date_to, expires_at, reason, \
         status, artefact, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'GRANTED', $11, $12)",
    )
    .bind(consent_id)
    .bind(request_id)
    .bind(&doctor.provider_id)
    .bind(&patient.health_id)
    .bind(purpose.as_str())
    .bind(scope.hi_types.0)
    .bind(scope.date_from)
    .bind(scope.date_to)
    .bind(scope.expires_at)
    .bind(reason)
    .bind(artefact.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(artefact)
}

/// The patient's consents, or those granted to the calling doctor. Newest first, at most 200.
#[utoipa::path(get, path = "/api/v1/consents", tag = "consent",
    responses((status = 200, body = inline(ListResponse<ConsentView>)), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<ConsultState>, user: AuthUser) -> ApiResult<Json<ListResponse<ConsentView>>> {
    let column = match user.role {
        Role::Patient => "k.patient_health_id",
        Role::Doctor => "k.doctor_id",
        _ => return Err(ApiError::forbidden("forbidden", "Only patients and doctors hold consents.")),
    };
    let now = now_ms();
    let mut conn = state.registry.db.lease().await?;
    let rows: Vec<ConsentRow> = sqlx::query_as(dyn_sql!("{SELECT_CONSENT} WHERE {column} = $1 ORDER BY k.id DESC LIMIT 200"))
        .bind(&user.subject_id)
        .fetch_all(&mut *conn)
        .await?;
    Ok(Json(ListResponse { items: rows.into_iter().map(|r| r.view(now)).collect(), next_cursor: None }))
}

/// The public key that signs consent artefacts, as a JWK set.
#[utoipa::path(get, path = "/api/v1/consents/keys", tag = "consent", responses((status = 200, body = Object)))]
pub async fn keys(State(state): State<ConsultState>) -> Json<serde_json::Value> {
    Json(state.consent_signer.jwks())
}

/// The patient revokes a consent; every later request under it fails at once, on every node.
#[utoipa::path(post, path = "/api/v1/consents/{id}/revoke", tag = "consent", params(("id" = String, Path)),
    responses((status = 200, body = ConsentView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`invalid_transition`: revoked or expired already")),
    security(("bearer" = [])))]
pub async fn revoke(State(state): State<ConsultState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<ConsentView>> {
    user.require(Role::Patient)?;
    let now = now_ms();
    let mut tx = state.registry.db.begin().await?;
    let row = load(&mut tx, &id).await?.filter(|r| r.patient_health_id == user.subject_id).ok_or_else(ApiError::not_found)?;
    let done =
        sqlx::query("UPDATE consents SET status = 'REVOKED', revoked_at = $1 WHERE id = $2 AND status = 'GRANTED' AND expires_at > $1")
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() != 1 {
        return Err(ApiError::conflict("invalid_transition", format!("This consent is {}; it cannot be revoked.", row.status(now))));
    }
    emit(
        &mut tx,
        &row.doctor_account_id,
        "consent.revoked",
        &json!({ "consent_id": id, "status": "REVOKED", "patient_name": row.patient_name }),
    )
    .await?;
    let event = AuditEvent::new(Some(Actor::from(&user)), "revoke", "consent", Some(id.clone())).subject(&row.patient_health_id);
    audit::record(&mut tx, &event.purpose(row.purpose.clone())).await?;
    let row = load(&mut tx, &id).await?.ok_or_else(|| ApiError::internal("consent vanished"))?;
    tx.commit().await?;
    state.registry.events.wake(&row.doctor_account_id).await;
    Ok(Json(row.view(now)))
}

async fn load(tx: &mut Tx, id: &str) -> ApiResult<Option<ConsentRow>> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Ok(None);
    }
    Ok(sqlx::query_as(dyn_sql!("{SELECT_CONSENT} WHERE k.id = $1")).bind(id).fetch_optional(&mut **tx).await?)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BreakGlass {
    /// Why this is an emergency: at least 20 characters, shown to the patient.
    pub reason: Option<String>,
}

/// Emergency access: one hour over all the patient's records, purpose `BTG`, audited and shown to the patient at once.
#[utoipa::path(post, path = "/api/v1/patients/{health_id}/break-glass", tag = "consent", params(("health_id" = String, Path)),
    request_body = BreakGlass,
    responses((status = 201, body = ConsentView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn break_glass(
    State(state): State<ConsultState>,
    user: AuthUser,
    Path(health_id): Path<String>,
    ApiJson(req): ApiJson<BreakGlass>,
) -> ApiResult<(StatusCode, Json<ConsentView>)> {
    user.require(Role::Doctor)?;
    let health_id = HealthIdNumber::parse(&health_id)?;
    let reason = required_text(req.reason.as_deref(), 20, 1000).map_err(|m| ApiError::field("reason", m))?;
    let now = now_ms();
    let mut tx = state.registry.db.begin().await?;
    let doctor = Doctor::of(&mut tx, &user).await?;
    let patient = Patient::load(&mut tx, &health_id.digits()).await?.ok_or_else(ApiError::not_found)?;
    let expires_at = now + state.settings.break_glass_ms;
    let scope = Scope { hi_types: HiTypes::all(), date_from: 0, date_to: expires_at, expires_at };
    let consent_id = uuid::Uuid::now_v7().to_string();
    insert_consent(&mut tx, &state, &consent_id, None, &patient, &doctor, Purpose::BreakTheGlass, &scope, Some(&reason), now).await?;
    let data = json!({
        "consent_id": consent_id, "status": "GRANTED", "purpose": "BTG", "break_glass": true,
        "doctor": { "provider_id": doctor.provider_id, "name": doctor.name }, "expires_at": rfc3339(scope.expires_at),
    });
    emit(&mut tx, &patient.account_id, "consent.requested", &data).await?;
    let event = AuditEvent::new(Some(doctor.actor()), "break_glass", "consent", Some(consent_id.clone())).subject(&patient.health_id);
    audit::record(&mut tx, &event.purpose("BTG")).await?;
    let row = load(&mut tx, &consent_id).await?.ok_or_else(|| ApiError::internal("consent vanished"))?;
    tx.commit().await?;
    state.registry.events.wake(&patient.account_id).await;
    Ok((StatusCode::CREATED, Json(row.view(now))))
}
