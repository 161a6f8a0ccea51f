//! `/api/v1/consent-requests`: a doctor asks, the patient sees it live and grants (only ever narrower) or denies.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use vaidya_registry::audit::{self, Actor, AuditEvent};
use vaidya_registry::auth::{AuthUser, Role};
use vaidya_registry::body::{ApiJson, ApiJsonOrEmpty};
use vaidya_registry::db::{now_ms, rfc3339};
use vaidya_registry::domain::HealthIdNumber;
use vaidya_registry::error::{Problem, Violations};
use vaidya_registry::events::emit;
use vaidya_registry::text::optional_text;
use vaidya_registry::{ApiError, ApiResult};

use super::{HiTypes, Purpose};
use crate::people::{Doctor, Patient};
use crate::state::ConsultState;
use crate::when::{parse_instant, parse_range_end, parse_range_start};

#[derive(Debug, Deserialize, ToSchema)]
pub struct DateRangeInput {
    /// A date (`YYYY-MM-DD`, from the start of the day) or an RFC 3339 time.
    pub from: Option<String>,
    /// A date (to the end of the day) or an RFC 3339 time.
    pub to: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateConsentRequest {
    pub patient_health_id: Option<String>,
    /// `CAREMGT`, `BTG`, `PUBHLTH`, `HPAYMT`, `DSRCH` or `PATRQT`.
    pub purpose: Option<String>,
    pub hi_types: Option<Vec<String>>,
    pub date_range: Option<DateRangeInput>,
    /// When the consent, once granted, stops working (RFC 3339, in the future).
    pub expires_at: Option<String>,
    pub reason: Option<String>,
}

/// A consent request as the doctor and the patient see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentRequestView {
    pub consent_request_id: String,
    /// `REQUESTED`, `GRANTED`, `DENIED` or `EXPIRED`.
    pub status: String,
    pub patient_health_id: String,
    pub patient_name: String,
    pub doctor: super::consents::Holder,
    pub purpose: String,
    pub hi_types: Vec<&'static str>,
    pub date_range: DateRangeView,
    pub expires_at: String,
    pub reason: Option<String>,
    pub created_at: String,
    pub decided_at: Option<String>,
    /// The consent it produced, once granted.
    pub consent_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DateRangeView {
    pub from: String,
    pub to: String,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RequestRow {
    id: String,
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
    created_at: i64,
    decided_at: Option<i64>,
    consent_id: Option<String>,
}

const SELECT_REQUEST: &str = "SELECT r.id, r.doctor_id, d.name AS doctor_name, d.account_id AS doctor_account_id, r.patient_health_id, \
     p.name AS patient_name, r.purpose, r.hi_mask, r.date_from, r.date_to, r.expires_at, r.reason, \
     r.status, r.created_at, r.decided_at, k.id AS consent_id \
     FROM consent_requests r JOIN providers d ON d.id = r.doctor_id JOIN patients p ON p.health_id = r.patient_health_id \
     LEFT JOIN consents k ON k.request_id = r.id";

impl RequestRow {
    /// `EXPIRED` is not stored: a request still open past its expiry has expired.
    fn status(&self, now: i64) -> &str {
        if self.status == "REQUESTED" && self.expires_at <= now { "EXPIRED" } else { &self.status }
    }

    fn view(self, now: i64) -> ConsentRequestView {
        ConsentRequestView {
            status: self.status(now).to_owned(),
            consent_request_id: self.id,
            patient_health_id: HealthIdNumber::display_stored(&self.patient_health_id),
            patient_name: self.patient_name,
            doctor: super::consents::Holder { provider_id: self.doctor_id, name: self.doctor_name },
            purpose: self.purpose,
            hi_types: HiTypes(self.hi_mask).names(),
            date_range: DateRangeView { from: rfc3339(self.date_from), to: rfc3339(self.date_to) },
            expires_at: rfc3339(self.expires_at),
            reason: self.reason,
            created_at: rfc3339(self.created_at),
            decided_at: self.decided_at.map(rfc3339),
            consent_id: self.consent_id,
        }
    }

    async fn load(conn: &mut sqlx::AnyConnection, id: &str) -> ApiResult<Option<Self>> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Ok(None);
        }
        Ok(sqlx::query_as(dyn_sql!("{SELECT_REQUEST} WHERE r.id = $1")).bind(id).fetch_optional(conn).await?)
    }
}

