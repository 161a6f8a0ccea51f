//! Which consents let a doctor read a patient's records now, and, when none does, why not.

use sqlx::AnyConnection;
use vaidya_registry::{ApiError, ApiResult};

/// A consent in force for one doctor and patient.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ActiveConsent {
    pub id: String,
    pub purpose: String,
    pub hi_mask: i64,
    pub date_from: i64,
    pub date_to: i64,
    pub expires_at: i64,
}

/// SQL true when consent alias `k` is in force at parameter `now` and covers record alias `r`. Used inside the records
/// query itself, so a revocation that commits before the query starts is always seen.
pub fn covers_record(now: &str) -> String {
    format!(
        "k.status = 'GRANTED' AND k.expires_at > {now} \
         AND (k.hi_mask & r.hi_bit) <> 0 AND r.record_date >= k.date_from AND r.record_date <= k.date_to"
    )
}

/// The consents `doctor_id` holds over `patient` that are in force at `now`.
pub async fn active(conn: &mut AnyConnection, doctor_id: &str, patient: &str, now: i64) -> ApiResult<Vec<ActiveConsent>> {
    Ok(sqlx::query_as(
        "SELECT id, purpose, hi_mask, date_from, date_to, expires_at FROM consents \
         WHERE doctor_id = $1 AND patient_health_id = $2 AND status = 'GRANTED' AND expires_at > $3 ORDER BY id",
    )
    .bind(doctor_id)
    .bind(patient)
    .bind(now)
    .fetch_all(conn)
    .await?)
}

/// The refusal when no consent is in force: the latest consent says whether it was revoked or ran out.
pub async fn refusal(conn: &mut AnyConnection, doctor_id: &str, patient: &str) -> ApiResult<ApiError> {
    let latest: Option<String> =
        sqlx::query_scalar("SELECT status FROM consents WHERE doctor_id = $1 AND patient_health_id = $2 ORDER BY id DESC LIMIT 1")
            .bind(doctor_id)
            .bind(patient)
            .fetch_optional(conn)
            .await?;
    Ok(match latest.as_deref() {
        Some("REVOKED") => ApiError::forbidden("consent_revoked", "The patient revoked the consent that covered these records."),
        Some(_) => ApiError::forbidden("consent_expired", "The consent that covered these records has expired; request a new one."),
        None => consent_required(),
    })
}

pub fn consent_required() -> ApiError {
    ApiError::forbidden("consent_required", "No consent of the patient covers these records; request one.")
}
