//! Rooms held in this process (no Redis): applies the room rules under a per-room lock, stamps each message with
//! the room's next `seq`, keeps a short replay log for resuming sockets, and hands frames to sockets.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;

use crate::hub::{Conn, LOG_MAX_FRAMES, LOG_RETENTION, MAX_CHAT_CHARS, Membership, Outbound, direct_frame, now_ms, rfc3339_now};
use crate::ice::IceConfig;
use crate::protocol::{ClientMsg, RESUME_WINDOW_SECS, Resume, ServerMsg, Stamped};
use crate::room::{Out, Refusal, RoomState, Target};
use crate::roster::Roster;
use crate::token::RoomClaims;

/// Rooms swept between yields to the runtime.
const SWEEP_CHUNK: usize = 64;

struct LogEntry {
    at: Instant,
    seq: u64,
    to: Box<[String]>,
    frame: Utf8Bytes,
}

#[derive(Default)]
struct LiveRoom {
    state: RoomState,
    seq: u64,
    log: VecDeque<LogEntry>,
    conns: Roster<Conn>,
    ended_at: Option<Instant>,
}

pub struct LocalHub {
    node: String,
    ice: IceConfig,
    rooms: Mutex<HashMap<String, Arc<Mutex<LiveRoom>>>>,
}

impl LiveRoom {
    /// Stamps and sends one message to `to`, logging it for replay.
    fn send(&mut self, to: Vec<String>, msg: ServerMsg, log: bool) {
        self.seq += 1;
        let mut text = serde_json::to_string(&Stamped { seq: self.seq, msg }).expect("server messages serialise");
        // Serialising doubles the string's capacity as it grows; the frame may stay in the replay log for a minute.
        text.shrink_to_fit();
        let frame = Utf8Bytes::from(text);
        for peer in &to {
            if let Some(conn) = self.conns.get(peer)
                && conn.tx.try_send(Outbound::Frame(frame.clone())).is_err()
            {
                // A socket that cannot keep up is closed rather than buffered without bound; it may resume.
                let _ = conn.tx.try_send(Outbound::Close(1008, "too slow"));
            }
        }
        if log {
            if self.log.len() >= LOG_MAX_FRAMES {
                self.log.pop_front();
            }
            self.log.push_back(LogEntry { at: Instant::now(), seq: self.seq, to: to.into_boxed_slice(), frame });
        }
    }

    fn deliver(&mut self, out: Out) {
        for (target, msg) in out {
            let to = self.state.resolve(&target);
            if !to.is_empty() {
                self.send(to, msg, true);
            }
        }
    }

    fn tell(&mut self, peer_id: &str, msg: ServerMsg) {
        self.send(vec![peer_id.to_owned()], msg, true);
    }

    /// A direct reply to one socket (an error it caused, a pong): outside the room sequence, so `seq` 0.
    fn reply(&self, peer_id: &str, msg: ServerMsg) {
        if let Some(conn) = self.conns.get(peer_id) {
            let _ = conn.tx.try_send(Outbound::Frame(direct_frame(msg)));
        }
    }

    /// Nobody is in it and it did not end, or it ended long enough ago that late joins need no `ended` answer.
    fn forgettable(&self) -> bool {
        let ended_long_ago = self.ended_at.is_some_and(|t| t.elapsed() > Duration::from_secs(600));
        (self.state.is_empty() && self.conns.is_empty() && !self.state.ended) || ended_long_ago
    }

    fn trim(&mut self) {
        while self.log.front().is_some_and(|e| e.at.elapsed() > LOG_RETENTION) {
            self.log.pop_front();
        }
        // The log grows by doubling while frames flow; a quiet room keeps only what it holds.
        self.log.shrink_to_fit();
    }
}

impl LocalHub {
    pub fn new(node: impl Into<String>, ice: IceConfig) -> Self {
        Self { node: node.into(), ice, rooms: Mutex::default() }
    }

    fn room(&self, id: &str) -> Arc<Mutex<LiveRoom>> {
        self.rooms.lock().expect("rooms lock").entry(id.to_owned()).or_default().clone()
    }

    fn existing(&self, id: &str) -> Option<Arc<Mutex<LiveRoom>>> {
        self.rooms.lock().expect("rooms lock").get(id).cloned()
    }

