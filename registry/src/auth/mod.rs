//! Accounts and authentication: EdDSA-signed JWTs, sessions that can be revoked at once, login throttling.

pub mod caller;
pub mod extract;
pub mod handlers;
pub mod keys;
pub mod password;
pub mod throttle;
pub mod tokens;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use caller::{Caller, Me, SessionCheck};
pub use extract::{AuthUser, MaybeAuthUser};
pub use keys::SigningKeys;
pub use password::Passwords;
pub use throttle::LoginThrottle;
pub use tokens::{Claims, TokenKind, TokenService};

/// Who an account is in the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Patient,
    Doctor,
    Pharmacist,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Doctor => "doctor",
            Self::Pharmacist => "pharmacist",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "patient" => Some(Self::Patient),
            "doctor" => Some(Self::Doctor),
            "pharmacist" => Some(Self::Pharmacist),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}
