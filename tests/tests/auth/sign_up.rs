//! First and later sign-ups: the first one makes the community and its admin, later ones need an
//! invite; concurrency and the password policy.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use taina_tests::TestServer;

#[tokio::test]
async fn first_sign_up_creates_the_community_and_its_admin_then_the_full_session_cycle() {
    let server = TestServer::start().await;
    assert_eq!(server.get("/healthz", None).await.status, StatusCode::OK);
    let ready = server.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["database"], server.backend());

    let signup = server
        .post(
            "/api/auth/signup",
            json!({ "email": " Ana@Example.org ", "password": "correct horse", "community_name": "Aldeia Verde" }),
            None,
        )
        .await;
    assert_eq!(signup.status, StatusCode::CREATED, "{}", signup.body);
    assert_eq!(signup.body["user"]["role"], "admin");
    assert_eq!(signup.body["user"]["email"], "ana@example.org");
    assert_eq!(signup.body["community"]["name"], "Aldeia Verde");
    assert_eq!(signup.body["community"]["slug"], "aldeia-verde");
    let user_id = signup.body["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(user_id.len(), 21);

    let signin = server
        .post(
            "/api/auth/signin",
            json!({ "email": "ana@example.org", "password": "correct horse" }),
            None,
        )
        .await;
    assert_eq!(signin.status, StatusCode::OK, "{}", signin.body);
    assert_eq!(signin.body["user"]["id"], user_id.as_str());
    assert_eq!(signin.body["user"]["role"], "admin");
    assert_eq!(
        signin.body["user"]["community_id"],
        signup.body["community"]["id"]
    );
    assert!(signin.body["expires_at"].is_string());
    let token = signin.body["token"].as_str().unwrap();

    // The JWT carries the documented claims.
    let claims: Value = {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["cid"], signup.body["community"]["id"]);
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["sid"].as_str().unwrap().len(), 21);
    let ttl = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(ttl, 7 * 24 * 3600);

    let me = server.get("/api/auth/me", Some(token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["email"], "ana@example.org");
    assert!(me.body.get("password_hash").is_none());

    let out = server
        .post("/api/auth/signout", json!({}), Some(token))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let after = server.get("/api/auth/me", Some(token)).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.code(), "session_revoked");
    // Signing out twice is refused the same way.
    let again = server
        .post("/api/auth/signout", json!({}), Some(token))
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);

    // The session row stores only the token's hash.
    let stored: Vec<String> = taina::db::query_scalar("SELECT token_hash FROM user_sessions")
        .fetch_all(&server.state.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].len(), 64);
    assert!(!stored[0].contains(token));
}

#[tokio::test]
async fn later_sign_ups_need_an_invite() {
    let server = TestServer::start().await;
    server.admin().await;
    let reply = server
        .sign_up("bob@example.org", "bob password", None)
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.code(), "invite_required");
    let reply = server
        .sign_up("bob@example.org", "bob password", Some("no-such-code"))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.code(), "invite_invalid");
}

#[tokio::test]
async fn concurrent_first_sign_ups_make_exactly_one_admin() {
    let server = TestServer::start().await;
    let attempts = (0..6).map(|i| {
        let server = &server;
        async move {
            server
                .sign_up(&format!("user{i}@example.org"), "a good password", None)
                .await
                .status
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::FORBIDDEN)
        .count();
    assert_eq!((created, refused), (1, 5), "{statuses:?}");
}

#[tokio::test]
async fn password_policy() {
    let server = TestServer::start().await;
    let short = server.sign_up("a@example.org", "short", None).await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(short.code(), "password_too_short");
    let long = server
        .sign_up("a@example.org", &"x".repeat(1025), None)
        .await;
    assert_eq!(long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(long.code(), "password_too_long");
    let email = server.sign_up("not an email", "long enough", None).await;
    assert_eq!(email.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(email.code(), "invalid_input");
    // Nothing was created by the refused attempts: the next sign-up is still the first.
    let ok = server
        .sign_up("a@example.org", &"x".repeat(1024), None)
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    assert_eq!(ok.body["user"]["role"], "admin");
}
