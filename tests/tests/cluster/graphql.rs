//! GraphQL subscriptions see events from every node: a photo processed through node A reaches
//! `photoUploaded` on node B (and the owner's `user:` topic there, with a log offset), and a
//! device connecting to node A reaches `userPresence` on node B.

use std::time::Duration;

use serde_json::json;
use taina_tests::graphql::{connect, init, recv, send};
use taina_tests::socket::{next_event, pair};

use super::two_nodes;

#[tokio::test]
async fn photo_uploaded_and_user_presence_reach_subscribers_on_the_other_node() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let p = pair(&a).await;
    let mut gql_on_b = connect(&b, "graphql-transport-ws", "").await;
    init(&mut gql_on_b, &p.admin).await;
    send(
        &mut gql_on_b,
        json!({ "id": "photos", "type": "subscribe", "payload": {
            "query": "subscription { photoUploaded { id processingStatus } }" } }),
    )
    .await;
    send(
        &mut gql_on_b,
        json!({ "id": "presence", "type": "subscribe", "payload": {
            "query": "subscription($c: String!) { userPresence(communityId: $c) { userId online } }",
            "variables": { "c": p.community_id } } }),
    )
    .await;
    let mut admin_on_b = b.socket(&p.admin).await;
    let user_topic = format!("user:{}", p.admin_id);
    let joined = admin_on_b.join(&user_topic, json!({})).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let member_on_a = a.socket(&p.member).await;
    let uploaded = taina_tests::media::upload(
        &a,
        &p.admin,
        "across.jpg",
        taina_tests::media::jpeg(40, 30, 9),
    )
    .await;
    assert!(uploaded.status.is_success(), "{}", uploaded.body);
    let photo_id = uploaded.body["photo"]["id"].as_str().unwrap().to_owned();

    let (mut photo, mut online) = (None, false);
    while photo.is_none() || !online {
        let next = recv(&mut gql_on_b).await;
        match next["id"].as_str() {
            Some("photos") => photo = Some(next["payload"]["data"]["photoUploaded"].clone()),
            Some("presence") => {
                let event = &next["payload"]["data"]["userPresence"];
                online |= event["userId"] == p.member_id.as_str() && event["online"] == true;
            }
            _ => panic!("{next}"),
        }
    }
    assert_eq!(
        photo,
        Some(json!({ "id": photo_id, "processingStatus": "ready" }))
    );
    let pushed = next_event(&mut admin_on_b, "photo_uploaded").await;
    assert_eq!(pushed["id"], photo_id.as_str(), "{pushed}");
    assert_eq!(pushed["epoch"], joined["epoch"], "the log's epoch");
    assert!(pushed["offset"].as_u64() > joined["offset"].as_u64());
    drop(member_on_a);
}
