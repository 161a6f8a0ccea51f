//! Command line and environment configuration of `vaidya`.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "vaidya", version, about = "Teleconsultation and e-pharmacy service for a national digital health network")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP and WebSocket service.
    Serve(Box<ServeConfig>),
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Every flag also reads the environment variable named beside it.
#[derive(Args, Clone, Debug)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "VAIDYA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// sqlite://FILE (the default, created if missing) or postgres://USER@HOST/DB.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://vaidya.db")]
    pub database_url: String,

    /// redis://HOST:PORT for cross-node signalling, events and rate limits; without it, one node with an in-process bus.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key this deployment uses.
    #[arg(long, env = "VAIDYA_REDIS_PREFIX", default_value = "vaidya:")]
    pub redis_prefix: String,

    /// Seed a small demo world (facilities, doctors, pharmacists, a patient) and print its logins.
    #[arg(long, env = "VAIDYA_DEMO")]
    pub demo: bool,

    /// Create this admin at start if no account of that name exists (with --admin-password).
    #[arg(long, env = "VAIDYA_ADMIN_USERNAME")]
    pub admin_username: Option<String>,

    /// Password of the admin created at start.
    #[arg(long, env = "VAIDYA_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Largest database connection pool (at least 2: requests never hold all of it).
    #[arg(long, env = "VAIDYA_DB_MAX_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub db_max_connections: u32,

    /// Suffix of health addresses (`handle@SUFFIX`).
    #[arg(long, env = "VAIDYA_HEALTH_ADDRESS_SUFFIX", default_value = "vaidya")]
    pub health_address_suffix: String,

    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "VAIDYA_ACCESS_TOKEN_TTL", default_value_t = 900, value_parser = clap::value_parser!(i64).range(30..=86_400))]
    pub access_token_ttl: i64,

    /// Lifetime of refresh tokens (and sessions), in seconds.
    #[arg(long, env = "VAIDYA_REFRESH_TOKEN_TTL", default_value_t = 2_592_000, value_parser = clap::value_parser!(i64).range(300..=31_536_000))]
    pub refresh_token_ttl: i64,

    /// Key (at least 32 characters) for the keyed hash of Aadhaar numbers; generated and kept in the database when unset.
    #[arg(long, env = "VAIDYA_AADHAAR_KEY", hide_env_values = true)]
    pub aadhaar_key: Option<String>,

    /// Failed logins per account name before it is locked for the window.
    #[arg(long, env = "VAIDYA_LOGIN_FAILURES_PER_ACCOUNT", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub login_failures_per_account: u64,

    /// Failed logins per client address before it is locked for the window.
    #[arg(long, env = "VAIDYA_LOGIN_FAILURES_PER_ADDRESS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub login_failures_per_address: u64,

    /// STUN servers given to every peer, comma-separated (e.g. `stun:stun.example.org:3478`).
    #[arg(long, env = "VAIDYA_STUN_URLS", value_delimiter = ',')]
    pub stun_urls: Vec<String>,

    /// TURN servers given to every peer, comma-separated (e.g. `turn:turn.example.org:3478?transport=udp`).
    #[arg(long, env = "VAIDYA_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,

    /// Secret shared with the TURN server for time-limited credentials (coturn `static-auth-secret`).
    #[arg(long, env = "VAIDYA_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,

    /// Lifetime of TURN credentials, in seconds.
    #[arg(long, env = "VAIDYA_TURN_TTL", default_value_t = 3600, value_parser = clap::value_parser!(i64).range(60..=86_400))]
    pub turn_ttl: i64,

    /// How long a pharmacy has to accept a routed order before it goes to the next nearest, in seconds.
    #[arg(long, env = "VAIDYA_ORDER_ACCEPT_TIMEOUT", default_value_t = 600, value_parser = clap::value_parser!(i64).range(1..=86_400))]
    pub order_accept_timeout: i64,

    /// Browser origins allowed to open WebSockets, comma-separated; by default only the service's own origin.
    #[arg(long, env = "VAIDYA_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Sustained signalling messages per second allowed from one socket.
    #[arg(long, env = "VAIDYA_SIGNAL_RATE", default_value_t = 50.0)]
    pub signal_rate: f64,

    /// Seconds between pings to each WebSocket.
    #[arg(long, env = "VAIDYA_SIGNAL_PING_INTERVAL", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub signal_ping_interval: u64,

    /// Seconds of silence (no frame, no pong) after which a WebSocket is closed.
    #[arg(long, env = "VAIDYA_SIGNAL_IDLE_TIMEOUT", default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub signal_idle_timeout: u64,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "VAIDYA_MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub max_body_bytes: usize,

    /// Log line format.
    #[arg(long, env = "VAIDYA_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Log filter, e.g. `info` or `vaidya=debug,info`.
    #[arg(long, env = "VAIDYA_LOG", default_value = "info")]
    pub log: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
}

