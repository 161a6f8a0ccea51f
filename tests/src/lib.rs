//! Test harness: starts the real `vaidya` service on port 0 against a fresh database (a SQLite file, or a new
//! PostgreSQL database when `TEST_DATABASE_URL` is set) and a fresh Redis key prefix (when `TEST_REDIS_URL` is set),
//! and talks HTTP to it like any client.

pub mod clinic;
pub mod db;
pub mod fhir;

use clap_free::parse_serve;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use vaidya_registry::Registry;
use vaidya_registry::domain::aadhaar::verhoeff_check_digit;

pub use db::TestDb;

pub const ADMIN_USER: &str = "root.admin";
pub const ADMIN_PASSWORD: &str = "root-admin-password";
pub const PASSWORD: &str = "correct-horse-42";

/// A running service and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub registry: Registry,
    pub hub: std::sync::Arc<vaidya_signaling::Hub>,
    pub db: TestDb,
    pub redis_prefix: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
}

/// A response: status, JSON body (or `Null`) and headers.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The problem `code` of an error reply.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// Asserts the status and, for errors, that the body is an RFC 9457 problem with a code.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        if status >= 400 {
            assert_eq!(self.content_type(), "application/problem+json", "errors are problem documents");
            assert_eq!(self.body["status"].as_u64(), Some(u64::from(status)));
            assert!(!self.code().is_empty(), "problem has a code: {}", self.body);
        }
        self
    }

    #[track_caller]
    pub fn expect_problem(self, status: u16, code: &str) -> Self {
        let reply = self.expect(status);
        assert_eq!(reply.code(), code, "problem code; body: {}", reply.body);
        reply
    }
}

mod clap_free {
    use vaidya_web::ServeConfig;
    use vaidya_web::config::{Cli, Command};

