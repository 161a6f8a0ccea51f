//! The frames waiting to be written to one socket: a bounded queue between the hub (any number of senders) and the
//! socket's task (one receiver). It holds memory only while frames wait — a channel keeps its first block of slots
//! (over a kilobyte) for as long as the socket lives, and most sockets are idle most of the time.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

use axum::extract::ws::Utf8Bytes;

use crate::hub::Outbound;

/// A frame was not queued: the queue is full (the socket is not keeping up) or the socket's task has ended.
#[derive(Debug, PartialEq, Eq)]
pub struct NotQueued;

struct State {
    queue: VecDeque<Outbound>,
    /// The socket's task, while it waits for a frame.
    waker: Option<Waker>,
    // 32-bit counts pack beside the flag: every socket has one of these.
    senders: u32,
    capacity: u32,
    receiver_alive: bool,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Nothing panics while the lock is held, and the queue is consistent between any two statements anyway.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A queue of at most `capacity` frames: the sending half (for the hub) and the receiving half (for the socket).
pub fn outbox(capacity: usize) -> (OutboxSender, Outbox) {
    let capacity = u32::try_from(capacity).unwrap_or(u32::MAX);
    let shared = Arc::new(Mutex::new(State { queue: VecDeque::new(), waker: None, senders: 1, capacity, receiver_alive: true }));
    (OutboxSender { shared: shared.clone() }, Outbox { shared })
}

/// Queues frames for one socket; the socket's task sees the end of the queue once every sender is dropped.
pub struct OutboxSender {
    shared: Arc<Mutex<State>>,
}

impl OutboxSender {
    /// Queues `out` unless the queue is full or the socket's task has ended; never waits.
    pub fn try_send(&self, out: Outbound) -> Result<(), NotQueued> {
        let mut state = lock(&self.shared);
        if !state.receiver_alive || state.queue.len() >= state.capacity as usize {
            return Err(NotQueued);
        }
        state.queue.push_back(out);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

impl Clone for OutboxSender {
    fn clone(&self) -> Self {
        lock(&self.shared).senders += 1;
        Self { shared: self.shared.clone() }
    }
}

impl Drop for OutboxSender {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.senders -= 1;
        let waker = if state.senders == 0 { state.waker.take() } else { None };
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl fmt::Debug for OutboxSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxSender").finish_non_exhaustive()
    }
}

/// The socket's end of the queue.
pub struct Outbox {
    shared: Arc<Mutex<State>>,
}

impl Outbox {
    /// The next frame in order; `None` once the queue is empty and no sender is left (the hub forgot the socket).
    pub async fn recv(&self) -> Option<Outbound> {
        poll_fn(|cx| {
            let mut state = lock(&self.shared);
            if let Some(out) = state.queue.pop_front() {
                return Poll::Ready(Some(out));
            }
            if state.senders == 0 {
                return Poll::Ready(None);
            }
            // About to sleep with nothing queued: give the queue's memory back, so an idle socket holds none.
            state.queue = VecDeque::new();
            match &mut state.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }

    /// The next frame if one is queued, without waiting.
    pub fn try_recv(&self) -> Option<Outbound> {
        lock(&self.shared).queue.pop_front()
    }

    /// The next message's text if the next thing queued is one (not a close), without waiting.
    pub fn try_recv_frame(&self) -> Option<Utf8Bytes> {
        match lock(&self.shared).queue.pop_front_if(|next| matches!(next, Outbound::Frame(_))) {
            Some(Outbound::Frame(text)) => Some(text),
            _ => None,
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.receiver_alive = false;
        state.waker = None;
        // Frames nobody will write are freed now, not when the hub forgets the socket.
        state.queue = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn frame(text: &str) -> Outbound {
        Outbound::Frame(text.into())
    }

    fn text(out: Option<Outbound>) -> String {
        match out {
            Some(Outbound::Frame(f)) => f.as_str().to_owned(),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn frames_arrive_in_order_and_the_queue_is_bounded() {
        let (tx, rx) = outbox(2);
        tx.try_send(frame("a")).unwrap();
        tx.try_send(frame("b")).unwrap();
        assert_eq!(tx.try_send(frame("c")), Err(NotQueued), "a full queue refuses");
        assert_eq!(text(rx.recv().await), "a");
        tx.try_send(frame("d")).unwrap();
        assert_eq!(text(rx.try_recv()), "b");
        assert_eq!(text(rx.recv().await), "d");
        assert!(rx.try_recv().is_none());
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_send() {
        let (tx, rx) = outbox(4);
        let waiting = tokio::spawn(async move { rx.recv().await.map(|o| matches!(o, Outbound::Close(4409, _))) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.try_send(Outbound::Close(4409, "replaced")).unwrap();
        assert_eq!(waiting.await.unwrap(), Some(true));
    }

    #[tokio::test]
    async fn the_end_comes_after_the_last_sender_and_the_last_frame() {
        let (tx, rx) = outbox(4);
        let other = tx.clone();
        tx.try_send(frame("last")).unwrap();
        drop(tx);
        let waiting = tokio::spawn(async move { (text(rx.recv().await), rx.recv().await.is_none()) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one sender is still there");
        drop(other);
        assert_eq!(waiting.await.unwrap(), ("last".to_owned(), true));
    }

    #[tokio::test]
    async fn nothing_is_queued_for_an_ended_socket() {
        let (tx, rx) = outbox(4);
        drop(rx);
        assert_eq!(tx.try_send(frame("lost")), Err(NotQueued));
    }

    #[tokio::test]
    async fn an_idle_queue_holds_no_memory() {
        let (tx, rx) = outbox(8);
        for i in 0..5 {
            tx.try_send(frame(&i.to_string())).unwrap();
        }
        for _ in 0..5 {
            rx.recv().await.unwrap();
        }
        assert!(tokio::time::timeout(Duration::from_millis(10), rx.recv()).await.is_err());
        assert_eq!(lock(&rx.shared).queue.capacity(), 0);
    }
}
