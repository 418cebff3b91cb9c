//! Live auth: sign-out, revocation and expiry end sockets; a fresh token keeps one alive.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use taina_protocol::client::{ClientError, PhoenixClient};
use taina_protocol::close;
use taina_protocol::phoenix::{self, Payload};
use taina_tests::socket::{closed_with, WAIT};
use taina_tests::TestServer;

#[tokio::test]
async fn signing_out_revoking_and_expiry_end_live_sockets() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let member_id = server.user_id(&member).await;

    // Sign-out: phx_close for the join, then close 4403.
    let mut socket = server.socket(&member).await;
    socket
        .join(&format!("user:{member_id}"), json!({}))
        .await
        .unwrap();
    server
        .post("/api/auth/signout", json!({}), Some(&member))
        .await;
    socket
        .expect_event(&format!("user:{member_id}"), phoenix::event::CLOSE, WAIT)
        .await
        .unwrap();
    assert_eq!(closed_with(&mut socket).await, close::SESSION_ENDED);
    // The revoked token cannot reconnect.
    assert!(matches!(
        PhoenixClient::connect(&server.ws_url(), &[("token", &member)]).await,
        Err(ClientError::Handshake {
            status: Some(403),
            ..
        })
    ));

    // An admin revoking all of a user's sessions.
    let member = server.token("member@example.org", "member password").await;
    let mut socket = server.socket(&member).await;
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
    assert_eq!(closed_with(&mut socket).await, close::SESSION_ENDED);

    // A revocation written straight to the database (as `taina session revoke` in another
    // process does) is picked up by the watcher within about a second.
    let member = server.token("member@example.org", "member password").await;
    let mut socket = server.socket(&member).await;
    server
        .execute_with_time(
            "UPDATE user_sessions SET revoked_at = $1 WHERE revoked_at IS NULL",
            chrono::Utc::now(),
        )
        .await;
    assert_eq!(closed_with(&mut socket).await, close::SESSION_ENDED);

    // Expiry: the socket closes when the session runs out.
    let member = server.token("member@example.org", "member password").await;
    server
        .execute_with_time(
            "UPDATE user_sessions SET expires_at = $1 WHERE revoked_at IS NULL",
            chrono::Utc::now() + chrono::Duration::milliseconds(800),
        )
        .await;
    let mut socket = server.socket(&member).await;
    socket
        .join(&format!("user:{member_id}"), json!({}))
        .await
        .unwrap();
    assert_eq!(closed_with(&mut socket).await, close::SESSION_ENDED);
}

#[tokio::test]
async fn a_fresh_token_handed_over_the_socket_keeps_it_alive() {
    let server = TestServer::start().await;
    let first = server.admin().await;
    let second = server.token("admin@example.org", "admin password").await;
    let id = server.user_id(&first).await;
    let topic = format!("user:{id}");
    let mut socket = server.socket(&first).await;
    socket.join(&topic, json!({})).await.unwrap();
    match socket
        .push(&topic, "refresh_token", json!({ "token": "garbage" }))
        .await
    {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "invalid_token"),
        other => panic!("{other:?}"),
    }
    let reply = socket
        .push(&topic, "refresh_token", json!({ "token": second }))
        .await
        .unwrap();
    assert!(matches!(reply.response, Payload::Json(ref v) if v["expires_at"].is_string()));
    // Ending the first session no longer touches this socket…
    server
        .post("/api/auth/signout", json!({}), Some(&first))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    socket.heartbeat().await.unwrap();
    assert_eq!(
        socket
            .push(&topic, "echo", json!({"still": "here"}))
            .await
            .unwrap()
            .status,
        "ok"
    );
    // …ending the second does.
    server
        .post("/api/auth/signout", json!({}), Some(&second))
        .await;
    assert_eq!(closed_with(&mut socket).await, close::SESSION_ENDED);
}
