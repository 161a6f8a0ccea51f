//! Operator accounts: the admin created at start from configuration.

use secrecy::SecretString;

use crate::audit::{self, Actor, AuditEvent};
use crate::auth::password::check_password;
use crate::db::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::state::Registry;

/// Creates the admin `username` unless an account of that name exists. Returns whether one was created.
pub async fn ensure_admin(registry: &Registry, username: &str, password: SecretString) -> ApiResult<bool> {
    use secrecy::ExposeSecret;
    let username = username.trim().to_lowercase();
    if username.len() < 3 || username.contains('@') {
        return Err(ApiError::field("admin_username", "an admin username has at least 3 characters and no '@'"));
    }
    check_password(password.expose_secret()).map_err(|m| ApiError::field("admin_password", m))?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE username = $1").bind(&username).fetch_optional(registry.db.writer()).await?;
    if exists.is_some() {
        return Ok(false);
    }
    let hash = registry.passwords.hash(password).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let mut tx = registry.db.begin().await?;
    sqlx::query(
        "INSERT INTO accounts (id, role, username, password_hash, status, subject_id, display_name, created_at) \
         VALUES ($1, 'admin', $2, $3, 'active', $1, $2, $4) ON CONFLICT (username) DO NOTHING",
    )
    .bind(&id)
    .bind(&username)
    .bind(&hash)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let actor = Actor { id: id.clone(), role: "admin".into(), name: username.clone() };
    audit::record(&mut tx, &AuditEvent::new(Some(actor), "admin.bootstrap", "account", Some(id))).await?;
    tx.commit().await?;
    Ok(true)
}
