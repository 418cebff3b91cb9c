//! `user.online` / `user.offline` once per user, not once per node: a second device on another
//! node is no arrival, the first device leaving while the other node still has one is no
//! departure, and the last one leaving is announced once.

use std::time::Duration;

use serde_json::json;
use taina_tests::socket::{drain, pair};

use super::two_nodes;

#[tokio::test]
async fn a_user_on_two_nodes_comes_online_once_and_goes_offline_once() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let p = pair(&a).await;
    let community = format!("community:{}", p.community_id);
    let mut watcher_on_b = b.socket(&p.admin).await;
    watcher_on_b.join(&community, json!({})).await.unwrap();
    let mut watcher_on_a = a.socket(&p.admin).await;
    watcher_on_a.join(&community, json!({})).await.unwrap();

    let phone_on_a = a.socket(&p.member).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let laptop_on_b = b.socket(&p.member).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(phone_on_a);
    // Past the debounce (1 s in these tests): the laptop is still there, nobody went offline.
    tokio::time::sleep(Duration::from_millis(1_800)).await;
    drop(laptop_on_b);
    tokio::time::sleep(Duration::from_millis(2_000)).await;

    for (node, watcher) in [("A", &mut watcher_on_a), ("B", &mut watcher_on_b)] {
        let seen: Vec<String> = drain(watcher, Duration::from_millis(300))
            .await
            .into_iter()
            .filter(|m| m.event == "user_online" || m.event == "user_offline")
            .filter(|m| {
                matches!(&m.payload, taina_protocol::phoenix::Payload::Json(v)
                    if v["user_id"] == p.member_id.as_str())
            })
            .map(|m| m.event)
            .collect();
        assert_eq!(
            seen,
            ["user_online", "user_offline"],
            "watcher on node {node}"
        );
    }
}