/// A range, a type set and an expiry, checked.
pub(crate) struct Scope {
    pub hi_types: HiTypes,
    pub date_from: i64,
    pub date_to: i64,
    pub expires_at: i64,
}

fn check_range(range: Option<&DateRangeInput>, v: &mut Violations) -> Option<(i64, i64)> {
    let Some(range) = range else {
        v.add("date_range", "is required: {from, to}");
        return None;
    };
    let from = match range.from.as_deref() {
        Some(s) => v.check("date_range.from", parse_range_start(s)),
        None => v.check("date_range.from", Err("is required")),
    };
    let to = match range.to.as_deref() {
        Some(s) => v.check("date_range.to", parse_range_end(s)),
        None => v.check("date_range.to", Err("is required")),
    };
    match (from, to) {
        (Some(from), Some(to)) if from > to => {
            v.add("date_range", "from must not be after to");
            None
        }
        (Some(from), Some(to)) => Some((from, to)),
        _ => None,
    }
}

fn check_expiry(expires_at: Option<&str>, now: i64, v: &mut Violations) -> Option<i64> {
    let at = match expires_at {
        Some(s) => v.check("expires_at", parse_instant(s))?,
        None => return v.check("expires_at", Err("is required")),
    };
    if at <= now {
        v.add("expires_at", "must be in the future");
        return None;
    }
    Some(at)
}

