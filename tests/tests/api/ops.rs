//! Operational endpoints, the problem format of unknown routes, and the OpenAPI contract snapshot.

use vaidya_tests::TestApp;

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz", None).await.expect(200).body["status"], "ok");
    let ready = app.get("/readyz", None).await.expect(200).body;
    assert_eq!(ready["database"], "ok");
    let expected_redis = if app.redis_prefix.is_some() { "ok" } else { "not_configured" };
    assert_eq!(ready["redis"], expected_redis);
}

#[tokio::test]
async fn readyz_is_503_when_redis_is_unreachable_and_logins_say_so() {
    // Port 1 on loopback: nothing listens there.
    let app = TestApp::spawn_with(&["--redis-url", "redis://127.0.0.1:1"]).await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["redis"], "down");
    assert_eq!(app.get("/healthz", None).await.status, 200);
    app.post("/api/v1/auth/login", None, serde_json::json!({"username": "someone", "password": "whatever-it-is"}))
        .await
        .expect_problem(503, "unavailable");
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.registry.db.close().await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["database"], "down");
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/facilities", None).await.expect(200);
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("route=\"/api/v1/facilities\""), "{text}");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/nothing-here", None).await.expect_problem(404, "not_found");
    app.request(reqwest::Method::DELETE, "/api/v1/facilities", None, None).await.expect_problem(405, "method_not_allowed");
}

#[tokio::test]
async fn served_openapi_matches_the_snapshot() {
    let app = TestApp::spawn().await;
    let served = app.get("/openapi.json", None).await.expect(200).body;
    assert_eq!(served, serde_json::to_value(vaidya_web::openapi()).unwrap());
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/health-ids",
        "/api/v1/health-ids/me",
        "/api/v1/health-ids/{health_id}",
        "/api/v1/facilities",
        "/api/v1/facilities/{facility_id}",
        "/api/v1/providers",
        "/api/v1/providers/{provider_id}",
        "/api/v1/audit",
        "/api/v1/audit/verify",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(served["paths"].get(path).is_some(), "{path} is documented");
    }
    insta::assert_json_snapshot!("openapi", served);
}
