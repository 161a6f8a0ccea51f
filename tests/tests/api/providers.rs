//! The Healthcare Professionals Registry: admins register, suspend and reinstate doctors and pharmacists; anyone finds verified ones.

use std::collections::HashSet;

use serde_json::{Value, json};
use vaidya_tests::{ADMIN_USER, PASSWORD, Reply, TestApp, provider_body};

fn fields(reply: &Reply) -> Vec<&str> {
    reply.body["errors"].as_array().map(|a| a.iter().filter_map(|e| e["field"].as_str()).collect()).unwrap_or_default()
}

/// Whether any object anywhere in `value` has one of `keys`.
fn has_key(value: &Value, keys: &[&str]) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| keys.contains(&k.as_str()) || has_key(v, keys)),
        Value::Array(items) => items.iter().any(|v| has_key(v, keys)),
        _ => false,
    }
}

fn id_of(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_else(|| panic!("{field} in {v}")).to_owned()
}

/// Provider ids of a list, sorted.
fn listed(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> = list["items"].as_array().expect("items").iter().map(|p| id_of(p, "provider_id")).collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(app.registry.db.reader()).await.unwrap()
}

/// An admin token with a clinic and a pharmacy registered: (admin, clinic id, pharmacy id).
async fn registry_with_facilities(app: &TestApp) -> (String, String, String) {
    let admin = app.admin_token().await;
    let clinic = app.create_facility(&admin, "clinic", 12.97, 77.59).await;
    let pharmacy = app.create_facility(&admin, "pharmacy", 12.97, 77.60).await;
    (admin, id_of(&clinic, "facility_id"), id_of(&pharmacy, "facility_id"))
}

#[tokio::test]
async fn admin_registers_a_doctor_and_a_pharmacist() {
    let app = TestApp::spawn().await;
    let (admin, clinic, pharmacy) = registry_with_facilities(&app).await;

    let body = provider_body(
        "doctor",
        &clinic,
        json!({"name": "Dr. Meera Rao", "registration_number": "kmc-2019/4711", "speciality": "Paediatrics", "languages": ["EN", "kn", "en"]}),
    );
    let doctor = app.post("/api/v1/providers", Some(&admin), body.clone()).await.expect(201).body;
    let id = id_of(&doctor, "provider_id");
    assert!(id.len() == 14 && id.bytes().all(|b| b.is_ascii_digit()), "provider id: {id}");
    assert_eq!(doctor["status"], "verified");
    assert_eq!(doctor["role"], "doctor");
    assert_eq!(doctor["name"], "Dr. Meera Rao");
    assert_eq!(doctor["registration_number"], "KMC-2019/4711", "registration numbers are kept upper-case");
    assert_eq!(doctor["council"], body["council"]);
    assert_eq!(doctor["speciality"], "Paediatrics");
    assert_eq!(doctor["qualification"], "MBBS");
    assert_eq!(doctor["facility_ids"], json!([clinic]));
    assert_eq!(doctor["languages"], json!(["en", "kn"]), "languages are normalised and deduplicated");
    assert!(!has_key(&doctor, &["username", "password", "password_hash"]), "no credentials in the response: {doctor}");
    assert!(!doctor.to_string().contains(PASSWORD));

    let pharmacist_body = provider_body("pharmacist", &pharmacy, json!({"facility_ids": [pharmacy, clinic]}));
    let pharmacist = app.post("/api/v1/providers", Some(&admin), pharmacist_body.clone()).await.expect(201).body;
    assert_eq!(pharmacist["role"], "pharmacist");
    assert_eq!(pharmacist["status"], "verified");
    assert_eq!(pharmacist["facility_ids"], json!(sorted(vec![pharmacy.clone(), clinic.clone()])));
    assert!(!has_key(&pharmacist, &["username", "password", "password_hash"]));
    assert_ne!(id_of(&pharmacist, "provider_id"), id);

    // Both log in with the username they were given (case does not matter), as their role and professional id.
    for (provider, username) in
        [(&doctor, body["username"].as_str().unwrap()), (&pharmacist, pharmacist_body["username"].as_str().unwrap())]
    {
        let login = app.login(&username.to_uppercase(), PASSWORD).await;
        assert_eq!(login["role"], provider["role"]);
        assert_eq!(login["subject_id"], provider["provider_id"]);
    }

    // Public reads.
    let read = app.get(&format!("/api/v1/providers/{id}"), None).await.expect(200).body;
    assert_eq!(read, doctor);
    app.get("/api/v1/providers/00000000000000", None).await.expect_problem(404, "not_found");
    app.get("/api/v1/providers/1234", None).await.expect_problem(404, "not_found");
}

