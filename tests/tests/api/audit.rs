//! The audit log: patients see every access to their data, admins see all; the log is append-only and its hash chain shows tampering.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vaidya_tests::{PASSWORD, TestApp};

fn items(list: &Value) -> &Vec<Value> {
    list["items"].as_array().expect("a list has items")
}

fn health_id(profile: &Value) -> String {
    profile["health_id"].as_str().unwrap().to_owned()
}

fn digits(id: &str) -> String {
    id.chars().filter(char::is_ascii_digit).collect()
}

async fn event_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_events").fetch_one(app.registry.db.reader()).await.unwrap()
}

/// Every audit item visible with `token` (following every page), newest first.
async fn whole_audit(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/audit?limit=200{query}&cursor={c}"),
            None => format!("/api/v1/audit?limit=200{query}"),
        };
        let page = app.get(&path, Some(token)).await.expect(200).body;
        all.extend(items(&page).iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return all,
        }
    }
}

/// A verified doctor with a chosen name, logged in: (provider, token).
async fn named_doctor(app: &TestApp, admin: &str, name: &str) -> (Value, String) {
    let clinic = app.create_facility(admin, "clinic", 12.97, 77.59).await;
    let (doctor, username) = app.create_provider(admin, "doctor", clinic["facility_id"].as_str().unwrap(), json!({"name": name})).await;
    (doctor, app.token(&username, PASSWORD).await)
}

async fn pharmacist(app: &TestApp, admin: &str) -> String {
    let pharmacy = app.create_facility(admin, "pharmacy", 12.97, 77.59).await;
    let (_, username) = app.create_provider(admin, "pharmacist", pharmacy["facility_id"].as_str().unwrap(), json!({})).await;
    app.token(&username, PASSWORD).await
}

async fn verify(app: &TestApp, admin: &str) -> Value {
    app.get("/api/v1/audit/verify", Some(admin)).await.expect(200).body
}

#[tokio::test]
async fn a_doctors_lookup_shows_in_the_patients_audit() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (doctor, doctor_token) = named_doctor(&app, &admin, "Dr. Farhan Qureshi").await;
    let (patient, patient_token) = app.patient().await;
    let id = health_id(&patient);

    let started = OffsetDateTime::now_utc();
    app.get(&format!("/api/v1/health-ids/{id}"), Some(&doctor_token)).await.expect(200);
    let finished = OffsetDateTime::now_utc();

    let audit = app.get("/api/v1/audit", Some(&patient_token)).await.expect(200).body;
    let reads: Vec<&Value> = items(&audit).iter().filter(|e| e["action"] == "health_id.read").collect();
    assert_eq!(reads.len(), 1, "{audit}");
    let read = reads[0];
    assert_eq!(read["who"], "Dr. Farhan Qureshi");
    assert_eq!(read["role"], "doctor");
    assert_eq!(read["actor_id"], doctor["provider_id"]);
    assert_eq!(read["resource"], format!("health_id/{id}"));
    assert_eq!(read["outcome"], "success");
    assert_eq!(read["subject_health_id"], id);
    let when = OffsetDateTime::parse(read["when"].as_str().unwrap(), &Rfc3339).expect("when is RFC 3339");
    assert!(read["when"].as_str().unwrap().ends_with('Z'), "UTC");
    let slack = time::Duration::seconds(1);
    assert!(when >= started - slack && when <= finished + slack, "when: {when} not in [{started}, {finished}]");
    // Newest first: the lookup is the latest thing that happened to this patient's data.
    assert_eq!(items(&audit)[0]["event_id"], read["event_id"]);

    // Each lookup is another event.
    app.get(&format!("/api/v1/health-ids/{}", digits(&id)), Some(&doctor_token)).await.expect(200);
    let audit = app.get("/api/v1/audit", Some(&patient_token)).await.expect(200).body;
    assert_eq!(items(&audit).iter().filter(|e| e["action"] == "health_id.read").count(), 2);
}