    /// Joins (or resumes) a verified participant; the socket receives `joined` and what follows on `conn`.
    pub fn join(&self, claims: &RoomClaims, resume: Option<&Resume>, conn: Conn) -> Result<Membership, Refusal> {
        let room = self.room(&claims.room);
        let mut live = room.lock().expect("room lock");
        let new_peer_id = uuid::Uuid::now_v7().to_string();
        let joined = live.state.join(claims, resume, new_peer_id, &self.node)?;
        if let Some(old) = &joined.replaced
            && let Some(old_conn) = live.conns.remove(&old.peer_id)
        {
            let _ = old_conn.tx.try_send(Outbound::Close(4409, "replaced by a newer connection"));
        }
        if let Some(previous) = live.conns.insert(joined.peer_id.clone(), conn.clone()) {
            let _ = previous.tx.try_send(Outbound::Close(4409, "replaced by a newer connection"));
        }
        let peer_id = joined.peer_id.clone();
        if joined.resume_failed {
            live.tell(&peer_id, ServerMsg::error("resume_failed", "That session cannot be resumed; this is a fresh join."));
        }
        let role = live.state.peer(&peer_id).map(|p| p.role.clone()).unwrap_or_default();
        let ice_servers = self.ice.servers_for(&peer_id, now_ms() / 1000);
        let hello = ServerMsg::Joined {
            peer_id: peer_id.clone(),
            role,
            room: claims.room.clone(),
            peers: joined.peers,
            ice_servers,
            polite: joined.polite,
            admitted: joined.admitted,
        };
        match joined.resumed_after {
            Some(last_seq) => {
                // The resumed `joined` stands outside the room sequence (seq 0): the replay that follows keeps its seqs.
                let _ = conn.tx.try_send(Outbound::Frame(direct_frame(hello)));
                let missed: Vec<Utf8Bytes> =
                    live.log.iter().filter(|e| e.seq > last_seq && e.to.contains(&peer_id)).map(|e| e.frame.clone()).collect();
                for frame in missed {
                    let _ = conn.tx.try_send(Outbound::Frame(frame));
                }
            }
            None => {
                // Not logged: a socket that resumes is sent a fresh `joined` (and the logged `admitted`, if it came).
                live.send(vec![peer_id.clone()], hello, false);
                if !joined.admitted {
                    live.send(vec![peer_id.clone()], ServerMsg::Waiting {}, false);
                }
            }
        }
        live.deliver(joined.out);
        metrics::counter!("signal_joins_total").increment(1);
        Ok(Membership { room: claims.room.clone(), peer_id, conn_id: conn.id })
    }

    /// Applies one client message from a joined socket.
    pub fn handle(&self, who: &Membership, msg: ClientMsg) {
        let Some(room) = self.existing(&who.room) else { return };
        let mut live = room.lock().expect("room lock");
        if live.conns.get(&who.peer_id).map(|c| c.id) != Some(who.conn_id) {
            return; // a replaced socket speaks no more
        }
        let from = who.peer_id.clone();
        let relay = |live: &mut LiveRoom, to: String, msg: ServerMsg| match live.state.check_relay(&from, &to) {
            Ok(()) => live.send(vec![to], msg, true),
            Err(refusal) => live.reply(&from, refusal.message()),
        };
        match msg {
            ClientMsg::Offer { to, sdp } => relay(&mut live, to, ServerMsg::Offer { from: from.clone(), sdp }),
            ClientMsg::Answer { to, sdp } => relay(&mut live, to, ServerMsg::Answer { from: from.clone(), sdp }),
            ClientMsg::Candidate { to, candidate } => relay(&mut live, to, ServerMsg::Candidate { from: from.clone(), candidate }),
            ClientMsg::Chat { text } => {
                let n = text.chars().count();
                if n == 0 || n > MAX_CHAT_CHARS {
                    live.reply(&from, ServerMsg::error("invalid_message", format!("A chat message has 1 to {MAX_CHAT_CHARS} characters.")));
                } else {
                    match live.state.check_chat(&from) {
                        Ok(()) => live.deliver(vec![(Target::Admitted, ServerMsg::Chat { from: from.clone(), text, at: rfc3339_now() })]),
                        Err(refusal) => live.reply(&from, refusal.message()),
                    }
                }
            }
            ClientMsg::Admit { peer_id } => match live.state.admit(&from, &peer_id) {
                Ok(out) => live.deliver(out),
                Err(refusal) => live.reply(&from, refusal.message()),
            },
            ClientMsg::End {} => match live.state.end(&from) {
                Ok(out) => {
                    live.deliver(out);
                    live.ended_at = Some(Instant::now());
                    for conn in live.conns.values() {
                        let _ = conn.tx.try_send(Outbound::Close(1000, "consult ended"));
                    }
                    live.conns.clear();
                }
                Err(refusal) => live.reply(&from, refusal.message()),
            },
            ClientMsg::Leave {} => {
                let out = live.state.remove(&from, "left");
                live.deliver(out);
                if let Some(conn) = live.conns.remove(&from) {
                    let _ = conn.tx.try_send(Outbound::Close(1000, "left"));
                }
            }
            ClientMsg::Ping {} => live.reply(&from, ServerMsg::Pong {}),
            ClientMsg::Join { .. } => live.reply(&from, ServerMsg::error("already_joined", "This socket has already joined.")),
        }
    }

