//! `GET /api/v1/audit` (a patient's own trail, or everything for an admin) and `GET /api/v1/audit/verify`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::chain::{self, EventRow, VerifyReport};
use crate::auth::{AuthUser, Role};
use crate::body::ApiQuery;
use crate::db::rfc3339;
use crate::domain::HealthIdNumber;
use crate::error::{ApiError, ApiResult};
use crate::page::{self, ListResponse};
use crate::state::Registry;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Admins only: the events about one person.
    pub health_id: Option<String>,
}

/// One access to someone's data: who, in what role, did what, to which resource, for what purpose, with what outcome, when.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditItem {
    pub event_id: String,
    /// The actor's name (or id when nameless).
    pub who: Option<String>,
    pub actor_id: Option<String>,
    pub role: Option<String>,
    pub action: String,
    /// `type/id` of what was touched.
    pub resource: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub purpose: Option<String>,
    /// `success`, `denied` or `failure`.
    pub outcome: String,
    /// When, RFC 3339.
    pub when: String,
    pub at: String,
    pub subject_health_id: Option<String>,
}

impl From<EventRow> for AuditItem {
    fn from(r: EventRow) -> Self {
        let when = rfc3339(r.at);
        let resource_id = r.resource_id.map(|id| if r.resource_type == "health_id" { HealthIdNumber::display_stored(&id) } else { id });
        Self {
            event_id: r.id,
            who: r.actor_name.clone().or_else(|| r.actor_id.clone()),
            actor_id: r.actor_id,
            role: r.actor_role,
            action: r.action,
            resource: match &resource_id {
                Some(id) => format!("{}/{id}", r.resource_type),
                None => r.resource_type.clone(),
            },
            resource_type: r.resource_type,
            resource_id,
            purpose: r.purpose,
            outcome: r.outcome,
            at: when.clone(),
            when,
            subject_health_id: r.subject_health_id.as_deref().map(HealthIdNumber::display_stored),
        }
    }
}

/// Newest first. A patient sees every event about their own data; an admin sees all.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = inline(ListResponse<AuditItem>)), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_audit(
    State(registry): State<Registry>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<ListResponse<AuditItem>>> {
    let limit = page::limit(q.limit)?;
    let cursor = page::decode_cursor(q.cursor.as_deref())?;
    let subject = match user.role {
        Role::Patient => Some(user.subject_id.clone()),
        Role::Admin => match q.health_id.as_deref() {
            Some(h) => Some(HealthIdNumber::parse(h)?.digits()),
            None => None,
        },
        _ => return Err(ApiError::forbidden("forbidden", "Only patients and admins read the audit log.")),
    };
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT id, at, actor_id, actor_role, actor_name, subject_health_id, action, resource_type, resource_id, purpose, outcome \
         FROM audit_events WHERE ($1 IS NULL OR subject_health_id = $1) AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(subject)
    .bind(cursor)
    .bind(i64::from(limit) + 1)
    .fetch_all(registry.db.reader())
    .await?;
    let page = page::paginate(rows, limit, |r| r.id.clone());
    Ok(Json(ListResponse { items: page.items.into_iter().map(AuditItem::from).collect(), next_cursor: page.next_cursor }))
}

/// Links pending events, then walks the whole chain: `{ok: true, events: N}` or the first broken link.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = VerifyReport), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn verify_audit(State(registry): State<Registry>, user: AuthUser) -> ApiResult<Json<VerifyReport>> {
    user.require(Role::Admin)?;
    chain::chain_pending(&registry.db).await?;
    Ok(Json(chain::verify(&registry.db).await?))
}
