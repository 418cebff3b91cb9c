//! Roles: what each may do, role changes and revocations taking effect at once, the last admin.

use reqwest::{Method, StatusCode};
use serde_json::json;
use taina_tests::TestServer;

#[tokio::test]
async fn roles_are_enforced() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let guest = server.invited(&admin, "guest@example.org", "guest").await;

    assert_eq!(
        server.get("/api/auth/me", Some(&guest)).await.body["role"],
        "guest"
    );
    assert_eq!(
        server.get("/api/auth/me", Some(&member)).await.body["role"],
        "member"
    );

    let listed = server.get("/api/auth/users", Some(&admin)).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["users"].as_array().unwrap().len(), 3);
    for token in [&member, &guest] {
        let reply = server.get("/api/auth/users", Some(token)).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::FORBIDDEN, "forbidden")
        );
    }
    // Guests cannot invite; members cannot hand out admin.
    let reply = server
        .post("/api/auth/invites", json!({}), Some(&guest))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = server
        .post(
            "/api/auth/invites",
            json!({ "role": "admin" }),
            Some(&member),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = server
        .post(
            "/api/auth/invites",
            json!({ "role": "guest" }),
            Some(&member),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    // A member cannot change roles.
    let member_id = server.get("/api/auth/me", Some(&member)).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = server
        .send_json(
            Method::PUT,
            &format!("/api/auth/users/{member_id}/role"),
            json!({ "role": "admin" }),
            Some(&member),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn role_changes_and_revocations_apply_at_once() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let member_id = server.get("/api/auth/me", Some(&member)).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Warm the session cache with the member role.
    assert_eq!(
        server.get("/api/auth/users", Some(&member)).await.status,
        StatusCode::FORBIDDEN
    );

    let promoted = server
        .send_json(
            Method::PUT,
            &format!("/api/auth/users/{member_id}/role"),
            json!({ "role": "admin" }),
            Some(&admin),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert_eq!(promoted.body["role"], "admin");
    assert_eq!(
        server.get("/api/auth/users", Some(&member)).await.status,
        StatusCode::OK
    );

    let bad_role = server
        .send_json(
            Method::PUT,
            &format!("/api/auth/users/{member_id}/role"),
            json!({ "role": "owner" }),
            Some(&admin),
        )
        .await;
    assert_eq!(bad_role.status, StatusCode::BAD_REQUEST);

    let revoked = server
        .send(
            server
                .client
                .delete(format!(
                    "{}/api/auth/users/{member_id}/sessions",
                    server.url
                ))
                .bearer_auth(&admin),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(revoked.body["revoked"], 1);
    let reply = server.get("/api/auth/me", Some(&member)).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNAUTHORIZED, "session_revoked")
    );
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let admin_id = server.get("/api/auth/me", Some(&admin)).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = server
        .send_json(
            Method::PUT,
            &format!("/api/auth/users/{admin_id}/role"),
            json!({ "role": "member" }),
            Some(&admin),
        )
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::CONFLICT, "last_admin")
    );
    let missing = server
        .send_json(
            Method::PUT,
            "/api/auth/users/CCCCCCCCCCCCCCCCCCCCC/role",
            json!({ "role": "member" }),
            Some(&admin),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
