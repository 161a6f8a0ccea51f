//! ICE servers for `joined`: STUN as configured, TURN with time-limited credentials (the TURN REST scheme:
//! username `EXPIRY:PEER`, credential base64(HMAC-SHA1(secret, username))), fresh on every join.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// What the deployment configured.
#[derive(Clone, Debug, Default)]
pub struct IceConfig {
    pub stun_urls: Vec<String>,
    pub turn_urls: Vec<String>,
    /// Shared with the TURN server (coturn's `static-auth-secret`).
    pub turn_secret: Option<String>,
    pub turn_ttl_secs: i64,
}

impl IceConfig {
    /// The list for one peer at `now` (Unix seconds).
    pub fn servers_for(&self, peer_id: &str, now: i64) -> Vec<IceServer> {
        let mut out = Vec::new();
        if !self.stun_urls.is_empty() {
            out.push(IceServer { urls: self.stun_urls.clone(), username: None, credential: None });
        }
        if let (false, Some(secret)) = (self.turn_urls.is_empty(), &self.turn_secret) {
            let username = format!("{}:{peer_id}", now + self.turn_ttl_secs.max(60));
            out.push(IceServer {
                urls: self.turn_urls.clone(),
                credential: Some(turn_credential(secret, &username)),
                username: Some(username),
            });
        }
        out
    }
}

/// base64(HMAC-SHA1(secret, username)), as TURN servers check it.
pub fn turn_credential(secret: &str, username: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_matches_rfc2202_vector() {
        // RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?".
        let expected = STANDARD.encode(hex_bytes("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"));
        assert_eq!(turn_credential("Jefe", "what do ya want for nothing?"), expected);
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn turn_entries_expire_and_name_the_peer() {
        let config = IceConfig {
            stun_urls: vec!["stun:stun.example.org:3478".into()],
            turn_urls: vec!["turn:turn.example.org:3478?transport=udp".into()],
            turn_secret: Some("s3cret".into()),
            turn_ttl_secs: 3600,
        };
        let servers = config.servers_for("peer-1", 1_000);
        assert_eq!(servers.len(), 2);
        assert!(servers[0].username.is_none());
        let turn = &servers[1];
        assert_eq!(turn.username.as_deref(), Some("4600:peer-1"));
        assert_eq!(turn.credential.as_deref(), Some(turn_credential("s3cret", "4600:peer-1").as_str()));
    }

    #[test]
    fn no_turn_without_a_secret() {
        let config = IceConfig { turn_urls: vec!["turn:x".into()], ..IceConfig::default() };
        assert!(config.servers_for("p", 0).is_empty());
    }
}
