//! Orders: routing a prescription to the nearest pharmacy, moving on after a rejection or a missed deadline, the
//! pharmacist's steps to dispensing (once), what each side may see, idempotent creation, and a restart mid-routing.

use serde_json::{Value, json};
use vaidya_tests::TestApp;
use vaidya_tests::clinic::{Clinic, Pharmacy};
use vaidya_tests::ws::WsClient;

/// The patient's place and three pharmacies at about 1, 3 and 6 km from it.
const HOME: (f64, f64) = (12.9716, 77.5946);

async fn three_pharmacies(app: &TestApp) -> [Pharmacy; 3] {
    [app.pharmacy_at(12.9806, 77.5946).await, app.pharmacy_at(12.9986, 77.5946).await, app.pharmacy_at(13.0256, 77.5946).await]
}

fn order_body() -> Value {
    json!({"near": {"lat": HOME.0, "lon": HOME.1}, "fulfilment": "pickup"})
}

async fn order(app: &TestApp, c: &Clinic, prescription: &Value) -> Value {
    let pid = prescription["prescription_id"].as_str().unwrap();
    app.post(&format!("/api/v1/prescriptions/{pid}/orders"), Some(&c.patient_token), order_body()).await.expect(201).body
}

fn act(order: &Value, what: &str) -> String {
    format!("/api/v1/orders/{}/{what}", order["order_id"].as_str().unwrap())
}

fn order_path(order: &Value) -> String {
    format!("/api/v1/orders/{}", order["order_id"].as_str().unwrap())
}

/// The next `order.updated` status on an events socket.
async fn next_status(ws: &mut WsClient) -> String {
    loop {
        let event = ws.wait_for("event").await;
        if event["kind"] == "order.updated" {
            return event["data"]["status"].as_str().unwrap().to_owned();
        }
    }
}

#[tokio::test]
async fn a_prescription_goes_to_the_nearest_pharmacy_and_is_dispensed_once() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let [near, _, _] = three_pharmacies(&app).await;
    let prescription = app.prescription(&c).await;
    let (mut patient_ws, _) = app.open_events(&c.patient_token, None).await;
    let (mut pharmacy_ws, _) = app.open_events(&near.token, None).await;

    let order = order(&app, &c, &prescription).await;
    assert_eq!(order["status"], "routed");
    assert_eq!(order["pharmacy_id"], near.facility_id.as_str());
    assert!(order["accept_by"].is_string());
    assert_eq!(next_status(&mut patient_ws).await, "routed");
    assert_eq!(next_status(&mut pharmacy_ws).await, "routed");

    // The pharmacist sees it, with what to dispense and not the consult notes, and checks the signature.
    let incoming = app.get("/api/v1/pharmacy/orders?status=routed", Some(&near.token)).await.expect(200).body;
    assert_eq!(incoming["items"][0]["order_id"], order["order_id"]);
    assert_eq!(incoming["items"][0]["prescription"]["items"][0]["name"], "paracetamol");
    assert!(incoming["items"][0]["prescription"].get("notes").is_none());
    let pid = prescription["prescription_id"].as_str().unwrap();
    let seen = app.get(&format!("/api/v1/prescriptions/{pid}"), Some(&near.token)).await.expect(200).body;
    assert_eq!(seen["prescription_id"], pid);
    assert_eq!(app.get(&format!("/api/v1/prescriptions/{pid}/verify"), Some(&near.token)).await.expect(200).body["valid"], true);

    for (step, status) in [("accept", "accepted"), ("ready", "ready")] {
        let body = app.post(&act(&order, step), Some(&near.token), json!({})).await.expect(200).body;
        assert_eq!(body["status"], status);
        assert_eq!(next_status(&mut patient_ws).await, status);
    }
    app.post(&act(&order, "cancel"), Some(&c.patient_token), json!({})).await.expect_problem(409, "invalid_transition");
    let done = app
        .post(&act(&order, "dispense"), Some(&near.token), json!({"items": [{"index": 0, "quantity": 15, "batch": "B-2291"}]}))
        .await
        .expect(200);
    assert_eq!(done.body["status"], "dispensed");
    assert_eq!(next_status(&mut patient_ws).await, "dispensed");
    let mine = app.get(&order_path(&order), Some(&c.patient_token)).await.expect(200).body;
    assert_eq!(mine["status"], "dispensed");
    assert_eq!(app.get(&format!("/api/v1/prescriptions/{pid}"), Some(&c.patient_token)).await.expect(200).body["status"], "dispensed");

    // Once dispensed, never again: not on this order, not on a new one.
    app.post(&act(&order, "dispense"), Some(&near.token), json!({"items": [{"index": 0, "quantity": 1}]}))
        .await
        .expect_problem(409, "invalid_transition");
    app.post(&format!("/api/v1/prescriptions/{pid}/orders"), Some(&c.patient_token), order_body())
        .await
        .expect_problem(409, "already_dispensed");
}

