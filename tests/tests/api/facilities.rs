//! The Health Facility Registry: admins register facilities, anyone reads and searches them (filters, nearest first, pages).

use std::collections::HashSet;

use serde_json::{Value, json};
use vaidya_registry::geo::distance_km;
use vaidya_tests::{Reply, TestApp, facility_body};

const KINDS: [&str; 5] = ["hospital", "clinic", "diagnostic_lab", "imaging_centre", "pharmacy"];
/// Bengaluru, the centre of the distance searches.
const CENTRE: (f64, f64) = (12.9716, 77.5946);
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// The point `km` due north (negative: south) of `from`: exactly `km` away along the meridian.
fn north_of(from: (f64, f64), km: f64) -> (f64, f64) {
    (from.0 + (km / EARTH_RADIUS_KM).to_degrees(), from.1)
}

fn with(mut base: Value, overrides: Value) -> Value {
    if let (Some(b), Value::Object(o)) = (base.as_object_mut(), overrides) {
        for (k, v) in o {
            b.insert(k, v);
        }
    }
    base
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn fields(reply: &Reply) -> Vec<&str> {
    reply.body["errors"].as_array().map(|a| a.iter().filter_map(|e| e["field"].as_str()).collect()).unwrap_or_default()
}

fn ids(list: &Value) -> Vec<&str> {
    list["items"].as_array().expect("a list has items").iter().map(|f| f["facility_id"].as_str().unwrap()).collect()
}

async fn facility_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM facilities").fetch_one(app.registry.db.reader()).await.unwrap()
}

/// Registers a facility with `overrides` merged into the default body.
async fn register(app: &TestApp, admin: &str, kind: &str, at: (f64, f64), overrides: Value) -> Value {
    app.post("/api/v1/facilities", Some(admin), with(facility_body(kind, at.0, at.1), overrides)).await.expect(201).body
}

/// Follows `next_cursor` from `first` (a path with a query string) to the end; returns every item in order.
async fn walk(app: &TestApp, first: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{first}&cursor={}", enc(c)),
            None => first.to_owned(),
        };
        let page = app.get(&path, None).await.expect(200).body;
        pages += 1;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (items, pages),
        }
        assert!(pages < 100, "pagination does not end");
    }
}

#[tokio::test]
async fn admin_registers_every_kind_and_anyone_reads_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for (i, kind) in KINDS.into_iter().enumerate() {
        let body = with(
            facility_body(kind, 12.9 + i as f64 / 100.0, 77.5),
            json!({
                "name": format!("Sri Sai {kind}"),
                "ownership": if i % 2 == 0 { "public" } else { "private" },
                "systems_of_medicine": ["modern", "ayurveda", "sowa_rigpa"],
                "address": {"line": "4th Cross, Jayanagar", "district": "Bengaluru Urban", "state": "Karnataka", "pincode": "560011"},
                "phone": "+91 80 2656 1234",
            }),
        );
        let created = app.post("/api/v1/facilities", Some(&admin), body.clone()).await.expect(201).body;
        let id = created["facility_id"].as_str().unwrap();
        assert!(id.len() == 12 && id.starts_with("IN") && id[2..].bytes().all(|b| b.is_ascii_digit()), "facility id: {id}");
        for field in ["name", "kind", "ownership", "systems_of_medicine", "address", "phone"] {
            assert_eq!(created[field], body[field], "{field} is echoed");
        }
        assert_eq!(created["location"]["lat"].as_f64(), body["location"]["lat"].as_f64());
        assert_eq!(created["location"]["lon"].as_f64(), body["location"]["lon"].as_f64());
        assert!(created["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{created}");
        assert!(created.get("distance_km").is_none(), "distance only with near");

        let read = app.get(&format!("/api/v1/facilities/{id}"), None).await.expect(200).body;
        assert_eq!(read, created, "GET is public and returns what was registered");
    }
    assert_eq!(facility_count(&app).await, 5);
}