/// A doctor asks a patient for access to their records.
#[utoipa::path(post, path = "/api/v1/consent-requests", tag = "consent", request_body = CreateConsentRequest,
    responses((status = 201, body = ConsentRequestView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "no such patient"), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<ConsultState>,
    user: AuthUser,
    ApiJson(req): ApiJson<CreateConsentRequest>,
) -> ApiResult<(StatusCode, Json<ConsentRequestView>)> {
    user.require(Role::Doctor)?;
    let now = now_ms();
    let mut v = Violations::new();
    let patient_id = match req.patient_health_id.as_deref() {
        Some(s) => HealthIdNumber::parse(s).map_err(ApiError::from).map(Some)?,
        None => v.check("patient_health_id", Err::<HealthIdNumber, _>("is required")),
    };
    let purpose = v.check("purpose", Purpose::check(req.purpose.as_deref()));
    let hi_types = v.check("hi_types", HiTypes::parse(req.hi_types.as_deref().unwrap_or_default()));
    let range = check_range(req.date_range.as_ref(), &mut v);
    let expires_at = check_expiry(req.expires_at.as_deref(), now, &mut v);
    let reason = v.check("reason", optional_text(req.reason.as_deref(), 500)).flatten();
    v.finish()?;
    let (Some(patient_id), Some(purpose), Some(hi_types), Some((date_from, date_to)), Some(expires_at)) =
        (patient_id, purpose, hi_types, range, expires_at)
    else {
        return Err(ApiError::unprocessable("validation_failed", "The consent request is incomplete."));
    };
    let mut tx = state.registry.db.begin().await?;
    let doctor = Doctor::of(&mut tx, &user).await?;
    let patient = Patient::load(&mut tx, &patient_id.digits()).await?.ok_or_else(ApiError::not_found)?;
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO consent_requests (id, doctor_id, patient_health_id, purpose, hi_mask, date_from, date_to, expires_at, reason, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'REQUESTED', $10)",
    )
    .bind(&id)
    .bind(&doctor.provider_id)
    .bind(&patient.health_id)
    .bind(purpose.as_str())
    .bind(hi_types.0)
    .bind(date_from)
    .bind(date_to)
    .bind(expires_at)
    .bind(&reason)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let data = json!({
        "consent_request_id": id, "status": "REQUESTED", "purpose": purpose.as_str(), "hi_types": hi_types.names(),
        "doctor": { "provider_id": doctor.provider_id, "name": doctor.name },
    });
    emit(&mut tx, &patient.account_id, "consent.requested", &data).await?;
    let event = AuditEvent::new(Some(doctor.actor()), "request", "consent_request", Some(id.clone())).subject(&patient.health_id);
    audit::record(&mut tx, &event.purpose(purpose.as_str())).await?;
    let row = RequestRow::load(&mut tx, &id).await?.ok_or_else(|| ApiError::internal("request vanished"))?;
    tx.commit().await?;
    state.registry.events.wake(&patient.account_id).await;
    Ok((StatusCode::CREATED, Json(row.view(now))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestListQuery {
    /// Patients: `pending` (the default) or `all`.
    pub status: Option<String>,
}

/// The patient's pending requests (or all with `status=all`), or the calling doctor's own requests. Newest first, at most 200.
#[utoipa::path(get, path = "/api/v1/consent-requests", tag = "consent", params(RequestListQuery),
    responses((status = 200, body = inline(vaidya_registry::page::ListResponse<ConsentRequestView>)), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ConsultState>,
    user: AuthUser,
    vaidya_registry::body::ApiQuery(q): vaidya_registry::body::ApiQuery<RequestListQuery>,
) -> ApiResult<Json<vaidya_registry::page::ListResponse<ConsentRequestView>>> {
    let now = now_ms();
    let all = match q.status.as_deref() {
        None | Some("pending") => false,
        Some("all") => true,
        Some(_) => return Err(ApiError::field("status", "must be `pending` or `all`")),
    };
    let filter = match user.role {
        Role::Patient if all => "r.patient_health_id = $1 AND $2 > 0",
        Role::Patient => "r.patient_health_id = $1 AND r.status = 'REQUESTED' AND r.expires_at > $2",
        Role::Doctor => "r.doctor_id = $1 AND $2 > 0",
        _ => return Err(ApiError::forbidden("forbidden", "Only patients and doctors have consent requests.")),
    };
    let mut conn = state.registry.db.lease().await?;
    let rows: Vec<RequestRow> = sqlx::query_as(dyn_sql!("{SELECT_REQUEST} WHERE {filter} ORDER BY r.id DESC LIMIT 200"))
        .bind(&user.subject_id)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
    Ok(Json(vaidya_registry::page::ListResponse { items: rows.into_iter().map(|r| r.view(now)).collect(), next_cursor: None }))
}

#[derive(Debug, Deserialize, ToSchema, Default)]
pub struct GrantBody {
    /// A subset of the requested types (default: all of them).
    pub hi_types: Option<Vec<String>>,
    /// Within the requested range (default: the requested range).
    pub date_range: Option<DateRangeInput>,
    /// No later than requested (default: as requested).
    pub expires_at: Option<String>,
}

/// What a grant answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Granted {
    pub consent_id: String,
    pub consent_request_id: String,
    pub status: String,
    /// `{consentDetail, signature}` in ABDM's shape; check the detached JWS with `/api/v1/consents/keys`.
    #[schema(value_type = Object)]
    pub artefact: serde_json::Value,
}

/// The patient's narrowing of a request; anything wider than asked is refused.
fn narrowed(row: &RequestRow, body: GrantBody, now: i64) -> ApiResult<super::requests::Scope> {
    let mut v = Violations::new();
    let requested = HiTypes(row.hi_mask);
    let hi_types = match &body.hi_types {
        Some(names) => v.check("hi_types", HiTypes::parse(names)),
        None => Some(requested),
    };
    let range = match &body.date_range {
        Some(range) => check_range(Some(range), &mut v),
        None => Some((row.date_from, row.date_to)),
    };
    let expires_at = match &body.expires_at {
        Some(at) => check_expiry(Some(at), now, &mut v),
        None => Some(row.expires_at),
    };
    v.finish()?;
    let (Some(hi_types), Some((date_from, date_to)), Some(expires_at)) = (hi_types, range, expires_at) else {
        return Err(ApiError::unprocessable("validation_failed", "The grant is incomplete."));
    };
    let mut wider = Vec::new();
    if !requested.contains(hi_types) {
        wider.push("hi_types");
    }
    if date_from < row.date_from || date_to > row.date_to {
        wider.push("date_range");
    }
    if expires_at > row.expires_at {
        wider.push("expires_at");
    }
    if !wider.is_empty() {
        let errors = wider
            .iter()
            .map(|f| vaidya_registry::error::FieldError { field: (*f).into(), message: "may only narrow what was requested".into() })
            .collect();
        return Err(ApiError::unprocessable("consent_widened", "A grant may narrow a request, never widen it.").with_errors(errors));
    }
    Ok(Scope { hi_types, date_from, date_to, expires_at })
}

/// Loads a request that the calling patient may decide on: theirs and still open.
async fn open_request(tx: &mut vaidya_registry::db::Tx, user: &AuthUser, id: &str, now: i64) -> ApiResult<RequestRow> {
    user.require(Role::Patient)?;
    let row = RequestRow::load(tx, id).await?.filter(|r| r.patient_health_id == user.subject_id).ok_or_else(ApiError::not_found)?;
    if row.status(now) != "REQUESTED" {
        return Err(ApiError::conflict("invalid_transition", format!("This request is {}; it can no longer be decided.", row.status(now))));
    }
    Ok(row)
}

/// Marks the request decided, if no one decided it first.
async fn decide(tx: &mut vaidya_registry::db::Tx, id: &str, status: &str, now: i64) -> ApiResult<()> {
    let done = sqlx::query("UPDATE consent_requests SET status = $1, decided_at = $2 WHERE id = $3 AND status = 'REQUESTED'")
        .bind(status)
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(ApiError::conflict("invalid_transition", "This request was already decided.")) }
}

