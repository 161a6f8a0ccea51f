//! The pharmacy service's state and settings.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use vaidya_registry::Registry;

#[derive(Clone, Debug)]
pub struct PharmacySettings {
    /// How long a pharmacy has to accept a routed order before it moves on.
    pub accept_timeout_ms: i64,
    /// Pharmacies an order is offered to before it ends `unfulfilled`.
    pub max_pharmacies: i64,
    /// How far from the patient (or the first pharmacy) the next pharmacy may be.
    pub radius_km: f64,
}

impl Default for PharmacySettings {
    fn default() -> Self {
        Self { accept_timeout_ms: 10 * 60 * 1000, max_pharmacies: 5, radius_km: 50.0 }
    }
}

pub struct PharmacyInner {
    pub registry: Registry,
    pub settings: PharmacySettings,
}

#[derive(Clone)]
pub struct PharmacyState(Arc<PharmacyInner>);

impl Deref for PharmacyState {
    type Target = PharmacyInner;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromRef<PharmacyState> for Registry {
    fn from_ref(state: &PharmacyState) -> Registry {
        state.registry.clone()
    }
}

impl PharmacyState {
    pub fn new(registry: Registry, settings: PharmacySettings) -> Self {
        Self(Arc::new(PharmacyInner { registry, settings }))
    }
}
