//! A doctor and a patient ready to consult, and the steps every consult test starts with.

use serde_json::{Value, json};

use crate::{Reply, TestApp};

/// A verified doctor and a registered patient, both logged in.
pub struct Clinic {
    pub doctor: Value,
    pub doctor_token: String,
    pub patient: Value,
    pub patient_token: String,
}

impl Clinic {
    pub fn doctor_id(&self) -> &str {
        self.doctor["provider_id"].as_str().unwrap()
    }

    pub fn health_id(&self) -> &str {
        self.patient["health_id"].as_str().unwrap()
    }
}

/// A consult request for a named doctor with `overrides` merged in.
pub fn consult_body(doctor_id: &str, overrides: Value) -> Value {
    let mut body = json!({
        "doctor_id": doctor_id,
        "reason": "Fever and sore throat for three days",
        "visit": "first",
        "mode": "video",
        "consent": {"teleconsultation": true, "record_to_phr": true},
    });
    if let Value::Object(o) = overrides {
        for (k, v) in o {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(&k);
            } else {
                body[k] = v;
            }
        }
    }
    body
}

/// Encounter notes a doctor might write.
pub fn notes_body() -> Value {
    json!({
        "chief_complaints": "Fever (101 F) and sore throat for 3 days",
        "history": "No known allergies. Type 2 diabetes for 5 years on metformin.",
        "examination": "Throat congested, tonsils enlarged; chest clear.",
        "diagnoses": [{"text": "Acute pharyngitis", "code": "J02.9", "system": "http://hl7.org/fhir/sid/icd-10"}, {"text": "Fever"}],
        "investigations_advised": ["Complete blood count", "Throat swab culture"],
        "advice": "Warm saline gargles; plenty of fluids.",
        "follow_up": {"after_days": 5, "note": "Review with CBC report"},
    })
}

impl TestApp {
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(reqwest::Method::PUT, path, token, Some(body)).await
    }

    /// A doctor (General Medicine) and a patient.
    pub async fn clinic(&self) -> Clinic {
        let (doctor, doctor_token) = self.doctor().await;
        let (patient, patient_token) = self.patient().await;
        Clinic { doctor, doctor_token, patient, patient_token }
    }

    /// The patient asks for a consult with the clinic's doctor; returns the consult.
    pub async fn request_consult(&self, clinic: &Clinic, overrides: Value) -> Value {
        let body = consult_body(clinic.doctor_id(), overrides);
        self.post("/api/v1/consults", Some(&clinic.patient_token), body).await.expect(201).body
    }

    /// A consult the doctor has admitted; returns its id.
    pub async fn consult_in_progress(&self, clinic: &Clinic) -> String {
        let consult = self.request_consult(clinic, json!({})).await;
        let id = consult["consult_id"].as_str().unwrap().to_owned();
        self.post(&format!("/api/v1/consults/{id}/admit"), Some(&clinic.doctor_token), json!({})).await.expect(200);
        id
    }

    /// Backdates a completed consult's end, to test what its 24-hour window allows.
    pub async fn ended_hours_ago(&self, consult_id: &str, hours: i64) {
        sqlx::query("UPDATE consults SET ended_at = $1 WHERE id = $2")
            .bind(vaidya_registry::db::now_ms() - hours * 3600 * 1000)
            .bind(consult_id)
            .execute(self.registry.db.writer())
            .await
            .expect("consult backdated");
    }

    /// Notes on an admitted consult; returns the created record.
    pub async fn write_notes(&self, clinic: &Clinic, consult_id: &str) -> Value {
        self.post(&format!("/api/v1/consults/{consult_id}/notes"), Some(&clinic.doctor_token), notes_body()).await.expect(201).body
    }
}

/// A registered pharmacy and one of its pharmacists, logged in.
pub struct Pharmacy {
    pub facility_id: String,
    pub token: String,
}

/// A prescription with one List O drug (any consult may have it) and `overrides` merged into the item.
pub fn prescription_body(overrides: Value) -> Value {
    let mut item = json!({
        "drug": {"name": "Paracetamol 500 mg"},
        "strength": "500 mg",
        "form": "tablet",
        "dose": "1 tablet",
        "frequency": "three times a day after food",
        "duration_days": 5,
        "route": "oral",
        "quantity": 15,
    });
    if let Value::Object(o) = overrides {
        for (k, v) in o {
            item[k] = v;
        }
    }
    json!({"items": [item], "notes": "Drink plenty of fluids."})
}

impl TestApp {
    /// A pharmacy at `(lat, lon)` with a pharmacist.
    pub async fn pharmacy_at(&self, lat: f64, lon: f64) -> Pharmacy {
        let admin = self.admin_token().await;
        let facility = self.create_facility(&admin, "pharmacy", lat, lon).await;
        let facility_id = facility["facility_id"].as_str().unwrap().to_owned();
        let (_, username) = self.create_provider(&admin, "pharmacist", &facility_id, json!({})).await;
        Pharmacy { facility_id, token: self.token(&username, crate::PASSWORD).await }
    }

    /// A prescription (the default body) on an admitted consult of the clinic; returns it.
    pub async fn prescription(&self, clinic: &Clinic) -> Value {
        let consult = self.consult_in_progress(clinic).await;
        self.post(&format!("/api/v1/consults/{consult}/prescriptions"), Some(&clinic.doctor_token), prescription_body(json!({})))
            .await
            .expect(201)
            .body
    }
}
