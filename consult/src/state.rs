//! The consult service's state: the registry (database, tokens, events), ICE settings for room tokens, the consent signing key.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use vaidya_registry::Registry;
use vaidya_registry::auth::SigningKeys;
use vaidya_registry::signing::DocumentSigner;
use vaidya_signaling::IceConfig;

#[derive(Clone, Debug)]
pub struct ConsultSettings {
    /// How long a room token admits its holder to `/ws/signal`.
    pub room_token_ttl_secs: i64,
    /// How long after completion the doctor may still write notes and prescribe.
    pub notes_window_ms: i64,
    /// How long break-the-glass access lasts.
    pub break_glass_ms: i64,
}

impl Default for ConsultSettings {
    fn default() -> Self {
        Self { room_token_ttl_secs: 2 * 3600, notes_window_ms: 24 * 3600 * 1000, break_glass_ms: 3600 * 1000 }
    }
}

pub struct ConsultInner {
    pub registry: Registry,
    pub ice: IceConfig,
    /// Signs consent artefacts; its public key is published at `/api/v1/consents/keys`.
    pub consent_signer: DocumentSigner,
    /// Signs prescriptions; its public key is published at `/api/v1/prescriptions/keys`.
    pub prescription_signer: DocumentSigner,
    pub settings: ConsultSettings,
}

#[derive(Clone)]
pub struct ConsultState(Arc<ConsultInner>);

impl Deref for ConsultState {
    type Target = ConsultInner;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromRef<ConsultState> for Registry {
    fn from_ref(state: &ConsultState) -> Registry {
        state.registry.clone()
    }
}

impl ConsultState {
    /// Loads (or on first start creates) the consent and prescription signing keys, shared by every node through the database.
    pub async fn new(registry: Registry, ice: IceConfig, settings: ConsultSettings) -> Result<Self, sqlx::Error> {
        let consent_signer = DocumentSigner::new(SigningKeys::load(&registry.db, "consent_ed25519_seed").await?);
        let prescription_signer = DocumentSigner::new(SigningKeys::load(&registry.db, "prescription_ed25519_seed").await?);
        Ok(Self(Arc::new(ConsultInner { registry, ice, consent_signer, prescription_signer, settings })))
    }
}
