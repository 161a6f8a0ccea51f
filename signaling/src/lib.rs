//! WebSocket signalling for consult rooms (built in the signalling issue).
