//! The consent manager: requests, grants (only narrower), denials, revocations and expiry, the signed artefact, the
//! records a consent lets a doctor read (no more), break-the-glass, and a revoke racing reads.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{Value, json};
use vaidya_tests::TestApp;
use vaidya_tests::clinic::Clinic;

fn request_body(health_id: &str, overrides: Value) -> Value {
    let mut body = json!({
        "patient_health_id": health_id,
        "purpose": "CAREMGT",
        "hi_types": ["OPConsultation", "Prescription"],
        "date_range": {"from": "2020-01-01", "to": "2030-12-31"},
        "expires_at": "2030-12-31T00:00:00Z",
        "reason": "Review of past consultations",
    });
    if let Value::Object(o) = overrides {
        for (k, v) in o {
            body[k] = v;
        }
    }
    body
}

/// A clinic whose patient has one consult with notes (a record) from the clinic's doctor.
async fn clinic_with_record(app: &TestApp) -> (Clinic, String) {
    let c = app.clinic().await;
    let consult = app.consult_in_progress(&c).await;
    let record = app.write_notes(&c, &consult).await;
    (c, record["record_id"].as_str().unwrap().to_owned())
}

/// A second doctor (who has never seen the patient), logged in.
async fn other_doctor(app: &TestApp) -> (Value, String) {
    app.doctor().await
}

async fn ask(app: &TestApp, doctor: &str, health_id: &str, overrides: Value) -> String {
    let reply = app.post("/api/v1/consent-requests", Some(doctor), request_body(health_id, overrides)).await.expect(201);
    assert_eq!(reply.body["status"], "REQUESTED");
    reply.body["consent_request_id"].as_str().unwrap().to_owned()
}

async fn grant(app: &TestApp, patient: &str, request: &str, body: Value) -> Value {
    app.post(&format!("/api/v1/consent-requests/{request}/grant"), Some(patient), body).await.expect(201).body
}

fn records_path(health_id: &str) -> String {
    format!("/api/v1/patients/{health_id}/records")
}

#[tokio::test]
async fn a_granted_consent_lets_the_doctor_read_exactly_what_it_covers() {
    let app = TestApp::spawn().await;
    let (c, record_id) = clinic_with_record(&app).await;
    let (_, reader) = other_doctor(&app).await;
    let (mut patient_events, _) = app.open_events(&c.patient_token, None).await;

    // No consent yet: refused, and the refusal is audited.
    app.get(&records_path(c.health_id()), Some(&reader)).await.expect_problem(403, "consent_required");
    app.get(&format!("/api/v1/records/{record_id}"), Some(&reader)).await.expect_problem(404, "not_found");

    let request = ask(&app, &reader, c.health_id(), json!({})).await;
    let event = patient_events.expect("event").await;
    assert_eq!(event["kind"], "consent.requested");
    assert_eq!(event["data"]["consent_request_id"], request.as_str());
    let pending = app.get("/api/v1/consent-requests", Some(&c.patient_token)).await.expect(200).body;
    assert_eq!(pending["items"][0]["consent_request_id"], request.as_str());
    assert_eq!(pending["items"][0]["hi_types"], json!(["OPConsultation", "Prescription"]));

    let granted = grant(&app, &c.patient_token, &request, json!({})).await;
    assert_eq!(granted["status"], "GRANTED");
    let detail = &granted["artefact"]["consentDetail"];
    assert_eq!(detail["purpose"]["code"], "CAREMGT");
    assert_eq!(detail["hiTypes"], json!(["OPConsultation", "Prescription"]));
    for key in ["accessMode", "dateRange", "dataEraseAt", "frequency"] {
        assert!(!detail["permission"][key].is_null(), "permission.{key}");
    }

    let set = app.get(&records_path(c.health_id()), Some(&reader)).await.expect(200).body;
    assert_eq!(set["type"], "searchset");
    assert_eq!(set["total"], 1);
    assert_eq!(set["entry"][0]["resource"]["type"], "document");
    vaidya_tests::fhir::validate_searchset(&set).unwrap_or_else(|e| panic!("searchset: {e:#?}"));
    let one = app.get(&format!("/api/v1/records/{record_id}"), Some(&reader)).await.expect(200).body;
    assert_eq!(one["resourceType"], "Bundle");

    // Only the consented types: a Prescription-only view of the same consent is empty, a type outside it refused.
    let set = app.get(&format!("{}?hi_type=Prescription", records_path(c.health_id())), Some(&reader)).await.expect(200).body;
    assert_eq!(set["total"], 0);
    app.get(&format!("{}?hi_type=DischargeSummary", records_path(c.health_id())), Some(&reader))
        .await
        .expect_problem(403, "consent_required");
    app.get(&format!("{}?from=2031-01-01", records_path(c.health_id())), Some(&reader)).await.expect_problem(403, "consent_required");
    app.get(&format!("{}?hi_type=XRay", records_path(c.health_id())), Some(&reader)).await.expect_problem(422, "validation_failed");
    app.get(&format!("{}?from=yesterday", records_path(c.health_id())), Some(&reader)).await.expect_problem(422, "validation_failed");

    // The patient's trail names the reader and the purpose, and the refusal before the grant.
    let audit = app.get("/api/v1/audit", Some(&c.patient_token)).await.expect(200).body;
    let reads: Vec<&Value> = audit["items"].as_array().unwrap().iter().filter(|e| e["resource_type"] == "patient_records").collect();
    assert!(reads.iter().any(|e| e["outcome"] == "success" && e["purpose"] == "CAREMGT"), "{reads:?}");
    assert!(reads.iter().any(|e| e["outcome"] == "denied"), "{reads:?}");
}

