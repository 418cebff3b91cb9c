//! Community boundaries: alerts and public album URLs stay in their community.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use taina_protocol::client::{Incoming, PhoenixClient};
use taina_protocol::phoenix::Payload;
use taina_tests::hardening::WAIT;
use taina_tests::TestServer;

/// Every message on `topic` with `event` that arrives within `window`.
async fn events_within(
    client: &mut PhoenixClient,
    topic: &str,
    event: &str,
    window: Duration,
) -> Vec<Value> {
    let mut found = Vec::new();
    while let Ok(Incoming::Message(m)) = client.next_message(window).await {
        if m.topic == topic && m.event == event {
            if let Payload::Json(v) = m.payload {
                found.push(v);
            }
        }
    }
    found
}

/// An admin of a second community, made by the operator (the CLI path); returns their token.
async fn second_community_admin(server: &TestServer) -> String {
    server
        .state
        .auth
        .create_user(
            "other-admin@example.org",
            "other admin password".into(),
            taina::contexts::auth::Role::Admin,
            "Outra Aldeia",
        )
        .await
        .unwrap();
    server
        .token("other-admin@example.org", "other admin password")
        .await
}

#[tokio::test]
async fn alerts_stay_in_their_community_and_instance_alerts_reach_all() {
    let server = TestServer::start().await;
    let admin_a = server.admin().await;
    let member_a = server
        .invited(&admin_a, "member@example.org", "member")
        .await;
    let admin_b = second_community_admin(&server).await;
    let admin_a_id = server.user_id(&admin_a).await;

    let mut publisher_a = server.socket(&admin_a).await;
    let mut listener_a = server.socket(&member_a).await;
    let mut listener_b = server.socket(&admin_b).await;
    for client in [&mut publisher_a, &mut listener_a, &mut listener_b] {
        client.join("system:alerts", json!({})).await.unwrap();
    }

    publisher_a
        .push(
            "system:alerts",
            "alert",
            json!({ "text": "water off at noon" }),
        )
        .await
        .unwrap();
    let got = listener_a
        .expect_event("system:alerts", "alert", WAIT)
        .await
        .unwrap();
    let got = match got.payload {
        Payload::Json(v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(got["text"], "water off at noon");
    assert_eq!(got["from"], admin_a_id.as_str());
    assert_eq!(got["scope"], "community");
    assert!(
        events_within(
            &mut listener_b,
            "system:alerts",
            "alert",
            Duration::from_millis(500)
        )
        .await
        .is_empty(),
        "community B received community A's alert"
    );

    // B's admin cannot reach A either, and a rejoin of B with `since` recovers nothing of A's.
    let mut publisher_b = server.socket(&admin_b).await;
    publisher_b.join("system:alerts", json!({})).await.unwrap();
    publisher_b
        .push("system:alerts", "alert", json!({ "text": "from B" }))
        .await
        .unwrap();
    let seen_by_a = events_within(
        &mut listener_a,
        "system:alerts",
        "alert",
        Duration::from_millis(500),
    )
    .await;
    assert!(seen_by_a.is_empty(), "A received B's alert: {seen_by_a:?}");
    let seen_by_b = events_within(&mut listener_b, "system:alerts", "alert", WAIT / 20).await;
    assert_eq!(seen_by_b.len(), 1, "{seen_by_b:?}");
    assert_eq!(seen_by_b[0]["text"], "from B");
    let mut late_b = server.socket(&admin_b).await;
    let rejoined = late_b
        .join(
            "system:alerts",
            json!({ "since": { "epoch": got["epoch"], "offset": 0 } }),
        )
        .await
        .unwrap();
    assert_ne!(
        rejoined["epoch"], got["epoch"],
        "B's alerts have their own epoch"
    );

    // An instance-wide alert, stored as the operator's CLI stores it (another process: the
    // server relays it from the database), reaches both communities, marked as the operator's.
    taina::contexts::monitoring::MonitoringService::new(
        server.state.db.clone(),
        Arc::new(taina::events::MemoryBus::new(1)),
    )
    .raise(
        taina::contexts::monitoring::AlertLevel::Critical,
        "disk almost full",
        taina::contexts::monitoring::AlertSource::Operator,
    )
    .await
    .unwrap();
    for listener in [&mut listener_a, &mut listener_b] {
        let got = listener
            .expect_event("system:alerts", "alert", WAIT)
            .await
            .unwrap();
        let got = match got.payload {
            Payload::Json(v) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(got["message"], "disk almost full");
        assert_eq!(got["from"], "operator");
        assert_eq!(got["scope"], "instance");
        assert_eq!(got["level"], "critical");
    }
}

#[tokio::test]
async fn public_album_urls_cannot_reach_another_communitys_album() {
    let server = TestServer::start().await;
    let admin_a = server.admin().await;
    let admin_b = second_community_admin(&server).await;
    let create =
        "mutation { createAlbum(name: \"Vacation\", isPublic: true) { id slug publicPath } }";
    let album_a = server.graphql(Some(&admin_a), create, json!({})).await;
    let album_b = server.graphql(Some(&admin_b), create, json!({})).await;
    let id_a = album_a["data"]["createAlbum"]["id"].as_str().unwrap();
    let id_b = album_b["data"]["createAlbum"]["id"].as_str().unwrap();
    assert_eq!(
        album_b["data"]["createAlbum"]["slug"], "vacation",
        "{album_b}"
    );

    let a = server.get("/albums/home/vacation", None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["album"]["id"], id_a);
    let b = server.get("/albums/outra-aldeia/vacation", None).await;
    assert_eq!(b.body["album"]["id"], id_b);
    assert_eq!(
        server.get(&format!("/albums/{id_b}"), None).await.body["album"]["id"],
        id_b
    );
    // A bare slug names no album: it could be either community's.
    assert_eq!(
        server.get("/albums/vacation", None).await.status,
        StatusCode::NOT_FOUND
    );
}
