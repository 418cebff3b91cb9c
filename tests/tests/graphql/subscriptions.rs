//! Subscriptions fed from every protocol, and recovery with `since`.

use std::time::Duration;

use serde_json::json;
use taina_protocol::phoenix;
use taina_tests::graphql::{connect, gql, init, pair, recv, send, WAIT};
use taina_tests::TestServer;

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

/// A burst larger than a conversation's live channel (group commit stores it in a few
/// transactions and the feed hands it over at once): a subscriber that falls behind refills
/// from storage, and receives every message once, in order.
#[tokio::test]
async fn a_burst_reaches_every_subscriber_whole_and_in_order() {
    const BURST: u64 = 200;
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let subscription =
        "subscription($c: String!) { messageReceived(conversationId: $c) { body offset } }";
    let mut sockets = Vec::new();
    for id in ["a", "b"] {
        let mut socket = connect(&server, "graphql-transport-ws", "").await;
        init(&mut socket, &p.member).await;
        send(
            &mut socket,
            json!({ "id": id, "type": "subscribe", "payload": { "query": subscription,
                "variables": { "c": p.conversation } } }),
        )
        .await;
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let send_message =
        "mutation($c: String!, $b: String!) { sendMessage(conversationId: $c, body: $b) { offset } }";
    let sends = (1..=BURST).map(|n| {
        let (server, admin, conversation) = (&server, &p.admin, &p.conversation);
        async move {
            gql(
                server,
                Some(admin),
                send_message,
                json!({ "c": conversation, "b": format!("m{n}") }),
            )
            .await
        }
    });
    for answer in futures_util::future::join_all(sends).await {
        assert!(answer["errors"].is_null(), "{answer}");
    }
    for socket in &mut sockets {
        let mut offsets = Vec::new();
        while offsets.len() < BURST as usize {
            let next = recv(socket).await;
            offsets.push(
                next["payload"]["data"]["messageReceived"]["offset"]
                    .as_u64()
                    .unwrap(),
            );
        }
        assert_eq!(offsets, (1..=BURST).collect::<Vec<_>>());
    }
}
