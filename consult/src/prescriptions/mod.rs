//! E-prescriptions: each drug checked against the TPG 2020 lists for this consult, the PrescriptionRecord signed
//! (EdDSA, detached JWS over its canonical JSON), stored as a health record, and announced to the patient.

pub mod handlers;
pub mod items;
pub mod list;

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;
use vaidya_registry::ApiResult;

/// A prescribed item as stored and shown: the formulary's name and code, its list, and what to dispense.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PrescribedItem {
    pub index: u32,
    pub code: String,
    pub name: String,
    /// TPG 2020 list: `O`, `A` or `B`.
    pub list: String,
    pub strength: Option<String>,
    pub form: Option<String>,
    pub dose: String,
    pub frequency: String,
    pub duration_days: u32,
    pub route: Option<String>,
    pub quantity: u32,
    pub instructions: Option<String>,
}

impl PrescribedItem {
    /// "paracetamol 500 mg tablet" as a prescriber writes it.
    pub fn title(&self) -> String {
        [Some(self.name.as_str()), self.strength.as_deref(), self.form.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ")
    }

    /// "1 tablet, three times a day, for 5 days, oral. After food".
    pub fn directions(&self) -> String {
        let mut text = format!("{}, {}, for {} days", self.dose, self.frequency, self.duration_days);
        if let Some(route) = &self.route {
            text.push_str(&format!(", {route}"));
        }
        if let Some(more) = &self.instructions {
            text.push_str(&format!(". {more}"));
        }
        text
    }
}

/// A prescription row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PrescriptionRow {
    pub id: String,
    pub consult_id: String,
    pub patient_health_id: String,
    pub patient_account_id: String,
    pub patient_name: String,
    pub doctor_id: String,
    pub doctor_name: String,
    pub registration_number: String,
    pub items: String,
    pub patient_age: Option<i64>,
    pub notes: Option<String>,
    pub bundle: String,
    pub signature: String,
    pub status: String,
    pub created_at: i64,
}

const SELECT_PRESCRIPTION: &str = "SELECT x.id, x.consult_id, x.patient_health_id, p.account_id AS patient_account_id, p.name AS patient_name, \
     x.doctor_id, d.name AS doctor_name, d.registration_number, x.items, x.patient_age, x.notes, r.bundle, x.signature, x.status, x.created_at \
     FROM prescriptions x JOIN health_records r ON r.id = x.id JOIN patients p ON p.health_id = x.patient_health_id \
     JOIN providers d ON d.id = x.doctor_id";

impl PrescriptionRow {
    pub async fn load(conn: &mut AnyConnection, id: &str) -> ApiResult<Option<Self>> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Ok(None);
        }
        Ok(sqlx::query_as(dyn_sql!("{SELECT_PRESCRIPTION} WHERE x.id = $1")).bind(id).fetch_optional(conn).await?)
    }

    pub fn items(&self) -> Vec<PrescribedItem> {
        serde_json::from_str(&self.items).unwrap_or_default()
    }

    /// Whether a pharmacist works at a pharmacy holding an open or fulfilled order of this prescription. Orders belong
    /// to the pharmacy crate; this is the one place consult looks at them, to let the holder read what to dispense.
    pub async fn held_by_pharmacist(&self, conn: &mut AnyConnection, pharmacist_id: &str) -> ApiResult<bool> {
        let held: Option<String> = sqlx::query_scalar(
            "SELECT o.id FROM orders o JOIN provider_facilities pf ON pf.facility_id = o.pharmacy_id \
             WHERE o.prescription_id = $1 AND pf.provider_id = $2 AND o.status IN ('routed', 'accepted', 'ready', 'dispatched', 'dispensed') LIMIT 1",
        )
        .bind(&self.id)
        .bind(pharmacist_id)
        .fetch_optional(conn)
        .await?;
        Ok(held.is_some())
    }
}
