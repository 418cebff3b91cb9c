//! TOTP two-factor sign-in, recovery codes, and how TOTP secrets are stored (sealed, migrated from
//! plaintext).

use reqwest::StatusCode;
use serde_json::{json, Value};
use taina_tests::TestServer;

fn totp_for(secret: &str) -> totp_rs::Totp {
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn totp_two_factor_with_recovery_codes() {
    let server = TestServer::start().await;
    let token = server.admin().await;

    let wrong_order = server
        .post(
            "/api/auth/totp/enable",
            json!({ "code": "123456" }),
            Some(&token),
        )
        .await;
    assert_eq!(
        (wrong_order.status, wrong_order.code()),
        (StatusCode::CONFLICT, "totp_not_set_up")
    );

    let setup = server
        .post("/api/auth/totp/setup", json!({}), Some(&token))
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let secret = setup.body["secret"].as_str().unwrap().to_string();
    let uri = setup.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&secret));
    let generator = totp_for(&secret);
    let now = chrono::Utc::now().timestamp() as u64;

    let wrong = server
        .post(
            "/api/auth/totp/enable",
            json!({ "code": "000000" }),
            Some(&token),
        )
        .await;
    let wrong_is_right = generator.check("000000", now).is_some();
    if !wrong_is_right {
        assert_eq!(wrong.code(), "invalid_otp");
    }
    let enable_code = generator.generate(now).to_string();
    let enabled = server
        .post(
            "/api/auth/totp/enable",
            json!({ "code": enable_code }),
            Some(&token),
        )
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    let recovery: Vec<String> = enabled.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    let again = server
        .post("/api/auth/totp/setup", json!({}), Some(&token))
        .await;
    assert_eq!(again.code(), "totp_already_enabled");

    let creds = |otp: Option<&str>| json!({ "email": "admin@example.org", "password": "admin password", "otp": otp });
    let no_otp = server.post("/api/auth/signin", creds(None), None).await;
    assert_eq!(
        (no_otp.status, no_otp.code()),
        (StatusCode::UNAUTHORIZED, "otp_required")
    );
    // The code used to enable cannot be replayed.
    let replay = server
        .post("/api/auth/signin", creds(Some(&enable_code)), None)
        .await;
    assert_eq!(
        (replay.status, replay.code()),
        (StatusCode::UNAUTHORIZED, "invalid_otp")
    );
    // The next step's code is inside the ±1 step window and has not been used.
    let next = generator.generate(now + 30).to_string();
    let ok = server
        .post("/api/auth/signin", creds(Some(&next)), None)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["user"]["totp_enabled"], true);
    // Wrong password with a valid-looking code still fails as bad credentials.
    let bad_pw = server
        .post(
            "/api/auth/signin",
            json!({ "email": "admin@example.org", "password": "nope nope", "otp": next }),
            None,
        )
        .await;
    assert_eq!(bad_pw.code(), "invalid_credentials");

    // Recovery codes work once each.
    let first = server
        .post("/api/auth/signin", creds(Some(&recovery[0])), None)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let reused = server
        .post("/api/auth/signin", creds(Some(&recovery[0])), None)
        .await;
    assert_eq!(
        (reused.status, reused.code()),
        (StatusCode::UNAUTHORIZED, "invalid_otp")
    );
    let second = server
        .post(
            "/api/auth/signin",
            creds(Some(&recovery[1].to_uppercase())),
            None,
        )
        .await;
    assert_eq!(second.status, StatusCode::OK);
}

/// Sets up and enables TOTP for the admin; returns the secret shown to them, the step time the
/// enabling code was made for, and the recovery codes.
async fn enable_admin_totp(server: &TestServer, token: &str) -> (String, u64, Vec<String>) {
    let setup = server
        .post("/api/auth/totp/setup", json!({}), Some(token))
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let secret = setup.body["secret"].as_str().unwrap().to_string();
    let now = chrono::Utc::now().timestamp() as u64;
    let code = totp_for(&secret).generate(now).to_string();
    let enabled = server
        .post(
            "/api/auth/totp/enable",
            json!({ "code": code }),
            Some(token),
        )
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    let recovery = enabled.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (secret, now, recovery)
}

/// The admin's `users.totp_secret` as stored.
async fn stored_totp_secret(server: &TestServer) -> String {
    taina::db::query_scalar("SELECT totp_secret FROM users WHERE email = 'admin@example.org'")
        .fetch_one(&server.state.db)
        .await
        .expect("stored secret")
}

async fn store_totp_secret(server: &TestServer, value: &str) {
    taina::db::query("UPDATE users SET totp_secret = $1 WHERE email = 'admin@example.org'")
        .bind(value)
        .execute(&server.state.db)
        .await
        .expect("store secret");
}

fn admin_credentials(otp: &str) -> Value {
    json!({ "email": "admin@example.org", "password": "admin password", "otp": otp })
}

#[tokio::test]
async fn totp_secrets_are_stored_encrypted() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let (secret, now, _) = enable_admin_totp(&server, &token).await;
    let stored = stored_totp_secret(&server).await;
    assert_ne!(stored, secret);
    assert!(!stored.contains(&secret), "{stored}");
    assert!(stored.starts_with("v1:"), "{stored}");

    let next = totp_for(&secret).generate(now + 30).to_string();
    let ok = server
        .post("/api/auth/signin", admin_credentials(&next), None)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn plaintext_totp_secrets_are_encrypted_when_the_state_opens() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let (secret, now, _) = enable_admin_totp(&server, &token).await;
    // As a server from before secrets were encrypted stored it.
    store_totp_secret(&server, &secret).await;

    let config = (*server.state.config).clone();
    let reopened = taina::AppState::open(config.clone()).await.expect("open");
    reopened.db.close().await;
    let sealed = stored_totp_secret(&server).await;
    assert!(
        sealed.starts_with("v1:") && !sealed.contains(&secret),
        "{sealed}"
    );
    // Opening again changes nothing.
    let again = taina::AppState::open(config).await.expect("open");
    again.db.close().await;
    assert_eq!(stored_totp_secret(&server).await, sealed);

    let next = totp_for(&secret).generate(now + 30).to_string();
    let ok = server
        .post("/api/auth/signin", admin_credentials(&next), None)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn a_totp_secret_sealed_under_another_server_secret_is_an_internal_error() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let user_id = server.user_id(&token).await;
    let (secret, now, recovery) = enable_admin_totp(&server, &token).await;
    // What a replaced jwt.secret does to every stored secret.
    let foreign = taina::contexts::auth::SecretCipher::from_server_secret(
        b"some other server's secret, 32 bytes or more",
    )
    .seal(&user_id, &secret)
    .unwrap();
    store_totp_secret(&server, &foreign).await;

    let next = totp_for(&secret).generate(now + 30).to_string();
    let refused = server
        .post("/api/auth/signin", admin_credentials(&next), None)
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::INTERNAL_SERVER_ERROR, "internal")
    );
    // Recovery codes do not depend on the secret: the user can still get in.
    let ok = server
        .post("/api/auth/signin", admin_credentials(&recovery[0]), None)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}
