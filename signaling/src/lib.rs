//! WebSocket signalling for consult rooms: the wire protocol, room tokens, ICE credentials, the room rules,
//! the hub that relays between peers, the per-socket queues it fills, and the `/ws/signal` endpoint.

pub mod events;
pub mod hub;
pub mod ice;
pub mod local;
pub mod outbox;
#[cfg(feature = "peer")]
pub mod peer;
pub mod protocol;
pub mod rate;
pub mod redis_rooms;
pub mod room;
pub mod roster;
pub mod session;
pub mod token;
pub mod ws;

pub use hub::Hub;
pub use ice::IceConfig;
pub use session::SessionLimits;
pub use ws::{SignalState, router};
