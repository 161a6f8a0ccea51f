//! `/api/v1/consults/{id}/prescriptions`, `/api/v1/prescriptions/...` and the drug search doctors prescribe from.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;
use sqlx::AnyConnection;
use utoipa::{IntoParams, ToSchema};
use vaidya_registry::Db;
use vaidya_registry::audit::{self, Actor, AuditEvent};
use vaidya_registry::auth::{AuthUser, Caller, Role};
use vaidya_registry::batch::{Batch, batches};
use vaidya_registry::body::{ApiJson, ApiQuery};
use vaidya_registry::db::{Tx, now_ms, rfc3339};
use vaidya_registry::domain::HealthIdNumber;
use vaidya_registry::error::Problem;
use vaidya_registry::events::{self, emit};
use vaidya_registry::page::ListResponse;
use vaidya_registry::text::optional_prose;
use vaidya_registry::{ApiError, ApiResult};

use super::items::{self, ItemInput};
use super::{PrescribedItem, PrescriptionRow};
use crate::consent::HiType;
use crate::consults::writing::Writing;
use crate::consults::{Mode, Visit};
use crate::fhir::prescription::{Prescribing, prescription_record};
use crate::formulary::{Drug, Formulary};
use crate::people::Doctor;
use crate::state::ConsultState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct WritePrescription {
    pub items: Option<Vec<ItemInput>>,
    pub notes: Option<String>,
}

/// A prescription as its patient, its doctor and the pharmacy holding it see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrescriptionView {
    pub prescription_id: String,
    /// `issued` or `dispensed`.
    pub status: String,
    pub consult_id: String,
    pub patient: crate::consults::PatientRef,
    /// The patient's age in years when prescribed.
    pub patient_age: Option<i64>,
    pub doctor: PrescriberView,
    pub items: Vec<PrescribedItem>,
    pub notes: Option<String>,
    pub created_at: String,
    /// The FHIR R4 document Bundle (NDHM PrescriptionRecord).
    #[schema(value_type = Object)]
    pub bundle: Box<RawValue>,
    /// Detached JWS (EdDSA) over the bundle's canonical JSON; key at `/api/v1/prescriptions/keys`.
    pub signature: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrescriberView {
    pub provider_id: String,
    pub name: String,
    pub registration_number: String,
}

impl PrescriptionRow {
    fn view(self) -> PrescriptionView {
        let items = self.items();
        PrescriptionView {
            prescription_id: self.id,
            status: self.status,
            consult_id: self.consult_id,
            patient: crate::consults::PatientRef {
                health_id: HealthIdNumber::display_stored(&self.patient_health_id),
                name: self.patient_name,
            },
            patient_age: self.patient_age,
            doctor: PrescriberView { provider_id: self.doctor_id, name: self.doctor_name, registration_number: self.registration_number },
            items,
            notes: self.notes,
            created_at: rfc3339(self.created_at),
            bundle: crate::records::raw_json(self.bundle),
            signature: self.signature,
        }
    }
}

