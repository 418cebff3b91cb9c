//! The Phoenix V2 socket end to end through the Rust protocol client: handshake routing,
//! joins, chat, presence, recovery, live auth, limits and bad input. Runs on SQLite, and on
//! PostgreSQL when `TEST_DATABASE_URL` is set.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use taina_protocol::client::{ClientError, Incoming, PhoenixClient};
use taina_protocol::close;
use taina_protocol::phoenix::{self, Message, Payload};
use taina_tests::TestServer;

const WAIT: Duration = Duration::from_secs(5);

/// Reads until the server closes the socket; returns the close code.
async fn closed_with(client: &mut PhoenixClient) -> u16 {
    loop {
        match client.next_message(WAIT).await {
            Ok(Incoming::Closed { code, .. }) => return code,
            Ok(Incoming::Message(_)) => continue,
            Err(ClientError::Closed { code, .. }) => return code,
            Err(e) => panic!("expected a close, got {e:?}"),
        }
    }
}

/// Every message that arrives within `window`.
async fn drain(client: &mut PhoenixClient, window: Duration) -> Vec<Message> {
    let mut messages = Vec::new();
    while let Ok(Incoming::Message(m)) = client.next_message(window).await {
        messages.push(m);
    }
    messages
}

fn json_of(message: &Message) -> &Value {
    match &message.payload {
        Payload::Json(v) => v,
        other => panic!("expected JSON, got {other:?}"),
    }
}

/// An admin and a member of the same community, with a group conversation between them.
struct Pair {
    admin: String,
    member: String,
    admin_id: String,
    member_id: String,
    community_id: String,
    conversation: String,
}

async fn pair(server: &TestServer) -> Pair {
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let me = server.get("/api/auth/me", Some(&admin)).await.body;
    let member_id = server.user_id(&member).await;
    let created = server
        .post(
            "/api/chat/conversations",
            json!({ "kind": "group", "name": "Roda", "participant_ids": [member_id] }),
            Some(&admin),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    Pair {
        admin,
        member,
        admin_id: me["id"].as_str().unwrap().into(),
        member_id,
        community_id: me["community_id"].as_str().unwrap().into(),
        conversation: created.body["id"].as_str().unwrap().into(),
    }
}

async fn raw_upgrade(
    server: &TestServer,
    query: &str,
    protocols: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = server
        .client
        .get(format!("{}/socket/websocket{query}", server.url))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    if let Some(protocols) = protocols {
        request = request.header("sec-websocket-protocol", protocols);
    }
    let reply = server.send(request).await;
    (reply.status, reply.body)
}

#[tokio::test]
async fn the_upgrade_routes_by_version_and_refuses_what_it_does_not_serve() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let t = format!("?token={token}");

    let (status, body) = raw_upgrade(&server, &t, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "unsupported_protocol");
    assert!(body["error"]["message"].as_str().unwrap().contains("vsn"));
    let (status, _) = raw_upgrade(&server, &format!("{t}&vsn=1.0.0"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = raw_upgrade(&server, &format!("{t}&vsn=2.0.0"), Some("graphql-ws")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = raw_upgrade(&server, "?vsn=2.0.0", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("missing_token"))
    );
    let plain = server.get("/socket/websocket?vsn=2.0.0", None).await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST);

    match PhoenixClient::connect(&server.ws_url(), &[("token", "not-a-token")]).await {
        Err(ClientError::Handshake {
            status: Some(403),
            body,
        }) => assert!(body.contains("invalid_token"), "{body}"),
        other => panic!("expected 403, got {other:?}"),
    }

    // Without subprotocols no subprotocol is answered; with the authToken form, `phoenix` is.
    let plain = server.socket(&token).await;
    assert_eq!(plain.negotiated_protocol(), None);
    let mut by_header = PhoenixClient::connect_with_auth_token(&server.ws_url(), &token)
        .await
        .unwrap();
    assert_eq!(by_header.negotiated_protocol(), Some("phoenix"));
    by_header.heartbeat().await.unwrap();
}

#[tokio::test]
async fn joins_follow_the_topic_rules() {
    let server = TestServer::builder()
        .with_config(|c| c.realtime.max_channels_per_socket = 3)
        .start()
        .await;
    let p = pair(&server).await;
    let mut admin = server.socket(&p.admin).await;

    let reply = admin
        .join(&format!("user:{}", p.admin_id), json!({}))
        .await
        .unwrap();
    assert!(
        reply["epoch"].is_string() && reply["offset"].is_u64(),
        "{reply}"
    );
    match admin
        .join(&format!("user:{}", p.member_id), json!({}))
        .await
    {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "unauthorized"),
        other => panic!("{other:?}"),
    }
    match admin.join("community:someone-elses", json!({})).await {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "unauthorized"),
        other => panic!("{other:?}"),
    }
    match admin.join("room:lobby", json!({})).await {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "unmatched topic"),
        other => panic!("{other:?}"),
    }
    admin
        .join(&format!("community:{}", p.community_id), json!({}))
        .await
        .unwrap();
    admin.join("system:alerts", json!({})).await.unwrap();
    match admin
        .join(&format!("conversation:{}", p.conversation), json!({}))
        .await
    {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "too many channels joined"),
        other => panic!("{other:?}"),
    }
    admin.leave("system:alerts").await.unwrap();
    admin
        .join(&format!("conversation:{}", p.conversation), json!({}))
        .await
        .unwrap();

    // A conversation the user is not in looks like one that does not exist.
    let outsider = server
        .invited(&p.admin, "outsider@example.org", "member")
        .await;
    let mut outsider = server.socket(&outsider).await;
    match outsider
        .join(&format!("conversation:{}", p.conversation), json!({}))
        .await
    {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "unauthorized"),
        other => panic!("{other:?}"),
    }
    // Pushing to a topic that is not joined.
    let reply = outsider.push("community:x", "typing", json!({})).await;
    assert!(matches!(reply, Err(ClientError::Refused(r)) if r["reason"] == "unmatched topic"));
}

