//! Connections a request borrows and hands back without the pool's round trip: sqlx pings every connection it
//! takes back, a third of a busy request's round trips to PostgreSQL. A lease parks the connection for the next
//! request instead. Nothing the ping was for is lost: a connection a cancelled request left mid-answer is drained by
//! its next statement, which sqlx makes wait for every answer still due; one with something still to send (an
//! abandoned transaction's rollback) goes back to the pool, whose ping sends it at once; and one parked for a while
//! is pinged before it is lent again, as the pool does with its own.
//!
//! Leases hold a share of the pool, never all of it, and ask it for one connection at a time: whatever takes
//! connections from the pool directly (transactions of handlers and background tasks, the audit chainer, the
//! deadline sweeper) finds one free, or waits in a short queue, however busy the leased requests are. Before this, a
//! busy node parked and lent the whole pool and kept its queue full of asks for connections no request was still
//! waiting for: the chainer and the sweeper waited there until they timed out, for as long as the load lasted.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection};
use tokio::sync::{Notify, oneshot};

/// A connection parked longer than this is pinged before it is lent again (as the pool's `before_acquire` does).
pub const TRUSTED_IDLE: Duration = Duration::from_secs(1);

/// Lends connections of `pool`, keeping up to `cap` of them parked between requests, and holding (parked or lent)
/// at most a share of the pool: a quarter of it, one connection at least, stays free for those that borrow from it
/// directly.
#[derive(Clone, Debug)]
pub struct Leases {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: AnyPool,
    cap: usize,
    /// The most connections parked and lent at once.
    share: usize,
    state: Mutex<State>,
    /// Signalled whenever a connection is parked, goes back to the pool or could not be had, for borrowers waiting.
    returned: Notify,
}

#[derive(Debug, Default)]
struct State {
    parked: Vec<(PoolConnection<Any>, Instant)>,
    /// Connections taken from the pool and not handed back: parked or lent.
    held: usize,
    /// Whether an ask to the pool is under way (one at a time keeps the pool's queue short).
    asking: bool,
    /// Once the pool is closing, connections go back to it, so that closing does not wait for them forever.
    closed: bool,
}

/// What a borrower does next.
enum Next {
    Take(PoolConnection<Any>, Instant),
    Ask,
    /// The pool is closing: straight from it, and straight back.
    Direct,
    Wait,
}

impl Leases {
    /// Leases over `pool`, which should allow at least two connections (one of them stays free of leases).
    pub fn new(pool: AnyPool, cap: usize) -> Self {
        let max = pool.options().get_max_connections() as usize;
        let share = max.saturating_sub((max / 4).max(1)).max(1);
        let inner = Inner { pool, cap: cap.min(share), share, state: Mutex::default(), returned: Notify::new() };
        Self { inner: Arc::new(inner) }
    }

