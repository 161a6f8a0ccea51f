//! Connections a request borrows and hands back without the pool's round trip: sqlx pings every connection it
//! takes back, a third of a busy request's round trips to PostgreSQL. A lease parks the connection for the next
//! request instead. Nothing the ping was for is lost: a connection a cancelled request left mid-answer is drained by
//! its next statement, which sqlx makes wait for every answer still due; one with something still to send (an
//! abandoned transaction's rollback) goes back to the pool, whose ping sends it at once; and one parked for a while
//! is pinged before it is lent again, as the pool does with its own.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection};
use tokio::sync::{Notify, oneshot};

/// A connection parked longer than this is pinged before it is lent again (as the pool's `before_acquire` does).
pub const TRUSTED_IDLE: Duration = Duration::from_secs(1);

/// Lends connections of `pool`, keeping up to `cap` of them parked between requests. The rest of the pool stays
/// free for whatever borrows from it directly (transactions of the background tasks), so those never wait on parked ones.
#[derive(Clone, Debug)]
pub struct Leases {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: AnyPool,
    cap: usize,
    parked: Mutex<Parked>,
    /// Signalled whenever a connection is parked, for a borrower waiting on the pool meanwhile.
    returned: Notify,
}

#[derive(Debug, Default)]
struct Parked {
    conns: Vec<(PoolConnection<Any>, Instant)>,
    /// Once the pool is closing, connections go back to it, so that closing does not wait for them forever.
    closed: bool,
}

impl Leases {
    pub fn new(pool: AnyPool, cap: usize) -> Self {
        Self { inner: Arc::new(Inner { pool, cap, parked: Mutex::default(), returned: Notify::new() }) }
    }

    /// A connection: the last one parked, or a fresh one from the pool, whichever comes first.
    ///
    /// The pool is asked at most once per call, in a task of its own: its answer may be a connection it is opening,
    /// and dropping that halfway (because a parked one came first) would abandon the new backend before it started,
    /// so that a busy node never grew its pool and kept the database forking backends for nothing (hundreds a
    /// second, until connecting failed with EAGAIN on a full listen queue). A connection the caller no longer
    /// wants is parked or handed back like any other.
    pub async fn lease(&self) -> Result<Lease, sqlx::Error> {
        let mut asked: Option<oneshot::Receiver<Result<PoolConnection<Any>, sqlx::Error>>> = None;
        loop {
            let returned = self.inner.returned.notified();
            if let Some((mut conn, since)) = self.inner.take() {
                if since.elapsed() < TRUSTED_IDLE || conn.ping().await.is_ok() {
                    return Ok(self.lent(conn));
                }
                // Gone while parked (a restart, an idle timeout): the pool replaces it.
                conn.close_on_drop();
                continue;
            }
            let answer = asked.get_or_insert_with(|| self.ask_pool());
            tokio::select! {
                conn = answer => {
                    let conn = conn.map_err(|_| sqlx::Error::PoolClosed)??;
                    return Ok(self.lent(conn));
                }
                () = returned => {}
            }
        }
    }

    fn ask_pool(&self) -> oneshot::Receiver<Result<PoolConnection<Any>, sqlx::Error>> {
        let (tell, answer) = oneshot::channel();
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let got = inner.pool.acquire().await;
            if let Err(Ok(unwanted)) = tell.send(got) {
                inner.give_back(unwanted);
            }
        });
        answer
    }

    fn lent(&self, conn: PoolConnection<Any>) -> Lease {
        Lease { conn: Some(conn), home: self.inner.clone() }
    }

    /// Hands every parked connection back to the pool and parks none from now on; call before closing the pool.
    pub fn close(&self) {
        let mut parked = self.inner.parked.lock().expect("parked connections lock");
        parked.closed = true;
        parked.conns.clear();
    }
}

impl Inner {
    fn take(&self) -> Option<(PoolConnection<Any>, Instant)> {
        self.parked.lock().expect("parked connections lock").conns.pop()
    }

    /// Parks `conn`, or gives it back to the pool when enough are parked or the pool is closing, or when it has
    /// something still to send: a transaction its request abandoned (a failure halfway) queues its rollback, which
    /// would wait, locks held, for the connection's next statement; the pool's ping on return sends it at once.
    fn give_back(&self, conn: PoolConnection<Any>) {
        let unsettled = conn.is_in_transaction() || conn.should_flush();
        let mut parked = self.parked.lock().expect("parked connections lock");
        if unsettled || parked.closed || parked.conns.len() >= self.cap {
            drop(parked);
            drop(conn);
            return;
        }
        parked.conns.push((conn, Instant::now()));
        drop(parked);
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
    async fn a_borrower_waiting_on_an_exhausted_pool_gets_a_parked_connection() {
        let pool = pool(1).await;
        let leases = Leases::new(pool.clone(), 1);
        let held = leases.lease().await.unwrap();
        let waiting = tokio::spawn({
            let leases = leases.clone();
            async move { leases.lease().await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the only connection is lent");
        drop(held);
        tokio::time::timeout(Duration::from_secs(2), waiting).await.expect("handed on at once").unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_connection_the_pool_is_opening_is_kept_when_a_parked_one_comes_first() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        sqlx::any::install_default_drivers();
        let opened = Arc::new(AtomicUsize::new(0));
        let pool = AnyPoolOptions::new()
            .max_connections(2)
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
            while opened.load(Ordering::SeqCst) != 2 || leases.inner.parked.lock().unwrap().conns.len() != 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(2), settled).await.expect("the pool's new connection is kept");
        assert_eq!(pool.size(), 2);
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