#[tokio::test]
async fn rejections_move_the_order_to_the_next_nearest_until_none_is_left() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let [first, second, third] = three_pharmacies(&app).await;
    let order = order(&app, &c, &app.prescription(&c).await).await;
    app.post(&act(&order, "reject"), Some(&first.token), json!({})).await.expect_problem(422, "validation_failed");
    let moved = app.post(&act(&order, "reject"), Some(&first.token), json!({"reason": "out of stock"})).await.expect(200).body;
    assert_eq!((moved["status"].as_str(), moved["pharmacy_id"].as_str()), (Some("routed"), Some(second.facility_id.as_str())));
    // The first pharmacy no longer sees or touches it.
    app.get(&order_path(&order), Some(&first.token)).await.expect_problem(404, "not_found");
    app.post(&act(&order, "accept"), Some(&first.token), json!({})).await.expect_problem(404, "not_found");
    assert_eq!(app.get("/api/v1/pharmacy/orders", Some(&first.token)).await.expect(200).body["items"], json!([]));

    let moved = app.post(&act(&order, "reject"), Some(&second.token), json!({"reason": "closed today"})).await.expect(200).body;
    assert_eq!(moved["pharmacy_id"], third.facility_id.as_str());
    let ended = app.post(&act(&order, "reject"), Some(&third.token), json!({"reason": "no pharmacist on duty"})).await.expect(200).body;
    assert_eq!(ended["status"], "unfulfilled");
    let history: Vec<(&str, &str)> =
        ended["history"].as_array().unwrap().iter().map(|t| (t["pharmacy_id"].as_str().unwrap(), t["outcome"].as_str().unwrap())).collect();
    assert_eq!(
        history,
        [(first.facility_id.as_str(), "rejected"), (second.facility_id.as_str(), "rejected"), (third.facility_id.as_str(), "rejected")]
    );
    // An unfulfilled order is over; the patient may send the prescription again.
    app.post(&act(&order, "accept"), Some(&third.token), json!({})).await.expect_problem(409, "invalid_transition");
}

#[tokio::test]
async fn no_answer_in_time_moves_the_order_on_even_across_a_restart() {
    let app = TestApp::spawn_with(&["--order-accept-timeout", "1"]).await;
    let c = app.clinic().await;
    let [first, second, _] = three_pharmacies(&app).await;
    let order = order(&app, &c, &app.prescription(&c).await).await;
    assert_eq!(order["pharmacy_id"], first.facility_id.as_str());
    let (_, ready) = app.open_events(&c.patient_token, None).await;
    let seen = ready["last_seq"].as_i64().unwrap();
    // The service stops before the deadline and starts again after it: the order continues where it was.
    let db = app.stop();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let app = TestApp::spawn_on(db, &["--order-accept-timeout", "1"]).await;
    let (mut patient_ws, _) = app.open_events(&c.patient_token, Some(seen)).await;
    assert_eq!(next_status(&mut patient_ws).await, "routed");
    let now = app.get(&order_path(&order), Some(&c.patient_token)).await.expect(200).body;
    assert_eq!(now["pharmacy_id"], second.facility_id.as_str());
    assert_eq!(now["history"][0]["outcome"], "timed_out");
    app.post(&act(&order, "accept"), Some(&second.token), json!({})).await.expect(200);
    // Accepted orders no longer time out.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let now = app.get(&order_path(&order), Some(&c.patient_token)).await.expect(200).body;
    assert_eq!((now["status"].as_str(), now["pharmacy_id"].as_str()), (Some("accepted"), Some(second.facility_id.as_str())));
}

