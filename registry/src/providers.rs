//! The Healthcare Professionals Registry: admins register, verify and suspend doctors and pharmacists; anyone finds verified ones.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{self, Actor, AuditEvent};
use crate::auth::password::check_password;
use crate::auth::{AuthUser, MaybeAuthUser, Role};
use crate::body::{ApiJson, ApiQuery};
use crate::db::{now_ms, rfc3339, unique_violation};
use crate::domain::{FacilityId, ProviderId};
use crate::error::{ApiError, ApiResult, Violations};
use crate::page::{self, ListResponse};
use crate::sql::{Arg, Sql};
use crate::state::Registry;
use crate::text::{optional_text, required_text};

#[derive(Deserialize, ToSchema, Default)]
pub struct CreateProvider {
    pub name: Option<String>,
    /// `doctor` or `pharmacist`.
    pub role: Option<String>,
    pub registration_number: Option<String>,
    /// The council that registered them, e.g. `Karnataka Medical Council`.
    pub council: Option<String>,
    pub speciality: Option<String>,
    pub qualification: Option<String>,
    pub facility_ids: Option<Vec<String>>,
    /// Languages they consult in, e.g. `["en", "hi", "kn"]`.
    pub languages: Option<Vec<String>>,
    pub username: Option<String>,
    #[schema(value_type = String, format = Password)]
    pub password: Option<SecretString>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateProvider {
    /// `verified` or `suspended`.
    pub status: String,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct Provider {
    /// 14 digits.
    pub provider_id: String,
    pub name: String,
    pub role: String,
    pub registration_number: String,
    pub council: String,
    pub speciality: Option<String>,
    pub qualification: Option<String>,
    pub facility_ids: Vec<String>,
    pub languages: Vec<String>,
    /// `verified` or `suspended`.
    pub status: String,
    pub created_at: String,
}

#[derive(sqlx::FromRow)]
struct ProviderRow {
    id: String,
    name: String,
    role: String,
    registration_number: String,
    council: String,
    speciality: Option<String>,
    qualification: Option<String>,
    status: String,
    created_at: i64,
}

const COLUMNS: &str = "p.id, p.name, p.role, p.registration_number, p.council, p.speciality, p.qualification, p.status, p.created_at";

fn check_username(u: &str) -> Result<String, &'static str> {
    let u = u.trim().to_lowercase();
    let ok = (3..=64).contains(&u.len())
        && u.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
        && u.starts_with(|c: char| c.is_ascii_lowercase())
        && !u.contains('@');
    if ok { Ok(u) } else { Err("a username is 3 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter") }
}

fn check_registration_number(r: &str) -> Result<String, &'static str> {
    let r = r.trim();
    let ok = (3..=32).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'.'));
    if ok { Ok(r.to_uppercase()) } else { Err("a registration number is 3 to 32 letters, digits, '-', '/' or '.'") }
}

fn check_languages(langs: Vec<String>) -> Result<Vec<String>, &'static str> {
    let mut out: Vec<String> = Vec::new();
    for l in langs {
        let l = l.trim().to_lowercase();
        if !(2..=32).contains(&l.len()) || !l.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
            return Err("each language is a code or name of 2 to 32 letters, e.g. `hi`");
        }
        if !out.contains(&l) {
            out.push(l);
        }
    }
    if out.len() > 20 { Err("at most 20 languages") } else { Ok(out) }
}

