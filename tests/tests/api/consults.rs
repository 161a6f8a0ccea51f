//! Consults: asking, the queue and its live positions, admission races, room tokens that open the call, completion,
//! cancellation, and every refusal.

use serde_json::{Value, json};
use vaidya_tests::TestApp;
use vaidya_tests::clinic::consult_body;

#[tokio::test]
async fn a_consult_goes_from_queue_to_call_to_completion() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let consult = app.request_consult(&c, json!({})).await;
    assert_eq!(consult["status"], "waiting");
    assert_eq!(consult["queue_position"], 1);
    assert_eq!(consult["consent"]["teleconsultation"], true);
    assert_eq!(consult["consent"]["record_to_phr"], true);
    let id = consult["consult_id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());

    let queue = app.get("/api/v1/queue", Some(&c.doctor_token)).await.expect(200).body;
    assert_eq!(queue["items"].as_array().unwrap().len(), 1);
    assert_eq!(queue["items"][0]["consult_id"], id);
    assert_eq!(queue["items"][0]["queue_position"], 1);
    assert_eq!(queue["items"][0]["patient"]["health_id"], c.health_id());

    let admitted = app.post(&format!("/api/v1/consults/{id}/admit"), Some(&c.doctor_token), json!({})).await.expect(200).body;
    assert_eq!(admitted["status"], "in_progress");
    assert_eq!(admitted["doctor"]["provider_id"], c.doctor_id());
    assert!(admitted["started_at"].is_string());
    assert_eq!(app.get("/api/v1/queue", Some(&c.doctor_token)).await.expect(200).body["items"], json!([]));

    // Both sides get room tokens that open the same room, where the doctor hosts and the patient waits to be let in.
    let doctor_room = app.post(&format!("/api/v1/consults/{id}/room-token"), Some(&c.doctor_token), json!({})).await.expect(200).body;
    let patient_room = app.post(&format!("/api/v1/consults/{id}/room-token"), Some(&c.patient_token), json!({})).await.expect(200).body;
    assert_eq!(doctor_room["room"], id);
    assert_eq!(doctor_room["ws_url"], "/ws/signal");
    assert!(doctor_room["expires_in"].as_i64().unwrap() > 0);
    assert!(doctor_room["ice_servers"].is_array());
    let mut doctor = app.ws_connect().await;
    doctor.send(json!({"type": "join", "token": doctor_room["token"]})).await;
    let joined = doctor.expect("joined").await;
    assert_eq!(joined["role"], "doctor");
    let mut patient = app.ws_connect().await;
    patient.send(json!({"type": "join", "token": patient_room["token"]})).await;
    let joined = patient.expect("joined").await;
    assert_eq!(joined["role"], "patient");
    assert_eq!(joined["room"], id);
    patient.expect("waiting").await;
    let peer = doctor.expect("peer_joined").await;
    doctor.send(json!({"type": "admit", "peer_id": peer["peer"]["peer_id"]})).await;
    patient.expect("admitted").await;

    let done = app.post(&format!("/api/v1/consults/{id}/complete"), Some(&c.doctor_token), json!({})).await.expect(200).body;
    assert_eq!(done["status"], "completed");
    assert!(done["ended_at"].is_string());
    app.post(&format!("/api/v1/consults/{id}/room-token"), Some(&c.patient_token), json!({}))
        .await
        .expect_problem(409, "invalid_transition");
    app.post(&format!("/api/v1/consults/{id}/complete"), Some(&c.doctor_token), json!({})).await.expect_problem(409, "invalid_transition");
    app.post(&format!("/api/v1/consults/{id}/cancel"), Some(&c.patient_token), json!({})).await.expect_problem(409, "invalid_transition");

    for token in [&c.patient_token, &c.doctor_token] {
        let one = app.get(&format!("/api/v1/consults/{id}"), Some(token)).await.expect(200).body;
        assert_eq!(one["status"], "completed");
        let mine = app.get("/api/v1/consults?role=mine", Some(token)).await.expect(200).body;
        assert_eq!(mine["items"][0]["consult_id"], id);
    }
}

#[tokio::test]
async fn queue_positions_change_live_and_the_doctor_sees_the_queue_grow() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (_, second_token) = app.patient().await;
    let (_, third_token) = app.patient().await;
    let (mut doctor_events, _) = app.open_events(&c.doctor_token, None).await;

    let first = app.request_consult(&c, json!({})).await;
    assert_eq!(doctor_events.expect("event").await["kind"], "queue.updated");
    let ask = |token: String| {
        let app = &app;
        let body = consult_body(c.doctor_id(), json!({}));
        async move { app.post("/api/v1/consults", Some(&token), body).await.expect(201).body }
    };
    let second = ask(second_token.clone()).await;
    let third = ask(third_token.clone()).await;
    assert_eq!((second["queue_position"].as_i64(), third["queue_position"].as_i64()), (Some(2), Some(3)));
    let (mut third_events, _) = app.open_events(&third_token, None).await;

    // The first patient cancels: the third moves up to 2, live.
    let first_id = first["consult_id"].as_str().unwrap();
    app.post(&format!("/api/v1/consults/{first_id}/cancel"), Some(&c.patient_token), json!({})).await.expect(200);
    let event = third_events.expect("event").await;
    assert_eq!(event["kind"], "queue.updated");
    assert_eq!(event["data"]["queue_position"], 2);

    // The doctor admits the second: the third is next, and learns it at once.
    let second_id = second["consult_id"].as_str().unwrap();
    let (mut second_events, _) = app.open_events(&second_token, None).await;
    app.post(&format!("/api/v1/consults/{second_id}/admit"), Some(&c.doctor_token), json!({})).await.expect(200);
    let event = third_events.expect("event").await;
    assert_eq!(event["data"]["queue_position"], 1);
    let admitted = second_events.expect("event").await;
    assert_eq!(admitted["kind"], "consult.admitted");
    assert_eq!(admitted["data"]["consult_id"], second_id);
    let third_id = third["consult_id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/api/v1/consults/{third_id}"), Some(&third_token)).await.expect(200).body["queue_position"], 1);
}