#[tokio::test]
async fn a_hundred_concurrent_dispenses_let_exactly_one_through() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let [near, _, _] = three_pharmacies(&app).await;
    let order = order(&app, &c, &app.prescription(&c).await).await;
    app.post(&act(&order, "accept"), Some(&near.token), json!({})).await.expect(200);
    app.post(&act(&order, "ready"), Some(&near.token), json!({})).await.expect(200);
    let path = act(&order, "dispense");
    let body = json!({"items": [{"index": 0, "quantity": 15}]});
    let replies = futures::future::join_all((0..100).map(|_| app.post(&path, Some(&near.token), body.clone()))).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "exactly one dispense succeeds");
    for r in replies.iter().filter(|r| r.status != 200) {
        assert_eq!(r.status.as_u16(), 409, "{}", r.body);
    }
    let dispensed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dispenses").fetch_one(app.registry.db.reader()).await.unwrap();
    assert_eq!(dispensed, 1);
}

#[tokio::test]
async fn pharmacies_and_patients_only_touch_their_own_orders() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let [near, other, _] = three_pharmacies(&app).await;
    let (_, stranger) = app.patient().await;
    let prescription = app.prescription(&c).await;
    let pid = prescription["prescription_id"].as_str().unwrap();
    // Someone else's prescription cannot be ordered.
    app.post(&format!("/api/v1/prescriptions/{pid}/orders"), Some(&stranger), order_body()).await.expect_problem(404, "not_found");
    let order = order(&app, &c, &prescription).await;
    let get = order_path(&order);
    for token in [&other.token, &stranger, &c.doctor_token] {
        app.get(&get, Some(token)).await.expect_problem(404, "not_found");
    }
    for step in ["accept", "ready", "dispatch"] {
        app.post(&act(&order, step), Some(&other.token), json!({})).await.expect_problem(404, "not_found");
    }
    app.post(&act(&order, "dispense"), Some(&other.token), json!({"items": [{"index": 0, "quantity": 1}]}))
        .await
        .expect_problem(404, "not_found");
    app.post(&act(&order, "cancel"), Some(&stranger), json!({})).await.expect_problem(404, "not_found");
    app.post(&act(&order, "accept"), Some(&c.patient_token), json!({})).await.expect_problem(403, "forbidden");
    app.get(&format!("/api/v1/prescriptions/{pid}"), Some(&other.token)).await.expect_problem(404, "not_found");

    // Wrong steps for the order's kind and state.
    app.post(&act(&order, "ready"), Some(&near.token), json!({})).await.expect_problem(409, "invalid_transition");
    app.post(&act(&order, "accept"), Some(&near.token), json!({})).await.expect(200);
    app.post(&act(&order, "dispatch"), Some(&near.token), json!({})).await.expect_problem(409, "invalid_transition");
    app.post(&act(&order, "dispense"), Some(&near.token), json!({"items": [{"index": 0, "quantity": 1}]}))
        .await
        .expect_problem(409, "invalid_transition");
    app.post(&act(&order, "cancel"), Some(&c.patient_token), json!({})).await.expect_problem(409, "invalid_transition");
    app.post(&act(&order, "ready"), Some(&near.token), json!({})).await.expect(200);
    // More than prescribed, unknown items, repeated items: refused, nothing dispensed.
    for (items, code) in [
        (json!([{"index": 0, "quantity": 16}]), "exceeds_prescribed"),
        (json!([{"index": 0, "quantity": 0}]), "validation_failed"),
        (json!([{"index": 5, "quantity": 1}]), "validation_failed"),
        (json!([{"index": 0, "quantity": 5}, {"index": 0, "quantity": 5}]), "validation_failed"),
        (json!([]), "validation_failed"),
    ] {
        app.post(&act(&order, "dispense"), Some(&near.token), json!({"items": items})).await.expect_problem(422, code);
    }
    assert_eq!(app.get(&get, Some(&c.patient_token)).await.expect(200).body["status"], "ready");
    // A partial dispensing is allowed (what is in stock), and it is the only one.
    app.post(&act(&order, "dispense"), Some(&near.token), json!({"items": [{"index": 0, "quantity": 10}]})).await.expect(200);
}