#[tokio::test]
async fn optional_fields_default_and_duplicate_systems_collapse() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mut body = facility_body("clinic", 12.9, 77.6);
    let obj = body.as_object_mut().unwrap();
    obj.remove("phone");
    obj.remove("systems_of_medicine");
    obj.insert("address".into(), json!({"state": "Karnataka", "pincode": "560001"}));
    let created = app.post("/api/v1/facilities", Some(&admin), body).await.expect(201).body;
    assert_eq!(created["systems_of_medicine"], json!(["modern"]));
    assert!(created["phone"].is_null());
    assert!(created["address"]["line"].is_null());

    let twice = register(&app, &admin, "hospital", (12.9, 77.6), json!({"systems_of_medicine": ["yoga", "yoga", "unani"]})).await;
    assert_eq!(twice["systems_of_medicine"], json!(["yoga", "unani"]));
}

#[tokio::test]
async fn unknown_or_malformed_facility_id_is_404() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let real = app.create_facility(&admin, "clinic", 12.9, 77.6).await;
    let real_id = real["facility_id"].as_str().unwrap();
    // Generated ids never start with 0 after `IN`, so this one is never registered.
    for bad in ["IN0000000000", "IN123", "XX1234567890", "IN12345678901", "INabcdefghij"] {
        app.get(&format!("/api/v1/facilities/{bad}"), None).await.expect_problem(404, "not_found");
    }
    app.get(&format!("/api/v1/facilities/{}", real_id.to_lowercase()), None).await.expect_problem(404, "not_found");
    app.get(&format!("/api/v1/facilities/{real_id}"), None).await.expect(200);
}

#[tokio::test]
async fn invalid_facilities_are_422_with_each_field_named() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let cases = [
        (json!({"kind": "temple"}), "kind"),
        (json!({"kind": "Hospital"}), "kind"),
        (json!({"kind": null}), "kind"),
        (json!({"ownership": "trust"}), "ownership"),
        (json!({"ownership": null}), "ownership"),
        (json!({"systems_of_medicine": []}), "systems_of_medicine"),
        (json!({"systems_of_medicine": ["modern", "magic"]}), "systems_of_medicine"),
        (json!({"address": {"state": "Karnataka", "pincode": "012345"}}), "address.pincode"),
        (json!({"address": {"state": "Karnataka", "pincode": "5600011"}}), "address.pincode"),
        (json!({"address": {"state": "Karnataka", "pincode": "56A001"}}), "address.pincode"),
        (json!({"address": {"state": "Karnataka"}}), "address.pincode"),
        (json!({"address": {"pincode": "560001"}}), "address.state"),
        (json!({"location": null}), "location"),
        (json!({"location": {"lat": 12.9}}), "location"),
        (json!({"location": {"lat": 91.0, "lon": 77.0}}), "location"),
        (json!({"location": {"lat": -90.5, "lon": 77.0}}), "location"),
        (json!({"location": {"lat": 12.9, "lon": 181.0}}), "location"),
        (json!({"location": {"lat": 12.9, "lon": -180.01}}), "location"),
        (json!({"phone": "call the front desk"}), "phone"),
        (json!({"phone": "12345"}), "phone"),
        (json!({"phone": "1234567890123456"}), "phone"),
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": null}), "name"),
    ];
    for (overrides, field) in cases {
        let body = with(facility_body("clinic", 12.9, 77.6), overrides.clone());
        let reply = app.post("/api/v1/facilities", Some(&admin), body).await.expect_problem(422, "validation_failed");
        assert!(fields(&reply).contains(&field), "{overrides} should name {field}: {}", reply.body);
    }

    // Several problems at once are all reported.
    let body =
        with(facility_body("clinic", 12.9, 77.6), json!({"kind": "temple", "ownership": "trust", "location": {"lat": 91, "lon": 0}}));
    let reply = app.post("/api/v1/facilities", Some(&admin), body).await.expect_problem(422, "validation_failed");
    for field in ["kind", "ownership", "location"] {
        assert!(fields(&reply).contains(&field), "{field}: {}", reply.body);
    }

    // Wrong JSON types and malformed JSON.
    let body = with(facility_body("clinic", 12.9, 77.6), json!({"location": {"lat": "north", "lon": 77.6}}));
    app.post("/api/v1/facilities", Some(&admin), body).await.expect_problem(422, "validation_failed");
    app.post_raw("/api/v1/facilities", Some(&admin), "application/json", b"{\"name\": ".to_vec())
        .await
        .expect_problem(400, "malformed_json");

    assert_eq!(facility_count(&app).await, 0, "bad input changes nothing");
}

