//! FHIR R4 documents in the NDHM (NRCES) profiles: the building blocks every document shares (Patient, Practitioner,
//! Organization, Encounter, narratives, references) and the document Bundle that wraps a Composition and its entries.

pub mod opconsult;
pub mod prescription;

use serde_json::{Value, json};
use vaidya_registry::db::rfc3339;
use vaidya_registry::domain::HealthIdNumber;

use crate::people::{Doctor, Facility, Patient};

pub const SNOMED: &str = "http://snomed.info/sct";
pub const HEALTH_ID_SYSTEM: &str = "https://healthid.ndhm.gov.in";
pub const DOCTOR_SYSTEM: &str = "https://doctor.ndhm.gov.in";
pub const FACILITY_SYSTEM: &str = "https://facility.ndhm.gov.in";
const PROFILE_BASE: &str = "https://nrces.in/ndhm/fhir/r4/StructureDefinition/";

/// A resource on its way into a document: its `urn:uuid:` full URL and its JSON.
pub struct Entry {
    pub full_url: String,
    pub resource: Value,
}

impl Entry {
    /// Gives `resource` a fresh id and profile.
    pub fn new(resource_type: &str, profile: &str, mut body: Value) -> Self {
        let id = uuid::Uuid::now_v7().to_string();
        body["resourceType"] = json!(resource_type);
        body["id"] = json!(id);
        body["meta"] = json!({ "profile": [format!("{PROFILE_BASE}{profile}")] });
        Self { full_url: format!("urn:uuid:{id}"), resource: body }
    }

    /// A reference to this entry, with a display text.
    pub fn reference(&self, display: &str) -> Value {
        json!({ "reference": self.full_url, "display": display })
    }

    pub fn reference_only(&self) -> Value {
        json!({ "reference": self.full_url })
    }
}

/// A SNOMED CT concept with its display.
pub fn snomed(code: &str, display: &str) -> Value {
    json!({ "coding": [{ "system": SNOMED, "code": code, "display": display }], "text": display })
}

/// A concept known only by its text.
pub fn text_concept(text: &str) -> Value {
    json!({ "text": text })
}

/// XHTML narrative: the paragraphs, escaped.
pub fn narrative(paragraphs: &[&str]) -> Value {
    let body: String = paragraphs.iter().map(|p| format!("<p>{}</p>", escape_html(p))).collect();
    json!({ "status": "generated", "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{body}</div>") })
}

/// Escapes text for XHTML, so clinical text can never become markup.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn fhir_gender(gender: &str) -> &'static str {
    match gender {
        "M" => "male",
        "F" => "female",
        _ => "other",
    }
}

pub fn patient_entry(patient: &Patient) -> Entry {
    Entry::new(
        "Patient",
        "Patient",
        json!({
            "identifier": [{
                "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR", "display": "Medical record number" }] },
                "system": HEALTH_ID_SYSTEM,
                "value": HealthIdNumber::display_stored(&patient.health_id),
            }],
            "name": [{ "text": patient.name }],
            "gender": fhir_gender(&patient.gender),
            "birthDate": patient.date_of_birth,
        }),
    )
}

pub fn practitioner_entry(doctor: &Doctor) -> Entry {
    let mut body = json!({
        "identifier": [{
            "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MD", "display": "Medical License number" }] },
            "system": DOCTOR_SYSTEM,
            "value": doctor.registration_number,
            "assigner": { "display": doctor.council },
        }],
        "name": [{ "text": doctor.name }],
    });
    if let Some(qualification) = &doctor.qualification {
        body["qualification"] = json!([{ "code": { "text": qualification } }]);
    }
    Entry::new("Practitioner", "Practitioner", body)
}

pub fn organization_entry(facility: &Facility) -> Entry {
    Entry::new(
        "Organization",
        "Organization",
        json!({
            "identifier": [{ "system": FACILITY_SYSTEM, "value": facility.id }],
            "name": facility.name,
        }),
    )
}

/// The document Bundle `id` (the record's id): the Composition first, then every other entry.
pub fn document(id: &str, composition: Entry, entries: Vec<Entry>, at: i64) -> Value {
    let all: Vec<Value> =
        std::iter::once(composition).chain(entries).map(|e| json!({ "fullUrl": e.full_url, "resource": e.resource })).collect();
    json!({
        "resourceType": "Bundle",
        "id": id,
        "meta": { "versionId": "1", "lastUpdated": rfc3339(at), "profile": [format!("{PROFILE_BASE}DocumentBundle")] },
        "identifier": { "system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{id}") },
        "type": "document",
        "timestamp": rfc3339(at),
        "entry": all,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrative_escapes_markup() {
        let n = narrative(&["<script>alert('x')</script> & more"]);
        let div = n["div"].as_str().unwrap();
        assert!(div.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
        assert!(!div.contains("<script"));
    }
}
