//! The NDHM OPConsultRecord: a Composition (SNOMED 371530004) whose sections hold the chief complaints, history,
//! examination, investigation advice and follow-up of one consult, with the diagnoses on its Encounter.

use serde_json::{Value, json};
use vaidya_registry::db::rfc3339;

use super::{Entry, document, narrative, organization_entry, patient_entry, practitioner_entry, snomed, text_concept};
use crate::people::{Doctor, Facility, Patient};

/// A diagnosis, coded when the doctor gave a code and its system.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnosis {
    pub text: String,
    pub code: Option<(String, String)>,
}

/// Encounter notes, already checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Notes {
    pub chief_complaints: String,
    pub history: Option<String>,
    pub examination: Option<String>,
    pub diagnoses: Vec<Diagnosis>,
    pub investigations_advised: Vec<String>,
    pub advice: Option<String>,
    pub follow_up: Option<FollowUp>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FollowUp {
    pub after_days: u32,
    pub note: Option<String>,
}

/// Who, where and when: the consult the notes belong to.
pub struct Encounter<'a> {
    pub consult_id: &'a str,
    pub patient: &'a Patient,
    pub doctor: &'a Doctor,
    pub facility: Option<&'a Facility>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// `video`, `audio` or `text`.
    pub mode: &'a str,
}

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The document `id` for `notes`, written at `at`.
pub fn op_consult_record(id: &str, enc: &Encounter<'_>, notes: &Notes, at: i64) -> Value {
    let patient = patient_entry(enc.patient);
    let doctor = practitioner_entry(enc.doctor);
    let organization = enc.facility.map(organization_entry);
    let subject = patient.reference(&enc.patient.name);
    let author = doctor.reference(&enc.doctor.name);

    let complaint = Entry::new(
        "Condition",
        "Condition",
        json!({
            "category": [snomed("409586006", "Complaint")],
            "code": text_concept(&notes.chief_complaints),
            "subject": subject,
            "recordedDate": rfc3339(at),
        }),
    );
    let diagnoses: Vec<Entry> = notes.diagnoses.iter().map(|d| diagnosis_entry(d, &subject, at)).collect();
    let encounter = encounter_entry(enc, &subject, &diagnoses, organization.as_ref());
    let history = notes.history.as_ref().map(|h| {
        Entry::new(
            "Condition",
            "Condition",
            json!({ "category": [snomed("417662000", "History of clinical finding")], "code": text_concept(h), "subject": subject }),
        )
    });
    let examination = notes.examination.as_ref().map(|e| {
        Entry::new(
            "Observation",
            "Observation",
            json!({
                "status": "final",
                "code": snomed("5880005", "Physical examination procedure"),
                "subject": subject,
                "effectiveDateTime": rfc3339(enc.started_at),
                "performer": [author],
                "valueString": e,
            }),
        )
    });
    let investigations: Vec<Entry> = notes
        .investigations_advised
        .iter()
        .map(|i| {
            Entry::new(
                "ServiceRequest",
                "ServiceRequest",
                json!({ "status": "active", "intent": "order", "code": text_concept(i), "subject": subject, "requester": author, "authoredOn": rfc3339(at) }),
            )
        })
        .collect();
    let follow_up = notes.follow_up.as_ref().map(|f| {
        let day = rfc3339(at + i64::from(f.after_days) * DAY_MS);
        let body = json!({
            "status": "proposed",
            "description": f.note.clone().unwrap_or_else(|| format!("Follow-up after {} days", f.after_days)),
            "requestedPeriod": [{ "start": day }],
            "participant": [
                { "actor": subject, "status": "needs-action" },
                { "actor": author, "status": "needs-action" },
            ],
        });
        Entry::new("Appointment", "Appointment", body)
    });

    let mut sections = vec![section("Chief complaints", "422843007", "Chief complaint section", &[&notes.chief_complaints], &[&complaint])];
    if let (Some(text), Some(entry)) = (&notes.history, &history) {
        sections.push(section("Medical history", "371529009", "History and physical report", &[text], &[entry]));
    }
    if let (Some(text), Some(entry)) = (&notes.examination, &examination) {
        sections.push(section("Physical examination", "425044008", "Physical exam section", &[text], &[entry]));
    }
    if !investigations.is_empty() {
        let texts: Vec<&str> = notes.investigations_advised.iter().map(String::as_str).collect();
        let refs: Vec<&Entry> = investigations.iter().collect();
        sections.push(section("Investigation advice", "721963009", "Order document", &texts, &refs));
    }
    if let Some(advice) = &notes.advice {
        sections.push(section("Advice", "404684003", "Clinical finding", &[advice], &[]));
    }
    if let (Some(f), Some(entry)) = (&notes.follow_up, &follow_up) {
        let text = format!("Follow up after {} days. {}", f.after_days, f.note.as_deref().unwrap_or(""));
        sections.push(section("Follow up", "390906007", "Follow-up encounter", &[text.trim()], &[entry]));
    }

    let mut composition = json!({
        "identifier": { "system": "https://vaidya.in/consults", "value": enc.consult_id },
        "status": "final",
        "type": snomed("371530004", "Clinical consultation report"),
        "subject": subject,
        "encounter": encounter.reference_only(),
        "date": rfc3339(at),
        "author": [author],
        "title": "Consultation Report",
        "section": sections,
    });
    if let Some(org) = &organization {
        composition["custodian"] = org.reference(org.resource["name"].as_str().unwrap_or_default());
    }
    let composition = Entry::new("Composition", "OPConsultRecord", composition);

    let mut entries = vec![patient, doctor];
    entries.extend(organization);
    entries.push(encounter);
    entries.push(complaint);
    entries.extend(diagnoses);
    entries.extend(history);
    entries.extend(examination);
    entries.extend(investigations);
    entries.extend(follow_up);
    document(id, composition, entries, at)
}