#[tokio::test]
async fn only_admins_register_facilities() {
    let app = TestApp::spawn().await;
    let (_, patient) = app.patient().await;
    let (_, doctor) = app.doctor().await;
    let before = facility_count(&app).await;
    for token in [&patient, &doctor] {
        app.post("/api/v1/facilities", Some(token), facility_body("hospital", 12.9, 77.6)).await.expect_problem(403, "forbidden");
    }
    app.post("/api/v1/facilities", None, facility_body("hospital", 12.9, 77.6)).await.expect_problem(401, "unauthorized");
    app.post("/api/v1/facilities", Some("not-a-token"), facility_body("hospital", 12.9, 77.6)).await.expect_problem(401, "unauthorized");
    assert_eq!(facility_count(&app).await, before, "refused requests change nothing");

    // Reading needs no token, and a token of any role also works.
    let list = app.get("/api/v1/facilities", None).await.expect(200).body;
    assert_eq!(list["items"].as_array().unwrap().len() as i64, before);
    app.get("/api/v1/facilities", Some(&patient)).await.expect(200);
}

#[tokio::test]
async fn list_filters_by_kind_pincode_and_name() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let addr = |pincode: &str| json!({"state": "Karnataka", "pincode": pincode});
    let apollo_clinic =
        register(&app, &admin, "clinic", (12.9, 77.6), json!({"name": "Apollo Clinic Koramangala", "address": addr("560034")})).await;
    let apollo_pharmacy =
        register(&app, &admin, "pharmacy", (12.9, 77.6), json!({"name": "apollo pharmacy", "address": addr("560034")})).await;
    let manipal = register(&app, &admin, "hospital", (12.9, 77.6), json!({"name": "Manipal Hospital", "address": addr("560017")})).await;
    let city_clinic = register(&app, &admin, "clinic", (12.9, 77.6), json!({"name": "City Clinic", "address": addr("560017")})).await;
    let id = |f: &Value| f["facility_id"].as_str().unwrap().to_owned();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let found = |list: Value| sorted(ids(&list).into_iter().map(str::to_owned).collect());

    let all = app.get("/api/v1/facilities", None).await.expect(200).body;
    assert_eq!(found(all.clone()), sorted(vec![id(&apollo_clinic), id(&apollo_pharmacy), id(&manipal), id(&city_clinic)]));
    assert!(all["next_cursor"].is_null());
    assert!(all["items"].as_array().unwrap().iter().all(|f| f.get("distance_km").is_none()), "no distance without near");

    let clinics = app.get("/api/v1/facilities?kind=clinic", None).await.expect(200).body;
    assert_eq!(found(clinics), sorted(vec![id(&apollo_clinic), id(&city_clinic)]));
    let at_560034 = app.get("/api/v1/facilities?pincode=560034", None).await.expect(200).body;
    assert_eq!(found(at_560034), sorted(vec![id(&apollo_clinic), id(&apollo_pharmacy)]));
    let both = app.get("/api/v1/facilities?kind=clinic&pincode=560017", None).await.expect(200).body;
    assert_eq!(found(both), vec![id(&city_clinic)]);
    let none = app.get("/api/v1/facilities?kind=diagnostic_lab", None).await.expect(200).body;
    assert_eq!(none, json!({"items": [], "next_cursor": null}));

    for q in ["APOLLO", "apollo", "aPoLlO", "  apollo  "] {
        let list = app.get(&format!("/api/v1/facilities?q={}", enc(q)), None).await.expect(200).body;
        assert_eq!(found(list), sorted(vec![id(&apollo_clinic), id(&apollo_pharmacy)]), "q={q:?}");
    }
    let part = app.get(&format!("/api/v1/facilities?q={}", enc("llo clinic kora")), None).await.expect(200).body;
    assert_eq!(found(part), vec![id(&apollo_clinic)]);
    let clinic_word = app.get("/api/v1/facilities?q=clinic&pincode=560017", None).await.expect(200).body;
    assert_eq!(found(clinic_word), vec![id(&city_clinic)]);
    let nothing = app.get("/api/v1/facilities?q=fortis", None).await.expect(200).body;
    assert!(ids(&nothing).is_empty());
}