/// The doctor prescribes during the consult or within 24 hours after it.
#[utoipa::path(post, path = "/api/v1/consults/{id}/prescriptions", tag = "prescriptions", params(("id" = String, Path)),
    request_body = WritePrescription,
    responses((status = 201, body = PrescriptionView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`invalid_transition` or `notes_window_closed`"),
        (status = 422, body = Problem, description = "`validation_failed`, `drug_unknown`, `drug_prohibited`, `drug_requires_video` or `drug_requires_follow_up`")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<ConsultState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    req: Result<ApiJson<WritePrescription>, ApiError>,
) -> Result<(StatusCode, Json<PrescriptionView>), Response> {
    let Path(id) = caller.extracted(&state.registry, id).await?;
    let ApiJson(req) = caller.extracted(&state.registry, req).await?;
    prescribe(&state, &caller, &id, req).await.map_err(IntoResponse::into_response)
}

async fn prescribe(
    state: &ConsultState,
    caller: &Caller,
    id: &str,
    req: WritePrescription,
) -> ApiResult<(StatusCode, Json<PrescriptionView>)> {
    let db = &state.registry.db;
    // The first query checks the caller's session too.
    let mut conn = db.lease().await?;
    let (writing, user) = Writing::load(&mut conn, state, id, caller).await?;
    let consult = &writing.consult;
    let notes = optional_prose(req.notes.as_deref(), 1000).map_err(|m| ApiError::field("notes", m))?;
    let items = req.items.ok_or_else(|| ApiError::field("items", "is required: the drugs to prescribe"))?;
    let follow_up = consult.visit() == Visit::FollowUp;
    let checked = match items::check(&items, follow_up, consult.mode() == Mode::Video) {
        Ok(checked) => checked,
        Err(refusal) => {
            // A refused drug is worth an audit line: who tried to prescribe what kind of thing, for whom.
            if refusal.code().starts_with("drug_") {
                drop(conn);
                let event = AuditEvent::new(Some(Actor::from(&user)), "prescribe", "prescription", Some(consult.id.clone()))
                    .subject(&consult.patient_health_id);
                audit::record_refusal(&state.registry.db, event).await?;
            }
            return Err(refusal);
        }
    };
    let doctor = writing.doctor()?;
    let patient = &writing.patient;
    let now = now_ms();
    let prescription_id = uuid::Uuid::now_v7().to_string();
    let age = patient.age();
    let prescribing =
        Prescribing { consult_id: &consult.id, patient, patient_age: age, doctor: &doctor, facility: writing.facility.as_ref() };
    let bundle = prescription_record(&prescription_id, &prescribing, &checked, notes.as_deref(), now);
    let signature = state.prescription_signer.sign(&bundle);
    let bundle = bundle.to_string();
    let items_json = serde_json::to_string(&checked).map_err(ApiError::internal)?;
    let issued = Issued { id: &prescription_id, writing: &writing, doctor: &doctor, items: &items_json, age, notes: notes.as_deref() };
    issued.store(db, &mut conn, bundle.clone(), &signature, now).await?;
    let row = PrescriptionRow {
        id: prescription_id,
        consult_id: consult.id.clone(),
        patient_health_id: consult.patient_health_id.clone(),
        patient_account_id: consult.patient_account_id.clone(),
        patient_name: patient.name.clone(),
        doctor_id: doctor.provider_id,
        doctor_name: doctor.name,
        registration_number: doctor.registration_number,
        items: items_json,
        patient_age: age.map(i64::from),
        notes,
        bundle,
        signature,
        status: "issued".into(),
        created_at: now,
    };
    state.registry.events.wake(&consult.patient_account_id).await;
    Ok((StatusCode::CREATED, Json(row.view())))
}

const INSERT_PRESCRIPTION: &str =
    "INSERT INTO prescriptions (id, consult_id, patient_health_id, doctor_id, items, patient_age, notes, signature, status, created_at)";

/// A prescription being issued: what is stored, announced to the patient and audited, in the transaction.
struct Issued<'a> {
    id: &'a str,
    writing: &'a Writing,
    doctor: &'a Doctor,
    items: &'a str,
    age: Option<i32>,
    notes: Option<&'a str>,
}