#[tokio::test]
async fn exactly_one_doctor_of_a_speciality_wins_an_admission_race() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let clinic = app.create_facility(&admin, "hospital", 12.9, 77.6).await;
    let mut doctors = Vec::new();
    for _ in 0..6 {
        let (_, username) =
            app.create_provider(&admin, "doctor", clinic["facility_id"].as_str().unwrap(), json!({"speciality": "Dermatology"})).await;
        doctors.push(app.token(&username, vaidya_tests::PASSWORD).await);
    }
    let (_, patient) = app.patient().await;
    let body = json!({"speciality": "dermatology ", "reason": "Itchy rash on both arms", "visit": "first", "mode": "video",
        "consent": {"teleconsultation": true, "record_to_phr": false}});
    let consult = app.post("/api/v1/consults", Some(&patient), body).await.expect(201).body;
    let id = consult["consult_id"].as_str().unwrap().to_owned();
    for token in &doctors {
        assert_eq!(app.get("/api/v1/queue", Some(token)).await.expect(200).body["items"][0]["consult_id"], id.as_str());
    }
    let path = format!("/api/v1/consults/{id}/admit");
    let races = doctors.iter().map(|token| app.post(&path, Some(token), json!({})));
    let replies = futures::future::join_all(races).await;
    let won: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(won.len(), 1, "exactly one admission wins");
    for lost in replies.iter().filter(|r| r.status != 200) {
        assert_eq!((lost.status.as_u16(), lost.code()), (409, "invalid_transition"));
    }
    let consult = app.get(&format!("/api/v1/consults/{id}"), Some(&patient)).await.expect(200).body;
    assert_eq!(consult["doctor"]["provider_id"], won[0].body["doctor"]["provider_id"]);
}

#[tokio::test]
async fn bad_consult_requests_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"consent": {"teleconsultation": false, "record_to_phr": true}}), "consent.teleconsultation"),
        (json!({"consent": {"record_to_phr": true}}), "consent.teleconsultation"),
        (json!({"consent": {"teleconsultation": true}}), "consent.record_to_phr"),
        (json!({"consent": null}), "consent.teleconsultation"),
        (json!({"doctor_id": null}), "doctor_id"),
        (json!({"speciality": "General Medicine"}), "speciality"),
        (json!({"doctor_id": "12345678901234"}), "doctor_id"),
        (json!({"doctor_id": "not-a-provider"}), "doctor_id"),
        (json!({"doctor_id": null, "speciality": "Astrology"}), "speciality"),
        (json!({"reason": " "}), "reason"),
        (json!({"reason": null}), "reason"),
        (json!({"reason": "x".repeat(2001)}), "reason"),
        (json!({"visit": "second"}), "visit"),
        (json!({"mode": "fax"}), "mode"),
        (json!({"visit": "follow_up"}), "previous_consult_id"),
        (json!({"visit": "follow_up", "previous_consult_id": uuid::Uuid::now_v7().to_string()}), "previous_consult_id"),
        (json!({"previous_consult_id": uuid::Uuid::now_v7().to_string()}), "previous_consult_id"),
    ];
    for (overrides, field) in cases {
        let reply = app.post("/api/v1/consults", Some(&c.patient_token), consult_body(c.doctor_id(), overrides.clone())).await;
        let reply = reply.expect_problem(422, "validation_failed");
        let fields: Vec<&str> = reply.body["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
        assert!(fields.contains(&field), "{overrides} should name {field}: {}", reply.body);
    }
    app.post("/api/v1/consults", Some(&c.doctor_token), consult_body(c.doctor_id(), json!({}))).await.expect_problem(403, "forbidden");
    app.post("/api/v1/consults", None, consult_body(c.doctor_id(), json!({}))).await.expect(401);
    app.post_raw("/api/v1/consults", Some(&c.patient_token), "application/json", b"{\"reason\":".to_vec())
        .await
        .expect_problem(400, "malformed_json");
    assert_eq!(app.get("/api/v1/consults", Some(&c.patient_token)).await.expect(200).body["items"], json!([]), "nothing was created");

    // One waiting consult at a time.
    app.request_consult(&c, json!({})).await;
    app.post("/api/v1/consults", Some(&c.patient_token), consult_body(c.doctor_id(), json!({})))
        .await
        .expect_problem(409, "consult_already_waiting");
}

