//! graphql-transport-ws: every close code, sign-out, fresh tokens in band, session state before
//! message fields.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use taina_protocol::close;
use taina_tests::graphql::{close_code, connect, gql, init, pair, recv, send, Socket, WAIT};
use taina_tests::TestServer;
use tokio_tungstenite::tungstenite::Message as Ws;

#[tokio::test]
async fn every_graphql_transport_ws_close_code() {
    let server = TestServer::start().await;
    let token = server.admin().await;

    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    socket.send(Ws::text("{not json")).await.unwrap();
    assert_eq!(
        close_code(&mut socket).await,
        close::graphql::INVALID_MESSAGE
    );

    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    send(&mut socket, json!({ "type": "what" })).await;
    assert_eq!(
        close_code(&mut socket).await,
        close::graphql::INVALID_MESSAGE
    );

    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ me { id } }" } }),
    )
    .await;
    assert_eq!(close_code(&mut socket).await, close::graphql::UNAUTHORIZED);

    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "token": "bad" } }),
    )
    .await;
    assert_eq!(close_code(&mut socket).await, close::graphql::FORBIDDEN);

    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    assert_eq!(close_code(&mut socket).await, close::graphql::INIT_TIMEOUT);

    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    init(&mut socket, &token).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "token": token } }),
    )
    .await;
    assert_eq!(close_code(&mut socket).await, close::graphql::TOO_MANY_INIT);

    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    init(&mut socket, &token).await;
    let subscription =
        json!({ "query": "subscription { userPresence(communityId: \"x\") { userId } }" });
    // A refused subscription is an `error` message, not a close.
    send(
        &mut socket,
        json!({ "id": "a", "type": "subscribe", "payload": subscription }),
    )
    .await;
    let error = recv(&mut socket).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["payload"][0]["extensions"]["code"], "forbidden");
    let community = server.get("/api/auth/me", Some(&token)).await.body["community_id"].clone();
    let live = json!({ "query": "subscription($c: String!) { userPresence(communityId: $c) { userId online } }", "variables": { "c": community } });
    send(
        &mut socket,
        json!({ "id": "a", "type": "subscribe", "payload": live }),
    )
    .await;
    assert_eq!(
        recv(&mut socket).await["payload"]["data"]["userPresence"]["online"],
        true
    );
    send(
        &mut socket,
        json!({ "id": "a", "type": "subscribe", "payload": live }),
    )
    .await;
    assert_eq!(
        close_code(&mut socket).await,
        close::graphql::SUBSCRIBER_EXISTS
    );

    // Binary frames are not part of graphql-transport-ws.
    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    socket.send(Ws::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(close_code(&mut socket).await, close::INVALID_FRAME);

    // Validation errors are `error` messages and the socket carries on.
    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    init(&mut socket, &token).await;
    send(
        &mut socket,
        json!({ "id": "v", "type": "subscribe", "payload": { "query": "{ nope }" } }),
    )
    .await;
    assert_eq!(recv(&mut socket).await["type"], "error");
    send(
        &mut socket,
        json!({ "id": "v", "type": "subscribe", "payload": { "query": "{ me { email } }" } }),
    )
    .await;
    assert_eq!(recv(&mut socket).await["type"], "next");
}

#[tokio::test]
async fn signing_out_closes_graphql_sockets_with_4403() {
    let server = TestServer::start().await;
    let token = server.admin().await;
    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    init(&mut socket, &token).await;
    server
        .post("/api/auth/signout", json!({}), Some(&token))
        .await;
    assert_eq!(close_code(&mut socket).await, close::SESSION_ENDED);
}

