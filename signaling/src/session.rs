//! One signalling socket: the join handshake, then frames in (parsed, rate-limited, applied to the hub) and
//! frames out (from the hub), with pings to find sockets that stopped answering. Written over `Sink`/`Stream`
//! so tests can drive it with channels.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Message;
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;

use crate::hub::{Conn, Hub, Membership, Outbound, close_frame, direct_frame};
use crate::protocol::{self, CLOSE_UNAUTHORIZED, ClientMsg, JOIN_TIMEOUT_SECS, MAX_FRAME_BYTES, ParseError, ServerMsg};
use crate::token;

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

/// A token bucket.
struct Bucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    fn new(rate: f64, burst: f64) -> Self {
        Self { tokens: burst, last: Instant::now(), rate, burst }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Sends a close frame, then reads and discards until the client closes too (or 2 s pass), so the kernel does not
/// reset a connection with unread data and the frames sent before the close reach the client.
async fn close_gracefully<K, R>(sink: &mut K, stream: &mut R, code: u16, reason: &'static str)
where
    K: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    if sink.send(close_frame(code, reason)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(frame)) = stream.next().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Sends what the hub already queued for this socket, so a closing socket still gets its last errors.
async fn flush<S: Sink<Message> + Unpin>(sink: &mut S, rx: &mut mpsc::Receiver<Outbound>) {
    while let Ok(Outbound::Frame(frame)) = rx.try_recv() {
        if sink.send(Message::Text(frame)).await.is_err() {
            return;
        }
    }
}

/// Whether a read error means the client sent a frame over the size limit.
fn is_too_large(err: &axum::Error) -> bool {
    let text = err.to_string().to_lowercase();
    text.contains("too long") || text.contains("space limit") || text.contains("too big") || text.contains("capacity")
}

/// Runs one socket to its end.
pub async fn run<S>(hub: Arc<Hub>, limits: SessionLimits, socket: S)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message> + Unpin + Send,
{
    let (mut sink, mut stream) = socket.split();

    // 1. The join handshake.
    let first = tokio::time::timeout(Duration::from_secs(JOIN_TIMEOUT_SECS), stream.next()).await;
    let (claims, resume) = match first {
        Ok(Some(Ok(Message::Text(text)))) if text.len() <= MAX_FRAME_BYTES => match protocol::parse(&text) {
            Ok(ClientMsg::Join { token, resume }) => match token::verify(hub.tokens(), &token) {
                Some(claims) => (claims, resume),
                None => {
                    close_gracefully(&mut sink, &mut stream, CLOSE_UNAUTHORIZED, "invalid or expired room token").await;
                    return;
                }
            },
            _ => {
                close_gracefully(&mut sink, &mut stream, CLOSE_UNAUTHORIZED, "the first frame must be join").await;
                return;
            }
        },
        Ok(Some(Err(err))) if is_too_large(&err) => {
            close_gracefully(&mut sink, &mut stream, 1009, "frame too large").await;
            return;
        }
        Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return,
        Ok(Some(Ok(_))) => {
            close_gracefully(&mut sink, &mut stream, CLOSE_UNAUTHORIZED, "the first frame must be join").await;
            return;
        }
        Err(_) => {
            close_gracefully(&mut sink, &mut stream, CLOSE_UNAUTHORIZED, "no join within 5 seconds").await;
            return;
        }
    };

    let (tx, mut rx) = mpsc::channel::<Outbound>(limits.outbound_queue);
    let conn = Conn { id: hub.next_conn_id(), tx };
    let me: Membership = match hub.join(&claims, resume.as_ref(), conn).await {
        Ok(m) => m,
        Err(refusal) => {
            let _ = sink.send(Message::Text(direct_frame(refusal.message()))).await;
            close_gracefully(&mut sink, &mut stream, 1000, "the room does not accept joins").await;
            return;
        }
    };

    // 2. The conversation.
    let mut bucket = Bucket::new(limits.rate_per_sec, limits.burst);
    let mut refused_in_a_row = 0u32;
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval(limits.ping_every);
    ping.tick().await;
    let mut left_on_purpose = false;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Outbound::Frame(frame)) => {
                    if sink.send(Message::Text(frame)).await.is_err() { break; }
                }
                Some(Outbound::Close(code, reason)) => {
                    close_gracefully(&mut sink, &mut stream, code, reason).await;
                    left_on_purpose = code == 1000 || code == 4409;
                    break;
                }
                None => break,
            },
            frame = stream.next() => {
                last_heard = Instant::now();
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        if text.len() > MAX_FRAME_BYTES {
                            flush(&mut sink, &mut rx).await;
                            close_gracefully(&mut sink, &mut stream, 1009, "frame too large").await;
                            break;
                        }
                        if !bucket.take() {
                            refused_in_a_row += 1;
                            if refused_in_a_row >= limits.flood_close_after {
                                flush(&mut sink, &mut rx).await;
                                close_gracefully(&mut sink, &mut stream, 1008, "message flood").await;
                                break;
                            }
                            if refused_in_a_row == 1 || refused_in_a_row.is_multiple_of(100) {
                                hub.refuse(&me, ServerMsg::error("rate_limited", "Too many messages; slow down.")).await;
                            }
                            continue;
                        }
                        refused_in_a_row = 0;
                        match protocol::parse(&text) {
                            Ok(msg) => hub.handle(&me, msg).await,
                            Err(ParseError::UnknownType(kind)) => {
                                hub.refuse(&me, ServerMsg::error("unknown_type", format!("Unknown message type `{kind}`."))).await;
                            }
                            Err(ParseError::Invalid(why)) => hub.refuse(&me, ServerMsg::error("invalid_message", why)).await,
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        hub.refuse(&me, ServerMsg::error("binary_not_supported", "Frames are JSON text.")).await;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(err)) => {
                        if is_too_large(&err) {
                            flush(&mut sink, &mut rx).await;
                            close_gracefully(&mut sink, &mut stream, 1009, "frame too large").await;
                        }
                        break;
                    }
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > limits.idle_timeout {
                    close_gracefully(&mut sink, &mut stream, 1001, "no answer to pings").await;
                    break;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() { break; }
            }
        }
    }
    if !left_on_purpose {
        hub.disconnected(&me).await;
    }
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;
    use crate::ice::IceConfig;

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

    #[test]
    fn the_task_of_one_socket_stays_small() {
        // What every idle connection costs besides its socket buffers: the memory of a node is bounded by this.
        let keys = vaidya_registry::auth::SigningKeys::from_seed(&[1u8; 32]);
        let hub = Hub::local("n", vaidya_registry::auth::TokenService::new(keys, 60, 60), IceConfig::default());
        let task = run(hub, SessionLimits::default(), Silent);
        let size = std::mem::size_of_val(&task);
        eprintln!("socket task: {size} bytes");
        assert!(size <= 3072, "the socket task grew to {size} bytes");
    }
}