#[tokio::test]
async fn a_narrower_grant_covers_only_what_was_granted_and_widening_is_refused() {
    let app = TestApp::spawn().await;
    let (c, _) = clinic_with_record(&app).await;
    let (_, reader) = other_doctor(&app).await;
    let request = ask(
        &app,
        &reader,
        c.health_id(),
        json!({"hi_types": ["OPConsultation"], "date_range": {"from": "2024-01-01", "to": "2030-01-01"}}),
    )
    .await;
    let path = format!("/api/v1/consent-requests/{request}/grant");
    for (body, field) in [
        (json!({"hi_types": ["OPConsultation", "DischargeSummary"]}), "hi_types"),
        (json!({"date_range": {"from": "2023-01-01", "to": "2025-01-01"}}), "date_range"),
        (json!({"date_range": {"from": "2025-01-01", "to": "2031-01-01"}}), "date_range"),
        (json!({"expires_at": "2031-06-01T00:00:00Z"}), "expires_at"),
    ] {
        let reply = app.post(&path, Some(&c.patient_token), body).await.expect_problem(422, "consent_widened");
        assert_eq!(reply.body["errors"][0]["field"], field);
    }
    for body in [
        json!({"hi_types": []}),
        json!({"hi_types": ["Xray"]}),
        json!({"expires_at": "2001-01-01T00:00:00Z"}),
        json!({"date_range": {"from": "2026-02-01", "to": "2026-01-01"}}),
    ] {
        app.post(&path, Some(&c.patient_token), body).await.expect_problem(422, "validation_failed");
    }
    // Nothing was granted by the refusals.
    assert_eq!(app.get("/api/v1/consents", Some(&reader)).await.expect(200).body["items"], json!([]));

    // Narrow the date range to before this consult: the consent is in force but covers nothing of today.
    let granted = grant(&app, &c.patient_token, &request, json!({"date_range": {"from": "2024-01-01", "to": "2024-12-31"}})).await;
    assert_eq!(granted["artefact"]["consentDetail"]["permission"]["dateRange"]["to"], "2024-12-31T23:59:59.999Z");
    let set = app.get(&records_path(c.health_id()), Some(&reader)).await.expect(200).body;
    assert_eq!(set["total"], 0, "today's record lies outside the granted range");
    app.get(&format!("{}?from=2025-06-01", records_path(c.health_id())), Some(&reader)).await.expect_problem(403, "consent_required");
    // A request is decided once.
    app.post(&path, Some(&c.patient_token), json!({})).await.expect_problem(409, "invalid_transition");
    app.post(&format!("/api/v1/consent-requests/{request}/deny"), Some(&c.patient_token), json!({}))
        .await
        .expect_problem(409, "invalid_transition");
}

