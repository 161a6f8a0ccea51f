//! Health IDs: self or assisted registration, the caller's own profile, and lookup by doctors and admins.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::address::{Address, AddressInput, ValidAddress};
use crate::audit::{self, Actor, AuditEvent};
use crate::auth::extract::{BearerToken, authenticate, session_live};
use crate::auth::password::check_password;
use crate::auth::{AuthUser, MaybeAuthUser, Role, TokenKind};
use crate::body::ApiJson;
use crate::db::{now_ms, rfc3339, unique_violation};
use crate::domain::{Aadhaar, DateOfBirth, Gender, Handle, HealthIdNumber, Mobile, Pincode};
use crate::error::{ApiError, ApiResult, Violations};
use crate::state::Registry;
use crate::text::required_text;

#[derive(Deserialize, ToSchema, Default)]
pub struct RegisterHealthId {
    pub name: Option<String>,
    /// `M`, `F` or `O`.
    pub gender: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// 10 digits starting 6–9.
    pub mobile: Option<String>,
    /// 12 digits passing the Verhoeff check; never stored or returned in clear.
    #[schema(value_type = Option<String>)]
    pub aadhaar: Option<SecretString>,
    /// 4–32 of `[a-z0-9._]`, not starting with a digit or dot.
    pub handle: Option<String>,
    pub address: Option<AddressInput>,
    #[schema(value_type = String, format = Password)]
    pub password: Option<SecretString>,
    /// Required when the person is under 18.
    pub guardian_health_id: Option<String>,
}

/// A patient's own profile.
#[derive(Serialize, ToSchema, Debug)]
pub struct HealthIdProfile {
    /// `XX-XXXX-XXXX-XXXX`.
    pub health_id: String,
    /// `handle@suffix`.
    pub health_address: String,
    pub name: String,
    pub gender: String,
    pub date_of_birth: String,
    pub year_of_birth: i32,
    pub mobile: String,
    pub address: Address,
    /// Last four digits of the linked Aadhaar, if one was given.
    pub aadhaar_last4: Option<String>,
    pub guardian_health_id: Option<String>,
    /// Professional id or admin account that helped register, if any.
    pub registered_by: Option<String>,
    pub created_at: String,
}

/// What doctors and admins see when they look a Health ID up.
#[derive(Serialize, ToSchema)]
pub struct HealthIdSummary {
    pub health_id: String,
    pub name: String,
    pub gender: String,
    pub year_of_birth: i32,
}

struct ValidRegistration {
    name: String,
    gender: Gender,
    dob: DateOfBirth,
    mobile: Mobile,
    aadhaar: Option<Aadhaar>,
    handle: Option<Handle>,
    line: Option<String>,
    district: Option<String>,
    state: String,
    pincode: Pincode,
    password: SecretString,
    guardian: Option<HealthIdNumber>,
}

fn validate(req: RegisterHealthId) -> ApiResult<ValidRegistration> {
    let mut v = Violations::new();
    let name = v.check("name", required_text(req.name.as_deref(), 1, 100));
    let gender = v.check("gender", req.gender.as_deref().map(Gender::parse).unwrap_or(Err(crate::domain::person::GenderError)));
    let dob = match req.date_of_birth.as_deref() {
        Some(s) => v.check("date_of_birth", DateOfBirth::parse(s)),
        None => v.check("date_of_birth", Err("is required")),
    };
    let mobile = match req.mobile.as_deref() {
        Some(s) => v.check("mobile", Mobile::parse(s)),
        None => v.check("mobile", Err("is required")),
    };
    let aadhaar = req.aadhaar.as_ref().and_then(|a| v.check("aadhaar", Aadhaar::parse(a.expose_secret())));
    let handle = req.handle.as_deref().and_then(|h| v.check("handle", Handle::parse(h)));
    let address = AddressInput::check(req.address, &mut v);
    let password = match req.password {
        Some(p) => v.check("password", check_password(p.expose_secret())).map(|_| p),
        None => v.check("password", Err("is required")),
    };
    let guardian = req.guardian_health_id.as_deref().and_then(|g| v.check("guardian_health_id", HealthIdNumber::parse(g)));
    if let Some(dob) = dob
        && dob.age() < 18
        && req.guardian_health_id.is_none()
    {
        v.add("guardian_health_id", "a person under 18 must name a guardian's Health ID");
    }
    v.finish()?;
    match (name, gender, dob, mobile, address, password) {
        (Some(name), Some(gender), Some(dob), Some(mobile), Some(ValidAddress { line, district, state, pincode }), Some(password)) => {
            Ok(ValidRegistration { name, gender, dob, mobile, aadhaar, handle, line, district, state, pincode, password, guardian })
        }
        _ => Err(ApiError::unprocessable("validation_failed", "The registration is incomplete.")),
    }
}

