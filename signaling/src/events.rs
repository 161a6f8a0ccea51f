//! `GET /ws/events`: pushes a user's own events (`{type: "event", kind, data, seq}`) as they are committed.
//! The first frame is `{"type": "auth", "token": ACCESS_TOKEN, "last_seq"?: N}`; the server answers
//! `{"type": "ready", "last_seq": N}` and then sends every event after N, from the database outbox.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::Message;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{Sink, SinkExt, Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use vaidya_registry::auth::AuthUser;
use vaidya_registry::auth::extract::authenticate;
use vaidya_registry::events;
use vaidya_registry::{ApiError, RedisHandle, Registry};

use crate::hub::close_frame;
use crate::protocol::{CLOSE_UNAUTHORIZED, JOIN_TIMEOUT_SECS};
use crate::session::SessionLimits;
use crate::ws::{origin_allowed, small_buffers};

#[derive(Clone)]
pub struct EventsState {
    pub registry: Registry,
    pub limits: SessionLimits,
    pub allowed_origins: std::sync::Arc<Vec<String>>,
}

pub fn router(state: EventsState) -> Router {
    Router::new().route("/ws/events", get(upgrade)).with_state(state)
}

async fn upgrade(State(state): State<EventsState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if !origin_allowed(&headers, &state.allowed_origins) {
        return ApiError::forbidden("origin_not_allowed", "This origin may not open event sockets.").into_response();
    }
    small_buffers(ws).on_upgrade(move |socket| run(state.registry, state.limits, socket))
}

#[derive(Deserialize)]
struct Auth {
    #[serde(rename = "type")]
    kind: String,
    token: String,
    #[serde(default)]
    last_seq: Option<i64>,
}

/// A safety net under the wake-ups: every socket looks at the outbox this often anyway.
const POLL_EVERY: Duration = Duration::from_secs(5);
/// How often a socket re-checks that its session is still live (logout, suspension).
const RECHECK_EVERY: Duration = Duration::from_secs(30);

async fn authenticate_first_frame<R>(registry: &Registry, stream: &mut R) -> Option<(AuthUser, String, Option<i64>)>
where
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let first = tokio::time::timeout(Duration::from_secs(JOIN_TIMEOUT_SECS), stream.next()).await;
    let Ok(Some(Ok(Message::Text(text)))) = first else { return None };
    let auth: Auth = serde_json::from_str(&text).ok()?;
    if auth.kind != "auth" {
        return None;
    }
    let user = authenticate(registry, &auth.token).await.ok()?;
    Some((user, auth.token, auth.last_seq))
}

/// Runs one events socket to its end.
pub async fn run<S>(registry: Registry, limits: SessionLimits, socket: S)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message> + Unpin + Send,
{
    let (mut sink, mut stream) = socket.split();
    let Some((user, token, last_seq)) = authenticate_first_frame(&registry, &mut stream).await else {
        let _ = sink.send(close_frame(CLOSE_UNAUTHORIZED, "the first frame must be auth with a valid access token")).await;
        return;
    };
    let mut wake = registry.events.subscribe();
    let mut last = match last_seq {
        Some(n) => n.max(0),
        None => events::latest(&registry.db, &user.account_id).await.unwrap_or(0),
    };
    if sink.send(Message::Text(json!({"type": "ready", "last_seq": last}).to_string().into())).await.is_err() {
        return;
    }
    let mut poll = tokio::time::interval(POLL_EVERY);
    let mut ping = tokio::time::interval(limits.ping_every);
    let mut recheck = tokio::time::interval(RECHECK_EVERY);
    recheck.tick().await;
    ping.tick().await;
    let mut last_heard = Instant::now();
    loop {
        let fetch = tokio::select! {
            woken = wake.recv() => match woken {
                Ok(account) => account == user.account_id,
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => break,
            },
            _ = poll.tick() => true,
            _ = recheck.tick() => {
                if authenticate(&registry, &token).await.is_err() {
                    let _ = sink.send(close_frame(CLOSE_UNAUTHORIZED, "the session ended")).await;
                    break;
                }
                false
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > limits.idle_timeout {
                    let _ = sink.send(close_frame(1001, "no answer to pings")).await;
                    break;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() { break; }
                false
            }
            frame = stream.next() => {
                last_heard = Instant::now();
                match frame {
                    Some(Ok(Message::Text(text))) if text.contains("\"ping\"") => {
                        if sink.send(Message::Text(json!({"type": "pong"}).to_string().into())).await.is_err() { break; }
                        false
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => false,
                }
            }
        };
        if !fetch {
            continue;
        }
        let Ok(batch) = events::since(&registry.db, &user.account_id, last, 200).await else { continue };
        for event in batch {
            let frame = json!({"type": "event", "kind": event.kind, "data": event.data, "seq": event.seq});
            if sink.send(Message::Text(frame.to_string().into())).await.is_err() {
                return;
            }
            last = event.seq;
        }
    }
    let _ = sink.close().await;
}

/// With Redis, every node listens for wake-ups published by any node and passes them to its own sockets.
pub async fn forward_redis_wakeups(redis: RedisHandle, registry: Registry) {
    let channel = vaidya_registry::events::EventWaker::channel(&redis);
    loop {
        if let Ok(mut pubsub) = redis.client().get_async_pubsub().await
            && pubsub.subscribe(&channel).await.is_ok()
        {
            let mut messages = pubsub.into_on_message();
            while let Some(msg) = messages.next().await {
                if let Ok(account) = msg.get_payload::<String>() {
                    registry.events.wake_local(&account);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