impl ServeConfig {
    /// Checks what clap cannot: URL schemes, the admin pair, key lengths.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.database_url
            .parse::<vaidya_registry::Backend>()
            .map_err(|e| ConfigError::Invalid(format!("--database-url / DATABASE_URL: {e}")))?;
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(ConfigError::Invalid("--redis-url / REDIS_URL: use redis://HOST:PORT (or rediss:// for TLS)".into()));
        }
        match (&self.admin_username, &self.admin_password) {
            (Some(_), None) | (None, Some(_)) => {
                return Err(ConfigError::Invalid("VAIDYA_ADMIN_USERNAME and VAIDYA_ADMIN_PASSWORD are set together or not at all".into()));
            }
            _ => {}
        }
        if let Some(key) = &self.aadhaar_key
            && key.len() < 32
        {
            return Err(ConfigError::Invalid("--aadhaar-key / VAIDYA_AADHAAR_KEY: use at least 32 characters".into()));
        }
        if !self.turn_urls.is_empty() && self.turn_secret.is_none() {
            return Err(ConfigError::Invalid("--turn-urls needs --turn-secret / VAIDYA_TURN_SECRET for time-limited credentials".into()));
        }
        if let Some(bad) = self.stun_urls.iter().find(|u| !u.starts_with("stun:") && !u.starts_with("stuns:")) {
            return Err(ConfigError::Invalid(format!("--stun-urls: `{bad}` is not a stun: or stuns: URL")));
        }
        if let Some(bad) = self.turn_urls.iter().find(|u| !u.starts_with("turn:") && !u.starts_with("turns:")) {
            return Err(ConfigError::Invalid(format!("--turn-urls: `{bad}` is not a turn: or turns: URL")));
        }
        if !(self.signal_rate.is_finite() && self.signal_rate >= 1.0) {
            return Err(ConfigError::Invalid("--signal-rate: at least 1 message per second".into()));
        }
        let suffix_ok = !self.health_address_suffix.is_empty()
            && self.health_address_suffix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !suffix_ok {
            return Err(ConfigError::Invalid("--health-address-suffix: lowercase letters, digits, '.' and '-' only".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServeConfig, String> {
        let mut full = vec!["vaidya", "serve"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full) {
            Ok(Cli { command: Command::Serve(c) }) => c.validate().map(|_| *c).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn defaults_are_embedded() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://vaidya.db");
        assert!(c.redis_url.is_none());
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(parse(&["--database-url", "mysql://x"]).unwrap_err().contains("DATABASE_URL"));
        assert!(parse(&["--listen", "nowhere"]).unwrap_err().contains("--listen"));
        assert!(parse(&["--redis-url", "http://x"]).unwrap_err().contains("REDIS_URL"));
        assert!(parse(&["--admin-username", "root"]).unwrap_err().contains("VAIDYA_ADMIN_PASSWORD"));
        assert!(parse(&["--aadhaar-key", "short"]).unwrap_err().contains("32"));
        assert!(parse(&["--turn-urls", "turn:t:3478"]).unwrap_err().contains("--turn-secret"));
        assert!(parse(&["--stun-urls", "http://x"]).unwrap_err().contains("--stun-urls"));
    }
}