#[tokio::test]
async fn order_creation_is_idempotent_and_one_order_is_open_at_a_time() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let [near, other, _] = three_pharmacies(&app).await;
    let prescription = app.prescription(&c).await;
    let pid = prescription["prescription_id"].as_str().unwrap();
    let path = format!("/api/v1/prescriptions/{pid}/orders");
    let send = |key: &'static str, body: Value| {
        let (app, token, path) = (&app, c.patient_token.clone(), path.clone());
        async move {
            let res = app.client.post(app.url(&path)).bearer_auth(token).header("Idempotency-Key", key).json(&body).send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    let (status, first) = send("order-key-1", order_body()).await;
    assert_eq!(status, 201);
    let (status, again) = send("order-key-1", order_body()).await;
    assert_eq!((status, &again), (201, &first), "a replay gets the same answer");
    let (status, reused) = send("order-key-1", json!({"pharmacy_id": other.facility_id, "fulfilment": "pickup"})).await;
    assert_eq!((status, reused["code"].as_str()), (422, Some("idempotency_key_reused")));
    let (status, open) = send("order-key-2", order_body()).await;
    assert_eq!((status, open["code"].as_str()), (409, Some("order_open")));
    let orders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders").fetch_one(app.registry.db.reader()).await.unwrap();
    assert_eq!(orders, 1);

    // Cancelled while routed, the prescription can go to a pharmacy of the patient's choice.
    app.post(&act(&first, "cancel"), Some(&c.patient_token), json!({})).await.expect(200);
    let chosen = app
        .post(
            &path,
            Some(&c.patient_token),
            json!({"pharmacy_id": other.facility_id, "fulfilment": "delivery",
        "delivery_address": {"line": "14 MG Road", "state": "Karnataka", "pincode": "560001"}}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(chosen["pharmacy_id"], other.facility_id.as_str());
    assert_eq!(chosen["delivery_address"]["pincode"], "560001");
    let _ = near;
}

#[tokio::test]
async fn bad_orders_are_refused() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    three_pharmacies(&app).await;
    let prescription = app.prescription(&c).await;
    let path = format!("/api/v1/prescriptions/{}/orders", prescription["prescription_id"].as_str().unwrap());
    let clinic_id = c.doctor["facility_ids"][0].as_str().unwrap_or("IN0000000000").to_owned();
    for (body, field) in [
        (json!({"fulfilment": "pickup"}), "pharmacy_id"),
        (json!({"near": {"lat": 95.0, "lon": 77.0}, "fulfilment": "pickup"}), "near"),
        (json!({"near": {"lat": 12.9}, "fulfilment": "pickup"}), "near"),
        (json!({"near": {"lat": HOME.0, "lon": HOME.1}}), "fulfilment"),
        (json!({"near": {"lat": HOME.0, "lon": HOME.1}, "fulfilment": "drone"}), "fulfilment"),
        (json!({"near": {"lat": HOME.0, "lon": HOME.1}, "fulfilment": "delivery"}), "delivery_address"),
        (
            json!({"near": {"lat": HOME.0, "lon": HOME.1}, "fulfilment": "delivery", "delivery_address": {"state": "KA", "pincode": "060001"}}),
            "delivery_address.pincode",
        ),
        (json!({"pharmacy_id": "PH-1", "fulfilment": "pickup"}), "pharmacy_id"),
        (json!({"pharmacy_id": clinic_id, "fulfilment": "pickup"}), "pharmacy_id"),
    ] {
        let reply = app.post(&path, Some(&c.patient_token), body.clone()).await.expect_problem(422, "validation_failed");
        let fields: Vec<&str> = reply.body["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
        assert!(fields.contains(&field), "{body} should name {field}: {}", reply.body);
    }
    app.post(&path, Some(&c.patient_token), json!({"near": {"lat": 28.61, "lon": 77.21}, "fulfilment": "pickup"}))
        .await
        .expect_problem(422, "no_pharmacy_nearby");
    app.post(&path, Some(&c.doctor_token), order_body()).await.expect_problem(403, "forbidden");
    let orders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders").fetch_one(app.registry.db.reader()).await.unwrap();
    assert_eq!(orders, 0);
}

/// Random interleavings against the real service: three pharmacies and the patient act at once while deadlines run
/// out; afterwards at most one pharmacy holds each order, nothing is dispensed twice or beyond what was prescribed,
/// and the patient's feed never shows a change after a terminal status.
#[tokio::test]
async fn random_interleavings_by_several_pharmacies_keep_the_invariants() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let app = TestApp::spawn_with(&["--order-accept-timeout", "1"]).await;
    let c = app.clinic().await;
    let pharmacies = three_pharmacies(&app).await;
    for round in 0..4u64 {
        let prescription = app.prescription(&c).await;
        let (mut feed, _) = app.open_events(&c.patient_token, None).await;
        let order = order(&app, &c, &prescription).await;
        let actors = (0..4).map(|who| {
            let (app, order, pharmacies, patient) = (&app, &order, &pharmacies, c.patient_token.clone());
            async move {
                let mut rng = StdRng::seed_from_u64(round * 10 + who);
                for _ in 0..12 {
                    tokio::time::sleep(std::time::Duration::from_millis(rng.gen_range(0..250))).await;
                    let reply = if who == 3 {
                        if rng.gen_bool(0.1) { app.post(&act(order, "cancel"), Some(&patient), json!({})).await } else { continue }
                    } else {
                        let token = &pharmacies[who as usize].token;
                        let (step, body) = match rng.gen_range(0..5) {
                            0 => ("accept", json!({})),
                            1 => ("reject", json!({"reason": "busy right now"})),
                            2 => ("ready", json!({})),
                            3 => ("dispense", json!({"items": [{"index": 0, "quantity": rng.gen_range(1..20)}]})),
                            _ => ("dispatch", json!({})),
                        };
                        app.post(&act(order, step), Some(token), body).await
                    };
                    assert!(matches!(reply.status.as_u16(), 200 | 404 | 409 | 422), "{}", reply.body);
                }
            }
        });
        futures::future::join_all(actors).await;
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

        let id = order["order_id"].as_str().unwrap();
        let db = app.registry.db.reader();
        let holding: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM order_holders WHERE order_id = $1 AND outcome IS NULL")
            .bind(id)
            .fetch_one(db)
            .await
            .unwrap();
        assert!(holding <= 1, "at most one pharmacy holds the order");
        let dispensed: Vec<String> = sqlx::query_scalar("SELECT items FROM dispenses WHERE prescription_id = $1")
            .bind(prescription["prescription_id"].as_str())
            .fetch_all(db)
            .await
            .unwrap();
        assert!(dispensed.len() <= 1);
        for items in dispensed {
            let items: Value = serde_json::from_str(&items).unwrap();
            assert!(items[0]["quantity"].as_i64().unwrap() <= 15, "never more than prescribed");
        }
        let mut statuses = Vec::new();
        while let vaidya_tests::ws::Next::Json(event) = feed.next_within(1.0).await {
            if event["kind"] == "order.updated" && event["data"]["order_id"] == id {
                statuses.push(event["data"]["status"].as_str().unwrap().to_owned());
            }
        }
        if let Some(end) = statuses.iter().position(|s| ["dispensed", "unfulfilled", "cancelled"].contains(&s.as_str())) {
            assert_eq!(end, statuses.len() - 1, "nothing follows a terminal status: {statuses:?}");
        }
        let stored: String = sqlx::query_scalar("SELECT status FROM orders WHERE id = $1").bind(id).fetch_one(db).await.unwrap();
        assert_eq!(statuses.last().map(String::as_str), Some(stored.as_str()), "the feed ends where the order is: {statuses:?}");
    }
}

/// A value to bind to a query whose plan is asked for.
enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

/// The plan the database makes for `sql` with `binds`, as text.
async fn plan_of(app: &TestApp, sql: &str, binds: &[Bind<'_>]) -> String {
    use sqlx::Row;
    let (explain, column) = if app.db.is_postgres() { ("EXPLAIN", "QUERY PLAN") } else { ("EXPLAIN QUERY PLAN", "detail") };
    let explain = format!("{explain} {sql}");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(explain.as_str()));
    for bind in binds {
        query = match bind {
            Bind::Text(t) => query.bind(*t),
            Bind::Int(i) => query.bind(*i),
        };
    }
    let rows = query.fetch_all(app.registry.db.reader()).await.unwrap();
    rows.iter().map(|r| r.try_get::<String, _>(column).unwrap()).collect::<Vec<_>>().join("\n")
}

/// Each step of an order reads the order and the pharmacists to notify by key. On tables without statistics (a new
/// database, or PostgreSQL without autovacuum, as here) the planner chose to walk the pharmacy's order history
/// (`orders_pharmacy`, from the caller's pharmacies) to find one order, and every verified pharmacist
/// (`providers_role_speciality`) to find one pharmacy's, and each connection kept those plans while the tables grew.
#[tokio::test]
async fn order_steps_find_the_order_and_the_pharmacists_by_key() {
    let app = TestApp::spawn().await;
    let c = app.clinic().await;
    let [near, _, _] = three_pharmacies(&app).await;
    let prescription = app.prescription(&c).await;
    let order = order(&app, &c, &prescription).await;
    let order_id = order["order_id"].as_str().unwrap();
    let db = app.registry.db.reader();
    // The pharmacy's history: orders it has dispensed before.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) \
         INSERT INTO orders (id, prescription_id, patient_health_id, pharmacy_id, status, fulfilment, origin_lat, origin_lon, version, created_at, updated_at) \
         SELECT o.id || '-' || n.i, o.prescription_id, o.patient_health_id, o.pharmacy_id, 'dispensed', o.fulfilment, o.origin_lat, o.origin_lon, 4, \
         o.created_at, o.updated_at FROM orders o CROSS JOIN n WHERE o.id = $1",
    )
    .bind(order_id)
    .execute(db)
    .await
    .unwrap();
    // The pharmacist's live session, as the step's query checks it.
    let (account, session): (String, String) = sqlx::query_as(
        "SELECT s.account_id, s.id FROM sessions s JOIN accounts a ON a.id = s.account_id JOIN provider_facilities pf \
         ON pf.provider_id = a.subject_id WHERE pf.facility_id = $1 ORDER BY s.id DESC LIMIT 1",
    )
    .bind(&near.facility_id)
    .fetch_one(db)
    .await
    .unwrap();

    let load = vaidya_pharmacy::orders::load_checked_sql(vaidya_registry::auth::Role::Pharmacist).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let binds = [Bind::Text(order_id), Bind::Text(&account), Bind::Text("pharmacist"), Bind::Text(&session), Bind::Int(now)];
    let load = plan_of(&app, &load, &binds).await;
    assert!(!load.contains("orders_pharmacy"), "the order is found through its pharmacy's orders:\n{load}");
    let notify = plan_of(&app, &vaidya_pharmacy::orders::pharmacists_of("$1"), &[Bind::Text(&near.facility_id)]).await;
    assert!(!notify.contains("providers_role_speciality"), "the pharmacists are found among all pharmacists:\n{notify}");
    if app.db.is_postgres() {
        assert!(load.contains("orders_pkey"), "the order is not found by its key:\n{load}");
        assert!(notify.contains("providers_pkey"), "the pharmacists are not found by key:\n{notify}");
    }
}
