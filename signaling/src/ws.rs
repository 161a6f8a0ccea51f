//! `GET /ws/signal`: the upgrade, with the Origin allowlist and small socket buffers.

use std::sync::Arc;

use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use vaidya_registry::ApiError;

use crate::hub::Hub;
use crate::protocol::MAX_FRAME_BYTES;
use crate::session::{self, SessionLimits};

/// A burst of frames longer than this is written before the burst ends.
const WRITE_BUFFER_BYTES: usize = 8 * 1024;

#[derive(Clone)]
pub struct SignalState {
    pub hub: Arc<Hub>,
    pub limits: SessionLimits,
    /// Browser origins allowed to open sockets; empty means the service's own origin only.
    pub allowed_origins: Arc<Vec<String>>,
}

pub fn router(state: SignalState) -> Router {
    // Shared behind one pointer: each socket's task keeps what its upgrade captured for its whole life.
    Router::new().route("/ws/signal", get(upgrade)).with_state(Arc::new(state))
}

/// Browsers always send `Origin`; a page from another site must not open a socket with a user's token.
pub(crate) fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true; // not a browser: tools and native apps authenticate by token alone
    };
    if allowed.iter().any(|a| a == origin || a == "*") {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    allowed.is_empty() && origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}

async fn upgrade(State(state): State<Arc<SignalState>>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if !origin_allowed(&headers, &state.allowed_origins) {
        return ApiError::forbidden("origin_not_allowed", "This origin may not open signalling sockets.").into_response();
    }
    small_buffers(ws).on_upgrade(move |socket| session::run(state, socket))
}

/// Socket buffers kept small (an idle connection's memory is what bounds a node) and frames capped at 64 KiB.
///
/// tungstenite reads at most `read_buffer_size` bytes a call, grows its buffer to hold each whole frame, and keeps the
/// largest size it reached: with 256 a joined socket keeps about its `join` frame's size (with 512 or 1024, 1024),
/// for a few more reads of long frames. Frames are written when the socket's task flushes, after a burst of them
/// (`write_buffer_size` is only the size at which a long burst is written early).
pub(crate) fn small_buffers(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.read_buffer_size(256).write_buffer_size(WRITE_BUFFER_BYTES).max_frame_size(MAX_FRAME_BYTES).max_message_size(MAX_FRAME_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn origins() {
        assert!(origin_allowed(&headers(None, "vaidya.in"), &[]));
        assert!(origin_allowed(&headers(Some("https://vaidya.in"), "vaidya.in"), &[]));
        assert!(!origin_allowed(&headers(Some("https://evil.example"), "vaidya.in"), &[]));
        let allowed = vec!["https://app.vaidya.in".to_owned()];
        assert!(origin_allowed(&headers(Some("https://app.vaidya.in"), "api.vaidya.in"), &allowed));
        assert!(!origin_allowed(&headers(Some("https://api.vaidya.in.evil.example"), "api.vaidya.in"), &allowed));
    }
}