fn diagnosis_entry(d: &Diagnosis, subject: &Value, at: i64) -> Entry {
    let code = match &d.code {
        Some((system, code)) => json!({ "coding": [{ "system": system, "code": code, "display": d.text }], "text": d.text }),
        None => text_concept(&d.text),
    };
    Entry::new(
        "Condition",
        "Condition",
        json!({
            "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis", "display": "Encounter Diagnosis" }] }],
            "code": code,
            "subject": subject,
            "recordedDate": rfc3339(at),
        }),
    )
}

fn encounter_entry(enc: &Encounter<'_>, subject: &Value, diagnoses: &[Entry], organization: Option<&Entry>) -> Entry {
    let mut period = json!({ "start": rfc3339(enc.started_at) });
    if let Some(end) = enc.ended_at {
        period["end"] = json!(rfc3339(end));
    }
    let mut body = json!({
        "identifier": [{ "system": "https://vaidya.in/consults", "value": enc.consult_id }],
        "status": if enc.ended_at.is_some() { "finished" } else { "in-progress" },
        "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR", "display": "virtual" },
        "type": [{ "text": format!("Teleconsultation ({})", enc.mode) }],
        "subject": subject,
        "period": period,
    });
    if !diagnoses.is_empty() {
        body["diagnosis"] = json!(diagnoses.iter().map(|d| json!({ "condition": d.reference_only() })).collect::<Vec<_>>());
    }
    if let Some(org) = organization {
        body["serviceProvider"] = org.reference_only();
    }
    Entry::new("Encounter", "Encounter", body)
}

fn section(title: &str, code: &str, display: &str, texts: &[&str], entries: &[&Entry]) -> Value {
    let mut s = json!({ "title": title, "code": snomed(code, display), "text": narrative(texts) });
    if !entries.is_empty() {
        s["entry"] = json!(entries.iter().map(|e| e.reference_only()).collect::<Vec<_>>());
    }
    s
}
