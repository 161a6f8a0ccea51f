//! Relay load over sender/receiver pairs: closed loop (a fixed number of messages in flight per pair, the next sent
//! when one is delivered) for throughput, or open loop (a fixed total rate) for latency. Every message carries its
//! send time; the receiving task, in this same process, times it on the same monotonic clock.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::http::Error;
use crate::load::{Sample, Window};
use crate::wsclient::{Kind, Pair, Ws, now_ns, stamp};

/// How messages are paced.
#[derive(Clone, Copy, Debug)]
pub enum Pacing {
    /// Each pair keeps this many messages in flight.
    Closed { in_flight: usize },
    /// All pairs together send this many messages per second, spread evenly.
    Open { per_sec: f64 },
}

/// What one relay run measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// One-way latencies of messages sent in the measured window and delivered; `elapsed` is the window.
    pub sample: Sample,
    /// Messages sent in the measured window.
    pub sent: u64,
    /// Of those, how many never arrived (by the end of a grace period after the window).
    pub lost: u64,
    /// Error frames the servers sent, and sockets that closed under load.
    pub error_frames: u64,
}

/// Time allowed after the window for messages still in flight to arrive.
const GRACE: Duration = Duration::from_secs(2);

/// Runs `pacing` over `pairs` for `window`, then closes every socket.
pub async fn run(pairs: Vec<Pair>, pacing: Pacing, window: Window, payload_bytes: usize) -> Result<Outcome, Error> {
    let n = pairs.len().max(1);
    let pad: Arc<str> = "x".repeat(payload_bytes).into();
    let start = Instant::now();
    let start_ns = now_ns();
    let until = start + window.warmup + window.measure;
    let window_ns = (start_ns + window.warmup.as_nanos() as u64, start_ns + (window.warmup + window.measure).as_nanos() as u64);
    let cap = window.max_requests / n as u64 + 1;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (mut senders, mut receivers, mut drains, mut spare) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, pair) in pairs.into_iter().enumerate() {
        let (a_sink, a_stream) = pair.sender.split();
        let (b_sink, b_stream) = pair.receiver.split();
        let credits = match pacing {
            Pacing::Closed { in_flight } => Some(Arc::new(Semaphore::new(in_flight))),
            Pacing::Open { .. } => None,
        };
        let plan = Plan { kind: pair.kind, to: pair.to, pad: pad.clone(), pacing, pairs: n, index: i, start, until, window_ns, cap };
        senders.push(tokio::spawn(send(a_sink, plan, credits.clone())));
        drains.push(tokio::spawn(drain(a_stream, pair.kind, stop_rx.clone())));
        receivers.push(tokio::spawn(receive(b_stream, pair.kind, credits, window_ns, stop_rx.clone())));
        spare.push(b_sink);
    }
    let mut outcome = Outcome::default();
    let mut sinks = Vec::new();
    for task in senders {
        let (sent, failed, sink) = task.await?;
        outcome.sent += sent;
        outcome.error_frames += failed;
        sinks.push(sink);
    }
    tokio::time::sleep(GRACE).await;
    let _ = stop_tx.send(true);
    for task in receivers {
        let (latencies, errors) = task.await?;
        outcome.sample.latencies_ns.extend(latencies);
        outcome.error_frames += errors;
    }
    for task in drains {
        outcome.error_frames += task.await?;
    }
    // Close politely so the servers see a clean close rather than a reset.
    let closing = futures::future::join_all(sinks.iter_mut().chain(spare.iter_mut()).map(|s| s.close()));
    let _ = tokio::time::timeout(Duration::from_secs(5), closing).await;
    outcome.sample.latencies_ns.sort_unstable();
    outcome.sample.elapsed = window.measure;
    outcome.lost = outcome.sent.saturating_sub(outcome.sample.latencies_ns.len() as u64);
    outcome.sample.errors = outcome.lost + outcome.error_frames;
    Ok(outcome)
}

/// Everything a sender task needs to know.
struct Plan {
    kind: Kind,
    to: String,
    pad: Arc<str>,
    pacing: Pacing,
    pairs: usize,
    index: usize,
    start: Instant,
    until: Instant,
    /// The measured window on the `now_ns` clock.
    window_ns: (u64, u64),
    cap: u64,
}

/// Sends until the window ends; returns messages sent within the measured window, send failures, and the sink.
async fn send(mut sink: SplitSink<Ws, Message>, plan: Plan, credits: Option<Arc<Semaphore>>) -> (u64, u64, SplitSink<Ws, Message>) {
    let (mut sent, mut in_window, mut failed) = (0u64, 0u64, 0u64);
    let mut ticks = match plan.pacing {
        Pacing::Open { per_sec } => {
            // Each pair sends every `period`, pairs staggered across it so the total rate is smooth.
            let period = Duration::from_secs_f64(plan.pairs as f64 / per_sec.max(0.001));
            let offset = period.mul_f64(plan.index as f64 / plan.pairs as f64);
            let mut interval = tokio::time::interval_at(plan.start + offset, period);
            interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
            Some(interval)
        }
        Pacing::Closed { .. } => None,
    };
    while sent < plan.cap {
        if let Some(credits) = &credits {
            match tokio::time::timeout_at(plan.until, credits.acquire()).await {
                Ok(Ok(permit)) => permit.forget(),
                _ => break,
            }
        }
        if let Some(ticks) = &mut ticks
            && tokio::time::timeout_at(plan.until, ticks.tick()).await.is_err()
        {
            break;
        }
        let now = Instant::now();
        if now >= plan.until {
            break;
        }
        let sent_ns = now_ns();
        let frame = plan.kind.frame(&plan.to, sent_ns, &plan.pad);
        if sink.send(Message::text(frame)).await.is_err() {
            failed += 1;
            break;
        }
        sent += 1;
        if (plan.window_ns.0..plan.window_ns.1).contains(&sent_ns) {
            in_window += 1;
        }
    }
    (in_window, failed, sink)
}

/// Receives relayed messages until stopped: times those sent in the measured window and returns a credit per delivery.
async fn receive(
    mut stream: SplitStream<Ws>,
    kind: Kind,
    credits: Option<Arc<Semaphore>>,
    (from_ns, until_ns): (u64, u64),
    mut stop: watch::Receiver<bool>,
) -> (Vec<u64>, u64) {
    let (mut latencies, mut errors) = (Vec::new(), 0u64);
    loop {
        tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let arrived = now_ns();
                    match stamp(text.as_str()) {
                        Some(sent) => {
                            if let Some(credits) = &credits {
                                credits.add_permits(1);
                            }
                            if (from_ns..until_ns).contains(&sent) {
                                latencies.push(arrived.saturating_sub(sent));
                            }
                        }
                        None => errors += u64::from(kind.is_error(text.as_str())),
                    }
                }
                Some(Ok(_)) => {}
                // Closed under load: counted once; its undelivered messages show up as lost.
                _ => return (latencies, errors + 1),
            },
            _ = stop.changed() => return (latencies, errors),
        }
    }
}

/// Reads what the sender's socket receives (pings, presence) so the server never blocks on it; counts error frames.
async fn drain(mut stream: SplitStream<Ws>, kind: Kind, mut stop: watch::Receiver<bool>) -> u64 {
    let mut errors = 0;
    loop {
        tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => errors += u64::from(kind.is_error(text.as_str())),
                Some(Ok(_)) => {}
                _ => return errors + 1,
            },
            _ = stop.changed() => return errors,
        }
    }
}
