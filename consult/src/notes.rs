//! `POST /api/v1/consults/{id}/notes`: the doctor's encounter notes, stored as an OPConsultRecord in the facility's EMR
//! and shown in the patient's PHR while the consult's `record_to_phr` consent is in force.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vaidya_registry::audit::{self, Actor, AuditEvent};
use vaidya_registry::auth::Caller;
use vaidya_registry::body::ApiJson;
use vaidya_registry::db::now_ms;
use vaidya_registry::error::{Problem, Violations};
use vaidya_registry::text::{optional_prose, required_prose};
use vaidya_registry::{ApiError, ApiResult};

use crate::consent::HiType;
use crate::consults::writing::Writing;
use crate::fhir::opconsult::{Diagnosis, Encounter, FollowUp, Notes, op_consult_record};
use crate::state::ConsultState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct DiagnosisInput {
    pub text: Option<String>,
    /// A code in `system` (e.g. ICD-10 or SNOMED CT); both or neither.
    pub code: Option<String>,
    /// The code system's URI, e.g. `http://snomed.info/sct` or `http://hl7.org/fhir/sid/icd-10`.
    pub system: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct FollowUpInput {
    /// 1 to 365.
    pub after_days: Option<i64>,
    pub note: Option<String>,
}

/// One item or a list of them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct WriteNotes {
    pub chief_complaints: Option<String>,
    pub history: Option<String>,
    pub examination: Option<String>,
    pub diagnoses: Option<Vec<DiagnosisInput>>,
    /// One investigation per item (a single string is one item).
    pub investigations_advised: Option<OneOrMany>,
    pub advice: Option<String>,
    pub follow_up: Option<FollowUpInput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordCreated {
    pub record_id: String,
    pub hi_type: String,
    /// Whether the record shows in the patient's PHR (their `record_to_phr` consent).
    pub in_phr: bool,
    /// The FHIR R4 document Bundle (NDHM OPConsultRecord).
    #[schema(value_type = Object)]
    pub bundle: serde_json::Value,
}

const TEXT_MAX: usize = 4000;

fn is_uri(s: &str) -> bool {
    (s.starts_with("http://") || s.starts_with("https://") || s.starts_with("urn:"))
        && !s.chars().any(char::is_whitespace)
        && s.len() <= 200
}

fn check_diagnosis(i: usize, d: &DiagnosisInput, v: &mut Violations) -> Option<Diagnosis> {
    let text = v.check(&format!("diagnoses[{i}].text"), required_prose(d.text.as_deref(), 1, 500));
    let code = match (d.code.as_deref().map(str::trim), d.system.as_deref().map(str::trim)) {
        (None, None) => None,
        (Some(code), Some(system)) => {
            if code.is_empty() || code.len() > 64 || code.chars().any(char::is_whitespace) {
                v.add(format!("diagnoses[{i}].code"), "is 1 to 64 characters without spaces");
            }
            if !is_uri(system) {
                v.add(format!("diagnoses[{i}].system"), "is the code system's URI, e.g. http://hl7.org/fhir/sid/icd-10");
            }
            Some((system.to_owned(), code.to_owned()))
        }
        (Some(_), None) => {
            v.add(format!("diagnoses[{i}].system"), "is required with a code");
            None
        }
        (None, Some(_)) => {
            v.add(format!("diagnoses[{i}].code"), "is required with a system");
            None
        }
    };
    text.map(|text| Diagnosis { text, code })
}

/// Checks the notes; every problem is reported at once.
pub fn validate(req: WriteNotes) -> ApiResult<Notes> {
    let mut v = Violations::new();
    let chief_complaints = v.check("chief_complaints", required_prose(req.chief_complaints.as_deref(), 1, TEXT_MAX));
    let history = v.check("history", optional_prose(req.history.as_deref(), TEXT_MAX)).flatten();
    let examination = v.check("examination", optional_prose(req.examination.as_deref(), TEXT_MAX)).flatten();
    let advice = v.check("advice", optional_prose(req.advice.as_deref(), TEXT_MAX)).flatten();
    let mut diagnoses = Vec::new();
    match &req.diagnoses {
        None => v.add("diagnoses", "is required (an empty list when there is no diagnosis yet)"),
        Some(list) if list.len() > 20 => v.add("diagnoses", "at most 20"),
        Some(list) => diagnoses = list.iter().enumerate().filter_map(|(i, d)| check_diagnosis(i, d, &mut v)).collect(),
    }
    let items = match req.investigations_advised {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(list)) => list,
    };
    if items.len() > 30 {
        v.add("investigations_advised", "at most 30");
    }
    let investigations_advised: Vec<String> = items
        .iter()
        .enumerate()
        .filter_map(|(i, s)| v.check(&format!("investigations_advised[{i}]"), required_prose(Some(s), 1, 500)))
        .collect();
    let follow_up = req.follow_up.and_then(|f| {
        let days = match f.after_days {
            Some(d) if (1..=365).contains(&d) => Some(d as u32),
            _ => v.check("follow_up.after_days", Err::<u32, _>("is a number of days from 1 to 365")),
        };
        let note = v.check("follow_up.note", optional_prose(f.note.as_deref(), 500)).flatten();
        days.map(|after_days| FollowUp { after_days, note })
    });
    v.finish()?;
    let chief_complaints = chief_complaints.ok_or_else(|| ApiError::field("chief_complaints", "is required"))?;
    Ok(Notes { chief_complaints, history, examination, diagnoses, investigations_advised, advice, follow_up })
}

