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

/// A burst (group commit stores it in a few transactions and the feed hands it over at once)
/// reaches two subscribers of the same request, served by one group, every message once, in
/// order.
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

async fn subscribe(socket: &mut taina_tests::graphql::Socket, id: &str, query: &str, c: &str) {
    send(
        socket,
        json!({ "id": id, "type": "subscribe", "payload": { "query": query,
            "variables": { "c": c } } }),
    )
    .await;
}

async fn say(server: &TestServer, token: &str, conversation: &str, body: &str) -> u64 {
    let answer = gql(
        server,
        Some(token),
        "mutation($c: String!, $b: String!) { sendMessage(conversationId: $c, body: $b) { offset } }",
        json!({ "c": conversation, "b": body }),
    )
    .await;
    answer["data"]["sendMessage"]["offset"]
        .as_u64()
        .unwrap_or_else(|| panic!("{answer}"))
}

/// Subscribers of one conversation with the same request share a group, with another request
/// another: each gets its own shape; completing one leaves the others; a subscriber removed
/// from the conversation gets `not_found` and `complete`, the others go on.
#[tokio::test]
async fn subscribers_served_together_end_one_by_one() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let bodies = "subscription($c: String!) { messageReceived(conversationId: $c) { body } }";
    let offsets =
        "subscription Offsets($c: String!) { m: messageReceived(conversationId: $c) { offset } }";
    let mut admin = connect(&server, "graphql-transport-ws", "").await;
    init(&mut admin, &p.admin).await;
    subscribe(&mut admin, "a1", bodies, &p.conversation).await;
    subscribe(&mut admin, "a2", offsets, &p.conversation).await;
    let mut member = connect(&server, "graphql-transport-ws", "").await;
    init(&mut member, &p.member).await;
    subscribe(&mut member, "m1", bodies, &p.conversation).await;
    subscribe(&mut member, "m2", bodies, &p.conversation).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let first = say(&server, &p.admin, &p.conversation, "one").await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(recv(&mut admin).await);
    }
    seen.sort_by_key(|frame| frame["id"].as_str().map(String::from));
    assert_eq!(
        seen,
        vec![
            json!({ "id": "a1", "type": "next", "payload": { "data": { "messageReceived": { "body": "one" } } } }),
            json!({ "id": "a2", "type": "next", "payload": { "data": { "m": { "offset": first } } } }),
        ]
    );
    for id in ["m1", "m2"] {
        let next = recv(&mut member).await;
        assert_eq!(next["id"], id, "{next}");
        assert_eq!(next["payload"]["data"]["messageReceived"]["body"], "one");
    }

    // m1 completes; m2 goes on.
    send(&mut member, json!({ "id": "m1", "type": "complete" })).await;
    say(&server, &p.admin, &p.conversation, "two").await;
    let next = recv(&mut member).await;
    assert_eq!(next["id"], "m2", "{next}");
    assert_eq!(next["payload"]["data"]["messageReceived"]["body"], "two");
    for _ in 0..2 {
        recv(&mut admin).await;
    }

    // The member is removed: its subscription ends with not_found; the admin's go on.
    let member_id = server.user_id(&p.member).await;
    let removed = gql(
        &server,
        Some(&p.admin),
        "mutation($c: String!, $u: String!) { removeParticipant(conversationId: $c, userId: $u) }",
        json!({ "c": p.conversation, "u": member_id }),
    )
    .await;
    assert_eq!(removed["data"]["removeParticipant"], true, "{removed}");
    let ended = recv(&mut member).await;
    assert_eq!(ended["id"], "m2", "{ended}");
    assert_eq!(ended["type"], "next", "{ended}");
    assert_eq!(
        ended["payload"]["errors"][0]["extensions"]["code"], "not_found",
        "{ended}"
    );
    assert_eq!(
        ended["payload"]["errors"][0]["path"],
        json!(["messageReceived"])
    );
    assert_eq!(
        recv(&mut member).await,
        json!({ "id": "m2", "type": "complete" })
    );
    let third = say(&server, &p.admin, &p.conversation, "three").await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(recv(&mut admin).await);
    }
    seen.sort_by_key(|frame| frame["id"].as_str().map(String::from));
    assert_eq!(
        seen[0]["payload"]["data"]["messageReceived"]["body"],
        "three"
    );
    assert_eq!(seen[1]["payload"]["data"]["m"]["offset"], third);
    // The member's socket has nothing more.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), recv(&mut member))
            .await
            .is_err(),
        "nothing after complete"
    );
}

