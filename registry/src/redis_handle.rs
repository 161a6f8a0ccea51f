//! A shared Redis connection with the key prefix every key of this deployment (or test) lives under.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

#[derive(Clone)]
pub struct RedisHandle {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot reach Redis at the configured REDIS_URL: {0}")]
pub struct RedisConfigError(#[source] pub redis::RedisError);

impl RedisHandle {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, RedisConfigError> {
        let client = redis::Client::open(url).map_err(RedisConfigError)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        // Lazy: a node starts (and `/readyz` says 503) while Redis is down, and recovers when it returns.
        let conn = client.get_connection_manager_lazy(config).map_err(RedisConfigError)?;
        let handle = Self { client, conn, prefix: prefix.to_owned() };
        if !handle.ping().await {
            tracing::warn!("Redis is not answering yet; readiness stays 503 until it does");
        }
        Ok(handle)
    }

    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A multiplexed connection that reconnects by itself after Redis restarts.
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The client, for connections of their own (pub/sub).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    pub async fn ping(&self) -> bool {
        let mut conn = self.conn();
        let ping = redis::cmd("PING");
        let probe = ping.query_async::<String>(&mut conn);
        matches!(tokio::time::timeout(Duration::from_secs(2), probe).await, Ok(Ok(_)))
    }
}