#[tokio::test]
async fn pharmacist_must_belong_to_a_pharmacy() {
    let app = TestApp::spawn().await;
    let (admin, clinic, _) = registry_with_facilities(&app).await;
    let reply = app.post("/api/v1/providers", Some(&admin), provider_body("pharmacist", &clinic, json!({}))).await;
    let reply = reply.expect_problem(422, "validation_failed");
    assert!(fields(&reply).contains(&"facility_ids"), "{}", reply.body);
    // A doctor at a clinic is fine.
    app.create_provider(&admin, "doctor", &clinic, json!({})).await;
    assert_eq!(count(&app, "providers").await, 1);
}

#[tokio::test]
async fn facilities_must_be_registered_ones() {
    let app = TestApp::spawn().await;
    let (admin, clinic, _) = registry_with_facilities(&app).await;
    let accounts = count(&app, "accounts").await;
    let unknown = "IN0000000001";
    for (overrides, field) in [
        (json!({"facility_ids": [unknown]}), "facility_ids"),
        (json!({"facility_ids": [clinic, unknown]}), "facility_ids"),
        (json!({"facility_ids": ["IN12"]}), "facility_ids[0]"),
        (json!({"facility_ids": [clinic, "hospital-7"]}), "facility_ids[1]"),
        (json!({"facility_ids": []}), "facility_ids"),
        (json!({"facility_ids": null}), "facility_ids"),
    ] {
        let reply = app.post("/api/v1/providers", Some(&admin), provider_body("doctor", &clinic, overrides.clone())).await;
        let reply = reply.expect_problem(422, "validation_failed");
        assert!(fields(&reply).contains(&field), "{overrides} should name {field}: {}", reply.body);
    }
    assert_eq!(count(&app, "providers").await, 0);
    assert_eq!(count(&app, "accounts").await, accounts, "no account is left behind");
}

#[tokio::test]
async fn duplicate_username_is_409() {
    let app = TestApp::spawn().await;
    let (admin, clinic, _) = registry_with_facilities(&app).await;
    app.create_provider(&admin, "doctor", &clinic, json!({"username": "dr.anand"})).await;
    for taken in ["dr.anand", "DR.Anand", " dr.anand "] {
        app.post("/api/v1/providers", Some(&admin), provider_body("doctor", &clinic, json!({"username": taken})))
            .await
            .expect_problem(409, "username_taken");
    }
    // The admin's own username is taken too.
    app.post("/api/v1/providers", Some(&admin), provider_body("doctor", &clinic, json!({"username": ADMIN_USER})))
        .await
        .expect_problem(409, "username_taken");
    assert_eq!(count(&app, "providers").await, 1);
}

#[tokio::test]
async fn duplicate_council_registration_is_409() {
    let app = TestApp::spawn().await;
    let (admin, clinic, pharmacy) = registry_with_facilities(&app).await;
    let council = "Karnataka Medical Council";
    app.create_provider(&admin, "doctor", &clinic, json!({"registration_number": "KMC-12345", "council": council})).await;
    for number in ["KMC-12345", "kmc-12345", " KMC-12345 "] {
        app.post(
            "/api/v1/providers",
            Some(&admin),
            provider_body("doctor", &clinic, json!({"registration_number": number, "council": council})),
        )
        .await
        .expect_problem(409, "duplicate_registration");
    }
    // The same number at another council is another registration.
    app.create_provider(
        &admin,
        "pharmacist",
        &pharmacy,
        json!({"registration_number": "KMC-12345", "council": "Karnataka Pharmacy Council"}),
    )
    .await;
    assert_eq!(count(&app, "providers").await, 2);
}