    /// A connection: the last one parked, or one the pool gives, whichever comes first; `PoolTimedOut` when none
    /// comes within the pool's acquire timeout.
    ///
    /// The pool is asked in a task of its own, and its answer is parked for whoever waits: the answer may be a
    /// connection it is opening, and dropping that halfway (because a parked one came first) would abandon the new
    /// backend before it started, so that a busy node never grew its pool and kept the database forking backends
    /// for nothing (hundreds a second, until connecting failed with EAGAIN on a full listen queue).
    pub async fn lease(&self) -> Result<Lease, sqlx::Error> {
        let deadline = tokio::time::Instant::now() + self.inner.pool.options().get_acquire_timeout();
        loop {
            let returned = self.inner.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            let asked = match self.inner.next() {
                Next::Take(mut conn, since) => {
                    if since.elapsed() < TRUSTED_IDLE || conn.ping().await.is_ok() {
                        return Ok(self.lent(conn));
                    }
                    // Gone while parked (a restart, an idle timeout): the pool replaces it.
                    conn.close_on_drop();
                    self.inner.release(conn);
                    continue;
                }
                Next::Ask => Some(self.ask_pool()),
                Next::Direct => {
                    let conn = self.inner.pool.acquire().await?;
                    self.inner.state.lock().expect("lease state lock").held += 1;
                    return Ok(self.lent(conn));
                }
                Next::Wait => None,
            };
            // The borrower that asked hears why the pool gave nothing; the others wait on, and one of them asks again.
            let answer = async {
                match asked {
                    Some(answer) => answer.await.unwrap_or(Ok(())),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                answer = answer => answer?,
                () = returned => {}
                () = tokio::time::sleep_until(deadline) => return Err(sqlx::Error::PoolTimedOut),
            }
        }
    }

    fn ask_pool(&self) -> oneshot::Receiver<Result<(), sqlx::Error>> {
        let (tell, answer) = oneshot::channel();
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let got = inner.pool.acquire().await;
            let mut state = inner.state.lock().expect("lease state lock");
            state.asking = false;
            match got {
                // The pool is closing: nothing is parked any more, and waiters take from the pool directly.
                Ok(conn) if state.closed => {
                    drop((state, conn));
                    inner.returned.notify_waiters();
                }
                // For whoever is waiting, even beyond the cap: someone was when the ask began.
                Ok(conn) => {
                    state.held += 1;
                    state.parked.push((conn, Instant::now()));
                    drop(state);
                    inner.returned.notify_one();
                    let _ = tell.send(Ok(()));
                }
                Err(err) => {
                    drop(state);
                    inner.returned.notify_waiters();
                    let _ = tell.send(Err(err));
                }
            }
        });
        answer
    }

    fn lent(&self, conn: PoolConnection<Any>) -> Lease {
        Lease { conn: Some(conn), home: self.inner.clone() }
    }

    /// Hands every parked connection back to the pool and parks none from now on; call before closing the pool.
    pub fn close(&self) {
        let mut state = self.inner.state.lock().expect("lease state lock");
        state.closed = true;
        state.held -= state.parked.len();
        state.parked.clear();
    }
}

impl Inner {
    fn next(&self) -> Next {
        let mut state = self.state.lock().expect("lease state lock");
        if let Some((conn, since)) = state.parked.pop() {
            return Next::Take(conn, since);
        }
        if state.closed {
            return Next::Direct;
        }
        if state.asking || state.held >= self.share {
            return Next::Wait;
        }
        state.asking = true;
        Next::Ask
    }

    /// Parks `conn`, or gives it back to the pool when enough are parked or the pool is closing, or when it has
    /// something still to send: a transaction its request abandoned (a failure halfway) queues its rollback, which
    /// would wait, locks held, for the connection's next statement; the pool's ping on return sends it at once.
    fn give_back(&self, conn: PoolConnection<Any>) {
        let unsettled = conn.is_in_transaction() || conn.should_flush();
        let mut state = self.state.lock().expect("lease state lock");
        if unsettled || state.closed || state.parked.len() >= self.cap {
            drop(state);
            self.release(conn);
            return;
        }
        state.parked.push((conn, Instant::now()));
        drop(state);
        self.returned.notify_one();
    }

    /// Hands `conn` back to the pool: the share it held is free for a waiting borrower to ask for.
    fn release(&self, conn: PoolConnection<Any>) {
        self.state.lock().expect("lease state lock").held -= 1;
        drop(conn);
        self.returned.notify_one();
    }
}

/// A borrowed connection; parked again when dropped.
pub struct Lease {
    conn: Option<PoolConnection<Any>>,
    home: Arc<Inner>,
}

