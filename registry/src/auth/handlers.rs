//! `POST /api/v1/auth/login`, `/refresh` and `/logout`.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::tokens::TokenKind;
use super::{AuthUser, Role};
use crate::audit::{self, Actor, AuditEvent, Outcome};
use crate::body::ApiJson;
use crate::db::now_ms;
use crate::domain::{Handle, HealthIdNumber};
use crate::error::{ApiError, ApiResult};
use crate::state::Registry;

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// A Health ID number (with or without dashes), a health address, or a provider/admin username.
    pub username: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub role: Role,
    /// Health ID for patients, professional id for doctors and pharmacists, account id for admins.
    pub subject_id: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// The client's address as seen by this node (the socket peer).
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0.ip().to_string());
        Ok(Self(addr.unwrap_or_else(|| "unknown".into())))
    }
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: String,
    role: String,
    password_hash: String,
    status: String,
    subject_id: String,
    display_name: String,
}

const ACCOUNT_COLUMNS: &str = "a.id, a.role, a.password_hash, a.status, a.subject_id, a.display_name";

/// What a login name refers to, normalised: it is also the throttling key.
enum LoginName {
    HealthId(HealthIdNumber),
    Address(Handle),
    Username(String),
}

impl LoginName {
    fn parse(raw: &str, suffix: &str) -> Self {
        let raw = raw.trim();
        if let Ok(id) = HealthIdNumber::parse(raw) {
            Self::HealthId(id)
        } else if let Some(handle) = Handle::from_address(raw, suffix) {
            Self::Address(handle)
        } else {
            Self::Username(raw.to_lowercase())
        }
    }

    fn throttle_key(&self) -> String {
        match self {
            Self::HealthId(id) => id.digits(),
            Self::Address(h) => format!("{}@", h.as_str()),
            Self::Username(u) => u.clone(),
        }
    }

    async fn find(&self, registry: &Registry) -> Result<Option<AccountRow>, sqlx::Error> {
        let db = registry.db.reader();
        match self {
            Self::HealthId(id) => {
                let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a JOIN patients p ON p.account_id = a.id WHERE p.health_id = $1");
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id.digits()).fetch_optional(db).await
            }
            Self::Address(handle) => {
                let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a JOIN patients p ON p.account_id = a.id WHERE p.handle = $1");
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(handle.as_str()).fetch_optional(db).await
            }
            Self::Username(name) => {
                let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.username = $1");
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(db).await
            }
        }
    }
}

/// The subject id as shown to clients: Health IDs in their dashed form.
pub fn display_subject(role: &str, subject_id: &str) -> String {
    if role == "patient" { HealthIdNumber::display_stored(subject_id) } else { subject_id.to_owned() }
}

fn actor_of(account: &AccountRow) -> Actor {
    Actor { id: account.subject_id.clone(), role: account.role.clone(), name: account.display_name.clone() }
}

