//! Events for one user (`queue.updated`, `consent.requested`, `order.updated`, ...): an outbox in the database,
//! written in the same transaction as the change it announces and numbered per user, plus a wake-up so open
//! `/ws/events` sockets fetch it at once. The wake-up may be lost; the rows are not.

use serde::Serialize;
use sqlx::AnyConnection;
use tokio::sync::broadcast;

use crate::batch::{Batch, only_if};
use crate::db::{Db, now_ms};
use crate::redis_handle::RedisHandle;

/// The kinds the contract names.
pub const KINDS: [&str; 6] =
    ["queue.updated", "consult.admitted", "consent.requested", "consent.revoked", "prescription.issued", "order.updated"];

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct UserEvent {
    pub seq: i64,
    pub kind: String,
    pub data: serde_json::Value,
}

/// Appends an event for `account_id` on `conn` (the transaction of the change); returns its per-user seq.
/// The counter row serialises writers for one user, so seq order is commit order.
pub async fn emit(conn: &mut AnyConnection, account_id: &str, kind: &str, data: &serde_json::Value) -> Result<i64, sqlx::Error> {
    let now = now_ms();
    if conn.backend_name() == "PostgreSQL" {
        // One round trip: every statement saved here is saved on every change that notifies someone.
        return sqlx::query_scalar(
            "WITH c AS (INSERT INTO user_event_counters (account_id, seq) VALUES ($1, 1) \
               ON CONFLICT (account_id) DO UPDATE SET seq = user_event_counters.seq + 1 RETURNING seq) \
             INSERT INTO user_events (account_id, seq, kind, data, created_at) SELECT $1, seq, $2, $3, $4 FROM c RETURNING seq",
        )
        .bind(account_id)
        .bind(kind)
        .bind(data.to_string())
        .bind(now)
        .fetch_one(&mut *conn)
        .await;
    }
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO user_event_counters (account_id, seq) VALUES ($1, 1) \
         ON CONFLICT (account_id) DO UPDATE SET seq = user_event_counters.seq + 1 RETURNING seq",
    )
    .bind(account_id)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO user_events (account_id, seq, kind, data, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(account_id)
        .bind(seq)
        .bind(kind)
        .bind(data.to_string())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(seq)
}

/// `emit` within a [`Batch`], for every account `recipients` selects (a query of one column, `account_id`, with
/// placeholders from the batch), when `guard` (a CTE of the batch) changed a row. Adds CTE `name`, which yields the
/// accounts notified: the ones to wake after commit. Counters are taken in account order, as separate emits take them,
/// so two changes notifying the same people cannot deadlock.
pub fn emit_in(batch: &mut Batch, name: &str, recipients: &str, kind: &str, data: &serde_json::Value, guard: Option<&str>) {
    let (kind, data, now) = (batch.arg(kind), batch.arg(data.to_string()), batch.arg(now_ms()));
    batch.with(
        &format!("{name}_seq"),
        &format!(
            "INSERT INTO user_event_counters (account_id, seq) SELECT DISTINCT r.account_id, 1 FROM ({recipients}) r{} ORDER BY r.account_id \
             ON CONFLICT (account_id) DO UPDATE SET seq = user_event_counters.seq + 1 RETURNING account_id, seq",
            only_if(guard)
        ),
    );
    batch.with(
        name,
        &format!(
            "INSERT INTO user_events (account_id, seq, kind, data, created_at) SELECT account_id, seq, {kind}, {data}, {now} FROM {name}_seq \
             RETURNING account_id"
        ),
    );
}

/// The user's events after `after`, oldest first.
pub async fn since(db: &Db, account_id: &str, after: i64, limit: i64) -> Result<Vec<UserEvent>, sqlx::Error> {
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT seq, kind, data FROM user_events WHERE account_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
            .bind(account_id)
            .bind(after)
            .bind(limit)
            .fetch_all(db.reader())
            .await?;
    Ok(rows.into_iter().map(|(seq, kind, data)| UserEvent { seq, kind, data: serde_json::from_str(&data).unwrap_or_default() }).collect())
}

/// The user's latest seq (0 when none).
pub async fn latest(db: &Db, account_id: &str) -> Result<i64, sqlx::Error> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM user_event_counters WHERE account_id = $1")
        .bind(account_id)
        .fetch_optional(db.reader())
        .await?;
    Ok(seq.unwrap_or(0))
}

/// Wakes the sockets of users with new events: on this node directly, on other nodes through Redis.
#[derive(Clone)]
pub struct EventWaker {
    local: broadcast::Sender<String>,
    redis: Option<RedisHandle>,
}

impl EventWaker {
    pub fn new(redis: Option<RedisHandle>) -> Self {
        Self { local: broadcast::channel(4096).0, redis }
    }

    /// The Redis channel every node listens on.
    pub fn channel(redis: &RedisHandle) -> String {
        redis.key("events")
    }

    /// Call after the transaction that emitted events for `account_id` commits.
    pub async fn wake(&self, account_id: &str) {
        match &self.redis {
            Some(redis) => {
                let mut conn = redis.conn();
                let published = redis::cmd("PUBLISH").arg(Self::channel(redis)).arg(account_id).query_async::<()>(&mut conn).await;
                if published.is_err() {
                    // Other nodes' sockets still poll; this node's can be woken now.
                    let _ = self.local.send(account_id.to_owned());
                }
            }
            None => {
                let _ = self.local.send(account_id.to_owned());
            }
        }
    }

    /// `wake` for each account a committed change notified.
    pub async fn wake_all(&self, accounts: impl IntoIterator<Item = String>) {
        for account in accounts {
            self.wake(&account).await;
        }
    }

    /// Wakes local sockets only (used by the node's Redis listener).
    pub fn wake_local(&self, account_id: &str) {
        let _ = self.local.send(account_id.to_owned());
    }

    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.local.subscribe()
    }
}
