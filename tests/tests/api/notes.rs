//! Encounter notes: the OPConsultRecord document (valid FHIR R4 for any notes a doctor can write, property-tested),
//! where it shows (EMR always, PHR under consent), and every refusal.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use vaidya_consult::fhir::opconsult::{Encounter, op_consult_record};
use vaidya_consult::notes::{DiagnosisInput, FollowUpInput, OneOrMany, WriteNotes, validate};
use vaidya_consult::people::{Doctor, Facility, Patient};
use vaidya_tests::TestApp;
use vaidya_tests::clinic::notes_body;
use vaidya_tests::fhir::{Profile, validate_document};

/// Text a doctor might type, including markup characters, Indian scripts, emoji, stray spaces and the odd control character.
fn clinical_text(max: usize) -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        8 => proptest::char::range('a', 'z'),
        2 => proptest::char::range('A', 'Z'),
        2 => proptest::char::range('0', '9'),
        3 => Just(' '),
        2 => proptest::sample::select(vec!['<', '>', '&', '"', '\'', '/', ';', '#', '%', '\\', '{', '}', '.', ',', '(', ')']),
        2 => proptest::char::range('\u{0900}', '\u{097F}'),
        1 => proptest::sample::select(vec!['°', 'µ', '€', '😷', '\u{200d}', 'é']),
        1 => proptest::sample::select(vec!['\n', '\t', '\r']),
    ];
    // Now and then a control character that has no place in a note (a bell).
    (proptest::collection::vec(ch, 0..max), proptest::bool::weighted(0.03)).prop_map(|(chars, bell)| {
        let mut text = String::from_iter(chars);
        if bell {
            text.push('\u{7}');
        }
        text
    })
}

fn maybe(s: impl Strategy<Value = String>) -> impl Strategy<Value = Option<String>> {
    proptest::option::weighted(0.7, s)
}

fn diagnosis() -> impl Strategy<Value = DiagnosisInput> {
    let coded = prop_oneof![
        3 => Just((None, None)),
        3 => Just((Some("J02.9".to_owned()), Some("http://hl7.org/fhir/sid/icd-10".to_owned()))),
        3 => Just((Some("195662009".to_owned()), Some("http://snomed.info/sct".to_owned()))),
        1 => (maybe(clinical_text(12)), maybe(clinical_text(12))),
    ];
    (proptest::option::weighted(0.95, clinical_text(80)), coded).prop_map(|(text, (code, system))| DiagnosisInput { text, code, system })
}

fn notes_input() -> impl Strategy<Value = WriteNotes> {
    (
        proptest::option::weighted(0.95, clinical_text(300)),
        maybe(clinical_text(200)),
        maybe(clinical_text(200)),
        proptest::option::weighted(0.9, proptest::collection::vec(diagnosis(), 0..4)),
        proptest::option::of(prop_oneof![
            clinical_text(40).prop_map(OneOrMany::One),
            proptest::collection::vec(clinical_text(40), 0..4).prop_map(OneOrMany::Many),
        ]),
        maybe(clinical_text(200)),
        proptest::option::of(
            (proptest::option::weighted(0.9, -5i64..400), maybe(clinical_text(60)))
                .prop_map(|(after_days, note)| FollowUpInput { after_days, note }),
        ),
    )
        .prop_map(|(chief_complaints, history, examination, diagnoses, investigations_advised, advice, follow_up)| WriteNotes {
            chief_complaints,
            history,
            examination,
            diagnoses,
            investigations_advised,
            advice,
            follow_up,
        })
}

fn people() -> (Patient, Doctor, Facility) {
    let patient = Patient {
        health_id: "91123456789013".into(),
        account_id: "a".into(),
        handle: "asha.v".into(),
        name: "Asha <Verma> & Co".into(),
        gender: "F".into(),
        date_of_birth: "1990-05-17".into(),
    };
    let doctor = Doctor {
        provider_id: "71234567890123".into(),
        account_id: "d".into(),
        name: "Dr. Kavya Iyer".into(),
        registration_number: "KMC-12345".into(),
        council: "Karnataka Medical Council".into(),
        speciality: Some("General Medicine".into()),
        qualification: Some("MBBS, MD".into()),
        status: "verified".into(),
    };
    (patient, doctor, Facility { id: "IN1234567890".into(), name: "Jayanagar Clinic".into(), kind: "clinic".into() })
}

