//! Room tokens: short-lived JWTs minted by the consult service naming the room, the participant, their role and name.
//! Signalling trusts them and nothing else.

use serde::{Deserialize, Serialize};
use vaidya_registry::auth::TokenService;
use vaidya_registry::auth::tokens::ISSUER;

pub const ROOM_AUDIENCE: &str = "vaidya-signal";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomClaims {
    pub iss: String,
    pub aud: String,
    /// The participant's stable identity (their account id): a second join with it replaces the first socket.
    pub sub: String,
    pub room: String,
    /// `doctor` hosts (admitted at once, may admit and end); anyone else waits in the lobby.
    pub role: String,
    pub name: String,
    pub iat: i64,
    pub exp: i64,
}

impl RoomClaims {
    pub fn is_host(&self) -> bool {
        self.role == "doctor"
    }
}

/// Mints a room token valid for `ttl_secs`.
pub fn mint(tokens: &TokenService, room: &str, participant: &str, role: &str, name: &str, ttl_secs: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    tokens.sign(&RoomClaims {
        iss: ISSUER.into(),
        aud: ROOM_AUDIENCE.into(),
        sub: participant.into(),
        room: room.into(),
        role: role.into(),
        name: name.into(),
        iat: now,
        exp: now + ttl_secs,
    })
}

/// Verifies signature, algorithm, issuer, audience (an API token is not a room token) and expiry.
pub fn verify(tokens: &TokenService, token: &str) -> Option<RoomClaims> {
    tokens.verify::<RoomClaims>(token, ROOM_AUDIENCE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vaidya_registry::auth::{SigningKeys, TokenKind};

    fn service() -> TokenService {
        TokenService::new(SigningKeys::from_seed(&[3u8; 32]), 900, 3600)
    }

    #[test]
    fn round_trip_and_audience_separation() {
        let t = service();
        let token = mint(&t, "room-1", "acct-1", "patient", "Asha", 600);
        let claims = verify(&t, &token).unwrap();
        assert_eq!((claims.room.as_str(), claims.role.as_str(), claims.is_host()), ("room-1", "patient", false));
        let api = t.mint("acct-1", "patient", "sid", TokenKind::Access, "jti");
        assert!(verify(&t, &api).is_none(), "an API token is not a room token");
        assert!(t.verify_api(&token, TokenKind::Access).is_none(), "a room token is not an API token");
    }

    #[test]
    fn expired_and_foreign_tokens_fail() {
        let t = service();
        assert!(verify(&t, &mint(&t, "r", "a", "doctor", "D", -120)).is_none());
        let other = TokenService::new(SigningKeys::from_seed(&[4u8; 32]), 900, 3600);
        assert!(verify(&t, &mint(&other, "r", "a", "doctor", "D", 600)).is_none());
    }
}
