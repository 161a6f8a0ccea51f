//! Minting and checking JWTs: access and refresh tokens for the API, and other audiences (room tokens) for other crates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, Header, Validation, decode, encode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::keys::SigningKeys;

pub const ISSUER: &str = "vaidya";
pub const API_AUDIENCE: &str = "vaidya-api";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Access,
    Refresh,
}

/// Claims of access and refresh tokens. `sid` names the session (the refresh family) that must still be live.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The account id.
    pub sub: String,
    pub role: String,
    pub sid: String,
    pub typ: TokenKind,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Clone)]
pub struct TokenService {
    keys: SigningKeys,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    /// Access tokens whose signature already verified. A signature check gives the same answer every time, so
    /// only expiry is re-checked; whether the session is still live is asked of the database on every request.
    verified: Arc<Mutex<HashMap<String, Claims>>>,
}

/// Verified access tokens remembered at most (then the memory starts afresh).
const VERIFIED_CACHE: usize = 50_000;

impl TokenService {
    pub fn new(keys: SigningKeys, access_ttl_secs: i64, refresh_ttl_secs: i64) -> Self {
        Self { keys, access_ttl_secs, refresh_ttl_secs, verified: Arc::default() }
    }

    pub fn keys(&self) -> &SigningKeys {
        &self.keys
    }

    /// Signs any claims set with the service key (EdDSA).
    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.keys.kid.clone());
        encode(&header, claims, &self.keys.encoding).expect("signing with a valid Ed25519 key cannot fail")
    }

    /// Checks signature, algorithm (EdDSA only), issuer, audience and expiry, then decodes the claims.
    pub fn verify<T: DeserializeOwned>(&self, token: &str, audience: &str) -> Option<T> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        decode::<T>(token, &self.keys.decoding, &validation).ok().map(|data| data.claims)
    }

    pub fn mint(&self, account_id: &str, role: &str, session_id: &str, kind: TokenKind, jti: &str) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let ttl = match kind {
            TokenKind::Access => self.access_ttl_secs,
            TokenKind::Refresh => self.refresh_ttl_secs,
        };
        self.sign(&Claims {
            iss: ISSUER.into(),
            aud: API_AUDIENCE.into(),
            sub: account_id.into(),
            role: role.into(),
            sid: session_id.into(),
            typ: kind,
            iat: now,
            exp: now + ttl,
            jti: jti.into(),
        })
    }

    /// Verifies an API token of the expected kind; a refresh token is never an access token and vice versa.
    pub fn verify_api(&self, token: &str, kind: TokenKind) -> Option<Claims> {
        if kind == TokenKind::Access {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            if let Some(claims) = self.verified.lock().expect("token cache lock").get(token) {
                return (claims.exp > now).then(|| claims.clone());
            }
        }
        let claims = self.verify::<Claims>(token, API_AUDIENCE).filter(|c| c.typ == kind)?;
        if kind == TokenKind::Access {
            let mut cache = self.verified.lock().expect("token cache lock");
            if cache.len() >= VERIFIED_CACHE {
                cache.clear();
            }
            cache.insert(token.to_owned(), claims.clone());
        }
        Some(claims)
    }
}
