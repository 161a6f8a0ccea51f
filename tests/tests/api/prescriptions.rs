//! E-prescriptions: the TPG 2020 drug rules, the signed PrescriptionRecord (valid FHIR R4), who may read and verify it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{Value, json};
use vaidya_tests::TestApp;
use vaidya_tests::clinic::{Clinic, prescription_body};
use vaidya_tests::fhir::{Profile, validate_document};

fn path(consult: &str) -> String {
    format!("/api/v1/consults/{consult}/prescriptions")
}

fn drug(name: &str) -> Value {
    prescription_body(json!({"drug": {"name": name}, "strength": null, "form": null}))
}

/// A consult of the given visit and mode, admitted; returns its id. A follow-up follows a completed first visit.
async fn consult(app: &TestApp, c: &Clinic, visit: &str, mode: &str) -> String {
    let mut overrides = json!({"mode": mode});
    if visit == "follow_up" {
        let first = app.consult_in_progress(c).await;
        app.post(&format!("/api/v1/consults/{first}/complete"), Some(&c.doctor_token), json!({})).await.expect(200);
        overrides = json!({"mode": mode, "visit": "follow_up", "previous_consult_id": first});
    }
    let id = app.request_consult(c, overrides).await["consult_id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/consults/{id}/admit"), Some(&c.doctor_token), json!({})).await.expect(200);
    id
}

#[tokio::test]
async fn a_prescription_is_a_signed_valid_prescription_record() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (mut events, _) = app.open_events(&c.patient_token, None).await;
    let id = consult(&app, &c, "first", "video").await;
    let body = json!({"items": [
        prescription_body(json!({}))["items"][0],
        {"drug": {"code": "VD0002"}, "dose": "1 sachet in 1 litre of water", "frequency": "after each loose stool", "duration_days": 3, "quantity": 6},
        {"drug": {"name": "Metformin 500mg tablet"}, "dose": "1 tablet", "frequency": "twice a day", "duration_days": 30, "quantity": 60},
    ], "notes": "Review in a week <if> fever & cough persist"});
    let created = app.post(&path(&id), Some(&c.doctor_token), body).await.expect(201).body;
    assert_eq!(created["status"], "issued");
    let items = created["items"].as_array().unwrap();
    assert_eq!(
        items.iter().map(|i| i["name"].as_str().unwrap()).collect::<Vec<_>>(),
        ["paracetamol", "oral rehydration salts", "metformin"]
    );
    assert_eq!(items.iter().map(|i| i["list"].as_str().unwrap()).collect::<Vec<_>>(), ["O", "O", "A"]);
    assert_eq!(created["patient_age"], 36, "born 1990-05-17");
    assert_eq!(created["doctor"]["registration_number"], c.doctor["registration_number"]);

    let bundle = &created["bundle"];
    validate_document(bundle, Profile::PrescriptionRecord).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(bundle["id"], created["prescription_id"]);
    let resources: Vec<&Value> = bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).collect();
    let requests: Vec<&&Value> = resources.iter().filter(|r| r["resourceType"] == "MedicationRequest").collect();
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|r| r["authoredOn"].is_string() && r["requester"]["reference"].is_string() && r["dosageInstruction"].is_array())
    );
    let practitioner = resources.iter().find(|r| r["resourceType"] == "Practitioner").unwrap();
    assert_eq!(practitioner["identifier"][0]["value"], c.doctor["registration_number"]);
    let narrative = bundle["entry"][0]["resource"]["section"][0]["text"]["div"].as_str().unwrap();
    assert!(narrative.contains("36 years"), "{narrative}");

    // The signature checks out with the published key, as an outsider would check it, and fails on any change.
    let keys = app.get("/api/v1/prescriptions/keys", None).await.expect(200).body;
    let x: [u8; 32] = URL_SAFE_NO_PAD.decode(keys["keys"][0]["x"].as_str().unwrap()).unwrap().try_into().unwrap();
    let key = VerifyingKey::from_bytes(&x).unwrap();
    let check = |doc: &Value| {
        let (header, sig) = created["signature"].as_str().unwrap().split_once("..").unwrap();
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(serde_json::to_string(doc).unwrap()));
        key.verify(input.as_bytes(), &Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap()).is_ok()
    };
    assert!(check(bundle));
    let mut altered = bundle.clone();
    altered["entry"][3]["resource"]["dispenseRequest"]["quantity"]["value"] = json!(150);
    assert!(!check(&altered));

    let issued = loop {
        let event = events.wait_for("event").await;
        if event["kind"] == "prescription.issued" {
            break event;
        }
    };
    assert_eq!(
        (issued["kind"].as_str(), issued["data"]["prescription_id"].as_str()),
        (Some("prescription.issued"), created["prescription_id"].as_str())
    );
    let pid = created["prescription_id"].as_str().unwrap();
    for token in [&c.patient_token, &c.doctor_token] {
        assert_eq!(app.get(&format!("/api/v1/prescriptions/{pid}"), Some(token)).await.expect(200).body["bundle"], *bundle);
        let verdict = app.get(&format!("/api/v1/prescriptions/{pid}/verify"), Some(token)).await.expect(200).body;
        assert_eq!(verdict["valid"], true);
        assert_eq!(verdict["signer"]["registration_number"], c.doctor["registration_number"]);
    }
    // It is also a health record of type Prescription in the patient's PHR.
    let phr = app.get("/api/v1/phr/records?hi_type=Prescription", Some(&c.patient_token)).await.expect(200).body;
    assert_eq!(phr["items"][0]["record_id"], pid);
}

