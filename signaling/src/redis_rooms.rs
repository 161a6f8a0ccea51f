//! Rooms shared through Redis, so a room's participants may be connected to different nodes.
//!
//! A room's state (`room.rs`) lives in Redis as JSON with a version; changes are compare-and-set by a Lua script
//! that also stamps each resulting message with the room's next `seq`, appends it to the room's replay log and
//! publishes it on the room's channel. Relayed signals go through a second script that checks both ends are
//! admitted. Every node subscribes to the channels of the rooms it has sockets in and hands frames to them in
//! `seq` order. Nodes refresh a heartbeat key; peers of a node whose heartbeat lapsed are removed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures::StreamExt;
use redis::aio::PubSubSink;
use serde::Deserialize;
use vaidya_registry::RedisHandle;

use crate::hub::{Conn, MAX_CHAT_CHARS, Membership, Outbound, direct_frame, now_ms, rfc3339_now};
use crate::ice::IceConfig;
use crate::protocol::{ClientMsg, RESUME_WINDOW_SECS, Resume, ServerMsg};
use crate::room::{Out, Refusal, RoomState, Target};
use crate::roster::Roster;
use crate::token::RoomClaims;

/// Heartbeat lifetime: a node silent this long is dead and its peers leave their rooms (within 15 s in all).
const NODE_TTL_SECS: u64 = 10;
/// Room keys outlive activity by this much.
const ROOM_TTL_SECS: u64 = 24 * 3600;

const COMMIT: &str = r#"
local v = redis.call('GET', KEYS[2]) or '0'
if v ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[5])
redis.call('SET', KEYS[2], tostring(tonumber(v) + 1), 'EX', ARGV[5])
redis.call('DEL', KEYS[5])
for _, p in ipairs(cjson.decode(ARGV[3])) do redis.call('SADD', KEYS[5], p) end
redis.call('EXPIRE', KEYS[5], ARGV[5])
for i = 6, #ARGV, 2 do
  local seq = redis.call('INCR', KEYS[3])
  local frame = '{"seq":' .. seq .. ',' .. string.sub(ARGV[i + 1], 2)
  local entry = '{"seq":' .. seq .. ',"to":' .. ARGV[i] .. ',"frame":' .. cjson.encode(frame) .. '}'
  redis.call('RPUSH', KEYS[4], entry)
  redis.call('PUBLISH', ARGV[4], entry)
end
redis.call('LTRIM', KEYS[4], -128, -1)
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('EXPIRE', KEYS[4], ARGV[5])
return 1
"#;

const RELAY: &str = r#"
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 'not_admitted' end
local to
if ARGV[2] == '' then
  to = cjson.encode(redis.call('SMEMBERS', KEYS[1]))
else
  if ARGV[2] == ARGV[1] or redis.call('SISMEMBER', KEYS[1], ARGV[2]) == 0 then return 'unknown_peer' end
  to = cjson.encode({ARGV[2]})
end
local seq = redis.call('INCR', KEYS[2])
local frame = '{"seq":' .. seq .. ',' .. string.sub(ARGV[3], 2)
local entry = '{"seq":' .. seq .. ',"to":' .. to .. ',"frame":' .. cjson.encode(frame) .. '}'
redis.call('RPUSH', KEYS[3], entry)
redis.call('PUBLISH', ARGV[4], entry)
if seq % 16 == 0 then redis.call('LTRIM', KEYS[3], -128, -1) end
return 'ok'
"#;

/// A message on a room channel: a logged frame for some peers, or an order to close some sockets.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    seq: u64,
    to: Vec<String>,
    #[serde(default)]
    frame: Option<String>,
    #[serde(default)]
    close: Option<u16>,
}

/// Frames reach a socket in `seq` order: while a socket replays the log, live frames wait in `held`.
struct Gate {
    replaying: bool,
    held: Vec<(u64, Utf8Bytes)>,
    last_seq: u64,
}

struct LocalPeer {
    conn: Conn,
    gate: Gate,
}

