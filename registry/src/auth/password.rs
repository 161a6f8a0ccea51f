//! Password hashing with Argon2id on the blocking pool, a bounded number at a time, so logins never stall the async workers.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Verified against when the account does not exist, so the answer takes as long either way.
    dummy_hash: Arc<String>,
}

impl Passwords {
    pub fn new(concurrency: usize) -> Self {
        let dummy_hash = hash_blocking(&SecretString::from("not-a-real-password")).expect("hashing a constant");
        Self { permits: Arc::new(Semaphore::new(concurrency.max(1))), dummy_hash: Arc::new(dummy_hash) }
    }

    pub async fn hash(&self, password: SecretString) -> ApiResult<String> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || hash_blocking(&password)).await.map_err(ApiError::internal)?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no account.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> ApiResult<bool> {
        let exists = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy_hash.as_ref().clone());
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&stored)
                .map(|parsed| Argon2::default().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .map_err(ApiError::internal)?;
        Ok(ok && exists)
    }
}

fn hash_blocking(password: &SecretString) -> ApiResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.expose_secret().as_bytes(), &salt).map(|h| h.to_string()).map_err(ApiError::internal)
}

/// Password rules for every account: 8 to 128 characters.
pub fn check_password(password: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < 8 {
        Err("a password has at least 8 characters")
    } else if n > 128 {
        Err("a password has at most 128 characters")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let p = Passwords::new(1);
        let h = p.hash(SecretString::from("correct horse")).await.unwrap();
        assert!(p.verify(SecretString::from("correct horse"), Some(h.clone())).await.unwrap());
        assert!(!p.verify(SecretString::from("wrong horse"), Some(h)).await.unwrap());
        assert!(!p.verify(SecretString::from("not-a-real-password"), None).await.unwrap());
    }
}