#[tokio::test]
async fn graphql_sockets_take_a_fresh_token_in_band() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let second = server.token("member@example.org", "member password").await;
    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    init(&mut socket, &p.member).await;
    send(
        &mut socket,
        json!({ "id": "s", "type": "subscribe", "payload": {
            "query": "subscription($c: String!) { messageReceived(conversationId: $c) { body } }",
            "variables": { "c": p.conversation } } }),
    )
    .await;
    send(
        &mut socket,
        json!({ "id": "r", "type": "subscribe", "payload": {
            "query": "mutation($t: String!) { refreshToken(token: $t) }", "variables": { "t": second } } }),
    )
    .await;
    let refreshed = recv(&mut socket).await;
    assert_eq!(refreshed["id"], "r", "{refreshed}");
    assert!(
        refreshed["payload"]["data"]["refreshToken"].is_string(),
        "{refreshed}"
    );
    assert_eq!(
        recv(&mut socket).await,
        json!({ "id": "r", "type": "complete" })
    );

    // The first session ends: the socket and its subscription carry on.
    server
        .post("/api/auth/signout", json!({}), Some(&p.member))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    gql(
        &server,
        Some(&p.admin),
        "mutation($c: String!) { sendMessage(conversationId: $c, body: \"still there\") { id } }",
        json!({ "c": p.conversation }),
    )
    .await;
    let live = recv(&mut socket).await;
    assert_eq!(
        live["payload"]["data"]["messageReceived"]["body"], "still there",
        "{live}"
    );
    // The refreshed session ending closes it.
    server
        .post("/api/auth/signout", json!({}), Some(&second))
        .await;
    assert_eq!(close_code(&mut socket).await, close::SESSION_ENDED);

    // Over HTTP there is no socket to refresh.
    let admin = server.token("admin@example.org", "admin password").await;
    let http = gql(
        &server,
        Some(&admin),
        "mutation($t: String!) { refreshToken(token: $t) }",
        json!({ "t": admin }),
    )
    .await;
    assert_eq!(http["errors"][0]["extensions"]["code"], "invalid_input");
}

/// The close frame's code and reason.
async fn close_frame(socket: &mut Socket) -> (u16, String) {
    loop {
        match tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a close in time")
        {
            Some(Ok(Ws::Close(Some(frame)))) => {
                return (frame.code.into(), frame.reason.to_string())
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn session_state_is_checked_before_message_fields() {
    let server = TestServer::start().await;
    let token = server.admin().await;

    // `subscribe` before the ack is 4401 even without an id or payload.
    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    send(&mut socket, json!({ "type": "subscribe" })).await;
    assert_eq!(close_code(&mut socket).await, close::graphql::UNAUTHORIZED);

    // A second `connection_init` is 4429 even with a malformed payload.
    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    init(&mut socket, &token).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": 7 }),
    )
    .await;
    assert_eq!(close_code(&mut socket).await, close::graphql::TOO_MANY_INIT);

    // A first one with a malformed payload is 4400, with the reason.
    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": 7 }),
    )
    .await;
    assert_eq!(
        close_frame(&mut socket).await,
        (
            close::graphql::INVALID_MESSAGE,
            "Invalid message received: payload must be an object".into()
        )
    );

    // A duplicate of a live id is 4409 even when the new payload's query is bad.
    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    init(&mut socket, &token).await;
    let community = server.get("/api/auth/me", Some(&token)).await.body["community_id"].clone();
    let live = json!({ "query": "subscription($c: String!) { userPresence(communityId: $c) { userId online } }", "variables": { "c": community } });
    send(
        &mut socket,
        json!({ "id": "a", "type": "subscribe", "payload": live }),
    )
    .await;
    assert_eq!(recv(&mut socket).await["type"], "next");
    send(
        &mut socket,
        json!({ "id": "a", "type": "subscribe", "payload": { "query": 1 } }),
    )
    .await;
    assert_eq!(
        close_code(&mut socket).await,
        close::graphql::SUBSCRIBER_EXISTS
    );

    // After the ack, field problems are 4400 with what was wrong.
    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    init(&mut socket, &token).await;
    send(
        &mut socket,
        json!({ "id": "b", "type": "subscribe", "payload": { "query": 1 } }),
    )
    .await;
    assert_eq!(
        close_frame(&mut socket).await,
        (
            close::graphql::INVALID_MESSAGE,
            "Invalid message received: payload.query must be a string".into()
        )
    );
}