proptest! {
    #![proptest_config(Config::with_cases(300))]

    /// Whatever a doctor sends, it is either refused field by field or becomes a valid OPConsultRecord.
    #[test]
    fn any_notes_are_refused_or_become_a_valid_document(input in notes_input(), in_progress in any::<bool>()) {
        let (patient, doctor, facility) = people();
        match validate(input) {
            Err(err) => {
                prop_assert_eq!(err.status().as_u16(), 422);
                prop_assert!(!err.problem().errors.is_empty(), "a refusal names its fields");
            }
            Ok(notes) => {
                let enc = Encounter {
                    consult_id: "019a0000-0000-7000-8000-000000000001",
                    patient: &patient,
                    doctor: &doctor,
                    facility: in_progress.then_some(&facility),
                    started_at: 1_764_000_000_000,
                    ended_at: (!in_progress).then_some(1_764_000_900_000),
                    mode: "video",
                };
                let bundle = op_consult_record("019a0000-0000-7000-8000-0000000000ff", &enc, &notes, 1_764_001_000_000);
                if let Err(errors) = validate_document(&bundle, Profile::OpConsultRecord) {
                    prop_assert!(false, "invalid document: {errors:#?}\n{bundle:#}");
                }
            }
        }
    }
}

fn composition(bundle: &Value) -> &Value {
    &bundle["entry"][0]["resource"]
}

fn section_codes(bundle: &Value) -> Vec<String> {
    composition(bundle)["section"].as_array().unwrap().iter().map(|s| s["code"]["coding"][0]["code"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn notes_become_an_op_consult_record_in_the_emr_and_the_phr() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let consult = app.consult_in_progress(&c).await;
    let created = app.write_notes(&c, &consult).await;
    assert_eq!(created["hi_type"], "OPConsultation");
    assert_eq!(created["in_phr"], true);
    let bundle = &created["bundle"];
    validate_document(bundle, Profile::OpConsultRecord).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(composition(bundle)["type"]["coding"][0]["code"], "371530004");
    assert_eq!(section_codes(bundle), ["422843007", "371529009", "425044008", "721963009", "404684003", "390906007"]);
    let resources: Vec<&Value> = bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).collect();
    let patient = resources.iter().find(|r| r["resourceType"] == "Patient").unwrap();
    assert_eq!(patient["identifier"][0]["system"], "https://healthid.ndhm.gov.in");
    assert_eq!(patient["identifier"][0]["value"], c.health_id());
    let doctor = resources.iter().find(|r| r["resourceType"] == "Practitioner").unwrap();
    assert_eq!(doctor["identifier"][0]["system"], "https://doctor.ndhm.gov.in");
    assert_eq!(doctor["identifier"][0]["value"], c.doctor["registration_number"]);
    let coded = resources.iter().find(|r| r["code"]["coding"][0]["code"] == "J02.9").expect("the coded diagnosis");
    assert_eq!(coded["code"]["coding"][0]["system"], "http://hl7.org/fhir/sid/icd-10");

    let record_id = created["record_id"].as_str().unwrap();
    for token in [&c.patient_token, &c.doctor_token] {
        let stored = app.get(&format!("/api/v1/records/{record_id}"), Some(token)).await.expect(200).body;
        assert_eq!(&stored, bundle);
    }
    let phr = app.get("/api/v1/phr/records", Some(&c.patient_token)).await.expect(200).body;
    assert_eq!(phr["items"][0]["record_id"], record_id);
    assert_eq!(phr["items"][0]["author"], c.doctor["name"]);
    assert!(phr["items"][0]["facility"].is_string());
    assert_eq!(app.get("/api/v1/phr/records?hi_type=Prescription", Some(&c.patient_token)).await.expect(200).body["items"], json!([]));
    app.get("/api/v1/phr/records?hi_type=Nope", Some(&c.patient_token)).await.expect_problem(422, "validation_failed");
    app.get("/api/v1/phr/records", Some(&c.doctor_token)).await.expect_problem(403, "forbidden");

    // Right after the consult the doctor may still write; the encounter is then finished.
    app.post(&format!("/api/v1/consults/{consult}/complete"), Some(&c.doctor_token), json!({})).await.expect(200);
    let later = app.write_notes(&c, &consult).await;
    validate_document(&later["bundle"], Profile::OpConsultRecord).unwrap_or_else(|e| panic!("{e:#?}"));
    let encounter = later["bundle"]["entry"].as_array().unwrap().iter().find(|e| e["resource"]["resourceType"] == "Encounter").unwrap();
    assert_eq!(encounter["resource"]["status"], "finished");
}

#[tokio::test]
async fn without_phr_consent_notes_stay_in_the_emr_and_a_withdrawal_stops_new_ones() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let consult = app.request_consult(&c, json!({"consent": {"teleconsultation": true, "record_to_phr": false}})).await;
    let id = consult["consult_id"].as_str().unwrap();
    app.post(&format!("/api/v1/consults/{id}/admit"), Some(&c.doctor_token), json!({})).await.expect(200);
    let created = app.write_notes(&c, id).await;
    assert_eq!(created["in_phr"], false);
    let record_id = created["record_id"].as_str().unwrap();
    app.get(&format!("/api/v1/records/{record_id}"), Some(&c.doctor_token)).await.expect(200);
    app.get(&format!("/api/v1/records/{record_id}"), Some(&c.patient_token)).await.expect_problem(404, "not_found");
    assert_eq!(app.get("/api/v1/phr/records", Some(&c.patient_token)).await.expect(200).body["items"], json!([]));

    // The patient gives consent: the record shows in the PHR; then withdraws it: it leaves, and new notes are refused.
    let path = format!("/api/v1/consults/{id}/consent");
    app.put(&path, Some(&c.patient_token), json!({"record_to_phr": true})).await.expect(200);
    assert_eq!(app.get("/api/v1/phr/records", Some(&c.patient_token)).await.expect(200).body["items"][0]["record_id"], record_id);
    let withdrawn = app.put(&path, Some(&c.patient_token), json!({"record_to_phr": false})).await.expect(200).body;
    assert!(withdrawn["consent"]["record_to_phr_withdrawn_at"].is_string());
    assert_eq!(app.get("/api/v1/phr/records", Some(&c.patient_token)).await.expect(200).body["items"], json!([]));
    app.post(&format!("/api/v1/consults/{id}/notes"), Some(&c.doctor_token), notes_body()).await.expect_problem(403, "consent_required");
    app.put(&path, Some(&c.doctor_token), json!({"record_to_phr": true})).await.expect_problem(404, "not_found");
    app.put(&path, Some(&c.patient_token), json!({})).await.expect_problem(422, "validation_failed");
}