#[tokio::test]
async fn a_second_join_replaces_the_first() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let id = server.user_id(&token).await;
    let topic = format!("user:{id}");
    let mut client = server.socket(&token).await;
    client.join(&topic, json!({})).await.unwrap();
    let first_ref = client.join_ref(&topic).unwrap().to_string();
    client.join(&topic, json!({})).await.unwrap();
    let closed = client
        .expect_event(&topic, phoenix::event::CLOSE, WAIT)
        .await
        .unwrap();
    assert_eq!(closed.join_ref.as_deref(), Some(first_ref.as_str()));
    // The new join works.
    assert_eq!(
        client
            .push(&topic, "echo", json!({"a": 1}))
            .await
            .unwrap()
            .response,
        Payload::Json(json!({"a": 1}))
    );
}

#[tokio::test]
async fn chat_messages_are_stored_replied_broadcast_and_idempotent() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let topic = format!("conversation:{}", p.conversation);
    let mut admin = server.socket(&p.admin).await;
    let mut member = server.socket(&p.member).await;
    admin.join(&topic, json!({})).await.unwrap();
    member.join(&topic, json!({})).await.unwrap();

    let reply = admin
        .push(
            &topic,
            "new_msg",
            json!({ "body": "olá", "client_id": "c-1" }),
        )
        .await
        .unwrap();
    let Payload::Json(stored) = reply.response else {
        panic!()
    };
    assert_eq!(stored["body"], "olá");
    assert_eq!(stored["sender_id"], p.admin_id.as_str());
    assert_eq!(stored["offset"], 1);
    assert!(
        stored["id"].is_string()
            && stored["inserted_at"].is_string()
            && stored["epoch"].is_string()
    );

    let received = member.expect_event(&topic, "new_msg", WAIT).await.unwrap();
    assert_eq!(json_of(&received), &stored);
    assert_eq!(received.join_ref, None);

    // The same client_id again: the same message, no second broadcast.
    let again = admin
        .push(
            &topic,
            "new_msg",
            json!({ "body": "olá", "client_id": "c-1" }),
        )
        .await
        .unwrap();
    assert_eq!(again.response, Payload::Json(stored.clone()));
    let extra: Vec<_> = drain(&mut member, Duration::from_millis(300))
        .await
        .into_iter()
        .filter(|m| m.event == "new_msg")
        .collect();
    assert!(extra.is_empty(), "{extra:?}");

    for (payload, reason) in [
        (json!({ "body": "   " }), "empty_body"),
        (json!({ "body": "x".repeat(4001) }), "body_too_long"),
        (json!({ "text": "wrong field" }), "invalid_input"),
    ] {
        match admin.push(&topic, "new_msg", payload).await {
            Err(ClientError::Refused(r)) => assert_eq!(r["reason"], reason),
            other => panic!("{other:?}"),
        }
    }
    // Nothing was stored by the refused pushes.
    let history = server
        .get(
            &format!("/api/chat/conversations/{}/messages", p.conversation),
            Some(&p.member),
        )
        .await;
    assert_eq!(history.body["messages"].as_array().unwrap().len(), 1);

    // A message sent over HTTP reaches the socket too, with the next offset.
    let sent = server
        .post(
            &format!("/api/chat/conversations/{}/messages", p.conversation),
            json!({ "body": "por http" }),
            Some(&p.member),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED);
    // The sender's own devices get the broadcast too: first its own "olá", then the HTTP one.
    let own = admin.expect_event(&topic, "new_msg", WAIT).await.unwrap();
    assert_eq!(json_of(&own)["body"], "olá");
    let live = admin.expect_event(&topic, "new_msg", WAIT).await.unwrap();
    assert_eq!(json_of(&live)["body"], "por http");
    assert_eq!(json_of(&live)["offset"], 2);
}