#[utoipa::path(post, path = "/api/v1/providers", tag = "providers", request_body = CreateProvider,
    responses((status = 201, body = Provider), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem, description = "`username_taken` or `duplicate_registration`"), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(registry): State<Registry>,
    user: AuthUser,
    ApiJson(req): ApiJson<CreateProvider>,
) -> ApiResult<(StatusCode, Json<Provider>)> {
    user.require(Role::Admin)?;
    let mut v = Violations::new();
    let name = v.check("name", required_text(req.name.as_deref(), 2, 100));
    let role = v.check("role", req.role.as_deref().filter(|r| ["doctor", "pharmacist"].contains(r)).ok_or("role is doctor or pharmacist"));
    let registration =
        v.check("registration_number", req.registration_number.as_deref().map(check_registration_number).unwrap_or(Err("is required")));
    let council = v.check("council", required_text(req.council.as_deref(), 2, 100));
    let speciality = v.check("speciality", optional_text(req.speciality.as_deref(), 100)).flatten();
    let qualification = v.check("qualification", optional_text(req.qualification.as_deref(), 100)).flatten();
    let languages = v.check("languages", check_languages(req.languages.unwrap_or_default())).unwrap_or_default();
    let username = v.check("username", req.username.as_deref().map(check_username).unwrap_or(Err("is required")));
    let password = match req.password {
        Some(p) => v.check("password", check_password(p.expose_secret())).map(|_| p),
        None => v.check("password", Err("is required")),
    };
    let mut facility_ids: Vec<FacilityId> = Vec::new();
    match req.facility_ids {
        Some(ids) if !ids.is_empty() && ids.len() <= 20 => {
            for (i, raw) in ids.iter().enumerate() {
                if let Some(id) = v.check(&format!("facility_ids[{i}]"), FacilityId::parse(raw))
                    && !facility_ids.contains(&id)
                {
                    facility_ids.push(id);
                }
            }
        }
        _ => v.add("facility_ids", "name 1 to 20 registered facilities"),
    }
    v.finish()?;
    let (Some(name), Some(role), Some(registration), Some(council), Some(username), Some(password)) =
        (name, role, registration, council, username, password)
    else {
        return Err(ApiError::unprocessable("validation_failed", "The professional is incomplete."));
    };

    let mut kinds = Vec::new();
    for id in &facility_ids {
        let kind: Option<String> =
            sqlx::query_scalar("SELECT kind FROM facilities WHERE id = $1").bind(id.as_str()).fetch_optional(registry.db.reader()).await?;
        match kind {
            Some(kind) => kinds.push(kind),
            None => return Err(ApiError::field("facility_ids", format!("{} is not a registered facility", id.as_str()))),
        }
    }
    if role == "pharmacist" && !kinds.iter().any(|k| k == "pharmacy") {
        return Err(ApiError::field("facility_ids", "a pharmacist must belong to at least one pharmacy"));
    }
    let password_hash = registry.passwords.hash(password).await?;

    let mut tx = registry.db.begin().await?;
    let taken: Option<String> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE username = $1").bind(&username).fetch_optional(&mut *tx).await?;
    if taken.is_some() {
        return Err(ApiError::conflict("username_taken", "This username is taken."));
    }
    // Councils are named in any letter case; one registration is one professional.
    let dup: Option<String> = sqlx::query_scalar("SELECT id FROM providers WHERE LOWER(council) = LOWER($1) AND registration_number = $2")
        .bind(&council)
        .bind(&registration)
        .fetch_optional(&mut *tx)
        .await?;
    if dup.is_some() {
        return Err(ApiError::conflict("duplicate_registration", "This council registration number is already registered."));
    }
    let id = loop {
        let candidate = ProviderId::generate();
        let exists: Option<String> =
            sqlx::query_scalar("SELECT id FROM providers WHERE id = $1").bind(candidate.as_str()).fetch_optional(&mut *tx).await?;
        if exists.is_none() {
            break candidate;
        }
    };
    let account_id = uuid::Uuid::now_v7().to_string();
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO accounts (id, role, username, password_hash, status, subject_id, display_name, created_at) VALUES ($1, $2, $3, $4, 'active', $5, $6, $7)",
    )
    .bind(&account_id)
    .bind(role)
    .bind(&username)
    .bind(&password_hash)
    .bind(id.as_str())
    .bind(&name)
    .bind(now)
    .execute(&mut *tx)
    .await;
    if let Err(err) = inserted {
        return Err(if unique_violation(&err).is_some() {
            ApiError::conflict("username_taken", "This username is taken.")
        } else {
            err.into()
        });
    }
    let inserted = sqlx::query(
        "INSERT INTO providers (id, account_id, name, role, registration_number, council, speciality, qualification, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'verified', $9)",
    )
    .bind(id.as_str())
    .bind(&account_id)
    .bind(&name)
    .bind(role)
    .bind(&registration)
    .bind(&council)
    .bind(&speciality)
    .bind(&qualification)
    .bind(now)
    .execute(&mut *tx)
    .await;
    if let Err(err) = inserted {
        return Err(if unique_violation(&err).is_some() {
            ApiError::conflict("duplicate_registration", "This council registration number is already registered.")
        } else {
            err.into()
        });
    }
    for f in &facility_ids {
        sqlx::query("INSERT INTO provider_facilities (provider_id, facility_id) VALUES ($1, $2)")
            .bind(id.as_str())
            .bind(f.as_str())
            .execute(&mut *tx)
            .await?;
    }
    for l in &languages {
        sqlx::query("INSERT INTO provider_languages (provider_id, language) VALUES ($1, $2)")
            .bind(id.as_str())
            .bind(l)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(&mut tx, &AuditEvent::new(Some(Actor::from(&user)), "provider.create", "provider", Some(id.as_str().to_owned()))).await?;
    tx.commit().await?;
    tracing::info!(provider.role = role, "provider registered");
    let provider = load(registry.db.writer(), id.as_str()).await?.ok_or_else(|| ApiError::internal("created provider missing"))?;
    Ok((StatusCode::CREATED, Json(provider)))
}

