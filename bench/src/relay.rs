//! Relay load over sender/receiver pairs: closed loop (a fixed number of messages in flight per pair, the next sent
//! when one is delivered) for throughput, or open loop (a fixed total rate, evenly spaced) for latency. Every message carries its
//! send time; the receiving task, in this same process, times it by the kernel's receive stamp on the same clock
//! ([`crate::rxstamp`]), so the generator's own delays in reading do not count against the server.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::http::Error;
use crate::load::{Sample, Window};
use crate::rxstamp::RxClock;
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

impl Outcome {
    /// Adds another run's figures (a round of the same workload); the latencies need sorting again afterwards.
    pub fn absorb(&mut self, other: Outcome) {
        self.sample.latencies_ns.extend(other.sample.latencies_ns);
        self.sample.elapsed += other.sample.elapsed;
        self.sample.errors += other.sample.errors;
        self.sent += other.sent;
        self.lost += other.lost;
        self.error_frames += other.error_frames;
    }
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
    let mut paced = Vec::new();
    for pair in pairs {
        let (a_sink, a_stream) = pair.sender.split();
        let arrivals = pair.receiver.get_ref().clock();
        let (b_sink, b_stream) = pair.receiver.split();
        let plan = Plan { kind: pair.kind, to: pair.to, pad: pad.clone(), until, window_ns, cap };
        let credits = match pacing {
            Pacing::Closed { in_flight } => {
                let credits = Arc::new(Semaphore::new(in_flight));
                let sending = send(a_sink, plan, credits.clone());
                senders.push(tokio::spawn(async move { vec![sending.await] }));
                Some(credits)
            }
            Pacing::Open { .. } => {
                paced.push((a_sink, plan));
                None
            }
        };
        drains.push(tokio::spawn(drain(a_stream, pair.kind, stop_rx.clone())));
        receivers.push(tokio::spawn(receive(b_stream, arrivals, pair.kind, credits, window_ns, stop_rx.clone())));
        spare.push(b_sink);
    }
    if let Pacing::Open { per_sec } = pacing {
        senders.push(tokio::spawn(send_paced(paced, per_sec, start, until)));
    }
    let mut outcome = Outcome::default();
    let mut sinks = Vec::new();
    for task in senders {
        for (sent, failed, sink) in task.await? {
            outcome.sent += sent;
            outcome.error_frames += failed;
            sinks.push(sink);
        }
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
    until: Instant,
    /// The measured window on the `now_ns` clock.
    window_ns: (u64, u64),
    cap: u64,
}

/// What a sender reports: messages sent within the measured window, send failures, and its sink.
type Sent = (u64, u64, SplitSink<Ws, Message>);

/// Sends until the window ends, whenever a credit comes back; see [`Sent`].
async fn send(mut sink: SplitSink<Ws, Message>, plan: Plan, credits: Arc<Semaphore>) -> Sent {
    let (mut sent, mut in_window) = (0u64, 0u64);
    while sent < plan.cap {
        match tokio::time::timeout_at(plan.until, credits.acquire()).await {
            Ok(Ok(permit)) => permit.forget(),
            _ => break,
        }
        match plan.send(&mut sink).await {
            Some(counted) => in_window += u64::from(counted),
            None => return (in_window, 1, sink),
        }
        sent += 1;
    }
    (in_window, 0, sink)
}

/// The open loop, from one task: turn `k` belongs to pair `k mod n` and falls due at `start + k / per_sec` (shifted
/// by any stall of this process, see [`resume_after_stall`]). The task waits for each turn by yielding, not on a timer:
/// tokio's timers fire on whole milliseconds, which would send each millisecond's messages as one burst and time the
/// queue behind the burst rather than the relay. Yielding lets the receivers and the I/O driver run in between; it keeps
/// this generator's core busy, as its CPU figure shows.
async fn send_paced(senders: Vec<(SplitSink<Ws, Message>, Plan)>, per_sec: f64, start: Instant, until: Instant) -> Vec<Sent> {
    /// One pair's sender and its count so far.
    struct Paced {
        sink: SplitSink<Ws, Message>,
        plan: Plan,
        sent: u64,
        in_window: u64,
        failed: bool,
    }
    let gap = Duration::from_secs_f64(1.0 / per_sec.max(0.001));
    let mut paced: Vec<Paced> =
        senders.into_iter().map(|(sink, plan)| Paced { sink, plan, sent: 0, in_window: 0, failed: false }).collect();
    let mut due = start;
    for turn in (0..paced.len()).cycle() {
        if due >= until {
            break;
        }
        while Instant::now() < due {
            tokio::task::yield_now().await;
        }
        due = resume_after_stall(due, Instant::now()) + gap;
        let p = &mut paced[turn];
        if p.failed || p.sent >= p.plan.cap {
            continue;
        }
        match p.plan.send(&mut p.sink).await {
            Some(counted) => p.in_window += u64::from(counted),
            None => p.failed = true,
        }
        p.sent += 1;
    }
    paced.into_iter().map(|p| (p.in_window, u64::from(p.failed), p.sink)).collect()
}

/// A turn found this late was held up by a stall of the generator's own core (a 200-byte frame into a socket
/// buffer of hundreds of KiB never waits on the server): the schedule carries on evenly from now. Sending what fell
/// due during the stall in one burst would queue it at the server and time the burst, not the relay.
const STALL: Duration = Duration::from_millis(1);

/// When the turn due at `due` counts as taken, seen at `now`: on time, or now after a stall of this process.
fn resume_after_stall(due: Instant, now: Instant) -> Instant {
    if now > due + STALL { now } else { due }
}

impl Plan {
    /// Sends one stamped frame; whether it was sent within the measured window, or `None` if the socket failed.
    async fn send(&self, sink: &mut SplitSink<Ws, Message>) -> Option<bool> {
        let sent_ns = now_ns();
        let frame = self.kind.frame(&self.to, sent_ns, &self.pad);
        sink.send(Message::text(frame)).await.ok()?;
        Some((self.window_ns.0..self.window_ns.1).contains(&sent_ns))
    }
}

/// Receives relayed messages until stopped: times those sent in the measured window (by when the kernel received them,
/// see [`RxClock`]) and returns a credit per delivery.
async fn receive(
    mut stream: SplitStream<Ws>,
    arrivals: RxClock,
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
                    // The read that completed this frame left its stamp; without one (never on Linux), the time now.
                    let arrived = match arrivals.latest_ns() {
                        0 => now_ns(),
                        ns => ns,
                    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_turn_after_a_stall_restarts_the_schedule_but_jitter_is_caught_up() {
        let due = Instant::now();
        // Slightly late: the schedule keeps its slots, the next turns catch up.
        let jitter = due + Duration::from_micros(300);
        assert_eq!(resume_after_stall(due, jitter), due);
        // Held up for 3 ms: carry on from now rather than send thirty turns at once.
        let stalled = due + Duration::from_millis(3);
        assert_eq!(resume_after_stall(due, stalled), stalled);
        // Early (never happens: the task waits for its turn) changes nothing either.
        assert_eq!(resume_after_stall(due + STALL, due), due + STALL);
    }
}