impl Issued<'_> {
    /// The signed document as a health record, the prescription row, `prescription.issued` for the patient and the
    /// audit event, committed together: one statement on PostgreSQL, a transaction of four on SQLite.
    async fn store(&self, db: &Db, conn: &mut AnyConnection, bundle: String, signature: &str, now: i64) -> ApiResult<()> {
        let consult = &self.writing.consult;
        let encounter_at = consult.started_at.unwrap_or(consult.created_at);
        let data =
            json!({ "prescription_id": self.id, "consult_id": consult.id, "status": "issued", "doctor": { "name": self.doctor.name } });
        let event = AuditEvent::new(Some(self.doctor.actor()), "prescribe", "prescription", Some(self.id.to_owned()))
            .subject(&consult.patient_health_id)
            .purpose("CAREMGT");
        if !batches(db) {
            let mut tx = db.begin().await?;
            crate::records::store(&mut tx, self.id, consult, self.doctor, HiType::Prescription, encounter_at, &bundle, now).await?;
            self.insert(&mut tx, signature, now).await?;
            emit(&mut tx, &consult.patient_account_id, "prescription.issued", &data).await?;
            audit::record(&mut tx, &event).await?;
            tx.commit().await?;
            return Ok(());
        }
        let mut batch = Batch::new();
        crate::records::store_in(&mut batch, "record", self.id, consult, self.doctor, HiType::Prescription, encounter_at, bundle, now);
        let values = [
            batch.arg(&consult.id),
            batch.arg(&consult.patient_health_id),
            batch.arg(&self.doctor.provider_id),
            batch.arg(self.items),
            batch.arg(self.age.map(i64::from)),
            batch.arg(self.notes),
            batch.arg(signature),
            batch.arg(now),
        ];
        batch.with(
            "issued",
            &format!("{INSERT_PRESCRIPTION} SELECT id, {}, 'issued', {} FROM record RETURNING id", values[..7].join(", "), values[7]),
        );
        let patient = batch.arg(&consult.patient_account_id);
        events::emit_in(&mut batch, "told", &format!("SELECT {patient} AS account_id"), "prescription.issued", &data, Some("issued"));
        audit::record_in(&mut batch, "audited", &event, Some("issued"));
        // On its own (no transaction open on `conn`), the one statement commits by itself.
        let told: Vec<(String,)> = batch.fetch_all(conn, "SELECT account_id FROM told").await?;
        if told.is_empty() { Err(ApiError::internal("prescription not stored")) } else { Ok(()) }
    }

    async fn insert(&self, tx: &mut Tx, signature: &str, now: i64) -> ApiResult<()> {
        let consult = &self.writing.consult;
        sqlx::query(sqlx::AssertSqlSafe(format!("{INSERT_PRESCRIPTION} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'issued', $9)")))
            .bind(self.id)
            .bind(&consult.id)
            .bind(&consult.patient_health_id)
            .bind(&self.doctor.provider_id)
            .bind(self.items)
            .bind(self.age.map(i64::from))
            .bind(self.notes)
            .bind(signature)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// The prescription if the caller may see it: its patient, its doctor, or a pharmacist of a pharmacy it is routed to.
async fn readable(state: &ConsultState, id: &str, user: &AuthUser) -> ApiResult<PrescriptionRow> {
    let mut tx = state.registry.db.begin().await?;
    let row = PrescriptionRow::load(&mut tx, id).await?;
    let allowed = match (&row, user.role) {
        (Some(r), Role::Patient) => r.patient_health_id == user.subject_id,
        (Some(r), Role::Doctor) => r.doctor_id == user.subject_id,
        (Some(r), Role::Pharmacist) => r.held_by_pharmacist(&mut tx, &user.subject_id).await?,
        _ => false,
    };
    let Some(row) = row.filter(|_| allowed) else {
        drop(tx);
        if user.role != Role::Patient {
            audit::record_refusal(
                &state.registry.db,
                AuditEvent::new(Some(Actor::from(user)), "read", "prescription", Some(id.to_owned())),
            )
            .await?;
        }
        return Err(ApiError::not_found());
    };
    if user.role != Role::Patient {
        let purpose = if user.role == Role::Pharmacist { "dispensing" } else { "CAREMGT" };
        let event = AuditEvent::new(Some(Actor::from(user)), "read", "prescription", Some(row.id.clone())).subject(&row.patient_health_id);
        audit::record(&mut tx, &event.purpose(purpose)).await?;
    }
    tx.commit().await?;
    Ok(row)
}

/// One prescription with its signed document.
#[utoipa::path(get, path = "/api/v1/prescriptions/{id}", tag = "prescriptions", params(("id" = String, Path)),
    responses((status = 200, body = PrescriptionView), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_one(State(state): State<ConsultState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<PrescriptionView>> {
    Ok(Json(readable(&state, &id, &user).await?.view()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    /// Whether the signature matches the document as stored now.
    pub valid: bool,
    pub signer: PrescriberView,
    pub key_id: String,
    pub signed_at: String,
}

/// Checks the prescription's signature against the document as stored: a tampered bundle is `valid: false`.
#[utoipa::path(get, path = "/api/v1/prescriptions/{id}/verify", tag = "prescriptions", params(("id" = String, Path)),
    responses((status = 200, body = Verification), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn verify(State(state): State<ConsultState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Verification>> {
    let row = readable(&state, &id, &user).await?;
    let valid = serde_json::from_str(&row.bundle).is_ok_and(|bundle| state.prescription_signer.verify(&bundle, &row.signature));
    Ok(Json(Verification {
        valid,
        signer: PrescriberView { provider_id: row.doctor_id, name: row.doctor_name, registration_number: row.registration_number },
        key_id: state.prescription_signer.kid().to_owned(),
        signed_at: rfc3339(row.created_at),
    }))
}

/// The public key that signs prescriptions, as a JWK set.
#[utoipa::path(get, path = "/api/v1/prescriptions/keys", tag = "prescriptions", responses((status = 200, body = Object)))]
pub async fn keys(State(state): State<ConsultState>) -> Json<serde_json::Value> {
    Json(state.prescription_signer.jwks())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DrugQuery {
    /// A name, brand or code, or its beginning.
    pub q: Option<String>,
    /// At most this many (default 20, at most 50).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DrugView {
    pub code: String,
    pub name: String,
    /// TPG 2020 list: `O`, `A`, `B` or `prohibited`.
    pub list: String,
    pub category: String,
    pub forms: Vec<String>,
    pub synonyms: Vec<String>,
}

impl From<&Drug> for DrugView {
    fn from(d: &Drug) -> Self {
        Self {
            code: d.code.clone(),
            name: d.name.clone(),
            list: d.list.as_str().into(),
            category: d.category.clone(),
            forms: d.forms.clone(),
            synonyms: d.synonyms.clone(),
        }
    }
}

/// The formulary, searched by name, brand or code: what a doctor picks drugs from.
#[utoipa::path(get, path = "/api/v1/drugs", tag = "prescriptions", params(DrugQuery),
    responses((status = 200, body = inline(ListResponse<DrugView>)), (status = 422, body = Problem)))]
pub async fn drugs(ApiQuery(q): ApiQuery<DrugQuery>) -> ApiResult<Json<ListResponse<DrugView>>> {
    let limit = match q.limit {
        None => 20,
        Some(n @ 1..=50) => n as usize,
        Some(_) => return Err(ApiError::field("limit", "is between 1 and 50")),
    };
    let query = q.q.unwrap_or_default();
    if query.chars().count() > 100 {
        return Err(ApiError::field("q", "must have at most 100 characters"));
    }
    let items = Formulary::shipped().search(&query, limit).into_iter().map(DrugView::from).collect();
    Ok(Json(ListResponse { items, next_cursor: None }))
}
