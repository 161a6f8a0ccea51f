//! Consent artefacts in ABDM's shape (`consentDetail` with patient, requester, purpose, hiTypes and permission),
//! signed with a detached JWS over the canonical JSON of `consentDetail`.

use serde_json::{Value, json};
use vaidya_registry::db::rfc3339;
use vaidya_registry::signing::DocumentSigner;

use super::{HiTypes, Purpose};
use crate::people::{Doctor, Patient};

/// What a consent grants.
pub struct Grant<'a> {
    pub consent_id: &'a str,
    pub created_at: i64,
    pub patient: &'a Patient,
    pub patient_address: String,
    pub doctor: &'a Doctor,
    pub purpose: Purpose,
    pub hi_types: HiTypes,
    pub date_from: i64,
    pub date_to: i64,
    pub expires_at: i64,
}

/// `{consentDetail, signature}`: anyone can check the signature with the key at `/api/v1/consents/keys`.
pub fn signed_artefact(grant: &Grant<'_>, signer: &DocumentSigner) -> Value {
    let detail = consent_detail(grant);
    let signature = signer.sign(&detail);
    json!({ "consentDetail": detail, "signature": signature })
}

fn consent_detail(g: &Grant<'_>) -> Value {
    json!({
        "schemaVersion": "v3",
        "consentId": g.consent_id,
        "createdAt": rfc3339(g.created_at),
        "patient": { "id": g.patient_address, "healthIdNumber": g.patient.health_id },
        "purpose": {
            "text": g.purpose.text(),
            "code": g.purpose.as_str(),
            "refUri": "http://terminology.hl7.org/ValueSet/v3-PurposeOfUse",
        },
        "hiu": { "id": "vaidya" },
        "consentManager": { "id": "vaidya" },
        "requester": {
            "name": g.doctor.name,
            "identifier": { "type": "REGNO", "value": g.doctor.registration_number, "system": "https://doctor.ndhm.gov.in" },
            "providerId": g.doctor.provider_id,
        },
        "hiTypes": g.hi_types.names(),
        "permission": {
            "accessMode": "VIEW",
            "dateRange": { "from": rfc3339(g.date_from), "to": rfc3339(g.date_to) },
            "dataEraseAt": rfc3339(g.expires_at),
            "frequency": { "unit": "HOUR", "value": 1, "repeats": 0 },
        },
    })
}
