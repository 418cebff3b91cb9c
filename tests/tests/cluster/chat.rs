//! Chat across nodes: a message stored through node A reaches a Phoenix socket and a GraphQL
//! subscription on node B, with the offset storage gave it, and recovery works from either.

use std::time::Duration;

use serde_json::json;
use taina_protocol::client::Incoming;
use taina_tests::graphql::{connect, init, recv, send};
use taina_tests::socket::pair;

use super::two_nodes;

#[tokio::test]
async fn a_message_sent_through_one_node_reaches_sockets_on_the_other() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let p = pair(&a).await;
    let topic = format!("conversation:{}", p.conversation);

    let mut on_b = b.socket(&p.member).await;
    on_b.join(&topic, json!({})).await.unwrap();
    let mut gql_on_b = connect(&b, "graphql-transport-ws", "").await;
    init(&mut gql_on_b, &p.member).await;
    send(
        &mut gql_on_b,
        json!({ "id": "s1", "type": "subscribe", "payload": {
            "query": "subscription($c: String!) { messageReceived(conversationId: $c) { id body offset } }",
            "variables": { "c": p.conversation } } }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let sent = a
        .post(
            &format!("/api/chat/conversations/{}/messages", p.conversation),
            json!({ "body": "from node A" }),
            Some(&p.admin),
        )
        .await;
    assert!(sent.status.is_success(), "{}", sent.body);
    let offset = sent.body["offset"].as_u64().expect("an offset");

    let pushed = loop {
        match on_b.next_message(Duration::from_secs(5)).await.unwrap() {
            Incoming::Message(m) if m.event == "new_msg" => break m,
            _ => continue,
        }
    };
    let taina_protocol::phoenix::Payload::Json(payload) = &pushed.payload else {
        panic!("a JSON push: {pushed:?}");
    };
    assert_eq!(payload["body"], "from node A", "{payload}");
    assert_eq!(payload["offset"].as_u64(), Some(offset), "{payload}");
    let next = recv(&mut gql_on_b).await;
    assert_eq!(
        next["payload"]["data"]["messageReceived"]["body"],
        "from node A"
    );
    assert_eq!(
        next["payload"]["data"]["messageReceived"]["offset"].as_u64(),
        Some(offset)
    );

    // A client that missed it rejoins on node A with `since`: recovered from storage.
    let mut on_a = a.socket(&p.member).await;
    let epoch = payload["epoch"].clone();
    let joined = on_a
        .join(
            &topic,
            json!({ "since": { "epoch": epoch, "offset": offset - 1 } }),
        )
        .await
        .unwrap();
    assert_eq!(joined["recovered"], true, "{joined}");
    let replayed = loop {
        match on_a.next_message(Duration::from_secs(5)).await.unwrap() {
            Incoming::Message(m) if m.event == "new_msg" => break m,
            _ => continue,
        }
    };
    let taina_protocol::phoenix::Payload::Json(replayed) = &replayed.payload else {
        panic!("a JSON push");
    };
    assert_eq!(replayed["offset"].as_u64(), Some(offset));
}
