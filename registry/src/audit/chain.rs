//! Linking audit events into a hash chain, and verifying it.
//!
//! Writers only insert events (and a row in `audit_pending`); one chainer at a time, serialised by the
//! lock on the `audit_chain_head` row, appends `audit_chain` links: hash = SHA-256(prev_hash, event fields).

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use utoipa::ToSchema;

use crate::db::{Backend, Db};

/// Events linked per pass. A pass costs a handful of round trips whatever its size, and under load each round trip
/// waits behind every busy backend for a CPU: small passes let the chain fall behind the events for good.
const BATCH: i64 = 2000;

/// One audit event as stored: what the chain hashes and the audit API shows.
#[derive(sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub actor_name: Option<String>,
    pub subject_health_id: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub purpose: Option<String>,
    pub outcome: String,
}

fn link_hash(prev: &str, e: &EventRow) -> String {
    let fields = serde_json::json!([
        e.id,
        e.at,
        e.actor_id,
        e.actor_role,
        e.actor_name,
        e.subject_health_id,
        e.action,
        e.resource_type,
        e.resource_id,
        e.purpose,
        e.outcome
    ]);
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(b"\n");
    hasher.update(fields.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

const EVENT_COLUMNS: &str = "e.id, e.at, e.actor_id, e.actor_role, e.actor_name, e.subject_health_id, e.action, e.resource_type, e.resource_id, e.purpose, e.outcome";

/// The oldest pending events, with their fields, in id order.
fn pending_select(backend: Backend) -> String {
    match backend {
        // A lookup per pending event, whatever PostgreSQL believes about the tables: its plan is cached per
        // connection, and one made while `audit_events` was small (a hash or merge join over the whole log)
        // would read every event ever written on each pass. `LIMIT 1` keeps the lookup from being flattened.
        Backend::Postgres => format!(
            "SELECT {EVENT_COLUMNS} FROM (SELECT event_id FROM audit_pending ORDER BY event_id LIMIT {BATCH}) p \
             CROSS JOIN LATERAL (SELECT * FROM audit_events WHERE id = p.event_id LIMIT 1) e ORDER BY p.event_id"
        ),
        Backend::Sqlite => {
            format!(
                "SELECT {EVENT_COLUMNS} FROM audit_pending p JOIN audit_events e ON e.id = p.event_id ORDER BY p.event_id LIMIT {BATCH}"
            )
        }
    }
}

/// Links every pending event into the chain; returns how many were linked.
pub async fn chain_pending(db: &Db) -> Result<u64, sqlx::Error> {
    let mut linked = 0;
    loop {
        let mut tx = db.begin().await?;
        // Taking the head row's lock first serialises chainers on every node and backend.
        let head = sqlx::query("UPDATE audit_chain_head SET seq = seq WHERE id = 1 RETURNING seq, hash").fetch_one(&mut *tx).await?;
        let (mut seq, mut hash): (i64, String) = (head.try_get("seq")?, head.try_get("hash")?);
        let events: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(pending_select(db.backend()))).fetch_all(&mut *tx).await?;
        if events.is_empty() {
            tx.rollback().await?;
            return Ok(linked);
        }
        let first = seq;
        let mut links = Vec::with_capacity(events.len());
        for event in &events {
            seq += 1;
            let next = link_hash(&hash, event);
            links.push(serde_json::json!([seq, event.id, std::mem::replace(&mut hash, next.clone()), next]));
        }
        // The links travel as one JSON parameter: one statement text whatever the batch size, prepared once.
        let links = serde_json::Value::Array(links).to_string();
        match db.backend() {
            // One statement: links, the pending rows they cover, the new head.
            Backend::Postgres => {
                sqlx::query(
                    "WITH links AS (INSERT INTO audit_chain (seq, event_id, prev_hash, hash) \
                       SELECT (l->>0)::bigint, l->>1, l->>2, l->>3 FROM json_array_elements($1::json) l RETURNING event_id), \
                     gone AS (DELETE FROM audit_pending WHERE event_id IN (SELECT event_id FROM links)) \
                     UPDATE audit_chain_head SET seq = $2, hash = $3 WHERE id = 1",
                )
                .bind(&links)
                .bind(seq)
                .bind(&hash)
                .execute(&mut *tx)
                .await?;
            }
            Backend::Sqlite => {
                sqlx::query(
                    "INSERT INTO audit_chain (seq, event_id, prev_hash, hash) \
                     SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]') FROM json_each($1)",
                )
                .bind(&links)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM audit_pending WHERE event_id IN (SELECT event_id FROM audit_chain WHERE seq > $1 AND seq <= $2)")
                    .bind(first)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id = 1").bind(seq).bind(&hash).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        linked += events.len() as u64;
        if (events.len() as i64) < BATCH {
            return Ok(linked);
        }
    }
}

/// The result of walking the chain.
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct VerifyReport {
    pub ok: bool,
    /// Events whose links verified.
    pub events: i64,
    /// The first broken link, when `ok` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<BrokenLink>,
}

#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: i64,
    pub event_id: Option<String>,
    pub reason: String,
}

/// Recomputes every link up to the head, in order; any edited, removed or reordered event breaks the chain.
/// The head is read first: links that chainers add while the walk runs are left for the next verification.
pub async fn verify(db: &Db) -> Result<VerifyReport, sqlx::Error> {
    let head = sqlx::query("SELECT seq, hash FROM audit_chain_head WHERE id = 1").fetch_one(db.reader()).await?;
    let (head_seq, head_hash): (i64, String) = (head.try_get("seq")?, head.try_get("hash")?);
    let mut expected_prev = "0".repeat(64);
    let mut checked: i64 = 0;
    loop {
        let select = format!(
            "SELECT c.seq, c.prev_hash, c.hash, {EVENT_COLUMNS} FROM audit_chain c LEFT JOIN audit_events e ON e.id = c.event_id \
             WHERE c.seq > $1 AND c.seq <= $2 ORDER BY c.seq LIMIT 1000"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(select)).bind(checked).bind(head_seq).fetch_all(db.reader()).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let seq: i64 = row.try_get("seq")?;
            let broken = |reason: &str, event_id: Option<String>| VerifyReport {
                ok: false,
                events: checked,
                broken_at: Some(BrokenLink { seq, event_id, reason: reason.into() }),
            };
            if seq != checked + 1 {
                return Ok(broken("a link is missing", None));
            }
            let Ok(event) = <EventRow as sqlx::FromRow<_>>::from_row(row) else {
                return Ok(broken("the event of this link is missing", None));
            };
            let prev: String = row.try_get("prev_hash")?;
            let stored: String = row.try_get("hash")?;
            if prev != expected_prev {
                return Ok(broken("the link does not follow the previous one", Some(event.id)));
            }
            if link_hash(&prev, &event) != stored {
                return Ok(broken("the event was altered after it was recorded", Some(event.id)));
            }
            expected_prev = stored;
            checked = seq;
        }
    }
    if head_seq != checked || (checked > 0 && head_hash != expected_prev) {
        return Ok(VerifyReport {
            ok: false,
            events: checked,
            broken_at: Some(BrokenLink { seq: head_seq, event_id: None, reason: "the chain was cut short".into() }),
        });
    }
    Ok(VerifyReport { ok: true, events: checked, broken_at: None })
}
