//! Health records: FHIR documents kept in the EMR of the facility that wrote them, read by their patient (the PHR),
//! their author, or a doctor whose consent covers them (a searchset Bundle).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use vaidya_registry::audit::{self, Actor, AuditEvent};
use vaidya_registry::auth::{AuthUser, Role};
use vaidya_registry::batch::Batch;
use vaidya_registry::body::ApiQuery;
use vaidya_registry::db::{Tx, now_ms, rfc3339};
use vaidya_registry::domain::HealthIdNumber;
use vaidya_registry::error::Problem;
use vaidya_registry::page::{self, ListResponse};
use vaidya_registry::{ApiError, ApiResult};

use crate::consent::check::{self, covers_record};
use crate::consent::{HiType, HiTypes};
use crate::consults::ConsultRow;
use crate::people::Doctor;
use crate::state::ConsultState;
use crate::when::{parse_range_end, parse_range_start};

/// Stores document `id` for the consult's patient.
#[allow(clippy::too_many_arguments)]
pub async fn store(
    tx: &mut Tx,
    id: &str,
    consult: &ConsultRow,
    author: &Doctor,
    hi_type: HiType,
    record_date: i64,
    bundle: &str,
    now: i64,
) -> ApiResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!("{INSERT_RECORD} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")))
        .bind(id)
        .bind(&consult.patient_health_id)
        .bind(&consult.id)
        .bind(&consult.facility_id)
        .bind(&author.provider_id)
        .bind(hi_type.as_str())
        .bind(hi_type.bit())
        .bind(record_date)
        .bind(bundle)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

const INSERT_RECORD: &str = "INSERT INTO health_records (id, patient_health_id, consult_id, facility_id, author_id, hi_type, hi_bit, record_date, bundle, created_at)";

/// `store` within a [`Batch`] (PostgreSQL): the document as CTE `name`, which yields its id.
#[allow(clippy::too_many_arguments)]
pub fn store_in(
    batch: &mut Batch,
    name: &str,
    id: &str,
    consult: &ConsultRow,
    author: &Doctor,
    hi_type: HiType,
    record_date: i64,
    bundle: String,
    now: i64,
) {
    let values = [
        batch.arg(id),
        batch.arg(&consult.patient_health_id),
        batch.arg(&consult.id),
        batch.arg(&consult.facility_id),
        batch.arg(&author.provider_id),
        batch.arg(hi_type.as_str()),
        batch.arg(hi_type.bit()),
        batch.arg(record_date),
        batch.arg(bundle),
        batch.arg(now),
    ];
    batch.with(name, &format!("{INSERT_RECORD} VALUES ({}) RETURNING id", values.join(", ")));
}

/// SQL true when record alias `r` shows in its patient's PHR: not tied to a consult, or its consult's PHR consent holds.
const IN_PHR: &str = "(r.consult_id IS NULL OR EXISTS (SELECT 1 FROM consults c WHERE c.id = r.consult_id AND c.record_to_phr = 1))";

#[derive(Debug, sqlx::FromRow)]
struct RecordRow {
    id: String,
    patient_health_id: String,
    consult_id: Option<String>,
    author_id: Option<String>,
    author_name: Option<String>,
    facility_name: Option<String>,
    hi_type: String,
    record_date: i64,
    bundle: String,
    created_at: i64,
}

const SELECT_RECORD: &str = "SELECT r.id, r.patient_health_id, r.consult_id, r.author_id, a.name AS author_name, f.name AS facility_name, \
     r.hi_type, r.record_date, r.bundle, r.created_at \
     FROM health_records r LEFT JOIN providers a ON a.id = r.author_id LEFT JOIN facilities f ON f.id = r.facility_id";

/// A stored document sent as it was stored: parsing and re-serialising megabytes of FHIR would only cost time.
pub(crate) fn raw_json(text: String) -> Box<RawValue> {
    RawValue::from_string(text).unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON"))
}