#[tokio::test]
async fn presence_state_then_diffs_and_typing() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let topic = format!("community:{}", p.community_id);
    let mut admin = server.socket(&p.admin).await;
    admin
        .join(&topic, json!({ "device": "laptop" }))
        .await
        .unwrap();
    let state = admin
        .expect_event(&topic, phoenix::event::PRESENCE_STATE, WAIT)
        .await
        .unwrap();
    assert_eq!(state.join_ref.as_deref(), admin.join_ref(&topic));
    assert_eq!(json_of(&state), &json!({}));
    let own = admin
        .expect_event(&topic, phoenix::event::PRESENCE_DIFF, WAIT)
        .await
        .unwrap();
    assert_eq!(
        json_of(&own)["joins"][&p.admin_id]["metas"][0]["device"],
        "laptop"
    );

    let mut member = server.socket(&p.member).await;
    member
        .join(&topic, json!({ "device": "phone" }))
        .await
        .unwrap();
    let state = member
        .expect_event(&topic, phoenix::event::PRESENCE_STATE, WAIT)
        .await
        .unwrap();
    let meta = &json_of(&state)[&p.admin_id]["metas"][0];
    assert!(meta["phx_ref"].is_string() && meta["online_at"].is_string());
    let joined = admin
        .expect_event(&topic, phoenix::event::PRESENCE_DIFF, WAIT)
        .await
        .unwrap();
    assert_eq!(
        json_of(&joined)["joins"][&p.member_id]["metas"][0]["device"],
        "phone"
    );

    member.push(&topic, "typing", json!({})).await.unwrap();
    let typing = admin.expect_event(&topic, "typing", WAIT).await.unwrap();
    assert_eq!(
        json_of(&typing),
        &json!({ "user_id": p.member_id, "typing": true })
    );
    // Typing is throttled per connection.
    assert!(matches!(
        member.push(&topic, "typing", json!({})).await,
        Err(ClientError::Refused(_))
    ));

    member.close().await.unwrap();
    let left = admin
        .expect_event(&topic, phoenix::event::PRESENCE_DIFF, WAIT)
        .await
        .unwrap();
    assert!(json_of(&left)["leaves"][&p.member_id]["metas"][0]["phx_ref"].is_string());
}

