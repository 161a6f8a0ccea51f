//! Consults: a patient's request to see a doctor, its place in a queue, and its lifecycle
//! `waiting → in_progress → completed`, `waiting → cancelled`.

pub mod handlers;
pub mod lifecycle;
pub mod queue;
pub mod writing;

use serde::Serialize;
use sqlx::AnyConnection;
use utoipa::ToSchema;
use vaidya_registry::auth::{AuthUser, Role};
use vaidya_registry::db::{now_ms, rfc3339};
use vaidya_registry::domain::HealthIdNumber;
use vaidya_registry::{ApiError, ApiResult};

use crate::enums::wire_enum;
use crate::state::ConsultState;

wire_enum!(ConsultStatus { Waiting = "waiting", InProgress = "in_progress", Completed = "completed", Cancelled = "cancelled" });
wire_enum!(Visit { First = "first", FollowUp = "follow_up" });
wire_enum!(Mode { Video = "video", Audio = "audio", Text = "text" });

/// A consult row with the names the views need.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ConsultRow {
    pub id: String,
    pub patient_health_id: String,
    pub patient_name: String,
    pub patient_account_id: String,
    pub requested_doctor_id: Option<String>,
    pub speciality: Option<String>,
    pub speciality_key: Option<String>,
    pub doctor_id: Option<String>,
    pub doctor_name: Option<String>,
    pub doctor_account_id: Option<String>,
    pub facility_id: Option<String>,
    pub reason: String,
    pub visit: String,
    pub previous_consult_id: Option<String>,
    pub mode: String,
    pub record_to_phr: i64,
    pub phr_consent_withdrawn_at: Option<i64>,
    pub status: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
}

pub(crate) const SELECT_CONSULT: &str = "SELECT c.id, c.patient_health_id, p.name AS patient_name, p.account_id AS patient_account_id, \
     c.requested_doctor_id, c.speciality, c.speciality_key, c.doctor_id, d.name AS doctor_name, d.account_id AS doctor_account_id, \
     c.facility_id, c.reason, c.visit, c.previous_consult_id, c.mode, c.record_to_phr, c.phr_consent_withdrawn_at, c.status, \
     c.created_at, c.started_at, c.ended_at \
     FROM consults c JOIN patients p ON p.health_id = c.patient_health_id LEFT JOIN providers d ON d.id = c.doctor_id";

impl ConsultRow {
    pub async fn load(conn: &mut AnyConnection, id: &str) -> ApiResult<Option<Self>> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Ok(None);
        }
        Ok(sqlx::query_as(dyn_sql!("{SELECT_CONSULT} WHERE c.id = $1")).bind(id).fetch_optional(conn).await?)
    }

    pub fn status(&self) -> ConsultStatus {
        ConsultStatus::parse(&self.status).unwrap_or(ConsultStatus::Cancelled)
    }

    pub fn visit(&self) -> Visit {
        Visit::parse(&self.visit).unwrap_or(Visit::First)
    }

    pub fn mode(&self) -> Mode {
        Mode::parse(&self.mode).unwrap_or(Mode::Text)
    }

    pub fn is_patient(&self, user: &AuthUser) -> bool {
        user.role == Role::Patient && user.subject_id == self.patient_health_id
    }

    pub fn is_doctor(&self, user: &AuthUser) -> bool {
        user.role == Role::Doctor && self.doctor_id.as_deref() == Some(user.subject_id.as_str())
    }

    /// Whether a waiting consult sits in the queue of a doctor with this id and speciality key.
    pub fn in_lane_of(&self, provider_id: &str, speciality_key: Option<&str>) -> bool {
        match &self.requested_doctor_id {
            Some(requested) => requested == provider_id,
            None => speciality_key.is_some() && self.speciality_key.as_deref() == speciality_key,
        }
    }

    /// Whether the PHR consent was given and not withdrawn.
    pub fn records_to_phr(&self) -> bool {
        self.record_to_phr == 1
    }

    /// The consult if the caller is its doctor and may still write to it: in progress, or completed within the window.
    /// ([`writing::Writing::load`] reads it together with what the documents name.)
    pub(crate) fn writable(self, state: &ConsultState, user: &AuthUser) -> ApiResult<Self> {
        if !self.is_doctor(user) {
            return Err(ApiError::not_found());
        }
        match self.status() {
            ConsultStatus::InProgress => Ok(self),
            ConsultStatus::Completed if self.ended_at.is_some_and(|end| now_ms() - end < state.settings.notes_window_ms) => Ok(self),
            ConsultStatus::Completed => {
                Err(ApiError::conflict("notes_window_closed", "Notes and prescriptions close 24 hours after the consult."))
            }
            _ => Err(ApiError::conflict("invalid_transition", format!("The consult is {}; it has no encounter to write to.", self.status))),
        }
    }

    /// The consult if `user` is its patient or its doctor; 404 otherwise, whether or not it exists.
    pub async fn load_for(conn: &mut AnyConnection, id: &str, user: &AuthUser) -> ApiResult<Self> {
        match Self::load(conn, id).await? {
            Some(c) if c.is_patient(user) || c.is_doctor(user) => Ok(c),
            _ => Err(ApiError::not_found()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatientRef {
    /// `XX-XXXX-XXXX-XXXX`.
    pub health_id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DoctorRef {
    pub provider_id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    pub teleconsultation: bool,
    pub record_to_phr: bool,
    /// When the patient withdrew the PHR consent, if they did.
    pub record_to_phr_withdrawn_at: Option<String>,
}

/// A consult as its patient and doctor see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsultView {
    pub consult_id: String,
    /// `waiting`, `in_progress`, `completed` or `cancelled`.
    pub status: String,
    pub patient: PatientRef,
    pub doctor: Option<DoctorRef>,
    pub requested_doctor_id: Option<String>,
    pub speciality: Option<String>,
    pub reason: String,
    /// `video`, `audio` or `text`.
    pub mode: String,
    /// `first` or `follow_up`.
    pub visit: String,
    pub previous_consult_id: Option<String>,
    pub consent: ConsentView,
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    /// 1 for the next to be seen; only while waiting.
    pub queue_position: Option<i64>,
}

impl ConsultRow {
    pub fn view(self, queue_position: Option<i64>) -> ConsultView {
        ConsultView {
            consult_id: self.id,
            status: self.status,
            patient: PatientRef { health_id: HealthIdNumber::display_stored(&self.patient_health_id), name: self.patient_name },
            doctor: match (self.doctor_id, self.doctor_name) {
                (Some(provider_id), Some(name)) => Some(DoctorRef { provider_id, name }),
                _ => None,
            },
            requested_doctor_id: self.requested_doctor_id,
            speciality: self.speciality,
            reason: self.reason,
            mode: self.mode,
            visit: self.visit,
            previous_consult_id: self.previous_consult_id,
            consent: ConsentView {
                teleconsultation: true,
                record_to_phr: self.record_to_phr == 1,
                record_to_phr_withdrawn_at: self.phr_consent_withdrawn_at.map(rfc3339),
            },
            created_at: rfc3339(self.created_at),
            started_at: self.started_at.map(rfc3339),
            ended_at: self.ended_at.map(rfc3339),
            queue_position,
        }
    }
}