/// Verifies or suspends. Suspension ends every session of the provider at once.
#[utoipa::path(patch, path = "/api/v1/providers/{provider_id}", tag = "providers", request_body = UpdateProvider,
    params(("provider_id" = String, Path)),
    responses((status = 200, body = Provider), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn update(
    State(registry): State<Registry>,
    user: AuthUser,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<UpdateProvider>,
) -> ApiResult<Json<Provider>> {
    user.require(Role::Admin)?;
    let id = ProviderId::parse(&raw).map_err(|_| ApiError::not_found())?;
    let (status, account_status) = match req.status.as_str() {
        "verified" => ("verified", "active"),
        "suspended" => ("suspended", "suspended"),
        _ => return Err(ApiError::field("status", "status is verified or suspended")),
    };
    let mut tx = registry.db.begin().await?;
    let account_id: Option<String> =
        sqlx::query_scalar("SELECT account_id FROM providers WHERE id = $1").bind(id.as_str()).fetch_optional(&mut *tx).await?;
    let account_id = account_id.ok_or_else(ApiError::not_found)?;
    sqlx::query("UPDATE providers SET status = $1 WHERE id = $2").bind(status).bind(id.as_str()).execute(&mut *tx).await?;
    sqlx::query("UPDATE accounts SET status = $1 WHERE id = $2").bind(account_status).bind(&account_id).execute(&mut *tx).await?;
    if status == "suspended" {
        sqlx::query("UPDATE sessions SET revoked_at = $1, revoke_reason = 'suspended' WHERE account_id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(&account_id)
            .execute(&mut *tx)
            .await?;
    }
    let action = if status == "suspended" { "provider.suspend" } else { "provider.verify" };
    audit::record(&mut tx, &AuditEvent::new(Some(Actor::from(&user)), action, "provider", Some(id.as_str().to_owned()))).await?;
    tx.commit().await?;
    load(registry.db.writer(), id.as_str()).await?.map(Json).ok_or_else(ApiError::not_found)
}

/// Public: a verified professional (admins also see suspended ones).
#[utoipa::path(get, path = "/api/v1/providers/{provider_id}", tag = "providers", params(("provider_id" = String, Path)),
    responses((status = 200, body = Provider), (status = 404, body = crate::error::Problem)))]
pub async fn get_one(
    State(registry): State<Registry>,
    MaybeAuthUser(user): MaybeAuthUser,
    Path(raw): Path<String>,
) -> ApiResult<Json<Provider>> {
    let id = ProviderId::parse(&raw).map_err(|_| ApiError::not_found())?;
    let provider = load(registry.db.reader(), id.as_str()).await?.ok_or_else(ApiError::not_found)?;
    let admin = user.is_some_and(|u| u.role == Role::Admin);
    if provider.status != "verified" && !admin {
        return Err(ApiError::not_found());
    }
    Ok(Json(provider))
}

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ProviderQuery {
    /// `doctor` or `pharmacist`.
    pub role: Option<String>,
    /// Case-insensitive.
    pub speciality: Option<String>,
    pub facility_id: Option<String>,
    pub language: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Public: verified professionals only; never usernames or passwords.
#[utoipa::path(get, path = "/api/v1/providers", tag = "providers", params(ProviderQuery),
    responses((status = 200, body = inline(ListResponse<Provider>)), (status = 422, body = crate::error::Problem)))]