#[tokio::test]
async fn a_patient_sees_only_events_about_themselves() {
    let app = TestApp::spawn().await;
    let (_, doctor) = app.doctor().await;
    let (asha, asha_token) = app.patient().await;
    let (ravi, ravi_token) = app.patient().await;
    let (asha_id, ravi_id) = (health_id(&asha), health_id(&ravi));
    for _ in 0..2 {
        app.get(&format!("/api/v1/health-ids/{asha_id}"), Some(&doctor)).await.expect(200);
    }
    app.get(&format!("/api/v1/health-ids/{ravi_id}"), Some(&doctor)).await.expect(200);

    for (own, other, token, reads) in [(&asha_id, &ravi_id, &asha_token, 2), (&ravi_id, &asha_id, &ravi_token, 1)] {
        let audit = whole_audit(&app, token, "").await;
        assert!(!audit.is_empty());
        for event in &audit {
            assert_eq!(event["subject_health_id"], own.as_str(), "only own events: {event}");
            let text = event.to_string();
            assert!(!text.contains(other.as_str()) && !text.contains(&digits(other)), "nothing about the other patient: {event}");
        }
        let successful_reads = audit.iter().filter(|e| e["action"] == "health_id.read" && e["outcome"] == "success").count();
        assert_eq!(successful_reads, reads);

        // Asking for another patient's trail is ignored: a patient only ever gets their own.
        let filtered = whole_audit(&app, token, &format!("&health_id={other}")).await;
        assert_eq!(filtered, audit);
    }
}

#[tokio::test]
async fn registration_and_logins_are_in_the_patients_own_trail() {
    let app = TestApp::spawn().await;
    let profile = app.register_patient(json!({"name": "Lakshmi Narayanan"})).await;
    let id = health_id(&profile);
    let token = app.token(&id, PASSWORD).await;
    // A failed login on this account is recorded as refused.
    app.post("/api/v1/auth/login", None, json!({"username": id, "password": "not-the-password"})).await.expect(401);

    let audit = whole_audit(&app, &token, "").await;
    let created: Vec<&Value> = audit.iter().filter(|e| e["action"] == "health_id.create").collect();
    assert_eq!(created.len(), 1, "{audit:?}");
    assert_eq!(created[0]["who"], "Lakshmi Narayanan");
    assert_eq!(created[0]["role"], "patient");
    assert_eq!(created[0]["outcome"], "success");
    assert_eq!(created[0]["resource"], format!("health_id/{id}"));

    let logins: Vec<&Value> = audit.iter().filter(|e| e["action"] == "auth.login").collect();
    assert_eq!(logins.len(), 2, "{audit:?}");
    assert_eq!(logins[0]["outcome"], "denied", "newest first: the failed attempt");
    assert_eq!(logins[1]["outcome"], "success");
    for login in logins {
        assert_eq!(login["who"], "Lakshmi Narayanan");
        assert_eq!(login["role"], "patient");
        assert!(login["resource"].as_str().unwrap().starts_with("account"), "{login}");
    }
    assert!(audit.iter().all(|e| e["subject_health_id"] == id.as_str()));
    // Newest first, by event id.
    let ids: Vec<&str> = audit.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
}