impl LocalPeer {
    fn offer(&mut self, seq: u64, frame: Utf8Bytes) {
        if self.gate.replaying {
            self.gate.held.push((seq, frame));
        } else if seq > self.gate.last_seq {
            self.gate.last_seq = seq;
            if self.conn.tx.try_send(Outbound::Frame(frame)).is_err() {
                let _ = self.conn.tx.try_send(Outbound::Close(1008, "too slow"));
            }
        }
    }
}

pub struct RedisHub {
    node: String,
    ice: IceConfig,
    redis: RedisHandle,
    commit: redis::Script,
    relay: redis::Script,
    /// room → peer → socket on this node.
    local: Mutex<HashMap<String, Roster<LocalPeer>>>,
    sink: tokio::sync::Mutex<Option<PubSubSink>>,
    subscribed: Mutex<HashSet<String>>,
}

enum Commit {
    Done,
    Conflict,
}

fn unavailable(_: redis::RedisError) -> Refusal {
    Refusal::Unavailable
}

impl RedisHub {
    pub fn start(node: String, ice: IceConfig, redis: RedisHandle) -> Arc<Self> {
        let hub = Arc::new(Self {
            node,
            ice,
            redis,
            commit: redis::Script::new(COMMIT),
            relay: redis::Script::new(RELAY),
            local: Mutex::default(),
            sink: tokio::sync::Mutex::new(None),
            subscribed: Mutex::default(),
        });
        tokio::spawn(hub.clone().subscribe_forever());
        hub
    }

    fn key(&self, room: &str, part: &str) -> String {
        self.redis.key(&format!("room:{room}:{part}"))
    }

    fn channel(&self, room: &str) -> String {
        self.redis.key(&format!("room:{room}"))
    }

    fn node_key(&self, node: &str) -> String {
        self.redis.key(&format!("node:{node}"))
    }

    async fn load(&self, room: &str) -> Result<(RoomState, u64), redis::RedisError> {
        let mut conn = self.redis.conn();
        let (state, version): (Option<String>, Option<u64>) =
            redis::cmd("MGET").arg(self.key(room, "state")).arg(self.key(room, "ver")).query_async(&mut conn).await?;
        let state = state.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
        Ok((state, version.unwrap_or(0)))
    }

    /// Writes `state` if nobody changed the room since `version`, with its messages stamped, logged and published.
    async fn commit(
        &self,
        room: &str,
        version: u64,
        state: &RoomState,
        out: Vec<(Vec<String>, ServerMsg)>,
    ) -> Result<Commit, redis::RedisError> {
        let admitted: Vec<&str> = state.peers.iter().filter(|p| p.admitted).map(|p| p.peer_id.as_str()).collect();
        let mut invocation = self.commit.prepare_invoke();
        for part in ["state", "ver", "seq", "log", "admitted"] {
            invocation.key(self.key(room, part));
        }
        invocation
            .arg(version.to_string())
            .arg(serde_json::to_string(state).expect("room state serialises"))
            .arg(serde_json::to_string(&admitted).expect("ids serialise"))
            .arg(self.channel(room))
            .arg(ROOM_TTL_SECS);
        for (to, msg) in &out {
            invocation.arg(serde_json::to_string(to).expect("ids serialise")).arg(serde_json::to_string(msg).expect("messages serialise"));
        }
        let mut conn = self.redis.conn();
        let result: i64 = invocation.invoke_async(&mut conn).await?;
        Ok(if result == 1 { Commit::Done } else { Commit::Conflict })
    }

    /// Applies `change` to the room with compare-and-set, retrying when another node got there first.
    async fn change<F>(&self, room: &str, mut change: F) -> Result<RoomState, Refusal>
    where
        F: FnMut(&mut RoomState) -> Result<Out, Refusal>,
    {
        for _ in 0..50 {
            let (mut state, version) = self.load(room).await.map_err(unavailable)?;
            let out = change(&mut state)?;
            let resolved = out.into_iter().map(|(target, msg)| (state.resolve(&target), msg)).filter(|(to, _)| !to.is_empty()).collect();
            if let Commit::Done = self.commit(room, version, &state, resolved).await.map_err(unavailable)? {
                return Ok(state);
            }
        }
        Err(Refusal::Unavailable)
    }