#[tokio::test]
async fn notes_only_on_ones_own_consult_while_it_is_open() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let (_, other_doctor) = app.doctor().await;
    let waiting = app.request_consult(&c, json!({})).await;
    let waiting_id = waiting["consult_id"].as_str().unwrap();
    let notes = |id: &str, token: &str| {
        let (path, token) = (format!("/api/v1/consults/{id}/notes"), token.to_owned());
        let app = &app;
        async move { app.post(&path, Some(&token), notes_body()).await }
    };
    notes(waiting_id, &c.doctor_token).await.expect_problem(404, "not_found");
    app.post(&format!("/api/v1/consults/{waiting_id}/cancel"), Some(&c.patient_token), json!({})).await.expect(200);
    let id = app.consult_in_progress(&c).await;
    notes(&id, &other_doctor).await.expect_problem(404, "not_found");
    notes(&id, &c.patient_token).await.expect_problem(404, "not_found");
    notes(&uuid::Uuid::now_v7().to_string(), &c.doctor_token).await.expect_problem(404, "not_found");

    // A cancelled consult has no encounter.
    sqlx::query("UPDATE consults SET status = 'cancelled', doctor_id = $1 WHERE id = $2")
        .bind(c.doctor_id())
        .bind(waiting_id)
        .execute(app.registry.db.writer())
        .await
        .unwrap();
    notes(waiting_id, &c.doctor_token).await.expect_problem(409, "invalid_transition");

    // Completed 25 hours ago: the window has closed.
    app.post(&format!("/api/v1/consults/{id}/complete"), Some(&c.doctor_token), json!({})).await.expect(200);
    notes(&id, &c.doctor_token).await.expect(201);
    app.ended_hours_ago(&id, 25).await;
    notes(&id, &c.doctor_token).await.expect_problem(409, "notes_window_closed");
}

