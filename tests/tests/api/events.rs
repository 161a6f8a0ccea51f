//! `/ws/events`: each user receives their own events from the outbox, live and after reconnecting.

use serde_json::{Value, json};
use vaidya_tests::TestApp;
use vaidya_tests::ws::{Next, WsClient};

async fn open_events(app: &TestApp, token: &str, last_seq: Option<i64>) -> (WsClient, Value) {
    app.open_events(token, last_seq).await
}

/// Emits an event the way the services do: in a transaction, then a wake-up after commit.
async fn emit(app: &TestApp, account_id: &str, kind: &str, data: Value) -> i64 {
    let mut tx = app.registry.db.begin().await.unwrap();
    let seq = vaidya_registry::events::emit(&mut tx, account_id, kind, &data).await.unwrap();
    tx.commit().await.unwrap();
    app.registry.events.wake(account_id).await;
    seq
}

async fn account_of(app: &TestApp, token: &str) -> String {
    vaidya_registry::auth::extract::authenticate(&app.registry, token).await.unwrap().account_id
}

#[tokio::test]
async fn a_user_receives_their_own_events_live() {
    let app = TestApp::spawn().await;
    let (_, alice) = app.patient().await;
    let (_, bob) = app.patient().await;
    let (alice_id, bob_id) = (account_of(&app, &alice).await, account_of(&app, &bob).await);
    let (mut alice_ws, ready) = open_events(&app, &alice, None).await;
    assert_eq!(ready["last_seq"], 0);
    let (mut bob_ws, _) = open_events(&app, &bob, None).await;

    let seq = emit(&app, &alice_id, "queue.updated", json!({"consult_id": "c1", "queue_position": 2})).await;
    let event = alice_ws.expect("event").await;
    assert_eq!(event["kind"], "queue.updated");
    assert_eq!(event["data"]["queue_position"], 2);
    assert_eq!(event["seq"], seq);
    bob_ws.quiet(0.5).await;

    emit(&app, &bob_id, "order.updated", json!({"order_id": "o1", "status": "accepted"})).await;
    assert_eq!(bob_ws.expect("event").await["data"]["status"], "accepted");
    alice_ws.quiet(0.5).await;
}

#[tokio::test]
async fn events_missed_while_away_arrive_after_last_seq() {
    let app = TestApp::spawn().await;
    let (_, token) = app.patient().await;
    let account = account_of(&app, &token).await;
    let first = emit(&app, &account, "consent.requested", json!({"n": 1})).await;
    emit(&app, &account, "consent.requested", json!({"n": 2})).await;
    emit(&app, &account, "consent.revoked", json!({"n": 3})).await;
    let (mut ws, ready) = open_events(&app, &token, Some(first)).await;
    assert_eq!(ready["last_seq"], first);
    assert_eq!(ws.expect("event").await["data"]["n"], 2);
    assert_eq!(ws.expect("event").await["data"]["n"], 3);
    // Without last_seq only new events come.
    let (mut fresh, ready) = open_events(&app, &token, None).await;
    assert_eq!(ready["last_seq"], first + 2);
    fresh.quiet(0.5).await;
}

#[tokio::test]
async fn events_need_a_valid_access_token_first() {
    let app = TestApp::spawn().await;
    let profile = app.register_patient(json!({})).await;
    let login = app.login(profile["health_id"].as_str().unwrap(), vaidya_tests::PASSWORD).await;
    for first in [
        json!({"type": "auth", "token": "nonsense"}),
        json!({"type": "auth", "token": login["refresh_token"]}),
        json!({"type": "join", "token": login["access_token"]}),
    ] {
        let (ws, _) = tokio_tungstenite::connect_async(app.ws_url("/ws/events")).await.unwrap();
        let mut client = WsClient { ws, last_seq: 0 };
        client.send(first.clone()).await;
        assert_eq!(client.closed(5.0).await, Some(4401), "{first}");
    }
    // A logged-out session cannot open one either.
    let access = login["access_token"].as_str().unwrap();
    app.request(reqwest::Method::POST, "/api/v1/auth/logout", Some(access), None).await.expect(204);
    let (ws, _) = tokio_tungstenite::connect_async(app.ws_url("/ws/events")).await.unwrap();
    let mut client = WsClient { ws, last_seq: 0 };
    client.send(json!({"type": "auth", "token": access})).await;
    assert_eq!(client.closed(5.0).await, Some(4401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_on_one_node_reaches_a_socket_on_another() {
    if std::env::var("TEST_REDIS_URL").is_err() {
        eprintln!("cross-node events: needs TEST_REDIS_URL; run in the PostgreSQL + Redis pass");
        return;
    }
    let node1 = TestApp::spawn().await;
    let node2 = node1.node_beside().await;
    let (_, token) = node1.patient().await;
    let account = account_of(&node1, &token).await;
    let (mut ws, _) = open_events(&node2, &token, None).await;
    let started = std::time::Instant::now();
    emit(&node1, &account, "prescription.issued", json!({"prescription_id": "p1"})).await;
    match ws.next_within(3.0).await {
        Next::Json(v) => assert_eq!(v["kind"], "prescription.issued"),
        other => panic!("expected the event, got {other:?}"),
    }
    assert!(started.elapsed().as_secs_f64() < 2.0, "delivered by the wake-up, not the poll: {:?}", started.elapsed());
}
