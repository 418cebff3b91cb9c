//! GraphQL over HTTP and over the socket (graphql-transport-ws and the taina.v1 mux), with raw
//! frames so every close code of the protocol is checked. Runs on both backends.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use taina_protocol::close;
use taina_protocol::envelope::Envelope;
use taina_protocol::phoenix;
use taina_tests::TestServer;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Ws;

const WAIT: Duration = Duration::from_secs(5);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &TestServer, protocol: &str, query: &str) -> Socket {
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

async fn send(socket: &mut Socket, value: Value) {
    socket.send(Ws::text(value.to_string())).await.unwrap();
}

/// The next JSON text frame, skipping server pings.
async fn recv(socket: &mut Socket) -> Value {
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

async fn close_code(socket: &mut Socket) -> u16 {
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

async fn init(socket: &mut Socket, token: &str) {
    send(
        socket,
        json!({ "type": "connection_init", "payload": { "token": token } }),
    )
    .await;
    assert_eq!(recv(socket).await, json!({ "type": "connection_ack" }));
}

async fn gql(server: &TestServer, token: Option<&str>, query: &str, variables: Value) -> Value {
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

struct Pair {
    admin: String,
    member: String,
    conversation: String,
}

async fn pair(server: &TestServer) -> Pair {
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

#[tokio::test]
async fn graphql_over_http() {
    let server = TestServer::start().await;
    server.admin().await;
    let page = server
        .send(server.client.get(format!("{}/graphql", server.url)))
        .await;
    assert_eq!(page.status, StatusCode::OK);

    let signed = gql(
        &server,
        None,
        "mutation { signIn(email: \"admin@example.org\", password: \"admin password\") { token expiresAt user { id role } } }",
        json!({}),
    )
    .await;
    let token = signed["data"]["signIn"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(signed["data"]["signIn"]["user"]["role"], "ADMIN");
    let me = gql(
        &server,
        Some(&token),
        "{ me { email role communityId } }",
        json!({}),
    )
    .await;
    assert_eq!(me["data"]["me"]["email"], "admin@example.org");

    let anonymous = gql(&server, None, "{ me { id } }", json!({})).await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"],
        "unauthenticated"
    );
    let wrong = gql(
        &server,
        None,
        "mutation { signIn(email: \"admin@example.org\", password: \"nope nope\") { token } }",
        json!({}),
    )
    .await;
    assert_eq!(
        wrong["errors"][0]["extensions"]["code"],
        "invalid_credentials"
    );
    let bad_token = server
        .post(
            "/graphql",
            json!({ "query": "{ me { id } }" }),
            Some("garbage"),
        )
        .await;
    assert_eq!(bad_token.status, StatusCode::UNAUTHORIZED);

    // Depth and complexity limits.
    let nested = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }";
    let reply = gql(&server, Some(&token), nested, json!({})).await;
    assert!(
        reply["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("nested"),
        "{reply}"
    );
    let too_deep =
        "{ conversations { id } ".to_string() + &"a: conversations { id } ".repeat(600) + "}";
    let reply = gql(&server, Some(&token), &too_deep, json!({})).await;
    assert!(
        reply["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("complex"),
        "{reply}"
    );

    let out = gql(&server, Some(&token), "mutation { signOut }", json!({})).await;
    assert_eq!(out["data"]["signOut"], true);
    assert_eq!(
        server
            .post(
                "/graphql",
                json!({ "query": "{ me { id } }" }),
                Some(&token)
            )
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn chat_over_graphql_http() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let send_message = "mutation($c: String!, $b: String!, $k: String) { sendMessage(conversationId: $c, body: $b, clientId: $k) { id body offset epoch senderId } }";
    let first = gql(
        &server,
        Some(&p.admin),
        send_message,
        json!({ "c": p.conversation, "b": "um", "k": "k1" }),
    )
    .await;
    let again = gql(
        &server,
        Some(&p.admin),
        send_message,
        json!({ "c": p.conversation, "b": "um", "k": "k1" }),
    )
    .await;
    assert_eq!(first["data"]["sendMessage"], again["data"]["sendMessage"]);
    gql(
        &server,
        Some(&p.member),
        send_message,
        json!({ "c": p.conversation, "b": "dois", "k": null }),
    )
    .await;
    let empty = gql(
        &server,
        Some(&p.member),
        send_message,
        json!({ "c": p.conversation, "b": " ", "k": null }),
    )
    .await;
    assert_eq!(empty["errors"][0]["extensions"]["code"], "empty_body");

    let page = gql(
        &server,
        Some(&p.member),
        "query($c: String!) { messages(conversationId: $c, limit: 1) { messages { body offset } nextBefore } }",
        json!({ "c": p.conversation }),
    )
    .await;
    assert_eq!(
        page["data"]["messages"]["messages"],
        json!([{ "body": "dois", "offset": 2 }])
    );
    let older = gql(
        &server,
        Some(&p.member),
        "query($c: String!, $b: Int) { messages(conversationId: $c, before: $b) { messages { body } } }",
        json!({ "c": p.conversation, "b": page["data"]["messages"]["nextBefore"] }),
    )
    .await;
    assert_eq!(
        older["data"]["messages"]["messages"],
        json!([{ "body": "um" }])
    );

    let outsider = server
        .invited(&p.admin, "outsider@example.org", "member")
        .await;
    let hidden = gql(
        &server,
        Some(&outsider),
        "query($c: String!) { messages(conversationId: $c) { messages { body } } }",
        json!({ "c": p.conversation }),
    )
    .await;
    assert_eq!(hidden["errors"][0]["extensions"]["code"], "not_found");
    let listed = gql(
        &server,
        Some(&outsider),
        "{ conversations { id } }",
        json!({}),
    )
    .await;
    assert_eq!(listed["data"]["conversations"], json!([]));
}

#[tokio::test]
async fn subscriptions_reach_across_protocols() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let mut gql_socket = connect(&server, "graphql-transport-ws", "").await;
    init(&mut gql_socket, &p.member).await;
    send(
        &mut gql_socket,
        json!({ "type": "ping", "payload": { "n": 1 } }),
    )
    .await;
    assert_eq!(
        recv(&mut gql_socket).await,
        json!({ "type": "pong", "payload": { "n": 1 } })
    );
    send(
        &mut gql_socket,
        json!({ "id": "s1", "type": "subscribe", "payload": {
            "query": "subscription($c: String!) { messageReceived(conversationId: $c) { id body offset senderId } }",
            "variables": { "c": p.conversation } } }),
    )
    .await;
    // Give the subscription a moment to be registered before publishing.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Phoenix → GraphQL.
    let topic = format!("conversation:{}", p.conversation);
    let mut phoenix_client = server.socket(&p.admin).await;
    phoenix_client.join(&topic, json!({})).await.unwrap();
    let reply = phoenix_client
        .push(&topic, "new_msg", json!({ "body": "from phoenix" }))
        .await
        .unwrap();
    let phoenix::Payload::Json(stored) = reply.response else {
        panic!()
    };
    let next = recv(&mut gql_socket).await;
    assert_eq!(next["id"], "s1");
    assert_eq!(next["type"], "next");
    assert_eq!(
        next["payload"]["data"]["messageReceived"]["id"],
        stored["id"]
    );
    assert_eq!(
        next["payload"]["data"]["messageReceived"]["body"],
        "from phoenix"
    );

    // GraphQL (a mutation over the socket) → Phoenix.
    send(
        &mut gql_socket,
        json!({ "id": "m1", "type": "subscribe", "payload": {
            "query": "mutation($c: String!) { sendMessage(conversationId: $c, body: \"from graphql\") { id } }",
            "variables": { "c": p.conversation } } }),
    )
    .await;
    let mut mutation_result = None;
    let mut live = None;
    for _ in 0..3 {
        let frame = recv(&mut gql_socket).await;
        match (frame["id"].as_str(), frame["type"].as_str()) {
            (Some("m1"), Some("next")) => {
                mutation_result = Some(frame["payload"]["data"]["sendMessage"]["id"].clone())
            }
            (Some("s1"), Some("next")) => {
                live = Some(frame["payload"]["data"]["messageReceived"]["body"].clone())
            }
            (Some("m1"), Some("complete")) => {}
            other => panic!("unexpected {other:?}: {frame}"),
        }
    }
    assert_eq!(live, Some(json!("from graphql")));
    let over_phoenix = phoenix_client
        .expect_event(&topic, "new_msg", WAIT)
        .await
        .unwrap();
    let phoenix::Payload::Json(body) = over_phoenix.payload else {
        panic!()
    };
    // The admin's own Phoenix socket first sees its own "from phoenix" message.
    let second = if body["body"] == "from phoenix" {
        let phoenix::Payload::Json(b) = phoenix_client
            .expect_event(&topic, "new_msg", WAIT)
            .await
            .unwrap()
            .payload
        else {
            panic!()
        };
        b
    } else {
        body
    };
    assert_eq!(second["body"], "from graphql");
    assert_eq!(Some(second["id"].clone()), mutation_result);

    // Completing the subscription stops it; the id can be reused.
    send(&mut gql_socket, json!({ "id": "s1", "type": "complete" })).await;
    send(
        &mut gql_socket,
        json!({ "id": "s1", "type": "subscribe", "payload": { "query": "{ me { email } }" } }),
    )
    .await;
    assert_eq!(
        recv(&mut gql_socket).await["payload"]["data"]["me"]["email"],
        "member@example.org"
    );
    assert_eq!(
        recv(&mut gql_socket).await,
        json!({ "id": "s1", "type": "complete" })
    );
}

#[tokio::test]
async fn graphql_recovery_with_since() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let send_message = "mutation($c: String!, $b: String!) { sendMessage(conversationId: $c, body: $b) { offset epoch } }";
    let first = gql(
        &server,
        Some(&p.admin),
        send_message,
        json!({ "c": p.conversation, "b": "m1" }),
    )
    .await;
    let epoch = first["data"]["sendMessage"]["epoch"]
        .as_str()
        .unwrap()
        .to_string();
    for body in ["m2", "m3"] {
        gql(
            &server,
            Some(&p.admin),
            send_message,
            json!({ "c": p.conversation, "b": body }),
        )
        .await;
    }
    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    init(&mut socket, &p.member).await;
    let subscription = "subscription($c: String!, $s: SinceInput) { messageReceived(conversationId: $c, since: $s) { body offset } }";
    send(
        &mut socket,
        json!({ "id": "r", "type": "subscribe", "payload": { "query": subscription,
            "variables": { "c": p.conversation, "s": { "epoch": epoch, "offset": 1 } } } }),
    )
    .await;
    for expected in ["m2", "m3"] {
        assert_eq!(
            recv(&mut socket).await["payload"]["data"]["messageReceived"]["body"],
            expected
        );
    }
    gql(
        &server,
        Some(&p.admin),
        send_message,
        json!({ "c": p.conversation, "b": "m4" }),
    )
    .await;
    let live = recv(&mut socket).await;
    assert_eq!(
        live["payload"]["data"]["messageReceived"],
        json!({ "body": "m4", "offset": 4 })
    );

    send(
        &mut socket,
        json!({ "id": "w", "type": "subscribe", "payload": { "query": subscription,
            "variables": { "c": p.conversation, "s": { "epoch": "stale", "offset": 1 } } } }),
    )
    .await;
    let notice = recv(&mut socket).await;
    assert_eq!(notice["type"], "next", "{notice}");
    assert_eq!(
        notice["payload"]["errors"][0]["extensions"]["code"],
        "not_recovered"
    );
}

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