#[tokio::test]
async fn a_tampered_bundle_fails_verification() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let created = app.prescription(&c).await;
    let pid = created["prescription_id"].as_str().unwrap();
    let stored: String =
        sqlx::query_scalar("SELECT bundle FROM health_records WHERE id = $1").bind(pid).fetch_one(app.registry.db.reader()).await.unwrap();
    assert!(stored.contains("\"value\":15"));
    sqlx::query("UPDATE health_records SET bundle = $1 WHERE id = $2")
        .bind(stored.replace("\"value\":15", "\"value\":150"))
        .bind(pid)
        .execute(app.registry.db.writer())
        .await
        .unwrap();
    let verdict = app.get(&format!("/api/v1/prescriptions/{pid}/verify"), Some(&c.patient_token)).await.expect(200).body;
    assert_eq!(verdict["valid"], false);
}

#[tokio::test]
async fn the_tpg_lists_are_enforced_for_the_consult_at_hand() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let first_video = consult(&app, &c, "first", "video").await;
    for (name, code) in [
        ("alprazolam", "drug_prohibited"),
        ("Morphine 10 mg", "drug_prohibited"),
        ("codeine", "drug_prohibited"),
        ("methylphenidate", "drug_prohibited"),
        ("sitagliptin", "drug_requires_follow_up"),
        ("hydrochlorothiazide", "drug_requires_follow_up"),
        ("unobtainium", "drug_unknown"),
        ("paracetamo", "drug_unknown"),
    ] {
        let reply = app.post(&path(&first_video), Some(&c.doctor_token), drug(name)).await.expect_problem(422, code);
        assert_eq!(reply.body["errors"][0]["field"], "items[0].drug", "{name}");
        assert!(!reply.body["detail"].as_str().unwrap().is_empty());
    }
    let reply = app.post(&path(&first_video), Some(&c.doctor_token), drug("alprazolam")).await;
    assert!(reply.body["detail"].as_str().unwrap().to_lowercase().contains("prohibited"), "the message says why: {}", reply.body);
    for name in ["clotrimazole cream", "ciprofloxacin eye drops", "metformin", "atenolol", "enalapril", "paracetamol", "ORS", "antacid"] {
        app.post(&path(&first_video), Some(&c.doctor_token), drug(name)).await.expect(201);
    }
    app.post(&format!("/api/v1/consults/{first_video}/complete"), Some(&c.doctor_token), json!({})).await.expect(200);

    let first_audio = consult(&app, &c, "first", "audio").await;
    let reply = app.post(&path(&first_audio), Some(&c.doctor_token), drug("metformin")).await.expect_problem(422, "drug_requires_video");
    assert!(reply.body["detail"].as_str().unwrap().to_lowercase().contains("video"));
    app.post(&path(&first_audio), Some(&c.doctor_token), drug("paracetamol")).await.expect(201);
    // The gravest problem names the code; every refused item is listed.
    let mixed = json!({"items": [drug("metformin")["items"][0], drug("alprazolam")["items"][0], drug("paracetamol")["items"][0]]});
    let reply = app.post(&path(&first_audio), Some(&c.doctor_token), mixed).await.expect_problem(422, "drug_prohibited");
    let fields: Vec<&str> = reply.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["items[0].drug", "items[1].drug"]);
    app.post(&format!("/api/v1/consults/{first_audio}/complete"), Some(&c.doctor_token), json!({})).await.expect(200);

    let follow_up = consult(&app, &c, "follow_up", "text").await;
    for name in ["sitagliptin", "metformin", "paracetamol"] {
        app.post(&path(&follow_up), Some(&c.doctor_token), drug(name)).await.expect(201);
    }
    app.post(&path(&follow_up), Some(&c.doctor_token), drug("alprazolam")).await.expect_problem(422, "drug_prohibited");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM prescriptions").fetch_one(app.registry.db.reader()).await.unwrap();
    assert_eq!(stored, 8 + 1 + 3, "refused prescriptions stored nothing");
}