pub async fn list(State(registry): State<Registry>, ApiQuery(q): ApiQuery<ProviderQuery>) -> ApiResult<Json<ListResponse<Provider>>> {
    let mut v = Violations::new();
    let limit = v.check("limit", page::limit(q.limit).map_err(|_| "limit is between 1 and 200"));
    let cursor = v.check("cursor", page::decode_cursor(q.cursor.as_deref()).map_err(|_| "not a cursor this service issued")).flatten();
    if q.role.as_deref().is_some_and(|r| !["doctor", "pharmacist"].contains(&r)) {
        v.add("role", "role is doctor or pharmacist");
    }
    let facility = q.facility_id.as_deref().and_then(|f| v.check("facility_id", FacilityId::parse(f)));
    v.finish()?;
    let limit = limit.unwrap_or(page::DEFAULT_LIMIT);

    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM providers p WHERE p.status = 'verified'"));
    if let Some(role) = q.role {
        let p = sql.arg(Arg::Text(role));
        sql.push(&format!(" AND p.role = {p}"));
    }
    if let Some(speciality) = q.speciality.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let p = sql.arg(Arg::Text(speciality.to_lowercase()));
        sql.push(&format!(" AND LOWER(p.speciality) = {p}"));
    }
    if let Some(f) = facility {
        let p = sql.arg(Arg::Text(f.as_str().to_owned()));
        sql.push(&format!(" AND EXISTS (SELECT 1 FROM provider_facilities pf WHERE pf.provider_id = p.id AND pf.facility_id = {p})"));
    }
    if let Some(lang) = q.language.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let p = sql.arg(Arg::Text(lang.to_lowercase()));
        sql.push(&format!(" AND EXISTS (SELECT 1 FROM provider_languages pl WHERE pl.provider_id = p.id AND pl.language = {p})"));
    }
    if let Some(after) = cursor {
        let p = sql.arg(Arg::Text(after));
        sql.push(&format!(" AND p.id > {p}"));
    }
    let p = sql.arg(Arg::Int(i64::from(limit) + 1));
    sql.push(&format!(" ORDER BY p.id LIMIT {p}"));
    let rows: Vec<ProviderRow> = sql.fetch_all(registry.db.reader()).await?;
    let page = page::paginate(rows, limit, |r| r.id.clone());
    let mut items = Vec::with_capacity(page.items.len());
    for row in page.items {
        items.push(with_links(registry.db.reader(), row).await?);
    }
    Ok(Json(ListResponse { items, next_cursor: page.next_cursor }))
}

async fn load(pool: &sqlx::AnyPool, id: &str) -> Result<Option<Provider>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM providers p WHERE p.id = $1");
    let row: Option<ProviderRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?;
    match row {
        Some(row) => Ok(Some(with_links(pool, row).await?)),
        None => Ok(None),
    }
}

async fn with_links(pool: &sqlx::AnyPool, r: ProviderRow) -> Result<Provider, sqlx::Error> {
    let facility_ids: Vec<String> =
        sqlx::query_scalar("SELECT facility_id FROM provider_facilities WHERE provider_id = $1 ORDER BY facility_id")
            .bind(&r.id)
            .fetch_all(pool)
            .await?;
    let languages: Vec<String> = sqlx::query_scalar("SELECT language FROM provider_languages WHERE provider_id = $1 ORDER BY language")
        .bind(&r.id)
        .fetch_all(pool)
        .await?;
    Ok(Provider {
        provider_id: r.id,
        name: r.name,
        role: r.role,
        registration_number: r.registration_number,
        council: r.council,
        speciality: r.speciality,
        qualification: r.qualification,
        facility_ids,
        languages,
        status: r.status,
        created_at: rfc3339(r.created_at),
    })
}