#[tokio::test]
async fn name_search_treats_wildcards_literally() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let percent = register(&app, &admin, "clinic", (12.9, 77.6), json!({"name": "Care 100% Clinic"})).await;
    let plain = register(&app, &admin, "clinic", (12.9, 77.6), json!({"name": "Care 1000 Clinic"})).await;
    let underscore = register(&app, &admin, "clinic", (12.9, 77.6), json!({"name": "Care_Point Clinic"})).await;
    let backslash = register(&app, &admin, "clinic", (12.9, 77.6), json!({"name": "Care\\Point Clinic"})).await;
    let id = |f: &Value| f["facility_id"].as_str().unwrap().to_owned();
    let search = |q: &'static str| {
        let app = &app;
        async move {
            let list = app.get(&format!("/api/v1/facilities?q={}", enc(q)), None).await.expect(200).body;
            let mut found: Vec<String> = ids(&list).into_iter().map(str::to_owned).collect();
            found.sort();
            found
        }
    };
    assert_eq!(search("%").await, vec![id(&percent)], "a lone % matches only names containing %");
    assert_eq!(search("100%").await, vec![id(&percent)]);
    assert_eq!(search("100% c").await, vec![id(&percent)]);
    assert_eq!(search("e%c").await, Vec::<String>::new(), "% is not a wildcard");
    assert_eq!(search("_").await, vec![id(&underscore)], "_ is not a wildcard");
    assert_eq!(search("care_").await, vec![id(&underscore)]);
    assert_eq!(search("\\").await, vec![id(&backslash)]);
    let mut all_care = vec![id(&percent), id(&plain), id(&underscore), id(&backslash)];
    all_care.sort();
    assert_eq!(search("care").await, all_care);
}

#[tokio::test]
async fn near_sorts_by_distance_and_honours_the_radius() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let near = format!("{},{}", CENTRE.0, CENTRE.1);
    let mut made: Vec<(String, f64)> = Vec::new();
    // Registered out of distance order on purpose.
    for km in [30.0, 80.0, 1.0, -45.0, 120.0, 10.0] {
        let at = north_of(CENTRE, km);
        let f = register(&app, &admin, if km == 10.0 { "pharmacy" } else { "clinic" }, at, json!({})).await;
        made.push((f["facility_id"].as_str().unwrap().to_owned(), distance_km(CENTRE.0, CENTRE.1, at.0, at.1)));
    }
    let id_at = |km: f64| {
        let target = km.abs();
        made.iter().find(|(_, d)| (d - target).abs() < 0.01).map(|(id, _)| id.clone()).unwrap()
    };

    let check_sorted = |list: &Value| {
        let items = list["items"].as_array().unwrap();
        let mut last = -1.0;
        for item in items {
            let d = item["distance_km"].as_f64().unwrap_or_else(|| panic!("distance_km on every item: {item}"));
            let id = item["facility_id"].as_str().unwrap();
            let (_, expected) = made.iter().find(|(m, _)| m == id).unwrap();
            assert!((d - expected).abs() < 0.002, "{id}: {d} vs {expected}");
            assert!(d >= last, "sorted by distance: {list}");
            last = d;
        }
    };

    let r50 = app.get(&format!("/api/v1/facilities?near={near}&radius_km=50"), None).await.expect(200).body;
    check_sorted(&r50);
    assert_eq!(ids(&r50), vec![id_at(1.0), id_at(10.0), id_at(30.0), id_at(-45.0)], "the 80 km facility is outside 50 km");

    let r100 = app.get(&format!("/api/v1/facilities?near={near}&radius_km=100"), None).await.expect(200).body;
    check_sorted(&r100);
    assert_eq!(ids(&r100), vec![id_at(1.0), id_at(10.0), id_at(30.0), id_at(-45.0), id_at(80.0)], "included at 100 km");

    let r500 = app.get(&format!("/api/v1/facilities?near={near}&radius_km=500"), None).await.expect(200).body;
    assert_eq!(ids(&r500).len(), 6);
    check_sorted(&r500);

    let tiny = app.get(&format!("/api/v1/facilities?near={near}&radius_km=0.5"), None).await.expect(200).body;
    assert!(ids(&tiny).is_empty());

    // Filters combine with near.
    let pharmacies = app.get(&format!("/api/v1/facilities?near={near}&radius_km=100&kind=pharmacy"), None).await.expect(200).body;
    assert_eq!(ids(&pharmacies), vec![id_at(10.0)]);
    check_sorted(&pharmacies);

    // A space after the comma is accepted; the answer is the same.
    let spaced = app.get(&format!("/api/v1/facilities?near={}&radius_km=100", enc(&format!("{}, {}", CENTRE.0, CENTRE.1))), None).await;
    assert_eq!(ids(&spaced.expect(200).body), ids(&r100));
}

