//! One signalling socket: the join handshake, then frames in (parsed, rate-limited, applied to the hub) and
//! frames out (from the hub), with pings to find sockets that stopped answering. Written over `Sink`/`Stream`
//! so tests can drive it with channels.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Message;
use futures::future::BoxFuture;
use futures::{Sink, SinkExt, Stream, StreamExt};

use crate::hub::{Conn, Hub, Membership, Outbound, close_frame, direct_frame};
use crate::outbox::{Outbox, outbox};
use crate::protocol::{self, CLOSE_UNAUTHORIZED, ClientMsg, JOIN_TIMEOUT_SECS, MAX_FRAME_BYTES, ParseError, ServerMsg};
use crate::rate::{RateLimit, Verdict};
use crate::token;
use crate::ws::SignalState;

/// Limits of one socket.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    /// Sustained messages per second allowed from a client.
    pub rate_per_sec: f64,
    /// Burst allowed above the sustained rate (ICE candidates come in bursts).
    pub burst: f64,
    /// Refused messages in a row after which the socket is closed (1008).
    pub flood_close_after: u32,
    pub ping_every: Duration,
    /// No frame (not even a pong) for this long closes the socket.
    pub idle_timeout: Duration,
    /// Frames queued toward a slow client before it is closed.
    pub outbound_queue: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            rate_per_sec: 50.0,
            burst: 200.0,
            flood_close_after: 500,
            ping_every: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(25),
            outbound_queue: 256,
        }
    }
}

/// Runs one socket to its end.
///
/// Every connected socket's task holds this future for the socket's whole life, and a future is as large as its
/// largest state: so the cold, large steps (the join handshake, closing, the Redis hub's round trips) are boxed and
/// take memory only while they run, and the state an idle socket waits in stays small.
#[expect(clippy::manual_async_fn, reason = "an async fn's future would keep a second copy of the socket")]
pub fn run<S>(signal: Arc<SignalState>, mut socket: S) -> impl Future<Output = ()>
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message> + Unpin + Send,
{
    // An async block, not an async fn: an async fn's future keeps its arguments as given beside the copies its body
    // works on, and the socket is most of this future.
    async move {
        let (hub, limits) = (&*signal.hub, &signal.limits);
        let Some((me, outbox)) = Box::pin(handshake(hub, limits, &mut socket)).await else { return };
        let left_on_purpose = converse(hub, limits, &mut socket, &me, &outbox).await;
        drop(outbox);
        if !left_on_purpose {
            hub.disconnected(&me).await;
        }
        let _ = socket.close().await;
    }
}

/// The join handshake: the first frame must be a `join` with a valid room token. Returns the socket's membership and
/// its queue of outgoing frames, or `None` once the socket has been closed.
async fn handshake<S>(hub: &Hub, limits: &SessionLimits, socket: &mut S) -> Option<(Membership, Outbox)>
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message> + Unpin,
{
    let first = tokio::time::timeout(Duration::from_secs(JOIN_TIMEOUT_SECS), socket.next()).await;
    let (claims, resume) = match first {
        Ok(Some(Ok(Message::Text(text)))) if text.len() <= MAX_FRAME_BYTES => match protocol::parse(&text) {
            Ok(ClientMsg::Join { token, resume }) => match token::verify(hub.tokens(), &token) {
                Some(claims) => (claims, resume),
                None => {
                    close_gracefully(socket, CLOSE_UNAUTHORIZED, "invalid or expired room token").await;
                    return None;
                }
            },
            _ => {
                close_gracefully(socket, CLOSE_UNAUTHORIZED, "the first frame must be join").await;
                return None;
            }
        },
        Ok(Some(Err(err))) if is_too_large(&err) => {
            close_gracefully(socket, 1009, "frame too large").await;
            return None;
        }
        Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return None,
        Ok(Some(Ok(_))) => {
            close_gracefully(socket, CLOSE_UNAUTHORIZED, "the first frame must be join").await;
            return None;
        }
        Err(_) => {
            close_gracefully(socket, CLOSE_UNAUTHORIZED, "no join within 5 seconds").await;
            return None;
        }
    };

    let (tx, outbox) = outbox(limits.outbound_queue);
    let conn = Conn { id: hub.next_conn_id(), tx };
    match hub.join(&claims, resume.as_ref(), conn).await {
        Ok(me) => Some((me, outbox)),
        Err(refusal) => {
            let _ = socket.send(Message::Text(direct_frame(refusal.message()))).await;
            close_gracefully(socket, 1000, "the room does not accept joins").await;
            None
        }
    }
}

