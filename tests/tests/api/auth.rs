//! Login, refresh, logout, and the token attacks that must all end in 401 (or 429 for brute force).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use vaidya_tests::{PASSWORD, TestApp};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The claims of a real token, to tamper with.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn unsigned(header: Value, claims: &Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{h}.{c}.")
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.get("/api/v1/health-ids/me", Some(token)).await.status.as_u16()
}

#[tokio::test]
async fn login_refresh_logout_round_trip() {
    let app = TestApp::spawn().await;
    let profile = app.register_patient(json!({})).await;
    let login = app.login(profile["health_id"].as_str().unwrap(), PASSWORD).await;
    assert_eq!(login["expires_in"], 900);
    let access = login["access_token"].as_str().unwrap();
    assert_eq!(me_status(&app, access).await, 200);

    let refreshed = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": login["refresh_token"]})).await.expect(200).body;
    let access2 = refreshed["access_token"].as_str().unwrap();
    assert_ne!(refreshed["refresh_token"], login["refresh_token"]);
    assert_eq!(me_status(&app, access2).await, 200);

    let reply = app.request(reqwest::Method::POST, "/api/v1/auth/logout", Some(access2), None).await;
    assert_eq!(reply.status, 204);
    // Every token of the session stops at once.
    assert_eq!(me_status(&app, access2).await, 401);
    assert_eq!(me_status(&app, access).await, 401);
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": refreshed["refresh_token"]})).await.expect_problem(401, "unauthorized");
    app.request(reqwest::Method::POST, "/api/v1/auth/logout", Some(access2), None).await.expect(401);
}

#[tokio::test]
async fn wrong_credentials_answer_the_same_whether_or_not_the_account_exists() {
    let app = TestApp::spawn().await;
    let profile = app.register_patient(json!({})).await;
    let wrong = app.post("/api/v1/auth/login", None, json!({"username": profile["health_id"], "password": "not-the-password"})).await;
    let missing = app.post("/api/v1/auth/login", None, json!({"username": "nobody.here@vaidya", "password": "not-the-password"})).await;
    let wrong = wrong.expect_problem(401, "invalid_credentials");
    let missing = missing.expect_problem(401, "invalid_credentials");
    assert_eq!(wrong.body, missing.body);
    app.post("/api/v1/auth/login", None, json!({"username": "", "password": ""})).await.expect_problem(401, "invalid_credentials");
    app.post("/api/v1/auth/login", None, json!({"username": "x"})).await.expect_problem(422, "validation_failed");
}

#[tokio::test]
async fn forged_and_mistyped_tokens_are_401() {
    let app = TestApp::spawn().await;
    let (_, access) = app.patient().await;
    let claims = claims_of(&access);
    let tokens = &app.registry.tokens;

    let mut attacks: Vec<(&str, String)> = Vec::new();
    attacks.push(("alg none", unsigned(json!({"alg": "none", "typ": "JWT"}), &claims)));
    attacks
        .push(("alg none, signature kept", format!("{}{}", unsigned(json!({"alg": "none"}), &claims), access.split('.').nth(2).unwrap())));

    // HS256 with the public key as the HMAC secret (the classic key-confusion attack), both as raw bytes and as its JWK text.
    let jwk = tokens.keys().public_jwk();
    let x = jwk["x"].as_str().unwrap().to_owned();
    let raw = URL_SAFE_NO_PAD.decode(&x).unwrap();
    for secret in [raw.clone(), x.clone().into_bytes()] {
        let forged = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        attacks.push(("HS256 with the public key", forged));
    }

    let mut c = claims.clone();
    c["aud"] = json!("someone-else");
    attacks.push(("wrong aud", tokens.sign(&c)));
    let mut c = claims.clone();
    c["iss"] = json!("not-vaidya");
    attacks.push(("wrong iss", tokens.sign(&c)));
    let mut c = claims.clone();
    c["exp"] = json!(now() - 3600);
    attacks.push(("expired", tokens.sign(&c)));
    let mut c = claims.clone();
    c["exp"] = json!((now() + 3600).to_string());
    attacks.push(("exp as a string", tokens.sign(&c)));
    let mut c = claims.clone();
    c.as_object_mut().unwrap().remove("exp");
    attacks.push(("no exp", tokens.sign(&c)));
    let mut c = claims.clone();
    c["role"] = json!("admin");
    attacks.push(("role raised", tokens.sign(&c)));
    let mut c = claims.clone();
    c["sid"] = json!(uuid::Uuid::now_v7().to_string());
    attacks.push(("unknown session", tokens.sign(&c)));

    // A token signed by another key pair entirely.
    let stranger = vaidya_registry::auth::TokenService::new(vaidya_registry::auth::SigningKeys::from_seed(&[7u8; 32]), 900, 3600);
    attacks.push(("foreign key", stranger.sign(&claims)));
    // Payload edited after signing.
    let parts: Vec<&str> = access.split('.').collect();
    let mut c = claims.clone();
    c["sub"] = json!(uuid::Uuid::now_v7().to_string());
    attacks.push(("payload swapped", format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(c.to_string()), parts[2])));
    attacks.push(("garbage", "a.b.c".into()));

    for (name, token) in attacks {
        let reply = app.get("/api/v1/health-ids/me", Some(&token)).await;
        assert_eq!(reply.status, 401, "{name} must be refused: {}", reply.body);
        assert_eq!(reply.code(), "unauthorized", "{name}");
    }
    // The genuine token still works.
    assert_eq!(me_status(&app, &access).await, 200);
    // Not a Bearer scheme.
    let reply = app.client.get(app.url("/api/v1/health-ids/me")).header("authorization", format!("Basic {access}")).send().await.unwrap();
    assert_eq!(reply.status(), 401);
}