/// Registration numbers are compared without regard to case, and so must councils be: a council written in
/// other letters is the same council, and the same registration there is a duplicate.
#[tokio::test]
async fn the_same_council_in_other_letters_is_still_a_duplicate_registration() {
    let app = TestApp::spawn().await;
    let (admin, clinic, _) = registry_with_facilities(&app).await;
    app.create_provider(&admin, "doctor", &clinic, json!({"registration_number": "KMC-555", "council": "Karnataka Medical Council"})).await;
    let again = json!({"registration_number": "kmc-555", "council": "KARNATAKA MEDICAL COUNCIL"});
    app.post("/api/v1/providers", Some(&admin), provider_body("doctor", &clinic, again))
        .await
        .expect_problem(409, "duplicate_registration");
    assert_eq!(count(&app, "providers").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_let_exactly_one_through() {
    let app = TestApp::spawn().await;
    let (admin, clinic, _) = registry_with_facilities(&app).await;

    // The same username from 8 requests at once.
    let bodies: Vec<Value> = (0..8).map(|_| provider_body("doctor", &clinic, json!({"username": "dr.same"}))).collect();
    let replies = futures::future::join_all(bodies.into_iter().map(|b| app.post("/api/v1/providers", Some(&admin), b))).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1, "one wins: {:?}", replies.iter().map(|r| (r.status, r.code())).collect::<Vec<_>>());
    for r in replies.into_iter().filter(|r| r.status != 201) {
        r.expect_problem(409, "username_taken");
    }

    // The same registration under different usernames.
    let bodies: Vec<Value> = (0..8).map(|_| provider_body("doctor", &clinic, json!({"registration_number": "TNMC-777"}))).collect();
    let replies = futures::future::join_all(bodies.into_iter().map(|b| app.post("/api/v1/providers", Some(&admin), b))).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1, "one wins: {:?}", replies.iter().map(|r| (r.status, r.code())).collect::<Vec<_>>());
    for r in replies.into_iter().filter(|r| r.status != 201) {
        r.expect_problem(409, "duplicate_registration");
    }

    assert_eq!(count(&app, "providers").await, 2);
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM accounts a WHERE a.role IN ('doctor', 'pharmacist') AND NOT EXISTS (SELECT 1 FROM providers p WHERE p.account_id = a.id)",
    )
    .fetch_one(app.registry.db.reader())
    .await
    .unwrap();
    assert_eq!(orphans, 0, "a refused registration leaves no account behind");
}

#[tokio::test]
async fn invalid_providers_are_422_with_each_field_named() {
    let app = TestApp::spawn().await;
    let (admin, clinic, _) = registry_with_facilities(&app).await;
    let accounts = count(&app, "accounts").await;
    let cases = [
        (json!({"role": "nurse"}), "role"),
        (json!({"role": "admin"}), "role"),
        (json!({"role": null}), "role"),
        (json!({"name": ""}), "name"),
        (json!({"name": null}), "name"),
        (json!({"registration_number": null}), "registration_number"),
        (json!({"registration_number": "x"}), "registration_number"),
        (json!({"registration_number": "KMC 123"}), "registration_number"),
        (json!({"council": null}), "council"),
        (json!({"council": " "}), "council"),
        (json!({"username": null}), "username"),
        (json!({"username": "9lives"}), "username"),
        (json!({"username": "dr@home"}), "username"),
        (json!({"username": "ab"}), "username"),
        (json!({"password": "short"}), "password"),
        (json!({"password": "1234567"}), "password"),
        (json!({"password": null}), "password"),
        (json!({"languages": ["x"]}), "languages"),
        (json!({"languages": ["en1"]}), "languages"),
    ];
    for (overrides, field) in cases {
        let reply = app.post("/api/v1/providers", Some(&admin), provider_body("doctor", &clinic, overrides.clone())).await;
        let reply = reply.expect_problem(422, "validation_failed");
        assert!(fields(&reply).contains(&field), "{overrides} should name {field}: {}", reply.body);
        assert!(!reply.body.to_string().contains(PASSWORD), "errors never echo the password");
    }
    // Missing everything: every required field is named at once.
    let reply = app.post("/api/v1/providers", Some(&admin), json!({})).await.expect_problem(422, "validation_failed");
    for field in ["name", "role", "registration_number", "council", "username", "password", "facility_ids"] {
        assert!(fields(&reply).contains(&field), "{field}: {}", reply.body);
    }
    app.post("/api/v1/providers", Some(&admin), provider_body("doctor", &clinic, json!({"facility_ids": "IN1234567890"})))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(count(&app, "providers").await, 0, "bad input changes nothing");
    assert_eq!(count(&app, "accounts").await, accounts);
}