fn login_event(account: &AccountRow, outcome: Outcome) -> AuditEvent {
    let mut event = AuditEvent::new(Some(actor_of(account)), "auth.login", "account", Some(account.id.clone())).outcome(outcome);
    if account.role == "patient" {
        event = event.subject(account.subject_id.clone());
    }
    event
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
pub async fn login(
    State(registry): State<Registry>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<TokenPair>> {
    use secrecy::ExposeSecret;
    if req.username.trim().is_empty() || req.username.len() > 256 || req.password.expose_secret().len() > 1024 {
        return Err(ApiError::invalid_credentials());
    }
    let name = LoginName::parse(&req.username, &registry.settings.health_address_suffix);
    let key = name.throttle_key();
    registry.throttle.check(&key, &addr).await?;
    let account = name.find(&registry).await?;
    let password_ok = registry.passwords.verify(req.password, account.as_ref().map(|a| a.password_hash.clone())).await?;
    let account = match account {
        Some(account) if password_ok && account.status == "active" => account,
        other => {
            registry.throttle.record_failure(&key, &addr).await?;
            if let Some(account) = other {
                audit::record_refusal(&registry.db, login_event(&account, Outcome::Denied)).await?;
            }
            return Err(ApiError::invalid_credentials());
        }
    };
    registry.throttle.record_success(&key).await?;
    let session_id = uuid::Uuid::now_v7().to_string();
    let jti = uuid::Uuid::now_v7().to_string();
    let mut tx = registry.db.begin().await?;
    sqlx::query("INSERT INTO sessions (id, account_id, refresh_jti, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&session_id)
        .bind(&account.id)
        .bind(&jti)
        .bind(now_ms())
        .bind(now_ms() + registry.tokens.refresh_ttl_secs * 1000)
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, &login_event(&account, Outcome::Success)).await?;
    tx.commit().await?;
    tracing::info!(account.id = %account.id, account.role = %account.role, "login");
    Ok(Json(pair(&registry, &account.id, &account.role, &account.subject_id, &session_id, &jti)))
}

fn pair(registry: &Registry, account_id: &str, role: &str, subject_id: &str, session_id: &str, refresh_jti: &str) -> TokenPair {
    let access_jti = uuid::Uuid::now_v7().to_string();
    TokenPair {
        access_token: registry.tokens.mint(account_id, role, session_id, TokenKind::Access, &access_jti),
        refresh_token: registry.tokens.mint(account_id, role, session_id, TokenKind::Refresh, refresh_jti),
        token_type: "Bearer",
        expires_in: registry.tokens.access_ttl_secs,
        role: Role::parse(role).unwrap_or(Role::Patient),
        subject_id: display_subject(role, subject_id),
    }
}

/// Rotates the refresh token. Each works once: presenting a spent one revokes the whole session (its family).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = crate::error::Problem)))]
pub async fn refresh(State(registry): State<Registry>, ApiJson(req): ApiJson<RefreshRequest>) -> ApiResult<Json<TokenPair>> {
    let claims = registry.tokens.verify_api(&req.refresh_token, TokenKind::Refresh).ok_or_else(ApiError::unauthorized)?;
    let next_jti = uuid::Uuid::now_v7().to_string();
    let now = now_ms();
    let rotated = sqlx::query(
        "UPDATE sessions SET refresh_jti = $1, expires_at = $2 \
         WHERE id = $3 AND account_id = $4 AND refresh_jti = $5 AND revoked_at IS NULL AND expires_at > $6 \
         AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = sessions.account_id AND a.status = 'active')",
    )
    .bind(&next_jti)
    .bind(now + registry.tokens.refresh_ttl_secs * 1000)
    .bind(&claims.sid)
    .bind(&claims.sub)
    .bind(&claims.jti)
    .bind(now)
    .execute(registry.db.writer())
    .await?
    .rows_affected();
    if rotated != 1 {
        // A validly signed but spent refresh token means it was copied: end the whole family.
        let revoked = sqlx::query(
            "UPDATE sessions SET revoked_at = $1, revoke_reason = 'refresh_reuse' WHERE id = $2 AND refresh_jti <> $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&claims.sid)
        .bind(&claims.jti)
        .execute(registry.db.writer())
        .await?
        .rows_affected();
        if revoked > 0 {
            tracing::warn!(session.id = %claims.sid, "refresh token reuse; session revoked");
        }
        return Err(ApiError::unauthorized());
    }
    let subject: (String,) =
        sqlx::query_as("SELECT subject_id FROM accounts WHERE id = $1").bind(&claims.sub).fetch_one(registry.db.writer()).await?;
    Ok(Json(pair(&registry, &claims.sub, &claims.role, &subject.0, &claims.sid, &next_jti)))
}

/// Ends the session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn logout(State(registry): State<Registry>, user: AuthUser) -> ApiResult<StatusCode> {
    sqlx::query("UPDATE sessions SET revoked_at = $1, revoke_reason = 'logout' WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(&user.session_id)
        .execute(registry.db.writer())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