    /// Tells one joined socket about a refusal it caused (bad frame, rate limit).
    pub fn refuse(&self, who: &Membership, msg: ServerMsg) {
        if let Some(room) = self.existing(&who.room) {
            let live = room.lock().expect("room lock");
            if live.conns.get(&who.peer_id).map(|c| c.id) == Some(who.conn_id) {
                live.reply(&who.peer_id, msg);
            }
        }
    }

    /// The socket closed without `leave`: keep the peer for the resume window.
    pub fn disconnected(&self, who: &Membership) {
        let Some(room) = self.existing(&who.room) else { return };
        let mut live = room.lock().expect("room lock");
        if live.conns.get(&who.peer_id).map(|c| c.id) == Some(who.conn_id) {
            live.conns.remove(&who.peer_id);
            live.state.dropped(&who.peer_id, now_ms());
        }
    }

    /// Expires dropped peers, trims replay logs and forgets empty rooms; run about once a second.
    pub async fn sweep(&self) {
        let rooms: Vec<(String, Arc<Mutex<LiveRoom>>)> =
            self.rooms.lock().expect("rooms lock").iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut forget = Vec::new();
        // A few rooms at a time, yielding between: the sweep runs on the runtime that relays every socket's frames,
        // and one pass over thousands of rooms would hold those frames up for milliseconds.
        for chunk in rooms.chunks(SWEEP_CHUNK) {
            for (id, room) in chunk {
                let mut live = room.lock().expect("room lock");
                let out = live.state.expire(now_ms(), (RESUME_WINDOW_SECS * 1000) as i64);
                live.deliver(out);
                live.trim();
                if live.forgettable() {
                    forget.push(id);
                }
            }
            tokio::task::yield_now().await;
        }
        // Asked again under the map's lock: a join may have come in between.
        let mut forgotten = Vec::new();
        {
            let mut map = self.rooms.lock().expect("rooms lock");
            for id in forget {
                if map.get(id).is_some_and(|r| r.lock().expect("room lock").forgettable()) {
                    forgotten.extend(map.remove(id));
                }
            }
        }
        drop(rooms);
        // Freeing a room frees its replay log: also a few at a time, outside the map's lock.
        while !forgotten.is_empty() {
            forgotten.truncate(forgotten.len().saturating_sub(SWEEP_CHUNK));
            tokio::task::yield_now().await;
        }
    }

    /// Closes every socket of this node (1012, service restart) without changing any room.
    pub fn drop_all_sockets(&self) {
        for room in self.rooms.lock().expect("rooms lock").values() {
            let mut live = room.lock().expect("room lock");
            for conn in live.conns.values() {
                let _ = conn.tx.try_send(Outbound::Close(1012, "service restart"));
            }
            live.conns.clear();
        }
    }

    /// Rooms currently held, for metrics and tests.
    pub fn room_count(&self) -> usize {
        self.rooms.lock().expect("rooms lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::outbox;

    fn claims(sub: &str) -> RoomClaims {
        RoomClaims {
            iss: "vaidya".into(),
            aud: "vaidya-signal".into(),
            sub: sub.into(),
            room: "r".into(),
            role: "doctor".into(),
            name: sub.into(),
            iat: 0,
            exp: i64::MAX,
        }
    }

    #[test]
    fn the_replay_log_stays_bounded_under_load() {
        let hub = LocalHub::new("n1", IceConfig::default());
        let (tx_a, rx_a) = outbox(100_000);
        let (tx_b, _rx_b) = outbox(100_000);
        let a = hub.join(&claims("a"), None, Conn { id: 1, tx: tx_a }).unwrap();
        let b = hub.join(&claims("b"), None, Conn { id: 2, tx: tx_b }).unwrap();
        for i in 0..5_000 {
            hub.handle(&a, ClientMsg::Offer { to: b.peer_id.clone(), sdp: format!("v=0 {i}") });
        }
        let room = hub.existing("r").unwrap();
        let live = room.lock().unwrap();
        assert_eq!(live.log.len(), LOG_MAX_FRAMES);
        assert_eq!(live.log.back().map(|e| e.seq), Some(live.seq), "the newest frames are the ones kept");
        drop(live);
        assert!(rx_a.try_recv().is_some());
    }
}
