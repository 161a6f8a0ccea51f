//! WebSocket clients of the signalling servers: connecting and joining (vaidya) or registering (PeerJS and the floor
//! relay, which speaks PeerJS's protocol), and the relayed message, which carries its send time so the receiving end (in this same process) can time it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use vaidya_registry::auth::TokenService;

use crate::http::Error;
use crate::rxstamp::Stamped;

pub type Ws = WebSocketStream<Stamped>;

/// Longest wait for a connection, an upgrade or the server's first answer.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Marks the send time inside a relayed message; nothing else the servers send contains it.
const MARK: &str = "v=0 bench-ts=";
/// Lifetime of the room tokens the bench mints.
const TOKEN_TTL_SECS: i64 = 3600;

/// Which server a client speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Vaidya,
    PeerJs,
    /// The bare relay of [`crate::floor`].
    Floor,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Vaidya => "vaidya",
            Self::PeerJs => "PeerJS",
            Self::Floor => "floor",
        }
    }

    /// A relayed signal addressed to `to`, stamped with `sent_ns`, padded with `pad`.
    pub fn frame(self, to: &str, sent_ns: u64, pad: &str) -> String {
        match self {
            Self::Vaidya => format!(r#"{{"type":"offer","to":"{to}","sdp":"{MARK}{sent_ns};{pad}"}}"#),
            Self::PeerJs | Self::Floor => format!(r#"{{"type":"OFFER","dst":"{to}","payload":{{"sdp":"{MARK}{sent_ns};{pad}"}}}}"#),
        }
    }

    /// Whether a frame that is not a relayed signal reports a failure.
    pub fn is_error(self, text: &str) -> bool {
        match self {
            Self::Vaidya => text.contains(r#""type":"error""#),
            Self::PeerJs | Self::Floor => ["\"ERROR\"", "\"EXPIRE\"", "\"LEAVE\"", "\"ID-TAKEN\""].iter().any(|t| text.contains(t)),
        }
    }
}

/// The send time carried by a relayed signal, if `text` is one.
pub fn stamp(text: &str) -> Option<u64> {
    let rest = &text[text.find(MARK)? + MARK.len()..];
    rest[..rest.find(';')?].parse().ok()
}

/// Nanoseconds on the realtime clock: the clock the kernel stamps received bytes with ([`crate::rxstamp`]).
pub fn now_ns() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Small buffers, so ten thousand client sockets cost the bench little memory.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(Some(256 * 1024))
        .max_frame_size(Some(256 * 1024))
}

async fn connect(addr: SocketAddr, path: &str) -> Result<Ws, Error> {
    let attempt = async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let stream = Stamped::new(tcp)?;
        let (ws, _) = tokio_tungstenite::client_async_with_config(format!("ws://{addr}{path}"), stream, Some(config())).await?;
        Ok::<_, Error>(ws)
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, attempt)
        .await
        .map_err(|_| format!("no WebSocket upgrade from {addr} within {HANDSHAKE_TIMEOUT:?}"))?
}

/// Reads until a text frame satisfies `done` (returning it), failing on close or timeout.
async fn read_until(ws: &mut Ws, what: &str, done: impl Fn(&serde_json::Value) -> bool) -> Result<serde_json::Value, Error> {
    let wait = async {
        while let Some(frame) = ws.next().await {
            if let Message::Text(text) = frame? {
                let value: serde_json::Value = serde_json::from_str(text.as_str())?;
                if done(&value) {
                    return Ok(value);
                }
                if value["type"] == "error" || value["type"] == "ERROR" || value["type"] == "ID-TAKEN" {
                    return Err(format!("waiting for {what}, got {text}").into());
                }
            }
        }
        Err::<_, Error>(format!("the socket closed while waiting for {what}").into())
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, wait).await.map_err(|_| format!("no {what} within {HANDSHAKE_TIMEOUT:?}"))?
}

/// A vaidya server (or one node of several sharing Redis) and the key its room tokens are signed with.
#[derive(Clone)]
pub struct Vaidya {
    pub addr: SocketAddr,
    pub tokens: Arc<TokenService>,
}

impl Vaidya {
    /// Joins `room` as a doctor named `who` (admitted at once); returns the socket and the peer id the server gave.
    pub async fn join(&self, room: &str, who: &str) -> Result<(Ws, String), Error> {
        let token = vaidya_signaling::token::mint(&self.tokens, room, who, "doctor", who, TOKEN_TTL_SECS);
        let mut ws = connect(self.addr, "/ws/signal").await?;
        ws.send(Message::text(serde_json::json!({"type": "join", "token": token}).to_string())).await?;
        let joined = read_until(&mut ws, "joined", |v| v["type"] == "joined").await?;
        let peer_id = joined["peer_id"].as_str().ok_or("`joined` without a peer_id")?.to_owned();
        Ok((ws, peer_id))
    }
}

/// Registers `id` with a PeerJS server (key `peerjs`) and waits for its `OPEN`.
pub async fn peerjs_open(addr: SocketAddr, id: &str) -> Result<Ws, Error> {
    let mut ws = connect(addr, &format!("/peerjs?key=peerjs&id={id}&token=t{id}")).await?;
    read_until(&mut ws, "OPEN", |v| v["type"] == "OPEN").await?;
    Ok(ws)
}

/// Where the sockets of one workload go: vaidya (sender and receiver possibly on different nodes), or a server that
/// speaks PeerJS's protocol (`kind` PeerJS or the floor relay).
#[derive(Clone)]
pub enum Endpoints {
    Vaidya { sender: Vaidya, receiver: Vaidya },
    PeerJs { addr: SocketAddr, kind: Kind },
}

/// One sender and one receiver, already joined; the sender addresses its messages to `to`.
pub struct Pair {
    pub kind: Kind,
    pub sender: Ws,
    pub receiver: Ws,
    pub to: String,
}

impl Endpoints {
    /// Pair `name`: for vaidya a room with two doctors (no lobby), for PeerJS two ids.
    pub async fn pair(&self, name: &str) -> Result<Pair, Error> {
        match self {
            Self::Vaidya { sender, receiver } => {
                let (a, _) = sender.join(name, &format!("{name}-a")).await?;
                let (b, b_id) = receiver.join(name, &format!("{name}-b")).await?;
                Ok(Pair { kind: Kind::Vaidya, sender: a, receiver: b, to: b_id })
            }
            Self::PeerJs { addr, kind } => {
                let b_id = format!("{name}-b");
                let a = peerjs_open(*addr, &format!("{name}-a")).await?;
                let b = peerjs_open(*addr, &b_id).await?;
                Ok(Pair { kind: *kind, sender: a, receiver: b, to: b_id })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_stamp() {
        for kind in [Kind::Vaidya, Kind::PeerJs, Kind::Floor] {
            let frame = kind.frame("peer-1", 123_456, "xxxx");
            let value: serde_json::Value = serde_json::from_str(&frame).unwrap();
            assert!(value.is_object(), "{frame}");
            assert_eq!(stamp(&frame), Some(123_456));
            assert!(!kind.is_error(&frame));
        }
        assert_eq!(stamp(r#"{"seq":3,"type":"offer","from":"p","sdp":"v=0 bench-ts=77;xx"}"#), Some(77));
        assert_eq!(stamp(r#"{"type":"joined"}"#), None);
        assert!(Kind::Vaidya.is_error(r#"{"seq":0,"type":"error","code":"rate_limited"}"#));
        assert!(Kind::PeerJs.is_error(r#"{"type":"EXPIRE","src":"a","dst":"b"}"#));
    }
}
