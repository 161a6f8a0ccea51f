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
