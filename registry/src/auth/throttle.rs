//! Login throttling: failures are counted per account name and per client address, in Redis when configured
//! (so every node sees them) or in memory. The answer is the same whether or not the account exists.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{ApiError, ApiResult};
use crate::redis_handle::RedisHandle;

#[derive(Clone, Copy, Debug)]
pub struct ThrottleLimits {
    pub per_account: u64,
    pub per_address: u64,
    pub window: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self { per_account: 5, per_address: 20, window: Duration::from_secs(15 * 60) }
    }
}

#[derive(Clone)]
pub struct LoginThrottle {
    limits: ThrottleLimits,
    store: Store,
}

#[derive(Clone)]
enum Store {
    Memory(Arc<Mutex<HashMap<String, (u64, Instant)>>>),
    Redis(RedisHandle),
}

impl LoginThrottle {
    pub fn in_memory(limits: ThrottleLimits) -> Self {
        Self { limits, store: Store::Memory(Arc::default()) }
    }

    pub fn redis(limits: ThrottleLimits, redis: RedisHandle) -> Self {
        Self { limits, store: Store::Redis(redis) }
    }

    fn keys(account: &str, address: &str) -> [(String, bool); 2] {
        [(format!("login:acct:{}", account.to_lowercase()), true), (format!("login:addr:{address}"), false)]
    }

    /// Refuses with 429 when either counter is at its limit; called before the password is checked.
    pub async fn check(&self, account: &str, address: &str) -> ApiResult<()> {
        for (key, is_account) in Self::keys(account, address) {
            let limit = if is_account { self.limits.per_account } else { self.limits.per_address };
            let (count, retry_after) = self.read(&key).await?;
            if count >= limit {
                return Err(ApiError::rate_limited(retry_after));
            }
        }
        Ok(())
    }

    pub async fn record_failure(&self, account: &str, address: &str) -> ApiResult<()> {
        for (key, _) in Self::keys(account, address) {
            self.increment(&key).await?;
        }
        Ok(())
    }

    /// A successful login clears the account's counter (not the address's).
    pub async fn record_success(&self, account: &str) -> ApiResult<()> {
        let key = format!("login:acct:{}", account.to_lowercase());
        match &self.store {
            Store::Memory(map) => {
                map.lock().expect("throttle lock").remove(&key);
            }
            Store::Redis(redis) => {
                let mut conn = redis.conn();
                redis::cmd("DEL").arg(redis.key(&key)).query_async::<()>(&mut conn).await.map_err(redis_down)?;
            }
        }
        Ok(())
    }

    async fn read(&self, key: &str) -> ApiResult<(u64, u64)> {
        match &self.store {
            Store::Memory(map) => {
                let map = map.lock().expect("throttle lock");
                Ok(match map.get(key) {
                    Some((count, start)) if start.elapsed() < self.limits.window => {
                        (*count, (self.limits.window - start.elapsed()).as_secs() + 1)
                    }
                    _ => (0, 0),
                })
            }
            Store::Redis(redis) => {
                let mut conn = redis.conn();
                let (count, ttl): (Option<u64>, i64) = redis::pipe()
                    .cmd("GET")
                    .arg(redis.key(key))
                    .cmd("TTL")
                    .arg(redis.key(key))
                    .query_async(&mut conn)
                    .await
                    .map_err(redis_down)?;
                Ok((count.unwrap_or(0), ttl.max(1) as u64))
            }
        }
    }

    async fn increment(&self, key: &str) -> ApiResult<()> {
        match &self.store {
            Store::Memory(map) => {
                let mut map = map.lock().expect("throttle lock");
                if map.len() > 100_000 {
                    let window = self.limits.window;
                    map.retain(|_, (_, start)| start.elapsed() < window);
                }
                let entry = map.entry(key.to_owned()).or_insert((0, Instant::now()));
                if entry.1.elapsed() >= self.limits.window {
                    *entry = (0, Instant::now());
                }
                entry.0 += 1;
            }
            Store::Redis(redis) => {
                let mut conn = redis.conn();
                redis::pipe()
                    .cmd("INCR")
                    .arg(redis.key(key))
                    .ignore()
                    .cmd("EXPIRE")
                    .arg(redis.key(key))
                    .arg(self.limits.window.as_secs())
                    .arg("NX")
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(redis_down)?;
            }
        }
        Ok(())
    }
}

fn redis_down(_: redis::RedisError) -> ApiError {
    ApiError::unavailable("The rate-limit store is not answering; try again shortly.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn locks_after_limit_and_success_clears_account() {
        let t = LoginThrottle::in_memory(ThrottleLimits { per_account: 2, per_address: 3, window: Duration::from_secs(60) });
        t.check("ravi", "1.2.3.4").await.unwrap();
        t.record_failure("ravi", "1.2.3.4").await.unwrap();
        t.record_failure("RAVI", "1.2.3.4").await.unwrap();
        let err = t.check("ravi", "1.2.3.4").await.unwrap_err();
        assert_eq!(err.status().as_u16(), 429);
        t.record_success("ravi").await.unwrap();
        t.check("ravi", "1.2.3.4").await.unwrap();
        t.record_failure("asha", "1.2.3.4").await.unwrap();
        assert_eq!(t.check("someone", "1.2.3.4").await.unwrap_err().status().as_u16(), 429);
    }
}
