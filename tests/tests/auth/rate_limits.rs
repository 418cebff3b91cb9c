//! Sign-in and sign-up rate limits, with Retry-After.

use reqwest::StatusCode;
use serde_json::json;
use taina_tests::TestServer;

#[tokio::test]
async fn sign_in_is_rate_limited_with_retry_after() {
    let server = TestServer::builder()
        .with_config(|c| c.auth.signin_per_minute = 3)
        .start()
        .await;
    server.admin().await; // one sign-in
    for _ in 0..2 {
        let reply = server
            .post(
                "/api/auth/signin",
                json!({ "email": "admin@example.org", "password": "wrong password" }),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let limited = server
        .post(
            "/api/auth/signin",
            json!({ "email": "admin@example.org", "password": "admin password" }),
            None,
        )
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code(), "rate_limited");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
}

#[tokio::test]
async fn sign_up_is_rate_limited() {
    let server = TestServer::builder()
        .with_config(|c| c.auth.signup_per_minute = 2)
        .start()
        .await;
    server.admin().await;
    for _ in 0..1 {
        assert_eq!(
            server
                .sign_up("x@example.org", "password!", None)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
    }
    let limited = server.sign_up("y@example.org", "password!", None).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers.contains_key("retry-after"));
}