#[tokio::test]
async fn admins_see_everything_and_filter_by_health_id() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, doctor) = named_doctor(&app, &admin, "Dr. Neha Kulkarni").await;
    let (asha, _) = app.patient().await;
    let ravi = app.register_patient(json!({})).await;
    let (asha_id, ravi_id) = (health_id(&asha), health_id(&ravi));
    app.get(&format!("/api/v1/health-ids/{asha_id}"), Some(&doctor)).await.expect(200);
    app.get(&format!("/api/v1/health-ids/{ravi_id}"), Some(&admin)).await.expect(200);
    // A refusal is an event too.
    let ravi_token = app.token(&ravi_id, PASSWORD).await;
    app.get(&format!("/api/v1/health-ids/{asha_id}"), Some(&ravi_token)).await.expect_problem(404, "not_found");

    let everything = whole_audit(&app, &admin, "").await;
    assert_eq!(everything.len() as i64, event_count(&app).await, "an admin sees every event");
    let actions: HashSet<&str> = everything.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["admin.bootstrap", "facility.create", "provider.create", "health_id.create", "auth.login", "health_id.read"] {
        assert!(actions.contains(action), "{action} in {actions:?}");
    }
    let subjects: HashSet<&str> = everything.iter().filter_map(|e| e["subject_health_id"].as_str()).collect();
    assert_eq!(subjects, HashSet::from([asha_id.as_str(), ravi_id.as_str()]));
    let admin_read = everything.iter().find(|e| e["action"] == "health_id.read" && e["subject_health_id"] == ravi_id.as_str()).unwrap();
    assert_eq!(admin_read["role"], "admin");
    let refused = everything.iter().find(|e| e["outcome"] == "denied" && e["action"] == "health_id.read").expect("the refused lookup");
    assert_eq!(refused["role"], "patient");
    assert_eq!(refused["actor_id"], digits(&ravi_id));

    for form in [asha_id.clone(), digits(&asha_id)] {
        let only_asha = whole_audit(&app, &admin, &format!("&health_id={form}")).await;
        assert!(!only_asha.is_empty());
        assert!(only_asha.iter().all(|e| e["subject_health_id"] == asha_id.as_str()), "{only_asha:?}");
        let read = only_asha.iter().find(|e| e["action"] == "health_id.read").expect("the doctor's lookup");
        assert_eq!(read["who"], "Dr. Neha Kulkarni");
        assert!(only_asha.iter().any(|e| e["action"] == "health_id.create"));
    }
    let expected_for_ravi = everything.iter().filter(|e| e["subject_health_id"] == ravi_id.as_str()).count();
    assert_eq!(whole_audit(&app, &admin, &format!("&health_id={ravi_id}")).await.len(), expected_for_ravi);

    let unknown = vaidya_registry::domain::HealthIdNumber::generate().to_string();
    assert!(whole_audit(&app, &admin, &format!("&health_id={unknown}")).await.is_empty());
    app.get("/api/v1/audit?health_id=12-3456", Some(&admin)).await.expect_problem(422, "invalid_health_id");
}

#[tokio::test]
async fn doctors_and_pharmacists_cannot_read_the_audit_log() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, doctor) = app.doctor().await;
    let pharmacist = pharmacist(&app, &admin).await;
    let (patient, _) = app.patient().await;
    for token in [&doctor, &pharmacist] {
        app.get("/api/v1/audit", Some(token)).await.expect_problem(403, "forbidden");
        app.get(&format!("/api/v1/audit?health_id={}", health_id(&patient)), Some(token)).await.expect_problem(403, "forbidden");
    }
    app.get("/api/v1/audit", None).await.expect_problem(401, "unauthorized");
    app.get("/api/v1/audit", Some("not-a-token")).await.expect_problem(401, "unauthorized");
}

#[tokio::test]
async fn verify_reports_every_event_in_the_chain() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, doctor) = app.doctor().await;
    let (patient, _) = app.patient().await;
    for _ in 0..3 {
        app.get(&format!("/api/v1/health-ids/{}", health_id(&patient)), Some(&doctor)).await.expect(200);
    }
    // bootstrap, 2 admin logins, facility, provider, doctor login, registration, patient login, 3 reads.
    let made = 11;
    let report = verify(&app, &admin).await;
    assert_eq!(report["ok"], true, "{report}");
    let events = report["events"].as_i64().unwrap();
    assert!(events >= made, "{report}");
    assert_eq!(events, event_count(&app).await, "every recorded event is linked and checked");
    assert!(report.get("broken_at").is_none_or(Value::is_null), "{report}");

    // New events extend the chain; verifying again links and counts them.
    app.get(&format!("/api/v1/health-ids/{}", health_id(&patient)), Some(&doctor)).await.expect(200);
    let again = verify(&app, &admin).await;
    assert_eq!(again["ok"], true);
    assert_eq!(again["events"].as_i64().unwrap(), events + 1);
}

