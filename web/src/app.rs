//! Composes the crates' routers into one service and runs it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use vaidya_consult::{ConsultSettings, ConsultState};
use vaidya_pharmacy::{PharmacySettings, PharmacyState};
use vaidya_registry::auth::throttle::ThrottleLimits;
use vaidya_registry::{ApiError, Db, RedisHandle, Registry, RegistrySettings};
use vaidya_signaling::events::EventsState;
use vaidya_signaling::{Hub, IceConfig, SessionLimits, SignalState};

use crate::config::ServeConfig;
use crate::ops;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Database(#[from] vaidya_registry::db::DbConfigError),
    #[error(transparent)]
    Redis(#[from] vaidya_registry::redis_handle::RedisConfigError),
    #[error("cannot load server keys: {0}")]
    Keys(sqlx::Error),
    #[error("cannot create the admin account: {0}")]
    Admin(String),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
}

/// The assembled service: its state and router, before it listens.
pub struct App {
    pub registry: Registry,
    pub hub: Arc<Hub>,
    pub router: Router,
    background: Vec<JoinHandle<()>>,
}

impl App {
    pub async fn build(config: &ServeConfig) -> Result<Self, StartError> {
        config.validate()?;
        let db = Db::connect(&config.database_url, config.db_max_connections).await?;
        db.migrate().await?;
        let redis = match &config.redis_url {
            Some(url) => Some(RedisHandle::connect(url, &config.redis_prefix).await?),
            None => None,
        };
        let settings = RegistrySettings {
            health_address_suffix: config.health_address_suffix.clone(),
            access_ttl_secs: config.access_token_ttl,
            refresh_ttl_secs: config.refresh_token_ttl,
            throttle: ThrottleLimits {
                per_account: config.login_failures_per_account,
                per_address: config.login_failures_per_address,
                ..ThrottleLimits::default()
            },
            aadhaar_key: config.aadhaar_key.as_ref().map(|k| k.as_bytes().to_vec()),
        };
        let registry = Registry::new(db, redis, settings).await.map_err(StartError::Keys)?;
        if let (Some(user), Some(pass)) = (&config.admin_username, &config.admin_password) {
            let created = vaidya_registry::accounts::ensure_admin(&registry, user, SecretString::from(pass.clone()))
                .await
                .map_err(|e| StartError::Admin(e.problem().detail))?;
            if created {
                tracing::info!("admin account created from configuration");
            }
        }
        let ice = IceConfig {
            stun_urls: config.stun_urls.clone(),
            turn_urls: config.turn_urls.clone(),
            turn_secret: config.turn_secret.clone(),
            turn_ttl_secs: config.turn_ttl,
        };
        let node = uuid::Uuid::now_v7().to_string();
        let hub = match &registry.redis {
            Some(redis) => Hub::redis(node, registry.tokens.clone(), ice.clone(), redis.clone()),
            None => Hub::local(node, registry.tokens.clone(), ice.clone()),
        };
        let signal = SignalState {
            hub: hub.clone(),
            limits: SessionLimits {
                rate_per_sec: config.signal_rate,
                ping_every: Duration::from_secs(config.signal_ping_interval),
                idle_timeout: Duration::from_secs(config.signal_idle_timeout),
                ..SessionLimits::default()
            },
            allowed_origins: Arc::new(config.allowed_origins.clone()),
        };
        let events = EventsState { registry: registry.clone(), limits: signal.limits, allowed_origins: signal.allowed_origins.clone() };
        let consult = ConsultState::new(registry.clone(), ice, ConsultSettings::default()).await.map_err(StartError::Keys)?;
        let pharmacy_settings = PharmacySettings { accept_timeout_ms: config.order_accept_timeout * 1000, ..PharmacySettings::default() };
        let pharmacy = PharmacyState::new(registry.clone(), pharmacy_settings);
        let router = router(registry.clone(), Services { consult, pharmacy: pharmacy.clone(), signal, events }, config.max_body_bytes);
        let mut background = vec![
            tokio::spawn(chain_audit_forever(registry.clone())),
            tokio::spawn(hub.clone().sweep_forever()),
            tokio::spawn(vaidya_pharmacy::sweeper::sweep_forever(pharmacy)),
        ];
        if let Some(redis) = &registry.redis {
            background.push(tokio::spawn(vaidya_signaling::events::forward_redis_wakeups(redis.clone(), registry.clone())));
        }
        Ok(Self { registry, hub, router, background })
    }

    /// Serves until `shutdown` resolves, then stops background work.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        // Signalling sends many small frames (ICE candidates): Nagle's delay would hold them back ~40 ms.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let result = axum::serve(listener, service).with_graceful_shutdown(shutdown).await;
        for task in self.background {
            task.abort();
        }
        result
    }
}

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).await.map_err(|e| StartError::Listen(addr, e))
}

/// The whole HTTP surface: every crate's routes, the ops endpoints and the cross-cutting layers.
/// The states of the services besides the registry.
pub struct Services {
    pub consult: ConsultState,
    pub pharmacy: PharmacyState,
    pub signal: SignalState,
    pub events: EventsState,
}

pub fn router(registry: Registry, services: Services, max_body_bytes: usize) -> Router {
    let Services { consult, pharmacy, signal, events } = services;
    let ops = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .with_state(registry.clone())
        .route("/metrics", get(ops::metrics_text))
        .route("/openapi.json", get(|| async { axum::Json(crate::openapi::openapi()) }));
    ops::prometheus();
    Router::new()
        .merge(vaidya_registry::router(registry))
        .merge(vaidya_consult::router(consult))
        .merge(vaidya_pharmacy::router(pharmacy))
        .merge(vaidya_signaling::router(signal))
        .merge(vaidya_signaling::events::router(events))
        .merge(ops)
        .merge(crate::pages::router())
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "This method is not allowed here.")
        })
        .layer(axum::middleware::from_fn(ops::track))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            // The span names the route template only: raw paths and query strings can carry personal data.
            let route = req.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
            tracing::info_span!("http", http.method = %req.method(), http.route = %route)
        }))
        .layer(SetSensitiveRequestHeadersLayer::new([axum::http::header::AUTHORIZATION, axum::http::header::COOKIE]))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal("handler panicked").into_response()))
}

/// Links new audit events into the hash chain every second; one node at a time does the work.
async fn chain_audit_forever(registry: Registry) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        // The error is not logged: a driver message can quote audited values.
        if vaidya_registry::audit::chain::chain_pending(&registry.db).await.is_err() {
            tracing::warn!("audit chaining failed; will retry");
        }
    }
}