#[tokio::test]
async fn absurd_items_are_refused_field_by_field() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let id = consult(&app, &c, "first", "video").await;
    for (overrides, field) in [
        (json!({"quantity": 0}), "items[0].quantity"),
        (json!({"quantity": -3}), "items[0].quantity"),
        (json!({"quantity": 100000}), "items[0].quantity"),
        (json!({"quantity": null}), "items[0].quantity"),
        (json!({"duration_days": 0}), "items[0].duration_days"),
        (json!({"duration_days": 3650}), "items[0].duration_days"),
        (json!({"dose": " "}), "items[0].dose"),
        (json!({"frequency": null}), "items[0].frequency"),
        (json!({"drug": null}), "items[0].drug"),
        (json!({"drug": {"name": " "}}), "items[0].drug"),
        (json!({"instructions": "x".repeat(501)}), "items[0].instructions"),
    ] {
        let mut body = prescription_body(json!({}));
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                body["items"][0].as_object_mut().unwrap().remove(k);
            } else {
                body["items"][0][k] = v.clone();
            }
        }
        let reply = app.post(&path(&id), Some(&c.doctor_token), body).await.expect_problem(422, "validation_failed");
        assert_eq!(reply.body["errors"][0]["field"], field, "{overrides}");
    }
    app.post(&path(&id), Some(&c.doctor_token), json!({"items": []})).await.expect_problem(422, "validation_failed");
    app.post(&path(&id), Some(&c.doctor_token), json!({})).await.expect_problem(422, "validation_failed");
    let many = json!({"items": vec![prescription_body(json!({}))["items"][0].clone(); 21]});
    app.post(&path(&id), Some(&c.doctor_token), many).await.expect_problem(422, "validation_failed");
    assert_eq!(app.get("/api/v1/phr/records", Some(&c.patient_token)).await.expect(200).body["items"], json!([]));
}

