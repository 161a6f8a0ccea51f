//! Real WebRTC between two Rust peers (webrtc-rs) signalled through `/ws/signal`: ICE on loopback, DTLS, a data
//! channel each way and RTP from the doctor's track; on one node, and across two nodes through Redis.

use std::time::Duration;

use vaidya_signaling::peer::{Peer, join_to_connected, percentile};
use vaidya_tests::TestApp;

const WITHIN: Duration = Duration::from_secs(20);

/// A doctor on `doctor_node` and a patient on `patient_node` set up a call and use every part of it.
async fn call(patient_node: &TestApp, doctor_node: &TestApp, room: &str) {
    let patient = Peer::join(&patient_node.ws_url("/ws/signal"), &patient_node.room_token(room, "pat-1", "patient")).await.unwrap();
    assert!(patient.polite(), "the patient waits in the lobby and answers");
    let doctor = Peer::join(&doctor_node.ws_url("/ws/signal"), &doctor_node.room_token(room, "doc-1", "doctor")).await.unwrap();
    assert!(!doctor.polite(), "the doctor is admitted first and offers");

    doctor.admit(patient.peer_id(), WITHIN).await.unwrap();
    patient.wait_admitted(WITHIN).await.unwrap();
    let (d, p) = tokio::join!(doctor.wait_connected(WITHIN), patient.wait_connected(WITHIN));
    d.expect("the doctor connects");
    p.expect("the patient connects");

    doctor.send_data("How are you feeling?", WITHIN).await.unwrap();
    assert_eq!(patient.recv_data(WITHIN).await.unwrap(), "How are you feeling?");
    patient.send_data("Better, thank you — धन्यवाद", WITHIN).await.unwrap();
    assert_eq!(doctor.recv_data(WITHIN).await.unwrap(), "Better, thank you — धन्यवाद");

    let packets = patient.wait_rtp(10, WITHIN).await.unwrap();
    assert!(packets >= 10, "the patient receives the doctor's video RTP ({packets} packets)");
    let packets = doctor.wait_rtp(10, WITHIN).await.unwrap();
    assert!(packets >= 10, "the doctor receives the patient's video RTP ({packets} packets)");

    tokio::join!(doctor.close(), patient.close());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctor_and_a_patient_connect_and_exchange_data_and_media() {
    let app = TestApp::spawn().await;
    call(&app, &app, "room-rtc-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_on_two_nodes_connect_through_redis_signalling() {
    if std::env::var("TEST_REDIS_URL").is_err() {
        eprintln!("cross-node WebRTC call: needs TEST_REDIS_URL (two nodes share rooms through Redis); run in the PostgreSQL + Redis pass");
        return;
    }
    let node1 = TestApp::spawn().await;
    let node2 = node1.node_beside().await;
    call(&node1, &node2, "room-rtc-2").await;
}

/// Join-to-connected on loopback over 20 consults; run by hand:
/// `cargo test -p vaidya-tests --test api webrtc::join_to_connected_timing -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn join_to_connected_timing() {
    let app = TestApp::spawn().await;
    let url = app.ws_url("/ws/signal");
    let (mut total, mut patient) = (Vec::new(), Vec::new());
    for i in 0..20 {
        let room = format!("room-timing-{i}");
        let doctor_token = app.room_token(&room, "doc-1", "doctor");
        let patient_token = app.room_token(&room, "pat-1", "patient");
        let t = join_to_connected(&url, &doctor_token, &patient_token, WITHIN).await.unwrap();
        total.push(t.total);
        patient.push(t.patient);
    }
    for (name, samples) in [("doctor join → both connected", &total), ("patient join → both connected", &patient)] {
        eprintln!("{name}: p50 {:?}, p90 {:?}, max {:?}", percentile(samples, 50.0), percentile(samples, 90.0), percentile(samples, 100.0));
    }
}