/// Messages whose events never reached this node (stored through another node sharing the
/// database, without a bus between them) are a gap in the offsets: filled from storage, in
/// order, before the next live message.
#[tokio::test]
async fn a_gap_in_live_messages_is_filled_from_storage() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let other = TestServer::builder().sharing(&server).start().await;
    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    init(&mut socket, &p.member).await;
    subscribe(
        &mut socket,
        "s",
        "subscription($c: String!) { messageReceived(conversationId: $c) { body offset } }",
        &p.conversation,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut sent = vec![say(&server, &p.admin, &p.conversation, "here 1").await];
    sent.push(say(&other, &p.admin, &p.conversation, "there 2").await);
    sent.push(say(&other, &p.admin, &p.conversation, "there 3").await);
    sent.push(say(&server, &p.admin, &p.conversation, "here 4").await);
    let mut received = Vec::new();
    for _ in 0..4 {
        let next = recv(&mut socket).await;
        let message = &next["payload"]["data"]["messageReceived"];
        received.push((message["offset"].as_u64().unwrap(), message["body"].clone()));
    }
    assert_eq!(
        received,
        vec![
            (sent[0], json!("here 1")),
            (sent[1], json!("there 2")),
            (sent[2], json!("there 3")),
            (sent[3], json!("here 4")),
        ]
    );
}

/// `messageReceived` must be its subscription's one root field (GraphQL's single root field
/// rule; served in groups, it cannot share an operation with another field's stream), and the
/// refusal leaves the socket as it was.
#[tokio::test]
async fn message_received_beside_another_root_field_is_refused() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    init(&mut socket, &p.member).await;
    subscribe(
        &mut socket,
        "two",
        "subscription($c: String!) { messageReceived(conversationId: $c) { body } messageActivity(conversationId: $c) { offset } }",
        &p.conversation,
    )
    .await;
    let refused = recv(&mut socket).await;
    assert_eq!(refused["id"], "two", "{refused}");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "invalid_input");
    // The id is free again, and the socket serves the subscription alone.
    subscribe(
        &mut socket,
        "two",
        "subscription($c: String!) { messageReceived(conversationId: $c) { body } }",
        &p.conversation,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    say(&server, &p.admin, &p.conversation, "alone").await;
    let next = recv(&mut socket).await;
    assert_eq!(next["id"], "two", "{next}");
    assert_eq!(next["payload"]["data"]["messageReceived"]["body"], "alone");
}

/// Subscribing with `since` while messages keep arriving: those stored before the position is
/// read come as the recovery prefix, those after live (held while the prefix goes out), each
/// once and in order.
#[tokio::test]
async fn a_subscription_made_while_messages_arrive_misses_none_and_repeats_none() {
    const MESSAGES: u64 = 120;
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let first = gql(
        &server,
        Some(&p.admin),
        "mutation($c: String!) { sendMessage(conversationId: $c, body: \"1\") { epoch } }",
        json!({ "c": p.conversation }),
    )
    .await;
    let epoch = first["data"]["sendMessage"]["epoch"].clone();
    let sender = {
        let (url, admin, conversation) =
            (server.url.clone(), p.admin.clone(), p.conversation.clone());
        let client = server.client.clone();
        tokio::spawn(async move {
            for n in 2..=MESSAGES {
                let answer: serde_json::Value = client
                    .post(format!("{url}/graphql"))
                    .bearer_auth(&admin)
                    .json(&json!({
                        "query": "mutation($c: String!, $b: String!) { sendMessage(conversationId: $c, body: $b) { offset } }",
                        "variables": { "c": conversation, "b": n.to_string() } }))
                    .send()
                    .await
                    .expect("sent")
                    .json()
                    .await
                    .expect("JSON");
                assert!(answer["errors"].is_null(), "{answer}");
            }
        })
    };
    // Some messages in, more on the way.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut socket = connect(&server, "graphql-transport-ws", "").await;
    init(&mut socket, &p.member).await;
    send(
        &mut socket,
        json!({ "id": "r", "type": "subscribe", "payload": {
            "query": "subscription($c: String!, $s: SinceInput) { messageReceived(conversationId: $c, since: $s) { body offset } }",
            "variables": { "c": p.conversation, "s": { "epoch": epoch, "offset": 0 } } } }),
    )
    .await;
    let mut offsets = Vec::new();
    while offsets.len() < MESSAGES as usize {
        let next = recv(&mut socket).await;
        let message = &next["payload"]["data"]["messageReceived"];
        let offset = message["offset"]
            .as_u64()
            .unwrap_or_else(|| panic!("{next}"));
        assert_eq!(message["body"], offset.to_string(), "{next}");
        offsets.push(offset);
    }
    sender.await.expect("sender");
    assert_eq!(offsets, (1..=MESSAGES).collect::<Vec<_>>());
    assert!(
        tokio::time::timeout(Duration::from_millis(300), recv(&mut socket))
            .await
            .is_err(),
        "nothing twice"
    );
}
