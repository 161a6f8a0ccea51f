//! The hub a socket talks to: rooms held in this process, or in Redis so that a room's participants may be
//! connected to different nodes. Both apply the same room rules (`room.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures::future::BoxFuture;
use vaidya_registry::RedisHandle;
use vaidya_registry::auth::TokenService;

use crate::ice::IceConfig;
use crate::local::LocalHub;
use crate::outbox::OutboxSender;
use crate::protocol::{ClientMsg, RESUME_WINDOW_SECS, Resume, ServerMsg, Stamped};
use crate::redis_rooms::RedisHub;
use crate::room::Refusal;
use crate::token::RoomClaims;

/// How long sent frames stay replayable: longer than the resume window, so nothing a resuming peer missed is gone.
pub const LOG_RETENTION: Duration = Duration::from_secs(2 * RESUME_WINDOW_SECS);
/// Frames kept per room for replay, at most: enough for the signals of one negotiation, and memory stays bounded
/// under any load.
pub const LOG_MAX_FRAMES: usize = 128;
/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 2000;

/// What a socket task is told to do.
#[derive(Debug, Clone)]
pub enum Outbound {
    Frame(Utf8Bytes),
    Close(u16, &'static str),
}

/// The sending half of one socket, with an id that tells a replaced socket from its successor.
#[derive(Clone, Debug)]
pub struct Conn {
    pub id: u64,
    pub tx: OutboxSender,
}

/// A joined socket: which room and peer it speaks for.
#[derive(Clone, Debug)]
pub struct Membership {
    pub room: String,
    pub peer_id: String,
    pub conn_id: u64,
}

pub use vaidya_registry::db::now_ms;

/// Now, as RFC 3339 UTC (the registry's rendering of times).
pub fn rfc3339_now() -> String {
    vaidya_registry::db::rfc3339(now_ms())
}

/// A close frame with its code and reason.
pub fn close_frame(code: u16, reason: &'static str) -> axum::extract::ws::Message {
    axum::extract::ws::Message::Close(Some(axum::extract::ws::CloseFrame { code, reason: reason.into() }))
}

/// A reply outside the room's sequence (an error the socket caused, a pong, a resumed `joined`): `seq` 0.
pub fn direct_frame(msg: ServerMsg) -> Utf8Bytes {
    serde_json::to_string(&Stamped { seq: 0, msg }).expect("server messages serialise").into()
}

enum Backend {
    Local(LocalHub),
    Redis(Arc<RedisHub>),
}

pub struct Hub {
    tokens: TokenService,
    backend: Backend,
    next_conn: AtomicU64,
    /// Set by `kill`: the node behaves as if its process died.
    killed: AtomicBool,
}

impl Hub {
    /// Rooms in this process only: one node.
    pub fn local(node: impl Into<String>, tokens: TokenService, ice: IceConfig) -> Arc<Self> {
        Arc::new(Self {
            tokens,
            backend: Backend::Local(LocalHub::new(node, ice)),
            next_conn: AtomicU64::new(1),
            killed: AtomicBool::new(false),
        })
    }

    /// Rooms in Redis, shared by every node on it.
    pub fn redis(node: impl Into<String>, tokens: TokenService, ice: IceConfig, redis: RedisHandle) -> Arc<Self> {
        let hub = RedisHub::start(node.into(), ice, redis);
        Arc::new(Self { tokens, backend: Backend::Redis(hub), next_conn: AtomicU64::new(1), killed: AtomicBool::new(false) })
    }

    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub async fn join(&self, claims: &RoomClaims, resume: Option<&Resume>, conn: Conn) -> Result<Membership, Refusal> {
        if self.killed.load(Ordering::Relaxed) {
            return Err(Refusal::Unavailable);
        }
        match &self.backend {
            Backend::Local(h) => h.join(claims, resume, conn),
            Backend::Redis(h) => h.join(claims, resume, conn).await,
        }
    }

    /// Applies one client message from a joined socket. The local hub is done at once; the Redis hub's round trips
    /// come back boxed, to be awaited: the socket's task would otherwise be as large as they are for its whole life.
    pub fn handle<'a>(&'a self, who: &'a Membership, msg: ClientMsg) -> Option<BoxFuture<'a, ()>> {
        match &self.backend {
            Backend::Local(h) => {
                h.handle(who, msg);
                None
            }
            Backend::Redis(h) => Some(Box::pin(h.handle(who, msg))),
        }
    }

    pub fn refuse(&self, who: &Membership, msg: ServerMsg) {
        match &self.backend {
            Backend::Local(h) => h.refuse(who, msg),
            Backend::Redis(h) => h.refuse(who, msg),
        }
    }

    pub async fn disconnected(&self, who: &Membership) {
        if self.killed.load(Ordering::Relaxed) {
            return; // a dead process records nothing
        }
        match &self.backend {
            Backend::Local(h) => h.disconnected(who),
            // Boxed, as in `handle`: every socket's task awaits this.
            Backend::Redis(h) => Box::pin(h.disconnected(who)).await,
        }
    }

    /// Simulates this node's process dying, for fault tests: heartbeats stop, sockets drop, nothing is tidied up.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        match &self.backend {
            Backend::Local(h) => h.drop_all_sockets(),
            Backend::Redis(h) => h.drop_all_sockets(),
        }
    }

    /// Expires dropped peers (and, with Redis, peers of dead nodes) about once a second, until dropped.
    pub async fn sweep_forever(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if self.killed.load(Ordering::Relaxed) {
                return;
            }
            match &self.backend {
                Backend::Local(h) => h.sweep().await,
                Backend::Redis(h) => h.sweep().await,
            }
        }
    }
}