/// The doctor writes encounter notes for a consult.
#[utoipa::path(post, path = "/api/v1/consults/{id}/notes", tag = "records", params(("id" = String, Path)), request_body = WriteNotes,
    responses((status = 201, body = RecordCreated), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "`consent_required`: the patient withdrew their PHR consent"),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "`invalid_transition` or `notes_window_closed`"),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn write_notes(
    State(state): State<ConsultState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    req: Result<ApiJson<WriteNotes>, ApiError>,
) -> Result<(StatusCode, Json<RecordCreated>), Response> {
    let Path(id) = caller.extracted(&state.registry, id).await?;
    let ApiJson(req) = caller.extracted(&state.registry, req).await?;
    write(&state, &caller, id, req).await.map_err(IntoResponse::into_response)
}

async fn write(state: &ConsultState, caller: &Caller, id: String, req: WriteNotes) -> ApiResult<(StatusCode, Json<RecordCreated>)> {
    let mut tx = state.registry.db.begin().await?;
    // The first query checks the caller's session too.
    let (writing, user) = Writing::load(&mut tx, state, &id, caller).await?;
    let row = &writing.consult;
    let notes = validate(req)?;
    if row.phr_consent_withdrawn_at.is_some() && !row.records_to_phr() {
        drop(tx);
        let event = AuditEvent::new(Some(Actor::from(&user)), "write_notes", "consult", Some(id)).subject(&row.patient_health_id);
        audit::record_refusal(&state.registry.db, event.purpose("record_to_phr")).await?;
        return Err(ApiError::forbidden("consent_required", "The patient withdrew consent to record this consult's notes."));
    }
    let doctor = writing.doctor()?;
    let (patient, facility) = (&writing.patient, writing.facility.as_ref());
    let now = now_ms();
    let started_at = row.started_at.unwrap_or(row.created_at);
    let encounter =
        Encounter { consult_id: &row.id, patient, doctor: &doctor, facility, started_at, ended_at: row.ended_at, mode: &row.mode };
    let record_id = uuid::Uuid::now_v7().to_string();
    let bundle = op_consult_record(&record_id, &encounter, &notes, now);
    crate::records::store(&mut tx, &record_id, row, &doctor, HiType::OpConsultation, started_at, &bundle.to_string(), now).await?;
    let event = AuditEvent::new(Some(doctor.actor()), "create", "health_record", Some(record_id.clone())).subject(&row.patient_health_id);
    audit::record(&mut tx, &event.purpose("CAREMGT")).await?;
    tx.commit().await?;
    let in_phr = row.records_to_phr();
    Ok((StatusCode::CREATED, Json(RecordCreated { record_id, hi_type: HiType::OpConsultation.as_str().into(), in_phr, bundle })))
}
