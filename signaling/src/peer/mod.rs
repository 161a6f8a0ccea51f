//! A Rust WebRTC peer that joins a room over `/ws/signal`: for end-to-end tests and load tools, never the server.
//!
//! It follows the server's `polite` flag: the impolite (first admitted) peer offers to each peer admitted after it,
//! the polite one answers; ICE candidates trickle both ways; the offerer opens a data channel; each side can send
//! synthetic VP8 RTP on a media track, which the other side counts.

mod measure;
mod rtc;
mod signal;

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::{Mutex as AsyncMutex, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use webrtc::data_channel::RTCDataChannel;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;

use crate::protocol::{ServerMsg, Stamped};

pub use measure::{JoinTiming, join_to_connected, percentile};

/// What went wrong, in words (tests print it; load tools count it).
#[derive(Debug)]
pub struct PeerError(pub String);

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PeerError {}

impl From<webrtc::Error> for PeerError {
    fn from(err: webrtc::Error) -> Self {
        Self(format!("webrtc: {err}"))
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for PeerError {
    fn from(err: tokio_tungstenite::tungstenite::Error) -> Self {
        Self(format!("websocket: {err}"))
    }
}

pub type Result<T> = std::result::Result<T, PeerError>;

/// How a peer gathers candidates and what it sends.
#[derive(Clone, Debug)]
pub struct PeerOptions {
    /// Gather only IPv4 UDP host candidates on loopback (tests and single-machine load runs; no network needed).
    pub loopback_only: bool,
    /// Send a synthetic VP8 video track (RTP packets of filler bytes every 20 ms).
    pub send_media: bool,
    /// How long `join` waits for `joined`.
    pub join_timeout: Duration,
}

impl Default for PeerOptions {
    fn default() -> Self {
        Self { loopback_only: true, send_media: true, join_timeout: Duration::from_secs(10) }
    }
}

/// State shared by the peer handle, the signalling loop and the WebRTC callbacks.
pub(crate) struct Shared {
    pub pc: Arc<RTCPeerConnection>,
    pub options: PeerOptions,
    pub role: String,
    pub polite: bool,
    /// Frames for the server, in order.
    pub out: mpsc::UnboundedSender<String>,
    /// The peer this one negotiates with, once known.
    pub remote: Mutex<Option<String>>,
    /// Peers seen in the lobby (a doctor admits only those).
    pub lobby: watch::Sender<HashSet<String>>,
    /// Peers this doctor asked the server to admit.
    pub admitting: Mutex<HashSet<String>>,
    pub state: watch::Sender<RTCPeerConnectionState>,
    pub channel: watch::Sender<Option<Arc<RTCDataChannel>>>,
    pub data_in: mpsc::UnboundedSender<String>,
    pub rtp_packets: watch::Sender<u64>,
    pub admitted: watch::Sender<bool>,
    pub tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The writer, awaited on `close` so `leave` reaches the server.
    pub writer: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    pub fn send(&self, frame: serde_json::Value) {
        let _ = self.out.send(frame.to_string());
    }

    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.lock().expect("task list").push(tokio::spawn(task));
    }
}

/// One participant: a signalling socket and a peer connection.
pub struct Peer {
    shared: Arc<Shared>,
    peer_id: String,
    data_in: AsyncMutex<mpsc::UnboundedReceiver<String>>,
}

impl Peer {
    /// Connects to `ws_url` (`ws://host:port/ws/signal`), joins with a room token, and negotiates by itself from then on.
    pub async fn join(ws_url: &str, token: &str) -> Result<Peer> {
        Self::join_with(ws_url, token, PeerOptions::default()).await
    }

    pub async fn join_with(ws_url: &str, token: &str, options: PeerOptions) -> Result<Peer> {
        let (mut ws, _) = connect_async(ws_url).await?;
        ws.send(Message::text(json!({"type": "join", "token": token}).to_string())).await?;
        let joined = timeout(options.join_timeout, async {
            while let Some(frame) = ws.next().await {
                if let Message::Text(text) = frame? {
                    match serde_json::from_str::<Stamped>(text.as_str()).map(|s| s.msg) {
                        Ok(ServerMsg::Joined { peer_id, role, peers, ice_servers, polite, .. }) => {
                            return Ok((peer_id, role, peers, ice_servers, polite));
                        }
                        Ok(ServerMsg::Error { code, message }) => return Err(PeerError(format!("join refused: {code}: {message}"))),
                        _ => {}
                    }
                }
            }
            Err(PeerError("the server closed the socket before `joined`".into()))
        })
        .await
        .map_err(|_| PeerError("no `joined` in time".into()))??;
        let (peer_id, role, peers, ice_servers, polite) = joined;

        let pc = Arc::new(rtc::peer_connection(&options, &ice_servers).await?);
        let (out, out_rx) = mpsc::unbounded_channel();
        let (data_in, data_rx) = mpsc::unbounded_channel();
        // A doctor joining first sees the lobby in `joined`; an impolite joiner has no admitted peer beside it.
        let lobby: HashSet<String> = if polite { HashSet::new() } else { peers.into_iter().map(|p| p.peer_id).collect() };
        let shared = Arc::new(Shared {
            pc,
            options,
            role,
            polite,
            out,
            remote: Mutex::new(None),
            lobby: watch::Sender::new(lobby),
            admitting: Mutex::new(HashSet::new()),
            state: watch::Sender::new(RTCPeerConnectionState::New),
            channel: watch::Sender::new(None),
            data_in,
            rtp_packets: watch::Sender::new(0),
            admitted: watch::Sender::new(!polite),
            tasks: Mutex::new(Vec::new()),
            writer: Mutex::new(None),
        });
        rtc::wire(&shared);
        signal::start(&shared, ws, out_rx);
        Ok(Peer { shared, peer_id, data_in: AsyncMutex::new(data_rx) })
    }

    pub fn peer_id(&self) -> &str {
        &self.peer_id
    }

    pub fn polite(&self) -> bool {
        self.shared.polite
    }

    /// Doctor only: waits until `peer_id` is seen in the lobby, then admits it. The first admitted peer offers to it.
    pub async fn admit(&self, peer_id: &str, within: Duration) -> Result<()> {
        let mut lobby = self.shared.lobby.subscribe();
        timeout(within, lobby.wait_for(|l| l.contains(peer_id)))
            .await
            .map_err(|_| PeerError(format!("{peer_id} did not appear in the lobby")))?
            .map_err(|_| PeerError("signalling stopped".into()))?;
        self.shared.admitting.lock().expect("admitting").insert(peer_id.to_owned());
        self.shared.send(json!({"type": "admit", "peer_id": peer_id}));
        Ok(())
    }

    /// Waits until the doctor lets this peer in (at once for the doctor).
    pub async fn wait_admitted(&self, within: Duration) -> Result<()> {
        let mut admitted = self.shared.admitted.subscribe();
        timeout(within, admitted.wait_for(|a| *a))
            .await
            .map_err(|_| PeerError("not admitted in time".into()))?
            .map_err(|_| PeerError("signalling stopped".into()))?;
        Ok(())
    }

    /// Waits for the peer connection state `connected`; `failed` or `closed` end the wait early.
    pub async fn wait_connected(&self, within: Duration) -> Result<()> {
        use RTCPeerConnectionState::{Closed, Connected, Failed};
        let mut state = self.shared.state.subscribe();
        let reached = timeout(within, state.wait_for(|s| matches!(s, Connected | Failed | Closed)))
            .await
            .map_err(|_| PeerError(format!("not connected in {within:?} (state {})", self.shared.pc.connection_state())))?
            .map_err(|_| PeerError("peer connection dropped".into()))?;
        match *reached {
            Connected => Ok(()),
            other => Err(PeerError(format!("peer connection {other}"))),
        }
    }

    pub fn connection_state(&self) -> RTCPeerConnectionState {
        *self.shared.state.borrow()
    }

    /// Sends text on the data channel, waiting up to `within` for it to open.
    pub async fn send_data(&self, text: &str, within: Duration) -> Result<()> {
        let mut channel = self.shared.channel.subscribe();
        let dc = timeout(within, channel.wait_for(Option::is_some))
            .await
            .map_err(|_| PeerError("the data channel did not open".into()))?
            .map_err(|_| PeerError("peer connection dropped".into()))?
            .clone()
            .expect("waited for Some");
        dc.send_text(text.to_owned()).await?;
        Ok(())
    }

    /// The next text message from the data channel.
    pub async fn recv_data(&self, within: Duration) -> Result<String> {
        let mut rx = self.data_in.lock().await;
        timeout(within, rx.recv())
            .await
            .map_err(|_| PeerError("no data-channel message in time".into()))?
            .ok_or_else(|| PeerError("peer connection dropped".into()))
    }

    /// Waits until at least `min_packets` RTP packets arrived on remote tracks; returns the count so far.
    pub async fn wait_rtp(&self, min_packets: u64, within: Duration) -> Result<u64> {
        let mut count = self.shared.rtp_packets.subscribe();
        let got = timeout(within, count.wait_for(|n| *n >= min_packets))
            .await
            .map_err(|_| PeerError(format!("only {} RTP packets in {within:?}", *self.shared.rtp_packets.borrow())))?
            .map_err(|_| PeerError("peer connection dropped".into()))?;
        Ok(*got)
    }

    /// Leaves the room and closes the peer connection.
    pub async fn close(self) {
        self.shared.send(json!({"type": "leave"}));
        let writer = self.shared.writer.lock().expect("writer").take();
        if let Some(writer) = writer {
            let _ = timeout(Duration::from_secs(2), writer).await;
        }
        let _ = self.shared.pc.close().await;
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        for task in self.shared.tasks.lock().expect("task list").drain(..) {
            task.abort();
        }
        if let Some(writer) = self.shared.writer.lock().expect("writer").take() {
            writer.abort();
        }
        let pc = self.shared.pc.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = pc.close().await;
            });
        }
    }
}
