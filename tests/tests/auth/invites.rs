//! Invites and the ways they can be misused.

use reqwest::StatusCode;
use serde_json::json;
use taina_tests::TestServer;

#[tokio::test]
async fn invite_misuse() {
    let server = TestServer::start().await;
    let admin = server.admin().await;

    // Used up: one use, then refused, and the refused attempt creates nothing.
    let once = server
        .post("/api/auth/invites", json!({ "max_uses": 1 }), Some(&admin))
        .await;
    assert_eq!(once.status, StatusCode::CREATED);
    assert_eq!(once.body["role"], "member");
    let code = once.body["code"].as_str().unwrap();
    assert_eq!(
        server
            .sign_up("one@example.org", "password one", Some(code))
            .await
            .status,
        StatusCode::CREATED
    );
    let second = server
        .sign_up("two@example.org", "password two", Some(code))
        .await;
    assert_eq!(
        (second.status, second.code()),
        (StatusCode::GONE, "invite_used_up")
    );
    let refused = server
        .post(
            "/api/auth/signin",
            json!({ "email": "two@example.org", "password": "password two" }),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    // Expired.
    let aging = server
        .post(
            "/api/auth/invites",
            json!({ "expires_in_hours": 1 }),
            Some(&admin),
        )
        .await;
    let aging_code = aging.body["code"].as_str().unwrap();
    server
        .execute_with_past_time("UPDATE community_invites SET expires_at = $1 WHERE uses = 0")
        .await;
    let late = server
        .sign_up("late@example.org", "password late", Some(aging_code))
        .await;
    assert_eq!(
        (late.status, late.code()),
        (StatusCode::GONE, "invite_expired")
    );

    // An email already in the community: refused, and the invite keeps its use.
    let fresh = server
        .post(
            "/api/auth/invites",
            json!({ "max_uses": 1, "role": "guest" }),
            Some(&admin),
        )
        .await;
    let fresh_code = fresh.body["code"].as_str().unwrap();
    let taken = server
        .sign_up("one@example.org", "password one", Some(fresh_code))
        .await;
    assert_eq!(
        (taken.status, taken.code()),
        (StatusCode::CONFLICT, "email_taken")
    );
    let guest = server
        .sign_up("guest@example.org", "password guest", Some(fresh_code))
        .await;
    assert_eq!(guest.status, StatusCode::CREATED);
    assert_eq!(guest.body["user"]["role"], "guest");

    // Out-of-range invite requests.
    for body in [
        json!({ "max_uses": 0 }),
        json!({ "expires_in_hours": 0 }),
        json!({ "expires_in_hours": 100000 }),
    ] {
        let reply = server.post("/api/auth/invites", body, Some(&admin)).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
    }
    let reply = server
        .post(
            "/api/auth/invites",
            json!({ "role": "owner" }),
            Some(&admin),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = server.post("/api/auth/invites", json!({}), None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // Only code hashes are stored.
    let hashes: Vec<String> = taina::db::query_scalar("SELECT code_hash FROM community_invites")
        .fetch_all(&server.state.db)
        .await
        .unwrap();
    assert!(hashes.iter().all(|h| h.len() == 64 && h != code));
}