#[tokio::test]
async fn only_admins_register_providers() {
    let app = TestApp::spawn().await;
    let (admin, clinic, pharmacy) = registry_with_facilities(&app).await;
    let (_, patient) = app.patient().await;
    let (_, doctor) = app.doctor().await;
    let (_, pharmacist_user) = app.create_provider(&admin, "pharmacist", &pharmacy, json!({})).await;
    let pharmacist = app.token(&pharmacist_user, PASSWORD).await;
    let before = count(&app, "providers").await;
    for token in [&patient, &doctor, &pharmacist] {
        app.post("/api/v1/providers", Some(token), provider_body("doctor", &clinic, json!({}))).await.expect_problem(403, "forbidden");
    }
    app.post("/api/v1/providers", None, provider_body("doctor", &clinic, json!({}))).await.expect_problem(401, "unauthorized");
    assert_eq!(count(&app, "providers").await, before);
}

#[tokio::test]
async fn public_list_filters_by_role_speciality_facility_and_language() {
    let app = TestApp::spawn().await;
    let (admin, clinic, pharmacy) = registry_with_facilities(&app).await;
    let second_clinic = id_of(&app.create_facility(&admin, "clinic", 12.9, 77.5).await, "facility_id");
    let make = |role: &'static str, facility: String, overrides: Value| {
        let app = &app;
        let admin = &admin;
        async move { id_of(&app.create_provider(admin, role, &facility, overrides).await.0, "provider_id") }
    };
    let cardio = make("doctor", clinic.clone(), json!({"speciality": "Cardiology", "languages": ["en", "hi"]})).await;
    let general = make("doctor", second_clinic.clone(), json!({"speciality": "General Medicine", "languages": ["en", "kn"]})).await;
    let cardio_lower =
        make("doctor", clinic.clone(), json!({"speciality": "cardiology", "languages": ["ta"], "facility_ids": [clinic, second_clinic]}))
            .await;
    let no_speciality = make("doctor", clinic.clone(), json!({"speciality": null, "languages": []})).await;
    let pharmacist = make("pharmacist", pharmacy.clone(), json!({"languages": ["hi"]})).await;

    let get = |query: String| {
        let app = &app;
        async move { listed(&app.get(&format!("/api/v1/providers{query}"), None).await.expect(200).body) }
    };
    assert_eq!(
        get(String::new()).await,
        sorted(vec![cardio.clone(), general.clone(), cardio_lower.clone(), no_speciality.clone(), pharmacist.clone()])
    );
    assert_eq!(
        get("?role=doctor".into()).await,
        sorted(vec![cardio.clone(), general.clone(), cardio_lower.clone(), no_speciality.clone()])
    );
    assert_eq!(get("?role=pharmacist".into()).await, vec![pharmacist.clone()]);
    for speciality in ["cardiology", "CARDIOLOGY", "Cardiology", "%20cardiology%20"] {
        assert_eq!(get(format!("?speciality={speciality}")).await, sorted(vec![cardio.clone(), cardio_lower.clone()]), "{speciality}");
    }
    assert_eq!(get("?speciality=general%20medicine".into()).await, vec![general.clone()]);
    assert_eq!(get("?speciality=cardio".into()).await, Vec::<String>::new(), "speciality matches whole, not part");
    assert_eq!(get(format!("?facility_id={second_clinic}")).await, sorted(vec![general.clone(), cardio_lower.clone()]));
    assert_eq!(get(format!("?facility_id={pharmacy}")).await, vec![pharmacist.clone()]);
    assert_eq!(get("?facility_id=IN0000000001".into()).await, Vec::<String>::new());
    assert_eq!(get("?language=hi".into()).await, sorted(vec![cardio.clone(), pharmacist.clone()]));
    assert_eq!(get("?language=HI".into()).await, sorted(vec![cardio.clone(), pharmacist.clone()]));
    assert_eq!(get("?language=kn".into()).await, vec![general.clone()]);
    assert_eq!(get("?role=doctor&language=hi".into()).await, vec![cardio.clone()]);
    assert_eq!(get(format!("?role=doctor&speciality=cardiology&facility_id={clinic}&language=ta")).await, vec![cardio_lower.clone()]);

    for (query, field) in [
        ("?role=nurse", "role"),
        ("?facility_id=IN12", "facility_id"),
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?cursor=!!!", "cursor"),
    ] {
        let reply = app.get(&format!("/api/v1/providers{query}"), None).await.expect_problem(422, "validation_failed");
        assert!(fields(&reply).contains(&field), "{query} should name {field}: {}", reply.body);
    }

    // Pages walk every provider once.
    let mut seen = Vec::new();
    let mut path = "/api/v1/providers?limit=2".to_owned();
    loop {
        let page = app.get(&path, None).await.expect(200).body;
        seen.extend(listed(&page));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/providers?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(sorted(seen.clone()), get(String::new()).await);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 5);
}