#[tokio::test]
async fn denied_revoked_expired_and_other_doctors_consents_do_not_open_records() {
    let app = TestApp::spawn().await;
    let (c, record_id) = clinic_with_record(&app).await;
    let (_, reader) = other_doctor(&app).await;
    let (_, bystander) = other_doctor(&app).await;

    let denied = ask(&app, &reader, c.health_id(), json!({})).await;
    let reply = app.post(&format!("/api/v1/consent-requests/{denied}/deny"), Some(&c.patient_token), json!({})).await.expect(200);
    assert_eq!(reply.body["status"], "DENIED");
    app.get(&records_path(c.health_id()), Some(&reader)).await.expect_problem(403, "consent_required");

    let request = ask(&app, &reader, c.health_id(), json!({})).await;
    let consent = grant(&app, &c.patient_token, &request, json!({})).await["consent_id"].as_str().unwrap().to_owned();
    app.get(&records_path(c.health_id()), Some(&reader)).await.expect(200);
    // Another doctor's consent is not this doctor's.
    app.get(&records_path(c.health_id()), Some(&bystander)).await.expect_problem(403, "consent_required");
    app.get(&format!("/api/v1/records/{record_id}"), Some(&bystander)).await.expect_problem(404, "not_found");

    // Revoked while the doctor's session is open: the very next request fails, and the doctor hears of it.
    let (mut doctor_events, _) = app.open_events(&reader, None).await;
    let revoked = app.post(&format!("/api/v1/consents/{consent}/revoke"), Some(&c.patient_token), json!({})).await.expect(200).body;
    assert_eq!(revoked["status"], "REVOKED");
    app.get(&records_path(c.health_id()), Some(&reader)).await.expect_problem(403, "consent_revoked");
    app.get(&format!("/api/v1/records/{record_id}"), Some(&reader)).await.expect_problem(404, "not_found");
    assert_eq!(doctor_events.wait_for("event").await["kind"], "consent.revoked");
    app.post(&format!("/api/v1/consents/{consent}/revoke"), Some(&c.patient_token), json!({}))
        .await
        .expect_problem(409, "invalid_transition");

    // Expired: it stops working by itself. (This grant sends no body at all: everything as requested.)
    let request = ask(&app, &reader, c.health_id(), json!({})).await;
    let granted =
        app.post_raw(&format!("/api/v1/consent-requests/{request}/grant"), Some(&c.patient_token), "application/json", Vec::new()).await;
    let consent = granted.expect(201).body["consent_id"].as_str().unwrap().to_owned();
    app.get(&records_path(c.health_id()), Some(&reader)).await.expect(200);
    sqlx::query("UPDATE consents SET expires_at = $1 WHERE id = $2")
        .bind(vaidya_registry::db::now_ms() - 1)
        .bind(&consent)
        .execute(app.registry.db.writer())
        .await
        .unwrap();
    app.get(&records_path(c.health_id()), Some(&reader)).await.expect_problem(403, "consent_expired");
    let listed = app.get("/api/v1/consents", Some(&c.patient_token)).await.expect(200).body;
    let statuses: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|k| k["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["EXPIRED", "REVOKED"]);
    app.post(&format!("/api/v1/consents/{consent}/revoke"), Some(&c.patient_token), json!({}))
        .await
        .expect_problem(409, "invalid_transition");
}

#[tokio::test]
async fn only_the_patient_decides_their_requests() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (_, stranger) = app.patient().await;
    let request = ask(&app, &c.doctor_token, c.health_id(), json!({})).await;
    for token in [&stranger, &c.doctor_token] {
        let reply = app.post(&format!("/api/v1/consent-requests/{request}/grant"), Some(token), json!({})).await;
        assert!(matches!(reply.status.as_u16(), 403 | 404), "{}", reply.body);
        let reply = app.post(&format!("/api/v1/consent-requests/{request}/deny"), Some(token), json!({})).await;
        assert!(matches!(reply.status.as_u16(), 403 | 404), "{}", reply.body);
    }
    app.post(&format!("/api/v1/consent-requests/{request}/grant"), Some(&stranger), json!({})).await.expect_problem(404, "not_found");
    assert_eq!(app.get("/api/v1/consent-requests", Some(&stranger)).await.expect(200).body["items"], json!([]));
    let granted = grant(&app, &c.patient_token, &request, json!({})).await;
    let consent = granted["consent_id"].as_str().unwrap();
    app.post(&format!("/api/v1/consents/{consent}/revoke"), Some(&stranger), json!({})).await.expect_problem(404, "not_found");
    app.post(&format!("/api/v1/consents/{consent}/revoke"), Some(&c.doctor_token), json!({})).await.expect_problem(403, "forbidden");
}

