//! The `AuthUser` extractor: a bearer access token whose session is live and whose account is active.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sqlx::AnyConnection;

use super::Role;
use super::caller::Caller;
use super::tokens::{Claims, TokenKind};
use crate::error::{ApiError, ApiResult};
use crate::state::Registry;

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub account_id: String,
    pub role: Role,
    pub session_id: String,
    /// Health ID digits for patients, professional id for providers, account id for admins.
    pub subject_id: String,
    pub name: String,
}

impl AuthUser {
    pub fn require(&self, role: Role) -> ApiResult<()> {
        if self.role == role { Ok(()) } else { Err(ApiError::forbidden("forbidden", format!("Only a {} may do this.", role.as_str()))) }
    }

    pub fn require_any(&self, roles: &[Role]) -> ApiResult<()> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            let names: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::forbidden("forbidden", format!("Only a {} may do this.", names.join(" or "))))
        }
    }
}

/// The caller when a token was sent, `None` when none was; a bad token is still 401.
#[derive(Clone, Debug)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

pub(crate) fn bearer(parts: &Parts) -> Option<Option<&str>> {
    let value = parts.headers.get(AUTHORIZATION)?;
    let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    Some(token.map(str::trim))
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    status: String,
    subject_id: String,
    display_name: String,
    role: String,
    revoked_at: Option<i64>,
    expires_at: i64,
}

/// Whether a session row still admits its token: account active, session neither revoked nor expired, same role.
pub fn session_live(status: &str, role: &str, revoked_at: Option<i64>, expires_at: i64, token_role: &str) -> bool {
    status == "active" && revoked_at.is_none() && expires_at > crate::db::now_ms() && role == token_role
}

/// The raw bearer token, for handlers that check the session together with their own query.
pub struct BearerToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        bearer(parts).flatten().map(|t| Self(t.to_owned())).ok_or_else(ApiError::unauthorized)
    }
}

/// Resolves a bearer token to the caller, checking the session and account in the database on every request
/// so that logout and suspension take effect at once on every node.
pub async fn authenticate(registry: &Registry, token: &str) -> ApiResult<AuthUser> {
    let claims = registry.tokens.verify_api(token, TokenKind::Access).ok_or_else(ApiError::unauthorized)?;
    session_user(&mut *registry.db.lease().await?, claims).await
}

/// The caller whose token carried `claims`, if their session and account are live.
pub(crate) async fn session_user(conn: &mut AnyConnection, claims: Claims) -> ApiResult<AuthUser> {
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT a.status, a.subject_id, a.display_name, a.role, s.revoked_at, s.expires_at \
         FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.id = $1 AND a.id = $2",
    )
    .bind(&claims.sid)
    .bind(&claims.sub)
    .fetch_optional(conn)
    .await?;
    let row = row.ok_or_else(ApiError::unauthorized)?;
    if !session_live(&row.status, &row.role, row.revoked_at, row.expires_at, &claims.role) {
        return Err(ApiError::unauthorized());
    }
    let role = Role::parse(&row.role).ok_or_else(ApiError::unauthorized)?;
    Ok(AuthUser { account_id: claims.sub, role, session_id: claims.sid, subject_id: row.subject_id, name: row.display_name })
}

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Registry: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.authenticate(&Registry::from_ref(state)).await
    }
}

impl<S> FromRequestParts<S> for MaybeAuthUser
where
    S: Send + Sync,
    Registry: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match bearer(parts) {
            None => Ok(Self(None)),
            Some(None) => Err(ApiError::unauthorized()),
            Some(Some(token)) => authenticate(&Registry::from_ref(state), token).await.map(|u| Self(Some(u))),
        }
    }
}
