//! Presence state and diffs, typing, debounced online/offline events.

use std::time::Duration;

use serde_json::json;
use taina_protocol::client::ClientError;
use taina_protocol::phoenix::{self};
use taina_tests::socket::{json_of, pair, WAIT};
use taina_tests::TestServer;

#[tokio::test]
async fn presence_state_then_diffs_and_typing() {
    let server = TestServer::start().await;
    let p = pair(&server).await;
    let topic = format!("community:{}", p.community_id);
    let mut admin = server.socket(&p.admin).await;
    admin
        .join(&topic, json!({ "device": "laptop" }))
        .await
        .unwrap();
    let state = admin
        .expect_event(&topic, phoenix::event::PRESENCE_STATE, WAIT)
        .await
        .unwrap();
    assert_eq!(state.join_ref.as_deref(), admin.join_ref(&topic));
    assert_eq!(json_of(&state), &json!({}));
    let own = admin
        .expect_event(&topic, phoenix::event::PRESENCE_DIFF, WAIT)
        .await
        .unwrap();
    assert_eq!(
        json_of(&own)["joins"][&p.admin_id]["metas"][0]["device"],
        "laptop"
    );

    let mut member = server.socket(&p.member).await;
    member
        .join(&topic, json!({ "device": "phone" }))
        .await
        .unwrap();
    let state = member
        .expect_event(&topic, phoenix::event::PRESENCE_STATE, WAIT)
        .await
        .unwrap();
    let meta = &json_of(&state)[&p.admin_id]["metas"][0];
    assert!(meta["phx_ref"].is_string() && meta["online_at"].is_string());
    let joined = admin
        .expect_event(&topic, phoenix::event::PRESENCE_DIFF, WAIT)
        .await
        .unwrap();
    assert_eq!(
        json_of(&joined)["joins"][&p.member_id]["metas"][0]["device"],
        "phone"
    );

    member.push(&topic, "typing", json!({})).await.unwrap();
    let typing = admin.expect_event(&topic, "typing", WAIT).await.unwrap();
    assert_eq!(
        json_of(&typing),
        &json!({ "user_id": p.member_id, "typing": true })
    );
    // Typing is throttled per connection.
    assert!(matches!(
        member.push(&topic, "typing", json!({})).await,
        Err(ClientError::Refused(_))
    ));

    member.close().await.unwrap();
    let left = admin
        .expect_event(&topic, phoenix::event::PRESENCE_DIFF, WAIT)
        .await
        .unwrap();
    assert!(json_of(&left)["leaves"][&p.member_id]["metas"][0]["phx_ref"].is_string());
}

#[tokio::test]
async fn online_and_offline_events_are_debounced() {
    let server = TestServer::builder()
        .with_config(|c| c.realtime.offline_debounce_seconds = 1)
        .start()
        .await;
    let token = server.admin().await;
    let mut events = server.state.bus.subscribe();
    let socket = server.socket(&token).await;
    socket.close().await.unwrap();
    // A quick reconnect: still online, no offline event.
    let socket = server.socket(&token).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    socket.close().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut kinds = Vec::new();
    while let Ok(event) = events.try_recv() {
        if event.kind.starts_with("user.o") {
            kinds.push(event.kind.clone());
        }
    }
    assert_eq!(kinds, ["user.online", "user.offline"]);
}