#[tokio::test]
async fn refresh_and_access_tokens_are_not_interchangeable() {
    let app = TestApp::spawn().await;
    let profile = app.register_patient(json!({})).await;
    let login = app.login(profile["health_address"].as_str().unwrap(), PASSWORD).await;
    assert_eq!(me_status(&app, login["refresh_token"].as_str().unwrap()).await, 401);
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": login["access_token"]})).await.expect_problem(401, "unauthorized");
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": "nonsense"})).await.expect_problem(401, "unauthorized");
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let profile = app.register_patient(json!({})).await;
    let login = app.login(profile["health_id"].as_str().unwrap(), PASSWORD).await;
    let first = login["refresh_token"].clone();
    let second = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": first})).await.expect(200).body;
    // The thief replays the first refresh token.
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": first})).await.expect_problem(401, "unauthorized");
    // Now the legitimate holder's newer tokens are dead too.
    app.post("/api/v1/auth/refresh", None, json!({"refresh_token": second["refresh_token"]})).await.expect_problem(401, "unauthorized");
    assert_eq!(me_status(&app, second["access_token"].as_str().unwrap()).await, 401);
    // A fresh login starts a new family.
    let again = app.login(profile["health_id"].as_str().unwrap(), PASSWORD).await;
    assert_eq!(me_status(&app, again["access_token"].as_str().unwrap()).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_with_one_token_let_at_most_one_through() {
    let app = TestApp::spawn().await;
    let profile = app.register_patient(json!({})).await;
    let login = app.login(profile["health_id"].as_str().unwrap(), PASSWORD).await;
    let body = json!({"refresh_token": login["refresh_token"]});
    let replies = futures::future::join_all((0..8).map(|_| app.post("/api/v1/auth/refresh", None, body.clone()))).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert!(ok <= 1, "{ok} refreshes succeeded with one token");
}

#[tokio::test]
async fn brute_force_is_throttled_per_account_without_revealing_existence() {
    let app = TestApp::spawn().await;
    let profile = app.register_patient(json!({})).await;
    let id = profile["health_id"].as_str().unwrap();
    for username in [id, "ghost.account@vaidya"] {
        for _ in 0..5 {
            app.post("/api/v1/auth/login", None, json!({"username": username, "password": "guess-guess"})).await.expect(401);
        }
        let limited = app.post("/api/v1/auth/login", None, json!({"username": username, "password": "guess-guess"})).await;
        let limited = limited.expect_problem(429, "rate_limited");
        let retry: u64 = limited.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
        assert!(retry > 0 && retry <= 15 * 60, "{retry}");
    }
    // Even the right password is refused while the account is locked.
    app.post("/api/v1/auth/login", None, json!({"username": id, "password": PASSWORD})).await.expect_problem(429, "rate_limited");
}

#[tokio::test]
async fn brute_force_is_throttled_per_address() {
    let app = TestApp::spawn_with(&["--login-failures-per-address", "6"]).await;
    let profile = app.register_patient(json!({})).await;
    for i in 0..6 {
        app.post("/api/v1/auth/login", None, json!({"username": format!("user{i}"), "password": "guess-guess"})).await.expect(401);
    }
    // A new account name from the same address is refused too.
    app.post("/api/v1/auth/login", None, json!({"username": profile["health_id"], "password": PASSWORD}))
        .await
        .expect_problem(429, "rate_limited");
}

#[tokio::test]
async fn a_successful_login_resets_the_account_counter() {
    let app = TestApp::spawn().await;
    let profile = app.register_patient(json!({})).await;
    let id = profile["health_id"].as_str().unwrap();
    for _ in 0..4 {
        app.post("/api/v1/auth/login", None, json!({"username": id, "password": "guess-guess"})).await.expect(401);
    }
    app.login(id, PASSWORD).await;
    for _ in 0..4 {
        app.post("/api/v1/auth/login", None, json!({"username": id, "password": "guess-guess"})).await.expect(401);
    }
    app.login(id, PASSWORD).await;
}

#[tokio::test]
async fn admin_from_configuration_logs_in_once_created() {
    let app = TestApp::spawn().await;
    let login = app.login(vaidya_tests::ADMIN_USER, vaidya_tests::ADMIN_PASSWORD).await;
    assert_eq!(login["role"], "admin");
    // A second start on the same database does not duplicate or reset it.
    let db = app.stop();
    let again = TestApp::spawn_on(db, &[]).await;
    again.login(vaidya_tests::ADMIN_USER, vaidya_tests::ADMIN_PASSWORD).await;
    let admins: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE role = 'admin'").fetch_one(again.registry.db.reader()).await.unwrap();
    assert_eq!(admins, 1);
}
