//! Three nodes: a message stored through one reaches sockets on the other two, and a
//! `presence_state` on the third lists the devices of the first two.

use serde_json::json;
use taina_tests::socket::{next_event, pair};

use super::nodes;

#[tokio::test]
async fn three_nodes_share_messages_and_presence() {
    let Some(nodes) = nodes(3).await else {
        return;
    };
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let p = pair(a).await;
    let topic = format!("conversation:{}", p.conversation);

    let mut admin_on_a = a.socket(&p.admin).await;
    admin_on_a
        .join(&topic, json!({ "device": "laptop" }))
        .await
        .unwrap();
    let mut member_on_b = b.socket(&p.member).await;
    member_on_b
        .join(&topic, json!({ "device": "phone" }))
        .await
        .unwrap();
    // Both joins have reached node C once the admin has seen the member's.
    loop {
        let diff = next_event(&mut admin_on_a, "presence_diff").await;
        if diff["joins"].get(&p.member_id).is_some() {
            break;
        }
    }
    let mut member_on_c = c.socket(&p.member).await;
    member_on_c
        .join(&topic, json!({ "device": "tv" }))
        .await
        .unwrap();
    let state = next_event(&mut member_on_c, "presence_state").await;
    assert_eq!(
        state[&p.admin_id]["metas"][0]["device"], "laptop",
        "{state}"
    );
    assert_eq!(
        state[&p.member_id]["metas"][0]["device"], "phone",
        "{state}"
    );

    let sent = admin_on_a
        .push(&topic, "new_msg", json!({ "body": "três nós" }))
        .await
        .unwrap();
    assert_eq!(sent.status, "ok");
    for socket in [&mut member_on_b, &mut member_on_c] {
        let message = next_event(socket, "new_msg").await;
        assert_eq!(message["body"], "três nós", "{message}");
    }
}
