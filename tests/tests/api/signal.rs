//! The `/ws/signal` protocol over real sockets: lobby and admission, relay, chat, resume, replacement, leave and end,
//! and the bad input and abuse the server must survive.

use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use vaidya_tests::TestApp;
use vaidya_tests::ws::{Next, WsClient};

/// A doctor and an admitted patient in one room on one node: (doctor, doctor peer id, patient, patient peer id).
async fn consult(app: &TestApp, room: &str) -> (WsClient, String, WsClient, String) {
    app.consult_with(app, room).await
}

#[tokio::test]
async fn doctor_enters_patient_waits_until_admitted() {
    let app = TestApp::spawn().await;
    let (mut doctor, joined) = app.ws_join("room-a", "doc-1", "doctor").await;
    assert_eq!(joined["role"], "doctor");
    assert_eq!(joined["room"], "room-a");
    assert_eq!(joined["polite"], false);
    assert_eq!(joined["admitted"], true, "a doctor is in the call at once");
    assert!(joined["ice_servers"].is_array());
    let doctor_id = joined["peer_id"].as_str().unwrap().to_owned();

    let (mut patient, joined) = app.ws_join("room-a", "pat-1", "patient").await;
    assert_eq!(joined["polite"], true);
    assert_eq!(joined["admitted"], false, "a patient starts in the lobby");
    assert_eq!(joined["peers"][0]["peer_id"], doctor_id.as_str());
    let patient_id = joined["peer_id"].as_str().unwrap().to_owned();
    patient.expect("waiting").await;
    let lobby = doctor.expect("peer_joined").await;
    assert_eq!(lobby["peer"]["peer_id"], patient_id.as_str());
    assert_eq!(lobby["peer"]["role"], "patient");
    assert_eq!(lobby["peer"]["admitted"], false, "the doctor's page must not offer to someone in the lobby");

    // The server, not the page, keeps a waiting patient out of the call.
    patient.send(json!({"type": "offer", "to": doctor_id, "sdp": "v=0"})).await;
    assert_eq!(patient.expect("error").await["code"], "not_admitted");
    patient.send(json!({"type": "chat", "text": "hello?"})).await;
    assert_eq!(patient.expect("error").await["code"], "not_admitted");
    doctor.quiet(0.3).await;
    // A patient cannot admit anyone, themselves included.
    patient.send(json!({"type": "admit", "peer_id": patient_id})).await;
    assert_eq!(patient.expect("error").await["code"], "forbidden");

    doctor.send(json!({"type": "admit", "peer_id": patient_id})).await;
    patient.expect("admitted").await;
    let in_call = doctor.expect("peer_joined").await;
    assert_eq!(in_call["peer"]["peer_id"], patient_id.as_str());
    assert_eq!(in_call["peer"]["admitted"], true);
}