/// What a socket's task does after something woke it.
enum Turn<'a> {
    /// Write a frame to the client.
    Write(Message),
    Listen,
    /// Wait for the Redis hub's round trip for a frame.
    Wait(BoxFuture<'a, ()>),
    /// Close the socket; `flush` first writes what the hub queued (when the client is at fault, to explain why).
    Close {
        code: u16,
        reason: &'static str,
        flush: bool,
    },
    /// The client closed, the connection failed, or the hub forgot the socket.
    End,
}

/// Applies one frame from the client: the size and rate limits, then the message to the hub. Not async, so that
/// nothing of the frame is kept in the socket's future.
fn receive<'a>(
    hub: &'a Hub,
    limits: &SessionLimits,
    me: &'a Membership,
    rate: &mut RateLimit,
    frame: Option<Result<Message, axum::Error>>,
) -> Turn<'a> {
    let text = match frame {
        Some(Ok(Message::Text(text))) => text,
        Some(Ok(Message::Binary(_))) => {
            hub.refuse(me, ServerMsg::error("binary_not_supported", "Frames are JSON text."));
            return Turn::Listen;
        }
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => return Turn::Listen,
        Some(Ok(Message::Close(_))) | None => return Turn::End,
        Some(Err(err)) if is_too_large(&err) => return Turn::Close { code: 1009, reason: "frame too large", flush: true },
        Some(Err(_)) => return Turn::End,
    };
    if text.len() > MAX_FRAME_BYTES {
        return Turn::Close { code: 1009, reason: "frame too large", flush: true };
    }
    match rate.take(limits.rate_per_sec, limits.burst, limits.flood_close_after) {
        Verdict::Allowed => {}
        Verdict::Refused { tell } => {
            if tell {
                hub.refuse(me, ServerMsg::error("rate_limited", "Too many messages; slow down."));
            }
            return Turn::Listen;
        }
        Verdict::Flood => return Turn::Close { code: 1008, reason: "message flood", flush: true },
    }
    match protocol::parse(&text) {
        Ok(msg) => hub.handle(me, msg).map_or(Turn::Listen, Turn::Wait),
        Err(ParseError::UnknownType(kind)) => {
            hub.refuse(me, ServerMsg::error("unknown_type", format!("Unknown message type `{kind}`.")));
            Turn::Listen
        }
        Err(ParseError::Invalid(why)) => {
            hub.refuse(me, ServerMsg::error("invalid_message", why));
            Turn::Listen
        }
    }
}

