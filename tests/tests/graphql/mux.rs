//! The taina.v1 mux: Phoenix, GraphQL and envelopes on one socket, authentication by
//! connection_init.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use taina_protocol::close;
use taina_protocol::envelope::Envelope;
use taina_protocol::phoenix;
use taina_tests::graphql::{close_code, connect, pair, send, Socket, WAIT};
use taina_tests::TestServer;
use tokio_tungstenite::tungstenite::Message as Ws;

#[tokio::test]
async fn mux_carries_phoenix_graphql_and_envelopes_on_one_socket() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let mut socket = connect(&server, "taina.v1", &format!("?token={}", p.member)).await;
    let topic = format!("conversation:{}", p.conversation);

    // Phoenix join on the mux socket.
    socket
        .send(Ws::text(phoenix::encode_text(
            Some("1"),
            Some("1"),
            &topic,
            "phx_join",
            &json!({}),
        )))
        .await
        .unwrap();
    let reply = recv_array(&mut socket).await;
    assert_eq!(reply[3], "phx_reply");
    assert_eq!(reply[4]["status"], "ok");
    // GraphQL on the same socket (the upgrade token already identifies the user).
    send(&mut socket, json!({ "type": "connection_init" })).await;
    let mut saw_ack = false;
    for _ in 0..4 {
        match next_frame(&mut socket).await {
            Frame::Object(v) if v["type"] == "connection_ack" => {
                saw_ack = true;
                break;
            }
            _ => {}
        }
    }
    assert!(saw_ack);
    // A MessagePack ping envelope is answered with a pong.
    socket
        .send(Ws::binary(Envelope::Ping { id: 9 }.encode()))
        .await
        .unwrap();
    let mut saw_pong = false;
    for _ in 0..4 {
        if let Frame::Envelope(Envelope::Pong { id: 9 }) = next_frame(&mut socket).await {
            saw_pong = true;
            break;
        }
    }
    assert!(saw_pong);
    // A GraphQL fatal error (a second init) ends only the GraphQL sub-session.
    send(&mut socket, json!({ "type": "connection_init" })).await;
    let mut notice = None;
    for _ in 0..4 {
        if let Frame::Envelope(envelope) = next_frame(&mut socket).await {
            notice = Some(envelope);
            break;
        }
    }
    assert_eq!(
        notice,
        Some(Envelope::Close {
            sub: "gql".into(),
            code: close::graphql::TOO_MANY_INIT,
            reason: "Too many initialisation requests".into()
        })
    );
    // Phoenix still works on the same socket: a message round trip.
    socket
        .send(Ws::text(phoenix::encode_text(
            Some("1"),
            Some("2"),
            &topic,
            "new_msg",
            &json!({ "body": "still here" }),
        )))
        .await
        .unwrap();
    let mut replied = false;
    for _ in 0..6 {
        if let Frame::Array(a) = next_frame(&mut socket).await {
            if a[3] == "phx_reply" && a[1] == "2" {
                assert_eq!(a[4]["status"], "ok");
                replied = true;
                break;
            }
        }
    }
    assert!(replied);
    // And a new GraphQL sub-session may start.
    send(&mut socket, json!({ "type": "connection_init" })).await;
    let mut acked = false;
    for _ in 0..6 {
        if let Frame::Object(v) = next_frame(&mut socket).await {
            if v["type"] == "connection_ack" {
                acked = true;
                break;
            }
        }
    }
    assert!(acked);
    // Garbage in mux mode closes with 4400.
    socket.send(Ws::binary(vec![0x07, 0x01])).await.unwrap();
    assert_eq!(close_code(&mut socket).await, close::INVALID_FRAME);
}

#[tokio::test]
async fn mux_without_a_token_authenticates_with_connection_init() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let id = server.user_id(&token).await;
    let mut socket = connect(&server, "taina.v1", "").await;
    let topic = format!("user:{id}");
    socket
        .send(Ws::text(phoenix::encode_text(
            Some("1"),
            Some("1"),
            &topic,
            "phx_join",
            &json!({}),
        )))
        .await
        .unwrap();
    let refused = recv_array(&mut socket).await;
    assert_eq!(
        refused[4],
        json!({ "status": "error", "response": { "reason": "unauthorized" } })
    );
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "token": token } }),
    )
    .await;
    assert_eq!(
        next_frame(&mut socket).await,
        Frame::Object(json!({ "type": "connection_ack" }))
    );
    socket
        .send(Ws::text(phoenix::encode_text(
            Some("3"),
            Some("3"),
            &topic,
            "phx_join",
            &json!({}),
        )))
        .await
        .unwrap();
    let joined = recv_array(&mut socket).await;
    assert_eq!(joined[4]["status"], "ok");
}

#[derive(Debug, PartialEq)]
enum Frame {
    Array(Vec<Value>),
    Object(Value),
    Envelope(Envelope),
}

async fn next_frame(socket: &mut Socket) -> Frame {
    loop {
        match tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame in time")
        {
            Some(Ok(Ws::Text(text))) => {
                return match serde_json::from_str::<Value>(&text).unwrap() {
                    Value::Array(items) => Frame::Array(items),
                    other => Frame::Object(other),
                }
            }
            Some(Ok(Ws::Binary(bytes))) => {
                return Frame::Envelope(Envelope::decode(&bytes).expect("envelope"))
            }
            Some(Ok(_)) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn recv_array(socket: &mut Socket) -> Vec<Value> {
    loop {
        if let Frame::Array(items) = next_frame(socket).await {
            if items[3] == "phx_reply" {
                return items;
            }
        }
    }
}
