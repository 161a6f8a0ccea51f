//! The NDHM PrescriptionRecord: a Composition (SNOMED 440545006) with one section listing a MedicationRequest per
//! drug, each naming the prescriber (with their registration number), the dose, and what to dispense.

use serde_json::{Value, json};
use vaidya_registry::db::rfc3339;

use super::{Entry, document, narrative, organization_entry, patient_entry, practitioner_entry, snomed};
use crate::people::{Doctor, Facility, Patient};
use crate::prescriptions::PrescribedItem as Item;

/// The formulary's code system.
pub const FORMULARY_SYSTEM: &str = "https://vaidya.in/fhir/CodeSystem/formulary";

/// Who, for whom, where and when.
pub struct Prescribing<'a> {
    pub consult_id: &'a str,
    pub patient: &'a Patient,
    pub patient_age: Option<i32>,
    pub doctor: &'a Doctor,
    pub facility: Option<&'a Facility>,
}

/// The document `id` listing `items`, written at `at`.
pub fn prescription_record(id: &str, p: &Prescribing<'_>, items: &[Item], notes: Option<&str>, at: i64) -> Value {
    let patient = patient_entry(p.patient);
    let doctor = practitioner_entry(p.doctor);
    let organization = p.facility.map(organization_entry);
    let subject = patient.reference(&p.patient.name);
    let requester = doctor.reference(&p.doctor.name);
    let requests: Vec<Entry> = items.iter().map(|item| medication_request(item, &subject, &requester, notes, at)).collect();

    let age = p.patient_age.map(|a| format!("{a} years")).unwrap_or_else(|| "age not recorded".into());
    let mut lines = vec![
        format!("Patient: {} ({age})", p.patient.name),
        format!("Prescriber: {}, registration {} ({})", p.doctor.name, p.doctor.registration_number, p.doctor.council),
    ];
    lines.extend(
        items.iter().enumerate().map(|(i, item)| format!("{}. {}: {}; dispense {}", i + 1, item.title(), item.directions(), item.quantity)),
    );
    if let Some(notes) = notes {
        lines.push(format!("Notes: {notes}"));
    }
    let texts: Vec<&str> = lines.iter().map(String::as_str).collect();
    let section = json!({
        "title": "Prescription",
        "code": snomed("440545006", "Prescription record"),
        "text": narrative(&texts),
        "entry": requests.iter().map(Entry::reference_only).collect::<Vec<_>>(),
    });
    let mut composition = json!({
        "identifier": { "system": "https://vaidya.in/consults", "value": p.consult_id },
        "status": "final",
        "type": snomed("440545006", "Prescription record"),
        "subject": subject,
        "date": rfc3339(at),
        "author": [requester],
        "title": "Prescription record",
        "section": [section],
    });
    if let Some(org) = &organization {
        composition["custodian"] = org.reference(org.resource["name"].as_str().unwrap_or_default());
    }
    let composition = Entry::new("Composition", "PrescriptionRecord", composition);
    let mut entries = vec![patient, doctor];
    entries.extend(organization);
    entries.extend(requests);
    document(id, composition, entries, at)
}

fn medication_request(item: &Item, subject: &Value, requester: &Value, notes: Option<&str>, at: i64) -> Entry {
    let mut dosage = json!({ "text": item.directions() });
    if let Some(route) = &item.route {
        dosage["route"] = json!({ "text": route });
    }
    if let Some(more) = &item.instructions {
        dosage["patientInstruction"] = json!(more);
    }
    let mut body = json!({
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{ "system": FORMULARY_SYSTEM, "code": item.code, "display": item.name }],
            "text": item.title(),
        },
        "subject": subject,
        "authoredOn": rfc3339(at),
        "requester": requester,
        "dosageInstruction": [dosage],
        "dispenseRequest": {
            "quantity": { "value": item.quantity },
            "expectedSupplyDuration": { "value": item.duration_days, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d" },
        },
    });
    if let Some(notes) = notes {
        body["note"] = json!([{ "text": notes }]);
    }
    Entry::new("MedicationRequest", "MedicationRequest", body)
}