#[tokio::test]
async fn bad_consent_requests_are_refused() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"purpose": "MARKETING"}), "purpose"),
        (json!({"purpose": null}), "purpose"),
        (json!({"hi_types": []}), "hi_types"),
        (json!({"hi_types": ["OPConsultation", "Horoscope"]}), "hi_types"),
        (json!({"date_range": {"from": "2026-05-01", "to": "2026-01-01"}}), "date_range"),
        (json!({"date_range": {"from": "May 2026", "to": "2026-06-01"}}), "date_range.from"),
        (json!({"date_range": null}), "date_range"),
        (json!({"expires_at": "2020-01-01T00:00:00Z"}), "expires_at"),
        (json!({"expires_at": "next week"}), "expires_at"),
        (json!({"reason": "x".repeat(501)}), "reason"),
    ];
    for (overrides, field) in cases {
        let reply = app.post("/api/v1/consent-requests", Some(&c.doctor_token), request_body(c.health_id(), overrides.clone())).await;
        let reply = reply.expect_problem(422, "validation_failed");
        assert_eq!(reply.body["errors"][0]["field"], field, "{overrides}: {}", reply.body);
    }
    app.post("/api/v1/consent-requests", Some(&c.doctor_token), request_body("12-3456-7890-1234", json!({})))
        .await
        .expect_problem(422, "invalid_health_id");
    app.post("/api/v1/consent-requests", Some(&c.patient_token), request_body(c.health_id(), json!({})))
        .await
        .expect_problem(403, "forbidden");
    assert_eq!(app.get("/api/v1/consent-requests", Some(&c.patient_token)).await.expect(200).body["items"], json!([]));
}

#[tokio::test]
async fn the_artefact_signature_checks_out_with_the_published_key_and_fails_when_altered() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let request = ask(&app, &c.doctor_token, c.health_id(), json!({})).await;
    let artefact = grant(&app, &c.patient_token, &request, json!({"hi_types": ["OPConsultation"]})).await["artefact"].clone();
    let keys = app.get("/api/v1/consents/keys", None).await.expect(200).body;
    let jwk = &keys["keys"][0];
    assert_eq!((jwk["kty"].as_str(), jwk["crv"].as_str(), jwk["alg"].as_str()), (Some("OKP"), Some("Ed25519"), Some("EdDSA")));
    let x: [u8; 32] = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap().try_into().unwrap();
    let key = VerifyingKey::from_bytes(&x).unwrap();

    // Checked as an outsider would: RFC 7515 detached JWS over the canonical (sorted, compact) JSON of consentDetail.
    let verify = |detail: &Value| {
        let jws = artefact["signature"].as_str().unwrap();
        let (header, signature) = jws.split_once("..").expect("detached form");
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(serde_json::to_string(detail).unwrap()));
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
        key.verify(input.as_bytes(), &signature).is_ok()
    };
    assert!(verify(&artefact["consentDetail"]));
    let mut widened = artefact["consentDetail"].clone();
    widened["hiTypes"] = json!(["OPConsultation", "DischargeSummary"]);
    assert!(!verify(&widened), "an altered artefact fails");
    let mut later = artefact["consentDetail"].clone();
    later["permission"]["dataEraseAt"] = json!("2099-01-01T00:00:00Z");
    assert!(!verify(&later));
}

