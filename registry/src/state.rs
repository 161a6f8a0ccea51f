//! The registry's shared state: database, Redis, keys and settings, cheap to clone into every handler.

use std::ops::Deref;
use std::sync::Arc;

use crate::auth::throttle::ThrottleLimits;
use crate::auth::{LoginThrottle, Passwords, SigningKeys, TokenService};
use crate::db::Db;
use crate::domain::AadhaarHasher;
use crate::events::EventWaker;
use crate::redis_handle::RedisHandle;

/// Settings of the registry that come from configuration.
#[derive(Clone, Debug)]
pub struct RegistrySettings {
    /// The suffix of health addresses: `handle@<suffix>`.
    pub health_address_suffix: String,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    pub throttle: ThrottleLimits,
    /// Optional Aadhaar hash key from configuration; otherwise one is generated and kept in the database.
    pub aadhaar_key: Option<Vec<u8>>,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            health_address_suffix: "vaidya".into(),
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            throttle: ThrottleLimits::default(),
            aadhaar_key: None,
        }
    }
}

pub struct RegistryInner {
    pub db: Db,
    pub redis: Option<RedisHandle>,
    pub tokens: TokenService,
    pub passwords: Passwords,
    pub throttle: LoginThrottle,
    pub aadhaar: AadhaarHasher,
    pub events: EventWaker,
    pub settings: RegistrySettings,
}

#[derive(Clone)]
pub struct Registry(Arc<RegistryInner>);

impl Deref for Registry {
    type Target = RegistryInner;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Registry {
    /// Loads (or on first start creates) the server keys and assembles the state.
    pub async fn new(db: Db, redis: Option<RedisHandle>, settings: RegistrySettings) -> Result<Self, sqlx::Error> {
        let keys = SigningKeys::load(&db, "jwt_ed25519_seed").await?;
        let aadhaar_key = match &settings.aadhaar_key {
            Some(key) => key.clone(),
            None => crate::auth::keys::load_or_create_secret(&db, "aadhaar_hmac_key", || crate::auth::keys::random_bytes(32)).await?,
        };
        let throttle = match &redis {
            Some(r) => LoginThrottle::redis(settings.throttle, r.clone()),
            None => LoginThrottle::in_memory(settings.throttle),
        };
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(Self(Arc::new(RegistryInner {
            tokens: TokenService::new(keys, settings.access_ttl_secs, settings.refresh_ttl_secs),
            passwords: Passwords::new((cores / 2).max(1)),
            aadhaar: AadhaarHasher::new(aadhaar_key),
            events: EventWaker::new(redis.clone()),
            throttle,
            db,
            redis,
            settings,
        })))
    }

    pub fn health_address(&self, handle: &str) -> String {
        format!("{handle}@{}", self.settings.health_address_suffix)
    }
}
