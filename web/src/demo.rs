//! `serve --demo`: a small demo world, created through the public API so it obeys every rule, and its logins.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tower::ServiceExt;
use vaidya_registry::Registry;

const ADMIN: &str = "demo.admin";
const PASSWORD: &str = "vaidya-demo-2026";

/// One login of the demo world.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub role: &'static str,
    pub username: String,
    pub password: &'static str,
    pub note: String,
}

async fn call(router: &Router, method: &str, path: &str, token: Option<&str>, body: Value) -> Result<(StatusCode, Value), String> {
    let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req.body(Body::from(body.to_string())).map_err(|e| e.to_string())?;
    let res = router.clone().oneshot(req).await.map_err(|e| e.to_string())?;
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

async fn expect(router: &Router, method: &str, path: &str, token: Option<&str>, body: Value) -> Result<Value, String> {
    let (status, value) = call(router, method, path, token, body).await?;
    if status.is_success() { Ok(value) } else { Err(format!("{method} {path}: {status} {}", value["detail"])) }
}

/// Seeds the demo world once (later starts find it and only list the logins).
pub async fn seed(registry: &Registry, router: &Router) -> Result<Vec<DemoLogin>, String> {
    vaidya_registry::accounts::ensure_admin(registry, ADMIN, SecretString::from(PASSWORD)).await.map_err(|e| e.problem().detail)?;
    let mut logins = vec![DemoLogin { role: "admin", username: ADMIN.into(), password: PASSWORD, note: "registry operator".into() }];
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM accounts WHERE username = 'dr.asha'")
        .fetch_optional(registry.db.reader())
        .await
        .map_err(|e| e.to_string())?;
    if exists.is_none() {
        create_world(router).await?;
    }
    let patient: Option<String> = sqlx::query_scalar("SELECT health_id FROM patients WHERE handle = 'ravi.demo'")
        .fetch_optional(registry.db.reader())
        .await
        .map_err(|e| e.to_string())?;
    for (user, note) in [
        ("dr.asha", "doctor, general medicine, Bengaluru"),
        ("dr.vikram", "doctor, dermatology, Bengaluru"),
        ("ph.meera", "pharmacist, Jayanagar pharmacy"),
        ("ph.imran", "pharmacist, Indiranagar pharmacy"),
    ] {
        let role = if user.starts_with("dr.") { "doctor" } else { "pharmacist" };
        logins.push(DemoLogin { role, username: user.into(), password: PASSWORD, note: note.into() });
    }
    let health_id = patient.map(|digits| vaidya_registry::domain::HealthIdNumber::display_stored(&digits)).unwrap_or_default();
    logins.push(DemoLogin {
        role: "patient",
        username: format!("ravi.demo@{}", registry.settings.health_address_suffix),
        password: PASSWORD,
        note: format!("patient Ravi Kumar, Health ID {health_id}"),
    });
    Ok(logins)
}

async fn create_world(router: &Router) -> Result<(), String> {
    let login = expect(router, "POST", "/api/v1/auth/login", None, json!({"username": ADMIN, "password": PASSWORD})).await?;
    let token = login["access_token"].as_str().unwrap_or_default().to_owned();
    let t = Some(token.as_str());
    let facility = |name: &str, kind: &str, district: &str, pincode: &str, lat: f64, lon: f64| {
        json!({"name": name, "kind": kind, "ownership": "private", "systems_of_medicine": ["modern"],
               "address": {"line": name, "district": district, "state": "Karnataka", "pincode": pincode},
               "location": {"lat": lat, "lon": lon}, "phone": "080-2222-3333"})
    };
    let sites = [
        ("Vaidya Demo Hospital", "hospital", "560001", 12.9716, 77.5946),
        ("Koramangala Skin Clinic", "clinic", "560034", 12.9352, 77.6245),
        ("Whitefield Diagnostics", "diagnostic_lab", "560066", 12.9698, 77.7500),
        ("Jayanagar Jan Aushadhi Pharmacy", "pharmacy", "560041", 12.9299, 77.5826),
        ("Indiranagar Health Pharmacy", "pharmacy", "560038", 12.9784, 77.6408),
        ("Malleshwaram Medicals", "pharmacy", "560003", 13.0035, 77.5709),
    ];
    let mut created = Vec::with_capacity(sites.len());
    for (name, kind, pincode, lat, lon) in sites {
        created.push(expect(router, "POST", "/api/v1/facilities", t, facility(name, kind, "Bengaluru Urban", pincode, lat, lon)).await?);
    }
    let [hospital, clinic, _lab, jayanagar, indiranagar, _malleshwaram] = <[Value; 6]>::try_from(created).expect("six sites");
    let id = |v: &Value| v["facility_id"].as_str().unwrap_or_default().to_owned();
    let provider = |name: &str, role: &str, reg: &str, speciality: Option<&str>, facility: String, user: &str| {
        json!({"name": name, "role": role, "registration_number": reg, "council": "Karnataka Medical Council",
               "speciality": speciality, "qualification": if role == "doctor" { "MBBS" } else { "B.Pharm" },
               "facility_ids": [facility], "languages": ["en", "hi", "kn"], "username": user, "password": PASSWORD})
    };
    expect(
        router,
        "POST",
        "/api/v1/providers",
        t,
        provider("Dr. Asha Rao", "doctor", "KMC-104233", Some("General Medicine"), id(&hospital), "dr.asha"),
    )
    .await?;
    expect(
        router,
        "POST",
        "/api/v1/providers",
        t,
        provider("Dr. Vikram Nair", "doctor", "KMC-118204", Some("Dermatology"), id(&clinic), "dr.vikram"),
    )
    .await?;
    expect(router, "POST", "/api/v1/providers", t, provider("Meera Shetty", "pharmacist", "KSPC-55102", None, id(&jayanagar), "ph.meera"))
        .await?;
    expect(router, "POST", "/api/v1/providers", t, provider("Imran Khan", "pharmacist", "KSPC-55911", None, id(&indiranagar), "ph.imran"))
        .await?;
    expect(
        router,
        "POST",
        "/api/v1/health-ids",
        None,
        json!({"name": "Ravi Kumar", "gender": "M", "date_of_birth": "1988-04-12", "mobile": "9876543210", "handle": "ravi.demo",
               "address": {"line": "12 4th Cross", "district": "Bengaluru Urban", "state": "Karnataka", "pincode": "560041"},
               "password": PASSWORD}),
    )
    .await?;
    Ok(())
}