#[tokio::test]
async fn offers_answers_and_candidates_flow_with_the_sender_stamped() {
    let app = TestApp::spawn().await;
    let (mut doctor, doctor_id, mut patient, patient_id) = consult(&app, "room-b").await;
    doctor.send(json!({"type": "offer", "to": patient_id, "sdp": "v=0 offer", "from": "forged"})).await;
    let offer = patient.expect("offer").await;
    assert_eq!(offer["from"], doctor_id.as_str(), "the server stamps `from` itself");
    assert_eq!(offer["sdp"], "v=0 offer");
    patient.send(json!({"type": "answer", "to": doctor_id, "sdp": "v=0 answer"})).await;
    assert_eq!(doctor.expect("answer").await["from"], patient_id.as_str());
    let candidate = json!({"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0});
    patient.send(json!({"type": "candidate", "to": doctor_id, "candidate": candidate})).await;
    let got = doctor.expect("candidate").await;
    assert_eq!(got["candidate"], candidate);
    assert!(got["seq"].as_u64().unwrap() > offer["seq"].as_u64().unwrap());
}

#[tokio::test]
async fn chat_reaches_everyone_admitted_and_pings_pong() {
    let app = TestApp::spawn().await;
    let (mut doctor, doctor_id, mut patient, _) = consult(&app, "room-c").await;
    doctor.send(json!({"type": "chat", "text": "How are you feeling?"})).await;
    for side in [&mut doctor, &mut patient] {
        let chat = side.expect("chat").await;
        assert_eq!(chat["from"], doctor_id.as_str());
        assert_eq!(chat["text"], "How are you feeling?");
        assert!(chat["at"].as_str().unwrap().ends_with('Z'));
    }
    patient.send(json!({"type": "chat", "text": ""})).await;
    assert_eq!(patient.expect("error").await["code"], "invalid_message");
    patient.send(json!({"type": "chat", "text": "x".repeat(2001)})).await;
    assert_eq!(patient.expect("error").await["code"], "invalid_message");
    patient.send(json!({"type": "ping"})).await;
    patient.expect("pong").await;
}

#[tokio::test]
async fn messages_to_peers_outside_the_room_are_dropped_with_an_error() {
    let app = TestApp::spawn().await;
    let (mut doctor, _, _patient, _) = consult(&app, "room-d").await;
    let (mut other, joined) = app.ws_join("room-e", "doc-2", "doctor").await;
    let outsider = joined["peer_id"].as_str().unwrap().to_owned();
    doctor.send(json!({"type": "offer", "to": outsider, "sdp": "v=0"})).await;
    assert_eq!(doctor.expect("error").await["code"], "unknown_peer");
    other.quiet(0.3).await;
}

#[tokio::test]
async fn a_third_participant_joins_by_token() {
    let app = TestApp::spawn().await;
    let (mut doctor, _, mut patient, _) = consult(&app, "room-f").await;
    let (mut interpreter, joined) = app.ws_join("room-f", "int-1", "interpreter").await;
    let interpreter_id = joined["peer_id"].as_str().unwrap().to_owned();
    interpreter.expect("waiting").await;
    doctor.expect("peer_joined").await;
    doctor.send(json!({"type": "admit", "peer_id": interpreter_id})).await;
    interpreter.expect("admitted").await;
    assert_eq!(patient.expect("peer_joined").await["peer"]["role"], "interpreter");
    doctor.expect("peer_joined").await;
    interpreter.send(json!({"type": "chat", "text": "नमस्ते"})).await;
    for side in [&mut doctor, &mut patient, &mut interpreter] {
        assert_eq!(side.expect("chat").await["text"], "नमस्ते");
    }
}

#[tokio::test]
async fn leave_and_end() {
    let app = TestApp::spawn().await;
    let (mut doctor, _, mut patient, patient_id) = consult(&app, "room-g").await;
    patient.send(json!({"type": "leave"})).await;
    assert_eq!(patient.closed(5.0).await, Some(1000));
    let left = doctor.expect("peer_left").await;
    assert_eq!(left["peer_id"], patient_id.as_str());
    assert_eq!(left["reason"], "left");

    let (mut patient, _) = app.ws_join("room-g", "pat-2", "patient").await;
    patient.expect("waiting").await;
    doctor.expect("peer_joined").await;
    doctor.send(json!({"type": "end"})).await;
    assert_eq!(patient.wait_for("ended").await["reason"], "ended_by_doctor");
    assert_eq!(doctor.wait_for("ended").await["reason"], "ended_by_doctor");
    assert_eq!(patient.closed(5.0).await, Some(1000));
    // The room takes no one after the end.
    let mut late = app.ws_connect().await;
    late.send(json!({"type": "join", "token": app.room_token("room-g", "pat-2", "patient")})).await;
    assert_eq!(late.expect("error").await["code"], "ended");
}

#[tokio::test]
async fn a_patient_cannot_end_the_consult() {
    let app = TestApp::spawn().await;
    let (mut doctor, _, mut patient, _) = consult(&app, "room-h").await;
    patient.send(json!({"type": "end"})).await;
    assert_eq!(patient.expect("error").await["code"], "forbidden");
    doctor.send(json!({"type": "chat", "text": "still here"})).await;
    assert_eq!(patient.expect("chat").await["text"], "still here");
}

#[tokio::test]
async fn a_dropped_socket_resumes_and_gets_what_it_missed() {
    let app = TestApp::spawn().await;
    let (mut doctor, _, patient, patient_id) = consult(&app, "room-i").await;
    let last_seq = patient.last_seq;
    drop(patient); // the network blips: no leave
    doctor.send(json!({"type": "chat", "text": "are you there?"})).await;
    doctor.expect("chat").await;
    doctor.quiet(0.3).await; // no peer_left within the resume window

    let mut back = app.ws_connect().await;
    let token = app.room_token("room-i", "pat-1", "patient");
    back.send(json!({"type": "join", "token": token, "resume": {"peer_id": patient_id, "last_seq": last_seq}})).await;
    let joined = back.expect("joined").await;
    assert_eq!(joined["peer_id"], patient_id.as_str());
    assert_eq!(joined["seq"], 0, "the resumed joined stands outside the room sequence");
    let missed = back.expect("chat").await;
    assert_eq!(missed["text"], "are you there?");
    assert!(missed["seq"].as_u64().unwrap() > last_seq);
    // Still admitted: signals flow.
    back.send(json!({"type": "chat", "text": "yes"})).await;
    assert_eq!(doctor.expect("chat").await["text"], "yes");
}

#[tokio::test]
async fn nobody_resumes_someone_elses_session() {
    let app = TestApp::spawn().await;
    let (_doctor, _, patient, patient_id) = consult(&app, "room-j").await;
    drop(patient);
    let mut intruder = app.ws_connect().await;
    let token = app.room_token("room-j", "mallory", "patient");
    intruder.send(json!({"type": "join", "token": token, "resume": {"peer_id": patient_id, "last_seq": 0}})).await;
    assert_eq!(intruder.expect("error").await["code"], "resume_failed");
    let joined = intruder.expect("joined").await;
    assert_ne!(joined["peer_id"], patient_id.as_str());
    intruder.expect("waiting").await;
}

#[tokio::test]
async fn a_second_join_replaces_the_first_socket() {
    let app = TestApp::spawn().await;
    let (mut doctor, _, mut patient, patient_id) = consult(&app, "room-k").await;
    let (mut second, joined) = app.ws_join("room-k", "pat-1", "patient").await;
    assert_ne!(joined["peer_id"], patient_id.as_str());
    assert_eq!(patient.closed(5.0).await, Some(4409));
    let left = doctor.expect("peer_left").await;
    assert_eq!((left["peer_id"].as_str(), left["reason"].as_str()), (Some(patient_id.as_str()), Some("replaced")));
    // Already admitted once: the new socket goes straight into the call.
    let joined_again = doctor.expect("peer_joined").await;
    assert_eq!(joined_again["peer"]["peer_id"], joined["peer_id"]);
    second.send(json!({"type": "chat", "text": "back"})).await;
    assert_eq!(doctor.expect("chat").await["text"], "back");
}

#[tokio::test]
async fn join_must_come_first_with_a_valid_token() {
    let app = TestApp::spawn().await;
    let expired = vaidya_signaling::token::mint(&app.registry.tokens, "r", "p", "patient", "P", -600);
    let (_, access) = app.patient().await;
    let foreign = vaidya_signaling::token::mint(
        &vaidya_registry::auth::TokenService::new(vaidya_registry::auth::SigningKeys::from_seed(&[9u8; 32]), 60, 60),
        "r",
        "p",
        "doctor",
        "D",
        600,
    );
    for first in [
        json!({"type": "join", "token": "garbage"}),
        json!({"type": "join", "token": expired}),
        json!({"type": "join", "token": access}),
        json!({"type": "join", "token": foreign}),
        json!({"type": "chat", "text": "hi"}),
        json!({"token": "x"}),
    ] {
        let mut client = app.ws_connect().await;
        client.send(first.clone()).await;
        assert_eq!(client.closed(5.0).await, Some(4401), "{first}");
    }
    let mut client = app.ws_connect().await;
    client.send_raw(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    assert_eq!(client.closed(5.0).await, Some(4401));
}

#[tokio::test]
async fn no_join_within_five_seconds_closes_4401() {
    let app = TestApp::spawn().await;
    let mut client = app.ws_connect().await;
    let started = std::time::Instant::now();
    assert_eq!(client.closed(8.0).await, Some(4401));
    assert!(started.elapsed().as_secs_f64() >= 4.5);
}

#[tokio::test]
async fn oversized_frames_close_1009() {
    let app = TestApp::spawn().await;
    let (_doctor, _, mut patient, doctor_id) = consult(&app, "room-l").await;
    let huge = json!({"type": "offer", "to": doctor_id, "sdp": "x".repeat(70 * 1024)});
    let _ = patient.send_raw(Message::Text(huge.to_string().into())).await;
    assert_eq!(patient.closed(5.0).await, Some(1009));
    // Before joining too.
    let mut client = app.ws_connect().await;
    let _ = client.send_raw(Message::Text("x".repeat(70 * 1024).into())).await;
    assert_eq!(client.closed(5.0).await, Some(1009));
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_socket_survives() {
    let app = TestApp::spawn().await;
    let (_doctor, _, mut patient, _) = consult(&app, "room-m").await;
    patient.send_raw(Message::Text("{not json".into())).await.unwrap();
    assert_eq!(patient.expect("error").await["code"], "invalid_message");
    patient.send(json!({"type": "teleport", "to": "mars"})).await;
    assert_eq!(patient.expect("error").await["code"], "unknown_type");
    patient.send(json!({"type": "offer"})).await;
    assert_eq!(patient.expect("error").await["code"], "invalid_message");
    patient.send_raw(Message::Binary(vec![0; 16].into())).await.unwrap();
    assert_eq!(patient.expect("error").await["code"], "binary_not_supported");
    patient.send(json!({"type": "join", "token": "again"})).await;
    assert_eq!(patient.expect("error").await["code"], "already_joined");
    patient.send(json!({"type": "ping"})).await;
    patient.expect("pong").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_are_limited_and_other_rooms_are_unaffected() {
    let app = TestApp::spawn_with(&["--signal-rate", "20"]).await;
    let (mut doctor, _, mut patient, _) = consult(&app, "room-n").await;
    let (mut calm_doctor, _, mut calm_patient, _) = consult(&app, "room-o").await;
    for _ in 0..1000 {
        if patient.send_raw(Message::Text(json!({"type": "chat", "text": "spam"}).to_string().into())).await.is_err() {
            break;
        }
    }
    let mut limited = false;
    let mut closed = None;
    loop {
        match patient.next_within(3.0).await {
            Next::Json(v) if v["code"] == "rate_limited" => limited = true,
            Next::Json(_) => {}
            Next::Closed(code) => {
                closed = code;
                break;
            }
            Next::Timeout => break,
        }
    }
    assert!(limited, "the flood was told it is rate limited");
    assert!(closed.is_none() || closed == Some(1008), "closed with {closed:?}");
    // The doctor got at most the burst, not the flood.
    let mut chats = 0;
    while let Next::Json(v) = doctor.next_within(0.5).await {
        if v["type"] == "chat" {
            chats += 1;
        }
    }
    assert!(chats <= 250, "{chats} chats relayed from a flood");
    calm_doctor.send(json!({"type": "chat", "text": "fine here"})).await;
    assert_eq!(calm_patient.expect("chat").await["text"], "fine here");
}

#[tokio::test]
async fn sockets_that_stop_answering_pings_are_closed() {
    let app = TestApp::spawn_with(&["--signal-ping-interval", "1", "--signal-idle-timeout", "2"]).await;
    let (mut doctor, _, patient, patient_id) = consult(&app, "room-p").await;
    // The patient's client stops reading, so it never answers pings.
    let stalled = patient;
    let mut saw_left = false;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    // After the idle close the peer is held for the 30 s resume window, then others see it leave.
    while std::time::Instant::now() < deadline {
        match doctor.next_within(1.0).await {
            Next::Json(v) if v["type"] == "peer_left" => {
                assert_eq!(v["peer_id"], patient_id.as_str());
                assert_eq!(v["reason"], "timeout");
                saw_left = true;
                break;
            }
            Next::Closed(code) => panic!("the doctor, who answers pings, was closed: {code:?}"),
            _ => {}
        }
    }
    drop(stalled);
    assert!(saw_left, "the silent peer was dropped");
}

#[tokio::test]
async fn other_origins_may_not_open_sockets() {
    let app = TestApp::spawn().await;
    let url = app.ws_url("/ws/signal");
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url.as_str()).unwrap();
    request.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(request).await.expect_err("refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {other}"),
    }
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url.as_str()).unwrap();
    let own = app.base.clone();
    request.headers_mut().insert("origin", own.parse().unwrap());
    tokio_tungstenite::connect_async(request).await.expect("own origin is allowed");
}

#[tokio::test]
async fn joined_carries_stun_and_fresh_turn_credentials() {
    let app = TestApp::spawn_with(&[
        "--stun-urls",
        "stun:stun.vaidya.test:3478",
        "--turn-urls",
        "turn:turn.vaidya.test:3478?transport=udp,turns:turn.vaidya.test:5349",
        "--turn-secret",
        "turn-shared-secret",
    ])
    .await;
    let (_c, joined) = app.ws_join("room-q", "doc-1", "doctor").await;
    let servers = joined["ice_servers"].as_array().unwrap();
    assert_eq!(servers[0]["urls"], json!(["stun:stun.vaidya.test:3478"]));
    let turn = &servers[1];
    assert_eq!(turn["urls"].as_array().unwrap().len(), 2);
    let username = turn["username"].as_str().unwrap();
    let (expiry, peer) = username.split_once(':').unwrap();
    assert_eq!(peer, joined["peer_id"].as_str().unwrap());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expiry: i64 = expiry.parse().unwrap();
    assert!(expiry > now + 3000 && expiry <= now + 3601, "{expiry}");
    assert_eq!(turn["credential"], vaidya_signaling::ice::turn_credential("turn-shared-secret", username));
}
