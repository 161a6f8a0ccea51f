//! Two `vaidya` nodes on one database and one Redis: a consult whose participants sit on different nodes.
//! These need `TEST_REDIS_URL` (the PostgreSQL + Redis pass of CI sets it); without it they say so and return.

use serde_json::json;
use vaidya_tests::TestApp;
use vaidya_tests::ws::Next;

fn redis_configured(test: &str) -> bool {
    let set = std::env::var("TEST_REDIS_URL").is_ok();
    if !set {
        eprintln!("{test}: needs TEST_REDIS_URL (two nodes share rooms through Redis); run in the PostgreSQL + Redis pass");
    }
    set
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_on_one_node_and_a_doctor_on_another_complete_a_consult() {
    if !redis_configured("cross-node consult") {
        return;
    }
    let node1 = TestApp::spawn().await;
    let node2 = node1.node_beside().await;
    let (mut patient, joined) = node1.ws_join("room-x", "pat-1", "patient").await;
    let patient_id = joined["peer_id"].as_str().unwrap().to_owned();
    patient.expect("waiting").await;
    let (mut doctor, joined) = node2.ws_join("room-x", "doc-1", "doctor").await;
    let doctor_id = joined["peer_id"].as_str().unwrap().to_owned();
    assert_eq!(joined["peers"][0]["peer_id"], patient_id.as_str(), "the doctor sees the lobby on the other node");
    assert_eq!(joined["polite"], false);

    doctor.send(json!({"type": "admit", "peer_id": patient_id})).await;
    patient.wait_for("admitted").await;
    doctor.wait_for("peer_joined").await;

    doctor.send(json!({"type": "offer", "to": patient_id, "sdp": "v=0 offer"})).await;
    assert_eq!(patient.wait_for("offer").await["from"], doctor_id.as_str());
    patient.send(json!({"type": "answer", "to": doctor_id, "sdp": "v=0 answer"})).await;
    assert_eq!(doctor.wait_for("answer").await["from"], patient_id.as_str());
    let candidate = json!({"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0});
    doctor.send(json!({"type": "candidate", "to": patient_id, "candidate": candidate})).await;
    assert_eq!(patient.wait_for("candidate").await["candidate"], candidate);

    patient.send(json!({"type": "chat", "text": "across nodes"})).await;
    assert_eq!(doctor.wait_for("chat").await["text"], "across nodes");
    assert_eq!(patient.wait_for("chat").await["text"], "across nodes");

    // A patient still cannot reach an outsider on either node.
    patient.send(json!({"type": "offer", "to": "nobody", "sdp": "v=0"})).await;
    assert_eq!(patient.wait_for("error").await["code"], "unknown_peer");

    doctor.send(json!({"type": "end"})).await;
    assert_eq!(patient.wait_for("ended").await["reason"], "ended_by_doctor");
    assert_eq!(patient.closed(5.0).await, Some(1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_patient_resumes_on_the_other_node() {
    if !redis_configured("cross-node resume") {
        return;
    }
    let node1 = TestApp::spawn().await;
    let node2 = node1.node_beside().await;
    let (mut doctor, _, patient, patient_id) = node2.consult_with(&node1, "room-y").await;
    let last_seq = patient.last_seq;
    drop(patient);

    doctor.send(json!({"type": "chat", "text": "did you drop?"})).await;
    doctor.wait_for("chat").await;
    let mut back = node2.ws_connect().await;
    let token = node2.room_token("room-y", "pat-1", "patient");
    back.send(json!({"type": "join", "token": token, "resume": {"peer_id": patient_id, "last_seq": last_seq}})).await;
    let joined = back.expect("joined").await;
    assert_eq!(joined["peer_id"], patient_id.as_str());
    assert_eq!(back.expect("chat").await["text"], "did you drop?");
    back.send(json!({"type": "chat", "text": "back, on node 2"})).await;
    assert_eq!(doctor.wait_for("chat").await["text"], "back, on node 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_of_a_dead_node_leave_the_room_within_fifteen_seconds() {
    if !redis_configured("node death") {
        return;
    }
    let mut node1 = TestApp::spawn().await;
    let node2 = node1.node_beside().await;
    let (mut doctor, _, patient, patient_id) = node2.consult_with(&node1, "room-z").await;
    // Let node 1 heartbeat at least once, then kill it: its heartbeat stops with it.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let started = std::time::Instant::now();
    node1.kill();
    loop {
        match doctor.next_within(16.0).await {
            Next::Json(v) if v["type"] == "peer_left" => {
                assert_eq!(v["peer_id"], patient_id.as_str());
                break;
            }
            Next::Json(_) => continue,
            other => panic!("expected peer_left, got {other:?}"),
        }
    }
    assert!(started.elapsed().as_secs_f64() <= 15.5, "took {:?}", started.elapsed());
    drop(patient);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_nodes_recover_when_redis_restarts() {
    if !redis_configured("Redis restart") {
        return;
    }
    let mut redis = vaidya_tests::redis_server::PrivateRedis::start().await;
    let prefix = format!("fault:{}:", uuid::Uuid::now_v7().simple());
    let node1 = TestApp::spawn_with_redis(vaidya_tests::TestDb::create().await, &redis.url(), &prefix).await;
    let node2 = TestApp::spawn_with_redis(node1.db.share(), &redis.url(), &prefix).await;
    for node in [&node1, &node2] {
        assert_eq!(node.get("/readyz", None).await.status, 200);
    }
    let (mut doctor, _) = node2.ws_join("room-r", "doc-1", "doctor").await;
    let (mut patient, joined) = node1.ws_join("room-r", "pat-1", "patient").await;
    let patient_id = joined["peer_id"].as_str().unwrap().to_owned();
    doctor.wait_for("peer_joined").await;
    doctor.send(json!({"type": "admit", "peer_id": patient_id})).await;
    patient.wait_for("admitted").await;

    redis.kill();
    for node in [&node1, &node2] {
        let ready = node.get("/readyz", None).await;
        assert_eq!(ready.status, 503);
        assert_eq!(ready.body["redis"], "down");
    }
    // Signalling says it is unavailable rather than failing silently; the sockets stay up.
    patient.send(json!({"type": "chat", "text": "anyone?"})).await;
    assert_eq!(patient.wait_for("error").await["code"], "unavailable");

    redis.restart().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    for node in [&node1, &node2] {
        while node.get("/readyz", None).await.status != 200 {
            assert!(std::time::Instant::now() < deadline, "a node did not become ready again");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    // Redis kept nothing: the participants join afresh and the consult goes on across the nodes.
    drop((doctor, patient));
    let mut joined_again = None;
    while joined_again.is_none() {
        let mut client = node2.ws_connect().await;
        client.send(json!({"type": "join", "token": node2.room_token("room-r", "doc-1", "doctor")})).await;
        match client.next_within(3.0).await {
            Next::Json(v) if v["type"] == "joined" => joined_again = Some(client),
            _ => {
                assert!(std::time::Instant::now() < deadline, "signalling did not recover");
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
        }
    }
    let mut doctor = joined_again.unwrap();
    let (mut patient, joined) = node1.ws_join("room-r", "pat-1", "patient").await;
    let patient_id = joined["peer_id"].as_str().unwrap().to_owned();
    doctor.wait_for("peer_joined").await;
    doctor.send(json!({"type": "admit", "peer_id": patient_id})).await;
    patient.wait_for("admitted").await;
    patient.send(json!({"type": "chat", "text": "we are back"})).await;
    assert_eq!(doctor.wait_for("chat").await["text"], "we are back");
}
