//! What writing into a consult (notes, a prescription) needs, read in one query: the consult, its patient's
//! demographics, the calling doctor's registration and the facility the consult belongs to.

use sqlx::AnyConnection;
use vaidya_registry::auth::{AuthUser, Caller, Me, SessionCheck};
use vaidya_registry::{ApiError, ApiResult};

use super::{ConsultRow, SELECT_CONSULT};
use crate::people::{Doctor, Facility, Patient};
use crate::state::ConsultState;

/// A consult the caller may write to, with the people and place its documents name.
pub struct Writing {
    pub consult: ConsultRow,
    pub patient: Patient,
    pub facility: Option<Facility>,
    /// The consult's doctor, who is the caller; `None` if their provider row is not a doctor's.
    doctor: Option<Doctor>,
}

#[derive(sqlx::FromRow)]
struct WritingRow {
    #[sqlx(flatten)]
    consult: ConsultRow,
    #[sqlx(flatten)]
    me: Me,
    patient_handle: String,
    patient_gender: String,
    patient_date_of_birth: String,
    doctor_role: Option<String>,
    doctor_registration_number: Option<String>,
    doctor_council: Option<String>,
    doctor_speciality: Option<String>,
    doctor_qualification: Option<String>,
    doctor_status: Option<String>,
    facility_name: Option<String>,
    facility_kind: Option<String>,
}

impl Writing {
    /// The consult if the caller is its doctor and may still write to it (see [`ConsultRow::writable`]), with the
    /// caller, whose session the same query checks: 401 when it is not live, 404 when the consult is not theirs.
    pub async fn load(conn: &mut AnyConnection, state: &ConsultState, id: &str, caller: &Caller) -> ApiResult<(Self, AuthUser)> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(caller.not_found(conn).await);
        }
        let query = sqlx::query_as(dyn_sql!(
            "SELECT w.*, pp.handle AS patient_handle, pp.gender AS patient_gender, pp.date_of_birth AS patient_date_of_birth, \
             dd.role AS doctor_role, dd.registration_number AS doctor_registration_number, dd.council AS doctor_council, \
             dd.speciality AS doctor_speciality, dd.qualification AS doctor_qualification, dd.status AS doctor_status, \
             ff.name AS facility_name, ff.kind AS facility_kind, {me} \
             FROM ({SELECT_CONSULT} WHERE c.id = $1) w JOIN patients pp ON pp.health_id = w.patient_health_id \
             LEFT JOIN providers dd ON dd.id = w.doctor_id LEFT JOIN facilities ff ON ff.id = w.facility_id {session}",
            me = SessionCheck::COLUMNS,
            session = SessionCheck::join(2),
        ))
        .bind(id);
        let row: Option<WritingRow> = caller.session().bind(query).fetch_optional(&mut *conn).await?;
        let Some(row) = row else { return Err(caller.not_found(conn).await) };
        let user = caller.user(row.me.clone());
        let writing = Self::of(row, state, &user)?;
        Ok((writing, user))
    }

    fn of(row: WritingRow, state: &ConsultState, user: &AuthUser) -> ApiResult<Self> {
        if !(row.consult.is_patient(user) || row.consult.is_doctor(user)) {
            return Err(ApiError::not_found());
        }
        let consult = row.consult.writable(state, user)?;
        let patient = Patient {
            health_id: consult.patient_health_id.clone(),
            account_id: consult.patient_account_id.clone(),
            handle: row.patient_handle,
            name: consult.patient_name.clone(),
            gender: row.patient_gender,
            date_of_birth: row.patient_date_of_birth,
        };
        let facility = match (&consult.facility_id, row.facility_name, row.facility_kind) {
            (Some(id), Some(name), Some(kind)) => Some(Facility { id: id.clone(), name, kind }),
            _ => None,
        };
        let doctor = match (row.doctor_role.as_deref(), row.doctor_registration_number, row.doctor_council, row.doctor_status) {
            (Some("doctor"), Some(registration_number), Some(council), Some(status)) => Some(Doctor {
                provider_id: user.subject_id.clone(),
                account_id: consult.doctor_account_id.clone().unwrap_or_else(|| user.account_id.clone()),
                name: consult.doctor_name.clone().unwrap_or_default(),
                registration_number,
                council,
                speciality: row.doctor_speciality,
                qualification: row.doctor_qualification,
                status,
            }),
            _ => None,
        };
        Ok(Self { consult, patient, facility, doctor })
    }

    /// The calling doctor, as [`Doctor::of`] finds them.
    pub fn doctor(&self) -> ApiResult<Doctor> {
        self.doctor.clone().ok_or_else(ApiError::unauthorized)
    }
}
