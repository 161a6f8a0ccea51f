//! Server secrets kept in the database so every node shares them: the token signing key and the Aadhaar hash key.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{DecodingKey, EncodingKey};
use rand::RngCore;
use rand::rngs::OsRng;

use crate::db::{Db, now_ms};

/// Returns the named secret, creating it with `make` if no node has yet. Racing nodes agree on the first insert.
pub async fn load_or_create_secret(db: &Db, name: &str, make: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>, sqlx::Error> {
    let fresh = STANDARD.encode(make());
    sqlx::query("INSERT INTO server_keys (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(&fresh)
        .bind(now_ms())
        .execute(db.writer())
        .await?;
    let stored: String = sqlx::query_scalar("SELECT value FROM server_keys WHERE name = $1").bind(name).fetch_one(db.writer()).await?;
    STANDARD.decode(stored).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    OsRng.fill_bytes(&mut out);
    out
}

/// An Ed25519 key pair usable by jsonwebtoken and for detached signatures.
#[derive(Clone)]
pub struct SigningKeys {
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    pub signing: SigningKey,
    /// Key id: a short fingerprint of the public key, put in every JWS header.
    pub kid: String,
}

impl SigningKeys {
    pub fn from_seed(seed: &[u8]) -> Self {
        let seed: [u8; 32] = seed.try_into().expect("an Ed25519 seed is 32 bytes");
        let signing = SigningKey::from_bytes(&seed);
        let der = signing.to_pkcs8_der().expect("PKCS#8 encoding of an Ed25519 key");
        let public = signing.verifying_key().to_bytes();
        let kid = URL_SAFE_NO_PAD.encode(&sha2_digest(&public)[..12]);
        Self { encoding: EncodingKey::from_ed_der(der.as_bytes()), decoding: DecodingKey::from_ed_der(&public), signing, kid }
    }

    /// Loads the named signing key from the database, creating it on first start.
    pub async fn load(db: &Db, name: &str) -> Result<Self, sqlx::Error> {
        let seed = load_or_create_secret(db, name, || random_bytes(32)).await?;
        Ok(Self::from_seed(&seed))
    }

    /// The public key as a JWK (`OKP`/`Ed25519`), for publishing.
    pub fn public_jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(self.signing.verifying_key().to_bytes()),
        })
    }
}

fn sha2_digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}