#[tokio::test]
async fn events_beyond_one_chaining_pass_are_all_linked_in_order() {
    use vaidya_registry::audit::{self, AuditEvent};
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    // More than two passes of the chainer, recorded at once as a burst of requests would leave them.
    let mut tx = app.registry.db.begin().await.unwrap();
    for i in 0..4500 {
        audit::record(&mut tx, &AuditEvent::new(None, "burst", "test", Some(format!("burst-{i}")))).await.unwrap();
    }
    tx.commit().await.unwrap();
    let report = verify(&app, &admin).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["events"].as_i64().unwrap(), event_count(&app).await, "every event is linked: {report}");
    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_pending").fetch_one(app.registry.db.reader()).await.unwrap();
    assert_eq!(pending, 0, "nothing is left pending");
    // Linked in the order they were recorded (ids are time-ordered).
    let order: Vec<String> = sqlx::query_scalar(
        "SELECT e.resource_id FROM audit_chain c JOIN audit_events e ON e.id = c.event_id WHERE e.action = 'burst' ORDER BY c.seq",
    )
    .fetch_all(app.registry.db.reader())
    .await
    .unwrap();
    assert_eq!(order, (0..4500).map(|i| format!("burst-{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn only_admins_verify_the_chain() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, doctor) = app.doctor().await;
    let pharmacist = pharmacist(&app, &admin).await;
    let (_, patient) = app.patient().await;
    for token in [&doctor, &pharmacist, &patient] {
        app.get("/api/v1/audit/verify", Some(token)).await.expect_problem(403, "forbidden");
    }
    app.get("/api/v1/audit/verify", None).await.expect_problem(401, "unauthorized");
}

#[tokio::test]
async fn an_altered_event_breaks_the_chain() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, doctor) = app.doctor().await;
    let (patient, _) = app.patient().await;
    app.get(&format!("/api/v1/health-ids/{}", health_id(&patient)), Some(&doctor)).await.expect(200);
    let report = verify(&app, &admin).await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["events"].as_i64().unwrap() >= 5);

    // Alter the third linked event behind the service's back.
    let pool = app.registry.db.writer();
    let target: String = sqlx::query_scalar("SELECT event_id FROM audit_chain WHERE seq = 3").fetch_one(pool).await.unwrap();
    let drop_trigger =
        if app.db.is_postgres() { "DROP TRIGGER audit_events_append_only ON audit_events" } else { "DROP TRIGGER audit_events_no_update" };
    sqlx::query(drop_trigger).execute(pool).await.unwrap();
    let changed =
        sqlx::query("UPDATE audit_events SET actor_name = 'someone else' WHERE id = $1").bind(&target).execute(pool).await.unwrap();
    assert_eq!(changed.rows_affected(), 1);

    let broken = verify(&app, &admin).await;
    assert_eq!(broken["ok"], false, "{broken}");
    assert_eq!(broken["broken_at"]["seq"], 3, "{broken}");
    assert_eq!(broken["broken_at"]["event_id"], target.as_str(), "{broken}");
    assert_eq!(broken["events"], 2, "the links before the broken one verified: {broken}");
    assert!(broken["broken_at"]["reason"].as_str().is_some_and(|r| !r.is_empty()));

    // It stays broken as the log grows.
    app.get(&format!("/api/v1/health-ids/{}", health_id(&patient)), Some(&doctor)).await.expect(200);
    let still = verify(&app, &admin).await;
    assert_eq!(still["ok"], false);
    assert_eq!(still["broken_at"]["event_id"], target.as_str());
}

#[tokio::test]
async fn the_log_refuses_updates_and_deletes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, doctor) = app.doctor().await;
    let (patient, _) = app.patient().await;
    app.get(&format!("/api/v1/health-ids/{}", health_id(&patient)), Some(&doctor)).await.expect(200);
    let before = verify(&app, &admin).await;
    assert_eq!(before["ok"], true);

    let pool = app.registry.db.writer();
    let (target, name): (String, Option<String>) =
        sqlx::query_as("SELECT id, actor_name FROM audit_events WHERE action = 'health_id.read'").fetch_one(pool).await.unwrap();
    let statements = [
        "UPDATE audit_events SET actor_name = 'someone else' WHERE id = $1",
        "UPDATE audit_events SET outcome = 'denied' WHERE id = $1",
        "DELETE FROM audit_events WHERE id = $1",
        "UPDATE audit_chain SET hash = 'x' WHERE event_id = $1",
        "DELETE FROM audit_chain WHERE event_id = $1",
    ];
    for sql in statements {
        let refused = sqlx::query(sql).bind(&target).execute(pool).await;
        let err = refused.expect_err(&format!("`{sql}` must be refused"));
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let after: (String, Option<String>) =
        sqlx::query_as("SELECT id, actor_name FROM audit_events WHERE id = $1").bind(&target).fetch_one(pool).await.unwrap();
    assert_eq!(after, (target.clone(), name));
    // A bulk delete is refused as a whole.
    sqlx::query("DELETE FROM audit_events").execute(pool).await.expect_err("a bulk delete must be refused");
    assert_eq!(event_count(&app).await, before["events"].as_i64().unwrap());

    let report = verify(&app, &admin).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["events"], before["events"]);
}

