//! The audit log: every access to personal or health data, and every refusal, is recorded in the
//! transaction of the access itself. Events are append-only and later linked into a hash chain.

pub mod api;
pub mod chain;

use sqlx::AnyConnection;

use crate::auth::AuthUser;
use crate::batch::{Batch, only_if};
use crate::db::now_ms;

/// Who acted.
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: String,
    pub role: String,
    pub name: String,
}

impl From<&AuthUser> for Actor {
    fn from(user: &AuthUser) -> Self {
        Self { id: user.subject_id.clone(), role: user.role.as_str().into(), name: user.name.clone() }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Denied,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Failure => "failure",
        }
    }
}

/// One event to record. `subject` is the Health ID (digits) of the person whose data it is, if any.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub actor: Option<Actor>,
    pub subject: Option<String>,
    pub action: &'static str,
    pub resource_type: &'static str,
    pub resource_id: Option<String>,
    pub purpose: Option<String>,
    pub outcome: Outcome,
}

impl AuditEvent {
    pub fn new(actor: Option<Actor>, action: &'static str, resource_type: &'static str, resource_id: Option<String>) -> Self {
        Self { actor, subject: None, action, resource_type, resource_id, purpose: None, outcome: Outcome::Success }
    }

    pub fn subject(mut self, health_id_digits: impl Into<String>) -> Self {
        self.subject = Some(health_id_digits.into());
        self
    }

    pub fn purpose(mut self, purpose: impl Into<String>) -> Self {
        self.purpose = Some(purpose.into());
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }
}

const INSERT_EVENT: &str = "INSERT INTO audit_events (id, at, actor_id, actor_role, actor_name, subject_health_id, action, resource_type, \
     resource_id, purpose, outcome)";

/// Inserts the event on `conn`, which should be the transaction of the access it records.
pub async fn record(conn: &mut AnyConnection, event: &AuditEvent) -> Result<String, sqlx::Error> {
    let id = uuid::Uuid::now_v7().to_string();
    let actor = event.actor.as_ref();
    // On PostgreSQL the event and its pending-chain entry go in one round trip.
    let pg = conn.backend_name() == "PostgreSQL";
    let values = "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    let insert = if pg {
        format!("WITH e AS ({INSERT_EVENT} {values} RETURNING id) INSERT INTO audit_pending (event_id) SELECT id FROM e")
    } else {
        format!("{INSERT_EVENT} {values}")
    };
    sqlx::query(sqlx::AssertSqlSafe(insert))
        .bind(&id)
        .bind(now_ms())
        .bind(actor.map(|a| a.id.clone()))
        .bind(actor.map(|a| a.role.clone()))
        .bind(actor.map(|a| a.name.clone()))
        .bind(event.subject.clone())
        .bind(event.action)
        .bind(event.resource_type)
        .bind(event.resource_id.clone())
        .bind(event.purpose.clone())
        .bind(event.outcome.as_str())
        .execute(&mut *conn)
        .await?;
    if !pg {
        sqlx::query("INSERT INTO audit_pending (event_id) VALUES ($1)").bind(&id).execute(&mut *conn).await?;
    }
    Ok(id)
}

/// `record` within a [`Batch`]: the event and its pending-chain entry as CTEs `name` and `name_chain`, written when
/// `guard` (a CTE of the batch) changed a row, so the access and its record commit together or not at all.
pub fn record_in(batch: &mut Batch, name: &str, event: &AuditEvent, guard: Option<&str>) {
    let actor = event.actor.as_ref();
    let values = [
        batch.arg(uuid::Uuid::now_v7().to_string()),
        batch.arg(now_ms()),
        batch.arg(actor.map(|a| a.id.as_str())),
        batch.arg(actor.map(|a| a.role.as_str())),
        batch.arg(actor.map(|a| a.name.as_str())),
        batch.arg(event.subject.as_deref()),
        batch.arg(event.action),
        batch.arg(event.resource_type),
        batch.arg(event.resource_id.as_deref()),
        batch.arg(event.purpose.as_deref()),
        batch.arg(event.outcome.as_str()),
    ];
    batch.with(name, &format!("{INSERT_EVENT} SELECT {}{} RETURNING id", values.join(", "), only_if(guard)));
    batch.with(&format!("{name}_chain"), &format!("INSERT INTO audit_pending (event_id) SELECT id FROM {name}"));
}

/// Records a refusal in a transaction of its own (the refused request changes nothing else).
pub async fn record_refusal(db: &crate::db::Db, event: AuditEvent) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    record(&mut tx, &event.outcome(Outcome::Denied)).await?;
    tx.commit().await
}