/// Self-registration with no token, or assisted registration by a doctor or admin (recorded as `registered_by`).
#[utoipa::path(post, path = "/api/v1/health-ids", tag = "health-ids", request_body = RegisterHealthId,
    responses((status = 201, body = HealthIdProfile), (status = 400, body = crate::error::Problem), (status = 403, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem, description = "`handle_taken` or `duplicate_aadhaar`"), (status = 413, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)),
    security((), ("bearer" = [])))]
pub async fn register(
    State(registry): State<Registry>,
    MaybeAuthUser(helper): MaybeAuthUser,
    ApiJson(req): ApiJson<RegisterHealthId>,
) -> ApiResult<(StatusCode, Json<HealthIdProfile>)> {
    if let Some(helper) = &helper {
        helper.require_any(&[Role::Doctor, Role::Admin])?;
    }
    let r = validate(req)?;
    let aadhaar_hash = r.aadhaar.as_ref().map(|a| registry.aadhaar.hash(a));
    let password_hash = registry.passwords.hash(r.password.clone()).await?;

    let mut tx = registry.db.begin().await?;
    if let Some(guardian) = &r.guardian {
        let dob: Option<String> = sqlx::query_scalar("SELECT date_of_birth FROM patients WHERE health_id = $1")
            .bind(guardian.digits())
            .fetch_optional(&mut *tx)
            .await?;
        let adult = dob.and_then(|d| DateOfBirth::parse(&d).ok()).is_some_and(|d| d.age() >= 18);
        if !adult {
            return Err(ApiError::field("guardian_health_id", "the guardian must be a registered adult"));
        }
    }
    if let Some(hash) = &aadhaar_hash {
        let taken: Option<String> =
            sqlx::query_scalar("SELECT health_id FROM patients WHERE aadhaar_hash = $1").bind(hash).fetch_optional(&mut *tx).await?;
        if taken.is_some() {
            return Err(ApiError::conflict("duplicate_aadhaar", "A Health ID already exists for this Aadhaar number."));
        }
    }
    let handle = match r.handle {
        Some(handle) => {
            if handle_taken(&mut tx, &handle).await? {
                return Err(ApiError::conflict("handle_taken", "This handle is taken; choose another."));
            }
            handle
        }
        None => loop {
            let candidate = Handle::suggest(&r.name);
            if !handle_taken(&mut tx, &candidate).await? {
                break candidate;
            }
        },
    };
    let health_id = loop {
        let candidate = HealthIdNumber::generate();
        let exists: Option<String> = sqlx::query_scalar("SELECT health_id FROM patients WHERE health_id = $1")
            .bind(candidate.digits())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            break candidate;
        }
    };
    let account_id = uuid::Uuid::now_v7().to_string();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO accounts (id, role, username, password_hash, status, subject_id, display_name, created_at) \
         VALUES ($1, 'patient', NULL, $2, 'active', $3, $4, $5)",
    )
    .bind(&account_id)
    .bind(&password_hash)
    .bind(health_id.digits())
    .bind(&r.name)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let registered_by = helper.as_ref().map(|h| h.subject_id.clone());
    let inserted = sqlx::query(
        "INSERT INTO patients (health_id, account_id, handle, name, gender, date_of_birth, mobile, aadhaar_hash, aadhaar_last4, \
         address_line, district, state, pincode, guardian_health_id, registered_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(health_id.digits())
    .bind(&account_id)
    .bind(handle.as_str())
    .bind(&r.name)
    .bind(r.gender.as_str())
    .bind(r.dob.iso())
    .bind(r.mobile.as_str())
    .bind(aadhaar_hash)
    .bind(r.aadhaar.as_ref().map(Aadhaar::last4))
    .bind(&r.line)
    .bind(&r.district)
    .bind(&r.state)
    .bind(r.pincode.as_str())
    .bind(r.guardian.map(|g| g.digits()))
    .bind(&registered_by)
    .bind(now)
    .execute(&mut *tx)
    .await;
    if let Err(err) = inserted {
        // Two registrations racing for the same handle or Aadhaar: the constraint decides.
        return Err(match unique_violation(&err) {
            Some(what) if what.contains("aadhaar") => {
                ApiError::conflict("duplicate_aadhaar", "A Health ID already exists for this Aadhaar number.")
            }
            Some(what) if what.contains("handle") => ApiError::conflict("handle_taken", "This handle is taken; choose another."),
            _ => err.into(),
        });
    }
    let actor = match &helper {
        Some(h) => Actor::from(h),
        None => Actor { id: health_id.digits(), role: "patient".into(), name: r.name.clone() },
    };
    audit::record(
        &mut tx,
        &AuditEvent::new(Some(actor), "health_id.create", "health_id", Some(health_id.digits())).subject(health_id.digits()),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(assisted = helper.is_some(), "health id registered");

    let profile = load_profile(&registry, registry.db.writer(), &health_id.digits())
        .await?
        .ok_or_else(|| ApiError::internal("registered profile missing"))?;
    Ok((StatusCode::CREATED, Json(profile)))
}

async fn handle_taken(tx: &mut crate::db::Tx, handle: &Handle) -> Result<bool, sqlx::Error> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT handle FROM patients WHERE handle = $1").bind(handle.as_str()).fetch_optional(&mut **tx).await?;
    Ok(found.is_some())
}

