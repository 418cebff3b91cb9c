//! Helpers shared by the graphql suite's modules (tests/tests/graphql): raw WebSocket frames for
//! graphql-transport-ws and the taina.v1 mux, GraphQL over HTTP, a pair of users in one
//! conversation.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Ws;

use crate::TestServer;

pub const WAIT: Duration = Duration::from_secs(5);

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(server: &TestServer, protocol: &str, query: &str) -> Socket {
    let mut request = format!("{}{query}", server.ws_url())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
    socket
}

pub async fn send(socket: &mut Socket, value: Value) {
    socket.send(Ws::text(value.to_string())).await.unwrap();
}

/// The next JSON text frame, skipping server pings.
pub async fn recv(socket: &mut Socket) -> Value {
    loop {
        match tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame in time")
        {
            Some(Ok(Ws::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ping" {
                    continue;
                }
                return value;
            }
            Some(Ok(Ws::Ping(_))) | Some(Ok(Ws::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

pub async fn close_code(socket: &mut Socket) -> u16 {
    loop {
        match tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a close in time")
        {
            Some(Ok(Ws::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

pub async fn init(socket: &mut Socket, token: &str) {
    send(
        socket,
        json!({ "type": "connection_init", "payload": { "token": token } }),
    )
    .await;
    assert_eq!(recv(socket).await, json!({ "type": "connection_ack" }));
}

pub async fn gql(server: &TestServer, token: Option<&str>, query: &str, variables: Value) -> Value {
    let reply = server
        .post(
            "/graphql",
            json!({ "query": query, "variables": variables }),
            token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

pub struct Pair {
    pub admin: String,
    pub member: String,
    pub conversation: String,
}

pub async fn pair(server: &TestServer) -> Pair {
    let admin = server.admin().await;
    let member = server.invited(&admin, "member@example.org", "member").await;
    let member_id = server.user_id(&member).await;
    let created = gql(
        server,
        Some(&admin),
        "mutation($ids: [String!]!) { createConversation(kind: GROUP, name: \"Roda\", participantIds: $ids) { id kind participantIds epoch lastOffset } }",
        json!({ "ids": [member_id] }),
    )
    .await;
    let conversation = &created["data"]["createConversation"];
    assert_eq!(conversation["kind"], "GROUP", "{created}");
    assert_eq!(conversation["participantIds"].as_array().unwrap().len(), 2);
    Pair {
        conversation: conversation["id"].as_str().unwrap().to_string(),
        admin,
        member,
    }
}