#[tokio::test]
async fn break_the_glass_gives_one_hour_with_a_reason_and_the_patient_sees_it() {
    let app = TestApp::spawn().await;
    let (c, record_id) = clinic_with_record(&app).await;
    let (_, emergency) = other_doctor(&app).await;
    let path = format!("/api/v1/patients/{}/break-glass", c.health_id());
    for body in [json!({}), json!({"reason": "unconscious"}), json!({"reason": "   short reason      "})] {
        app.post(&path, Some(&emergency), body).await.expect_problem(422, "validation_failed");
    }
    app.post(&path, Some(&c.patient_token), json!({"reason": "Unconscious on arrival at casualty, history unknown"}))
        .await
        .expect_problem(403, "forbidden");
    app.post("/api/v1/patients/12-3456-7890-1234/break-glass", Some(&emergency), json!({"reason": "Unconscious on arrival at casualty"}))
        .await
        .expect_problem(422, "invalid_health_id");
    app.get(&records_path(c.health_id()), Some(&emergency)).await.expect_problem(403, "consent_required");

    let (mut patient_events, _) = app.open_events(&c.patient_token, None).await;
    let access =
        app.post(&path, Some(&emergency), json!({"reason": "Unconscious on arrival at casualty, history unknown"})).await.expect(201).body;
    assert_eq!(access["purpose"], "BTG");
    assert_eq!(access["break_glass"], true);
    let granted_for = time::OffsetDateTime::parse(access["expires_at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
        .unwrap()
        - time::OffsetDateTime::now_utc();
    assert!(granted_for <= time::Duration::hours(1) && granted_for > time::Duration::minutes(59), "{granted_for}");
    let event = patient_events.expect("event").await;
    assert_eq!(event["data"]["break_glass"], true);

    let set = app.get(&records_path(c.health_id()), Some(&emergency)).await.expect(200).body;
    assert_eq!(set["total"], 1);
    app.get(&format!("/api/v1/records/{record_id}"), Some(&emergency)).await.expect(200);
    let consents = app.get("/api/v1/consents", Some(&c.patient_token)).await.expect(200).body;
    assert_eq!(consents["items"][0]["break_glass"], true);
    assert!(consents["items"][0]["reason"].as_str().unwrap().starts_with("Unconscious"));
    let audit = app.get("/api/v1/audit", Some(&c.patient_token)).await.expect(200).body;
    assert!(audit["items"].as_array().unwrap().iter().any(|e| e["action"] == "break_glass" && e["purpose"] == "BTG"));
}

#[tokio::test]
async fn a_revoke_racing_reads_never_lets_a_read_through_after_it_commits() {
    let app = TestApp::spawn().await;
    let (c, _) = clinic_with_record(&app).await;
    let (_, reader) = other_doctor(&app).await;
    let request = ask(&app, &reader, c.health_id(), json!({})).await;
    let consent = grant(&app, &c.patient_token, &request, json!({})).await["consent_id"].as_str().unwrap().to_owned();
    let path = records_path(c.health_id());
    let revoked_at = std::sync::Arc::new(std::sync::Mutex::new(None::<std::time::Instant>));

    let readers = (0..4).map(|_| {
        let (app, path, reader, revoked_at) = (&app, &path, &reader, revoked_at.clone());
        async move {
            let mut late_successes = 0;
            for _ in 0..40 {
                let started = std::time::Instant::now();
                let reply = app.get(path, Some(reader)).await;
                let revoked_before_start = revoked_at.lock().unwrap().is_some_and(|at| at < started);
                match reply.status.as_u16() {
                    200 if revoked_before_start => late_successes += 1,
                    200 => {}
                    403 => assert_eq!(reply.code(), "consent_revoked"),
                    other => panic!("unexpected {other}: {}", reply.body),
                }
            }
            late_successes
        }
    });
    let revoke = async {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        app.post(&format!("/api/v1/consents/{consent}/revoke"), Some(&c.patient_token), json!({})).await.expect(200);
        *revoked_at.lock().unwrap() = Some(std::time::Instant::now());
    };
    let (late, ()) = tokio::join!(futures::future::join_all(readers), revoke);
    assert_eq!(late.iter().sum::<i32>(), 0, "no read that started after the revoke committed got records");
    app.get(&path, Some(&reader)).await.expect_problem(403, "consent_revoked");
}
