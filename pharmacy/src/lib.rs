//! Routing prescriptions to pharmacies: orders, their state machine, acceptance timeouts, and dispensing once.

mod actions;
mod create;
pub mod idempotency;
pub mod machine;
mod moves;
mod ordering;
pub mod orders;
mod read;
pub mod routing;
pub mod state;
pub mod sweeper;

use axum::Router;
use axum::routing::{get, post};
use utoipa::OpenApi;

pub use state::{PharmacySettings, PharmacyState};

/// The pharmacy service's HTTP routes.
pub fn router(state: PharmacyState) -> Router {
    Router::new()
        .route("/api/v1/prescriptions/{id}/orders", post(create::create))
        .route("/api/v1/orders", get(read::my_orders))
        .route("/api/v1/orders/{id}", get(read::get_one))
        .route("/api/v1/pharmacy/orders", get(read::pharmacy_orders))
        .route("/api/v1/orders/{id}/accept", post(actions::accept))
        .route("/api/v1/orders/{id}/reject", post(actions::reject))
        .route("/api/v1/orders/{id}/ready", post(actions::ready))
        .route("/api/v1/orders/{id}/dispatch", post(actions::dispatch))
        .route("/api/v1/orders/{id}/dispense", post(actions::dispense))
        .route("/api/v1/orders/{id}/cancel", post(actions::cancel))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        create::create, read::get_one, read::my_orders, read::pharmacy_orders,
        actions::accept, actions::reject, actions::ready, actions::dispatch, actions::dispense, actions::cancel,
    ),
    tags((name = "pharmacy", description = "Orders: routing prescriptions to pharmacies, acceptance, dispensing")),
)]
pub struct PharmacyApi;
