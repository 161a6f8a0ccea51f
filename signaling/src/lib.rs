//! WebSocket signalling for consult rooms: the wire protocol, room tokens and ICE server credentials.
//! The relay itself (rooms, lobby, resume, the message bus) is built on these.

pub mod ice;
pub mod protocol;
pub mod room;
pub mod token;
