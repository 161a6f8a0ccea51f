//! Consults and their queue, encounter notes as FHIR documents, the consent manager, and PHR/EMR reads.

/// SQL assembled from this crate's own constant fragments (never from input), which sqlx asks us to vouch for.
macro_rules! dyn_sql {
    ($($fmt:tt)*) => {
        sqlx::AssertSqlSafe(format!($($fmt)*))
    };
}

pub mod consent;
pub mod consults;
mod enums;
pub mod fhir;
pub mod formulary;
pub mod notes;
pub mod people;
pub mod prescriptions;
pub mod records;
pub mod state;
pub mod when;

use axum::Router;
use axum::routing::{get, post, put};
use utoipa::OpenApi;

pub use state::{ConsultSettings, ConsultState};

/// The consult service's HTTP routes.
pub fn router(state: ConsultState) -> Router {
    use consent::{consents, requests};
    use consults::{handlers, lifecycle};
    Router::new()
        .route("/api/v1/consults", post(handlers::create).get(handlers::list))
        .route("/api/v1/consults/{id}", get(handlers::get_one))
        .route("/api/v1/queue", get(handlers::queue))
        .route("/api/v1/consults/{id}/admit", post(lifecycle::admit))
        .route("/api/v1/consults/{id}/room-token", post(lifecycle::room_token))
        .route("/api/v1/consults/{id}/complete", post(lifecycle::complete))
        .route("/api/v1/consults/{id}/cancel", post(lifecycle::cancel))
        .route("/api/v1/consults/{id}/consent", put(lifecycle::set_phr_consent))
        .route("/api/v1/consults/{id}/notes", post(notes::write_notes))
        .route("/api/v1/records/{record_id}", get(records::get_record))
        .route("/api/v1/phr/records", get(records::phr_records))
        .route("/api/v1/patients/{health_id}/records", get(records::patient_records))
        .route("/api/v1/consent-requests", post(requests::create).get(requests::list))
        .route("/api/v1/consent-requests/{id}/grant", post(requests::grant))
        .route("/api/v1/consent-requests/{id}/deny", post(requests::deny))
        .route("/api/v1/consents", get(consents::list))
        .route("/api/v1/consents/keys", get(consents::keys))
        .route("/api/v1/consents/{id}/revoke", post(consents::revoke))
        .route("/api/v1/patients/{health_id}/break-glass", post(consents::break_glass))
        .route("/api/v1/consults/{id}/prescriptions", post(prescriptions::handlers::create))
        .route("/api/v1/prescriptions", get(prescriptions::list::mine))
        .route("/api/v1/prescriptions/keys", get(prescriptions::handlers::keys))
        .route("/api/v1/prescriptions/{id}", get(prescriptions::handlers::get_one))
        .route("/api/v1/prescriptions/{id}/verify", get(prescriptions::handlers::verify))
        .route("/api/v1/drugs", get(prescriptions::handlers::drugs))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        consults::handlers::create, consults::handlers::list, consults::handlers::get_one, consults::handlers::queue,
        consults::lifecycle::admit, consults::lifecycle::room_token, consults::lifecycle::complete, consults::lifecycle::cancel,
        consults::lifecycle::set_phr_consent,
        notes::write_notes, records::get_record, records::phr_records, records::patient_records,
        consent::requests::create, consent::requests::list, consent::requests::grant, consent::requests::deny,
        consent::consents::list, consent::consents::keys, consent::consents::revoke, consent::consents::break_glass,
        prescriptions::handlers::create, prescriptions::handlers::get_one, prescriptions::handlers::verify,
        prescriptions::handlers::keys, prescriptions::handlers::drugs, prescriptions::list::mine,
    ),
    tags(
        (name = "consults", description = "Consults, the queue and the call"),
        (name = "records", description = "Encounter notes and health records (EMR and PHR)"),
        (name = "consent", description = "Consent requests, consent artefacts and break-the-glass access"),
        (name = "prescriptions", description = "E-prescriptions checked against the TPG 2020 drug lists, and the formulary"),
    )
)]
pub struct ConsultApi;