#[tokio::test]
async fn the_list_never_shows_usernames_or_passwords() {
    let app = TestApp::spawn().await;
    let (admin, clinic, pharmacy) = registry_with_facilities(&app).await;
    let (_, doctor_user) = app.create_provider(&admin, "doctor", &clinic, json!({})).await;
    let (_, pharmacist_user) = app.create_provider(&admin, "pharmacist", &pharmacy, json!({})).await;
    let (_, patient) = app.patient().await;
    for token in [None, Some(admin.as_str()), Some(patient.as_str())] {
        let list = app.get("/api/v1/providers", token).await.expect(200).body;
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        assert!(!has_key(&list, &["username", "password", "password_hash", "account_id"]), "{list}");
        let text = list.to_string();
        for secret in [doctor_user.as_str(), pharmacist_user.as_str(), PASSWORD, "$argon2"] {
            assert!(!text.contains(secret), "the list leaks {secret}: {text}");
        }
    }
}

#[tokio::test]
async fn suspended_providers_are_hidden_from_the_public() {
    let app = TestApp::spawn().await;
    let (admin, clinic, _) = registry_with_facilities(&app).await;
    let (kept, _) = app.create_provider(&admin, "doctor", &clinic, json!({})).await;
    let (gone, _) = app.create_provider(&admin, "doctor", &clinic, json!({})).await;
    let gone_id = id_of(&gone, "provider_id");
    let suspended = app.patch(&format!("/api/v1/providers/{gone_id}"), Some(&admin), json!({"status": "suspended"})).await.expect(200).body;
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(suspended["provider_id"], gone_id);

    let list = app.get("/api/v1/providers", None).await.expect(200).body;
    assert_eq!(listed(&list), vec![id_of(&kept, "provider_id")]);
    let doctors = app.get(&format!("/api/v1/providers?role=doctor&facility_id={clinic}"), None).await.expect(200).body;
    assert_eq!(listed(&doctors), vec![id_of(&kept, "provider_id")]);

    let (_, patient) = app.patient().await;
    app.get(&format!("/api/v1/providers/{gone_id}"), None).await.expect_problem(404, "not_found");
    app.get(&format!("/api/v1/providers/{gone_id}"), Some(&patient)).await.expect_problem(404, "not_found");
    let seen_by_admin = app.get(&format!("/api/v1/providers/{gone_id}"), Some(&admin)).await.expect(200).body;
    assert_eq!(seen_by_admin["status"], "suspended");

    app.patch(&format!("/api/v1/providers/{gone_id}"), Some(&admin), json!({"status": "verified"})).await.expect(200);
    let list = app.get("/api/v1/providers", None).await.expect(200).body;
    assert_eq!(listed(&list), sorted(vec![id_of(&kept, "provider_id"), gone_id.clone()]));
    app.get(&format!("/api/v1/providers/{gone_id}"), None).await.expect(200);
}