    async fn publish_close(&self, room: &str, to: Vec<String>, code: u16) {
        let envelope = serde_json::json!({"to": to, "close": code});
        let mut conn = self.redis.conn();
        let _ = redis::cmd("PUBLISH").arg(self.channel(room)).arg(envelope.to_string()).query_async::<()>(&mut conn).await;
    }

    async fn ensure_subscribed(&self, room: &str) -> Result<(), Refusal> {
        if self.subscribed.lock().expect("subscribed lock").contains(room) {
            return Ok(());
        }
        // Right after start or a Redis restart the subscriber may still be connecting: wait a little for it.
        for _ in 0..30 {
            {
                let mut sink = self.sink.lock().await;
                if let Some(sink) = sink.as_mut() {
                    sink.subscribe(self.channel(room)).await.map_err(unavailable)?;
                    self.subscribed.lock().expect("subscribed lock").insert(room.to_owned());
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Refusal::Unavailable)
    }

    fn register(&self, room: &str, peer_id: &str, conn: Conn, replaying: bool) {
        let mut local = self.local.lock().expect("local lock");
        let peers = local.entry(room.to_owned()).or_default();
        if let Some(previous) =
            peers.insert(peer_id.to_owned(), LocalPeer { conn, gate: Gate { replaying, held: Vec::new(), last_seq: 0 } })
        {
            let _ = previous.conn.tx.try_send(Outbound::Close(4409, "replaced by a newer connection"));
        }
    }

    /// Removes a socket if it is still the current one; returns whether the room has no more local sockets.
    fn unregister(&self, room: &str, peer_id: &str, conn_id: u64) -> bool {
        let mut local = self.local.lock().expect("local lock");
        let Some(peers) = local.get_mut(room) else { return false };
        if peers.get(peer_id).is_some_and(|p| p.conn.id == conn_id) {
            peers.remove(peer_id);
        }
        if peers.is_empty() {
            local.remove(room);
            true
        } else {
            false
        }
    }

    async fn maybe_unsubscribe(&self, room: &str, now_empty: bool) {
        if !now_empty {
            return;
        }
        self.subscribed.lock().expect("subscribed lock").remove(room);
        if let Some(sink) = self.sink.lock().await.as_mut() {
            let _ = sink.unsubscribe(self.channel(room)).await;
        }
    }

    fn is_current(&self, who: &Membership) -> bool {
        let local = self.local.lock().expect("local lock");
        local.get(&who.room).and_then(|peers| peers.get(&who.peer_id)).is_some_and(|p| p.conn.id == who.conn_id)
    }

    fn reply(&self, who: &Membership, msg: ServerMsg) {
        let local = self.local.lock().expect("local lock");
        if let Some(peer) = local.get(&who.room).and_then(|peers| peers.get(&who.peer_id))
            && peer.conn.id == who.conn_id
        {
            let _ = peer.conn.tx.try_send(Outbound::Frame(direct_frame(msg)));
        }
    }

    pub async fn join(&self, claims: &RoomClaims, resume: Option<&Resume>, conn: Conn) -> Result<Membership, Refusal> {
        let room = claims.room.as_str();
        self.ensure_subscribed(room).await?;
        let new_peer_id = uuid::Uuid::now_v7().to_string();
        let ice = self.ice.clone();
        for _ in 0..50 {
            let (mut state, version) = self.load(room).await.map_err(unavailable)?;
            let joined = state.join(claims, resume, new_peer_id.clone(), &self.node)?;
            let peer_id = joined.peer_id.clone();
            let role = state.peer(&peer_id).map(|p| p.role.clone()).unwrap_or_default();
            let hello = ServerMsg::Joined {
                peer_id: peer_id.clone(),
                role,
                room: room.to_owned(),
                peers: joined.peers.clone(),
                ice_servers: ice.servers_for(&peer_id, now_ms() / 1000),
                polite: joined.polite,
                admitted: joined.admitted,
            };
            let mut out: Vec<(Vec<String>, ServerMsg)> = Vec::new();
            let me = vec![peer_id.clone()];
            if joined.resume_failed {
                out.push((me.clone(), ServerMsg::error("resume_failed", "That session cannot be resumed; this is a fresh join.")));
            }
            if joined.resumed_after.is_none() {
                out.push((me.clone(), hello.clone()));
                if !joined.admitted {
                    out.push((me.clone(), ServerMsg::Waiting {}));
                }
            }
            out.extend(joined.out.iter().map(|(target, msg)| (state.resolve(target), msg.clone())).filter(|(to, _)| !to.is_empty()));
            // The socket is registered before the commit publishes, so its own frames find it.
            self.register(room, &peer_id, conn.clone(), joined.resumed_after.is_some());
            match self.commit(room, version, &state, out).await {
                Ok(Commit::Done) => {
                    if let Some(old) = &joined.replaced {
                        self.publish_close(room, vec![old.peer_id.clone()], 4409).await;
                    }
                    if let Some(last_seq) = joined.resumed_after {
                        let _ = conn.tx.try_send(Outbound::Frame(direct_frame(hello)));
                        self.replay(room, &peer_id, last_seq).await;
                    }
                    metrics::counter!("signal_joins_total").increment(1);
                    return Ok(Membership { room: room.to_owned(), peer_id, conn_id: conn.id });
                }
                Ok(Commit::Conflict) => {
                    self.unregister(room, &peer_id, conn.id);
                }
                Err(err) => {
                    let empty = self.unregister(room, &peer_id, conn.id);
                    self.maybe_unsubscribe(room, empty).await;
                    return Err(unavailable(err));
                }
            }
        }
        Err(Refusal::Unavailable)
    }

    /// Sends a socket the logged frames for it after `after_seq`, then whatever arrived meanwhile, in order.
    async fn replay(&self, room: &str, peer_id: &str, after_seq: u64) {
        let mut conn = self.redis.conn();
        let entries: Vec<String> =
            redis::cmd("LRANGE").arg(self.key(room, "log")).arg(0).arg(-1).query_async(&mut conn).await.unwrap_or_default();
        let mut local = self.local.lock().expect("local lock");
        let Some(peer) = local.get_mut(room).and_then(|peers| peers.get_mut(peer_id)) else { return };
        let mut last = after_seq.max(peer.gate.last_seq);
        for entry in entries.iter().filter_map(|e| serde_json::from_str::<Envelope>(e).ok()) {
            if entry.seq > last
                && entry.to.iter().any(|p| p == peer_id)
                && let Some(frame) = entry.frame
            {
                let _ = peer.conn.tx.try_send(Outbound::Frame(frame.into()));
                last = entry.seq;
            }
        }
        let mut held = std::mem::take(&mut peer.gate.held);
        held.sort_by_key(|(seq, _)| *seq);
        for (seq, frame) in held {
            if seq > last {
                let _ = peer.conn.tx.try_send(Outbound::Frame(frame));
                last = seq;
            }
        }
        peer.gate.last_seq = last;
        peer.gate.replaying = false;
    }

    pub async fn handle(&self, who: &Membership, msg: ClientMsg) {
        if !self.is_current(who) {
            return;
        }
        let room = who.room.as_str();
        let from = who.peer_id.clone();
        let result = match msg {
            ClientMsg::Offer { to, sdp } => self.relay(who, &to, ServerMsg::Offer { from, sdp }).await,
            ClientMsg::Answer { to, sdp } => self.relay(who, &to, ServerMsg::Answer { from, sdp }).await,
            ClientMsg::Candidate { to, candidate } => self.relay(who, &to, ServerMsg::Candidate { from, candidate }).await,
            ClientMsg::Chat { text } => {
                let n = text.chars().count();
                if n == 0 || n > MAX_CHAT_CHARS {
                    self.reply(who, ServerMsg::error("invalid_message", format!("A chat message has 1 to {MAX_CHAT_CHARS} characters.")));
                    Ok(())
                } else {
                    self.relay(who, "", ServerMsg::Chat { from, text, at: rfc3339_now() }).await
                }
            }
            ClientMsg::Admit { peer_id } => self.change(room, |s| s.admit(&from, &peer_id)).await.map(|_| ()),
            ClientMsg::End {} => match self.change(room, |s| s.end(&from)).await {
                Ok(state) => {
                    let everyone = state.resolve(&Target::Everyone);
                    self.publish_close(room, everyone, 1000).await;
                    Ok(())
                }
                Err(refusal) => Err(refusal),
            },
            ClientMsg::Leave {} => match self.change(room, |s| Ok(s.remove(&from, "left"))).await {
                Ok(_) => {
                    let conn = self.local.lock().expect("local lock").get(room).and_then(|p| p.get(&from)).map(|p| p.conn.clone());
                    if let Some(conn) = conn {
                        let _ = conn.tx.try_send(Outbound::Close(1000, "left"));
                    }
                    let empty = self.unregister(room, &from, who.conn_id);
                    self.maybe_unsubscribe(room, empty).await;
                    Ok(())
                }
                Err(refusal) => Err(refusal),
            },
            ClientMsg::Ping {} => {
                self.reply(who, ServerMsg::Pong {});
                Ok(())
            }
            ClientMsg::Join { .. } => {
                self.reply(who, ServerMsg::error("already_joined", "This socket has already joined."));
                Ok(())
            }
        };
        if let Err(refusal) = result {
            self.reply(who, refusal.message());
        }
    }

    /// Stamps, logs and publishes one signal if sender and receiver (`""`: every admitted peer) are admitted.
    async fn relay(&self, who: &Membership, to: &str, msg: ServerMsg) -> Result<(), Refusal> {
        let mut invocation = self.relay.prepare_invoke();
        invocation.key(self.key(&who.room, "admitted")).key(self.key(&who.room, "seq")).key(self.key(&who.room, "log"));
        invocation
            .arg(&who.peer_id)
            .arg(to)
            .arg(serde_json::to_string(&msg).expect("messages serialise"))
            .arg(self.channel(&who.room))
            .arg(ROOM_TTL_SECS);
        let mut conn = self.redis.conn();
        let verdict: String = invocation.invoke_async(&mut conn).await.map_err(unavailable)?;
        match verdict.as_str() {
            "ok" => Ok(()),
            "not_admitted" => Err(Refusal::NotAdmitted),
            _ => Err(Refusal::UnknownPeer),
        }
    }

    pub fn refuse(&self, who: &Membership, msg: ServerMsg) {
        self.reply(who, msg);
    }

    pub async fn disconnected(&self, who: &Membership) {
        if !self.is_current(who) {
            return;
        }
        let empty = self.unregister(&who.room, &who.peer_id, who.conn_id);
        let now = now_ms();
        let _ = self
            .change(&who.room, |s| {
                s.dropped(&who.peer_id, now);
                Ok(Out::new())
            })
            .await;
        self.maybe_unsubscribe(&who.room, empty).await;
    }

    /// Refreshes this node's heartbeat; expires dropped peers and removes peers of dead nodes in rooms held here.
    pub async fn sweep(&self) {
        let mut conn = self.redis.conn();
        let _ = redis::cmd("SET").arg(self.node_key(&self.node)).arg(1).arg("EX").arg(NODE_TTL_SECS).query_async::<()>(&mut conn).await;
        let rooms: Vec<String> = self.local.lock().expect("local lock").keys().cloned().collect();
        for room in rooms {
            let Ok((state, _)) = self.load(&room).await else { continue };
            let mut nodes: HashSet<&str> = state.peers.iter().map(|p| p.node.as_str()).filter(|n| *n != self.node).collect();
            let mut dead = Vec::new();
            for node in nodes.drain() {
                let alive: bool = redis::cmd("EXISTS").arg(self.node_key(node)).query_async(&mut conn).await.unwrap_or(true);
                if !alive {
                    dead.push(node.to_owned());
                }
            }
            let window = (RESUME_WINDOW_SECS * 1000) as i64;
            let now = now_ms();
            let due = state.peers.iter().any(|p| p.dropped_at.is_some_and(|t| now - t >= window));
            if dead.is_empty() && !due {
                continue;
            }
            let _ = self
                .change(&room, |s| {
                    let mut out = s.expire(now, window);
                    let lost: Vec<String> = s.peers.iter().filter(|p| dead.contains(&p.node)).map(|p| p.peer_id.clone()).collect();
                    for peer in lost {
                        out.extend(s.remove(&peer, "disconnected"));
                    }
                    Ok(out)
                })
                .await;
        }
    }

    /// Closes every socket of this node (1012, service restart) without changing any room.
    pub fn drop_all_sockets(&self) {
        let mut local = self.local.lock().expect("local lock");
        for peers in local.values() {
            for peer in peers.values() {
                let _ = peer.conn.tx.try_send(Outbound::Close(1012, "service restart"));
            }
        }
        local.clear();
    }

    /// Hands a published frame (or close order) to the sockets of this node it is for.
    fn dispatch(&self, room: &str, payload: &[u8]) {
        let Ok(envelope) = serde_json::from_slice::<Envelope>(payload) else { return };
        let mut local = self.local.lock().expect("local lock");
        let Some(peers) = local.get_mut(room) else { return };
        for peer_id in &envelope.to {
            let Some(peer) = peers.get_mut(peer_id) else { continue };
            match (&envelope.frame, envelope.close) {
                (_, Some(code)) => {
                    let reason = if code == 4409 { "replaced by a newer connection" } else { "consult ended" };
                    let _ = peer.conn.tx.try_send(Outbound::Close(code, reason));
                }
                (Some(frame), None) => peer.offer(envelope.seq, frame.clone().into()),
                (None, None) => {}
            }
        }
        if envelope.close.is_some() {
            for peer_id in &envelope.to {
                peers.remove(peer_id);
            }
        }
    }

    /// Keeps one subscriber connection alive; after a reconnect, re-subscribes and replays what sockets missed.
    async fn subscribe_forever(self: Arc<Self>) {
        loop {
            if let Ok(pubsub) = self.redis.client().get_async_pubsub().await {
                let (mut sink, mut stream) = pubsub.split();
                let rooms: Vec<String> = self.local.lock().expect("local lock").keys().cloned().collect();
                let mut ok = true;
                for room in &rooms {
                    if sink.subscribe(self.channel(room)).await.is_err() {
                        ok = false;
                        break;
                    }
                }
                if ok {
                    *self.subscribed.lock().expect("subscribed lock") = rooms.iter().cloned().collect();
                    *self.sink.lock().await = Some(sink);
                    self.catch_up(&rooms).await;
                    while let Some(msg) = stream.next().await {
                        let channel = msg.get_channel_name().to_owned();
                        self.dispatch_on(&channel, msg.get_payload_bytes());
                    }
                    *self.sink.lock().await = None;
                    self.subscribed.lock().expect("subscribed lock").clear();
                    tracing::warn!("signalling lost its Redis subscription; reconnecting");
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn dispatch_on(&self, channel: &str, payload: &[u8]) {
        if let Some(room) = channel.strip_prefix(&self.redis.key("room:")) {
            self.dispatch(room, payload);
        }
    }

    /// Frames published while the subscription was down are in the logs: hand each socket what it has not seen.
    async fn catch_up(&self, rooms: &[String]) {
        for room in rooms {
            let peers: Vec<(String, u64)> = {
                let mut local = self.local.lock().expect("local lock");
                local
                    .get_mut(room)
                    .map(|peers| {
                        peers
                            .iter_mut()
                            .map(|(id, p)| {
                                p.gate.replaying = true;
                                (id.to_owned(), p.gate.last_seq)
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            for (peer_id, last) in peers {
                self.replay(room, &peer_id, last).await;
            }
        }
    }
}