#[tokio::test]
async fn a_follow_up_names_an_earlier_completed_consult_of_the_same_patient() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let first = app.consult_in_progress(&c).await;
    // Not yet completed: not a basis for a follow-up.
    let follow = json!({"visit": "follow_up", "previous_consult_id": first});
    let reply = app.post("/api/v1/consults", Some(&c.patient_token), consult_body(c.doctor_id(), follow.clone())).await;
    reply.expect_problem(422, "validation_failed");
    app.post(&format!("/api/v1/consults/{first}/complete"), Some(&c.doctor_token), json!({})).await.expect(200);
    let (_, stranger) = app.patient().await;
    let reply = app.post("/api/v1/consults", Some(&stranger), consult_body(c.doctor_id(), follow.clone())).await;
    reply.expect_problem(422, "validation_failed");
    let consult = app.post("/api/v1/consults", Some(&c.patient_token), consult_body(c.doctor_id(), follow)).await.expect(201).body;
    assert_eq!(consult["visit"], "follow_up");
    assert_eq!(consult["previous_consult_id"], first.as_str());
}

#[tokio::test]
async fn nobody_acts_on_a_consult_that_is_not_theirs() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (_, other_patient) = app.patient().await;
    let admin = app.admin_token().await;
    let clinic = app.create_facility(&admin, "clinic", 12.9, 77.6).await;
    let (_, username) =
        app.create_provider(&admin, "doctor", clinic["facility_id"].as_str().unwrap(), json!({"speciality": "Cardiology"})).await;
    let other_doctor = app.token(&username, vaidya_tests::PASSWORD).await;
    let consult = app.request_consult(&c, json!({})).await;
    let id = consult["consult_id"].as_str().unwrap();

    // A patient admitting themselves.
    app.post(&format!("/api/v1/consults/{id}/admit"), Some(&c.patient_token), json!({})).await.expect_problem(403, "forbidden");
    // Another patient, another doctor (not in this queue): 404, as if it did not exist.
    for token in [&other_patient, &other_doctor] {
        app.get(&format!("/api/v1/consults/{id}"), Some(token)).await.expect_problem(404, "not_found");
        app.post(&format!("/api/v1/consults/{id}/room-token"), Some(token), json!({})).await.expect_problem(404, "not_found");
    }
    app.post(&format!("/api/v1/consults/{id}/cancel"), Some(&other_patient), json!({})).await.expect_problem(404, "not_found");
    app.post(&format!("/api/v1/consults/{id}/admit"), Some(&other_doctor), json!({})).await.expect_problem(404, "not_found");
    assert_eq!(app.get("/api/v1/queue", Some(&other_doctor)).await.expect(200).body["items"], json!([]));
    let missing = uuid::Uuid::now_v7();
    app.get(&format!("/api/v1/consults/{missing}"), Some(&c.patient_token)).await.expect_problem(404, "not_found");
    app.get("/api/v1/consults/not-a-uuid", Some(&c.patient_token)).await.expect_problem(404, "not_found");

    // The doctor cannot complete what they have not admitted; the patient cannot complete at all.
    app.post(&format!("/api/v1/consults/{id}/complete"), Some(&c.doctor_token), json!({})).await.expect_problem(404, "not_found");
    app.post(&format!("/api/v1/consults/{id}/admit"), Some(&c.doctor_token), json!({})).await.expect(200);
    app.post(&format!("/api/v1/consults/{id}/complete"), Some(&c.patient_token), json!({})).await.expect_problem(404, "not_found");
    // Cancel after admission is a wrong transition.
    app.post(&format!("/api/v1/consults/{id}/cancel"), Some(&c.patient_token), json!({})).await.expect_problem(409, "invalid_transition");
    app.post(&format!("/api/v1/consults/{id}/admit"), Some(&c.doctor_token), json!({})).await.expect_problem(409, "invalid_transition");
    // The patient's own room token opens only this room, as a patient.
    let token =
        app.post(&format!("/api/v1/consults/{id}/room-token"), Some(&c.patient_token), json!({})).await.expect(200).body["token"].clone();
    let claims = vaidya_signaling::token::verify(&app.registry.tokens, token.as_str().unwrap()).unwrap();
    assert_eq!((claims.room.as_str(), claims.role.as_str()), (id, "patient"));
}

#[tokio::test]
async fn consult_actions_are_audited_for_the_patient() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let id = app.consult_in_progress(&c).await;
    app.get(&format!("/api/v1/consults/{id}"), Some(&c.doctor_token)).await.expect(200);
    let audit = app.get("/api/v1/audit", Some(&c.patient_token)).await.expect(200).body;
    let actions: Vec<(&str, &str)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource_id"] == id.as_str())
        .map(|e| (e["action"].as_str().unwrap(), e["role"].as_str().unwrap()))
        .collect();
    for expected in [("create", "patient"), ("admit", "doctor"), ("read", "doctor")] {
        assert!(actions.contains(&expected), "{expected:?} in {actions:?}");
    }
}