#[derive(sqlx::FromRow)]
struct PatientRow {
    health_id: String,
    handle: String,
    name: String,
    gender: String,
    date_of_birth: String,
    mobile: String,
    aadhaar_last4: Option<String>,
    address_line: Option<String>,
    district: Option<String>,
    state: String,
    pincode: String,
    guardian_health_id: Option<String>,
    registered_by: Option<String>,
    created_at: i64,
}

fn year_of(date: &str) -> i32 {
    date.get(..4).and_then(|y| y.parse().ok()).unwrap_or_default()
}

async fn load_profile(registry: &Registry, pool: &sqlx::AnyPool, digits: &str) -> Result<Option<HealthIdProfile>, sqlx::Error> {
    let row: Option<PatientRow> = sqlx::query_as(
        "SELECT health_id, handle, name, gender, date_of_birth, mobile, aadhaar_last4, address_line, district, state, pincode, \
         guardian_health_id, registered_by, created_at FROM patients WHERE health_id = $1",
    )
    .bind(digits)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| profile_of(registry, r)))
}

fn profile_of(registry: &Registry, r: PatientRow) -> HealthIdProfile {
    HealthIdProfile {
        health_id: HealthIdNumber::display_stored(&r.health_id),
        health_address: registry.health_address(&r.handle),
        year_of_birth: year_of(&r.date_of_birth),
        name: r.name,
        gender: r.gender,
        date_of_birth: r.date_of_birth,
        mobile: r.mobile,
        address: Address { line: r.address_line, district: r.district, state: r.state, pincode: r.pincode },
        aadhaar_last4: r.aadhaar_last4,
        guardian_health_id: r.guardian_health_id.as_deref().map(HealthIdNumber::display_stored),
        registered_by: r.registered_by,
        created_at: rfc3339(r.created_at),
    }
}

