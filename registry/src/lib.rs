//! The base crate of vaidya: Health IDs, facility and professional registries, accounts and auth,
//! the database handle and migrations, the audit log, the error type and typed ids.

pub mod accounts;
pub mod address;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod body;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod facilities;
pub mod geo;
pub mod health_ids;
pub mod lease;
pub mod page;
pub mod providers;
pub mod redis_handle;
pub mod signing;
pub mod sql;
pub mod state;
pub mod text;

use axum::Router;
use axum::routing::{get, post};
use utoipa::OpenApi;

pub use db::{Backend, Db};
pub use error::{ApiError, ApiResult};
pub use redis_handle::RedisHandle;
pub use state::{Registry, RegistrySettings};

/// The registry's HTTP routes.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/api/v1/auth/login", post(auth::handlers::login))
        .route("/api/v1/auth/refresh", post(auth::handlers::refresh))
        .route("/api/v1/auth/logout", post(auth::handlers::logout))
        .route("/api/v1/health-ids", post(health_ids::register))
        .route("/api/v1/health-ids/me", get(health_ids::me))
        .route("/api/v1/health-ids/{health_id}", get(health_ids::lookup))
        .route("/api/v1/facilities", post(facilities::create).get(facilities::list))
        .route("/api/v1/facilities/{facility_id}", get(facilities::get_one))
        .route("/api/v1/providers", post(providers::create).get(providers::list))
        .route("/api/v1/providers/{provider_id}", get(providers::get_one).patch(providers::update))
        .route("/api/v1/audit", get(audit::api::list_audit))
        .route("/api/v1/audit/verify", get(audit::api::verify_audit))
        .with_state(registry)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        auth::handlers::login, auth::handlers::refresh, auth::handlers::logout,
        health_ids::register, health_ids::me, health_ids::lookup,
        facilities::create, facilities::list, facilities::get_one,
        providers::create, providers::list, providers::get_one, providers::update,
        audit::api::list_audit, audit::api::verify_audit,
    ),
    components(schemas(error::Problem, error::FieldError)),
    tags(
        (name = "auth", description = "Login, token refresh and logout"),
        (name = "health-ids", description = "Health IDs of patients"),
        (name = "facilities", description = "Health Facility Registry"),
        (name = "providers", description = "Healthcare Professionals Registry"),
        (name = "audit", description = "Who accessed whose data"),
    )
)]
pub struct RegistryApi;
