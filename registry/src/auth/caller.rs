//! A caller whose token is verified at once but whose session is checked by the handler's own first query, so the
//! busiest requests save a round trip. Logout and suspension still stop a token at once: that query joins the live
//! session ([`SessionCheck`]) and finds nothing without it. Whatever refuses a request before that query asks
//! [`Caller::authenticate`] first, so every answer is the one [`AuthUser`] would give: 401 before anything else.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use sqlx::any::AnyArguments;
use sqlx::query::QueryAs;
use sqlx::{Any, AnyConnection};

use super::Role;
use super::extract::{AuthUser, bearer, session_user};
use super::tokens::{Claims, TokenKind};
use crate::db::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::state::Registry;

/// The bearer of a verified access token, before their session is checked.
#[derive(Clone, Debug)]
pub struct Caller {
    claims: Claims,
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Registry: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).flatten().ok_or_else(ApiError::unauthorized)?;
        let claims = Registry::from_ref(state).tokens.verify_api(token, TokenKind::Access).ok_or_else(ApiError::unauthorized)?;
        Ok(Self { claims })
    }
}

impl Caller {
    /// The role the token names (the session check holds it to the account's).
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.claims.role)
    }

    /// The caller as `authenticate` finds them: for paths that need more than one query's worth of checks.
    pub async fn authenticate(&self, registry: &Registry) -> ApiResult<AuthUser> {
        session_user(&mut *registry.db.lease().await?, self.claims.clone()).await
    }

    /// `err` for a request refused before its first query, unless the session is not live: then 401, which
    /// `AuthUser` would have answered before anything else.
    pub async fn refuse(&self, registry: &Registry, err: ApiError) -> ApiError {
        match self.authenticate(registry).await {
            Ok(_) => err,
            Err(unauthorized) => unauthorized,
        }
    }

    /// `refuse` on a connection the handler holds (so it never waits for a second one from the pool).
    pub async fn refuse_on(&self, conn: &mut AnyConnection, err: ApiError) -> ApiError {
        match session_user(conn, self.claims.clone()).await {
            Ok(_) => err,
            Err(unauthorized) => unauthorized,
        }
    }

    /// An extractor's result (path, body) on a request whose session is not yet checked: a rejection is answered as
    /// it would have been behind `AuthUser`, which runs first: 401 if the session is not live.
    pub async fn extracted<T, R: IntoResponse>(&self, registry: &Registry, extracted: Result<T, R>) -> Result<T, Response> {
        match extracted {
            Ok(value) => Ok(value),
            Err(rejection) => Err(match self.authenticate(registry).await {
                Ok(_) => rejection.into_response(),
                Err(unauthorized) => unauthorized.into_response(),
            }),
        }
    }

    /// `AuthUser::require` for a caller whose session is not yet checked.
    pub async fn require(&self, registry: &Registry, role: Role) -> ApiResult<()> {
        if self.role() == Some(role) {
            return Ok(());
        }
        let forbidden = ApiError::forbidden("forbidden", format!("Only a {} may do this.", role.as_str()));
        Err(self.refuse(registry, forbidden).await)
    }

    /// What a query with the session check that found nothing means: 401 if the session is not live, else 404;
    /// asked on the connection of that query.
    pub async fn not_found(&self, conn: &mut AnyConnection) -> ApiError {
        self.refuse_on(conn, ApiError::not_found()).await
    }

    /// The session check, for a query of the handler's.
    pub fn session(&self) -> SessionCheck<'_> {
        SessionCheck { caller: self, now: now_ms() }
    }

    /// The caller, from the columns a query with the session check returned.
    pub fn user(&self, me: Me) -> AuthUser {
        AuthUser {
            account_id: self.claims.sub.clone(),
            role: self.role().unwrap_or(Role::Patient),
            session_id: self.claims.sid.clone(),
            subject_id: me.me_subject_id,
            name: me.me_name,
        }
    }
}

/// The caller's columns a query with the session check returns ([`SessionCheck::COLUMNS`]).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Me {
    pub me_subject_id: String,
    pub me_name: String,
}

/// `authenticate`'s check as SQL to join into a query: account `me` (active, of the token's role) and its session
/// `me_session` (neither revoked nor expired). Rows come back only while the session is live.
pub struct SessionCheck<'a> {
    caller: &'a Caller,
    now: i64,
}

impl SessionCheck<'_> {
    /// The caller's subject id (Health ID digits, professional id) and name, for the select list.
    pub const COLUMNS: &'static str = "me.subject_id AS me_subject_id, me.display_name AS me_name";

    /// The joins, with four placeholders from `$first`; in SQL the subject is `me.subject_id`.
    pub fn join(first: usize) -> String {
        let [account, role, session, now] = [first, first + 1, first + 2, first + 3];
        format!(
            "JOIN accounts me ON me.id = ${account} AND me.status = 'active' AND me.role = ${role} \
             JOIN sessions me_session ON me_session.id = ${session} AND me_session.account_id = me.id \
             AND me_session.revoked_at IS NULL AND me_session.expires_at > ${now}"
        )
    }

    /// Binds the four values of [`SessionCheck::join`], in its order.
    pub fn bind<'q, O>(&self, query: QueryAs<'q, Any, O, AnyArguments>) -> QueryAs<'q, Any, O, AnyArguments> {
        let claims = &self.caller.claims;
        query.bind(claims.sub.clone()).bind(claims.role.clone()).bind(claims.sid.clone()).bind(self.now)
    }
}
