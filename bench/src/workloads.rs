//! The requests the figures are about: nearby-pharmacy search, `/me` reads, logins; and the patient they use.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::StatusCode;
use hyper::header::HeaderValue;
use rand::Rng;
use rand::rngs::StdRng;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;

use crate::http::{self, Call, Conn, Error};
use crate::load::Workload;
use crate::seed::Place;

fn success(status: StatusCode) -> Result<Option<u64>, ()> {
    if status == StatusCode::OK { Ok(None) } else { Err(()) }
}

/// `GET /api/v1/facilities?kind=pharmacy&near=...` around a random seeded facility, so the area has pharmacies.
pub struct NearbyPharmacies {
    pub centres: Arc<Vec<Place>>,
}

#[derive(Deserialize)]
struct Page {
    items: Vec<IgnoredAny>,
}

impl Workload for NearbyPharmacies {
    fn call(&self, rng: &mut StdRng) -> Call {
        let p = self.centres[rng.gen_range(0..self.centres.len())];
        Call::get(format!("/api/v1/facilities?kind=pharmacy&near={:.5},{:.5}", p.lat, p.lon))
    }

    fn check(&self, status: StatusCode, body: &[u8], inspect: bool) -> Result<Option<u64>, ()> {
        success(status)?;
        if !inspect {
            return Ok(None);
        }
        let page: Page = serde_json::from_slice(body).map_err(|_| ())?;
        Ok(Some(page.items.len() as u64))
    }
}

/// `GET /api/v1/health-ids/me` with the patient's token: authentication plus one profile read.
#[derive(Clone)]
pub struct Me {
    pub call: Call,
}

impl Me {
    pub fn new(bearer: HeaderValue) -> Self {
        Self { call: Call::get("/api/v1/health-ids/me").with_bearer(bearer) }
    }
}

impl Workload for Me {
    fn call(&self, _rng: &mut StdRng) -> Call {
        self.call.clone()
    }

    fn check(&self, status: StatusCode, _body: &[u8], _inspect: bool) -> Result<Option<u64>, ()> {
        success(status)
    }
}

/// `POST /api/v1/auth/login` with the right password: one Argon2id verification each.
#[derive(Clone)]
pub struct Login {
    pub call: Call,
}

impl Workload for Login {
    fn call(&self, _rng: &mut StdRng) -> Call {
        self.call.clone()
    }

    fn check(&self, status: StatusCode, _body: &[u8], _inspect: bool) -> Result<Option<u64>, ()> {
        success(status)
    }
}

/// A self-registered patient: its login call and an access token.
pub struct Patient {
    pub login: Login,
    pub bearer: HeaderValue,
}

const PASSWORD: &str = "bench-password-1234";

/// Registers one patient through the API and logs in.
pub async fn register_patient(addr: SocketAddr) -> Result<Patient, Error> {
    let mut conn = Conn::open(addr).await?;
    let registration = json!({
        "name": "Bench Patient",
        "gender": "M",
        "date_of_birth": "1990-01-01",
        "mobile": "9876543210",
        "address": {"state": "Karnataka", "pincode": "560001"},
        "password": PASSWORD,
    });
    let (status, body) = conn.send(&Call::post_json("/api/v1/health-ids", &registration)).await?;
    if status != StatusCode::CREATED {
        return Err(format!("registration answered {status}: {}", String::from_utf8_lossy(&body)).into());
    }
    let created: serde_json::Value = serde_json::from_slice(&body)?;
    let health_id = created["health_id"].as_str().ok_or("registration answer has no health_id")?;
    let login = Login { call: Call::post_json("/api/v1/auth/login", &json!({"username": health_id, "password": PASSWORD})) };
    let (status, body) = conn.send(&login.call).await?;
    if status != StatusCode::OK {
        return Err(format!("login answered {status}: {}", String::from_utf8_lossy(&body)).into());
    }
    let tokens: serde_json::Value = serde_json::from_slice(&body)?;
    let token = tokens["access_token"].as_str().ok_or("login answer has no access_token")?;
    Ok(Patient { login, bearer: http::bearer(token)? })
}
