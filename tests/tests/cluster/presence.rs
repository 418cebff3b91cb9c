//! Presence across nodes: a device joining on node A appears in `presence_state` and
//! `presence_diff` on node B, and its leaving reaches B too; a topic is summarized by the
//! devices of every node.

use serde_json::json;
use taina_tests::socket::{next_event, pair};

use super::{nodes_with, two_nodes};

#[tokio::test]
async fn devices_on_one_node_are_present_on_the_other() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let p = pair(&a).await;
    let topic = format!("community:{}", p.community_id);

    let mut admin_on_b = b.socket(&p.admin).await;
    admin_on_b
        .join(&topic, json!({ "device": "laptop" }))
        .await
        .unwrap();
    let state = next_event(&mut admin_on_b, "presence_state").await;
    assert!(state.get(&p.member_id).is_none(), "{state}");

    let mut member_on_a = a.socket(&p.member).await;
    member_on_a
        .join(&topic, json!({ "device": "phone" }))
        .await
        .unwrap();
    let joined = loop {
        let diff = next_event(&mut admin_on_b, "presence_diff").await;
        if diff["joins"].get(&p.member_id).is_some() {
            break diff;
        }
    };
    assert_eq!(joined["joins"][&p.member_id]["metas"][0]["device"], "phone");

    // A second device of the admin, on node B, is told about both nodes' devices.
    let mut second_on_b = b.socket(&p.admin).await;
    second_on_b
        .join(&topic, json!({ "device": "tablet" }))
        .await
        .unwrap();
    let state = next_event(&mut second_on_b, "presence_state").await;
    assert_eq!(
        state[&p.member_id]["metas"][0]["device"], "phone",
        "{state}"
    );
    assert_eq!(
        state[&p.admin_id]["metas"][0]["device"], "laptop",
        "{state}"
    );

    member_on_a.leave(&topic).await.unwrap();
    let left = loop {
        let diff = next_event(&mut admin_on_b, "presence_diff").await;
        if diff["leaves"].get(&p.member_id).is_some() {
            break diff;
        }
    };
    assert_eq!(left["leaves"][&p.member_id]["metas"][0]["device"], "phone");
    let mut third_on_b = b.socket(&p.admin).await;
    third_on_b
        .join(&topic, json!({ "device": "tv" }))
        .await
        .unwrap();
    let state = next_event(&mut third_on_b, "presence_state").await;
    assert!(
        state.get(&p.member_id).is_none(),
        "gone everywhere: {state}"
    );
}

/// Past `realtime.presence_list_limit` devices counted on every node, the node whose devices
/// are under it alone summarizes the topic too, and counts the others' devices.
#[tokio::test]
async fn a_topic_is_summarized_by_the_devices_of_every_node() {
    let Some(mut nodes) = nodes_with(2, |config| {
        config.realtime.presence_list_limit = 2;
        config.realtime.presence_summary_interval_ms = 100;
    })
    .await
    else {
        return;
    };
    let (b, a) = (nodes.pop().unwrap(), nodes.pop().unwrap());
    let p = pair(&a).await;
    let topic = format!("conversation:{}", p.conversation);

    let mut admin_on_b = b.socket(&p.admin).await;
    admin_on_b
        .join(&topic, json!({ "device": "laptop" }))
        .await
        .unwrap();
    next_event(&mut admin_on_b, "presence_state").await;
    let mut member_on_a = a.socket(&p.member).await;
    member_on_a
        .join(&topic, json!({ "device": "phone" }))
        .await
        .unwrap();
    // Two devices: B lists A's.
    loop {
        let diff = next_event(&mut admin_on_b, "presence_diff").await;
        if diff["joins"].get(&p.member_id).is_some() {
            break;
        }
    }
    // A third on A: over the limit of two, with only one device on B.
    let mut tablet_on_a = a.socket(&p.member).await;
    tablet_on_a
        .join(&topic, json!({ "device": "tablet" }))
        .await
        .unwrap();
    let emptied = next_event(&mut admin_on_b, "presence_state").await;
    assert_eq!(emptied, json!({}));
    let summary = next_event(&mut admin_on_b, "presence_summary").await;
    assert_eq!(summary, json!({ "devices": 3, "users": 2 }));
}