impl Deref for Lease {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        self.conn.as_ref().expect("a lease holds its connection until dropped")
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn.as_mut().expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.home.give_back(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::any::AnyPoolOptions;

    async fn pool(max: u32) -> AnyPool {
        sqlx::any::install_default_drivers();
        AnyPoolOptions::new().max_connections(max).connect("sqlite::memory:").await.expect("in-memory SQLite")
    }

    #[tokio::test]
    async fn a_returned_connection_is_lent_again_without_going_back_to_the_pool() {
        let pool = pool(2).await;
        let leases = Leases::new(pool.clone(), 1);
        let mut first = leases.lease().await.unwrap();
        sqlx::query("CREATE TEMP TABLE marker (x INTEGER)").execute(&mut *first).await.unwrap();
        drop(first);
        assert_eq!(pool.num_idle(), 0, "the connection is parked, not back in the pool");
        // A temporary table lives on one connection only: finding it shows the same connection came back.
        let mut again = leases.lease().await.unwrap();
        sqlx::query("SELECT COUNT(*) FROM marker").execute(&mut *again).await.unwrap();
    }

    #[tokio::test]
    async fn beyond_the_cap_connections_go_back_to_the_pool() {
        let pool = pool(3).await;
        let leases = Leases::new(pool.clone(), 1);
        let (a, b) = (leases.lease().await.unwrap(), leases.lease().await.unwrap());
        drop(a);
        drop(b);
        // The pool takes a connection back in a task of its own.
        let returned = async {
            while pool.num_idle() != 1 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(2), returned).await.expect("one parked, one returned to the pool");
    }

    #[tokio::test]
    async fn a_borrower_waiting_on_the_leases_whole_share_gets_a_parked_connection() {
        let pool = pool(2).await;
        let leases = Leases::new(pool.clone(), 1);
        let held = leases.lease().await.unwrap();
        let waiting = tokio::spawn({
            let leases = leases.clone();
            async move { leases.lease().await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the leases' whole share (one of two) is lent");
        drop(held);
        tokio::time::timeout(Duration::from_secs(2), waiting).await.expect("handed on at once").unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_connection_the_pool_is_opening_is_kept_when_a_parked_one_comes_first() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        sqlx::any::install_default_drivers();
        let opened = Arc::new(AtomicUsize::new(0));
        let pool = AnyPoolOptions::new()
            .max_connections(3)
            .after_connect({
                let opened = opened.clone();
                move |_conn, _meta| {
                    let opened = opened.clone();
                    Box::pin(async move {
                        // A slow database: the parked connection arrives while this one is still being opened.
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        opened.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    })
                }
            })
            .connect_lazy("sqlite::memory:")
            .expect("lazy in-memory SQLite");
        let leases = Leases::new(pool.clone(), 1);
        let held = leases.lease().await.unwrap();
        let waiting = tokio::spawn({
            let leases = leases.clone();
            async move { leases.lease().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        let second = tokio::time::timeout(Duration::from_millis(200), waiting).await.expect("the parked connection, at once");
        let _second = second.unwrap().unwrap();
        // The connection the pool was opening for the waiter is finished and parked, not abandoned halfway.
        let settled = async {
            while opened.load(Ordering::SeqCst) != 2 || leases.inner.state.lock().unwrap().parked.len() != 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(2), settled).await.expect("the pool's new connection is kept");
        assert_eq!(pool.size(), 2);
    }

    #[tokio::test]
    async fn busy_borrowers_leave_a_connection_free_for_the_pool_s_direct_users() {
        let pool = pool(4).await;
        let leases = Leases::new(pool.clone(), 2);
        let busy = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let mut borrowers = Vec::new();
        for _ in 0..12 {
            let (leases, busy) = (leases.clone(), busy.clone());
            borrowers.push(tokio::spawn(async move {
                while busy.load(std::sync::atomic::Ordering::Relaxed) {
                    let conn = leases.lease().await.expect("a lease");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    drop(conn);
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..20 {
            let direct = tokio::time::timeout(Duration::from_secs(2), pool.acquire()).await;
            drop(direct.expect("a direct borrower is not kept waiting behind the leases").expect("a connection"));
            let held = leases.inner.state.lock().unwrap().held;
            assert!(held <= 3, "leases hold {held} of 4 connections");
        }
        busy.store(false, std::sync::atomic::Ordering::Relaxed);
        for b in borrowers {
            b.await.unwrap();
        }
    }

    #[tokio::test]
    async fn closing_hands_parked_connections_back_so_the_pool_can_close() {
        let pool = pool(2).await;
        let leases = Leases::new(pool.clone(), 2);
        drop(leases.lease().await.unwrap());
        leases.close();
        drop(leases.lease().await.unwrap());
        tokio::time::timeout(Duration::from_secs(2), pool.close()).await.expect("nothing parked keeps the pool open");
    }
}