#[tokio::test]
async fn suspension_ends_sessions_at_once_and_reinstatement_allows_login_again() {
    let app = TestApp::spawn().await;
    let (admin, clinic, _) = registry_with_facilities(&app).await;
    let (doctor, username) = app.create_provider(&admin, "doctor", &clinic, json!({})).await;
    let doctor_id = id_of(&doctor, "provider_id");
    let (patient, _) = app.patient().await;
    let lookup = format!("/api/v1/health-ids/{}", patient["health_id"].as_str().unwrap());

    let session = app.login(&username, PASSWORD).await;
    let second = app.login(&username, PASSWORD).await;
    let access = session["access_token"].as_str().unwrap();
    app.get(&lookup, Some(access)).await.expect(200);

    app.patch(&format!("/api/v1/providers/{doctor_id}"), Some(&admin), json!({"status": "suspended"})).await.expect(200);
    for token in [access, second["access_token"].as_str().unwrap()] {
        app.get(&lookup, Some(token)).await.expect_problem(401, "unauthorized");
    }
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": session["refresh_token"]})).await.expect(401);
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": second["refresh_token"]})).await.expect(401);
    app.post("/api/v1/auth/login", None, json!({"username": username, "password": PASSWORD}))
        .await
        .expect_problem(401, "invalid_credentials");

    // Suspending twice is harmless.
    app.patch(&format!("/api/v1/providers/{doctor_id}"), Some(&admin), json!({"status": "suspended"})).await.expect(200);

    let reinstated =
        app.patch(&format!("/api/v1/providers/{doctor_id}"), Some(&admin), json!({"status": "verified"})).await.expect(200).body;
    assert_eq!(reinstated["status"], "verified");
    let fresh = app.token(&username, PASSWORD).await;
    app.get(&lookup, Some(&fresh)).await.expect(200);
    // The sessions ended by the suspension stay ended.
    app.get(&lookup, Some(access)).await.expect_problem(401, "unauthorized");
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": session["refresh_token"]})).await.expect(401);
}

/// A doctor with a live session, for status-change tests: (admin, provider id, the doctor's token).
async fn doctor_with_session(app: &TestApp) -> (String, String, String) {
    let (admin, clinic, _) = registry_with_facilities(app).await;
    let (doctor, username) = app.create_provider(&admin, "doctor", &clinic, json!({})).await;
    let token = app.token(&username, PASSWORD).await;
    (admin, id_of(&doctor, "provider_id"), token)
}

/// The provider is still verified, in the database and to the public, and its session still works.
async fn assert_still_verified(app: &TestApp, provider_id: &str, token: &str) {
    let path = format!("/api/v1/providers/{provider_id}");
    assert_eq!(app.get(&path, None).await.expect(200).body["status"], "verified");
    app.get(&path, Some(token)).await.expect(200);
    let status: String = sqlx::query_scalar("SELECT status FROM providers WHERE id = $1")
        .bind(provider_id)
        .fetch_one(app.registry.db.reader())
        .await
        .unwrap();
    assert_eq!(status, "verified");
}

#[tokio::test]
async fn only_admins_change_a_providers_status() {
    let app = TestApp::spawn().await;
    let (_, doctor_id, doctor_token) = doctor_with_session(&app).await;
    let (_, patient) = app.patient().await;
    let path = format!("/api/v1/providers/{doctor_id}");
    for token in [&doctor_token, &patient] {
        app.patch(&path, Some(token), json!({"status": "suspended"})).await.expect_problem(403, "forbidden");
        app.patch(&path, Some(token), json!({"status": "verified"})).await.expect_problem(403, "forbidden");
    }
    app.patch(&path, None, json!({"status": "suspended"})).await.expect_problem(401, "unauthorized");
    assert_still_verified(&app, &doctor_id, &doctor_token).await;
}

#[tokio::test]
async fn status_change_of_an_unknown_provider_is_404() {
    let app = TestApp::spawn().await;
    let (admin, doctor_id, doctor_token) = doctor_with_session(&app).await;
    let unknown = if doctor_id == "99999999999999" { "99999999999998" } else { "99999999999999" };
    for id in [unknown, "12345", "abcdefghijklmn"] {
        app.patch(&format!("/api/v1/providers/{id}"), Some(&admin), json!({"status": "suspended"})).await.expect_problem(404, "not_found");
    }
    assert_still_verified(&app, &doctor_id, &doctor_token).await;
}

#[tokio::test]
async fn status_is_verified_or_suspended() {
    let app = TestApp::spawn().await;
    let (admin, doctor_id, doctor_token) = doctor_with_session(&app).await;
    let path = format!("/api/v1/providers/{doctor_id}");
    for status in [json!("banned"), json!("Suspended"), json!(""), json!(null), json!(1)] {
        app.patch(&path, Some(&admin), json!({"status": status})).await.expect_problem(422, "validation_failed");
    }
    app.patch(&path, Some(&admin), json!({})).await.expect_problem(422, "validation_failed");
    assert_still_verified(&app, &doctor_id, &doctor_token).await;
}