    /// Parses serve flags exactly as the binary does.
    pub fn parse_serve(args: &[String]) -> ServeConfig {
        use clap::Parser;
        let mut full = vec!["vaidya".to_owned(), "serve".to_owned()];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full).expect("test flags parse") {
            Cli { command: Command::Serve(config) } => *config,
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts a service with extra `serve` flags.
    pub async fn spawn_with(extra: &[&str]) -> Self {
        let db = TestDb::create().await;
        Self::spawn_on(db, extra).await
    }

    /// Starts a service on an existing test database (e.g. a restart).
    pub async fn spawn_on(db: TestDb, extra: &[&str]) -> Self {
        let prefix = std::env::var("TEST_REDIS_URL").ok().map(|_| format!("test:{}:", uuid::Uuid::now_v7().simple()));
        Self::spawn_node(db, prefix, extra).await
    }

    /// Another node of the same deployment: same database, same Redis keys. Needs `TEST_REDIS_URL`.
    pub async fn node_beside(&self) -> Self {
        Self::spawn_node(self.db.share(), self.redis_prefix.clone(), &[]).await
    }

    /// A node on `db` using the Redis at `redis_url` under `prefix` (for fault tests with a private Redis).
    pub async fn spawn_with_redis(db: TestDb, redis_url: &str, prefix: &str) -> Self {
        Self::spawn_node(db, None, &["--redis-url", redis_url, "--redis-prefix", prefix]).await
    }

    async fn spawn_node(db: TestDb, redis_prefix: Option<String>, extra: &[&str]) -> Self {
        let mut args: Vec<String> = [
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            db.url(),
            "--admin-username",
            ADMIN_USER,
            "--admin-password",
            ADMIN_PASSWORD,
            "--log",
            "warn",
            "--db-max-connections",
            "8",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // A test that names its own Redis (a private or unreachable one) overrides TEST_REDIS_URL.
        let own_redis = extra.contains(&"--redis-url");
        let redis_prefix = if own_redis { None } else { redis_prefix };
        if let (Ok(url), Some(prefix)) = (std::env::var("TEST_REDIS_URL"), &redis_prefix) {
            args.extend(["--redis-url".to_owned(), url, "--redis-prefix".to_owned(), prefix.clone()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let config = parse_serve(&args);
        let app = vaidya_web::App::build(&config).await.expect("service starts");
        let registry = app.registry.clone();
        let hub = app.hub.clone();
        let listener = vaidya_web::app::bind(config.listen).await.expect("bind port 0");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.serve(listener, async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder().pool_max_idle_per_host(16).build().unwrap();
        Self { base, client, registry, hub, db, redis_prefix, shutdown: Some(tx) }
    }

    /// Stops serving and hands the database back (to start another node or a restart on it).
    pub fn stop(mut self) -> TestDb {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        std::mem::replace(&mut self.db, TestDb::detached())
    }

    /// Ends the node abruptly, as if its process died: its background work (heartbeats) and its sockets stop.
    pub fn kill(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.hub.kill();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, body, headers }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    /// Sends raw bytes with a content type, for malformed and oversized bodies.
    pub async fn post_raw(&self, path: &str, token: Option<&str>, content_type: &str, body: Vec<u8>) -> Reply {
        let mut req = self.client.post(self.url(path)).header("content-type", content_type).body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let headers = res.headers().clone();
        let body = serde_json::from_slice(&res.bytes().await.unwrap_or_default()).unwrap_or(Value::Null);
        Reply { status, body, headers }
    }

    /// Logs in and returns the whole token response.
    pub async fn login(&self, username: &str, password: &str) -> Value {
        self.post("/api/v1/auth/login", None, json!({"username": username, "password": password})).await.expect(200).body
    }

    pub async fn token(&self, username: &str, password: &str) -> String {
        self.login(username, password).await["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.token(ADMIN_USER, ADMIN_PASSWORD).await
    }

    /// Registers a patient (adult, unique handle) with `overrides` merged into the default body; returns the profile.
    pub async fn register_patient(&self, overrides: Value) -> Value {
        self.post("/api/v1/health-ids", None, patient_body(overrides)).await.expect(201).body
    }

    /// Registers a patient and logs them in: (profile, access token).
    pub async fn patient(&self) -> (Value, String) {
        let profile = self.register_patient(json!({})).await;
        let token = self.token(profile["health_id"].as_str().unwrap(), PASSWORD).await;
        (profile, token)
    }

    pub async fn create_facility(&self, admin: &str, kind: &str, lat: f64, lon: f64) -> Value {
        self.post("/api/v1/facilities", Some(admin), facility_body(kind, lat, lon)).await.expect(201).body
    }

    /// Registers a provider at `facility_id`; returns (provider, username).
    pub async fn create_provider(&self, admin: &str, role: &str, facility_id: &str, overrides: Value) -> (Value, String) {
        let body = provider_body(role, facility_id, overrides);
        let username = body["username"].as_str().unwrap().to_owned();
        (self.post("/api/v1/providers", Some(admin), body).await.expect(201).body, username)
    }

    /// A verified doctor at a fresh clinic, logged in: (provider, access token).
    pub async fn doctor(&self) -> (Value, String) {
        let admin = self.admin_token().await;
        let clinic = self.create_facility(&admin, "clinic", 12.97, 77.59).await;
        let (provider, username) = self.create_provider(&admin, "doctor", clinic["facility_id"].as_str().unwrap(), json!({})).await;
        (provider, self.token(&username, PASSWORD).await)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn merge(mut base: Value, overrides: Value) -> Value {
    if let (Some(b), Value::Object(o)) = (base.as_object_mut(), overrides) {
        for (k, v) in o {
            b.insert(k, v);
        }
    }
    base
}

/// `n` random lowercase letters, to keep handles and usernames apart between tests.
pub fn unique(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..n).map(|_| char::from(b'a' + rng.gen_range(0..26u8))).collect()
}

/// A valid self-registration body for an adult with a unique handle.
pub fn patient_body(overrides: Value) -> Value {
    merge(
        json!({
            "name": "Asha Verma",
            "gender": "F",
            "date_of_birth": "1990-05-17",
            "mobile": "9876543210",
            "handle": format!("asha.{}", unique(8)),
            "address": {"line": "14 MG Road", "district": "Bengaluru Urban", "state": "Karnataka", "pincode": "560001"},
            "password": PASSWORD,
        }),
        overrides,
    )
}

pub fn facility_body(kind: &str, lat: f64, lon: f64) -> Value {
    json!({
        "name": format!("Test {kind} {}", unique(6)),
        "kind": kind,
        "ownership": "private",
        "systems_of_medicine": ["modern"],
        "address": {"line": "1 Main Road", "district": "Bengaluru Urban", "state": "Karnataka", "pincode": "560001"},
        "location": {"lat": lat, "lon": lon},
        "phone": "080-4000-1000",
    })
}

pub fn provider_body(role: &str, facility_id: &str, overrides: Value) -> Value {
    let tag = unique(8);
    merge(
        json!({
            "name": if role == "doctor" { "Dr. Kavya Iyer" } else { "Suresh Pillai" },
            "role": role,
            "registration_number": format!("KMC-{}", &tag[..6].to_uppercase()),
            "council": "Karnataka Medical Council",
            "speciality": if role == "doctor" { Some("General Medicine") } else { None },
            "qualification": "MBBS",
            "facility_ids": [facility_id],
            "languages": ["en", "kn"],
            "username": format!("{}.{tag}", if role == "doctor" { "dr" } else { "ph" }),
            "password": PASSWORD,
        }),
        overrides,
    )
}

/// A random Aadhaar number that passes the Verhoeff check.
pub fn valid_aadhaar() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let payload: String = std::iter::once(char::from(b'2' + rng.gen_range(0..8u8)))
        .chain((0..10).map(|_| char::from(b'0' + rng.gen_range(0..10u8))))
        .collect();
    format!("{payload}{}", verhoeff_check_digit(&payload))
}

/// The same number with its check digit changed, so it fails Verhoeff.
pub fn broken_aadhaar() -> String {
    let good = valid_aadhaar();
    let last = good.as_bytes()[11] - b'0';
    format!("{}{}", &good[..11], (last + 1) % 10)
}

pub mod redis_server;
pub mod ws;
