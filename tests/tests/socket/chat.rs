//! Chat over the socket: messages stored, replied, broadcast and idempotent; binary pushes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use taina_protocol::client::ClientError;
use taina_protocol::phoenix::Payload;
use taina_tests::socket::{drain, json_of, pair, WAIT};
use taina_tests::TestServer;

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
