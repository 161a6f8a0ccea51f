//! The `/ws/signal` wire protocol: JSON text frames, one object each, tagged by `type`.

use serde::{Deserialize, Serialize};

use crate::ice::IceServer;

/// Largest frame accepted from a client; larger ones close the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// The first frame must be `join` within this many seconds, else close 4401.
pub const JOIN_TIMEOUT_SECS: u64 = 5;
/// A dropped peer may resume within this many seconds.
pub const RESUME_WINDOW_SECS: u64 = 30;
/// Close code for a missing, late or unacceptable `join`.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub peer_id: String,
    pub last_seq: u64,
}

/// An ICE candidate as browsers produce it (`RTCIceCandidateInit`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub candidate: String,
    #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(rename = "sdpMLineIndex", default, skip_serializing_if = "Option::is_none")]
    pub sdp_m_line_index: Option<u16>,
    #[serde(rename = "usernameFragment", default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// Client → server. Unknown fields (a forged `from`, say) are ignored: the server stamps senders itself.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    Join {
        token: String,
        #[serde(default)]
        resume: Option<Resume>,
    },
    Offer {
        to: String,
        sdp: String,
    },
    Answer {
        to: String,
        sdp: String,
    },
    Candidate {
        to: String,
        candidate: Candidate,
    },
    Chat {
        text: String,
    },
    Leave {},
    Ping {},
    /// Doctor only: let a waiting peer into the call.
    Admit {
        peer_id: String,
    },
    /// Doctor only: end the consult for everyone.
    End {},
}

/// A participant as others see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    pub peer_id: String,
    pub role: String,
    pub name: String,
    /// In the call (true) or still in the lobby: hosts see both, and a page must not offer to a peer that waits.
    #[serde(default)]
    pub admitted: bool,
}

/// Server → client. Every frame is sent as `{"seq": N, "type": ..., ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Joined {
        peer_id: String,
        role: String,
        room: String,
        peers: Vec<PeerInfo>,
        ice_servers: Vec<IceServer>,
        polite: bool,
        /// Whether this peer is already in the call; when false, `waiting` follows.
        #[serde(default)]
        admitted: bool,
    },
    Waiting {},
    Admitted {},
    PeerJoined {
        peer: PeerInfo,
    },
    PeerLeft {
        peer_id: String,
        reason: String,
    },
    Offer {
        from: String,
        sdp: String,
    },
    Answer {
        from: String,
        sdp: String,
    },
    Candidate {
        from: String,
        candidate: Candidate,
    },
    Chat {
        from: String,
        text: String,
        at: String,
    },
    Ended {
        reason: String,
    },
    Error {
        code: String,
        message: String,
    },
    Pong {},
}

impl ServerMsg {
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        Self::Error { code: code.to_owned(), message: message.into() }
    }
}

/// A server message with its per-room sequence number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stamped {
    pub seq: u64,
    #[serde(flatten)]
    pub msg: ServerMsg,
}

/// Why a client frame was refused without closing the socket.
#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON, or not an object of a known `type` and shape.
    Invalid(String),
    UnknownType(String),
}

/// Parses one text frame.
pub fn parse(frame: &str) -> Result<ClientMsg, ParseError> {
    let value: serde_json::Value = serde_json::from_str(frame).map_err(|_| ParseError::Invalid("the frame is not valid JSON".into()))?;
    let kind = value.get("type").and_then(|t| t.as_str()).map(str::to_owned);
    match serde_json::from_value::<ClientMsg>(value) {
        Ok(msg) => Ok(msg),
        Err(err) => match kind {
            Some(k) if !KNOWN_TYPES.contains(&k.as_str()) => Err(ParseError::UnknownType(k.chars().take(32).collect())),
            Some(k) => Err(ParseError::Invalid(format!("`{k}` frame: {}", first_line(&err.to_string())))),
            None => Err(ParseError::Invalid("a frame is an object with a `type`".into())),
        },
    }
}

const KNOWN_TYPES: [&str; 9] = ["join", "offer", "answer", "candidate", "chat", "leave", "ping", "admit", "end"];

fn first_line(s: &str) -> String {
    s.split(" at line").next().unwrap_or(s).chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_client_type() {
        let cases = [
            (r#"{"type":"join","token":"t"}"#, ClientMsg::Join { token: "t".into(), resume: None }),
            (
                r#"{"type":"join","token":"t","resume":{"peer_id":"p","last_seq":4}}"#,
                ClientMsg::Join { token: "t".into(), resume: Some(Resume { peer_id: "p".into(), last_seq: 4 }) },
            ),
            (r#"{"type":"offer","to":"p","sdp":"v=0"}"#, ClientMsg::Offer { to: "p".into(), sdp: "v=0".into() }),
            (r#"{"type":"answer","to":"p","sdp":"v=0"}"#, ClientMsg::Answer { to: "p".into(), sdp: "v=0".into() }),
            (r#"{"type":"chat","text":"hi"}"#, ClientMsg::Chat { text: "hi".into() }),
            (r#"{"type":"leave"}"#, ClientMsg::Leave {}),
            (r#"{"type":"ping"}"#, ClientMsg::Ping {}),
            (r#"{"type":"admit","peer_id":"p"}"#, ClientMsg::Admit { peer_id: "p".into() }),
            (r#"{"type":"end"}"#, ClientMsg::End {}),
        ];
        for (frame, expected) in cases {
            assert_eq!(parse(frame).unwrap(), expected, "{frame}");
        }
        let c = parse(
            r#"{"type":"candidate","to":"p","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}"#,
        );
        assert!(matches!(c, Ok(ClientMsg::Candidate { .. })));
    }

    #[test]
    fn forged_from_is_ignored() {
        let msg = parse(r#"{"type":"chat","text":"hi","from":"someone-else"}"#).unwrap();
        assert_eq!(msg, ClientMsg::Chat { text: "hi".into() });
    }

    #[test]
    fn refuses_bad_frames() {
        assert!(matches!(parse("not json"), Err(ParseError::Invalid(_))));
        assert!(matches!(parse("[1]"), Err(ParseError::Invalid(_))));
        assert!(matches!(parse(r#"{"type":"offer"}"#), Err(ParseError::Invalid(_))));
        assert_eq!(parse(r#"{"type":"teleport"}"#), Err(ParseError::UnknownType("teleport".into())));
    }

    #[test]
    fn stamped_messages_flatten_seq_and_type() {
        let s = Stamped { seq: 7, msg: ServerMsg::Chat { from: "a".into(), text: "hi".into(), at: "2026-11-25T10:00:00Z".into() } };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v, serde_json::json!({"seq": 7, "type": "chat", "from": "a", "text": "hi", "at": "2026-11-25T10:00:00Z"}));
        let back: Stamped = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}