/// The caller's own profile (patients). Reading one's own demographics is not an access by anyone else, so it is not audited.
#[utoipa::path(get, path = "/api/v1/health-ids/me", tag = "health-ids",
    responses((status = 200, body = HealthIdProfile), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn me(State(registry): State<Registry>, BearerToken(token): BearerToken) -> ApiResult<Json<HealthIdProfile>> {
    let claims = registry.tokens.verify_api(&token, TokenKind::Access).ok_or_else(ApiError::unauthorized)?;
    // The hottest read: the session check of `authenticate` and the profile in one round trip.
    let row: Option<MeRow> = sqlx::query_as(
        "SELECT a.status, a.role, s.revoked_at, s.expires_at, p.health_id, p.handle, p.name, p.gender, p.date_of_birth, p.mobile, \
         p.aadhaar_last4, p.address_line, p.district, p.state, p.pincode, p.guardian_health_id, p.registered_by, p.created_at \
         FROM sessions s JOIN accounts a ON a.id = s.account_id JOIN patients p ON p.account_id = a.id WHERE s.id = $1 AND a.id = $2",
    )
    .bind(&claims.sid)
    .bind(&claims.sub)
    .fetch_optional(registry.db.reader())
    .await?;
    match row {
        Some(row) if session_live(&row.status, &row.role, row.revoked_at, row.expires_at, &claims.role) => {
            Ok(Json(profile_of(&registry, row.patient)))
        }
        Some(_) => Err(ApiError::unauthorized()),
        // Not a patient, or no live session: `authenticate` tells which (401), else it is not found.
        None => authenticate(&registry, &token).await.and(Err(ApiError::not_found())),
    }
}

#[derive(sqlx::FromRow)]
struct MeRow {
    status: String,
    role: String,
    revoked_at: Option<i64>,
    expires_at: i64,
    #[sqlx(flatten)]
    patient: PatientRow,
}

/// Doctors and admins look up a Health ID; anyone else gets 404. Every lookup is audited.
#[utoipa::path(get, path = "/api/v1/health-ids/{health_id}", tag = "health-ids",
    params(("health_id" = String, Path, description = "`XX-XXXX-XXXX-XXXX` or 14 digits")),
    responses((status = 200, body = HealthIdSummary), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem, description = "`invalid_health_id`")),
    security(("bearer" = [])))]
pub async fn lookup(State(registry): State<Registry>, user: AuthUser, Path(raw): Path<String>) -> ApiResult<Json<HealthIdSummary>> {
    let health_id = HealthIdNumber::parse(&raw)?;
    if !matches!(user.role, Role::Doctor | Role::Admin) {
        let refusal = AuditEvent::new(Some(Actor::from(&user)), "health_id.read", "health_id", Some(health_id.digits()));
        audit::record_refusal(&registry.db, refusal).await?;
        return Err(ApiError::not_found());
    }
    let mut tx = registry.db.begin().await?;
    let row: Option<(String, String, String)> = sqlx::query_as("SELECT name, gender, date_of_birth FROM patients WHERE health_id = $1")
        .bind(health_id.digits())
        .fetch_optional(&mut *tx)
        .await?;
    let Some((name, gender, dob)) = row else {
        return Err(ApiError::not_found());
    };
    let event =
        AuditEvent::new(Some(Actor::from(&user)), "health_id.read", "health_id", Some(health_id.digits())).subject(health_id.digits());
    audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(Json(HealthIdSummary { health_id: health_id.to_string(), name, gender, year_of_birth: year_of(&dob) }))
}