#[tokio::test]
async fn bad_notes_are_refused_field_by_field_and_store_nothing() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let id = app.consult_in_progress(&c).await;
    let path = format!("/api/v1/consults/{id}/notes");
    let with = |changes: Value| {
        let mut body = notes_body();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let cases = [
        (json!({"chief_complaints": null}), "chief_complaints"),
        (json!({"chief_complaints": "  "}), "chief_complaints"),
        (json!({"chief_complaints": "x".repeat(4001)}), "chief_complaints"),
        (json!({"diagnoses": null}), "diagnoses"),
        (json!({"diagnoses": [{"code": "J02.9", "system": "http://hl7.org/fhir/sid/icd-10"}]}), "diagnoses[0].text"),
        (json!({"diagnoses": [{"text": "Pharyngitis", "code": "J02.9"}]}), "diagnoses[0].system"),
        (json!({"diagnoses": [{"text": "Pharyngitis", "system": "http://snomed.info/sct"}]}), "diagnoses[0].code"),
        (json!({"diagnoses": [{"text": "Pharyngitis", "code": "J02 9", "system": "http://hl7.org/fhir/sid/icd-10"}]}), "diagnoses[0].code"),
        (json!({"diagnoses": [{"text": "Pharyngitis", "code": "J02.9", "system": "icd ten"}]}), "diagnoses[0].system"),
        (json!({"investigations_advised": ["CBC", ""]}), "investigations_advised[1]"),
        (json!({"follow_up": {"after_days": 0}}), "follow_up.after_days"),
        (json!({"follow_up": {"after_days": 1000}}), "follow_up.after_days"),
        (json!({"follow_up": {}}), "follow_up.after_days"),
        (json!({"history": "bad\u{0}byte"}), "history"),
    ];
    for (changes, field) in cases {
        let reply = app.post(&path, Some(&c.doctor_token), with(changes.clone())).await.expect_problem(422, "validation_failed");
        let fields: Vec<&str> = reply.body["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
        assert!(fields.contains(&field), "{changes} should name {field}: {}", reply.body);
    }
    app.post(&path, Some(&c.doctor_token), json!({"diagnoses": "none"})).await.expect_problem(422, "validation_failed");
    app.post_raw(&path, Some(&c.doctor_token), "application/json", b"{\"chief".to_vec()).await.expect_problem(400, "malformed_json");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM health_records").fetch_one(app.registry.db.reader()).await.unwrap();
    assert_eq!(stored, 0, "no refused note was stored");

    // One string is one investigation; an empty diagnosis list is a note without a diagnosis yet.
    let ok =
        app.post(&path, Some(&c.doctor_token), with(json!({"investigations_advised": "Chest X-ray", "diagnoses": []}))).await.expect(201);
    validate_document(&ok.body["bundle"], Profile::OpConsultRecord).unwrap_or_else(|e| panic!("{e:#?}"));
}

/// A few generated notes sent through the API, as the property test above does to the builder directly.
#[tokio::test]
async fn generated_notes_through_the_api_are_refused_or_stored_as_valid_documents() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let id = app.consult_in_progress(&c).await;
    // Deterministic, so the mix of stored and refused notes is the same on every run.
    let mut runner = TestRunner::deterministic();
    let (mut stored, mut refused) = (0, 0);
    for _ in 0..24 {
        let input = notes_input().new_tree(&mut runner).unwrap().current();
        let body = to_json(&input);
        let reply = app.post(&format!("/api/v1/consults/{id}/notes"), Some(&c.doctor_token), body).await;
        match reply.status.as_u16() {
            201 => {
                stored += 1;
                validate_document(&reply.body["bundle"], Profile::OpConsultRecord).unwrap_or_else(|e| panic!("{e:#?}"));
            }
            422 => refused += 1,
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert!(stored >= 6 && refused >= 2, "a useful mix: {stored} stored, {refused} refused");
}

fn to_json(n: &WriteNotes) -> Value {
    let mut body = json!({});
    let mut set = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            body[k] = v;
        }
    };
    set("chief_complaints", n.chief_complaints.clone().map(Value::from));
    set("history", n.history.clone().map(Value::from));
    set("examination", n.examination.clone().map(Value::from));
    set("advice", n.advice.clone().map(Value::from));
    set(
        "diagnoses",
        n.diagnoses.as_ref().map(|ds| ds.iter().map(|d| json!({"text": d.text, "code": d.code, "system": d.system})).collect()),
    );
    set(
        "investigations_advised",
        n.investigations_advised.as_ref().map(|i| match i {
            OneOrMany::One(s) => json!(s),
            OneOrMany::Many(l) => json!(l),
        }),
    );
    set("follow_up", n.follow_up.as_ref().map(|f| json!({"after_days": f.after_days, "note": f.note})));
    body
}
