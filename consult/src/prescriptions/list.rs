//! `GET /api/v1/prescriptions`: a patient's own prescriptions, newest first — whether or not they let the notes into
//! their PHR, a prescription is theirs to send to a pharmacy.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vaidya_registry::ApiResult;
use vaidya_registry::auth::{AuthUser, Role};
use vaidya_registry::body::ApiQuery;
use vaidya_registry::db::rfc3339;
use vaidya_registry::domain::HealthIdNumber;
use vaidya_registry::error::Problem;
use vaidya_registry::page::{self, ListResponse};

use super::PrescribedItem;
use super::handlers::PrescriberView;
use crate::consults::PatientRef;
use crate::state::ConsultState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PrescriptionsQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A prescription in a list: what was prescribed, by whom, when (the signed bundle is at `/api/v1/prescriptions/{id}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PrescriptionSummary {
    pub prescription_id: String,
    /// `issued` or `dispensed`.
    pub status: String,
    pub consult_id: String,
    pub patient: PatientRef,
    pub doctor: PrescriberView,
    pub items: Vec<PrescribedItem>,
    pub notes: Option<String>,
    pub created_at: String,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: String,
    status: String,
    consult_id: String,
    patient_health_id: String,
    patient_name: String,
    doctor_id: String,
    doctor_name: String,
    registration_number: String,
    items: String,
    notes: Option<String>,
    created_at: i64,
}

/// The calling patient's prescriptions, newest first.
#[utoipa::path(get, path = "/api/v1/prescriptions", tag = "prescriptions", params(PrescriptionsQuery),
    responses((status = 200, body = inline(ListResponse<PrescriptionSummary>)), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn mine(
    State(state): State<ConsultState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PrescriptionsQuery>,
) -> ApiResult<Json<ListResponse<PrescriptionSummary>>> {
    // A patient reading their own prescriptions is not audited, as with their PHR.
    user.require(Role::Patient)?;
    let limit = page::limit(q.limit)?;
    let cursor = page::decode_cursor(q.cursor.as_deref())?;
    let rows: Vec<SummaryRow> = sqlx::query_as(
        "SELECT x.id, x.status, x.consult_id, x.patient_health_id, p.name AS patient_name, x.doctor_id, d.name AS doctor_name, \
         d.registration_number, x.items, x.notes, x.created_at \
         FROM prescriptions x JOIN patients p ON p.health_id = x.patient_health_id JOIN providers d ON d.id = x.doctor_id \
         WHERE x.patient_health_id = $1 AND ($2 IS NULL OR x.id < $2) ORDER BY x.id DESC LIMIT $3",
    )
    .bind(&user.subject_id)
    .bind(cursor)
    .bind(i64::from(limit) + 1)
    .fetch_all(state.registry.db.reader())
    .await?;
    let page = page::paginate(rows, limit, |r| r.id.clone());
    let items = page
        .items
        .into_iter()
        .map(|r| PrescriptionSummary {
            patient: PatientRef { health_id: HealthIdNumber::display_stored(&r.patient_health_id), name: r.patient_name },
            doctor: PrescriberView { provider_id: r.doctor_id, name: r.doctor_name, registration_number: r.registration_number },
            items: serde_json::from_str(&r.items).unwrap_or_default(),
            created_at: rfc3339(r.created_at),
            prescription_id: r.id,
            status: r.status,
            consult_id: r.consult_id,
            notes: r.notes,
        })
        .collect();
    Ok(Json(ListResponse { items, next_cursor: page.next_cursor }))
}