/// A JSON response from text that is already JSON.
fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// One record: to its patient (when in the PHR), its author, or a doctor whose consent covers it; 404 to anyone else.
#[utoipa::path(get, path = "/api/v1/records/{record_id}", tag = "records", params(("record_id" = String, Path)),
    responses((status = 200, body = Object, description = "the FHIR document Bundle"), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_record(State(state): State<ConsultState>, user: AuthUser, Path(record_id): Path<String>) -> ApiResult<Response> {
    if uuid::Uuid::parse_str(&record_id).is_err() {
        return Err(ApiError::not_found());
    }
    let now = now_ms();
    let mut tx = state.registry.db.begin().await?;
    let (sql, purpose) = match user.role {
        Role::Patient => (format!("{SELECT_RECORD} WHERE r.id = $1 AND r.patient_health_id = $2 AND {IN_PHR} AND $3 > 0"), None),
        Role::Doctor => (
            format!(
                "{SELECT_RECORD} WHERE r.id = $1 AND (r.author_id = $2 OR EXISTS (SELECT 1 FROM consents k \
                 WHERE k.doctor_id = $2 AND k.patient_health_id = r.patient_health_id AND {}))",
                covers_record("$3")
            ),
            Some("CAREMGT"),
        ),
        _ => return Err(ApiError::not_found()),
    };
    let row: Option<RecordRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&record_id).bind(&user.subject_id).bind(now).fetch_optional(&mut *tx).await?;
    let Some(row) = row else {
        if user.role == Role::Doctor {
            drop(tx);
            let event = AuditEvent::new(Some(Actor::from(&user)), "read", "health_record", Some(record_id));
            audit::record_refusal(&state.registry.db, event).await?;
        }
        return Err(ApiError::not_found());
    };
    if user.role == Role::Doctor {
        let mut event =
            AuditEvent::new(Some(Actor::from(&user)), "read", "health_record", Some(row.id.clone())).subject(&row.patient_health_id);
        if row.author_id.as_deref() != Some(user.subject_id.as_str()) {
            event = event.purpose(purpose.unwrap_or_default());
        }
        audit::record(&mut tx, &event).await?;
    }
    tx.commit().await?;
    Ok(json_response(row.bundle))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PhrQuery {
    /// Only records of this HI type.
    pub hi_type: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A record in the patient's PHR: a readable summary beside the document itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhrRecord {
    pub record_id: String,
    pub hi_type: String,
    /// The date of the encounter.
    pub date: String,
    pub consult_id: Option<String>,
    pub author: Option<String>,
    pub facility: Option<String>,
    pub created_at: String,
    #[schema(value_type = Object)]
    pub bundle: Box<RawValue>,
}

fn hi_type_filter(value: Option<&str>) -> ApiResult<Option<HiType>> {
    value.map(|t| HiType::check(Some(t)).map_err(|m| ApiError::field("hi_type", m))).transpose()
}

/// The calling patient's own records, newest first.
#[utoipa::path(get, path = "/api/v1/phr/records", tag = "records", params(PhrQuery),
    responses((status = 200, body = inline(ListResponse<PhrRecord>)), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn phr_records(
    State(state): State<ConsultState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PhrQuery>,
) -> ApiResult<Json<ListResponse<PhrRecord>>> {
    user.require(Role::Patient)?;
    let hi_type = hi_type_filter(q.hi_type.as_deref())?;
    let limit = page::limit(q.limit)?;
    let cursor = page::decode_cursor(q.cursor.as_deref())?;
    let sql = format!(
        "{SELECT_RECORD} WHERE r.patient_health_id = $1 AND {IN_PHR} AND ($2 IS NULL OR r.hi_type = $2) AND ($3 IS NULL OR r.id < $3) \
         ORDER BY r.id DESC LIMIT $4"
    );
    let mut conn = state.registry.db.lease().await?;
    let rows: Vec<RecordRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&user.subject_id)
        .bind(hi_type.map(HiType::as_str))
        .bind(cursor)
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *conn)
        .await?;
    let page = page::paginate(rows, limit, |r| r.id.clone());
    let items = page
        .items
        .into_iter()
        .map(|r| PhrRecord {
            date: rfc3339(r.record_date),
            created_at: rfc3339(r.created_at),
            bundle: raw_json(r.bundle),
            record_id: r.id,
            hi_type: r.hi_type,
            consult_id: r.consult_id,
            author: r.author_name,
            facility: r.facility_name,
        })
        .collect();
    Ok(Json(ListResponse { items, next_cursor: page.next_cursor }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordsQuery {
    pub hi_type: Option<String>,
    /// A date or RFC 3339 time: records on or after it.
    pub from: Option<String>,
    /// A date or RFC 3339 time: records on or before it.
    pub to: Option<String>,
}

/// The records of a patient that a consent of the calling doctor covers, as a FHIR `searchset` Bundle of document Bundles.
#[utoipa::path(get, path = "/api/v1/patients/{health_id}/records", tag = "records", params(("health_id" = String, Path), RecordsQuery),
    responses((status = 200, body = Object, description = "a FHIR searchset Bundle"), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "`consent_required`, `consent_revoked` or `consent_expired`"),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn patient_records(
    State(state): State<ConsultState>,
    user: AuthUser,
    Path(health_id): Path<String>,
    ApiQuery(q): ApiQuery<RecordsQuery>,
) -> ApiResult<Response> {
    user.require(Role::Doctor)?;
    let patient = HealthIdNumber::parse(&health_id)?.digits();
    let hi_type = hi_type_filter(q.hi_type.as_deref())?;
    let from = q.from.as_deref().map(parse_range_start).transpose().map_err(|m| ApiError::field("from", m))?;
    let to = q.to.as_deref().map(parse_range_end).transpose().map_err(|m| ApiError::field("to", m))?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ApiError::field("from", "must not be after to"));
    }
    let now = now_ms();
    let mut tx = state.registry.db.begin().await?;
    let doctor = Doctor::of(&mut tx, &user).await?;
    let consents = check::active(&mut tx, &doctor.provider_id, &patient, now).await?;
    let wanted = hi_type.map(|t| HiTypes(t.bit()));
    let usable: Vec<_> = consents
        .iter()
        .filter(|k| wanted.is_none_or(|w| HiTypes(k.hi_mask).contains(w)))
        .filter(|k| from.is_none_or(|f| f <= k.date_to) && to.is_none_or(|t| t >= k.date_from))
        .collect();
    if usable.is_empty() {
        let refusal =
            if consents.is_empty() { check::refusal(&mut tx, &doctor.provider_id, &patient).await? } else { check::consent_required() };
        drop(tx);
        let event = AuditEvent::new(Some(doctor.actor()), "read", "patient_records", Some(patient.clone())).subject(&patient);
        audit::record_refusal(&state.registry.db, event).await?;
        return Err(refusal);
    }
    let purposes: Vec<&str> = usable.iter().map(|k| k.purpose.as_str()).collect();
    let sql = format!(
        "SELECT r.id, r.bundle FROM health_records r WHERE r.patient_health_id = $1 \
           AND ($3 IS NULL OR r.hi_type = $3) AND ($4 IS NULL OR r.record_date >= $4) AND ($5 IS NULL OR r.record_date <= $5) \
           AND EXISTS (SELECT 1 FROM consents k WHERE k.doctor_id = $2 AND k.patient_health_id = r.patient_health_id AND {}) \
         ORDER BY r.record_date DESC, r.id DESC",
        covers_record("$6")
    );
    let rows: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&patient)
        .bind(&doctor.provider_id)
        .bind(hi_type.map(HiType::as_str))
        .bind(from)
        .bind(to)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
    let event = AuditEvent::new(Some(doctor.actor()), "read", "patient_records", Some(patient.clone())).subject(&patient);
    audit::record(&mut tx, &event.purpose(purposes.join(","))).await?;
    tx.commit().await?;
    Ok(json_response(searchset(rows, now)))
}

/// The searchset Bundle, written out around the stored documents without parsing them. Each document's id is its
/// record id, so each entry's fullUrl is `urn:uuid:<record id>`.
fn searchset(rows: Vec<(String, String)>, now: i64) -> String {
    let head = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::now_v7().to_string(),
        "meta": { "lastUpdated": rfc3339(now) },
        "type": "searchset",
        "timestamp": rfc3339(now),
        "total": rows.len(),
    })
    .to_string();
    if rows.is_empty() {
        return head;
    }
    let size: usize = rows.iter().map(|(_, b)| b.len() + 96).sum();
    let mut out = String::with_capacity(head.len() + size + 16);
    out.push_str(&head[..head.len() - 1]);
    out.push_str(",\"entry\":[");
    for (i, (id, bundle)) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"fullUrl\":\"urn:uuid:");
        out.push_str(id);
        out.push_str("\",\"resource\":");
        out.push_str(bundle);
        out.push_str(",\"search\":{\"mode\":\"match\"}}");
    }
    out.push_str("]}");
    out
}