/// Frames in (to `receive`) and frames out (from the hub), with pings, until the socket ends; returns whether it left
/// on purpose (`leave`, `end`, replaced), when the hub keeps no resumable peer.
#[expect(clippy::manual_async_fn, reason = "an async fn's future would keep its arguments twice")]
fn converse<'a, S>(
    hub: &'a Hub,
    limits: &'a SessionLimits,
    socket: &'a mut S,
    me: &'a Membership,
    outbox: &'a Outbox,
) -> impl Future<Output = bool> + 'a
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message> + Unpin,
{
    // An async block, not an async fn, for the same reason as in `run`: arguments are not stored twice.
    async move {
        let mut rate = RateLimit::new(limits.burst);
        let mut last_heard = Instant::now();
        // The ping timer lives in this future rather than boxed (as in `tokio::time::Interval`): one allocation less
        // per socket.
        let mut ping = std::pin::pin!(tokio::time::sleep(limits.ping_every));
        loop {
            // A turn ends with at most one frame to write, written once the turn is gone: the future then waits on
            // the write holding the frame and nothing else.
            let frame = {
                let turn = tokio::select! {
                    out = outbox.recv() => match out {
                        Some(Outbound::Frame(text)) => Turn::Write(Message::Text(text)),
                        Some(Outbound::Close(code, reason)) => Turn::Close { code, reason, flush: false },
                        None => Turn::End,
                    },
                    frame = socket.next() => {
                        last_heard = Instant::now();
                        receive(hub, limits, me, &mut rate, frame)
                    }
                    () = ping.as_mut() => {
                        ping.as_mut().reset(tokio::time::Instant::now() + limits.ping_every);
                        if last_heard.elapsed() > limits.idle_timeout {
                            Turn::Close { code: 1001, reason: "no answer to pings", flush: false }
                        } else {
                            Turn::Write(Message::Ping(Default::default()))
                        }
                    }
                };
                match turn {
                    Turn::Write(frame) => frame,
                    Turn::Listen => continue,
                    // Moved whole into a boxed step, so the turn is not kept in this future while the step runs.
                    turn => match Box::pin(take_turn(turn, socket, outbox)).await {
                        Some(left_on_purpose) => return left_on_purpose,
                        None => continue,
                    },
                }
            };
            if socket.feed(frame).await.is_err() {
                return false;
            }
            // Frames the hub queued meanwhile go out in the same write: one system call (and, on a busy node, one
            // TCP segment) for a burst rather than one per frame. The queue is bounded, and a long burst is written
            // in pieces of the socket's write buffer as it goes.
            while let Some(text) = outbox.try_recv_frame() {
                if socket.feed(Message::Text(text)).await.is_err() {
                    return false;
                }
            }
            if socket.flush().await.is_err() {
                return false;
            }
        }
    }
}

