//! The OpenAPI document of the whole service, served at `/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "vaidya", description = "Teleconsultation and e-pharmacy API (contract v1). Errors are RFC 9457 problem documents."),
    paths(crate::ops::healthz, crate::ops::readyz, crate::ops::metrics_text),
    tags((name = "ops", description = "Operational endpoints")),
    modifiers(&BearerAuth)
)]
struct OpsApi;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The merged document; its JSON is snapshot-tested so the contract cannot drift unnoticed.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = OpsApi::openapi();
    doc.merge(vaidya_registry::RegistryApi::openapi());
    doc.merge(vaidya_consult::ConsultApi::openapi());
    doc.merge(vaidya_pharmacy::PharmacyApi::openapi());
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}
