//! Connections lent to requests and parked between them ([`vaidya_registry::lease`]) leave nothing behind: a
//! transaction a request abandoned halfway neither holds its locks nor lands.

use std::time::Duration;

use vaidya_registry::Db;
use vaidya_tests::db::TestDb;

#[tokio::test]
async fn a_transaction_abandoned_on_a_lent_connection_holds_no_locks_and_changes_nothing() {
    let test_db = TestDb::create().await;
    let db = Db::connect(test_db.url(), 4).await.expect("connect");
    db.migrate().await.expect("migrate");
    sqlx::query("INSERT INTO user_event_counters (account_id, seq) VALUES ('leased', 1)").execute(db.writer()).await.expect("seed a row");

    for _ in 0..3 {
        let mut lease = db.lease().await.expect("lease");
        let mut tx = db.begin_on(&mut lease).await.expect("begin");
        sqlx::query("UPDATE user_event_counters SET seq = seq + 100 WHERE account_id = 'leased'").execute(&mut *tx).await.expect("update");
        // Dropped without commit, as when a request fails halfway; then the lease is dropped too.
    }

    // Another writer is not kept waiting on the abandoned change's row lock, and the change never landed.
    let other = sqlx::query("UPDATE user_event_counters SET seq = seq + 1 WHERE account_id = 'leased'").execute(db.writer());
    tokio::time::timeout(Duration::from_secs(5), other).await.expect("no lock is left held").expect("update");
    let mut lease = db.lease().await.expect("lease again");
    let seq: i64 = sqlx::query_scalar("SELECT seq FROM user_event_counters WHERE account_id = 'leased'")
        .fetch_one(&mut *lease)
        .await
        .expect("read the row");
    assert_eq!(seq, 2, "only the committed change landed");
}

#[tokio::test]
async fn requests_busy_on_leases_leave_the_background_work_a_connection() {
    let test_db = TestDb::create().await;
    let db = Db::connect(test_db.url(), 4).await.expect("connect");
    db.migrate().await.expect("migrate");
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut requests = Vec::new();
    for _ in 0..16 {
        let (db, busy) = (db.clone(), busy.clone());
        requests.push(tokio::spawn(async move {
            while busy.load(std::sync::atomic::Ordering::Relaxed) {
                let mut lease = db.lease().await.expect("a lease");
                sqlx::query("SELECT 1").execute(&mut *lease).await.expect("a request's statement");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // What the audit chainer and the deadline sweeper do: transactions straight from the pool, every one in time.
    for _ in 0..20 {
        let work = async {
            let mut tx = db.begin().await?;
            sqlx::query("SELECT seq FROM audit_chain_head WHERE id = 1").execute(&mut *tx).await?;
            tx.commit().await
        };
        tokio::time::timeout(Duration::from_secs(3), work).await.expect("not kept waiting behind the requests").expect("a transaction");
    }
    busy.store(false, std::sync::atomic::Ordering::Relaxed);
    for r in requests {
        r.await.expect("a request task");
    }
}