#[tokio::test]
async fn near_works_across_the_antimeridian_and_near_a_pole() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    // Fiji straddles 180°: these two are about 11 km apart across it.
    let east = app.create_facility(&admin, "clinic", -17.0, 179.95).await;
    let west = app.create_facility(&admin, "clinic", -17.0, -179.95).await;
    let far = app.create_facility(&admin, "clinic", -17.0, 170.0).await;
    let list = app.get("/api/v1/facilities?near=-17.0,179.99&radius_km=50", None).await.expect(200).body;
    assert_eq!(ids(&list), vec![east["facility_id"].as_str().unwrap(), west["facility_id"].as_str().unwrap()]);
    let d = list["items"][1]["distance_km"].as_f64().unwrap();
    assert!((d - distance_km(-17.0, 179.99, -17.0, -179.95)).abs() < 0.002, "{d}");
    let list = app.get("/api/v1/facilities?near=-17.0,-179.99&radius_km=50", None).await.expect(200).body;
    assert_eq!(ids(&list), vec![west["facility_id"].as_str().unwrap(), east["facility_id"].as_str().unwrap()]);
    assert!(!ids(&list).contains(&far["facility_id"].as_str().unwrap()));

    let polar = app.create_facility(&admin, "clinic", 89.95, -120.0).await;
    let list = app.get("/api/v1/facilities?near=89.95,60.0&radius_km=50", None).await.expect(200).body;
    assert_eq!(ids(&list), vec![polar["facility_id"].as_str().unwrap()], "across the pole is about 11 km");
}

/// Each query must be refused with 422 naming `field`.
async fn assert_refused(app: &TestApp, cases: &[(String, &str)]) {
    for (query, field) in cases {
        let reply = app.get(&format!("/api/v1/facilities?{query}"), None).await.expect_problem(422, "validation_failed");
        assert!(fields(&reply).contains(field), "{query} should name {field}: {}", reply.body);
    }
}

#[tokio::test]
async fn bad_near_or_radius_is_422() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_facility(&admin, "clinic", CENTRE.0, CENTRE.1).await;
    let near = format!("{},{}", CENTRE.0, CENTRE.1);
    let cases = [
        ("near=abc".to_owned(), "near"),
        ("near=12.97".to_owned(), "near"),
        ("near=91,77.5".to_owned(), "near"),
        ("near=12.9,181".to_owned(), "near"),
        ("near=NaN,77.5".to_owned(), "near"),
        (format!("near={near}&radius_km=0"), "radius_km"),
        (format!("near={near}&radius_km=-5"), "radius_km"),
        (format!("near={near}&radius_km=501"), "radius_km"),
        (format!("near={near}&radius_km=NaN"), "radius_km"),
        ("radius_km=10".to_owned(), "radius_km"),
    ];
    assert_refused(&app, &cases).await;
    // A value of the wrong type does not even parse.
    app.get("/api/v1/facilities?radius_km=far", None).await.expect_problem(422, "validation_failed");
    // The bounds themselves are fine.
    app.get(&format!("/api/v1/facilities?near={near}&radius_km=500"), None).await.expect(200);
    app.get(&format!("/api/v1/facilities?near={near}"), None).await.expect(200);
}

#[tokio::test]
async fn bad_limit_or_cursor_is_422() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_facility(&admin, "clinic", CENTRE.0, CENTRE.1).await;
    let near = format!("{},{}", CENTRE.0, CENTRE.1);
    let cases = [
        ("limit=0".to_owned(), "limit"),
        ("limit=201".to_owned(), "limit"),
        ("cursor=!!!".to_owned(), "cursor"),
        (format!("near={near}&limit=0"), "limit"),
        (format!("near={near}&cursor=!!!"), "cursor"),
        // Valid base64, but not a distance cursor.
        (format!("near={near}&cursor=YWJj"), "cursor"),
    ];
    assert_refused(&app, &cases).await;
    for query in ["limit=-1", "limit=ten"] {
        app.get(&format!("/api/v1/facilities?{query}"), None).await.expect_problem(422, "validation_failed");
    }
    app.get("/api/v1/facilities?limit=200", None).await.expect(200);
    app.get("/api/v1/facilities?limit=1", None).await.expect(200);
}

