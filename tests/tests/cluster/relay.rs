//! What clients push straight to a topic crosses nodes too: typing on a conversation, and an
//! admin's alert on `system:alerts`.

use serde_json::json;
use taina_tests::socket::{next_event, pair};

use super::two_nodes;

#[tokio::test]
async fn typing_and_community_alerts_reach_the_other_node() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let p = pair(&a).await;
    let conversation = format!("conversation:{}", p.conversation);

    let mut member_on_a = a.socket(&p.member).await;
    member_on_a.join(&conversation, json!({})).await.unwrap();
    member_on_a.join("system:alerts", json!({})).await.unwrap();
    let mut admin_on_b = b.socket(&p.admin).await;
    admin_on_b.join(&conversation, json!({})).await.unwrap();

    admin_on_b
        .push(&conversation, "typing", json!({ "typing": true }))
        .await
        .unwrap();
    let typed = next_event(&mut member_on_a, "typing").await;
    assert_eq!(typed["user_id"], p.admin_id.as_str(), "{typed}");
    assert_eq!(typed["typing"], true);

    admin_on_b.join("system:alerts", json!({})).await.unwrap();
    admin_on_b
        .push(
            "system:alerts",
            "alert",
            json!({ "level": "warning", "message": "water off at 3" }),
        )
        .await
        .unwrap();
    let alert = next_event(&mut member_on_a, "alert").await;
    assert_eq!(alert["message"], "water off at 3", "{alert}");
    assert_eq!(alert["scope"], "community");
}