/// Takes one turn to its end; `Some(left_on_purpose)` once the socket is done, the purpose being a `leave`, an `end` or
/// a newer socket (the hub then keeps no peer to resume).
async fn take_turn<S>(turn: Turn<'_>, socket: &mut S, outbox: &Outbox) -> Option<bool>
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message> + Unpin,
{
    match turn {
        Turn::Write(frame) => socket.send(frame).await.is_err().then_some(false),
        Turn::Listen => None,
        Turn::Wait(round_trip) => {
            round_trip.await;
            None
        }
        Turn::Close { code, reason, flush } => {
            // A socket closed for its client's fault first gets what the hub queued for it: its last errors.
            while flush && let Some(frame) = outbox.try_recv_frame() {
                if socket.send(Message::Text(frame)).await.is_err() {
                    return Some(false);
                }
            }
            close_gracefully(socket, code, reason).await;
            Some(code == 1000 || code == 4409)
        }
        Turn::End => Some(false),
    }
}

/// Sends a close frame, then reads and discards until the client closes too (or 2 s pass), so the kernel does not
/// reset a connection with unread data and the frames sent before the close reach the client.
async fn close_gracefully<S>(socket: &mut S, code: u16, reason: &'static str)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message> + Unpin,
{
    if socket.send(close_frame(code, reason)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(frame)) = socket.next().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Whether a read error means the client sent a frame over the size limit.
fn is_too_large(err: &axum::Error) -> bool {
    let text = err.to_string().to_lowercase();
    text.contains("too long") || text.contains("space limit") || text.contains("too big") || text.contains("capacity")
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures::channel::mpsc;

    use super::*;

    /// A socket that never yields a frame and swallows every one sent.
    struct Silent;

    impl Stream for Silent {
        type Item = Result<Message, axum::Error>;
        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Pending
        }
    }

    impl Sink<Message> for Silent {
        type Error = axum::Error;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, _: Message) -> Result<(), Self::Error> {
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A socket driven by channels: frames from the client in, frames the server writes out.
    struct Channel {
        from_client: mpsc::UnboundedReceiver<Message>,
        to_client: mpsc::UnboundedSender<Message>,
    }

    impl Stream for Channel {
        type Item = Result<Message, axum::Error>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.from_client.poll_next_unpin(cx).map(|frame| frame.map(Ok))
        }
    }

    impl Sink<Message> for Channel {
        type Error = axum::Error;
        fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.to_client.poll_ready_unpin(cx).map_err(axum::Error::new)
        }
        fn start_send(mut self: Pin<&mut Self>, frame: Message) -> Result<(), Self::Error> {
            self.to_client.start_send_unpin(frame).map_err(axum::Error::new)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.to_client.poll_flush_unpin(cx).map_err(axum::Error::new)
        }
        fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.to_client.poll_close_unpin(cx).map_err(axum::Error::new)
        }
    }

    /// The client's ends of a socket whose server side runs in a task.
    fn connect(signal: &Arc<SignalState>) -> (mpsc::UnboundedSender<Message>, mpsc::UnboundedReceiver<Message>) {
        let (client_tx, from_client) = mpsc::unbounded();
        let (to_client, client_rx) = mpsc::unbounded();
        tokio::spawn(run(signal.clone(), Channel { from_client, to_client }));
        (client_tx, client_rx)
    }

    /// The next frame but pings, as JSON, or the close code.
    async fn next(rx: &mut mpsc::UnboundedReceiver<Message>) -> Result<serde_json::Value, Option<u16>> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), rx.next()).await.expect("a frame within 5 s");
            match frame {
                Some(Message::Text(text)) => return Ok(serde_json::from_str(&text).expect("JSON")),
                Some(Message::Ping(_)) => {}
                Some(Message::Close(frame)) => return Err(frame.map(|f| f.code)),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn text(value: serde_json::Value) -> Message {
        Message::Text(value.to_string().into())
    }

    #[tokio::test]
    async fn sockets_join_relay_and_close_for_oversized_frames_and_silence() {
        let keys = vaidya_registry::auth::SigningKeys::from_seed(&[1u8; 32]);
        let hub = Hub::local("n", vaidya_registry::auth::TokenService::new(keys, 60, 60), crate::ice::IceConfig::default());
        let limits = SessionLimits { ping_every: Duration::from_millis(100), idle_timeout: Duration::from_secs(1), ..Default::default() };
        let signal = Arc::new(SignalState { hub, limits, allowed_origins: Arc::default() });
        let token = |who: &str| token::mint(signal.hub.tokens(), "r", who, "doctor", who, 60);

        let (a_tx, mut a_rx) = connect(&signal);
        a_tx.unbounded_send(text(serde_json::json!({"type": "join", "token": token("a")}))).unwrap();
        let a_id = next(&mut a_rx).await.unwrap()["peer_id"].as_str().unwrap().to_owned();
        let (b_tx, mut b_rx) = connect(&signal);
        b_tx.unbounded_send(text(serde_json::json!({"type": "join", "token": token("b")}))).unwrap();
        let b_id = next(&mut b_rx).await.unwrap()["peer_id"].as_str().unwrap().to_owned();
        assert_eq!(next(&mut a_rx).await.unwrap()["type"], "peer_joined");

        a_tx.unbounded_send(text(serde_json::json!({"type": "offer", "to": b_id, "sdp": "v=0"}))).unwrap();
        let offer = next(&mut b_rx).await.unwrap();
        assert_eq!((offer["type"].as_str(), offer["from"].as_str()), (Some("offer"), Some(a_id.as_str())));

        b_tx.unbounded_send(text(serde_json::json!({"type": "teleport"}))).unwrap();
        b_tx.unbounded_send(Message::Text("x".repeat(MAX_FRAME_BYTES + 1).into())).unwrap();
        assert_eq!(next(&mut b_rx).await.unwrap()["code"], "unknown_type");
        assert_eq!(next(&mut b_rx).await, Err(Some(1009)));

        // `a` sends nothing more, so answers no ping either.
        assert_eq!(next(&mut a_rx).await, Err(Some(1001)));
        drop(a_tx);
    }

    /// A socket that keeps what the server writes as the writes it would make: the frames between two flushes.
    struct Recorder {
        from_client: mpsc::UnboundedReceiver<Message>,
        unflushed: Vec<Message>,
        writes: Arc<std::sync::Mutex<Vec<Vec<Message>>>>,
    }

    impl Stream for Recorder {
        type Item = Result<Message, axum::Error>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.from_client.poll_next_unpin(cx).map(|frame| frame.map(Ok))
        }
    }

    impl Sink<Message> for Recorder {
        type Error = axum::Error;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(mut self: Pin<&mut Self>, frame: Message) -> Result<(), Self::Error> {
            self.unflushed.push(frame);
            Ok(())
        }
        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            if !self.unflushed.is_empty() {
                let write = std::mem::take(&mut self.unflushed);
                self.writes.lock().unwrap().push(write);
            }
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.poll_flush(cx)
        }
    }

    #[tokio::test]
    async fn frames_queued_for_a_socket_meanwhile_go_out_in_one_write_in_order() {
        let keys = vaidya_registry::auth::SigningKeys::from_seed(&[2u8; 32]);
        let hub = Hub::local("n", vaidya_registry::auth::TokenService::new(keys, 60, 60), crate::ice::IceConfig::default());
        let signal = Arc::new(SignalState { hub, limits: SessionLimits::default(), allowed_origins: Arc::default() });
        let token = |who: &str| token::mint(signal.hub.tokens(), "r", who, "doctor", who, 60);

        let (a_tx, mut a_rx) = connect(&signal);
        a_tx.unbounded_send(text(serde_json::json!({"type": "join", "token": token("a")}))).unwrap();
        next(&mut a_rx).await.unwrap();
        let (b_tx, from_client) = mpsc::unbounded();
        let writes = Arc::new(std::sync::Mutex::new(Vec::new()));
        tokio::spawn(run(signal.clone(), Recorder { from_client, unflushed: Vec::new(), writes: writes.clone() }));
        b_tx.unbounded_send(text(serde_json::json!({"type": "join", "token": token("b")}))).unwrap();
        // `b` is in once `a` hears of it.
        assert_eq!(next(&mut a_rx).await.unwrap()["type"], "peer_joined");

        // `a`'s task relays all three before `b`'s task runs again (one thread): they wait in `b`'s queue together.
        for n in 0..3 {
            a_tx.unbounded_send(text(serde_json::json!({"type": "chat", "text": format!("n{n}")}))).unwrap();
        }
        let chats = loop {
            let done = writes.lock().unwrap().iter().flatten().filter(|m| matches!(m, Message::Text(t) if t.contains("\"chat\""))).count();
            if done == 3 {
                break writes.lock().unwrap().clone();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let last = chats.last().unwrap();
        let texts: Vec<String> = last
            .iter()
            .map(|m| match m {
                Message::Text(t) => serde_json::from_str::<serde_json::Value>(t).unwrap()["text"].as_str().unwrap_or_default().to_owned(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(texts, ["n0", "n1", "n2"], "one write, in order");
    }

    #[test]
    fn the_task_of_one_socket_stays_small() {
        // Every connected socket's task holds this future for the socket's whole life: a node's memory is bounded by
        // it. tokio allocates tasks in steps of 128 bytes; with axum's upgrade around it, this future for a real socket
        // at up to about 790 bytes keeps the task at 1024 bytes, past that it takes 1152.
        fn future_size<S, F: Future>(_: fn(Arc<SignalState>, S) -> F) -> usize {
            std::mem::size_of::<F>()
        }
        let real = future_size(run::<axum::extract::ws::WebSocket>);
        let bare = future_size(run::<Silent>);
        eprintln!("socket task: {real} bytes, {bare} without the socket");
        assert!(real <= 768, "the socket task grew to {real} bytes");
        assert!(bare <= 416, "the socket task grew to {bare} bytes without the socket");
    }
}