#[tokio::test]
async fn bad_filters_are_422() {
    let app = TestApp::spawn().await;
    let cases = [
        ("kind=temple".to_owned(), "kind"),
        ("pincode=012345".to_owned(), "pincode"),
        ("pincode=5600".to_owned(), "pincode"),
        (format!("q={}", "a".repeat(101)), "q"),
    ];
    assert_refused(&app, &cases).await;
}

#[tokio::test]
async fn pages_walk_every_facility_once_in_id_order() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mut expected = Vec::new();
    for i in 0..7 {
        let f = app.create_facility(&admin, "clinic", 12.0 + f64::from(i) / 10.0, 77.5).await;
        expected.push(f["facility_id"].as_str().unwrap().to_owned());
    }
    expected.sort();

    let (items, pages) = walk(&app, "/api/v1/facilities?limit=3").await;
    let walked: Vec<&str> = items.iter().map(|f| f["facility_id"].as_str().unwrap()).collect();
    assert_eq!(walked, expected, "every facility once, by id");
    assert_eq!(pages, 3);

    // An exact multiple of the page size ends with a null cursor, not an empty page after it.
    let (items, pages) = walk(&app, "/api/v1/facilities?limit=7").await;
    assert_eq!((items.len(), pages), (7, 1));
    let (items, _) = walk(&app, "/api/v1/facilities?limit=1").await;
    assert_eq!(items.len(), 7);

    // Filters hold on every page.
    app.create_facility(&admin, "pharmacy", 12.0, 77.5).await;
    let (items, _) = walk(&app, "/api/v1/facilities?limit=2&kind=clinic").await;
    assert_eq!(items.iter().map(|f| f["facility_id"].as_str().unwrap()).collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn pages_with_near_walk_by_distance_with_ties_by_id() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mut made = HashSet::new();
    // Three at one spot (equal distances), the others spread out; one beyond the radius.
    for km in [5.0, 5.0, 5.0, 2.0, 12.0, -7.0, 0.0, 49.0, 60.0] {
        let at = north_of(CENTRE, km);
        let f = app.create_facility(&admin, "clinic", at.0, at.1).await;
        if km < 50.0 {
            made.insert(f["facility_id"].as_str().unwrap().to_owned());
        }
    }
    let first = format!("/api/v1/facilities?near={},{}&radius_km=50", CENTRE.0, CENTRE.1);
    let whole = app.get(&first, None).await.expect(200).body;
    assert!(whole["next_cursor"].is_null());
    let whole: Vec<Value> = whole["items"].as_array().unwrap().clone();

    for limit in [1, 2, 3, 4] {
        let (items, pages) = walk(&app, &format!("{first}&limit={limit}")).await;
        assert_eq!(items, whole, "limit {limit}: the pages join up to the one-page answer");
        assert_eq!(pages, whole.len().div_ceil(limit));
    }
    let walked: HashSet<String> = whole.iter().map(|f| f["facility_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(walked, made, "every facility within the radius exactly once");
    assert_eq!(whole.len(), made.len());
    for pair in whole.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let key = |f: &Value| (f["distance_km"].as_f64().unwrap(), f["facility_id"].as_str().unwrap().to_owned());
        assert!(key(a) < key(b), "ordered by (distance, id): {a} then {b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_all_land_with_distinct_ids() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let replies =
        futures::future::join_all((0..16).map(|i| app.post("/api/v1/facilities", Some(&admin), facility_body(KINDS[i % 5], 12.9, 77.6))))
            .await;
    let mut ids = HashSet::new();
    for reply in replies {
        ids.insert(reply.expect(201).body["facility_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 16);
    assert_eq!(facility_count(&app).await, 16);
    let (items, _) = walk(&app, "/api/v1/facilities?limit=5").await;
    assert_eq!(items.len(), 16);
}
