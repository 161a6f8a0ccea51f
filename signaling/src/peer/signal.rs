//! The peer's signalling loop: frames from the server drive the negotiation (who offers follows the `polite` flag),
//! frames to the server go out in order through one writer.

use std::sync::Arc;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::signaling_state::RTCSignalingState;

use super::{PeerError, Result, Shared, rtc};
use crate::protocol::{Candidate, ServerMsg, Stamped};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Starts the writer and the reader; both stop when the peer is dropped.
pub(super) fn start(shared: &Arc<Shared>, ws: Socket, out: mpsc::UnboundedReceiver<String>) {
    let (sink, stream) = ws.split();
    *shared.writer.lock().expect("writer") = Some(tokio::spawn(write(sink, out)));
    let weak = Arc::downgrade(shared);
    shared.spawn(async move {
        let mut reader = Reader { stream, pending: Vec::new() };
        while let Some(msg) = reader.next().await {
            let Some(shared) = weak.upgrade() else { return };
            if let Err(err) = reader.handle(&shared, msg).await {
                tracing::warn!(error = %err, "peer.signal_failed");
            }
        }
    });
}

async fn write(mut sink: SplitSink<Socket, Message>, mut out: mpsc::UnboundedReceiver<String>) {
    while let Some(frame) = out.recv().await {
        let leaving = frame.contains(r#""type":"leave""#);
        if sink.send(Message::text(frame)).await.is_err() || leaving {
            break;
        }
    }
    let _ = sink.close().await;
}

struct Reader {
    stream: SplitStream<Socket>,
    /// Remote candidates that arrived before the remote description.
    pending: Vec<RTCIceCandidateInit>,
}

impl Reader {
    async fn next(&mut self) -> Option<ServerMsg> {
        while let Some(Ok(frame)) = self.stream.next().await {
            match frame {
                Message::Text(text) => match serde_json::from_str::<Stamped>(text.as_str()) {
                    Ok(stamped) => return Some(stamped.msg),
                    Err(err) => tracing::warn!(error = %err, "peer.unreadable_frame"),
                },
                Message::Close(_) => return None,
                _ => {}
            }
        }
        None
    }

    async fn handle(&mut self, shared: &Arc<Shared>, msg: ServerMsg) -> Result<()> {
        match msg {
            ServerMsg::Admitted {} => {
                shared.admitted.send_replace(true);
            }
            ServerMsg::PeerJoined { peer } => {
                let asked = shared.admitting.lock().expect("admitting").contains(&peer.peer_id);
                if shared.polite {
                    return Ok(());
                }
                if shared.role == "doctor" && !asked {
                    // A doctor hears of the lobby first; it offers once it has admitted the peer.
                    shared.lobby.send_modify(|l| {
                        l.insert(peer.peer_id.clone());
                    });
                } else {
                    self.offer(shared, peer.peer_id).await?;
                }
            }
            ServerMsg::Offer { from, sdp } => self.answer(shared, from, sdp).await?,
            ServerMsg::Answer { from, sdp } if shared.remote.lock().expect("remote").as_deref() == Some(from.as_str()) => {
                shared.pc.set_remote_description(RTCSessionDescription::answer(sdp)?).await?;
                self.flush_candidates(shared).await?;
            }
            ServerMsg::Candidate { from, candidate } => {
                if shared.remote.lock().expect("remote").as_deref().is_some_and(|r| r != from) {
                    return Ok(());
                }
                let init = to_init(candidate);
                if shared.pc.remote_description().await.is_some() {
                    shared.pc.add_ice_candidate(init).await?;
                } else {
                    self.pending.push(init);
                }
            }
            ServerMsg::Error { code, message } => return Err(PeerError(format!("server error {code}: {message}"))),
            _ => {}
        }
        Ok(())
    }

    /// The impolite side: data channel and media first, so one offer carries them.
    async fn offer(&mut self, shared: &Arc<Shared>, to: String) -> Result<()> {
        if shared.remote.lock().expect("remote").replace(to.clone()).is_some() {
            return Err(PeerError("this peer negotiates with one remote peer only".into()));
        }
        rtc::open_channel(shared).await?;
        if shared.options.send_media {
            rtc::add_media(shared).await?;
        }
        let offer = shared.pc.create_offer(None).await?;
        shared.send(json!({"type": "offer", "to": to, "sdp": offer.sdp}));
        shared.pc.set_local_description(offer).await?;
        Ok(())
    }

    /// The polite side: its sendrecv video transceiver, added before the offer is applied, pairs with the offered one.
    async fn answer(&mut self, shared: &Arc<Shared>, from: String, sdp: String) -> Result<()> {
        // Glare cannot happen (the server names one offerer); were it to, the impolite side ignores the offer.
        if !shared.polite && shared.pc.signaling_state() == RTCSignalingState::HaveLocalOffer {
            return Ok(());
        }
        let first = shared.remote.lock().expect("remote").replace(from.clone()).is_none();
        if first && shared.options.send_media {
            rtc::add_media(shared).await?;
        }
        shared.pc.set_remote_description(RTCSessionDescription::offer(sdp)?).await?;
        let answer = shared.pc.create_answer(None).await?;
        // The answer goes out before gathering starts, so no local candidate can overtake it.
        shared.send(json!({"type": "answer", "to": from, "sdp": answer.sdp}));
        shared.pc.set_local_description(answer).await?;
        self.flush_candidates(shared).await
    }

    async fn flush_candidates(&mut self, shared: &Arc<Shared>) -> Result<()> {
        for init in self.pending.drain(..) {
            shared.pc.add_ice_candidate(init).await?;
        }
        Ok(())
    }
}

fn to_init(c: Candidate) -> RTCIceCandidateInit {
    RTCIceCandidateInit {
        candidate: c.candidate,
        sdp_mid: c.sdp_mid,
        sdp_mline_index: c.sdp_m_line_index,
        username_fragment: c.username_fragment,
    }
}
