//! `Idempotency-Key`: the first successful answer to a keyed request is stored with a hash of the request, in the
//! transaction that made it; a replay with the same body gets that answer again, the same key with another body is 422.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use vaidya_registry::db::{Tx, now_ms, unique_violation};
use vaidya_registry::{ApiError, ApiResult};

pub const HEADER: &str = "idempotency-key";

/// A key a client sent, checked: 1 to 255 visible ASCII characters.
pub fn key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get(HEADER) else { return Ok(None) };
    let key = value.to_str().ok().map(str::trim).filter(|k| (1..=255).contains(&k.len()) && k.chars().all(|c| c.is_ascii_graphic()));
    key.map(|k| Some(k.to_owned())).ok_or_else(|| ApiError::field("Idempotency-Key", "is 1 to 255 visible ASCII characters"))
}

/// What identifies a request: where it went and its JSON body, whatever the key order or spacing.
pub fn request_hash(path: &str, body: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(vaidya_registry::signing::canonical_json(body).as_bytes());
    hex::encode(hasher.finalize())
}

/// A stored answer.
pub struct Stored {
    pub status: u16,
    pub body: String,
}

/// Claims `key` for this request in `tx`. `Ok(Some)` is the stored answer of an earlier identical request; `Ok(None)`
/// means go ahead (and `finish` before committing). A concurrent request with the same key waits on the claim.
pub async fn claim(tx: &mut Tx, account_id: &str, key: &str, hash: &str) -> ApiResult<Option<Stored>> {
    if let Some(stored) = stored(tx, account_id, key, hash).await? {
        return Ok(Some(stored));
    }
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (account_id, idempotency_key, request_hash, status, response, created_at) VALUES ($1, $2, $3, 0, '', $4)",
    )
    .bind(account_id)
    .bind(key)
    .bind(hash)
    .bind(now_ms())
    .execute(&mut **tx)
    .await;
    match inserted {
        Ok(_) => Ok(None),
        // Another request with this key committed first: the caller retries and finds its answer.
        Err(e) if unique_violation(&e).is_some() => {
            Err(ApiError::conflict("idempotency_key_in_use", "A request with this Idempotency-Key is in flight; retry."))
        }
        Err(e) => Err(e.into()),
    }
}

async fn stored(tx: &mut Tx, account_id: &str, key: &str, hash: &str) -> ApiResult<Option<Stored>> {
    let row: Option<(String, i64, String)> =
        sqlx::query_as("SELECT request_hash, status, response FROM idempotency_keys WHERE account_id = $1 AND idempotency_key = $2")
            .bind(account_id)
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?;
    match row {
        None => Ok(None),
        Some((stored_hash, _, _)) if stored_hash != hash => Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "This Idempotency-Key was used with another request; use a new key for a new request.",
        )),
        Some((_, status, body)) => Ok(Some(Stored { status: status as u16, body })),
    }
}

/// Stores the answer to the claimed request, in its transaction.
pub async fn finish(tx: &mut Tx, account_id: &str, key: &str, status: u16, body: &str) -> ApiResult<()> {
    sqlx::query("UPDATE idempotency_keys SET status = $1, response = $2 WHERE account_id = $3 AND idempotency_key = $4")
        .bind(i64::from(status))
        .bind(body)
        .bind(account_id)
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
