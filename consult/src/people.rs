//! The people a consult involves, as the consult service needs them: a patient's demographics and account,
//! a doctor's registration, speciality and facility.

use sqlx::AnyConnection;
use vaidya_registry::ApiResult;
use vaidya_registry::audit::Actor;
use vaidya_registry::auth::AuthUser;
use vaidya_registry::domain::DateOfBirth;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Patient {
    pub health_id: String,
    pub account_id: String,
    pub handle: String,
    pub name: String,
    pub gender: String,
    pub date_of_birth: String,
}

impl Patient {
    pub async fn load(conn: &mut AnyConnection, health_id: &str) -> ApiResult<Option<Self>> {
        Ok(sqlx::query_as("SELECT health_id, account_id, handle, name, gender, date_of_birth FROM patients WHERE health_id = $1")
            .bind(health_id)
            .fetch_optional(conn)
            .await?)
    }

    /// Age in whole years today (the TPG asks for it on every prescription).
    pub fn age(&self) -> Option<i32> {
        DateOfBirth::parse(&self.date_of_birth).ok().map(|d| d.age())
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Doctor {
    pub provider_id: String,
    pub account_id: String,
    pub name: String,
    pub registration_number: String,
    pub council: String,
    pub speciality: Option<String>,
    pub qualification: Option<String>,
    pub status: String,
}

impl Doctor {
    pub async fn load(conn: &mut AnyConnection, provider_id: &str) -> ApiResult<Option<Self>> {
        Ok(sqlx::query_as(
            "SELECT id AS provider_id, account_id, name, registration_number, council, speciality, qualification, status \
             FROM providers WHERE id = $1 AND role = 'doctor'",
        )
        .bind(provider_id)
        .fetch_optional(conn)
        .await?)
    }

    /// The calling doctor (the extractor already checked the account is active).
    pub async fn of(conn: &mut AnyConnection, user: &AuthUser) -> ApiResult<Self> {
        user.require(vaidya_registry::auth::Role::Doctor)?;
        Self::load(conn, &user.subject_id).await?.ok_or_else(vaidya_registry::ApiError::unauthorized)
    }

    /// The queue lane key of this doctor's speciality.
    pub fn speciality_key(&self) -> Option<String> {
        self.speciality.as_deref().map(speciality_key)
    }

    /// The facility the doctor practises at for a consult: their first facility that is not a pharmacy.
    pub async fn facility(&self, conn: &mut AnyConnection) -> ApiResult<Option<Facility>> {
        Ok(sqlx::query_as(
            "SELECT f.id, f.name, f.kind FROM provider_facilities pf JOIN facilities f ON f.id = pf.facility_id \
             WHERE pf.provider_id = $1 AND f.kind <> 'pharmacy' ORDER BY f.id LIMIT 1",
        )
        .bind(&self.provider_id)
        .fetch_optional(conn)
        .await?)
    }

    pub fn actor(&self) -> Actor {
        Actor { id: self.provider_id.clone(), role: "doctor".into(), name: self.name.clone() }
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Facility {
    pub id: String,
    pub name: String,
    pub kind: String,
}

impl Facility {
    pub async fn load(conn: &mut AnyConnection, id: &str) -> ApiResult<Option<Self>> {
        Ok(sqlx::query_as("SELECT id, name, kind FROM facilities WHERE id = $1").bind(id).fetch_optional(conn).await?)
    }
}

/// Specialities match whatever their letter case and surrounding spaces.
pub fn speciality_key(speciality: &str) -> String {
    speciality.trim().to_lowercase()
}