#[tokio::test]
async fn the_audit_list_pages_newest_first() {
    let app = TestApp::spawn().await;
    let (_, doctor) = app.doctor().await;
    let (patient, patient_token) = app.patient().await;
    for _ in 0..11 {
        app.get(&format!("/api/v1/health-ids/{}", health_id(&patient)), Some(&doctor)).await.expect(200);
    }
    // Registration, login and 11 lookups.
    let whole = app.get("/api/v1/audit?limit=200", Some(&patient_token)).await.expect(200).body;
    assert!(whole["next_cursor"].is_null());
    let whole: Vec<Value> = items(&whole).clone();
    assert_eq!(whole.len(), 13);

    for limit in [1usize, 4, 5, 13] {
        let mut walked = Vec::new();
        let mut pages = 0;
        let mut path = format!("/api/v1/audit?limit={limit}");
        loop {
            let page = app.get(&path, Some(&patient_token)).await.expect(200).body;
            pages += 1;
            assert!(items(&page).len() <= limit);
            walked.extend(items(&page).iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v1/audit?limit={limit}&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(walked, whole, "limit {limit}: the pages join up to the whole trail");
        assert_eq!(pages, whole.len().div_ceil(limit));
    }
    let ids: Vec<&str> = whole.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");

    // Default page size is 50.
    assert_eq!(items(&app.get("/api/v1/audit", Some(&patient_token)).await.expect(200).body).len(), 13);
    for query in ["limit=0", "limit=201", "cursor=!!!"] {
        app.get(&format!("/api/v1/audit?{query}"), Some(&patient_token)).await.expect_problem(422, "validation_failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_events_and_verifications_keep_the_chain_whole() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, doctor) = app.doctor().await;
    let (patient, _) = app.patient().await;
    let path = format!("/api/v1/health-ids/{}", health_id(&patient));

    let lookups = futures::future::join_all((0..24).map(|_| app.get(&path, Some(&doctor))));
    let verifications = futures::future::join_all((0..4).map(|_| app.get("/api/v1/audit/verify", Some(&admin))));
    let (lookups, verifications) = futures::future::join(lookups, verifications).await;
    for reply in lookups {
        reply.expect(200);
    }
    // What a verification reports while the chain is still growing is checked deterministically in
    // `verify_while_another_chainer_commits_is_not_a_break`; here only that each one answers.
    for reply in verifications {
        reply.expect(200);
    }
    // Once the writes are done, the chain that concurrent chainers built is whole.
    let report = verify(&app, &admin).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["events"].as_i64().unwrap(), event_count(&app).await);
    let linked: i64 =
        sqlx::query_scalar("SELECT COUNT(DISTINCT event_id) FROM audit_chain").fetch_one(app.registry.db.reader()).await.unwrap();
    assert_eq!(linked, event_count(&app).await, "each event linked exactly once");
}

/// Counts waits for `mode` locks on `table` that have not been granted (PostgreSQL).
async fn lock_waits(app: &TestApp, table: &str, mode: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM pg_locks WHERE relation = CAST($1 AS regclass) AND mode = $2 AND NOT granted")
        .bind(table)
        .bind(mode)
        .fetch_one(app.registry.db.reader())
        .await
        .unwrap()
}

/// Polls (bounded) until `done` holds; returns whether it did.
async fn poll_until<F: std::future::Future<Output = bool>>(mut done: impl FnMut() -> F) -> bool {
    for _ in 0..200 {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// The link the chainer makes for an event: SHA-256 of the previous hash, a newline and the event's fields as a JSON array.
fn link_hash(prev: &str, fields: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(b"\n");
    hasher.update(fields.to_string().as_bytes());
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A verification that overlaps another chainer's commit must not report a break: the chain it read was whole.
/// Made deterministic with table locks, so PostgreSQL only (SQLite readers in WAL mode cannot be held back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_while_another_chainer_commits_is_not_a_break() {
    let app = TestApp::spawn().await;
    if !app.db.is_postgres() {
        return;
    }
    let admin = app.admin_token().await;
    let (_, doctor) = app.doctor().await;
    let (patient, _) = app.patient().await;
    app.get(&format!("/api/v1/health-ids/{}", health_id(&patient)), Some(&doctor)).await.expect(200);
    // Link everything; from here on nothing records events, so no chainer has work to do.
    let whole = verify(&app, &admin).await;
    assert_eq!(whole["ok"], true, "{whole}");
    let linked = whole["events"].as_i64().unwrap();
    let pool = app.registry.db.writer();

    // 1. Hold the verification at its read of the chain.
    let mut chain_lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE audit_chain IN ACCESS EXCLUSIVE MODE").execute(&mut *chain_lock).await.unwrap();
    let (client, url, token) = (app.client.clone(), app.url("/api/v1/audit/verify"), admin.clone());
    let verification = tokio::spawn(async move {
        let res = client.get(url).bearer_auth(token).send().await.expect("request sent");
        (res.status().as_u16(), res.json::<Value>().await.unwrap_or(Value::Null))
    });
    assert!(
        poll_until(|| async { lock_waits(&app, "audit_chain", "AccessShareLock").await > 0 }).await,
        "the verification reads the chain"
    );

    // 2. Hold the chain head, then let the verification read the chain as it is now.
    let mut head_lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE audit_chain_head IN ACCESS EXCLUSIVE MODE").execute(&mut *head_lock).await.unwrap();
    chain_lock.commit().await.unwrap();
    // The verification may go on to read the head (and wait for it here), or be done already.
    poll_until(|| async { verification.is_finished() || lock_waits(&app, "audit_chain_head", "AccessShareLock").await > 0 }).await;

    // 3. Another chainer links one more event, exactly as the service does, and commits.
    let (head_seq, head_hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM audit_chain_head WHERE id = 1").fetch_one(&mut *head_lock).await.unwrap();
    assert_eq!(head_seq, linked);
    let id = uuid::Uuid::now_v7().to_string();
    let at = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let (actor, role, name, action, resource_type, outcome) = ("tester", "admin", "Race Tester", "test.race", "test", "success");
    sqlx::query(
        "INSERT INTO audit_events (id, at, actor_id, actor_role, actor_name, subject_health_id, action, resource_type, resource_id, purpose, outcome) \
         VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, NULL, NULL, $8)",
    )
    .bind(&id)
    .bind(at)
    .bind(actor)
    .bind(role)
    .bind(name)
    .bind(action)
    .bind(resource_type)
    .bind(outcome)
    .execute(&mut *head_lock)
    .await
    .unwrap();
    let fields = json!([id, at, actor, role, name, null, action, resource_type, null, null, outcome]);
    let hash = link_hash(&head_hash, &fields);
    sqlx::query("INSERT INTO audit_chain (seq, event_id, prev_hash, hash) VALUES ($1, $2, $3, $4)")
        .bind(head_seq + 1)
        .bind(&id)
        .bind(&head_hash)
        .bind(&hash)
        .execute(&mut *head_lock)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(head_seq + 1)
        .bind(&hash)
        .execute(&mut *head_lock)
        .await
        .unwrap();
    head_lock.commit().await.unwrap();

    let (status, report) = tokio::time::timeout(Duration::from_secs(30), verification).await.expect("the verification ends").unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], true, "a chain that grew while it was verified is not broken: {report}");
    assert!(report["events"].as_i64().unwrap() >= linked, "{report}");

    // The extra link is a proper one: verifying now covers it too.
    let after = verify(&app, &admin).await;
    assert_eq!(after["ok"], true, "{after}");
    assert_eq!(after["events"].as_i64().unwrap(), linked + 1);
}