#[tokio::test]
async fn conversation_recovery_after_a_reconnect_is_exact() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let topic = format!("conversation:{}", p.conversation);
    let mut member = server.socket(&p.member).await;
    let joined = member.join(&topic, json!({})).await.unwrap();
    let epoch = joined["epoch"].as_str().unwrap().to_string();
    let mut admin = server.socket(&p.admin).await;
    admin.join(&topic, json!({})).await.unwrap();
    admin
        .push(&topic, "new_msg", json!({ "body": "m1" }))
        .await
        .unwrap();
    let seen = member.expect_event(&topic, "new_msg", WAIT).await.unwrap();
    let last = json_of(&seen)["offset"].as_u64().unwrap();
    member.close().await.unwrap();

    for body in ["m2", "m3", "m4"] {
        admin
            .push(&topic, "new_msg", json!({ "body": body }))
            .await
            .unwrap();
    }
    // Recovery from storage: a fresh server-side topic history would also do, but restart
    // the topic's memory to prove the stored messages serve it.
    let mut member = server.socket(&p.member).await;
    let reply = member
        .join(
            &topic,
            json!({ "since": { "epoch": epoch, "offset": last } }),
        )
        .await
        .unwrap();
    assert_eq!(reply["recovered"], true);
    assert_eq!(reply["offset"], 4);
    admin
        .push(&topic, "new_msg", json!({ "body": "m5" }))
        .await
        .unwrap();
    let bodies: Vec<String> = drain(&mut member, Duration::from_millis(500))
        .await
        .iter()
        .filter(|m| m.event == "new_msg")
        .map(|m| json_of(m)["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(bodies, ["m2", "m3", "m4", "m5"]);

    let stale = member
        .join(
            &topic,
            json!({ "since": { "epoch": "another-epoch", "offset": 1 } }),
        )
        .await
        .unwrap();
    assert_eq!(stale["recovered"], false);
    match member.join(&topic, json!({ "since": "yesterday" })).await {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "invalid since"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn storage_recovery_serves_gaps_memory_no_longer_holds() {
    let server = TestServer::builder()
        .with_config(|c| c.realtime.history_size = 1)
        .start()
        .await;
    let p = pair(&server).await;
    let topic = format!("conversation:{}", p.conversation);
    let mut admin = server.socket(&p.admin).await;
    let joined = admin.join(&topic, json!({})).await.unwrap();
    let epoch = joined["epoch"].as_str().unwrap().to_string();
    for n in 1..=5 {
        admin
            .push(&topic, "new_msg", json!({ "body": format!("n{n}") }))
            .await
            .unwrap();
    }
    let mut member = server.socket(&p.member).await;
    let reply = member
        .join(&topic, json!({ "since": { "epoch": epoch, "offset": 1 } }))
        .await
        .unwrap();
    assert_eq!(reply["recovered"], true);
    let offsets: Vec<u64> = drain(&mut member, Duration::from_millis(300))
        .await
        .iter()
        .filter(|m| m.event == "new_msg")
        .map(|m| json_of(m)["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [2, 3, 4, 5]);
}

#[tokio::test]
async fn memory_topics_recover_within_their_window_and_say_so_beyond_it() {
    let server = TestServer::builder()
        .with_config(|c| c.realtime.history_size = 3)
        .start()
        .await;
    let p = pair(&server).await;
    let mut admin = server.socket(&p.admin).await;
    let mut member = server.socket(&p.member).await;
    admin.join("system:alerts", json!({})).await.unwrap();
    let joined = member.join("system:alerts", json!({})).await.unwrap();
    let epoch = joined["epoch"].as_str().unwrap().to_string();
    // Members listen; only admins publish.
    assert!(
        matches!(member.push("system:alerts", "alert", json!({"text": "x"})).await, Err(ClientError::Refused(r)) if r["reason"] == "forbidden")
    );
    let mut offsets = Vec::new();
    for n in 0..2 {
        let reply = admin
            .push("system:alerts", "alert", json!({ "text": format!("a{n}") }))
            .await
            .unwrap();
        let Payload::Json(position) = reply.response else {
            panic!()
        };
        offsets.push(position["offset"].as_u64().unwrap());
    }
    let first = member
        .expect_event("system:alerts", "alert", WAIT)
        .await
        .unwrap();
    assert_eq!(json_of(&first)["from"], p.admin_id.as_str());
    member.close().await.unwrap();
    admin
        .push("system:alerts", "alert", json!({ "text": "a2" }))
        .await
        .unwrap();

    let mut member = server.socket(&p.member).await;
    let reply = member
        .join(
            "system:alerts",
            json!({ "since": { "epoch": epoch, "offset": offsets[0] } }),
        )
        .await
        .unwrap();
    assert_eq!(reply["recovered"], true);
    let texts: Vec<String> = drain(&mut member, Duration::from_millis(300))
        .await
        .iter()
        .map(|m| json_of(m)["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["a1", "a2"]);

    for n in 3..8 {
        admin
            .push("system:alerts", "alert", json!({ "text": format!("a{n}") }))
            .await
            .unwrap();
    }
    let mut late = server.socket(&p.member).await;
    let reply = late
        .join(
            "system:alerts",
            json!({ "since": { "epoch": epoch, "offset": offsets[0] } }),
        )
        .await
        .unwrap();
    assert_eq!(
        reply["recovered"], false,
        "the window of 3 no longer covers the gap"
    );
}

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

#[tokio::test]
async fn removing_a_participant_closes_their_join() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let topic = format!("conversation:{}", p.conversation);
    let mut member = server.socket(&p.member).await;
    member.join(&topic, json!({})).await.unwrap();
    let removed = server
        .send(
            server
                .client
                .delete(format!(
                    "{}/api/chat/conversations/{}/participants/{}",
                    server.url, p.conversation, p.member_id
                ))
                .bearer_auth(&p.admin),
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    member
        .expect_event(&topic, phoenix::event::CLOSE, WAIT)
        .await
        .unwrap();
    // The socket itself stays up.
    member.heartbeat().await.unwrap();
    assert!(matches!(
        member.join(&topic, json!({})).await,
        Err(ClientError::Refused(_))
    ));
}

#[tokio::test]
async fn binary_push_reply_and_broadcast() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let user_topic = format!("user:{}", p.admin_id);
    let mut admin = server.socket(&p.admin).await;
    admin.join(&user_topic, json!({})).await.unwrap();
    let data: Vec<u8> = (0..=255).collect();
    let reply = admin.push_binary(&user_topic, "echo", &data).await.unwrap();
    assert_eq!(reply.status, "ok");
    assert_eq!(reply.response, Payload::Binary(data.clone().into()));
    let pushed = admin.expect_event(&user_topic, "echo", WAIT).await.unwrap();
    assert_eq!(pushed.payload, Payload::Binary(data.clone().into()));

    let topic = format!("conversation:{}", p.conversation);
    let mut member = server.socket(&p.member).await;
    admin.join(&topic, json!({})).await.unwrap();
    member.join(&topic, json!({})).await.unwrap();
    admin
        .push_binary(&topic, "binary", b"\x01\x02\x03")
        .await
        .unwrap();
    let got = member.expect_event(&topic, "binary", WAIT).await.unwrap();
    assert_eq!(
        got.payload,
        Payload::Binary(b"\x01\x02\x03".to_vec().into())
    );
}

#[tokio::test]
async fn bad_frames_get_their_documented_errors_and_nobody_else_notices() {
    let server = TestServer::builder()
        .with_config(|c| {
            c.realtime.max_text_frame_bytes = 4096;
            c.realtime.messages_per_second = 5;
            c.realtime.message_burst = 5;
            c.realtime.abuse_close_after = 20;
        })
        .start()
        .await;
    let token = server.admin().await;
    let id = server.user_id(&token).await;
    let mut bystander = server.socket(&token).await;
    bystander
        .join(&format!("user:{id}"), json!({}))
        .await
        .unwrap();

    enum Raw {
        Text(&'static str),
        Binary(&'static [u8]),
    }
    let cases = [
        ("invalid JSON", Raw::Text("[\"1\", \"1\", \"phoenix\"")),
        (
            "wrong arity",
            Raw::Text("[null, \"1\", \"phoenix\", \"heartbeat\"]"),
        ),
        (
            "an object frame",
            Raw::Text("{\"type\": \"connection_init\"}"),
        ),
        (
            "unknown binary kind",
            Raw::Binary(&[0x82, 0xa1, 0x61, 0x01]),
        ),
        ("a truncated binary header", Raw::Binary(&[0x00, 0x05])),
    ];
    for (what, frame) in cases {
        let mut client = server.socket(&token).await;
        match frame {
            Raw::Text(text) => client.send_text(text.to_string()).await.unwrap(),
            Raw::Binary(bytes) => client.send_binary(bytes.to_vec()).await.unwrap(),
        }
        assert_eq!(
            closed_with(&mut client).await,
            close::INVALID_FRAME,
            "{what}"
        );
    }

    let mut client = server.socket(&token).await;
    client
        .send_text(format!("[null, \"9\", \"user:{id}\", \"echo\", [1, 2]]"))
        .await
        .unwrap();
    let reply = client
        .expect_event(&format!("user:{id}"), phoenix::event::REPLY, WAIT)
        .await
        .unwrap();
    assert_eq!(json_of(&reply)["status"], "error");
    client.heartbeat().await.unwrap();

    let mut client = server.socket(&token).await;
    client
        .send_text(format!(
            "[null, \"1\", \"phoenix\", \"heartbeat\", {{\"pad\": \"{}\"}}]",
            "x".repeat(5000)
        ))
        .await
        .unwrap();
    assert_eq!(closed_with(&mut client).await, close::MESSAGE_TOO_BIG);

    // A flood: refused with rate_limited, then closed for persistent abuse.
    let mut flooder = server.socket(&token).await;
    flooder
        .join(&format!("user:{id}"), json!({}))
        .await
        .unwrap();
    let mut limited = 0;
    for _ in 0..40 {
        match flooder.push(&format!("user:{id}"), "echo", json!({})).await {
            Err(ClientError::Refused(r)) if r["reason"] == "rate_limited" => limited += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(limited > 0);
    assert_eq!(closed_with(&mut flooder).await, close::RATE_LIMITED);

    // The bystander never noticed.
    bystander.heartbeat().await.unwrap();
    assert_eq!(
        bystander
            .push(&format!("user:{id}"), "echo", json!({}))
            .await
            .unwrap()
            .status,
        "ok"
    );
}

#[tokio::test]
async fn a_slow_consumer_is_disconnected_and_the_others_keep_receiving() {
    let server = TestServer::builder()
        .with_config(|c| {
            c.realtime.outbox_bytes = 64 * 1024;
            c.realtime.messages_per_second = 100_000;
            c.realtime.message_burst = 100_000;
        })
        .start()
        .await;
    let p = pair(&server).await;
    let mut publisher = server.socket(&p.admin).await;
    publisher.join("system:alerts", json!({})).await.unwrap();
    let mut slow = server.socket(&p.member).await;
    slow.join("system:alerts", json!({})).await.unwrap();
    let mut fast = server.socket(&p.member).await;
    fast.join("system:alerts", json!({})).await.unwrap();

    // The slow client never reads while ~16 MB flow; the fast one keeps up.
    let filler = "x".repeat(8 * 1024);
    let total = 2000;
    let mut delivered = 0;
    for n in 0..total {
        publisher
            .push_no_reply(
                "system:alerts",
                "alert",
                json!({ "n": n, "filler": filler }),
            )
            .await
            .unwrap();
        // The publisher is subscribed too and must keep reading its own copies.
        while let Ok(Incoming::Message(m)) = fast.next_message(Duration::ZERO).await {
            if m.event == "alert" {
                delivered += 1;
            }
        }
        while let Ok(Incoming::Message(_)) = publisher.next_message(Duration::ZERO).await {}
    }
    let rest = drain(&mut fast, Duration::from_millis(500)).await;
    delivered += rest.iter().filter(|m| m.event == "alert").count();
    assert_eq!(delivered, total, "the fast subscriber got everything");
    assert_eq!(closed_with(&mut slow).await, close::SLOW_CONSUMER);
    // The hub no longer holds the slow connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.state.hub.connection_count(), 2);
}

#[tokio::test]
async fn connection_limits_are_http_errors() {
    let server = TestServer::builder()
        .with_config(|c| c.realtime.max_connections_per_user = 2)
        .start()
        .await;
    let token = server.admin().await;
    let _a = server.socket(&token).await;
    let _b = server.socket(&token).await;
    match PhoenixClient::connect(&server.ws_url(), &[("token", &token)]).await {
        Err(ClientError::Handshake {
            status: Some(429),
            body,
        }) => assert!(body.contains("too_many_connections")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn online_and_offline_events_are_debounced() {
    let server = TestServer::builder()
        .with_config(|c| c.realtime.offline_debounce_seconds = 1)
        .start()
        .await;
    let token = server.admin().await;
    let mut events = server.state.bus.subscribe();
    let socket = server.socket(&token).await;
    socket.close().await.unwrap();
    // A quick reconnect: still online, no offline event.
    let socket = server.socket(&token).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    socket.close().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut kinds = Vec::new();
    while let Ok(event) = events.try_recv() {
        if event.kind.starts_with("user.o") {
            kinds.push(event.kind.clone());
        }
    }
    assert_eq!(kinds, ["user.online", "user.offline"]);
}

#[tokio::test]
async fn idle_sockets_are_closed() {
    let server = TestServer::builder()
        .with_config(|c| c.realtime.idle_timeout_seconds = 1)
        .start()
        .await;
    let token = server.admin().await;
    let mut socket = server.socket(&token).await;
    assert_eq!(closed_with(&mut socket).await, close::IDLE_TIMEOUT);
}
