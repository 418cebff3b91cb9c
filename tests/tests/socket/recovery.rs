//! Recovery after a reconnect: exact for conversations, from storage, and memory topics within
//! their window.

use std::time::Duration;

use serde_json::json;
use taina_protocol::client::ClientError;
use taina_protocol::phoenix::Payload;
use taina_tests::socket::{drain, json_of, pair, WAIT};
use taina_tests::TestServer;

#[tokio::test]
async fn conversation_recovery_after_a_reconnect_is_exact() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let topic = format!("conversation:{}", p.conversation);
    let mut member = server.socket(&p.member).await;
    let joined = member.join(&topic, json!({})).await.unwrap();
    let epoch = joined["epoch"].as_str().unwrap().to_string();
    let mut admin = server.socket(&p.admin).await;
    admin.join(&topic, json!({})).await.unwrap();
    admin
        .push(&topic, "new_msg", json!({ "body": "m1" }))
        .await
        .unwrap();
    let seen = member.expect_event(&topic, "new_msg", WAIT).await.unwrap();
    let last = json_of(&seen)["offset"].as_u64().unwrap();
    member.close().await.unwrap();

    for body in ["m2", "m3", "m4"] {
        admin
            .push(&topic, "new_msg", json!({ "body": body }))
            .await
            .unwrap();
    }
    // Recovery from storage: a fresh server-side topic history would also do, but restart
    // the topic's memory to prove the stored messages serve it.
    let mut member = server.socket(&p.member).await;
    let reply = member
        .join(
            &topic,
            json!({ "since": { "epoch": epoch, "offset": last } }),
        )
        .await
        .unwrap();
    assert_eq!(reply["recovered"], true);
    assert_eq!(reply["offset"], 4);
    admin
        .push(&topic, "new_msg", json!({ "body": "m5" }))
        .await
        .unwrap();
    let bodies: Vec<String> = drain(&mut member, Duration::from_millis(500))
        .await
        .iter()
        .filter(|m| m.event == "new_msg")
        .map(|m| json_of(m)["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(bodies, ["m2", "m3", "m4", "m5"]);

    let stale = member
        .join(
            &topic,
            json!({ "since": { "epoch": "another-epoch", "offset": 1 } }),
        )
        .await
        .unwrap();
    assert_eq!(stale["recovered"], false);
    match member.join(&topic, json!({ "since": "yesterday" })).await {
        Err(ClientError::Refused(r)) => assert_eq!(r["reason"], "invalid since"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn storage_recovery_serves_gaps_memory_no_longer_holds() {
    let server = TestServer::builder()
        .with_config(|c| c.realtime.history_size = 1)
        .start()
        .await;
    let p = pair(&server).await;
    let topic = format!("conversation:{}", p.conversation);
    let mut admin = server.socket(&p.admin).await;
    let joined = admin.join(&topic, json!({})).await.unwrap();
    let epoch = joined["epoch"].as_str().unwrap().to_string();
    for n in 1..=5 {
        admin
            .push(&topic, "new_msg", json!({ "body": format!("n{n}") }))
            .await
            .unwrap();
    }
    let mut member = server.socket(&p.member).await;
    let reply = member
        .join(&topic, json!({ "since": { "epoch": epoch, "offset": 1 } }))
        .await
        .unwrap();
    assert_eq!(reply["recovered"], true);
    let offsets: Vec<u64> = drain(&mut member, Duration::from_millis(300))
        .await
        .iter()
        .filter(|m| m.event == "new_msg")
        .map(|m| json_of(m)["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [2, 3, 4, 5]);
}

#[tokio::test]
async fn memory_topics_recover_within_their_window_and_say_so_beyond_it() {
    let server = TestServer::builder()
        .with_config(|c| c.realtime.history_size = 3)
        .start()
        .await;
    let p = pair(&server).await;
    let mut admin = server.socket(&p.admin).await;
    let mut member = server.socket(&p.member).await;
    admin.join("system:alerts", json!({})).await.unwrap();
    let joined = member.join("system:alerts", json!({})).await.unwrap();
    let epoch = joined["epoch"].as_str().unwrap().to_string();
    // Members listen; only admins publish.
    assert!(
        matches!(member.push("system:alerts", "alert", json!({"text": "x"})).await, Err(ClientError::Refused(r)) if r["reason"] == "forbidden")
    );
    let mut offsets = Vec::new();
    for n in 0..2 {
        let reply = admin
            .push("system:alerts", "alert", json!({ "text": format!("a{n}") }))
            .await
            .unwrap();
        let Payload::Json(position) = reply.response else {
            panic!()
        };
        offsets.push(position["offset"].as_u64().unwrap());
    }
    let first = member
        .expect_event("system:alerts", "alert", WAIT)
        .await
        .unwrap();
    assert_eq!(json_of(&first)["from"], p.admin_id.as_str());
    member.close().await.unwrap();
    admin
        .push("system:alerts", "alert", json!({ "text": "a2" }))
        .await
        .unwrap();

    let mut member = server.socket(&p.member).await;
    let reply = member
        .join(
            "system:alerts",
            json!({ "since": { "epoch": epoch, "offset": offsets[0] } }),
        )
        .await
        .unwrap();
    assert_eq!(reply["recovered"], true);
    let texts: Vec<String> = drain(&mut member, Duration::from_millis(300))
        .await
        .iter()
        .map(|m| json_of(m)["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["a1", "a2"]);

    for n in 3..8 {
        admin
            .push("system:alerts", "alert", json!({ "text": format!("a{n}") }))
            .await
            .unwrap();
    }
    let mut late = server.socket(&p.member).await;
    let reply = late
        .join(
            "system:alerts",
            json!({ "since": { "epoch": epoch, "offset": offsets[0] } }),
        )
        .await
        .unwrap();
    assert_eq!(
        reply["recovered"], false,
        "the window of 3 no longer covers the gap"
    );
}