/// The patient grants a request, as asked or narrower, and gets the signed artefact.
#[utoipa::path(post, path = "/api/v1/consent-requests/{id}/grant", tag = "consent", params(("id" = String, Path)), request_body = GrantBody,
    responses((status = 201, body = Granted), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`invalid_transition`"), (status = 422, body = Problem, description = "`consent_widened`")),
    security(("bearer" = [])))]
pub async fn grant(
    State(state): State<ConsultState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<GrantBody>,
) -> ApiResult<(StatusCode, Json<Granted>)> {
    let now = now_ms();
    let mut tx = state.registry.db.begin().await?;
    let row = open_request(&mut tx, &user, &id, now).await?;
    let scope = narrowed(&row, body, now)?;
    decide(&mut tx, &id, "GRANTED", now).await?;
    let purpose = Purpose::parse(&row.purpose).unwrap_or(Purpose::CareManagement);
    let doctor = Doctor::load(&mut tx, &row.doctor_id).await?.ok_or_else(|| ApiError::internal("doctor vanished"))?;
    let patient = Patient::load(&mut tx, &row.patient_health_id).await?.ok_or_else(|| ApiError::internal("patient vanished"))?;
    let consent_id = uuid::Uuid::now_v7().to_string();
    let artefact =
        super::consents::insert_consent(&mut tx, &state, &consent_id, Some(&id), &patient, &doctor, purpose, &scope, None, now).await?;
    let data = json!({ "consent_request_id": id, "status": "GRANTED", "consent_id": consent_id, "patient_name": patient.name });
    emit(&mut tx, &doctor.account_id, "consent.requested", &data).await?;
    let event = AuditEvent::new(Some(Actor::from(&user)), "grant", "consent", Some(consent_id.clone())).subject(&patient.health_id);
    audit::record(&mut tx, &event.purpose(purpose.as_str())).await?;
    tx.commit().await?;
    state.registry.events.wake(&doctor.account_id).await;
    Ok((StatusCode::CREATED, Json(Granted { consent_id, consent_request_id: id, status: "GRANTED".into(), artefact })))
}

/// The patient denies a request.
#[utoipa::path(post, path = "/api/v1/consent-requests/{id}/deny", tag = "consent", params(("id" = String, Path)),
    responses((status = 200, body = ConsentRequestView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`invalid_transition`")),
    security(("bearer" = [])))]
pub async fn deny(State(state): State<ConsultState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<ConsentRequestView>> {
    let now = now_ms();
    let mut tx = state.registry.db.begin().await?;
    let row = open_request(&mut tx, &user, &id, now).await?;
    decide(&mut tx, &id, "DENIED", now).await?;
    let data = json!({ "consent_request_id": id, "status": "DENIED", "patient_name": row.patient_name });
    emit(&mut tx, &row.doctor_account_id, "consent.requested", &data).await?;
    let event = AuditEvent::new(Some(Actor::from(&user)), "deny", "consent_request", Some(id.clone())).subject(&row.patient_health_id);
    audit::record(&mut tx, &event.purpose(row.purpose.clone())).await?;
    let row = RequestRow::load(&mut tx, &id).await?.ok_or_else(|| ApiError::internal("request vanished"))?;
    tx.commit().await?;
    state.registry.events.wake(&row.doctor_account_id).await;
    Ok(Json(row.view(now)))
}