#[tokio::test]
async fn only_the_consults_doctor_prescribes_while_it_is_open_and_a_suspended_one_not_at_all() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (_, other) = app.doctor().await;
    let id = consult(&app, &c, "first", "video").await;
    app.post(&path(&id), Some(&other), prescription_body(json!({}))).await.expect_problem(404, "not_found");
    app.post(&path(&id), Some(&c.patient_token), prescription_body(json!({}))).await.expect_problem(404, "not_found");
    app.post(&format!("/api/v1/consults/{id}/complete"), Some(&c.doctor_token), json!({})).await.expect(200);
    app.post(&path(&id), Some(&c.doctor_token), prescription_body(json!({}))).await.expect(201);
    app.ended_hours_ago(&id, 25).await;
    app.post(&path(&id), Some(&c.doctor_token), prescription_body(json!({}))).await.expect_problem(409, "notes_window_closed");

    let open = consult(&app, &c, "first", "video").await;
    let admin = app.admin_token().await;
    app.patch(&format!("/api/v1/providers/{}", c.doctor_id()), Some(&admin), json!({"status": "suspended"})).await.expect(200);
    app.post(&path(&open), Some(&c.doctor_token), prescription_body(json!({}))).await.expect(401);
}

#[tokio::test]
async fn prescriptions_are_not_for_strangers_and_drugs_can_be_searched() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let created = app.prescription(&c).await;
    let pid = created["prescription_id"].as_str().unwrap();
    let (_, stranger) = app.patient().await;
    let (_, other_doctor) = app.doctor().await;
    let pharmacy = app.pharmacy_at(12.97, 77.6).await;
    for token in [&stranger, &other_doctor, &pharmacy.token] {
        app.get(&format!("/api/v1/prescriptions/{pid}"), Some(token)).await.expect_problem(404, "not_found");
        app.get(&format!("/api/v1/prescriptions/{pid}/verify"), Some(token)).await.expect_problem(404, "not_found");
    }
    let found = app.get("/api/v1/drugs?q=metf", None).await.expect(200).body;
    assert_eq!(found["items"][0]["name"], "metformin");
    assert_eq!(found["items"][0]["list"], "A");
    let brand = app.get("/api/v1/drugs?q=dolo&limit=1", None).await.expect(200).body;
    assert_eq!(brand["items"][0]["name"], "paracetamol");
    app.get("/api/v1/drugs?limit=0", None).await.expect_problem(422, "validation_failed");
}

#[tokio::test]
async fn a_patient_lists_their_own_prescriptions_even_without_phr_consent() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let first = app.prescription(&c).await;
    // A second consult whose notes the patient kept out of the PHR: the prescription is still theirs.
    let id = app.request_consult(&c, json!({"consent": {"teleconsultation": true, "record_to_phr": false}})).await["consult_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(&format!("/api/v1/consults/{id}/admit"), Some(&c.doctor_token), json!({})).await.expect(200);
    let second = app.post(&path(&id), Some(&c.doctor_token), drug("cetirizine")).await.expect(201).body;
    let phr = app.get("/api/v1/phr/records?hi_type=Prescription", Some(&c.patient_token)).await.expect(200).body;
    assert_eq!(phr["items"].as_array().unwrap().len(), 1, "only the first is in the PHR");

    let page = app.get("/api/v1/prescriptions?limit=1", Some(&c.patient_token)).await.expect(200).body;
    assert_eq!(page["items"][0]["prescription_id"], second["prescription_id"], "newest first");
    assert_eq!(page["items"][0]["items"][0]["name"], "cetirizine");
    assert_eq!(page["items"][0]["doctor"]["registration_number"], c.doctor["registration_number"]);
    assert!(page["items"][0].get("bundle").is_none(), "the list carries no documents");
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let rest = app.get(&format!("/api/v1/prescriptions?limit=1&cursor={cursor}"), Some(&c.patient_token)).await.expect(200).body;
    assert_eq!(rest["items"][0]["prescription_id"], first["prescription_id"]);
    assert_eq!(rest["next_cursor"], Value::Null);

    let (_, stranger) = app.patient().await;
    let none = app.get("/api/v1/prescriptions", Some(&stranger)).await.expect(200).body;
    assert_eq!(none["items"], json!([]), "another patient sees none of them");
    app.get("/api/v1/prescriptions", Some(&c.doctor_token)).await.expect_problem(403, "forbidden");
    app.get("/api/v1/prescriptions", None).await.expect_problem(401, "unauthorized");
    app.get("/api/v1/prescriptions?cursor=%%%", Some(&c.patient_token)).await.expect_problem(422, "validation_failed");
}
